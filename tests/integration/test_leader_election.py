"""Two operator processes with --leader-elect: one holds the Lease, the other takes over when the
holder is killed. (Webhooks off: the session operator serves them.)"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

from kruise_py.sandbox.controlplane import free_port

from .conftest import Kubectl, OperatorProcess, _spawn, _stop, wait_for


def _leading(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return 'leader_election_master_status{name="kruise-py-test"} 1.0' in text


def test_one_leads_and_the_other_takes_over(operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path,
                                            tmp_path: Path) -> None:
    procs: list[tuple[subprocess.Popen[bytes], int]] = []
    for i in range(2):
        port = free_port()
        argv = [sys.executable, "-m", "kruise_py", "run", "--kubeconfig", str(kubeconfig), "--metrics-host",
                "127.0.0.1", "--metrics-port", str(port), "--webhook-mode", "none", "--leader-elect",
                "--leader-election-id", "kruise-py-test", "--leader-election-namespace", "default",
                "--lease-duration", "4", "--renew-deadline", "3", "--retry-period", "0.5"]
        procs.append((_spawn(f"operator-le{i}", argv, operator.log.parent, kubeconfig), port))
    try:
        wait_for(lambda: sum(_safe(_leading, p) for _, p in procs) == 1, 60, what="exactly one leader")
        lease = kubectl.json("get", "lease", "kruise-py-test", "-n", "default")
        holder = lease["spec"]["holderIdentity"]
        leader = next(i for i, (_, p) in enumerate(procs) if _safe(_leading, p))
        procs[leader][0].kill()
        procs[leader][0].wait()
        other = procs[1 - leader]
        wait_for(lambda: _safe(_leading, other[1]), 20, what="the follower takes over within 20 s")
        lease = kubectl.json("get", "lease", "kruise-py-test", "-n", "default")
        assert lease["spec"]["holderIdentity"] != holder and lease["spec"]["leaseTransitions"] >= 1
    finally:
        for p, _ in procs:
            _stop(p)
        kubectl.run("delete", "lease", "kruise-py-test", "-n", "default", check=False)


def _safe(fn, port: int) -> bool:  # type: ignore[no-untyped-def]
    try:
        return bool(fn(port))
    except OSError:
        return False
