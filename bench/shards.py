"""Scenario `shards` of `python -m bench`: sharded mode (`run --shards auto`) at the scale
ladder's largest rung (50,000 pods in 1,000 Advanced StatefulSets; `--scale` shrinks it).

The rung is built once, by one sharded replica (so every pod carries its shard label from its
creation). Then one turn per replica setting, on the same objects: one unsharded replica (today's
mode, the reference), then 1, 2 and 4 sharded replicas (`$BENCH_SHARDS_REPLICAS`). Per turn,
every replica at the equal client limits:

- ``restart_s``: while no replica runs every set gets a new generation that needs only a status
  write; the replicas are spawned together; from the spawn to every set's observedGeneration equal
  to its generation (membership, the ring and the narrowed LISTs included);
- ``settle_s``: from the spawn to the replicas' held buckets adding up to all 256;
- per replica: RSS at rest, whether it is the elected one (it also runs the SidecarSet controller,
  whose every-pod cache is leader-only in sharded mode), the CPU seconds of the turn;
- ``roll_s``: 5% of the sets (at least one) rolled in place at once; ``roll_pods_per_s``.

On 2 cores the CPU cannot scale with replicas; memory per replica and recovery time can.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
import urllib.request
from typing import Any

from kruise_py.runtime import sharding as sh
from kruise_py.sandbox.controlplane import free_port
from kruise_py.sandbox.sandbox import wait_http_ok

from . import harness
from .asts_rollout import NEW, OLD, operator_writes
from .harness import Ground, cpu_s, ground, loadavg, proc_status, wait
from .scale import LADDER, _all_sets, _bump_generation, _mib, _observed, _roll, build_sets
from .sidecarset import sidecarset

GROUP = "bench"
HELD = re.compile(r'^shard_buckets_held\{group="' + GROUP + r'-shards",member="[^"]*"\} (\S+)$', re.M)
LEADING = f'leader_election_master_status{{name="{GROUP}"}} 1.0'


def replica_counts() -> list[int]:
    return [int(x) for x in os.environ.get("BENCH_SHARDS_REPLICAS", "1,2,4").split(",") if x.strip()]


def _metrics(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def _held(port: int) -> int:
    m = HELD.search(_metrics(port))
    return int(float(m.group(1))) if m else 0


def _argv(g: Ground, i: int, port: int, sharded: bool, limits: str) -> list[str]:
    """Replica ``i``'s flags: the first serves the webhooks (local mode), the others none."""
    base = g.operator_base_argv
    head = base[: base.index("--metrics-port")]
    hooks = base[base.index("--webhook-mode") :] if i == 0 else ["--webhook-mode", "none"]
    shard = (
        ["--shards", "auto", "--leader-election-id", GROUP, "--leader-election-namespace", "default"]
        if sharded
        else []
    )
    return [*head, "--metrics-port", str(port), *hooks, *shard, *harness.limit_args("kruise_py", limits)]


def _spawn_replicas(g: Ground, n: int, sharded: bool, limits: str = "equal") -> list[tuple[str, int]]:
    out = []
    for i in range(n):
        port = free_port()
        g.spawn(f"operator-{i}", _argv(g, i, port, sharded, limits))
        out.append((f"operator-{i}", port))
    return out


def _stop_replicas(g: Ground, reps: list[tuple[str, int]]) -> None:
    for name, _ in reps:
        g.procs[name].terminate()
    for name, _ in reps:
        p = g.procs.pop(name)
        try:
            p.wait(60)
        except Exception:
            p.kill()
            p.wait()


