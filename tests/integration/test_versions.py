"""Both versions of every kind, as OpenKruise 1.9 serves them: readable and writable in either,
converted as OpenKruise converts them, and bad input rejected in either with the field named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Kubectl, wait_for

A, B = "apps.kruise.io/v1alpha1", "apps.kruise.io/v1beta1"
CUSTOM = "apps.kruise.io/sidecarset-custom-version"


def _get(kubectl: Kubectl, plural: str, version: str, name: str, ns: str | None = None) -> Any:
    return kubectl.json(
        "get", f"{plural}.{version.split('/')[1]}.apps.kruise.io", name, *(["-n", ns] if ns else [])
    )


def test_sidecarset_written_as_v1alpha1_reads_as_v1beta1_and_back(
    kubectl: Kubectl, operator: Any, ns: str, sidecarsets: list[str]
) -> None:
    name = f"v-{ns}"[:60]
    sidecarsets.append(name)
    kubectl.apply(
        {
            "apiVersion": A,
            "kind": "SidecarSet",
            "metadata": {"name": name, "labels": {CUSTOM: "v3", "team": "a"}},
            "spec": {
                "namespace": ns,
                "selector": {"matchLabels": {"app": "v"}},
                "containers": [{"name": f"s-{name}"[:60], "image": "busybox:1.36"}],
            },
        }
    )
    beta = _get(kubectl, "sidecarsets", B, name)
    assert beta["apiVersion"] == B
    assert "namespace" not in beta["spec"]
    assert beta["spec"]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": ns}}
    assert beta["spec"]["customVersion"] == "v3"
    assert beta["metadata"]["labels"] == {"team": "a"}
    alpha = _get(kubectl, "sidecarsets", A, name)
    assert alpha["metadata"]["labels"] == {"team": "a", CUSTOM: "v3"}
    assert "customVersion" not in alpha["spec"]
    # Written again as v1beta1: the custom version follows to the revision's label.
    kubectl(
        "patch",
        "sidecarsets.v1beta1.apps.kruise.io",
        name,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"customVersion": "v4"}}),
    )
    assert _get(kubectl, "sidecarsets", A, name)["metadata"]["labels"][CUSTOM] == "v4"
    wait_for(
        lambda: any(
            r["metadata"]["labels"].get(CUSTOM) == "v4"
            for r in kubectl.json(
                "get", "controllerrevisions", "-n", "kruise-system", "-l", f"kruise.io/sidecarset-name={name}"
            )["items"]
        ),
        timeout=60,
        what="the latest revision carries custom version v4",
    )


def test_broadcastjob_in_both_versions(kubectl: Kubectl, operator: Any, ns: str) -> None:
    for version, name in ((A, "job-a"), (B, "job-b")):
        kubectl.apply(
            {
                "apiVersion": version,
                "kind": "BroadcastJob",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "busybox:1.36"}],
                        }
                    },
                    "completionPolicy": {"type": "Always"},
                },
            }
        )
    for name in ("job-a", "job-b"):
        wait_for(
            lambda name=name: (
                _get(kubectl, "broadcastjobs", A, name, ns).get("status", {}).get("phase") == "completed"
            ),
            timeout=90,
            what=f"{name} completed",
        )
        a, b = _get(kubectl, "broadcastjobs", A, name, ns), _get(kubectl, "broadcastjobs", B, name, ns)
        assert (a["apiVersion"], b["apiVersion"]) == (A, B)
        assert a["spec"] == b["spec"] and a["status"] == b["status"]


@pytest.mark.parametrize("version", [A, B])
def test_bad_input_named_in_both_versions(kubectl: Kubectl, operator: Any, ns: str, version: str) -> None:
    # The validating webhook (it sees v1beta1 either way): a field path and OpenKruise's rule.
    res = kubectl.apply(
        {
            "apiVersion": version,
            "kind": "BroadcastJob",
            "metadata": {"name": "bad", "namespace": ns},
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "busybox"}]}
                }
            },
        },
        check=False,
    )
    assert res.returncode != 0
    assert "spec.template.spec.restartPolicy" in res.stderr and "Never or OnFailure" in res.stderr
    # The CRD schema: a wrong type, with its path.
    res = kubectl.apply(
        {
            "apiVersion": version,
            "kind": "SidecarSet",
            "metadata": {"name": f"bad-{ns}"[:60]},
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                "updateStrategy": {"paused": "yes"},
                "containers": [{"name": "c", "image": "busybox"}],
            },
        },
        check=False,
    )
    assert res.returncode != 0 and "spec.updateStrategy.paused" in res.stderr and "boolean" in res.stderr
    # A field of the other version: unknown here (kubectl's strict field validation says which).
    other = {"namespace": ns} if version == B else {"customVersion": "v1"}
    res = kubectl.apply(
        {
            "apiVersion": version,
            "kind": "SidecarSet",
            "metadata": {"name": f"bad-{ns}"[:60]},
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                **other,
                "containers": [{"name": "c", "image": "busybox"}],
            },
        },
        check=False,
    )
    assert res.returncode != 0 and f'unknown field "spec.{next(iter(other))}"' in res.stderr
