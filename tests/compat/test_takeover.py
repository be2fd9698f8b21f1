"""Taking over a running OpenKruise 1.9 cluster, and giving it back, with zero pod restarts.

One scenario (tests/compat/scenario.py) against the real manager:
1. OpenKruise's CRDs, webhooks and manager; the scenario created and rolled once under it.
2. OpenKruise stopped; kruise-py's CRDs applied over its own; `kruise-py migrate check` says no
   pod would restart; kruise-py started. It writes no pod, creates no revision that has an equal
   one, keeps every status revision name, counts the injected pods as updated, and leaves the
   completed BroadcastJob alone.
3. The next spec change rolls out in place under maxUnavailable, by kruise-py.
4. A set born under kruise-py (a template OpenKruise's webhook never shaped) is rolled once.
5. kruise-py stopped; OpenKruise started again on the same objects: it writes no pod either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox import openkruise
from kruise_py.sandbox.controlplane import ControlPlane, free_port
from kruise_py.sandbox.sandbox import REPO_ROOT, apply_crds, wait_http_ok
from tests.compat import install as compat_install
from tests.compat import scenario as sc
from tests.integration.conftest import Kubectl, _spawn, _stop, local_operator_argv, wait_for
from tests.integration.monitor import PodMonitor

pytestmark = pytest.mark.timeout(2400)

KRUISE_PY_UA = "kruise-py/"
OPENKRUISE_UA = openkruise.USER_AGENT_PREFIX

BORN = f"""
apiVersion: apps.kruise.io/v1beta1
kind: StatefulSet
metadata: {{name: born, namespace: {sc.NS}}}
spec:
  replicas: 3
  podManagementPolicy: Parallel
  selector: {{matchLabels: {{app: born}}}}
  template:
    metadata: {{labels: {{app: born}}}}
    spec:
      readinessGates: [{{conditionType: InPlaceUpdateReady}}]
      containers:
      - name: app
        image: registry.example/born:1
        resources: {{requests: {{cpu: 0.5, memory: 1024Mi}}}}
        securityContext: {{privileged: false}}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {{podUpdatePolicy: InPlaceIfPossible, maxUnavailable: 3}}
"""


def _start_kruise_py(cp: ControlPlane, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    argv = local_operator_argv(
        cp.kubeconfig,
        port,
        tmp / "kruise-py-certs",
        "--sidecarset-revision-namespace",
        sc.REVISION_NS,
        "--operator-namespace",
        "kruise-py-system",
    )
    proc = _spawn("kruise-py", argv, cp.logs, cp.kubeconfig)
    wait_http_ok(f"http://127.0.0.1:{port}/readyz", 90, cp.logs / "kruise-py.log")
    return proc, port


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def _migrate_check(cp: ControlPlane) -> tuple[int, Any]:
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
            "--sidecarset-revision-namespace",
            sc.REVISION_NS,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    return res.returncode, json.loads(res.stdout)


def _restarts(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Pods deleted, recreated, restarted or re-imaged between two pod_state() snapshots."""
    out = []
    for name, b in before.items():
        a = after.get(name)
        if a is None:
            out.append(f"{name} deleted")
        elif a["uid"] != b["uid"]:
            out.append(f"{name} recreated")
        elif a["images"] != b["images"] or a["restarts"] != b["restarts"]:
            out.append(f"{name}: {b['images']} {b['restarts']} -> {a['images']} {a['restarts']}")
    out += [f"{n} created" for n in after if n not in before]
    return out


def _wait_rolled(kubectl: Kubectl, name: str, n: int, old_revision: str) -> None:
    """Until the set's new revision is current on all n pods, ready (not merely: the status from
    before the change already says "all updated")."""

    def rolled() -> bool:
        s = kubectl.json("get", "asts", name, "-n", sc.NS)
        st = s.get("status") or {}
        return (
            st.get("observedGeneration") == s["metadata"]["generation"]
            and st.get("updateRevision") != old_revision
            and st.get("updatedReadyReplicas") == n
            and st.get("currentRevision") == st.get("updateRevision")
        )

    wait_for(rolled, timeout=240, what=f"{name} rolled to a new revision")


