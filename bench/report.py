"""Reports of a `python -m bench all` run: the P2 rollout timeline as a PNG (pods on the new image
and Ready over time, kruise-py next to the upstream StatefulSet) and the results table of
docs/benchmarks.md.

    python -m bench.report [bench/results/P2.json] [out.png]     # the plot
    python -m bench.report --table [bench/results/all.json]      # the markdown table
    python -m bench.report --scale [bench/results/SCALE.json [out.png]]   # the scale tables, plot
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_PNG = Path(__file__).resolve().parent.parent / "docs" / "img" / "p2-rollout-timeline.png"
SCALE_PNG = DEFAULT_PNG.parent / "scale-rss-restart.png"
NAMES = {"kruise_py": "kruise-py", "openkruise": "OpenKruise"}


def plot_scale(res: dict[str, Any], out: Path = SCALE_PNG) -> Path:
    """RSS at rest and restart time against pods, one line per operator (equal client limits)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rungs = [r for r in res["rungs"] if "error" not in r]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for kind in res["operators"]:
        xs = [r["pods"] for r in rungs]
        # The empty operator (same process on the cluster with no pods) is the 0-pod point.
        empty = [r["empty"][kind]["rss_mib"] for r in rungs if kind in r.get("empty", {})][:1]
        a1.plot(
            [0] * len(empty) + xs,
            empty + [r[kind]["equal"]["rss_rest_mib"] for r in rungs],
            "o-",
            label=NAMES[kind],
        )
        a2.plot(xs, [r[kind]["equal"]["restart_s"] for r in rungs], "o-", label=NAMES[kind])
    a1.set_ylabel("RSS at rest (MiB)")
    a2.set_ylabel("start to every set observed (s)")
    for ax in (a1, a2):
        ax.set_xlabel("pods managed")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    date = res.get("meta", {}).get("date", "")
    fig.suptitle(f"Scale ladder, equal client limits ({date})", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def scale_tables(res: dict[str, Any]) -> str:
    """One markdown table per rung: both operators, both client-limit settings, the ratio."""
    out = []
    kinds = res["operators"]
    for r in res["rungs"]:
        if "error" in r:
            out.append(f"**{r['pods']} pods in {r['sets']} sets: did not run:** {r['error']}\n")
            continue
        out.append(
            f"**{r['pods']} pods in {r['sets']} sets x {r['pods_per_set']}, {r['nodes']} simulated nodes** "
            f"(built by kruise-py in {r['create_s']} s, {r['create_writes_per_pod']} writes/pod; load "
            f"{r['load_start']} at start, {r['load_end']} at the end)\n"
        )
        lims = [lim for lim in ("equal", "default") if all(lim in r[k] for k in kinds)]
        head = ["figure", *[f"{NAMES[k]} ({lim})" for lim in lims for k in kinds]]
        if "ratios" in r:
            head += [f"ratio ({lim})" for lim in lims]
        rows = [head, ["---"] * len(head)]

        def cells(f: Any, r: dict[str, Any] = r, lims: list[str] = lims) -> list[str]:
            return [str(f(r[k][lim], k)) for lim in lims for k in kinds]

        def wh(p: dict[str, Any], k: str) -> str:
            a = p.get("webhook_added_ms")
            return f"+{a['p50']} / +{a['p99']}" if a else ""

        figs: list[tuple[str, Any, str | None]] = [
            ("client qps/burst", lambda p, k: "/".join(f"{x:g}" for x in p["client_limits"]), None),
            ("RSS empty operator (MiB)", lambda p, k, r=r: r["empty"][k]["rss_mib"], None),
            ("RSS at rest (MiB)", lambda p, k: p["rss_rest_mib"], "rss_rest_mib"),
            ("bytes per managed pod", lambda p, k: p.get("bytes_per_pod", ""), "bytes_per_pod"),
            ("start to every set observed (s)", lambda p, k: p["restart_s"], "restart_s"),
            ("roll 1% of the sets in place (s)", lambda p, k: p["roll_s"], "roll_s"),
            ("API writes per rolled pod", lambda p, k: p["roll_writes_per_pod"], "roll_writes_per_pod"),
            ("webhook-added p50 / p99 at 100 creates/s (ms)", wh, None),
            ("CPU seconds in the phase", lambda p, k: p["cpu_s"], "cpu_s"),
            ("load average after", lambda p, k: p["load_after"][0], None),
        ]
        for name, f, key in figs:
            row = [name, *cells(f)]
            if "ratios" in r:
                row += [str(r["ratios"].get(lim, {}).get(key, "")) if key else "" for lim in lims]
            rows.append(row)
        out.append("\n".join("| " + " | ".join(c) + " |" for c in rows) + "\n")
    return "\n".join(out)


def plot_p2(res: dict[str, Any], out: Path = DEFAULT_PNG) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    for key, label, style in (
        ("kruise_py", f"kruise-py, in place, maxUnavailable {res['max_unavailable']}", "-"),
        ("upstream", "upstream apps/v1 StatefulSet RollingUpdate", "--"),
    ):
        if key not in res:
            continue
        pts = res[key].get("timeline") or []
        xs, ys = [0.0] + [p[0] for p in pts], [0] + [p[1] for p in pts]
        ax.step(xs, ys, style, where="post", label=f"{label}: {res[key]['wall_s']:.0f} s")
    floor = res.get("node_side_floor_s")
    if floor:
        ax.axvline(floor, color="grey", lw=0.8, ls=":", label=f"node-side floor {floor:g} s")
    ax.set_xlabel("seconds since the image change")
    ax.set_ylabel("pods on the new image and Ready")
    ax.set_title(f"P2: {res['pods']}-pod image rollout ({res['meta']['date'] if 'meta' in res else ''})")
    ax.set_ylim(0, res["pods"] * 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _row(r: dict[str, Any]) -> list[str]:
    if "error" in r:
        return [r["id"], "failed", r["error"][:120], "", ""]
    i = r["id"]
    if i == "P1":
        return [
            i,
            f"{r['pods']}-pod in-place rollout, maxUnavailable 100%, no delays",
            f"kruise-py {r['kruise_py']['wall_s']} s; bare client, same {r['baseline']['pod_writes_per_pod']} "
            f"writes/pod at 64 connections: {r['baseline']['wall_s']} s",
            f"**{r['ratio']}x**",
            "<= 1.3x",
        ]
    if i == "P2":
        up = (
            (
                f"; upstream {r['upstream']['wall_s']} s: **{r['upstream_over_kruise_py']}x** slower "
                f"(floor ratio {r['upstream_over_floor']}x)"
            )
            if "upstream" in r
            else ""
        )
        return [
            i,
            f"{r['pods']}-pod rollout, maxUnavailable {r['max_unavailable']}, stop/start/ready 1 s",
            f"kruise-py {r['kruise_py']['wall_s']} s; floor {r['node_side_floor_s']:g} s{up}",
            f"**{r['kruise_py_over_floor']}x** floor",
            "<= 1.15x floor; upstream / kruise-py >= 13x",
        ]
    if i == "P4":
        return [
            i,
            f"operator RSS, {r['sets']} sets x {r['pods_per_set']} pods",
            f"rest {r['rss_rest_mib']} MiB (after a restart {r['rss_rest_after_restart_mib']}); peak while "
            f"creating {r['rss_peak_create_mib']}, during a rollout of all {r['rss_peak_rollout_mib']}",
            f"**{r['rss_peak_mib']} MiB** peak",
            "<= 150 MiB",
        ]
    if i == "P5":
        a, b = r["baseline_no_sidecarset"]["latency_ms"], r["with_sidecarset"]["latency_ms"]
        return [
            i,
            f"{r['rate_per_s']:g} pod creates/s for {r['seconds']:g} s, injection webhook",
            f"p50/p99 {a['p50']}/{a['p99']} ms without a SidecarSet, {b['p50']}/{b['p99']} ms with one",
            f"**+{r['added_ms']['p99']} ms** p99 (+{r['added_ms']['p50']} p50)",
            "<= +10 ms p99",
        ]
    if i == "P6":
        return [
            i,
            f"operator restart, {r['pods']} pods in {r['sets']} sets",
            "process start to every set's status.observedGeneration == generation",
            f"**{r['all_owners_reconciled_s']} s**",
            "<= 5 s",
        ]
    if i == "P7":
        k, u = r["kruise_py"], r["upstream_daemonset"]
        return [
            i,
            f"BroadcastJob over {r['nodes']} nodes (pods run {r['run_seconds']:g} s)",
            f"job completed in {k['wall_s']} s ({k['succeeded']} succeeded, {k['writes_per_pod']} writes/pod); "
            f"DaemonSet available on all nodes in {u['wall_s']} s",
            f"DaemonSet / BroadcastJob = **{r['daemonset_over_broadcastjob']}**",
            "report the ratio",
        ]
    return [i, "", r.get("summary", ""), "", ""]


def table(all_result: dict[str, Any]) -> str:
    rows = [
        ["id", "scenario", "measured (same run, same control plane)", "figure", "goal", "met"],
        ["---"] * 6,
    ]
    for key in sorted(all_result["results"]):
        r = all_result["results"][key]
        met = r.get("goal_met")
        rows.append([*_row(r), "" if met is None else ("yes" if met else "**no**")])
    return "\n".join("| " + " | ".join(c) + " |" for c in rows)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--scale":
        src = (
            Path(sys.argv[2])
            if len(sys.argv) > 2
            else Path(__file__).resolve().parent / "results" / "SCALE.json"
        )
        res = json.loads(src.read_text())
        print(scale_tables(res))
        if len(sys.argv) > 3:
            print(plot_scale(res, Path(sys.argv[3])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--table":
        src = (
            Path(sys.argv[2])
            if len(sys.argv) > 2
            else Path(__file__).resolve().parent / "results" / "all.json"
        )
        res = json.loads(src.read_text())
        m = res["meta"]
        print(
            f"`{m['command']}` — {m['date']}, commit {m['commit']}, {m['cpus']} CPUs, load average "
            f"{m['load_at_start']} at start, {m.get('load_at_end')} at the end\n"
        )
        print(table(res))
        return
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results" / "P2.json"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_PNG
    print(plot_p2(json.loads(src.read_text()), out))


if __name__ == "__main__":
    main()
