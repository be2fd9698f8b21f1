"""SidecarSet hash: OpenKruise's golden values, Go JSON layout, SafeEncodeString."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.api import (
    default_sidecarset,
    safe_encode_string,
    set_sidecarset_hash_annotations,
    sidecarset_hash,
    sidecarset_hash_without_image,
)
from kruise_py.api.sidecarset import go_json_marshal
from kruise_py.core.goshape import go_shape


def _sidecarset(
    containers: list[dict[str, Any]], inits: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers}
    if inits is not None:
        spec["initContainers"] = inits
    return {"metadata": {"name": "test-sidecar-set"}, "spec": spec}


C1 = {"name": "container1", "image": "test-image"}
C1_NATIVE = {"name": "container1", "image": "test-image", "restartPolicy": "Always"}


# Expected values copied from OpenKruise pkg/control/sidecarcontrol/hash_test.go.
@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (_sidecarset([C1]), "w26c4x8fz245642fdv499b464248f974xddx4x55z5dw55bc6x66464fxz77dc78"),
        (_sidecarset([C1], [C1]), "w26c4x8fz245642fdv499b464248f974xddx4x55z5dw55bc6x66464fxz77dc78"),
        (_sidecarset([C1], [C1_NATIVE]), "4xwx4d4844vd4v9x79wb4xbxf4xb29475cc4446v8cz2c2f2f5c5bw448vd42z8w"),
    ],
)
def test_hash_matches_openkruise(obj: dict[str, Any], expected: str) -> None:
    assert sidecarset_hash(obj) == expected
    changed = _sidecarset([{**C1, "image": "new-image"}], obj["spec"].get("initContainers"))
    assert sidecarset_hash(changed) != expected


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (_sidecarset([C1], [C1]), "8wzddb4dvv9c6x8zdc77z4z75987424f457dfv6724ddw6zbdx467wz5x24fc759"),
        (_sidecarset([C1], [C1_NATIVE]), "5725fw8bwbx249bw57v5892c847dzf48bww9zb7c86xb95264fdz26654847b2c8"),
    ],
)
def test_hash_without_image_matches_openkruise(obj: dict[str, Any], expected: str) -> None:
    assert sidecarset_hash_without_image(obj) == expected
    inits = [{**c, "image": "new-image"} for c in obj["spec"]["initContainers"]]
    assert sidecarset_hash_without_image(_sidecarset([{**C1, "image": "new-image"}], inits)) == expected


def test_safe_encode_string() -> None:
    # Each character maps to "bcdfghjklmnpqrstvwxz2456789"[ord(c) % 27].
    assert safe_encode_string("0123456789abcdef") == "456789bcdfvwxz24"
    assert safe_encode_string("") == ""


@given(st.text(alphabet="0123456789abcdef", max_size=64))
def test_safe_encode_alphabet(s: str) -> None:
    out = safe_encode_string(s)
    assert len(out) == len(s)
    assert set(out) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_go_field_order_and_omitempty() -> None:
    container = {
        "upgradeStrategy": {"upgradeType": "ColdUpgrade"},
        "podInjectPolicy": "BeforeAppContainer",
        "stdin": False,  # omitempty bool: dropped
        "env": [{"value": "1", "name": "A"}],
        "resources": {"requests": {"memory": "1Gi", "cpu": "1"}},
        "volumeMounts": [{"mountPath": "/x", "name": "v", "readOnly": False}],
        "securityContext": {"privileged": False},  # *bool: kept
        "image": "img",
        "name": "c",
        "x-unknown": {"b": 1, "a": 2},  # Go's decoder drops unknown fields
    }
    encoded = go_json_marshal(go_shape(container, "kruise/v1beta1.SidecarContainer"))
    assert encoded == (
        '{"name":"c","image":"img","env":[{"name":"A","value":"1"}],'
        '"resources":{"requests":{"cpu":"1","memory":"1Gi"}},'
        '"volumeMounts":[{"name":"v","mountPath":"/x"}],'
        '"securityContext":{"privileged":false},'
        '"podInjectPolicy":"BeforeAppContainer","upgradeStrategy":{"upgradeType":"ColdUpgrade"},'
        '"shareVolumePolicy":{}}'
    )


def test_go_json_html_escaping() -> None:
    assert go_json_marshal({"a": "<&>\u2028"}) == '{"a":"\\u003c\\u0026\\u003e\\u2028"}'
    assert json.loads(go_json_marshal({"a": "<&>"})) == {"a": "<&>"}


def test_only_containers_count() -> None:
    base = default_sidecarset(_sidecarset([C1], [C1]))
    h = base["metadata"]["annotations"]["kruise.io/sidecarset-hash"]
    # volumes, pull secrets, patchPodMetadata and plain init containers do not change the hash (P15)
    changed = dict(base)
    changed["spec"] = {
        **base["spec"],
        "volumes": [{"name": "v", "emptyDir": {}}],
        "imagePullSecrets": [{"name": "s"}],
        "initContainers": [{**C1, "image": "other"}],
    }
    assert sidecarset_hash(changed) == h
    # a non-image container change alters both hashes; an image change only the first
    env_changed = default_sidecarset(_sidecarset([{**C1, "env": [{"name": "A", "value": "1"}]}], [C1]))
    img_changed = default_sidecarset(_sidecarset([{**C1, "image": "v2"}], [C1]))
    wi = "kruise.io/sidecarset-hash-without-image"
    assert env_changed["metadata"]["annotations"][wi] != base["metadata"]["annotations"][wi]
    assert img_changed["metadata"]["annotations"][wi] == base["metadata"]["annotations"][wi]
    assert img_changed["metadata"]["annotations"]["kruise.io/sidecarset-hash"] != h


def test_set_hash_annotations_keeps_other_annotations() -> None:
    obj = _sidecarset([C1])
    obj["metadata"]["annotations"] = {"keep": "me"}
    out = set_sidecarset_hash_annotations(obj)
    assert out["metadata"]["annotations"]["keep"] == "me"
    assert out["metadata"]["annotations"]["kruise.io/sidecarset-hash"] == sidecarset_hash(obj)
    assert obj["metadata"]["annotations"] == {"keep": "me"}  # input untouched


# Computed by OpenKruise v1.9 (sidecarcontrol.SidecarSetHash / SidecarSetHashWithoutImage on this
# v1alpha1 object): resourcesPolicy is hashed with targetContainersMode always present, an absent
# regex left out and resourcesExpr always present; HotUpgrade fields are hashed too.
RESOURCES_AND_HOT = {
    "metadata": {"name": "x"},
    "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "containers": [
            {
                "name": "s",
                "image": "busybox:1.36",
                "podInjectPolicy": "BeforeAppContainer",
                "upgradeStrategy": {"upgradeType": "ColdUpgrade"},
                "shareVolumePolicy": {"type": "disabled"},
                "resourcesPolicy": {
                    "targetContainersMode": "sum",
                    "targetContainersNameRegex": "^app$",
                    "resourcesExpr": {"limits": {"cpu": "cpu*50%"}},
                },
            },
            {
                "name": "h",
                "image": "nginx:1",
                "podInjectPolicy": "AfterAppContainer",
                "upgradeStrategy": {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": "busybox:empty"},
                "shareVolumePolicy": {"type": "disabled"},
            },
        ],
        "initContainers": [
            {
                "name": "n",
                "image": "envoy:1",
                "restartPolicy": "Always",
                "podInjectPolicy": "AfterAppContainer",
                "upgradeStrategy": {},
                "shareVolumePolicy": {},
                "resourcesPolicy": {"targetContainersMode": "max", "resourcesExpr": {}},
            },
        ],
    },
}


def test_resources_policy_and_hot_upgrade_hash_as_openkruise() -> None:
    assert (
        sidecarset_hash(RESOURCES_AND_HOT)
        == "fw6fbz95v748zbv2b692dd74cbf4f7z8fx65z98d8w648b647czz57vx8bdv44cf"
    )
    assert sidecarset_hash_without_image(RESOURCES_AND_HOT) == (
        "2cfd9cw98b4x48427wf5f4v2ww4665924zzdw4z6v46wf8fxv25cw5x6dvc7w4z9"
    )