def test_takeover_and_back(
    control_plane: ControlPlane,
    simulator: Any,
    kubectl: Kubectl,
    openkruise_dist: openkruise.OpenKruiseDist,
    tmp_path: Path,
    figures: dict[str, Any],
) -> None:
    cp = control_plane
    ok = openkruise.OpenKruiseManager(openkruise_dist, cp.kubeconfig, cp.workdir, kubectl.path)
    ok.install()
    ok.start()
    try:
        sc.apply_scenario(kubectl)
        sc.wait_quiet(
            lambda: _metrics(ok.metrics_url),
            ("statefulset-controller", "sidecarset-controller", "broadcastjob-controller"),
        )
    finally:
        ok.stop()
    # ---- OpenKruise's state, as it left it
    if os.environ.get("KRUISE_COMPAT_RECORD", "") not in ("", "0"):
        figures["fixture"] = sc.record(kubectl)
    pods0, revs0, status0 = sc.pod_state(kubectl), sc.revisions(kubectl), sc.statuses(kubectl)
    assert len(pods0) == 20 + 4 + 2 + 3 * 3

    # ---- 2. takeover
    apply_crds(cp.kubeconfig)  # kubectl apply --server-side --force-conflicts -f crds/
    code, report = _migrate_check(cp)
    figures["migrate_check"] = {o["name"]: o["verdict"] for o in report["objects"]}
    assert set(figures["migrate_check"].values()) <= {"nothing", "adopt"}, json.dumps(report, indent=1)
    assert code == 0, json.dumps(report, indent=1)
    t_take = cp.audit_log.stat().st_size
    proc, port = _start_kruise_py(cp, tmp_path)
    try:
        sc.wait_quiet(
            lambda: _metrics(f"http://127.0.0.1:{port}/metrics"),
            ("statefulset", "sidecarset", "broadcastjob"),
        )
        time.sleep(5)  # a few more resync-free seconds: nothing may trickle in later
        writes = sc.writes_by(cp, t_take, KRUISE_PY_UA)
        pods1, revs1, status1 = sc.pod_state(kubectl), sc.revisions(kubectl), sc.statuses(kubectl)
        created = sc.creates(writes, "controllerrevisions")
        figures["takeover"] = {
            "pod_writes": len(sc.pod_writes(writes)),
            "restarts": len(_restarts(pods0, pods1)),
            "revisions_adopted": len(revs0),
            "revisions_created": created,
            "status_changes": sc.diff(status0, status1),
        }
        assert sc.pod_writes(writes) == []
        assert _restarts(pods0, pods1) == []
        assert created == [], "an equal revision existed for each"
        assert {k: v["data"] for k, v in revs1.items()} == {k: v["data"] for k, v in revs0.items()}
        # Names kept; counts the same (SidecarSet pods are counted as updated).
        assert sc.diff(status0, status1) == []

        # ---- 3. the next spec change rolls in place under maxUnavailable
        with PodMonitor(cp.kubeconfig, sc.NS, "app=web", desired=20) as mon:
            kubectl(
                "patch",
                "asts",
                "web",
                "-n",
                sc.NS,
                "--type=json",
                "-p",
                json.dumps(
                    [
                        {
                            "op": "replace",
                            "path": "/spec/template/spec/containers/0/image",
                            "value": "nginx:1.28",
                        }
                    ]
                ),
            )
            _wait_rolled(kubectl, "web", 20, status1["asts/web"]["updateRevision"])
        pods2 = sc.pod_state(kubectl)
        web = [n for n in pods0 if n.startswith("web-")]
        assert all(pods2[n]["uid"] == pods0[n]["uid"] for n in web), "in place: the same pods"
        assert all(pods2[n]["restarts"]["nginx"] == pods0[n]["restarts"]["nginx"] + 1 for n in web)
        assert mon.max_unavailable <= 5
        figures["rollout"] = {"max_unavailable": mon.max_unavailable, "pods": len(web)}

        # ---- 4. a set born under kruise-py, rolled once
        kubectl.apply(BORN)
        wait_for(
            lambda: (
                kubectl.json("get", "asts", "born", "-n", sc.NS).get("status", {}).get("readyReplicas") == 3
            ),
            timeout=120,
            what="born ready",
        )
        born_rev = kubectl.json("get", "asts", "born", "-n", sc.NS)["status"]["updateRevision"]
        kubectl(
            "patch",
            "asts",
            "born",
            "-n",
            sc.NS,
            "--type=json",
            "-p",
            json.dumps(
                [
                    {
                        "op": "replace",
                        "path": "/spec/template/spec/containers/0/image",
                        "value": "registry.example/born:2",
                    }
                ]
            ),
        )
        _wait_rolled(kubectl, "born", 3, born_rev)
        sc.wait_quiet(
            lambda: _metrics(f"http://127.0.0.1:{port}/metrics"),
            ("statefulset", "sidecarset", "broadcastjob"),
        )
    finally:
        _stop(proc)

    # ---- 5. the way back
    pods3, status3 = sc.pod_state(kubectl), sc.statuses(kubectl)
    code, report = _migrate_check(cp)  # the same preflight, read as "kruise-py would do": nothing
    assert code == 0, json.dumps(report, indent=1)
    t_back = cp.audit_log.stat().st_size
    ok.register_webhooks()
    ok.start()
    try:
        sc.wait_quiet(
            lambda: _metrics(ok.metrics_url),
            ("statefulset-controller", "sidecarset-controller", "broadcastjob-controller"),
        )
        time.sleep(5)
        writes = sc.writes_by(cp, t_back, OPENKRUISE_UA)
        pods4, status4 = sc.pod_state(kubectl), sc.statuses(kubectl)
        back = {
            "pod_writes": sc.pod_writes(writes),
            "restarts": _restarts(pods3, pods4),
            "revisions_created": sc.creates(writes, "controllerrevisions"),
            "status_changes": sc.diff(status3, status4),
        }
        figures["way_back"] = {
            **back,
            "pod_writes": len(back["pod_writes"]),
            "restarts": len(back["restarts"]),
        }
        assert back["pod_writes"] == []
        assert back["restarts"] == []
        assert back["revisions_created"] == []
        assert [d for d in back["status_changes"] if "Revision" in d] == []
    finally:
        ok.stop()


