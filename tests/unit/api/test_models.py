"""Models: parse by apiVersion/kind, round-trip without loss, build in Python."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kruise_py import api
from kruise_py.api import (
    BroadcastJob,
    BroadcastJobV1alpha1,
    SidecarSet,
    SidecarSetV1alpha1,
    StatefulSet,
    StatefulSetV1alpha1,
    from_dict,
    to_dict,
)
from kruise_py.api import statefulset as sts
from kruise_py.api.common import LabelSelector, ObjectMeta
from kruise_py.api.sidecarset import SidecarContainer, SidecarSetSpec

from .examples import ALL, ASTS_V1ALPHA1, ASTS_V1BETA1, BROADCASTJOB, SIDECARSET, load


@pytest.mark.parametrize(
    ("text", "cls"),
    [
        (ASTS_V1BETA1, StatefulSet),
        (ASTS_V1ALPHA1, StatefulSetV1alpha1),
        (BROADCASTJOB, BroadcastJobV1alpha1),
        (SIDECARSET, SidecarSetV1alpha1),
    ],
)
def test_from_dict_picks_the_class(text: str, cls: type) -> None:
    assert type(from_dict(load(text))) is cls


@pytest.mark.parametrize(("text", "cls"), [(BROADCASTJOB, BroadcastJob), (SIDECARSET, SidecarSet)])
def test_v1beta1_of_the_v1alpha1_examples(text: str, cls: type) -> None:
    obj = api.convert(load(text), "apps.kruise.io/v1beta1")
    model = from_dict(obj)
    assert type(model) is cls
    assert to_dict(model) == obj


@pytest.mark.parametrize("name", sorted(ALL))
def test_round_trip_is_lossless(name: str) -> None:
    obj = load(ALL[name])
    original = copy.deepcopy(obj)
    model = from_dict(obj)
    assert to_dict(model) == original
    assert model.model_dump(by_alias=True, exclude_none=True) == original
    assert obj == original  # parsing does not touch the input
    # and again from the dump
    assert to_dict(from_dict(to_dict(model))) == original


def test_round_trip_keeps_null_inside_schemaless_fields() -> None:
    obj = load(ASTS_V1BETA1)
    model = from_dict(obj)
    assert isinstance(model, StatefulSet)
    assert model.spec is not None and model.spec.template is not None
    assert model.spec.template["metadata"]["creationTimestamp"] is None
    assert to_dict(model)["spec"]["aFutureField"] == {"nested": [1, "two", None, {"x": False}]}


def test_typed_access() -> None:
    m = from_dict(load(ASTS_V1BETA1))
    assert isinstance(m, StatefulSet)
    assert m.spec is not None and m.spec.update_strategy is not None
    rolling = m.spec.update_strategy.rolling_update
    assert rolling is not None
    assert rolling.max_unavailable == "20%"
    assert rolling.in_place_update_strategy is not None
    assert rolling.in_place_update_strategy.grace_period_seconds == 10
    assert m.spec.reserve_ordinals == [1, "3-5"]
    assert m.spec.lifecycle is not None and m.spec.lifecycle.pre_delete is not None
    assert m.spec.lifecycle.pre_delete.mark_pod_not_ready is True
    assert m.status is not None and m.status.conditions is not None
    assert m.status.conditions[0].type == "FailedCreatePod"

    s = from_dict(load(SIDECARSET))
    assert isinstance(s, SidecarSetV1alpha1)
    assert s.spec is not None and s.spec.containers is not None
    c = s.spec.containers[0]
    assert c.name == "log-agent"
    assert c.transfer_env is not None and c.transfer_env[1].source_container_name_from is not None
    assert c.model_extra is not None and c.model_extra["volumeMounts"][0]["name"] == "log-volume"
    assert s.spec.init_containers is not None and s.spec.init_containers[1].resources_policy is not None


def test_build_in_python_and_dump() -> None:
    obj = StatefulSet(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=sts.StatefulSetSpec(
            replicas=2,
            selector=LabelSelector(match_labels={"app": "web"}),
            template={
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
            update_strategy=sts.StatefulSetUpdateStrategy(
                type="RollingUpdate",
                rolling_update=sts.RollingUpdateStatefulSetStrategy(max_unavailable="50%"),
            ),
        ),
    )
    assert obj.to_dict() == {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}},
        },
    }
    assert api.validate_statefulset(obj.to_dict()) == []


def test_sidecar_container_extra_fields_by_name() -> None:
    spec = SidecarSetSpec(
        containers=[
            SidecarContainer.model_validate({"name": "s", "image": "i", "volumeMounts": [{"name": "v"}]})
        ]
    )
    assert spec.to_dict() == {"containers": [{"name": "s", "image": "i", "volumeMounts": [{"name": "v"}]}]}


def test_defaults_for_api_version_and_kind() -> None:
    assert BroadcastJob().to_dict() == {"apiVersion": "apps.kruise.io/v1beta1", "kind": "BroadcastJob"}
    assert SidecarSet().to_dict() == {"apiVersion": "apps.kruise.io/v1beta1", "kind": "SidecarSet"}
    assert BroadcastJobV1alpha1().to_dict() == {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "BroadcastJob",
    }
    assert SidecarSetV1alpha1().to_dict() == {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "SidecarSet"}
    assert StatefulSetV1alpha1().to_dict()["apiVersion"] == "apps.kruise.io/v1alpha1"


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "apps/v1", "kind": "StatefulSet"},
        {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet"},
        {"apiVersion": "apps.kruise.io/v1beta2", "kind": "SidecarSet"},
        {},
    ],
)
def test_from_dict_rejects_unknown_kinds(obj: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unsupported apiVersion/kind"):
        from_dict(obj)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "replicas"), "many"),
        (("spec", "updateStrategy", "rollingUpdate", "maxUnavailable"), True),
        (("spec", "updateStrategy", "rollingUpdate", "maxUnavailable"), 1.5),
        (("spec", "reserveOrdinals"), [None]),
        (("spec", "selector", "matchLabels"), ["a"]),
    ],
)
def test_bad_types_raise(path: tuple[str, ...], value: Any) -> None:
    obj = load(ASTS_V1BETA1)
    cur = obj
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    with pytest.raises(ValidationError):
        from_dict(obj)


# --------------------------------------------------------------------------------------------------
# Property: any combination of known fields plus unknown JSON round-trips.

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.text(max_size=8))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
int_or_str = st.one_of(st.integers(0, 100), st.sampled_from(["10%", "50%", "100%", "3", "x"]))
label_map = st.dictionaries(st.sampled_from(["app", "tier", "k"]), st.text(max_size=5), max_size=3)
selector = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": label_map,
        "matchExpressions": st.lists(
            st.fixed_dictionaries(
                {"key": st.sampled_from(["a", "b"]), "operator": st.sampled_from(["In", "Exists"])},
                optional={"values": st.lists(st.text(max_size=3), max_size=2)},
            ),
            max_size=2,
        ),
    },
)
rolling = st.fixed_dictionaries(
    {},
    optional={
        "partition": st.integers(0, 10),
        "maxUnavailable": int_or_str,
        "podUpdatePolicy": st.sampled_from(["ReCreate", "InPlaceIfPossible"]),
        "paused": st.booleans(),
        "minReadySeconds": st.integers(0, 300),
        "unorderedUpdate": st.just({"priorityStrategy": {"orderPriority": [{"orderedKey": "k"}]}}),
        # (an explicit null in a model field is dropped on dump; a documented limit)
        "someNewField": json_value.filter(lambda v: v is not None),
    },
)
asts_spec = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.integers(0, 50),
        "selector": selector,
        "template": st.dictionaries(st.sampled_from(["metadata", "spec", "x"]), json_value, max_size=3),
        "volumeClaimTemplates": st.lists(
            st.dictionaries(st.text(max_size=4), json_value, max_size=2), max_size=2
        ),
        "serviceName": st.text(max_size=5),
        "podManagementPolicy": st.sampled_from(["OrderedReady", "Parallel"]),
        "updateStrategy": st.fixed_dictionaries(
            {}, optional={"type": st.just("RollingUpdate"), "rollingUpdate": rolling}
        ),
        "reserveOrdinals": st.lists(int_or_str, max_size=3),
        "lifecycle": st.just({"preNormal": {"labelsHandler": {"a": "b"}}}),
        "scaleStrategy": st.fixed_dictionaries({}, optional={"maxUnavailable": int_or_str}),
        "unknown": json_value.filter(lambda v: v is not None),
    },
)


@settings(max_examples=200)
@given(
    asts_spec,
    st.dictionaries(st.sampled_from(["phase", "replicas", "whatever"]), st.integers(0, 5), max_size=2),
)
def test_statefulset_round_trip_property(spec: dict[str, Any], status: dict[str, Any]) -> None:
    obj: dict[str, Any] = {"apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "spec": spec}
    if status:
        obj["status"] = status
    assert to_dict(from_dict(obj)) == obj
