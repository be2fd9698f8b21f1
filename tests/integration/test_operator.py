"""The operator as users run it: probes and metrics, and its admission webhooks in the real chain."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import yaml

from .conftest import Kubectl, OperatorProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read().decode()


def test_probes_and_metrics(operator: OperatorProcess) -> None:
    assert _get(operator.url + "/healthz") == (200, "ok")
    status, _ = _get(operator.url + "/readyz")
    assert status == 200
    _, metrics = _get(operator.url + "/metrics")
    assert "rest_client_requests_total{" in metrics
    assert "process_resident_memory_bytes" in metrics


def test_webhook_configurations_are_registered(operator: OperatorProcess, kubectl: Kubectl) -> None:
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        obj = kubectl.json("get", kind, f"kruise-py-{kind.split('webhook')[0]}")
        hooks = {w["name"] for w in obj["webhooks"]}
        expected = {
            f"{'mutate' if kind.startswith('mutating') else 'validate'}-{p}.apps.kruise.io"
            for p in ("statefulset", "broadcastjob", "sidecarset")
        }
        if kind.startswith("mutating"):
            expected.add("inject-sidecarset.apps.kruise.io")
        assert expected == hooks
        assert all(w["clientConfig"]["url"].startswith("https://127.0.0.1:") for w in obj["webhooks"])


@pytest.mark.parametrize(
    "example",
    [
        "asts-inplace.yaml",
        "asts-canary.yaml",
        "asts-parallel.yaml",
        "asts-volume-resize.yaml",
        "broadcastjob.yaml",
    ],
)
def test_examples_are_admitted_and_defaulted(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, example: str
) -> None:
    doc = yaml.safe_load((EXAMPLES / example).read_text())
    kubectl("apply", "-n", ns, "-f", str(EXAMPLES / example))
    plural = {"StatefulSet": "asts", "BroadcastJob": "bcj"}[doc["kind"]]
    got = kubectl.json("get", plural, doc["metadata"]["name"], "-n", ns)
    spec = got["spec"]
    if doc["kind"] == "StatefulSet":
        ru = spec["updateStrategy"]["rollingUpdate"]
        assert ru["podUpdatePolicy"] == doc["spec"]["updateStrategy"]["rollingUpdate"].get(
            "podUpdatePolicy", "ReCreate"
        )
        assert "partition" in ru and "maxUnavailable" in ru  # defaulted by the mutating webhook
        assert spec["revisionHistoryLimit"] == 10
        assert spec["podManagementPolicy"] in ("OrderedReady", "Parallel")
    else:
        assert spec["completionPolicy"]["type"] == "Always"
        assert spec["failurePolicy"]["type"] == "FailFast"


def test_sidecarset_example_is_admitted(operator: OperatorProcess, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", str(EXAMPLES / "sidecarset.yaml"))
    try:
        got = kubectl.json("get", "sidecarset", "log-agent")
        assert got["spec"]["updateStrategy"]["type"] == "RollingUpdate"
        assert got["spec"]["containers"][0]["shareVolumePolicy"]["type"] == "disabled"
        assert got["metadata"]["annotations"]["kruise.io/sidecarset-hash"]
    finally:
        kubectl.run("delete", "sidecarset", "log-agent", check=False)


@pytest.mark.parametrize(
    ("example", "field", "rule"),
    [
        (
            "asts-in-place-without-gate.yaml",
            "spec.template.spec.readinessGates",
            "must contains InPlaceUpdateReady when podUpdatePolicy is InPlaceIfPossible",
        ),
        (
            "broadcastjob-restart-always.yaml",
            "spec.template.spec.restartPolicy",
            "pod restartPolicy can only be Never or OnFailure",
        ),
        (
            "sidecarset-partition-and-selector.yaml",
            "spec.updateStrategy",
            "Partition and Selector cannot be used together",
        ),
    ],
)
def test_invalid_objects_are_rejected_with_rule_and_path(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, example: str, field: str, rule: str
) -> None:
    path = EXAMPLES / "invalid" / example
    res = kubectl.run("apply", "-n", ns, "-f", str(path), check=False)
    assert res.returncode != 0, f"{example} was admitted"
    assert field in res.stderr and rule in res.stderr, res.stderr
    assert "admission webhook" in res.stderr and "validate-" in res.stderr, res.stderr
    doc = yaml.safe_load(path.read_text())
    got = kubectl.run(
        "get", doc["kind"].lower() + ".apps.kruise.io", doc["metadata"]["name"], "-n", ns, check=False
    )
    assert got.returncode != 0, "a rejected object must not exist"


def test_v1alpha1_statefulset_goes_through_the_same_webhooks(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    bad = yaml.safe_load((EXAMPLES / "invalid" / "asts-in-place-without-gate.yaml").read_text())
    bad["apiVersion"] = "apps.kruise.io/v1alpha1"
    res = kubectl.run("apply", "-n", ns, "-f", "-", input=json.dumps(bad), check=False)
    assert res.returncode != 0 and "InPlaceUpdateReady" in res.stderr, res.stderr