def test_install_over_openkruise_crds(
    control_plane: ControlPlane,
    simulator: Any,
    kubectl: Kubectl,
    openkruise_dist: openkruise.OpenKruiseDist,
    bins: Any,
    tmp_path: Path,
    figures: dict[str, Any],
) -> None:
    """Over OpenKruise 1.9.0's own CRDs with objects of all three kinds stored in both versions:
    apply, helm install/upgrade, create after delete; nothing stored is lost (tests/compat/install.py).
    Last in the module: it deletes the CRDs (and with them every object) at the end."""
    ok = openkruise.OpenKruiseManager(
        openkruise_dist, control_plane.kubeconfig, control_plane.workdir, kubectl.path
    )

    def install() -> None:
        # As a fresh install of OpenKruise's CRDs: its files set no conversion (the test before left
        # the SidecarSet CRD pointing at a manager since stopped).
        ok.install_crds(("statefulsets", "broadcastjobs", "sidecarsets"))
        for plural in ("statefulsets", "broadcastjobs", "sidecarsets"):
            kubectl(
                "patch",
                "crd",
                f"{plural}.apps.kruise.io",
                "--type=json",
                "-p",
                json.dumps([{"op": "replace", "path": "/spec/conversion", "value": {"strategy": "None"}}]),
            )

    figures.update(compat_install.run(control_plane, kubectl, bins.helm, tmp_path, install))
