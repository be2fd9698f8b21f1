"""Defaulting and validation answer any malformed object with field errors, never an exception
(a crash is a 500 from the admission webhook instead of a message naming the field). The invalid
objects are the reliability tier's: a field of the pydantic model broken by type or by rule."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from kruise_py.api.broadcastjob import BroadcastJob
from kruise_py.api.sidecarset import SidecarSet
from kruise_py.api.statefulset import StatefulSet
from kruise_py.webhooks import admission
from tests.reliability.strategies import Mutation, mutations

BASES: dict[str, tuple[type[Any], str, dict[str, Any]]] = {
    "StatefulSet": (
        StatefulSet,
        "statefulsets",
        {
            "apiVersion": "apps.kruise.io/v1beta1",
            "kind": "StatefulSet",
            "metadata": {"name": "x", "namespace": "d"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            },
        },
    ),
    "BroadcastJob": (
        BroadcastJob,
        "broadcastjobs",
        {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "BroadcastJob",
            "metadata": {"name": "x", "namespace": "d"},
            "spec": {
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}
            },
        },
    ),
    "SidecarSet": (
        SidecarSet,
        "sidecarsets",
        {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "SidecarSet",
            "metadata": {"name": "x"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "containers": [{"name": "s", "image": "i"}]},
        },
    ),
}


@pytest.mark.parametrize("kind", sorted(BASES))
def test_malformed_objects_get_field_errors_not_exceptions(kind: str) -> None:
    model, plural, base = BASES[kind]

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(m=mutations(kind, model))
    def check(m: Mutation) -> None:
        obj = m.apply(base)
        admission.default(plural, obj)
        with contextlib.suppress(admission.Denied):
            admission.validate(plural, obj, None, **({"others": []} if plural == "sidecarsets" else {}))

    check()
