"""Scenario 5: the operator is down (SIGKILL: its webhook configurations stay registered and point
at a dead port) and pods are created everywhere.

Documented behaviour (docs/sidecarset.md, docs/reliability.md): the pod-injection webhook has
failurePolicy Ignore and a namespaceSelector excluding kube-system and the operator's namespace,
so pod creation succeeds in kube-system and the operator namespace (the webhook is not called) and
in every other namespace (called, fails, ignored); pods a SidecarSet selects come up without their
sidecar. Our own kinds' webhooks are failurePolicy Fail: creating one is refused while the
operator is down. After the restart, injection works again."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.integration.conftest import Kubectl, OperatorProcess, wait_for
from tests.integration.test_sidecarset import admitted, sidecarset
from tests.integration.test_statefulset import asts

OPERATOR_NAMESPACE = "kruise-system"  # the operator fixture's default --operator-namespace


def pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
    }


@pytest.mark.timeout(180)
def test_pod_creation_during_an_operator_outage_follows_the_failure_policy(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, sidecarsets: list[str], figures: dict[str, Any]
) -> None:
    tag = uuid.uuid4().hex[:5]
    selected = f"outage-selected-{tag}"
    kubectl("create", "namespace", selected)
    name = f"outage-{tag}"
    sidecarsets.append(name)
    labels = {"outage": tag}
    kubectl.apply(
        sidecarset(
            name,
            labels,
            namespace=selected,
            containers=[{"name": "agent", "image": "busybox:1.36"}],
            volumes=[],
            imagePullSecrets=[],
        )
    )
    admitted(kubectl, name)
    kubectl.apply(pod("before", labels), selected)
    assert "agent" in [
        c["name"] for c in kubectl.json("get", "pod", "before", "-n", selected)["spec"]["containers"]
    ]
    cfg = kubectl.json("get", "mutatingwebhookconfiguration", "kruise-py-mutating")
    inject = next(w for w in cfg["webhooks"] if w["name"].startswith("inject-sidecarset"))
    assert inject["failurePolicy"] == "Ignore"
    excluded = inject["namespaceSelector"]["matchExpressions"][0]["values"]
    assert {"kube-system", OPERATOR_NAMESPACE} <= set(excluded)
    ours = {w["name"]: w["failurePolicy"] for w in cfg["webhooks"] if not w["name"].startswith("inject")}
    assert set(ours.values()) == {"Fail"}, ours

    operator.kill()
    created: dict[str, float] = {}
    try:
        for where in ("kube-system", OPERATOR_NAMESPACE, ns, selected):
            t0 = time.monotonic()
            kubectl.apply(pod(f"outage-{tag}", labels), where)
            created[where] = round(time.monotonic() - t0, 2)
            got = kubectl.json("get", "pod", f"outage-{tag}", "-n", where)
            # Ignore means "as if the webhook were not there": no sidecar, also where one is selected.
            assert [c["name"] for c in got["spec"]["containers"]] == ["app"], where
        refused = kubectl.apply(asts("outage", 1), ns, check=False)
        assert refused.returncode != 0 and "failed calling webhook" in refused.stderr, refused.stderr
        assert kubectl.run("get", "asts", "outage", "-n", ns, check=False).returncode != 0
    finally:
        operator.start_again()
        for where in created:
            kubectl.run("delete", "pod", f"outage-{tag}", "-n", where, "--wait=false", check=False)
    # Back up: injection and our kinds work again.
    wait_for(
        lambda: kubectl.apply(pod("after", labels), selected, check=False).returncode == 0,
        60,
        what="pod creation in the selected namespace after the restart",
    )
    assert "agent" in [
        c["name"] for c in kubectl.json("get", "pod", "after", "-n", selected)["spec"]["containers"]
    ]
    kubectl.apply(asts("outage", 1), ns)
    kubectl.run("delete", "namespace", selected, "--wait=false", check=False)
    figures.update(
        namespaces=list(created),
        pod_create_during_outage_s=created,
        sidecar_injected_during_outage=False,
        own_kinds_refused_during_outage=True,
    )
