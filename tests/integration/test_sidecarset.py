"""SidecarSet injection through the real admission chain: pods created by the real
controller-manager (a Deployment's ReplicaSet) come out injected by our mutating webhook."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Kubectl, OperatorProcess, wait_for


def sidecarset(name: str, selector: dict[str, str], **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "selector": {"matchLabels": selector},
        "containers": [
            {"name": f"{name}-before", "image": "busybox:1.36", "podInjectPolicy": "BeforeAppContainer",
             "volumeMounts": [{"name": "shared-logs", "mountPath": "/var/log/app"}],
             "transferEnv": [{"sourceContainerName": "app", "envName": "TZ"}]},
            {"name": f"{name}-after", "image": "busybox:1.36", "podInjectPolicy": "AfterAppContainer"},
        ],
        "volumes": [{"name": "shared-logs", "emptyDir": {}}, {"name": "unused", "emptyDir": {}}],
        "imagePullSecrets": [{"name": "registry-cred"}],
    }
    base.update(spec)
    return {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "SidecarSet", "metadata": {"name": name}, "spec": base}


def deployment(name: str, replicas: int = 2, labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25", "env": [{"name": "TZ", "value": "UTC"}]}]}}},
    }


@pytest.fixture
def sidecarsets(kubectl: Kubectl) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    if names:
        kubectl.run("delete", "sidecarset", *names, check=False)


def admitted(kubectl: Kubectl, name: str) -> None:
    """The SidecarSet exists; the webhook answers from the operator's informer cache, which sees it
    milliseconds later (the hash annotation proves only that our mutating webhook ran)."""
    wait_for(lambda: kubectl.json("get", "sidecarset", name)["metadata"].get("annotations", {}).get("kruise.io/sidecarset-hash"),
             30, what="SidecarSet admitted")
    time.sleep(1)


def pods(kubectl: Kubectl, ns: str, selector: str) -> list[dict[str, Any]]:
    return kubectl.json("get", "pods", "-n", ns, "-l", selector)["items"]  # type: ignore[no-any-return]


def test_deployment_pods_are_injected(operator: OperatorProcess, kubectl: Kubectl, ns: str, sidecarsets: list[str]) -> None:
    name = f"sc-{ns[-5:]}"
    sidecarsets.append(name)
    kubectl.apply(sidecarset(name, {"app": "web", "inject": ns[-5:]}))
    # The webhook answers from its informer cache: wait until the operator has seen the SidecarSet.
    admitted(kubectl, name)
    kubectl.apply(deployment("web", 2, {"app": "web", "inject": ns[-5:]}), ns)
    got = wait_for(lambda: (p := pods(kubectl, ns, "app=web")) and len(p) == 2 and p, 60, what="2 pods")
    for pod in got:
        names = [c["name"] for c in pod["spec"]["containers"]]
        assert names == [f"{name}-before", "app", f"{name}-after"], names
        before = pod["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in before.get("env", [])}
        assert env.get("IS_INJECTED") == "true" and env.get("TZ") == "UTC", env
        vols = {v["name"] for v in pod["spec"].get("volumes", [])}
        assert "shared-logs" in vols and "unused" not in vols, vols
        assert {"name": "registry-cred"} in pod["spec"].get("imagePullSecrets", [])
        ann = pod["metadata"]["annotations"]
        assert ann["kruise.io/sidecarset-injected-list"] == name
        h = json.loads(ann["kruise.io/sidecarset-hash"])[name]
        assert h["sidecarSetName"] == name and sorted(h["sidecarList"]) == sorted([f"{name}-before", f"{name}-after"])
        assert h["hash"] == kubectl.json("get", "sidecarset", name)["metadata"]["annotations"]["kruise.io/sidecarset-hash"]
        assert json.loads(ann["kruise.io/sidecarset-hash-without-image"])[name]["hash"]
    # Pods are Running through the simulator with every container, sidecars included.
    wait_for(lambda: all(len(p.get("status", {}).get("containerStatuses", [])) == 3 for p in pods(kubectl, ns, "app=web")),
             60, what="3 container statuses")


def test_pods_outside_the_selector_or_namespace_are_untouched(operator: OperatorProcess, kubectl: Kubectl, ns: str,
                                                              sidecarsets: list[str]) -> None:
    name = f"scns-{ns[-5:]}"
    sidecarsets.append(name)
    kubectl.apply(sidecarset(name, {"app": "db"}, namespaceSelector={"matchLabels": {"team": ns[-5:]}}))
    admitted(kubectl, name)
    # This namespace lacks the team label: not injected even though the pod labels match.
    kubectl.apply(deployment("db", 1), ns)
    p = wait_for(lambda: pods(kubectl, ns, "app=db"), 60, what="db pod")
    assert [c["name"] for c in p[0]["spec"]["containers"]] == ["app"]
    # Label the namespace: new pods are injected; the existing one is left alone (CREATE only).
    kubectl("label", "namespace", ns, f"team={ns[-5:]}")
    kubectl.apply(deployment("other", 1, {"app": "other"}), ns)
    kubectl("scale", "deployment/db", "--replicas=2", "-n", ns)

    def injected_count() -> int:
        return sum(f"{name}-before" in [c["name"] for c in q["spec"]["containers"]] for q in pods(kubectl, ns, "app=db"))

    wait_for(lambda: len(pods(kubectl, ns, "app=db")) == 2 and injected_count() == 1, 60, what="new db pod injected")
    q = wait_for(lambda: pods(kubectl, ns, "app=other"), 60, what="other pod")
    assert [c["name"] for c in q[0]["spec"]["containers"]] == ["app"], "selector does not match app=other"


def test_paused_injection_injects_nothing(operator: OperatorProcess, kubectl: Kubectl, ns: str, sidecarsets: list[str]) -> None:
    name = f"scp-{ns[-5:]}"
    sidecarsets.append(name)
    kubectl.apply(sidecarset(name, {"app": "quiet", "t": ns[-5:]}, injectionStrategy={"paused": True}))
    admitted(kubectl, name)
    kubectl.apply(deployment("quiet", 1, {"app": "quiet", "t": ns[-5:]}), ns)
    p = wait_for(lambda: pods(kubectl, ns, "app=quiet"), 60, what="pod")
    assert [c["name"] for c in p[0]["spec"]["containers"]] == ["app"]
