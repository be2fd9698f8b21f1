"""Wrong JSON types found against the real CRDs in crds/, one message per wrong field."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from kruise_py.api.schema_types import object_type_errors, type_errors
from kruise_py.webhooks import admission

CRDS = Path(__file__).resolve().parents[3] / "crds"


@functools.cache
def _load(plural: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc: dict[str, Any] = yaml.load((CRDS / f"apps.kruise.io_{plural}.yaml").read_text(), Loader=loader)
    return doc


def crd(plural: str) -> dict[str, Any]:
    return _load(plural)


def asts(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": {"rollingUpdate": {"maxUnavailable": "50%", "partition": 0}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 80}]}]},
            },
        },
    }
    base["spec"].update(spec)
    return base


def paths(obj: dict[str, Any], plural: str = "statefulsets") -> list[tuple[str, str]]:
    return [(e.path, e.message) for e in object_type_errors(obj, crd(plural))]


def test_a_valid_object_has_no_type_errors() -> None:
    assert paths(asts()) == []
    assert paths(asts(replicas=3.0)) == []  # Go's decoder takes an integral float for an integer


def test_replicas_three_is_one_clear_error() -> None:
    assert paths(asts(replicas="three")) == [("spec.replicas", 'must be an integer, got "three"')]


def test_nested_lists_int_or_string_and_booleans() -> None:
    obj = asts()
    obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    obj["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] = {"n": 1}
    obj["spec"]["updateStrategy"]["rollingUpdate"]["paused"] = "yes"
    assert sorted(paths(obj)) == [
        ("spec.template.spec.containers[0].ports[0].containerPort", 'must be an integer, got "http"'),
        (
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            'must be an integer or a string (e.g. 25%), got {"n":1}',
        ),
        ("spec.updateStrategy.rollingUpdate.paused", 'must be a boolean, got "yes"'),
    ]


def test_wrong_containers_reported_once_not_per_child() -> None:
    assert paths(asts(template={"spec": {"containers": "nginx"}})) == [
        ("spec.template.spec.containers", 'must be a list, got "nginx"')
    ]
    assert paths(asts(selector=[1])) == [("spec.selector", "must be an object, got [1]")]


def test_unknown_fields_nulls_and_preserved_maps_are_not_errors() -> None:
    obj = asts(notAField={"x": 1}, replicas=None)
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "web", "tier": "front"}
    assert paths(obj) == []


def test_the_version_of_the_object_picks_the_schema() -> None:
    job = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "BroadcastJob",
        "metadata": {"name": "j"},
        "spec": {
            "completionPolicy": "Always",
            "template": {"spec": {"containers": [{"name": "c", "image": "b"}]}},
        },
    }
    got = paths(job, "broadcastjobs")
    assert [p for p, _ in got] == ["spec.completionPolicy"]
    assert paths({**job, "apiVersion": "apps.kruise.io/v9"}, "broadcastjobs") == []  # not served: apiserver's


def test_bool_is_not_an_integer_and_unknown_types_pass() -> None:
    assert [e.path for e in type_errors(True, {"type": "integer"}, "x")] == ["x"]
    assert type_errors("anything", {"type": "madeup"}, "x") == []


@pytest.mark.parametrize("plural", ["statefulsets", "broadcastjobs", "sidecarsets"])
def test_admission_denies_with_the_kind_name_and_field(plural: str) -> None:
    obj = {"apiVersion": "apps.kruise.io/v1beta1", "metadata": {"name": "x"}, "spec": {"selector": "all"}}
    if plural == "broadcastjobs":
        obj["spec"] = {"parallelism": [1]}
    with pytest.raises(admission.Denied) as e:
        admission.check_types(plural, copy.deepcopy(obj), crd(plural))
    assert f'{admission.KINDS[plural]}.apps.kruise.io "x" is invalid: spec.' in str(e.value)
    admission.check_types(plural, obj, None)  # no CRD known: nothing to say
