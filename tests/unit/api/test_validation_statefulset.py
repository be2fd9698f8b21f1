"""Advanced StatefulSet validation (spec §6.1): every rule fires with its path, valid input passes."""

from __future__ import annotations

from typing import Any

import pytest

from kruise_py.api import validate_statefulset, validate_statefulset_deletion
from kruise_py.api.statefulset import to_v1alpha1
from kruise_py.api.validation import in_place_only_violation

from .examples import ASTS_V1ALPHA1, ASTS_V1BETA1, load
from .helpers import DELETE, has_error, pairs, with_value

BASE: dict[str, Any] = {
    "apiVersion": "apps.kruise.io/v1beta1",
    "kind": "StatefulSet",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "serviceName": "web",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "nginx:1.25",
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ]
            },
        },
        # a volumeClaimTemplate counts as a volume for the mount above
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}],
    },
}
RU = "spec.updateStrategy.rollingUpdate"
GATE = [{"conditionType": "InPlaceUpdateReady"}]
PARALLEL = {"spec.podManagementPolicy": "Parallel"}


def build(changes: dict[str, Any], base: dict[str, Any] = BASE) -> dict[str, Any]:
    obj = base
    for path, value in changes.items():
        obj = with_value(obj, path, value)
    return obj


def test_base_is_valid() -> None:
    assert validate_statefulset(BASE) == []


@pytest.mark.parametrize("text", [ASTS_V1BETA1, ASTS_V1ALPHA1])
def test_realistic_examples_are_valid(text: str) -> None:
    assert validate_statefulset(load(text)) == []


