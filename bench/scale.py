"""The scale ladder (scenario `scale` of `python -m bench`): 5,000, 20,000 and 50,000 pods in 10,
100 and 1,000 Advanced StatefulSets, one control plane per rung (sized by
``ControlPlane.for_pods``), simulated nodes with room for every pod, and, with
``--against openkruise``, OpenKruise's manager measured on the same pods in the same run.

Per rung:

0. Each operator alone on the empty cluster (nodes only): its RSS at rest, the "empty operator".
1. kruise-py, client limits off, creates the sets and a SidecarSet selecting ``app=lat``; this
   phase only builds the rung (its time and writes per pod are reported, not compared).
2. Pod creates at 100/s (open loop, pods left Pending) with no operator and no webhook: the
   baseline latency.
3. For each operator, at equal client limits and then at its defaults: while it is stopped every
   set gets a new generation that needs only a status write; it starts; ``restart_s`` runs from
   the spawn to every set's ``status.observedGeneration`` equal to its generation (LIST of all
   sets). Then RSS at rest, 1% of the sets (at least one) rolled in place to a new image
   (``roll_s``, API writes per rolled pod from the audit log), with equal limits the pod creates at
   100/s again (webhook-added latency = its p50/p99 minus the baseline's), and the CPU seconds
   the operator used in the phase. Both operators take over the same objects (takeover writes
   nothing to pods: tests/compat).

``bytes_per_pod`` = (RSS at rest - the empty operator's RSS) / pods.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from typing import Any

from kruise_py.runtime.client import path_for

from . import harness, profile
from .asts_rollout import NEW, OLD, kruise_set, operator_writes, rolled_out
from .fleet import smaps_rss
from .harness import Ground, RssSampler, cpu_s, ground, loadavg, proc_status, wait
from .sidecarset import dry_run_injected, ns_gone, paced_creates, sidecarset, summary_ms

MiB = 1024 * 1024
LADDER = ((5000, 10), (20000, 100), (50000, 1000))
# $BENCH_SCALE_LIMITS=equal: only the equal-limits turns (a shorter run).
LIMITS = tuple(x for x in os.environ.get("BENCH_SCALE_LIMITS", "equal,default").split(",") if x)
APP = "scale-lat"  # the latency pods' app label, selected by the SidecarSet "scale-lat"
ASTS = path_for("apps.kruise.io/v1beta1", "statefulsets")


def _mib(b: float) -> float:
    return round(b / MiB, 1)


def _ns(i: int, prefix: str = "scale-") -> str:
    return f"{prefix}{i}"


async def _gather_limited(coros: list[Any], limit: int = 64) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return list(await asyncio.gather(*(one(c) for c in coros)))


def _all_sets(g: Ground, prefix: str = "scale-") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = g.api.run(g.api.client.list(ASTS))["items"]
    return [o for o in items if o["metadata"]["namespace"].startswith(prefix)]


def _observed(objs: list[dict[str, Any]], sets: int) -> bool:
    return len(objs) == sets and all(
        (o.get("status") or {}).get("observedGeneration") == o["metadata"]["generation"] for o in objs
    )


def _bump_generation(g: Ground, sets: int, value: int, prefix: str = "scale-") -> None:
    """A spec change that needs only a status write (a new generation to observe)."""
    c = g.api.client
    g.api.run(
        _gather_limited(
            [
                c.patch(
                    path_for("apps.kruise.io/v1beta1", "statefulsets", _ns(i, prefix), "web"),
                    {"spec": {"revisionHistoryLimit": value}},
                    "merge",
                )
                for i in range(sets)
            ]
        ),
        900,
    )


def build_sets(g: Ground, sets: int, per: int) -> None:
    """The rung's objects: ``sets`` namespaces ``scale-<i>`` with one set ``web`` of ``per`` pods
    each, created through the running operator's webhook; returns once every pod is ready."""
    c = g.api.client
    nss = [_ns(i) for i in range(sets)]
    ns_body = {"apiVersion": "v1", "kind": "Namespace"}
    g.api.run(
        _gather_limited(
            [c.create(path_for("v1", "namespaces"), {**ns_body, "metadata": {"name": ns}}) for ns in nss], 32
        ),
        900,
    )
    web = kruise_set("web", per, "100%")
    g.api.run(
        _gather_limited(
            [c.create(path_for("apps.kruise.io/v1beta1", "statefulsets", ns), web) for ns in nss], 32
        ),
        900,
    )

    def built() -> bool:
        objs = _all_sets(g)
        return len(objs) == sets and all(rolled_out(o, per) for o in objs)

    wait(built, max(900.0, sets * per * 0.2), f"{sets * per} pods ready", interval=2)


