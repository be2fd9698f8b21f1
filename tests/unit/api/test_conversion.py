"""Version conversion (api/conversion.py), as OpenKruise 1.9's apis/apps/v1alpha1/*_conversion.go."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.api import ConversionError, convert, convert_review, to_storage_version
from kruise_py.api.sidecarset import SIDECARSET_CUSTOM_VERSION_LABEL as CUSTOM

from .examples import ASTS_V1BETA1, BROADCASTJOB, SIDECARSET, load

A, B = "apps.kruise.io/v1alpha1", "apps.kruise.io/v1beta1"
NAME_LABEL = "kubernetes.io/metadata.name"


def sidecarset(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": A,
        "kind": "SidecarSet",
        "metadata": {"name": "s"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, **spec},
    }


def test_sidecarset_namespace_becomes_a_namespace_selector() -> None:
    out = convert(sidecarset(namespace="team-a"), B)
    assert out["apiVersion"] == B
    assert "namespace" not in out["spec"]
    assert out["spec"]["namespaceSelector"] == {"matchLabels": {NAME_LABEL: "team-a"}}


def test_sidecarset_namespace_wins_over_its_selector() -> None:
    out = convert(sidecarset(namespace="team-a", namespaceSelector={"matchLabels": {"x": "y"}}), B)
    assert out["spec"]["namespaceSelector"] == {"matchLabels": {NAME_LABEL: "team-a"}}
    # an empty namespace leaves the selector alone
    out = convert(sidecarset(namespace="", namespaceSelector={"matchLabels": {"x": "y"}}), B)
    assert out["spec"] == {
        "selector": {"matchLabels": {"app": "x"}},
        "namespaceSelector": {"matchLabels": {"x": "y"}},
    }


def test_sidecarset_back_to_v1alpha1_keeps_the_selector() -> None:
    beta = convert(sidecarset(namespace="team-a"), B)
    alpha = convert(beta, A)
    # As OpenKruise: the selector is copied; the namespace field does not come back.
    assert alpha["spec"]["namespaceSelector"] == {"matchLabels": {NAME_LABEL: "team-a"}}
    assert "namespace" not in alpha["spec"]


def test_custom_version_label_and_field() -> None:
    obj = sidecarset()
    obj["metadata"]["labels"] = {CUSTOM: "v2", "team": "a"}
    beta = convert(obj, B)
    assert beta["spec"]["customVersion"] == "v2"
    assert beta["metadata"]["labels"] == {"team": "a"}
    alpha = convert(beta, A)
    assert alpha["metadata"]["labels"] == {"team": "a", CUSTOM: "v2"}
    assert "customVersion" not in alpha["spec"]
    # An empty label is dropped (Go: an empty string is omitted), and so is a label map left empty.
    obj["metadata"]["labels"] = {CUSTOM: ""}
    beta = convert(obj, B)
    assert "customVersion" not in beta["spec"] and "labels" not in beta["metadata"]


def test_status_and_everything_else_are_copied() -> None:
    alpha = load(SIDECARSET)
    beta = convert(alpha, B)
    for key in (
        "containers",
        "initContainers",
        "volumes",
        "updateStrategy",
        "injectionStrategy",
        "imagePullSecrets",
        "patchPodMetadata",
        "revisionHistoryLimit",
    ):
        assert beta["spec"].get(key) == alpha["spec"].get(key), key
    assert beta["status"] == alpha["status"]


def test_inputs_are_not_modified() -> None:
    obj = sidecarset(namespace="n")
    obj["metadata"]["labels"] = {CUSTOM: "v"}
    before = copy.deepcopy(obj)
    convert(obj, B)
    assert obj == before


def test_broadcastjob_and_statefulset() -> None:
    job = load(BROADCASTJOB)
    beta = convert(job, B)
    assert beta == {**job, "apiVersion": B}
    assert convert(beta, A) == job
    sts = load(ASTS_V1BETA1)
    alpha = convert(sts, A)
    assert "lifecycle" not in alpha["spec"] and "reserveOrdinals" not in alpha["spec"]
    assert to_storage_version(alpha)["apiVersion"] == B


def test_same_version_is_a_copy() -> None:
    obj = sidecarset(namespace="n")
    out = convert(obj, A)
    assert out == obj and out is not obj


@pytest.mark.parametrize(
    ("obj", "to"),
    [
        ({"apiVersion": A, "kind": "CloneSet"}, B),
        ({"apiVersion": "apps.kruise.io/v1beta2", "kind": "SidecarSet"}, B),
        ({"apiVersion": A, "kind": "SidecarSet"}, "apps.kruise.io/v2"),
    ],
)
def test_unknown_kinds_and_versions_fail(obj: dict[str, Any], to: str) -> None:
    with pytest.raises(ConversionError):
        convert(obj, to)


def test_conversion_review() -> None:
    review = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "u1", "desiredAPIVersion": B, "objects": [sidecarset(namespace="n")]},
    }
    out = convert_review(review)
    assert out["kind"] == "ConversionReview" and out["apiVersion"] == "apiextensions.k8s.io/v1"
    resp = out["response"]
    assert resp["uid"] == "u1" and resp["result"] == {"status": "Success"}
    assert resp["convertedObjects"][0]["spec"]["namespaceSelector"] == {"matchLabels": {NAME_LABEL: "n"}}


def test_conversion_review_fails_whole() -> None:
    review = {
        "request": {
            "uid": "u2",
            "desiredAPIVersion": B,
            "objects": [sidecarset(), {"apiVersion": A, "kind": "CloneSet"}],
        }
    }
    resp = convert_review(review)["response"]
    assert resp["uid"] == "u2" and resp["result"]["status"] == "Failure"
    assert "CloneSet" in resp["result"]["message"] and "convertedObjects" not in resp
    assert convert_review({"request": {"uid": "u3"}})["response"]["result"]["status"] == "Failure"


labels = st.dictionaries(st.sampled_from(["a", "b", CUSTOM]), st.text("xyz", max_size=3), max_size=3)


@given(
    labels=labels, namespace=st.one_of(st.none(), st.text("ab", max_size=2)), custom=st.text("v1", max_size=2)
)
def test_v1beta1_round_trip_is_lossless(labels: dict[str, str], namespace: str | None, custom: str) -> None:
    """v1beta1 -> v1alpha1 -> v1beta1 gives back the object (OpenKruise's hub round trip), when the
    v1beta1 object has no custom-version label of its own (v1alpha1 cannot tell the two apart)."""
    labels = {k: v for k, v in labels.items() if k != CUSTOM}
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "x"}}}
    if namespace:
        spec["namespaceSelector"] = {"matchLabels": {NAME_LABEL: namespace}}
    if custom:
        spec["customVersion"] = custom
    beta = {
        "apiVersion": B,
        "kind": "SidecarSet",
        "metadata": {"name": "s", **({"labels": labels} if labels else {})},
        "spec": spec,
    }
    assert convert(convert(beta, A), B) == beta
