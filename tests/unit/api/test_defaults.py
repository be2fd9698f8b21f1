"""OpenKruise defaults on dicts: values, idempotence, no mutation of the input, template untouched."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kruise_py.api import default_broadcastjob, default_sidecarset, default_statefulset
from kruise_py.api.sidecarset import SIDECARSET_HASH_ANNOTATION, SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION

from .examples import ALL, ASTS_V1ALPHA1, load

TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def test_statefulset_defaults() -> None:
    obj = {"apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "spec": {"template": TEMPLATE}}
    out = default_statefulset(obj)
    assert out["spec"] == {
        "template": TEMPLATE,  # untouched: no imagePullPolicy etc. (P20)
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "partition": 0,
                "maxUnavailable": 1,
                "podUpdatePolicy": "ReCreate",
                "minReadySeconds": 0,
            },
        },
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "replicas": 1,
        "revisionHistoryLimit": 10,
    }
    assert "volumeClaimUpdateStrategy" not in out["spec"]  # gate StatefulSetAutoResizePVCGate is off


def test_statefulset_defaults_keep_user_values() -> None:
    spec = {
        "replicas": 0,
        "podManagementPolicy": "Parallel",
        "revisionHistoryLimit": 3,
        "updateStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"partition": 2, "maxUnavailable": "50%"},
        },
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"},
    }
    out = default_statefulset({"spec": spec})["spec"]
    assert out["replicas"] == 0
    assert out["podManagementPolicy"] == "Parallel"
    assert out["revisionHistoryLimit"] == 3
    assert out["updateStrategy"]["rollingUpdate"] == {
        "partition": 2,
        "maxUnavailable": "50%",
        "podUpdatePolicy": "ReCreate",
        "minReadySeconds": 0,
    }
    assert out["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Retain"}


def test_statefulset_on_delete_gets_no_rolling_update() -> None:
    out = default_statefulset({"spec": {"updateStrategy": {"type": "OnDelete"}}})
    assert out["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_statefulset_v1alpha1_gets_no_v1beta1_fields() -> None:
    obj = load(ASTS_V1ALPHA1)
    out = default_statefulset(obj)
    assert "persistentVolumeClaimRetentionPolicy" not in out["spec"]
    assert out["spec"]["updateStrategy"]["rollingUpdate"]["minReadySeconds"] == 0


def test_statefulset_clear_status() -> None:
    obj = {"spec": {}, "status": {"replicas": 3}}
    assert "status" in default_statefulset(obj)
    assert "status" not in default_statefulset(obj, clear_status=True)


def test_broadcastjob_defaults() -> None:
    tmpl = {"spec": {"containers": [{"name": "c", "image": "i"}]}}
    out = default_broadcastjob({"spec": {"template": tmpl}})
    assert out["spec"] == {
        "template": tmpl,  # restartPolicy is not defaulted (v1.9)
        "completionPolicy": {"type": "Always"},
        "parallelism": 2147483647,
        "failurePolicy": {"type": "FailFast"},
    }
    kept = default_broadcastjob({"spec": {"parallelism": "50%", "failurePolicy": {"type": "Pause"}}})["spec"]
    assert kept["parallelism"] == "50%"
    assert kept["failurePolicy"] == {"type": "Pause"}


def test_sidecarset_defaults() -> None:
    obj = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {"name": "s"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "transferEnv": [
                        {"sourceContainerNameFrom": {"fieldRef": {"fieldPath": "metadata.labels['x']"}}}
                    ],
                }
            ],
            "initContainers": [{"name": "init", "image": "i"}],
            "patchPodMetadata": [{"annotations": {"a": "b"}}],
            "injectionStrategy": {"revision": {"revisionName": "s-123"}},
        },
    }
    out = default_sidecarset(obj)
    spec = out["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "maxUnavailable": 1, "partition": 0}
    assert spec["revisionHistoryLimit"] == 10
    c = spec["containers"][0]
    assert c["podInjectPolicy"] == "BeforeAppContainer"
    assert c["upgradeStrategy"] == {"upgradeType": "ColdUpgrade"}
    assert c["shareVolumePolicy"] == {"type": "disabled"}
    assert c["transferEnv"][0]["sourceContainerNameFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert "imagePullPolicy" not in c and "terminationMessagePath" not in c  # no core container defaults
    init = spec["initContainers"][0]
    assert init["podInjectPolicy"] == "AfterAppContainer"
    assert init["upgradeStrategy"] == {"upgradeType": "ColdUpgrade"}
    assert init["shareVolumePolicy"] == {"type": "disabled"}
    assert spec["patchPodMetadata"][0]["patchPolicy"] == "Retain"
    assert spec["injectionStrategy"]["revision"]["policy"] == "Always"
    annotations = out["metadata"]["annotations"]
    assert set(annotations) == {SIDECARSET_HASH_ANNOTATION, SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION}
    assert "annotations" not in default_sidecarset(obj, set_hash=False)["metadata"]


def test_sidecarset_no_revision_policy_without_revision() -> None:
    out = default_sidecarset({"spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert "injectionStrategy" not in out["spec"]


DEFAULTERS = {
    "asts-v1beta1": default_statefulset,
    "asts-v1alpha1": default_statefulset,
    "broadcastjob": default_broadcastjob,
    "sidecarset": default_sidecarset,
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_defaults_are_idempotent_and_pure(name: str) -> None:
    obj = load(ALL[name])
    before = copy.deepcopy(obj)
    fn: Any = DEFAULTERS[name]
    once = fn(obj)
    assert obj == before  # input not mutated
    assert fn(once) == once
    # these realistic examples are already complete, so defaulting changes nothing
    if name in ("asts-v1beta1", "broadcastjob"):
        assert once == before


def test_defaults_do_not_alias() -> None:
    shared = {"name": "c", "image": "i"}
    out = default_sidecarset({"spec": {"containers": [shared], "initContainers": [shared]}})
    assert out["spec"]["containers"][0]["podInjectPolicy"] == "BeforeAppContainer"
    assert out["spec"]["initContainers"][0]["podInjectPolicy"] == "AfterAppContainer"
    assert shared == {"name": "c", "image": "i"}


# Random partial objects: defaulting twice equals defaulting once.
maybe_int_or_str = st.one_of(st.none(), st.integers(0, 10), st.sampled_from(["", "10%", "x"]))
partial_spec = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.one_of(st.none(), st.integers(0, 5)),
        "podManagementPolicy": st.sampled_from(["", "Parallel", "OrderedReady", "Bad"]),
        "updateStrategy": st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["", "RollingUpdate", "OnDelete"]),
                "rollingUpdate": st.one_of(
                    st.none(),
                    st.fixed_dictionaries(
                        {}, optional={"partition": st.integers(0, 3), "maxUnavailable": maybe_int_or_str}
                    ),
                ),
            },
        ),
        "parallelism": maybe_int_or_str,
        "completionPolicy": st.fixed_dictionaries({}, optional={"type": st.sampled_from(["", "Never"])}),
        "containers": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["a", "b"])},
                optional={
                    "podInjectPolicy": st.sampled_from(["", "AfterAppContainer"]),
                    "image": st.text(max_size=4),
                },
            ),
            max_size=2,
        ),
        "initContainers": st.lists(
            st.fixed_dictionaries({"name": st.just("i")}, optional={"restartPolicy": st.just("Always")}),
            max_size=1,
        ),
        "patchPodMetadata": st.lists(
            st.fixed_dictionaries({}, optional={"patchPolicy": st.just("Overwrite")}), max_size=2
        ),
    },
)


@settings(max_examples=150)
@given(partial_spec, st.sampled_from(["apps.kruise.io/v1beta1", "apps.kruise.io/v1alpha1"]))
def test_defaults_idempotent_property(spec: dict[str, Any], api_version: str) -> None:
    obj = {"apiVersion": api_version, "spec": spec}
    for fn in (default_statefulset, default_broadcastjob, default_sidecarset):
        once = fn(obj)
        assert fn(once) == once