def _rest_rss(pid: int, settle: float) -> int:
    time.sleep(settle)
    return proc_status(pid, "VmRSS")


def _latency_phase(g: Ground, ns: str, seconds: float, expect: int, gone: bool = True) -> dict[str, Any]:
    """Pod creates at 100/s for ``seconds`` into a new namespace, after the webhook answers for it
    (a dry-run create comes back with ``expect`` containers) and 1 s of uncounted warm-up creates."""
    g.kubectl("create", "namespace", ns)
    wait(lambda: dry_run_injected(g, ns, APP, expect), 120, f"creates in {ns} admitted", interval=0.5)
    asyncio.run(paced_creates(str(g.kubeconfig), ns, "warm" + APP, 100.0, 1.0))
    lat, containers, errors, achieved = asyncio.run(paced_creates(str(g.kubeconfig), ns, APP, 100.0, seconds))
    out = {
        "ok": len(lat),
        "errors": len(errors),
        "error_samples": errors[:3],
        "achieved_rate_per_s": achieved,
        "latency_ms": summary_ms(lat) if lat else None,
        "containers_per_pod": sorted(set(containers)),
        "load": loadavg(),
    }
    g.kubectl("delete", "namespace", ns, "--wait=false")
    if gone:  # the next phase starts on a quiet cluster
        wait(lambda: ns_gone(g, ns), 600, f"namespace {ns} deleted", interval=1)
    return out