# (changes, expected path, expected message fragment)
CREATE_CASES: list[tuple[dict[str, Any], str, str]] = [
    # metadata
    ({"metadata.name": "Web_1"}, "metadata.name", "a lowercase RFC 1123 subdomain must consist of"),
    ({"metadata.name": DELETE}, "metadata.name", "name or generateName is required"),
    ({"metadata.labels": {"bad key": "v"}}, "metadata.labels", "name part must consist of"),
    # podManagementPolicy
    ({"spec.podManagementPolicy": "Foo"}, "spec.podManagementPolicy", "must be 'OrderedReady' or 'Parallel'"),
    # reserveOrdinals
    (
        {"spec.reserveOrdinals": ["a-b"]},
        "spec.reserveOrdinals[0]",
        "0 th reserve ordinal is not a valid range: a-b",
    ),
    (
        {"spec.reserveOrdinals": [1, "5-3"]},
        "spec.reserveOrdinals[1]",
        "1 th reserve ordinal is invalid: 5-3, err =",
    ),
    ({"spec.reserveOrdinals": [-1]}, "spec.reserveOrdinals[0]", "0 th reserve ordinal is negative: -1"),
    # scaleStrategy.maxUnavailable
    (
        {"spec.scaleStrategy.maxUnavailable": 2},
        "spec.scaleStrategy.maxUnavailable",
        "can only work with Parallel PodManagementPolicyType",
    ),
    (
        {**PARALLEL, "spec.scaleStrategy.maxUnavailable": "0%"},
        "spec.scaleStrategy.maxUnavailable",
        "should not be less than 1",
    ),
    # updateStrategy
    ({"spec.updateStrategy.type": "Foo"}, "spec.updateStrategy", "must be 'RollingUpdate' or 'OnDelete'"),
    (
        {"spec.updateStrategy": {"type": "OnDelete", "rollingUpdate": {"partition": 1}}},
        "spec.updateStrategy.rollingUpdate",
        "only allowed for updateStrategy 'RollingUpdate'",
    ),
    ({f"{RU}.partition": -1}, f"{RU}.partition", "must be greater than or equal to 0"),
    ({f"{RU}.minReadySeconds": 301}, f"{RU}.minReadySeconds", "must be no more than 300 seconds"),
    ({f"{RU}.minReadySeconds": -1}, f"{RU}.minReadySeconds", "must be greater than or equal to 0"),
    ({f"{RU}.maxUnavailable": 0}, f"{RU}.maxUnavailable", "should not be less than 1"),
    ({f"{RU}.maxUnavailable": "0%"}, f"{RU}.maxUnavailable", "should not be less than 1"),
    ({f"{RU}.maxUnavailable": -2}, f"{RU}.maxUnavailable", "must be greater than or equal to 0"),
    (
        {f"{RU}.maxUnavailable": "abc"},
        f"{RU}.maxUnavailable",
        "a valid percent string must be a numeric string",
    ),
    (
        {f"{RU}.maxUnavailable": "abc"},
        f"{RU}.maxUnavailable",
        "getValueFromIntOrPercent error: invalid value",
    ),
    (
        {f"{RU}.podUpdatePolicy": "Foo"},
        f"{RU}.podUpdatePolicy",
        "must be 'ReCreate', InPlaceIfPossible or 'InPlaceOnly'",
    ),
    (
        {f"{RU}.podUpdatePolicy": "InPlaceIfPossible"},
        "spec.template.spec.readinessGates",
        "must contains InPlaceUpdateReady when podUpdatePolicy is InPlaceIfPossible",
    ),
    (
        {
            f"{RU}.podUpdatePolicy": "InPlaceOnly",
            "spec.template.spec.readinessGates": [{"conditionType": "Other"}],
        },
        "spec.template.spec.readinessGates",
        "must contains InPlaceUpdateReady when podUpdatePolicy is InPlaceOnly",
    ),
    (
        {f"{RU}.unorderedUpdate": {}},
        f"{RU}.unorderedUpdate",
        "unorderedUpdate can only work with Parallel PodManagementPolicyType",
    ),
    (
        {
            **PARALLEL,
            f"{RU}.unorderedUpdate.priorityStrategy": {
                "weightPriority": [{"weight": 1, "matchSelector": {"matchLabels": {"a": "b"}}}],
                "orderPriority": [{"orderedKey": "k"}],
            },
        },
        f"{RU}.unorderedUpdate.priorityStrategy",
        "only one of weightPriority and orderPriority can be used",
    ),
    (
        {
            **PARALLEL,
            f"{RU}.unorderedUpdate.priorityStrategy": {
                "weightPriority": [{"weight": 101, "matchSelector": {"matchLabels": {"a": "b"}}}]
            },
        },
        f"{RU}.unorderedUpdate.priorityStrategy",
        "weight must be valid number in the range 1-100",
    ),
    (
        {
            **PARALLEL,
            f"{RU}.unorderedUpdate.priorityStrategy": {
                "weightPriority": [{"weight": 5, "matchSelector": {}}]
            },
        },
        f"{RU}.unorderedUpdate.priorityStrategy",
        "selector can not be empty",
    ),
    (
        {**PARALLEL, f"{RU}.unorderedUpdate.priorityStrategy": {"orderPriority": [{"orderedKey": ""}]}},
        f"{RU}.unorderedUpdate.priorityStrategy",
        "order key can not be empty",
    ),
    # PVC retention policy
    (
        {"spec.persistentVolumeClaimRetentionPolicy.whenDeleted": "Keep"},
        "spec.persistentVolumeClaimRetentionPolicy.whenDeleted",
        'supported values: "Retain", "Delete"',
    ),
    (
        {"spec.persistentVolumeClaimRetentionPolicy.whenScaled": "Keep"},
        "spec.persistentVolumeClaimRetentionPolicy.whenScaled",
        'supported values: "Retain", "Delete"',
    ),
    # replicas
    ({"spec.replicas": -1}, "spec.replicas", "must be greater than or equal to 0"),
    # selector
    ({"spec.selector": DELETE}, "spec.selector", "Required value"),
    ({"spec.selector": {}}, "spec.selector", "empty selector is invalid for statefulset"),
    (
        {"spec.selector": {"matchLabels": {"app": "other"}}},
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
    ),
    (
        {"spec.selector.matchExpressions": [{"key": "app", "operator": "Foo"}]},
        "spec.selector.matchExpressions[0].operator",
        "not a valid selector operator",
    ),
    # core template (pragmatic subset)
    ({"spec.template": DELETE}, "spec.template", "Required value"),
    ({"spec.template.spec.containers": []}, "spec.template.spec.containers", "Required value"),
    (
        {"spec.template.spec.containers[0].name": "Main_1"},
        "spec.template.spec.containers[0].name",
        "RFC 1123 label",
    ),
    (
        {"spec.template.spec.containers[0].image": DELETE},
        "spec.template.spec.containers[0].image",
        "Required value",
    ),
    (
        {"spec.template.spec.initContainers": [{"name": "main", "image": "busybox"}]},
        "spec.template.spec.containers[0].name",
        '"main"',
    ),
    (
        {"spec.template.spec.containers[0].volumeMounts[0].name": "nope"},
        "spec.template.spec.containers[0].volumeMounts[0].name",
        '"nope"',
    ),
    (
        {"spec.template.metadata.labels": {"app": "web", "bad key": "x"}},
        "spec.template.metadata.labels",
        "name part must consist of",
    ),
    # restartPolicy / activeDeadlineSeconds
    (
        {"spec.template.spec.restartPolicy": "Never"},
        "spec.template.spec.restartPolicy",
        'supported values: "Always"',
    ),
    (
        {"spec.template.spec.activeDeadlineSeconds": 10},
        "spec.template.spec.activeDeadlineSeconds",
        "activeDeadlineSeconds in StatefulSet is not Supported",
    ),
]


