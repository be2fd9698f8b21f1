"""BroadcastJob validation (spec §6.2)."""

from __future__ import annotations

from typing import Any

import pytest

from kruise_py.api import validate_broadcastjob

from .examples import BROADCASTJOB, load
from .helpers import DELETE, has_error, pairs, with_value

BASE: dict[str, Any] = {
    "apiVersion": "apps.kruise.io/v1alpha1",
    "kind": "BroadcastJob",
    "metadata": {"name": "pull-images", "namespace": "default"},
    "spec": {
        "template": {
            "spec": {
                "containers": [{"name": "pull", "image": "busybox", "command": ["true"]}],
                "restartPolicy": "Never",
            }
        },
        "completionPolicy": {"type": "Always", "ttlSecondsAfterFinished": 60},
    },
}


def build(changes: dict[str, Any]) -> dict[str, Any]:
    obj = BASE
    for path, value in changes.items():
        obj = with_value(obj, path, value)
    return obj


def test_base_and_example_are_valid() -> None:
    assert validate_broadcastjob(BASE) == []
    assert validate_broadcastjob(load(BROADCASTJOB)) == []


NAME_MSG = "BroadcastJob name must consist of alphanumeric characters or '-'"

CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"metadata.name": "pull.images"}, "metadata.name", NAME_MSG),
    ({"metadata.name": "a" * 64}, "metadata.name", "must be no more than 63 characters"),
    (
        {"spec.completionPolicy": {"type": "Never", "ttlSecondsAfterFinished": 10}},
        "spec.completionPolicy.ttlSecondsAfterFinished",
        "ttlSecondsAfterFinished can just work with Always CompletionPolicyType",
    ),
    (
        {"spec.completionPolicy": {"type": "Never", "activeDeadlineSeconds": 10}},
        "spec.completionPolicy.activeDeadlineSeconds",
        "activeDeadlineSeconds can just work with Always CompletionPolicyType",
    ),
    (
        {"spec.template.spec.restartPolicy": "Always"},
        "spec.template.spec.restartPolicy",
        "pod restartPolicy can only be Never or OnFailure",
    ),
    # An empty restartPolicy is rejected too (OpenKruise defaults it to Always first, P20).
    (
        {"spec.template.spec.restartPolicy": DELETE},
        "spec.template.spec.restartPolicy",
        "pod restartPolicy can only be Never or OnFailure",
    ),
    (
        {"spec.template.metadata.labels": {"broadcastjob-name": "x"}},
        "spec.template.metadata.labels",
        '"broadcastjob-name" and "broadcastjob-controller-uid" are not allowed to preset in pod labels',
    ),
    (
        {"spec.template.metadata.labels": {"broadcastjob-controller-uid": "123"}},
        "spec.template.metadata.labels",
        "are not allowed to preset in pod labels",
    ),
    # core template subset
    ({"spec.template": DELETE}, "spec.template", "Required value"),
    ({"spec.template.spec.containers": []}, "spec.template.spec.containers", "Required value"),
    (
        {"spec.template.spec.containers[0].image": ""},
        "spec.template.spec.containers[0].image",
        "Required value",
    ),
    (
        {"spec.template.spec.containers[0].volumeMounts": [{"name": "v", "mountPath": "/v"}]},
        "spec.template.spec.containers[0].volumeMounts[0].name",
        '"v"',
    ),
    (
        {"spec.template.spec.restartPolicy": "Sometimes"},
        "spec.template.spec.restartPolicy",
        'supported values: "Always", "OnFailure", "Never"',
    ),
    # Beyond OpenKruise: a parallelism the controller cannot resolve.
    ({"spec.parallelism": "lots"}, "spec.parallelism", "a valid percent string"),
    ({"spec.parallelism": -1}, "spec.parallelism", "must be greater than or equal to 0"),
]


@pytest.mark.parametrize(("changes", "path", "message"), CASES)
def test_rule_fires(changes: dict[str, Any], path: str, message: str) -> None:
    errs = validate_broadcastjob(build(changes))
    assert has_error(errs, path, message), pairs(errs)


@pytest.mark.parametrize(
    "changes",
    [
        {"spec.template.spec.restartPolicy": "OnFailure"},
        {"spec.completionPolicy": {"type": "Never"}},
        {"spec.completionPolicy": {"type": "Always", "activeDeadlineSeconds": 0}},
        {"spec.parallelism": "40%"},
        {"spec.parallelism": 3},
        {"spec.failurePolicy": {"type": "Continue", "restartLimit": 2}},
        {"spec.template.metadata.labels": {"broadcastjob-name": ""}},  # empty values pass, as in OpenKruise
        {"metadata.name": "Pull-Images-01"},  # upper case is fine for BroadcastJob names
    ],
)
def test_valid_input_passes(changes: dict[str, Any]) -> None:
    assert validate_broadcastjob(build(changes)) == []


def test_update_has_no_extra_rules() -> None:
    new = build({"spec.parallelism": 5, "spec.template.spec.containers[0].image": "busybox:2"})
    assert validate_broadcastjob(new, BASE) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.completionPolicy.type", "Sometimes"),
        ("spec.completionPolicy.activeDeadlineSeconds", -1),
        ("spec.completionPolicy.ttlSecondsAfterFinished", -5),
        ("spec.failurePolicy.type", "Retry"),
        ("spec.failurePolicy.restartLimit", -1),
    ],
)
def test_policy_values_the_controller_cannot_act_on_are_rejected(path: str, value: Any) -> None:
    # Beyond OpenKruise; found by tests/reliability (bad input).
    errs = validate_broadcastjob(build({path: value}))
    assert any(e.path == path for e in errs), errs


def test_a_wrong_typed_policy_is_not_replaced_by_defaults() -> None:
    from kruise_py.api import default_broadcastjob

    out = default_broadcastjob(build({"spec.completionPolicy": "Always"}))
    assert out["spec"]["completionPolicy"] == "Always"  # left for the schema to reject
    assert validate_broadcastjob(build({"spec.completionPolicy": "Always"}))