def _phase(
    g: Ground,
    kind: str,
    limits: str,
    sets: int,
    per: int,
    gen: int,
    roll_image: str,
    wh_seconds: float,
    prefix: str = "scale-",
    roll_sets: int | None = None,
    smoke: bool = False,
    warm_roll: str | None = None,
) -> dict[str, Any]:
    """One operator's turn on the rung (module docstring, step 3); ``roll_sets``: how many sets
    to roll (default 1%, at least one). ``warm_roll``: first an unmeasured roll of those sets to
    that image (``takeover_roll``), then the measured one to ``roll_image``: OpenKruise 1.9 does
    not find kruise-py's ControllerRevisions equal to its own and recreates the pods of a set at a
    kruise-py revision instead of updating them in place, once; the measured roll is in place."""
    pods = sets * per
    out: dict[str, Any] = {"limits": limits, "client_limits": harness.limits_used(limits)[kind]}
    _bump_generation(g, sets, gen, prefix)
    out["load_before"] = loadavg()
    t_spawn = g.start_kind(kind, limits, wait_ready=False)
    pid = g.pid_of(kind)
    sampler = RssSampler(pid, interval=0.5)
    # BENCH_PROFILE=1: py-spy over kruise-py's restart in its default-limits turn (the
    # equal-limits turn, the compared one, runs unsampled).
    spy = (
        profile.start(pid, f"scale-{pods}-restart")
        if (profile.enabled() and kind == "kruise_py" and limits == "default")
        else None
    )
    interval = 0.25 if sets <= 100 else 0.5
    wait(
        lambda: _observed(_all_sets(g, prefix), sets), 1800, f"{kind}: every set observed", interval=interval
    )
    out["restart_s"] = round(time.monotonic() - t_spawn, 2)
    if spy is not None:
        out["restart_profile"] = profile.stop(spy, 30)
    g.wait_kind_ready(kind)
    out["rss_peak_restart_mib"] = _mib(sampler.peak_since(t_spawn))
    out["rss_rest_mib"] = _mib(_rest_rss(pid, 10 if pods >= 1000 else 0 if smoke else 3))
    if kind == "kruise_py":
        out["smaps_at_rest"] = smaps_rss(pid)
        out["heap_top_at_rest"] = g.heap_top()
    k = roll_sets or max(1, sets // 100)
    if warm_roll:
        out["takeover_roll"] = _roll(g, kind, k, per, warm_roll, prefix)
    # Roll 1% of the sets in place.
    out.update(_roll(g, kind, k, per, roll_image, prefix))
    out["rss_peak_roll_mib"] = _mib(sampler.peak_since(t_spawn))
    if wh_seconds > 0:
        out["creates"] = _latency_phase(
            g, f"lat-{kind.replace('_', '-')}", wh_seconds, expect=3, gone=not smoke
        )
    out["cpu_s"] = round(cpu_s(pid), 1)
    out["load_after"] = loadavg()
    sampler.stop()
    g.stop_kind(kind)
    return out


def _roll(g: Ground, kind: str, k: int, per: int, roll_image: str, prefix: str) -> dict[str, Any]:
    """Roll the first ``k`` sets to ``roll_image``: time to rolled out, the operator's writes."""
    out: dict[str, Any] = {}
    c = g.api.client
    time.sleep(1)
    mark = g.audit_mark()
    t0 = time.monotonic()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": roll_image}]}}}}
    g.api.run(
        _gather_limited(
            [
                c.patch(
                    path_for("apps.kruise.io/v1beta1", "statefulsets", _ns(i, prefix), "web"), patch, "merge"
                )
                for i in range(k)
            ]
        )
    )

    def rolled() -> bool:
        objs = g.api.run(
            _gather_limited(
                [
                    c.get(path_for("apps.kruise.io/v1beta1", "statefulsets", _ns(i, prefix), "web"))
                    for i in range(k)
                ]
            )
        )
        return all(rolled_out(o, per) for o in objs)

    time.sleep(0.5)
    wait(rolled, max(600.0, k * per * 0.5), f"{kind}: {k} sets rolled", interval=0.25)
    out["roll_s"] = round(time.monotonic() - t0, 2)
    out["rolled_pods"] = k * per
    time.sleep(2)
    w = operator_writes(g, mark, None, harness.UA_PREFIX[kind])
    w = {key: v for key, v in w.items() if "webhookconfigurations" not in key and "leases" not in key}
    out["roll_writes"] = w
    out["roll_pod_writes_per_pod"] = round(sum(v for key, v in w.items() if " pods" in key) / (k * per), 2)
    out["roll_writes_per_pod"] = round(sum(w.values()) / (k * per), 2)
    return out


def _empty_rss(g: Ground, kind: str, settle: float) -> dict[str, Any]:
    g.start_kind(kind, "equal")
    pid = g.pid_of(kind)
    rss = _rest_rss(pid, settle)
    out = {"rss_mib": _mib(rss), "cpu_s": round(cpu_s(pid), 1)}
    g.stop_kind(kind)
    return out


def rung(
    g: Ground, sets: int, per: int, kinds: list[str], wh_seconds: float, smoke: bool = False
) -> dict[str, Any]:
    """One rung on ``g`` (no operator running). ``smoke``: a shared sandbox with kruise-py
    running (the bench smoke test): it builds the rung, no empty-operator start, equal limits only."""
    pods = sets * per
    res: dict[str, Any] = {"pods": pods, "sets": sets, "pods_per_set": per, "nodes": g.nodes}
    res["load_start"] = loadavg()
    res["control_plane"] = {
        k: getattr(g.cp, k)
        for k in (
            "etcd_quota_bytes",
            "max_requests_inflight",
            "max_mutating_requests_inflight",
            "scheduler_qps",
        )
    }
    settle = 10 if pods >= 1000 else 2
    res["empty"] = {} if smoke else {kind: _empty_rss(g, kind, settle) for kind in kinds}

    # 1. Build the rung with kruise-py, no client limit.
    if not smoke:
        g.start_operator(args=harness.limit_args("kruise_py", "off"))
    g.apply(sidecarset("scale-lat", APP), "default")
    time.sleep(1)
    mark = g.audit_mark()
    t0 = time.monotonic()
    build_sets(g, sets, per)
    c = g.api.client
    res["create_s"] = round(time.monotonic() - t0, 1)
    time.sleep(2)
    w = operator_writes(g, mark, None, "kruise-py")
    res["create_writes_per_pod"] = round(sum(w.values()) / pods, 2)
    res["create_load"] = loadavg()
    g.stop_operator()
    # Pods in the cluster, counted once (a LIST with limit=1 gives remainingItemCount).
    got = g.api.run(c.get(path_for("v1", "pods"), {"limit": 1}))
    res["pods_in_cluster"] = len(got["items"]) + int(got["metadata"].get("remainingItemCount") or 0)

    # 2. Baseline creates: no operator, no webhook.
    if wh_seconds > 0:
        res["creates_no_webhook"] = _latency_phase(g, "lat-none", wh_seconds, expect=1, gone=not smoke)

    # 3. Each operator on the same objects; equal limits first, then each one's defaults.
    gen, image = 20, OLD  # the sets run OLD: the first roll goes to NEW
    for kind in kinds:
        for limits in ("equal",) if smoke else LIMITS:
            gen += 1
            warm = None
            if kind == "openkruise" and limits == "equal":
                warm = image = OLD if image == NEW else NEW
            image = OLD if image == NEW else NEW
            ph = _phase(
                g,
                kind,
                limits,
                sets,
                per,
                gen,
                image,
                wh_seconds if limits == "equal" else 0,
                smoke=smoke,
                warm_roll=warm,
            )
            if limits == "equal" and kind in res["empty"]:
                ph["bytes_per_pod"] = round(
                    (ph["rss_rest_mib"] - res["empty"][kind]["rss_mib"]) * MiB / max(1, pods)
                )
                base, mine = res.get("creates_no_webhook"), ph.get("creates")
                if base and mine and base["latency_ms"] and mine["latency_ms"]:
                    ph["webhook_added_ms"] = {
                        q: round(mine["latency_ms"][q] - base["latency_ms"][q], 1) for q in ("p50", "p99")
                    }
            res.setdefault(kind, {})[limits] = ph
            print(
                f"  rung {pods}: {kind} {limits}: restart {ph['restart_s']} s, rest {ph['rss_rest_mib']} MiB, "
                f"roll {ph['roll_s']} s  [load {loadavg()}]",
                flush=True,
            )
    res["load_end"] = loadavg()
    if "openkruise" in kinds and not smoke:
        res["ratios"] = ratios(res)
    return res


def ratios(res: dict[str, Any]) -> dict[str, Any]:
    """kruise-py / OpenKruise for each figure (lower is better for kruise-py)."""
    out: dict[str, Any] = {}
    for limits in LIMITS:
        k, o = res["kruise_py"][limits], res["openkruise"][limits]
        r = {f: round(k[f] / o[f], 2) for f in ("restart_s", "roll_s", "rss_rest_mib", "cpu_s") if o.get(f)}
        if limits == "equal" and o.get("bytes_per_pod"):
            r["bytes_per_pod"] = round(k["bytes_per_pod"] / o["bytes_per_pod"], 2)
        if o.get("roll_writes_per_pod"):
            r["roll_writes_per_pod"] = round(k["roll_writes_per_pod"] / o["roll_writes_per_pod"], 2)
        out[limits] = r
    return out


def ladder(scale: float = 1.0) -> list[tuple[int, int]]:
    """The rungs at a scale: (sets, pods per set). $BENCH_SCALE_RUNGS="5000,20000" picks rungs."""
    only = {int(x) for x in os.environ.get("BENCH_SCALE_RUNGS", "").split(",") if x.strip()}
    out = []
    for pods, sets in LADDER:
        if only and pods not in only:
            continue
        if scale >= 1:
            out.append((sets, pods // sets))
        else:
            s = max(2, round(sets * scale))
            out.append((s, max(2, round(pods * scale) // s)))
    return out


def scale_ladder(scale: float = 1.0) -> dict[str, Any]:
    kinds = ["kruise_py"] + (["openkruise"] if harness.AGAINST == "openkruise" else [])
    wh_seconds = 10.0 if scale >= 1 else max(0.3, 10 * scale)
    sim = ("--start-delay", "0", "--stop-delay", "0", "--ready-delay", "0", "--max-pods", "1100")
    res: dict[str, Any] = {"id": "SCALE", "operators": kinds, "sim_args": list(sim), "rungs": []}
    res["equal_limits"] = list(harness.EQUAL_LIMITS)
    res["default_limits"] = {k: list(v) for k, v in harness.DEFAULT_LIMITS.items()}
    shared = harness._shared
    for sets, per in ladder(scale) if shared is None else ladder(scale)[:1]:
        pods = sets * per
        nodes = max(2, math.ceil(pods / 1000))
        print(f"SCALE rung {pods} pods in {sets} sets on {nodes} nodes  [load {loadavg()}]", flush=True)
        try:
            if shared is not None:
                r = rung(shared, sets, per, kinds, wh_seconds, smoke=True)
                shared.start_operator()  # as the other scenarios expect it
            else:
                with ground(
                    nodes=nodes, sim_args=sim, operator=False, pods=pods, against=harness.AGAINST
                ) as g:
                    r = rung(g, sets, per, kinds, wh_seconds)
        except Exception as e:  # the highest rung that runs is the result: keep the lower ones
            r = {"pods": pods, "sets": sets, "error": f"{type(e).__name__}: {e}", "load": loadavg()}
            res["rungs"].append(r)
            harness.write_result("SCALE-partial", res)
            break
        res["rungs"].append(r)
        harness.write_result("SCALE-partial", res)
    res["summary"] = "SCALE " + "; ".join(_rung_line(r) for r in res["rungs"])
    return res


def _rung_line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['pods']} pods: FAILED {r['error'][:200]}"
    k = r["kruise_py"]["equal"]
    line = (
        f"{r['pods']} pods: kruise-py rest {k['rss_rest_mib']} MiB ({k.get('bytes_per_pod')} B/pod), "
        f"restart {k['restart_s']} s, roll 1% {k['roll_s']} s"
    )
    if "openkruise" in r:
        o, q = r["openkruise"]["equal"], r.get("ratios", {}).get("equal", {})
        line += (
            f" | OpenKruise {o['rss_rest_mib']} MiB ({o.get('bytes_per_pod')} B/pod), restart {o['restart_s']} s, "
            f"roll {o['roll_s']} s | ratios restart {q.get('restart_s')} roll {q.get('roll_s')} "
            f"B/pod {q.get('bytes_per_pod')}"
        )
    return line