@pytest.mark.parametrize(("changes", "path", "message"), CREATE_CASES)
def test_create_rule_fires(changes: dict[str, Any], path: str, message: str) -> None:
    errs = validate_statefulset(build(changes))
    assert has_error(errs, path, message), pairs(errs)


# Required fields, visible when the object is validated without defaulting.
REQUIRED_CASES: list[tuple[dict[str, Any], str]] = [
    (
        {
            "spec.updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"partition": 0, "maxUnavailable": 1},
            }
        },
        "spec.podManagementPolicy",
    ),
    ({"spec.podManagementPolicy": "Parallel"}, "spec.updateStrategy"),
    (
        {
            "spec.podManagementPolicy": "Parallel",
            "spec.updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"podUpdatePolicy": "ReCreate"},
            },
        },
        f"{RU}.maxUnavailable",
    ),
    (
        {
            "spec.podManagementPolicy": "Parallel",
            "spec.updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
        },
        f"{RU}.podUpdatePolicy",
    ),
]


@pytest.mark.parametrize(("changes", "path"), REQUIRED_CASES)
def test_required_without_defaults(changes: dict[str, Any], path: str) -> None:
    errs = validate_statefulset(build(changes), apply_defaults=False)
    assert any(e.path == path and e.type == "Required" for e in errs), pairs(errs)
    assert not any(e.path == path for e in validate_statefulset(build(changes)))  # defaults fill it


