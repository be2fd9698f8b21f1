"""Smoke runs of every benchmark scenario at a tiny scale, so `python -m bench all` keeps working.

Correctness only: each scenario must run end to end on its own sandbox and report consistent
numbers (pod counts, write counts, injected pods); no assertion looks at a time. The results go
to a temporary folder, not bench/results/.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import run
from bench.harness import ground, shared_ground

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # 0.02: P1 20 pods, P2 4 pods, P4/P6 2 sets x 10 pods, P5 2 s at 100/s; P7 over the 3 nodes.
    # One sandbox for all of them (each scenario keeps to its own namespaces).
    # The scale ladder's first rung at 0.002 (2 sets x 5 pods, 0.3 s of creates): one more scenario.
    out = tmp_path_factory.mktemp("bench-results")
    with ground(nodes=3) as g, shared_ground(g):
        got = run(["all"], 0.02, out=out, command="smoke")
        got.update(run(["scale"], 0.002, out=out, command="smoke"))
        return got


def _ok(results: dict[str, Any], key: str) -> dict[str, Any]:
    res = results[key]
    assert "error" not in res, res.get("error")
    assert res["summary"].startswith(key)
    return res


@pytest.mark.timeout(600)
def test_p1_bare_client_issues_the_controllers_writes(results: dict[str, Any]) -> None:
    r = _ok(results, "P1")
    k, b = r["kruise_py"], r["baseline"]
    # Three pod writes per pod for the controller (gate False, patch, gate True), and the baseline
    # issues exactly as many: the ratio compares equal work.
    assert k["pod_writes_per_pod"] == 3.0, k["writes"]
    assert b["pod_writes_per_pod"] == k["pod_writes_per_pod"], (b["writes"], k["writes"])
    assert k["wall_s"] > 0 and b["wall_s"] > 0 and r["ratio"] > 0


def test_p2_both_rollouts_finish_with_timelines(results: dict[str, Any]) -> None:
    r = _ok(results, "P2")
    n = r["pods"]
    for key in ("kruise_py", "upstream"):
        tl = r[key]["timeline"]
        assert tl and tl[-1][1] == n, (key, tl[-5:])
    # in place: one pod patch per pod, no pod created; upstream recreates every pod.
    assert r["kruise_py"]["writes"].get("create pods", 0) == 0
    assert r["upstream"]["writes"].get("create pods", 0) == n


def test_p2_timeline_plot(results: dict[str, Any], tmp_path: Path) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib (the bench extra) is not installed: the plot cannot be drawn")
    from bench.report import plot_p2

    out = plot_p2(results["P2"], tmp_path / "p2.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_p4_p6_fleet(results: dict[str, Any]) -> None:
    p4, p6 = _ok(results, "P4"), _ok(results, "P6")
    assert p4["pods_seen"] == p4["pods"]
    assert p4["rss_peak_mib"] > 10 and p4["rss_rest_mib"] > 10  # a live process was sampled
    assert p6["all_owners_reconciled_s"] > 0


def test_p5_every_pod_injected(results: dict[str, Any]) -> None:
    r = _ok(results, "P5")
    a, b = r["baseline_no_sidecarset"], r["with_sidecarset"]
    assert a["errors"] == 0 and b["errors"] == 0, (a["error_samples"], b["error_samples"])
    assert a["pods_with_expected_containers"] == a["ok"] > 0
    assert b["pods_with_expected_containers"] == b["ok"] > 0  # 3 containers: both sidecars injected
    assert b["operator_inject_handler"]["calls"] >= b["ok"]
    assert r["operator_log_errors"] == 0


def test_p7_job_and_daemonset_cover_every_node(results: dict[str, Any]) -> None:
    r = _ok(results, "P7")
    assert r["kruise_py"]["succeeded"] == r["kruise_py"]["desired"] == r["nodes"]
    assert r["kruise_py"]["writes"].get("create pods") == r["nodes"]
    assert r["upstream_daemonset"]["available"] == r["nodes"]


def test_scale_rung(results: dict[str, Any]) -> None:
    r = _ok(results, "SCALE")
    (rung,) = r["rungs"]
    assert "error" not in rung, rung.get("error")
    assert rung["pods_in_cluster"] >= rung["pods"] == rung["sets"] * rung["pods_per_set"]
    k = rung["kruise_py"]["equal"]
    assert k["restart_s"] > 0 and k["rss_rest_mib"] > 10
    # An in-place roll: pod writes, no pod created or deleted.
    assert k["roll_pod_writes_per_pod"] > 0, k["roll_writes"]
    assert not any(w.startswith(("create pods", "delete pods")) for w in k["roll_writes"]), k["roll_writes"]
    # Injected through the webhook: the baseline pods keep 1 container, kruise-py's get the 2 sidecars.
    assert rung["creates_no_webhook"]["containers_per_pod"] == [1]
    assert k["creates"]["containers_per_pod"] == [3] and k["creates"]["errors"] == 0
