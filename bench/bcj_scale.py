"""A BroadcastJob over many simulated nodes next to the upstream DaemonSet over the same nodes
(scenario P7 of `python -m bench`).

The job's pods run ``run_seconds`` on the simulator and exit 0; its time is from `apply` to phase
``completed``. The DaemonSet (same pod template, a long-running container) is created on the same
control plane right after; its time is from create to ``numberAvailable == desiredNumberScheduled
== nodes`` (rolled out on every node). API writes are counted from the apiserver audit log.
"""

from __future__ import annotations

import time
from typing import Any

from .asts_rollout import operator_writes
from .harness import (
    UA_PREFIX,
    Ground,
    against_ratios,
    against_runs,
    limits_used,
    loadavg,
    scenario_ground,
    wait,
)


def _job(run_seconds: float) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "BroadcastJob",
        "metadata": {"name": "everywhere"},
        "spec": {
            "template": {
                "metadata": {"annotations": {"sim.kruise-py.io/run-seconds": str(run_seconds)}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "task", "image": "busybox:1.36"}]},
            }
        },
    }


def _daemonset() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "everywhere"},
        "spec": {
            "selector": {"matchLabels": {"app": "everywhere"}},
            "template": {
                "metadata": {"labels": {"app": "everywhere"}},
                "spec": {"containers": [{"name": "task", "image": "busybox:1.36"}]},
            },
        },
    }


def run_job(g: Ground, ns: str, run_seconds: float, nodes: int, ua: str = "kruise-py") -> dict[str, Any]:
    g.kubectl("create", "namespace", ns)
    time.sleep(1)
    mark = g.audit_mark()
    t0 = time.monotonic()
    g.apply(_job(run_seconds), ns)

    def done() -> dict[str, Any] | None:
        st = g.get("bcj", "everywhere", "-n", ns).get("status") or {}
        return st if st.get("phase") == "completed" else None

    st = wait(done, 900, "job completed", interval=0.5)
    wall = time.monotonic() - t0
    time.sleep(1)
    writes = operator_writes(g, mark, ns, ua)
    pods = st["desired"]
    return {
        "wall_s": round(wall, 2),
        "desired": pods,
        "succeeded": st["succeeded"],
        "writes": writes,
        "writes_per_pod": round(sum(writes.values()) / max(1, pods), 2),
        "pod_creates_per_pod": round(writes.get("create pods", 0) / max(1, pods), 2),
    }


def run_daemonset(g: Ground, ns: str, nodes: int) -> dict[str, Any]:
    g.kubectl("create", "namespace", ns)
    time.sleep(1)
    mark = g.audit_mark()
    t0 = time.monotonic()
    g.apply(_daemonset(), ns)

    def done() -> dict[str, Any] | None:
        st = g.get("ds", "everywhere", "-n", ns).get("status") or {}
        ok = st.get("desiredNumberScheduled") == nodes and st.get("numberAvailable") == nodes
        return st if ok else None

    st = wait(done, 900, "daemonset available everywhere", interval=0.5)
    wall = time.monotonic() - t0
    time.sleep(1)
    writes = operator_writes(g, mark, ns, "kube-controller-manager")
    return {"wall_s": round(wall, 2), "available": st["numberAvailable"], "writes": writes}


def p7(scale: float = 1.0, run_seconds: float = 1.0) -> dict[str, Any]:
    nodes = max(2, round(500 * scale))
    res: dict[str, Any] = {
        "id": "P7",
        "nodes": nodes,
        "run_seconds": run_seconds,
        "operator_args": ["--qps", "0"],
    }
    with scenario_ground(nodes=nodes, operator_args=("--qps", "0")) as g:
        nodes = res["nodes"] = g.nodes  # a shared (smoke) sandbox has its own node count
        res["load_before"] = loadavg()
        res["kruise_py"] = run_job(g, "p7-bcj", run_seconds, nodes)
        res["upstream_daemonset"] = run_daemonset(g, "p7-ds", nodes)
        # --against openkruise: a job of its own for each operator in turn (same nodes).
        runs: dict[str, Any] = {}
        for kind, limits in against_runs():
            with g.running(kind, limits):
                r = run_job(g, f"p7-{kind.replace('_', '-')}-{limits}", run_seconds, nodes, UA_PREFIX[kind])
            r["client_limits"], r["load"] = limits_used(limits)[kind], loadavg()
            runs[f"{kind}_{limits}"] = r
        if runs:
            res["against_openkruise"] = runs
            res["kruise_py_over_openkruise"] = against_ratios(runs, "wall_s")
        res["load_after"] = loadavg()
    k, u = res["kruise_py"]["wall_s"], res["upstream_daemonset"]["wall_s"]
    res["daemonset_over_broadcastjob"] = round(u / k, 2)
    res["goal"] = "report the ratio"
    res["summary"] = (
        f"P7 over {nodes} nodes: BroadcastJob completed in {k} s ({res['kruise_py']['succeeded']} "
        f"succeeded, {res['kruise_py']['writes_per_pod']} writes/pod); DaemonSet available in {u} s; "
        f"DaemonSet / BroadcastJob = {res['daemonset_over_broadcastjob']}"
    )
    if "against_openkruise" in res:
        runs = res["against_openkruise"]
        res["summary"] += "; vs OpenKruise: " + ", ".join(
            f"{lim} limits {runs[f'kruise_py_{lim}']['wall_s']} s / {runs[f'openkruise_{lim}']['wall_s']} s"
            f" = {res['kruise_py_over_openkruise'].get(lim)}x"
            for lim in ("equal", "default")
        )
    return res