VALID_CASES: list[dict[str, Any]] = [
    {"spec.reserveOrdinals": [0, "2-5", "7-7"]},
    # Beyond OpenKruise (KEP-961): maxUnavailable > 1 with OrderedReady is allowed.
    {f"{RU}.maxUnavailable": 3},
    {f"{RU}.maxUnavailable": "50%"},
    {**PARALLEL, f"{RU}.maxUnavailable": "100%", "spec.scaleStrategy.maxUnavailable": 2},
    {f"{RU}.podUpdatePolicy": "InPlaceIfPossible", "spec.template.spec.readinessGates": GATE},
    {f"{RU}.podUpdatePolicy": "InPlaceOnly", "spec.template.spec.readinessGates": GATE},
    {
        **PARALLEL,
        f"{RU}.unorderedUpdate.priorityStrategy": {
            "weightPriority": [{"weight": 0, "matchSelector": {"matchLabels": {"a": "b"}}}]  # 0 passes (P19)
        },
    },
    {f"{RU}.partition": 10, f"{RU}.minReadySeconds": 300, f"{RU}.paused": True},
    {"spec.updateStrategy": {"type": "OnDelete"}},
    {"spec.template.spec.restartPolicy": "Always"},
    {"spec.replicas": 0},
    {"spec.persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"}},
    {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}},
    {
        "spec.template.spec.volumes": [{"name": "cfg", "configMap": {"name": "c"}}],
        "spec.template.spec.containers[0].volumeMounts[0].name": "cfg",
    },
    {
        "spec.lifecycle": {
            "preDelete": {"finalizersHandler": ["x.io/hook"]},
            "preNormal": {"labelsHandler": {"a": "b"}},
        }
    },
]


@pytest.mark.parametrize("changes", VALID_CASES)
def test_valid_input_passes(changes: dict[str, Any]) -> None:
    assert validate_statefulset(build(changes)) == []


def test_every_violation_is_reported() -> None:
    obj = build(
        {"spec.podManagementPolicy": "Foo", "spec.replicas": -1, f"{RU}.partition": -1, "spec.selector": {}}
    )
    paths = {e.path for e in validate_statefulset(obj)}
    assert {"spec.podManagementPolicy", "spec.replicas", f"{RU}.partition", "spec.selector"} <= paths


def test_type_errors_are_field_errors() -> None:
    errs = validate_statefulset(build({"spec.replicas": "three"}))
    assert [e.path for e in errs] == ["spec.replicas"]


def test_v1alpha1_is_validated_as_v1beta1() -> None:
    alpha = to_v1alpha1(BASE)
    assert validate_statefulset(alpha) == []
    errs = validate_statefulset(with_value(alpha, "spec.podManagementPolicy", "Foo"))
    assert has_error(errs, "spec.podManagementPolicy", "must be 'OrderedReady' or 'Parallel'")


# --------------------------------------------------------------------------------------------------
# update

ALLOWED_UPDATES: list[dict[str, Any]] = [
    {"spec.replicas": 10},
    {"spec.template.spec.containers[0].image": "nginx:1.26"},
    {"spec.template.spec.containers[0].env": [{"name": "A", "value": "1"}]},
    {f"{RU}.partition": 2},
    {f"{RU}.maxUnavailable": 2},
    {"spec.reserveOrdinals": [1]},
    {"spec.lifecycle": {"preDelete": {"finalizersHandler": ["x.io/h"]}}},
    {"spec.scaleStrategy": {"maxUnavailable": 1}},
    {"spec.persistentVolumeClaimRetentionPolicy.whenScaled": "Delete"},
    {"spec.revisionHistoryLimit": 3},
    {"spec.volumeClaimTemplates[0].spec.resources": {"requests": {"storage": "2Gi"}}},
    {"spec.ordinals": {"start": 1}},
]


@pytest.mark.parametrize("changes", ALLOWED_UPDATES)
def test_allowed_updates(changes: dict[str, Any]) -> None:
    new = build(changes)
    assert validate_statefulset(new, BASE) == [], pairs(validate_statefulset(new, BASE))


@pytest.mark.parametrize(
    "changes",
    [
        {"spec.selector": {"matchLabels": {"app": "web", "x": "y"}}, "spec.template.metadata.labels.x": "y"},
        {"spec.serviceName": "other"},
        {"spec.podManagementPolicy": "Parallel"},
    ],
)
def test_forbidden_updates(changes: dict[str, Any]) -> None:
    errs = validate_statefulset(build(changes), BASE)
    assert any(
        e.path == "spec"
        and e.type == "Forbidden"
        and "updates to statefulset spec for fields other than" in e.message
        for e in errs
    ), pairs(errs)