def _turn(g: Ground, n: int, sharded: bool, sets: int, per: int, gen: int, image: str) -> dict[str, Any]:
    out: dict[str, Any] = {"replicas": n, "sharded": sharded, "load_before": loadavg()}
    _bump_generation(g, sets, gen)
    t0 = time.monotonic()
    reps = _spawn_replicas(g, n, sharded)
    settle: float | None = None if sharded else 0.0

    def observed() -> bool:
        nonlocal settle
        if settle is None and sum(_held(p) for _, p in reps) == sh.BUCKETS:
            settle = time.monotonic() - t0
        return _observed(_all_sets(g), sets)

    wait(observed, 1800, f"{n} replica(s): every set observed", interval=0.5)
    out["restart_s"] = round(time.monotonic() - t0, 2)
    if sharded:
        wait(lambda: sum(_held(p) for _, p in reps) == sh.BUCKETS, 300, "every bucket held", interval=0.5)
        settle = settle if settle is not None else time.monotonic() - t0
        out["settle_s"] = round(settle, 2)
    for name, port in reps:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", 300, g.cp.logs / f"{name}.log")
    time.sleep(10)
    out["per_replica"] = [
        {
            "rss_rest_mib": _mib(proc_status(g.procs[name].pid, "VmRSS")),
            "buckets": _held(port) if sharded else sh.BUCKETS,
            "elected": (LEADING in _metrics(port)) if sharded else True,
        }
        for name, port in reps
    ]
    rss = [r["rss_rest_mib"] for r in out["per_replica"]]
    out["rss_rest_mib"] = {"max": max(rss), "min": min(rss), "sum": round(sum(rss), 1)}
    followers = [r["rss_rest_mib"] for r in out["per_replica"] if not r["elected"]]
    if followers:
        out["rss_rest_mib"]["followers_max"] = max(followers)
    k = max(1, sets // 20)
    out.update(_roll(g, "kruise_py", k, per, image, "scale-"))
    out["roll_pods_per_s"] = round(k * per / out["roll_s"], 1)
    out["cpu_s"] = [round(cpu_s(g.procs[name].pid), 1) for name, _ in reps]
    out["load_after"] = loadavg()
    _stop_replicas(g, reps)
    # The next turn's replicas must not count a Lease of this one as a live member.
    g.kubectl(
        "delete", "lease", "-n", "default", "-l", f"{sh.GROUP_LABEL}={GROUP}-shards", "--ignore-not-found"
    )
    g.kubectl("delete", "lease", "-n", "default", GROUP, "--ignore-not-found")
    print(
        f"  {n} replica(s){' sharded' if sharded else ''}: restart {out['restart_s']} s, "
        f"RSS {rss} MiB, roll {out['roll_s']} s  [load {loadavg()}]",
        flush=True,
    )
    return out


def shards(scale: float = 1.0) -> dict[str, Any]:
    pods_top, sets_top = LADDER[-1]
    sets = max(2, round(sets_top * scale)) if scale < 1 else sets_top
    per = max(2, round(pods_top * scale) // sets) if scale < 1 else pods_top // sets
    pods = sets * per
    nodes = max(2, math.ceil(pods / 1000))
    sim = ("--start-delay", "0", "--stop-delay", "0", "--ready-delay", "0", "--max-pods", "1100")
    res: dict[str, Any] = {"id": "SHARDS", "pods": pods, "sets": sets, "pods_per_set": per, "nodes": nodes}
    res["equal_limits"] = list(harness.EQUAL_LIMITS)
    print(f"SHARDS {pods} pods in {sets} sets on {nodes} nodes  [load {loadavg()}]", flush=True)
    with ground(nodes=nodes, sim_args=sim, operator=False, pods=pods) as g:
        # Build with one sharded replica, no client limit: every pod labelled at creation.
        reps = _spawn_replicas(g, 1, True, "off")
        wait_http_ok(f"http://127.0.0.1:{reps[0][1]}/readyz", 120, g.cp.logs / "operator-0.log")
        g.apply(sidecarset("scale-lat", "scale-lat"), "default")
        mark = g.audit_mark()
        t0 = time.monotonic()
        build_sets(g, sets, per)
        res["create_s"] = round(time.monotonic() - t0, 1)
        w = operator_writes(g, mark, None, "kruise-py")
        res["create_writes_per_pod"] = round(sum(w.values()) / pods, 2)
        _stop_replicas(g, reps)
        g.kubectl(
            "delete", "lease", "-n", "default", "-l", f"{sh.GROUP_LABEL}={GROUP}-shards", "--ignore-not-found"
        )
        g.kubectl("delete", "lease", "-n", "default", GROUP, "--ignore-not-found")
        gen, image = 20, OLD
        turns = [(1, False)] + [(n, True) for n in replica_counts()]
        res["turns"] = []
        for n, sharded in turns:
            gen += 1
            image = NEW if image == OLD else OLD
            res["turns"].append(_turn(g, n, sharded, sets, per, gen, image))
            harness.write_result("SHARDS-partial", res)
    res["summary"] = "SHARDS " + "; ".join(
        f"{t['replicas']}{'s' if t['sharded'] else 'u'}: restart {t['restart_s']} s, "
        f"RSS max {t['rss_rest_mib']['max']} MiB, roll {t['roll_pods_per_s']} pods/s"
        for t in res["turns"]
    )
    print(res["summary"], file=sys.stderr)
    return res
