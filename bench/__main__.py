"""The benchmark runner: `python -m bench <scenario>... | all [--scale S]`.

Each scenario brings up its own sandbox (control plane, simulated nodes, operator), runs itself and
its baseline on it, writes `bench/results/<ID>.json` and prints a one-line summary. `--scale`
(or $BENCH_SCALE) shrinks every scenario's size for smoke runs; 1 is the size in
docs/benchmarks.md. Nothing here fails on timing: a missed goal is reported, not raised.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import harness
from .harness import loadavg, write_result

Runner = Callable[[float], dict[str, dict[str, Any]]]


def _one(key: str, fn: Callable[[float], dict[str, Any]]) -> Runner:
    return lambda scale: {key: fn(scale)}


def _scenarios() -> dict[str, tuple[str, Runner]]:
    # Imported here so `python -m bench --help` does not load every scenario.
    from . import asts_rollout, bcj_scale, fleet, scale, shards, sidecarset

    return {
        "p1": ("1000-pod in-place rollout vs a bare client's same writes", _one("P1", asts_rollout.p1)),
        "p2": ("100-pod rollout with realistic delays vs upstream StatefulSet", _one("P2", asts_rollout.p2)),
        "p4": ("operator RSS with 10 x 500 pods (also runs P6)", fleet.fleet),
        "p5": ("injection webhook under 100 creates/s vs no SidecarSet", _one("P5", sidecarset.p5)),
        "p6": ("operator restart with 10 x 500 pods (also runs P4)", fleet.fleet),
        "p7": ("BroadcastJob vs DaemonSet over 500 nodes", _one("P7", bcj_scale.p7)),
        # Not in `all`: about an hour on 2 cores.
        "scale": ("5,000 / 20,000 / 50,000 pods, one control plane each", _one("SCALE", scale.scale_ladder)),
        "shards": ("1, 2 and 4 sharded replicas at the ladder's top rung", _one("SHARDS", shards.shards)),
    }


def commit() -> str:
    r = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "kruise_py", "bench"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout.strip()
    return r.stdout.strip() + ("+dirty" if dirty else "")


def run(
    names: list[str], scale: float, out: Path | None = None, command: str | None = None
) -> dict[str, Any]:
    """Run the scenarios (each runner once, even if it serves two names); return every result."""
    table = _scenarios()
    if names == ["all"]:
        names = [n for n in table if n not in ("scale", "shards")]
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; choose from {sorted(table)} or all")
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "command": command or f"python -m bench {' '.join(names)} --scale {scale:g}",
        "scale": scale,
        "against": harness.AGAINST,
        "equal_limits": list(harness.EQUAL_LIMITS),
        "default_limits": {k: list(v) for k, v in harness.DEFAULT_LIMITS.items()},
        "cpus": os.cpu_count(),
        "load_at_start": loadavg(),
    }
    results: dict[str, Any] = {}
    done: set[int] = set()
    for name in names:
        fn = table[name][1]
        if id(fn) in done:
            continue
        done.add(id(fn))
        t0 = time.monotonic()
        try:
            got = fn(scale)
        except Exception as e:  # one broken scenario must not lose the others' numbers
            traceback.print_exc()
            got = {
                name.upper(): {
                    "id": name.upper(),
                    "error": f"{type(e).__name__}: {e}",
                    "summary": f"{name.upper()} FAILED: {type(e).__name__}: {e}",
                }
            }
        for key, res in got.items():
            res["scenario_s"] = round(time.monotonic() - t0, 1)
            res["meta"] = meta
            results[key] = res
            path = write_result(key, res) if out is None else _write(out, key, res)
            print(f"{res['summary']}  [load {loadavg()}] -> {path}", flush=True)
    meta["load_at_end"] = loadavg()
    if out is None:
        write_result("all" if len(names) > 1 else "last", {"meta": meta, "results": results})
    return results


def _write(out: Path, key: str, res: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    p = out / f"{key}.json"
    p.write_text(json.dumps(res, indent=2))
    return p


def main() -> None:
    table_help = "scenarios: p1 p2 p4 p5 p6 p7 scale, or all (all but scale; p4 and p6 share one run)"
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        epilog=table_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("scenario", nargs="+", help=table_help)
    ap.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("BENCH_SCALE", "1")),
        help="size factor for every scenario (default $BENCH_SCALE or 1)",
    )
    ap.add_argument("--plot", action="store_true", help="afterwards, draw the plots (needs matplotlib)")
    ap.add_argument(
        "--against",
        choices=["openkruise"],
        default=None,
        help="also run OpenKruise's manager ($OPENKRUISE_MANAGER_BIN) on the same control plane",
    )
    ap.add_argument(
        "--equal-qps",
        type=float,
        default=harness.EQUAL_LIMITS[0],
        help="the client QPS both operators get in the equal-limits runs",
    )
    ap.add_argument("--equal-burst", type=int, default=harness.EQUAL_LIMITS[1], help="and their burst")
    a = ap.parse_args()
    harness.EQUAL_LIMITS = (a.equal_qps, a.equal_burst)
    if a.against == "openkruise":
        from kruise_py.sandbox import openkruise

        try:
            openkruise.find()
        except openkruise.OpenKruiseMissing as e:
            raise SystemExit(f"--against openkruise: {e}") from None
        harness.AGAINST = "openkruise"
    results = run(
        [s.lower() for s in a.scenario], a.scale, command="python -m bench " + " ".join(sys.argv[1:])
    )
    if a.plot and "P2" in results and "kruise_py" in results["P2"]:
        from .report import plot_p2

        print("P2 timeline ->", plot_p2(results["P2"]))
    if a.plot and "SCALE" in results and results["SCALE"].get("rungs"):
        from .report import plot_scale

        print("scale plot ->", plot_scale(results["SCALE"]))


if __name__ == "__main__":
    main()