def test_defaults_do_not_count_as_changes() -> None:
    from kruise_py.api import default_statefulset

    assert validate_statefulset(BASE, default_statefulset(BASE)) == []


def test_metadata_name_is_immutable() -> None:
    errs = validate_statefulset(build({"metadata.name": "other"}), BASE)
    assert has_error(errs, "metadata.name", "field is immutable")


IN_PLACE_ONLY = {f"{RU}.podUpdatePolicy": "InPlaceOnly", "spec.template.spec.readinessGates": GATE}


def test_in_place_only_allows_image_and_metadata_changes() -> None:
    old = build(IN_PLACE_ONLY)
    new = build({**IN_PLACE_ONLY, "spec.template.spec.containers[0].image": "nginx:1.26"})
    assert validate_statefulset(new, old) == []
    relabel = with_value(new, "spec.template.metadata.annotations", {"a": "b"})
    assert validate_statefulset(relabel, old) == []


@pytest.mark.parametrize(
    ("changes", "op"),
    [
        ({"spec.template.spec.containers[0].env": [{"name": "A", "value": "1"}]}, "add /containers/0/env"),
        ({"spec.template.spec.containers[0].imagePullPolicy": "Always"}, "add /containers/0/imagePullPolicy"),
        (
            {"spec.template.spec.containers[0].volumeMounts[0].mountPath": "/x"},
            "replace /containers/0/volumeMounts/0/mountPath",
        ),
        ({"spec.template.spec.nodeSelector": {"a": "b"}}, "add /nodeSelector"),
    ],
)
def test_in_place_only_rejects_other_changes(changes: dict[str, Any], op: str) -> None:
    old = build(IN_PLACE_ONLY)
    errs = validate_statefulset(build({**IN_PLACE_ONLY, **changes}), old)
    assert has_error(
        errs,
        "spec.template",
        f"invalid template modified with InPlaceOnly strategy: {op}, currently only image update is allowed for InPlaceOnly",
    ), pairs(errs)


def test_in_place_only_violation_helper() -> None:
    t = {"spec": {"containers": [{"name": "a", "image": "x"}]}}
    assert in_place_only_violation(t, {"spec": {"containers": [{"name": "a", "image": "y"}]}}) is None
    assert (
        in_place_only_violation(t, {"spec": {"containers": [{"name": "b", "image": "x"}]}})
        == "replace /containers/0/name"
    )
    two = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]}}
    assert in_place_only_violation(t, two) == "add /containers/1"


# --------------------------------------------------------------------------------------------------
# deletion protection


@pytest.mark.parametrize(
    ("label", "replicas", "message"),
    [
        (
            "Always",
            0,
            "forbidden by ResourcesProtectionDeletion for policy.kruise.io/delete-protection=Always",
        ),
        (
            "Cascading",
            3,
            "forbidden by ResourcesProtectionDeletion for policy.kruise.io/delete-protection=Cascading and replicas 3>0",
        ),
        ("Cascading", 0, None),
        (None, 3, None),
    ],
)
def test_deletion_protection(label: str | None, replicas: int, message: str | None) -> None:
    obj = build({"spec.replicas": replicas})
    if label:
        obj = with_value(obj, "metadata.labels", {"policy.kruise.io/delete-protection": label})
    errs = validate_statefulset_deletion(obj)
    if message is None:
        assert errs == []
    else:
        assert pairs(errs) == [("metadata.labels", message)]
        terminating = with_value(obj, "metadata.deletionTimestamp", "2025-01-01T00:00:00Z")
        assert validate_statefulset_deletion(terminating) == []


def test_negative_revision_history_limit_is_rejected() -> None:
    # Beyond OpenKruise; found by tests/reliability (bad input).
    obj = with_value(BASE, "spec.revisionHistoryLimit", -1)
    assert any(e.path == "spec.revisionHistoryLimit" for e in validate_statefulset(obj))
