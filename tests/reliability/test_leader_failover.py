"""Scenario 6: two operator replicas with leader election; the leader is SIGKILLed mid-rollout.

Each replica authenticates with its own client certificate, so the apiserver's audit log tells
their writes apart: the follower must write nothing before the leader dies (no writes from the
non-leader), no pod may be written twice for one revision, and the invariant monitor must record
no violation while the follower takes over and finishes the rollout.

The session operator is stopped for the duration (it is not leader-elected and would reconcile
too); replica A serves the webhooks (local mode), replica B runs without."""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kruise_py.runtime import pki
from kruise_py.sandbox.controlplane import ControlPlane, free_port, kubeconfig_yaml
from kruise_py.sandbox.sandbox import wait_http_ok
from tests.integration.conftest import Kubectl, OperatorProcess, _spawn, _stop, wait_for
from tests.integration.test_statefulset import asts, set_image, status_of, wait_rolled_out

from .conftest import audit_writes, scaled
from .invariants import InvariantMonitor

LEASE = "kruise-py-reliability"


def replica_kubeconfig(cp: ControlPlane, user: str, path: Path) -> Path:
    d = cp.workdir / "pki"
    ca = pki.KeyPair((d / "ca.crt").read_bytes(), (d / "ca.key").read_bytes())
    cert = pki.issue(ca, user, orgs=("system:masters",), client=True)
    path.write_text(kubeconfig_yaml(cp.server, ca.cert_pem, cert=cert.cert_pem, key=cert.key_pem, user=user))
    return path


def leading(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return f'leader_election_master_status{{name="{LEASE}"}} 1.0' in r.read().decode()
    except OSError:
        return False


@pytest.mark.timeout(300)
def test_leader_failover_mid_rollout(
    operator: OperatorProcess,
    kubectl: Kubectl,
    kubeconfig: Path,
    control_plane: ControlPlane,
    ns: str,
    tmp_path: Path,
    figures: dict[str, Any],
) -> None:
    replicas, budget = scaled(40), scaled(2)
    kubectl.apply(asts("failover", replicas, parallel=True, max_unavailable=budget), ns)
    wait_rolled_out(kubectl, ns, "failover", replicas, timeout=180)

    _stop(operator.proc)  # graceful: it unregisters its webhooks; replica A registers its own
    replicas_: dict[str, tuple[Any, int]] = {}
    try:
        for user, hooks in (
            (
                "replica-a",
                [
                    "--webhook-mode",
                    "local",
                    "--webhook-port",
                    str(free_port()),
                    "--cert-dir",
                    str(tmp_path / "certs"),
                ],
            ),
            ("replica-b", ["--webhook-mode", "none"]),
        ):
            port = free_port()
            kc = replica_kubeconfig(control_plane, user, tmp_path / f"{user}.kubeconfig")
            argv = [
                sys.executable,
                "-m",
                "kruise_py",
                "run",
                "--kubeconfig",
                str(kc),
                "--metrics-host",
                "127.0.0.1",
                "--metrics-port",
                str(port),
                *hooks,
                "--leader-elect",
                "--leader-election-id",
                LEASE,
                "--leader-election-namespace",
                "default",
                "--lease-duration",
                "4",
                "--renew-deadline",
                "3",
                "--retry-period",
                "0.5",
                "--log-level",
                "INFO",
            ]
            replicas_[user] = (_spawn(f"operator-{user}", argv, control_plane.logs, kc), port)
        for user, (_, port) in replicas_.items():
            wait_http_ok(f"http://127.0.0.1:{port}/readyz", 90, control_plane.logs / f"operator-{user}.log")
        leader = wait_for(
            lambda: [u for u, (_, p) in replicas_.items() if leading(p)] or None, 60, what="a leader"
        )
        assert len(leader) == 1, leader
        leader_user = leader[0]
        follower_user = next(u for u in replicas_ if u != leader_user)

        mon = InvariantMonitor.for_asts(kubeconfig, ns, "app=failover", budget, replicas).start()
        mon.arm()
        since = time.time()
        old_rev = status_of(kubectl, ns, "failover")["updateRevision"]
        set_image(kubectl, ns, "failover", "nginx:1.26")
        wait_for(
            lambda: (
                (st := status_of(kubectl, ns, "failover")).get("updateRevision") != old_rev
                and 0 < (st.get("updatedReplicas") or 0) < replicas
            ),
            60,
            interval=0.05,
            what="the rollout under way",
        )
        proc = replicas_[leader_user][0]
        proc.kill()
        proc.wait()
        killed_at = time.time()
        t0 = time.monotonic()
        wait_for(lambda: leading(replicas_[follower_user][1]), 30, what="the follower takes over")
        takeover = round(time.monotonic() - t0, 2)
        wait_rolled_out(kubectl, ns, "failover", replicas, timeout=180)
        violations = mon.stop()
        assert not mon.errors, mon.errors

        writes = [
            ev
            for ev in audit_writes(control_plane, since)
            if (ev.get("objectRef") or {}).get("namespace") == ns
            and ev["responseStatus"].get("code", 500) < 300
        ]
        by = {u: [ev for ev in writes if ev["user"]["username"] == u] for u in replicas_}
        early = [ev for ev in by[follower_user] if ev["t"] < killed_at]
        per_pod: dict[str, int] = {}
        for ev in writes:
            ref = ev["objectRef"]
            if (
                ev["user"]["username"] in replicas_
                and ref.get("resource") == "pods"
                and not ref.get("subresource")
                and ev["verb"] == "patch"
            ):
                per_pod[ref["name"]] = per_pod.get(ref["name"], 0) + 1
        figures.update(
            pods=replicas,
            max_unavailable=budget,
            leader_kills=1,
            takeover_s=takeover,
            writes_by_leader=len(by[leader_user]),
            writes_by_follower=len(by[follower_user]),
            follower_writes_before_takeover=len(early),
            max_pod_patches=max(per_pod.values(), default=0),
            violations=len(violations),
            max_unavailable_seen=mon.max_measured,
        )
        assert by[leader_user], "the leader wrote nothing: the kill was not mid-rollout"
        assert by[follower_user], "the follower never finished the rollout"
        assert early == [], [f"{e['verb']} {e['objectRef']}" for e in early[:5]]
        assert max(per_pod.values(), default=0) <= 1, per_pod
        assert violations == [], "\n".join(violations)
    finally:
        for proc, _ in replicas_.values():
            _stop(proc)
        kubectl.run("delete", "lease", LEASE, "-n", "default", check=False)
        operator.start_again()
