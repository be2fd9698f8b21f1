"""Pure helpers of the benchmark runner (bench/): percentiles, metric parsing, rollout checks."""

from __future__ import annotations

import pytest

from bench import __main__ as runner
from bench.asts_rollout import rolled_out, running_image
from bench.sidecarset import histogram, pct, summary_ms


def test_percentiles_are_nearest_rank() -> None:
    xs = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert pct(xs, 0.5) == 0.05 and pct(xs, 0.99) == 0.099 and pct(xs, 1.0) == 0.1
    s = summary_ms(xs)
    assert (s["p50"], s["p99"], s["max"]) == (50.0, 99.0, 100.0)


def test_histogram_sums_matching_series_only() -> None:
    text = "\n".join(
        [
            'm_sum{name="a",operation="CREATE"} 1.5',
            'm_count{name="a",operation="CREATE"} 3',
            'm_sum{name="a",operation="UPDATE"} 9',
            'm_count{name="a",operation="UPDATE"} 9',
            'm_bucket{name="a",operation="CREATE",le="1"} 3',
        ]
    )
    assert histogram(text, "m", 'name="a".*operation="CREATE"') == (1.5, 3.0)


def _set(gen: int, observed: int, updated: int, ready: int, cur: str = "r2", upd: str = "r2") -> dict:
    return {
        "metadata": {"generation": gen},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "currentRevision": cur,
            "updateRevision": upd,
        },
    }


@pytest.mark.parametrize(
    ("obj", "done"),
    [
        (_set(2, 2, 5, 5), True),
        (_set(2, 1, 5, 5), False),  # status of the previous generation
        (_set(2, 2, 4, 5), False),
        (_set(2, 2, 5, 4), False),
        (_set(2, 2, 5, 5, cur="r1"), False),  # revisions not converged
    ],
)
def test_rolled_out(obj: dict, done: bool) -> None:
    assert rolled_out(obj, 5) is done


def test_running_image_needs_ready_and_the_image() -> None:
    pod = {
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "image": "nginx:1.27"}],
        }
    }
    assert running_image(pod, "nginx:1.27")
    assert not running_image(pod, "nginx:1.25")
    pod["status"]["conditions"][0]["status"] = "False"
    assert not running_image(pod, "nginx:1.27")


def test_unknown_scenario_is_a_clear_error() -> None:
    with pytest.raises(SystemExit, match="unknown scenario"):
        runner.run(["p9"], 1.0)
