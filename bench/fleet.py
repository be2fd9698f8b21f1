"""Many pods under one operator (scenarios P4 and P6 of `python -m bench`): 10 Advanced
StatefulSets x 500 pods on one control plane.

P4: the operator's RSS (sampled every 0.25 s from /proc) while the pods are created, at rest, and
    during an in-place rollout of every set at once; the peak is the figure.
P6: the operator is stopped; while it is down every set's spec changes in a way that needs only a
    status write (``revisionHistoryLimit``, a new generation); then it starts again. Every owner
    has been reconciled once when every set's ``status.observedGeneration`` equals its generation:
    the time from the process spawn to that is the figure.

The operator runs as the runtime image does, with kubernetes_asyncio unimportable (see
bench.harness.OPERATOR_LAUNCHER).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kruise_py.runtime.client import KubeClient, path_for

from . import harness, profile
from .asts_rollout import NEW, OLD, kruise_set, rolled_out, set_path
from .harness import Ground, RssSampler, loadavg, proc_status, scenario_ground, wait

MiB = 1024 * 1024


async def _sets(client: KubeClient, nss: list[str]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(client.get(set_path("asts", ns, "web")) for ns in nss)))


def _all(g: Ground, nss: list[str], pred: Any) -> bool:
    return all(pred(o) for o in g.api.run(_sets(g.api.client, nss)))


def _mib(b: int) -> float:
    return round(b / MiB, 1)


def smaps_rss(pid: int) -> dict[str, float]:
    """Resident MiB by kind of mapping, to tell allocator slack from live objects: ``heap`` is
    glibc's main arena (brk); ``anon_64m`` anonymous mappings of >= 60 MiB or 64 MiB-aligned:
    glibc's per-thread arenas, but also neighbouring mmaps (pymalloc arenas, big buffers) the
    kernel merged into one mapping, so only its growth from 0 says "thread arena";
    ``anon_other`` the rest of anonymous memory (pymalloc's 1 MiB arenas, large allocations);
    ``files`` the mapped libraries."""
    out = {"heap": 0, "anon_64m": 0, "anon_other": 0, "files": 0}
    kind = "files"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                first = line.split(None, 6)
                if "-" in first[0] and not first[0].endswith(":"):
                    lo, hi = (int(x, 16) for x in first[0].split("-"))
                    name = first[5].strip() if len(first) > 5 else ""
                    if name == "[heap]":
                        kind = "heap"
                    elif name.startswith("/"):
                        kind = "files"
                    elif hi - lo >= 60 * MiB or (name == "" and (lo & (64 * MiB - 1)) == 0):
                        kind = "anon_64m"
                    else:
                        kind = "anon_other"
                elif first[0] == "Rss:":
                    out[kind] += int(first[1]) * 1024
    except OSError:
        pass
    return {k: _mib(v) for k, v in out.items()}


def fleet(scale: float = 1.0) -> dict[str, dict[str, Any]]:
    sets = max(2, round(10 * min(1.0, scale * 10)))  # 10 sets down to scale 0.1, then 2
    per = max(2, round(500 * scale))
    total = sets * per
    nodes = max(2, -(-total // 250))
    sim = ("--start-delay", "0", "--stop-delay", "0", "--ready-delay", "0", "--max-pods", "260")
    timeout = max(600.0, total * 0.3)
    nss = [f"fleet-{i}" for i in range(sets)]
    p4: dict[str, Any] = {
        "id": "P4",
        "sets": sets,
        "pods_per_set": per,
        "pods": total,
        "nodes": nodes,
        "sim_args": list(sim),
        "operator_args": ["--qps", "0"],
        "kubernetes_asyncio_importable_in_operator": False,
    }
    p6: dict[str, Any] = {"id": "P6", "sets": sets, "pods": total}
    with scenario_ground(nodes=nodes, sim_args=sim, operator_args=("--qps", "0")) as g:
        p4["load_before"] = loadavg()
        sampler = RssSampler(g.operator_pid)
        p4["rss_idle_mib"] = _mib(proc_status(g.operator_pid, "VmRSS"))
        t0 = time.monotonic()
        for ns in nss:
            g.kubectl("create", "namespace", ns)
            g.apply(kruise_set("web", per, "100%"), ns)
        wait(lambda: _all(g, nss, lambda o: rolled_out(o, per)), timeout, f"{total} pods ready", interval=2)
        p4["create_s"] = round(time.monotonic() - t0, 1)
        p4["rss_peak_create_mib"] = _mib(sampler.peak_since(t0))
        time.sleep(5)
        p4["rss_rest_mib"] = _mib(proc_status(g.operator_pid, "VmRSS"))
        p4["smaps_at_rest"] = smaps_rss(g.operator_pid)
        p4["heap_top_at_rest"] = g.heap_top()

        # P6: restart with every set needing one reconcile.
        sampler.stop()
        g.stop_operator()
        for ns in nss:
            g.api.run(
                g.api.client.patch(
                    set_path("asts", ns, "web"), {"spec": {"revisionHistoryLimit": 7}}, "merge"
                )
            )
        p6["load_before"] = loadavg()
        t_spawn = g.start_operator(wait_ready=False)
        sampler = RssSampler(g.operator_pid)
        prof = profile.start(g.operator_pid, "P6-restart") if profile.enabled() else None
        wait(
            lambda: _all(
                g,
                nss,
                lambda o: (o.get("status") or {}).get("observedGeneration") == o["metadata"]["generation"],
            ),
            300,
            "every set reconciled after the restart",
            interval=0.1,
        )
        p6["all_owners_reconciled_s"] = round(time.monotonic() - t_spawn, 2)
        p6["profile"] = profile.stop(prof)
        wait(lambda: _ready(g), 120, "operator ready", interval=0.2)
        p6["goal"] = "every owner reconciled once <= 5 s after start"
        p6["goal_met"] = p6["all_owners_reconciled_s"] <= 5
        p6["summary"] = (
            f"P6 restart with {total} pods in {sets} sets: every owner reconciled "
            f"{p6['all_owners_reconciled_s']} s after the process started (goal <= 5 s)"
        )
        time.sleep(5)
        p4["rss_rest_after_restart_mib"] = _mib(proc_status(g.operator_pid, "VmRSS"))
        p4["smaps_after_restart"] = smaps_rss(g.operator_pid)

        # P4: a rollout of every set at once.
        t0 = time.monotonic()
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": NEW}]}}}}
        for ns in nss:
            g.api.run(g.api.client.patch(set_path("asts", ns, "web"), patch, "merge"))
        time.sleep(1)
        wait(
            lambda: _all(g, nss, lambda o: rolled_out(o, per)),
            timeout,
            f"{total} pods rolled out",
            interval=2,
        )
        p4["rollout_s"] = round(time.monotonic() - t0, 1)
        p4["rss_peak_rollout_mib"] = _mib(sampler.peak_since(t0))
        p4["vmhwm_since_restart_mib"] = _mib(proc_status(g.operator_pid, "VmHWM"))
        time.sleep(5)
        p4["rss_rest_after_rollout_mib"] = _mib(proc_status(g.operator_pid, "VmRSS"))
        p4["smaps_after_rollout"] = smaps_rss(g.operator_pid)
        sampler.stop()
        p4["load_after"] = loadavg()
        if harness.AGAINST:
            p4["against_openkruise"] = _against(g, sets, per)
        p4["pods_seen"] = sum(
            len(g.api.run(g.api.client.list(path_for("v1", "pods", ns), labelSelector="app=web"))["items"])
            for ns in nss
        )
    peak = max(p4["rss_peak_create_mib"], p4["rss_peak_rollout_mib"])
    p4["rss_peak_mib"] = peak
    p4["goal"] = "peak RSS <= 150 MiB"
    p4["goal_met"] = peak <= 150
    p4["summary"] = (
        f"P4 operator RSS with {total} pods: rest {p4['rss_rest_mib']} MiB, peak {peak} MiB "
        f"(create {p4['rss_peak_create_mib']}, rollout {p4['rss_peak_rollout_mib']}) (goal <= 150 MiB)"
    )
    if "against_openkruise" in p4:
        a = p4["against_openkruise"]
        p6["against_openkruise"] = a
        runs, q = a["runs"], a["kruise_py_over_openkruise"]

        def both(f: str, lim: str) -> str:
            return f"{runs[f'kruise_py_{lim}'][f]} / {runs[f'openkruise_{lim}'][f]} = {q[f].get(lim)}x"

        p4["summary"] += "; in turn, kruise-py / OpenKruise rest MiB " + ", ".join(
            f"{lim} {both('rss_rest_mib', lim)}" for lim in ("equal", "default")
        )
        p6["summary"] += "; in turn, kruise-py / OpenKruise restart s " + ", ".join(
            f"{lim} {both('restart_s', lim)}" for lim in ("equal", "default")
        )
    return {"P4": p4, "P6": p6}


def _against(g: Ground, sets: int, per: int) -> dict[str, Any]:
    """`--against openkruise`: each operator in turn on these sets (bench.scale's phase: restart
    with a new generation per set, RSS at rest, a rollout of every set), kruise-py started again
    after with the scenario's flags."""
    from .scale import _phase

    g.stop_operator()
    runs: dict[str, Any] = {}
    image = NEW  # where P4's rollout left the sets
    warmed = False
    for gen, (kind, limits) in enumerate(harness.against_runs(), start=30):
        warm = None
        if kind == "openkruise" and not warmed:  # see bench.scale._phase
            warm = image = OLD if image == NEW else NEW
            warmed = True
        image = OLD if image == NEW else NEW
        runs[f"{kind}_{limits}"] = _phase(
            g, kind, limits, sets, per, gen, image, 0, prefix="fleet-", roll_sets=sets, warm_roll=warm
        )
    g.start_operator()
    return {
        "runs": runs,
        "kruise_py_over_openkruise": {
            f: harness.against_ratios(runs, f) for f in ("restart_s", "rss_rest_mib", "roll_s", "cpu_s")
        },
    }


def _ready(g: Ground) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{g.metrics_port}/readyz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
