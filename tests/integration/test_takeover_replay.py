"""Takeover without OpenKruise: kruise-py started over what OpenKruise 1.9's manager wrote makes no
pod write.

tests/compat runs the takeover against the real manager when it is available; it also records
what that manager left behind (every object of the scenario with its status, the pods and the
ControllerRevisions) in tests/fixtures/openkruise-1.9.0/takeover.yaml. Here those objects are
created as recorded on a control plane of this module's own (no operator may see them being
created), then kruise-py starts over them, as after `kubectl apply -f crds/` on a cluster that
OpenKruise ran.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox import binaries
from kruise_py.sandbox.controlplane import ControlPlane, free_port
from kruise_py.sandbox.sandbox import REPO_ROOT, apply_crds, wait_http_ok, wait_nodes_ready
from tests.compat import install as compat_install
from tests.compat import scenario as sc

from .conftest import NODES, Kubectl, _spawn, _stop, local_operator_argv, wait_for


@pytest.fixture(scope="module")
def plane(
    tmp_path_factory: pytest.TempPathFactory, bins: binaries.Binaries
) -> Iterator[tuple[ControlPlane, Kubectl]]:
    cp = ControlPlane(workdir=tmp_path_factory.mktemp("replay-controlplane"), bins=bins)
    cp.start()
    sim = _spawn(
        "simulator",
        [
            sys.executable,
            "-m",
            "kruise_py.sandbox.simulator",
            "--kubeconfig",
            str(cp.kubeconfig),
            "--nodes",
            str(NODES),
        ],
        cp.logs,
        cp.kubeconfig,
    )
    try:
        wait_nodes_ready(cp.kubeconfig, NODES)
        yield cp, Kubectl(bins.kubectl, cp.kubeconfig)
    finally:
        _stop(sim)
        cp.stop()


def _running(kubectl: Kubectl, expected: dict[str, str]) -> bool:
    pods = kubectl.json("get", "pods", "-n", sc.NS)["items"]
    phases = {p["metadata"]["name"]: (p.get("status") or {}).get("phase") for p in pods}
    return phases == expected


def test_install_over_openkruise_shaped_crds(
    plane: tuple[ControlPlane, Kubectl], bins: binaries.Binaries, tmp_path: Path
) -> None:
    """apply/helm install/helm upgrade/create over CRDs shaped like OpenKruise 1.9's (the real ones:
    tests/compat), with objects of all three kinds stored in both versions: nothing lost."""
    cp, kubectl = plane
    assert bins.helm is not None
    install, switch, webhook = compat_install.stand_in_installer(kubectl)
    figures = compat_install.run(cp, kubectl, bins.helm, tmp_path, install, switch, webhook)
    assert figures["storedVersions_before"]["sidecarsets.apps.kruise.io"] == ["v1alpha1", "v1beta1"]


def test_kruise_py_takes_over_recorded_openkruise_state_without_pod_writes(
    plane: tuple[ControlPlane, Kubectl], tmp_path: Path
) -> None:
    cp, kubectl = plane
    apply_crds(cp.kubeconfig)
    docs = sc.load()
    kinds = {d["kind"] for d in docs}
    assert kinds == {"SidecarSet", "StatefulSet", "BroadcastJob", "ControllerRevision", "Pod"}
    sc.replay(kubectl, docs)
    # The simulator (the kubelet here) takes the pods over first: wait for it to settle.
    expected = {d["metadata"]["name"]: d["status"]["phase"] for d in docs if d["kind"] == "Pod"}
    wait_for(lambda: _running(kubectl, expected), timeout=120, what="replayed pods running as recorded")
    time.sleep(3)
    pods0, revs0, status0 = sc.pod_state(kubectl), sc.revisions(kubectl), sc.statuses(kubectl)

    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "kruise_py",
            "migrate",
            "check",
            "--kubeconfig",
            str(cp.kubeconfig),
            "-n",
            sc.NS,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    report = json.loads(res.stdout)
    assert res.returncode == 0, json.dumps(report, indent=1)
    assert {o["verdict"] for o in report["objects"]} <= {"nothing", "adopt"}

    t0 = cp.audit_log.stat().st_size
    port = free_port()
    proc = _spawn(
        "operator",
        local_operator_argv(
            cp.kubeconfig,
            port,
            tmp_path / "certs",
            "--sidecarset-revision-namespace",
            sc.REVISION_NS,
            "--operator-namespace",
            "kruise-py-system",
        ),
        cp.logs,
        cp.kubeconfig,
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", 90, cp.logs / "operator.log")
        import urllib.request

        def metrics() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())

        sc.wait_quiet(metrics, ("statefulset", "sidecarset", "broadcastjob"))
        time.sleep(3)
        writes = sc.writes_by(cp, t0, "kruise-py/")
        assert sc.pod_writes(writes) == []
        assert sc.creates(writes, "controllerrevisions") == []
        assert sc.creates(writes, "pods") == []
        pods1, revs1, status1 = sc.pod_state(kubectl), sc.revisions(kubectl), sc.statuses(kubectl)
        assert {
            n: (p["uid"], p["images"], p["revision"], p["sidecarset-hash"]) for n, p in pods1.items()
        } == {n: (p["uid"], p["images"], p["revision"], p["sidecarset-hash"]) for n, p in pods0.items()}
        assert {k: v["data"] for k, v in revs1.items()} == {k: v["data"] for k, v in revs0.items()}
        # Every revision name kept, every injected pod counted as updated, the completed job left alone.
        assert sc.diff(status0, status1) == []
        for name in ("log-agent", "mesh"):
            st: dict[str, Any] = status1[f"sidecarset/{name}"]
            assert st["matchedPods"] == st["updatedPods"] == 20
        assert status1["bcj/once"]["phase"] == "completed"
    finally:
        _stop(proc)
