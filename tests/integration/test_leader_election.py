"""Two operator processes with --leader-elect: one holds the Lease and is the only one that writes;
the other takes over when the holder is killed, and an in-place rollout across the failover gives
every pod exactly one update (counted in the apiserver's audit log, told apart by User-Agent)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from kruise_py.sandbox.controlplane import ControlPlane, free_port
from kruise_py.sandbox.sandbox import wait_http_ok

from .conftest import Kubectl, OperatorProcess, _spawn, _stop, wait_for
from .test_statefulset import asts, set_image, status_of, wait_rolled_out


def _leading(port: int, lease: str) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return f'leader_election_master_status{{name="{lease}"}} 1.0' in text


def _safe_leading(port: int, lease: str) -> bool:
    try:
        return _leading(port, lease)
    except OSError:
        return False


def _candidate(
    name: str, lease: str, kubeconfig: Path, logdir: Path, webhooks: list[str]
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "kruise_py",
        "run",
        "--kubeconfig",
        str(kubeconfig),
        "--metrics-host",
        "127.0.0.1",
        "--metrics-port",
        str(port),
        *webhooks,
        "--leader-elect",
        "--leader-election-id",
        lease,
        "--leader-election-namespace",
        "default",
        "--lease-duration",
        "4",
        "--renew-deadline",
        "3",
        "--retry-period",
        "0.5",
    ]
    return _spawn(name, argv, logdir, kubeconfig), port


def test_one_leads_and_the_other_takes_over(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path
) -> None:
    # Webhooks off: the session operator serves them.
    lease = "kruise-py-test"
    procs = [
        _candidate(f"operator-le{i}", lease, kubeconfig, operator.log.parent, ["--webhook-mode", "none"])
        for i in range(2)
    ]
    try:
        wait_for(lambda: sum(_safe_leading(p, lease) for _, p in procs) == 1, 60, what="exactly one leader")
        holder = kubectl.json("get", "lease", lease, "-n", "default")["spec"]["holderIdentity"]
        leader = next(i for i, (_, p) in enumerate(procs) if _safe_leading(p, lease))
        procs[leader][0].kill()
        procs[leader][0].wait()
        other = procs[1 - leader]
        wait_for(lambda: _safe_leading(other[1], lease), 20, what="the follower takes over within 20 s")
        spec = kubectl.json("get", "lease", lease, "-n", "default")["spec"]
        assert spec["holderIdentity"] != holder and spec["leaseTransitions"] >= 1
    finally:
        for p, _ in procs:
            _stop(p)
        kubectl.run("delete", "lease", lease, "-n", "default", check=False)


def _audit(cp: ControlPlane, start: int, end: int | None = None) -> list[dict[str, Any]]:
    """Completed write requests logged between two byte offsets of the audit log."""
    with cp.audit_log.open("rb") as f:
        f.seek(start)
        data = f.read() if end is None else f.read(end - start)
    out = []
    for line in data.decode().splitlines():
        if line.strip():
            e = json.loads(line)
            if e.get("stage") == "ResponseComplete":
                out.append(e)
    return out


def _by(entries: list[dict[str, Any]], identity: str) -> list[dict[str, Any]]:
    return [e for e in entries if f"({identity})" in e.get("userAgent", "")]


def test_failover_during_a_rollout_makes_no_double_writes(
    operator: OperatorProcess,
    kubectl: Kubectl,
    kubeconfig: Path,
    control_plane: ControlPlane,
    ns: str,
    tmp_path: Path,
) -> None:
    """Both candidates serve webhooks (each its own port; the last to register is the one the
    apiserver calls); only the leader reconciles. The session operator would reconcile too, so it is
    stopped (gracefully: it unregisters its webhooks) for this test and started again after."""
    lease, name, n = "kruise-py-ha", "ha", 6
    logdir = operator.log.parent

    def hooks() -> list[str]:
        return [
            "--webhook-mode",
            "local",
            "--webhook-port",
            str(free_port()),
            "--cert-dir",
            str(tmp_path / "certs"),
        ]

    _stop(operator.proc)
    procs: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        procs.append(_candidate("operator-ha0", lease, kubeconfig, logdir, hooks()))
        wait_for(lambda: _safe_leading(procs[0][1], lease), 60, what="the first candidate leads")
        wait_http_ok(f"http://127.0.0.1:{procs[0][1]}/readyz", 60)
        id_a = kubectl.json("get", "lease", lease, "-n", "default")["spec"]["holderIdentity"]
        # The second registers its webhooks last, so admission keeps working when the first dies.
        procs.append(_candidate("operator-ha1", lease, kubeconfig, logdir, hooks()))
        wait_http_ok(f"http://127.0.0.1:{procs[1][1]}/readyz", 60)
        assert not _leading(procs[1][1], lease)

        # Slow enough to kill the leader in the middle: one pod at a time, each 3 s before it counts.
        kubectl.apply(asts(name, n, minReadySeconds=3), ns)
        wait_rolled_out(kubectl, ns, name, n)
        mark = control_plane.audit_log.stat().st_size
        set_image(kubectl, ns, name, "nginx:1.27")
        wait_for(
            lambda: (status_of(kubectl, ns, name).get("updatedReplicas") or 0) >= 2,
            120,
            what="two pods updated by the first leader",
        )
        procs[0][0].kill()
        procs[0][0].wait()
        killed_at, t_kill = control_plane.audit_log.stat().st_size, time.monotonic()
        wait_for(lambda: _safe_leading(procs[1][1], lease), 20, what="the follower takes over within 20 s")
        print(f"takeover after {time.monotonic() - t_kill:.1f}s")
        id_b = kubectl.json("get", "lease", lease, "-n", "default")["spec"]["holderIdentity"]
        assert id_b != id_a
        wait_rolled_out(kubectl, ns, name, n, timeout=180)
        pods = kubectl.json("get", "pods", "-n", ns, "-l", f"app={name}")["items"]
        assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.27"}

        # While following, the second process wrote nothing but its own registration: its webhook
        # configurations and, once at start, the SidecarSet CRD's conversion (drift is the leader's).
        before = _audit(control_plane, 0, killed_at)
        follower = Counter(e["objectRef"].get("resource") for e in _by(before, id_b))
        print(f"follower writes before the failover: {dict(follower)}")
        assert set(follower) <= {
            "mutatingwebhookconfigurations",
            "validatingwebhookconfigurations",
            "namespaces",
            "customresourcedefinitions",
        }, follower
        assert follower["customresourcedefinitions"] <= 1, follower
        # Per pod in the rollout: one spec patch (images + revision label) and two status patches
        # (InPlaceUpdateReady False, then True), whoever led; never one pod patched twice.
        rollout = [
            e
            for e in _audit(control_plane, mark)
            if e["objectRef"].get("namespace") == ns
            and e["userAgent"].startswith("kruise-py/")
            and e["objectRef"].get("resource") == "pods"
        ]
        per_pod: dict[str, Counter[str]] = {}
        for e in rollout:
            ref = e["objectRef"]
            per_pod.setdefault(ref["name"], Counter())[
                f"{e['verb']} {ref.get('subresource', '')}".strip()
            ] += 1
        by_leader = {
            who: len([e for e in rollout if f"({ident})" in e["userAgent"]])
            for who, ident in (("first", id_a), ("second", id_b))
        }
        print(
            f"pod writes per leader: {by_leader}; per pod: { {k: dict(v) for k, v in sorted(per_pod.items())} }"
        )
        assert by_leader["first"] > 0 and by_leader["second"] > 0, by_leader  # the failover was mid-rollout
        assert by_leader["first"] + by_leader["second"] == len(rollout)
        assert set(per_pod) == {f"{name}-{i}" for i in range(n)}
        for pod, counts in per_pod.items():
            assert counts == Counter({"patch": 1, "patch status": 2}), (pod, counts)
    finally:
        for p, _ in procs:
            _stop(p)
        kubectl.run("delete", "lease", lease, "-n", "default", check=False)
        operator.start_again()
