"""Scenario 2: kube-apiserver is killed and restarted in the middle of an in-place rollout.

The operator's watches break; it must notice, re-list and finish the rollout without violating
any invariant. Reported: how long after the apiserver answered again the operator wrote next
(from the audit log, which records every write with its user agent)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox.controlplane import ControlPlane
from tests.integration.conftest import Kubectl, OperatorProcess, wait_for
from tests.integration.test_statefulset import asts, set_image, status_of, wait_rolled_out

from .conftest import audit_writes, scaled
from .invariants import InvariantMonitor


def operator_write(ev: dict[str, Any]) -> bool:
    ua = ev.get("userAgent", "")
    return (
        ua.startswith("kruise-py") and "simulator" not in ua and ev["responseStatus"].get("code", 500) < 300
    )


@pytest.mark.timeout(300)
def test_rollout_finishes_across_an_apiserver_restart(
    operator: OperatorProcess,
    kubectl: Kubectl,
    kubeconfig: Path,
    control_plane: ControlPlane,
    ns: str,
    figures: dict[str, Any],
) -> None:
    replicas, budget = scaled(60), scaled(2)
    kubectl.apply(asts("apir", replicas, parallel=True, max_unavailable=budget), ns)
    wait_rolled_out(kubectl, ns, "apir", replicas, timeout=180)
    mon = InvariantMonitor.for_asts(kubeconfig, ns, "app=apir", budget, replicas).start()
    mon.arm()
    old_rev = status_of(kubectl, ns, "apir")["updateRevision"]
    set_image(kubectl, ns, "apir", "nginx:1.26")

    def under_way() -> int:
        # Mid-rollout: the new revision observed, some pods updated (not the stale count of the old one).
        st = status_of(kubectl, ns, "apir")
        return int(st.get("updatedReplicas") or 0) if st.get("updateRevision") != old_rev else 0

    before = wait_for(under_way, 60, interval=0.05, what="the rollout under way")
    assert before < replicas, "the apiserver must go down mid-rollout"
    t_kill = time.monotonic()
    control_plane.restart_component("kube-apiserver")
    back = time.time()
    down_s = time.monotonic() - t_kill
    # The first operator write after the apiserver answered again (audit timestamps are wall clock).
    first = wait_for(
        lambda: next((ev for ev in audit_writes(control_plane, back) if operator_write(ev)), None),
        120,
        what="the operator writes again after the apiserver restart",
    )
    wait_rolled_out(kubectl, ns, "apir", replicas, timeout=180)
    violations = mon.stop()
    assert not mon.errors, mon.errors
    pods = kubectl.json("get", "pods", "-n", ns, "-l", "app=apir")["items"]
    assert all(p["spec"]["containers"][0]["image"] == "nginx:1.26" for p in pods)
    figures.update(
        pods=replicas,
        max_unavailable=budget,
        apiserver_restarts=1,
        updated_before_restart=before,
        apiserver_down_s=round(down_s, 1),
        apiserver_back_to_first_operator_write_s=round(first["t"] - back, 2),
        first_write=f"{first['verb']} {first['objectRef'].get('resource')}/{first['objectRef'].get('subresource', '')}",
        violations=len(violations),
        max_unavailable_seen=mon.max_measured,
        monitor_relists=mon.relists,
    )
    assert violations == [], "\n".join(violations)
    assert mon.relists >= 1, "the monitor's own watches must have been cut by the restart"
