"""Validation of claim-template updates under volumeClaimUpdateStrategy OnPodRollingUpdate
[ValidateVolumeClaimTemplateUpdate], and of the strategy type itself."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kruise_py.api import validate_statefulset
from kruise_py.api.validation import validate_volume_claim_templates_update

from .helpers import DELETE, has_error, pairs, with_value

BASE: dict[str, Any] = {
    "apiVersion": "apps.kruise.io/v1beta1",
    "kind": "StatefulSet",
    "metadata": {"name": "db", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}},
        "template": {
            "metadata": {"labels": {"app": "db"}},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "postgres:16",
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ]
            },
        },
        "volumeClaimUpdateStrategy": {"type": "OnPodRollingUpdate"},
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data"},
                "spec": {
                    "storageClassName": "fast",
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
            {
                "metadata": {"name": "wal"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            },
        ],
    },
}
DATA = "spec.volumeClaimTemplates[0]"
DATA_PATH = "spec.volumeClaimTemplates[data]"  # OpenKruise names the template in the path


def build(changes: dict[str, Any], base: dict[str, Any] = BASE) -> dict[str, Any]:
    obj = base
    for path, value in changes.items():
        obj = with_value(obj, path, value)
    return obj


def test_base_is_valid() -> None:
    assert validate_statefulset(BASE) == []
    assert validate_statefulset(BASE, BASE) == []


ALLOWED = [
    {f"{DATA}.spec.resources.requests.storage": "2Gi"},
    {f"{DATA}.spec.resources.requests.storage": "1024Mi"},  # the same size, written differently
    {
        f"{DATA}.spec.resources.requests.storage": "10Gi",
        "spec.volumeClaimTemplates[1].spec.resources.requests.storage": "3Gi",
    },
    {f"{DATA}.metadata.labels": {"tier": "db"}},  # new claims only
    {
        "spec.volumeClaimTemplates[1].spec.storageClassName": "fast"
    },  # unset -> set: OpenKruise compares set ones only
    {f"{DATA}.spec.volumeMode": "Filesystem"},  # the default, written out
    {
        "spec.template.spec.containers[0].image": "postgres:17",
        f"{DATA}.spec.resources.requests.storage": "2Gi",
    },
]


@pytest.mark.parametrize("changes", ALLOWED)
def test_allowed_updates(changes: dict[str, Any]) -> None:
    new = build(changes)
    assert validate_statefulset(new, BASE) == [], pairs(validate_statefulset(new, BASE))


REJECTED = [
    # OpenKruise's rules
    (
        {"spec.volumeClaimTemplates": BASE["spec"]["volumeClaimTemplates"][:1]},
        "spec.volumeClaimTemplates",
        "volumeClaimTemplate can not be added or deleted when OnRollingUpdate",
        "Invalid",
    ),
    (
        {f"{DATA}.metadata.name": "data2", "spec.template.spec.containers[0].volumeMounts[0].name": "data2"},
        "spec.volumeClaimTemplates[data2].name",
        "volumeClaimTemplate name can not be modified",
        "Forbidden",
    ),
    (
        {f"{DATA}.spec.storageClassName": "slow"},
        DATA_PATH,
        "volumeClaimTemplate can not be modified when OnRollingUpdate (storageClassName)",
        "Invalid",
    ),
    (
        {f"{DATA}.spec.accessModes": ["ReadWriteOncePod"]},
        DATA_PATH,
        "volumeClaimTemplate can not be modified when OnRollingUpdate (accessModes)",
        "Invalid",
    ),
    # beyond OpenKruise
    (
        {f"{DATA}.spec.resources.requests.storage": "512Mi"},
        f"{DATA_PATH}.spec.resources.requests.storage",
        "can not be decreased when volumeClaimUpdateStrategy is "
        "OnPodRollingUpdate (was 1Gi): claims can only grow",
        "Forbidden",
    ),
    (
        {f"{DATA}.spec.resources.requests.storage": DELETE},
        f"{DATA_PATH}.spec.resources.requests.storage",
        "can not be decreased",
        "Forbidden",
    ),
    (
        {f"{DATA}.spec.resources.requests.storage": "lots"},
        f"{DATA_PATH}.spec.resources.requests.storage",
        "invalid quantity 'lots'",
        "Invalid",
    ),
    (
        {f"{DATA}.spec.resources.limits": {"storage": "5Gi"}},
        f"{DATA_PATH}.spec.resources.limits.storage",
        "the limits of a bound claim are immutable",
        "Forbidden",
    ),
    (
        {f"{DATA}.spec.volumeMode": "Block"},
        f"{DATA_PATH}.spec.volumeMode",
        "existing claims only follow a larger storage request",
        "Forbidden",
    ),
    (
        {f"{DATA}.spec.selector": {"matchLabels": {"disk": "ssd"}}},
        f"{DATA_PATH}.spec.selector",
        "existing claims only follow a larger storage request",
        "Forbidden",
    ),
]


@pytest.mark.parametrize("changes,path,message,etype", REJECTED)
def test_rejected_updates_name_the_field(
    changes: dict[str, Any], path: str, message: str, etype: str
) -> None:
    errs = validate_statefulset(build(changes), BASE)
    assert has_error(errs, path, message), pairs(errs)
    assert next(e for e in errs if e.path == path).type == etype


@pytest.mark.parametrize(
    "changes", [c for c, _, message, _ in REJECTED if not message.startswith("invalid quantity")]
)
def test_on_delete_allows_any_template_change(changes: dict[str, Any]) -> None:
    for strategy in ({"type": "OnDelete"}, DELETE, {}):
        old = build({"spec.volumeClaimUpdateStrategy": strategy})
        new = build({**changes, "spec.volumeClaimUpdateStrategy": strategy})
        assert validate_volume_claim_templates_update(new["spec"], old["spec"]) == []


def test_switching_to_on_pod_rolling_update_checks_the_change_made_with_it() -> None:
    old = build({"spec.volumeClaimUpdateStrategy": {"type": "OnDelete"}})
    errs = validate_statefulset(build({f"{DATA}.spec.resources.requests.storage": "512Mi"}), old)
    assert has_error(errs, f"{DATA_PATH}.spec.resources.requests.storage", "can not be decreased")


def test_create_is_not_restricted() -> None:
    assert validate_statefulset(build({f"{DATA}.spec.resources.requests.storage": "512Mi"})) == []


@pytest.mark.parametrize(
    "value,ok",
    [
        ("OnPodRollingUpdate", True),
        ("OnDelete", True),
        ("", True),
        ("OnPodRollingUpdates", False),
        ("InPlace", False),
    ],
)
def test_strategy_type_values(value: str, ok: bool) -> None:
    errs = validate_statefulset(build({"spec.volumeClaimUpdateStrategy.type": value}))
    assert (errs == []) == ok, pairs(errs)
    if not ok:
        assert has_error(
            errs, "spec.volumeClaimUpdateStrategy.type", 'supported values: "OnDelete", "OnPodRollingUpdate"'
        )


# -- the StorageClass check (when the webhook is given a lookup) -----------------------------------
CLASSES = {
    "fast": {"metadata": {"name": "fast"}, "allowVolumeExpansion": True},
    "fixed": {"metadata": {"name": "fixed"}, "allowVolumeExpansion": False},
    "unset": {"metadata": {"name": "unset"}},
}


def lookup(default: str | None) -> Any:
    def get(name: str | None) -> Any:
        return CLASSES.get(name or default or "")

    return get


@pytest.mark.parametrize(
    "cls,default,path,message",
    [
        ("fast", None, None, None),
        (
            "fixed",
            None,
            "spec.resources.requests.storage",
            "storage class fixed does not support volume expansion",
        ),
        (
            "unset",
            None,
            None,
            None,
        ),  # as OpenKruise: only an explicit false (the controller reports the rest)
        ("missing", None, "spec.storageClassName", "can not get sc"),
        (
            None,
            "fixed",
            "spec.resources.requests.storage",
            "storage class fixed does not support volume expansion",
        ),
        (None, None, None, None),  # no class and no default class: nothing to check
    ],
)
def test_storage_class_must_allow_expansion(
    cls: str | None, default: str | None, path: str | None, message: str | None
) -> None:
    old = copy.deepcopy(BASE)
    old["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = cls
    new = with_value(old, f"{DATA}.spec.resources.requests.storage", "2Gi")
    errs = validate_statefulset(new, old, storage_class=lookup(default))
    if path is None:
        assert errs == [], pairs(errs)
    else:
        assert has_error(errs, f"{DATA_PATH}.{path}", str(message)), pairs(errs)
    # Not asked when nothing grows.
    assert validate_statefulset(old, old, storage_class=lookup(default)) == []
