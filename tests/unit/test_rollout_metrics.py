"""Rollout metrics: the pure parts (budget, rollout clock) and the per-set series' life cycle."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from kruise_py.runtime import rollout_metrics as rm


def sts(replicas: int = 10, max_unavailable: Any = None, name: str = "web") -> dict[str, Any]:
    ru = {} if max_unavailable is None else {"maxUnavailable": max_unavailable}
    return {
        "metadata": {"namespace": "ns1", "name": name},
        "spec": {"replicas": replicas, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": ru}},
    }


@pytest.mark.parametrize(
    ("replicas", "mu", "available", "want"),
    [
        (10, None, 10, (0, 1)),  # default budget 1
        (10, 3, 8, (2, 3)),
        (10, "25%", 7, (3, 2)),  # percent rounds down
        (3, "10%", 3, (0, 1)),  # but never below 1
        (4, 2, 0, (4, 2)),
        (2, 1, 5, (0, 1)),  # more available than desired (scale-down): not negative
        (5, "x%", 5, (0, 1)),  # invalid value: budget 1, no crash
    ],
)
def test_unavailable_and_budget(replicas: int, mu: Any, available: int, want: tuple[int, int]) -> None:
    assert rm.unavailable_and_budget(sts(replicas, mu), {"availableReplicas": available}) == want


def test_the_clock_times_a_rollout_from_new_revision_to_current() -> None:
    c = rm.RolloutClock()
    k = ("ns", "a")
    assert c.observe(k, {"currentRevision": "r1", "updateRevision": "r1"}, 0.0) is None  # steady
    assert c.observe(k, {"currentRevision": "r1", "updateRevision": "r2"}, 10.0) is None  # starts
    assert c.observe(k, {"currentRevision": "r1", "updateRevision": "r2"}, 15.0) is None  # still going
    assert c.observe(k, {"currentRevision": "r2", "updateRevision": "r2"}, 42.5) == 32.5
    assert c.observe(k, {"currentRevision": "r2", "updateRevision": "r2"}, 50.0) is None  # once only


def test_a_new_revision_mid_rollout_restarts_the_clock() -> None:
    c = rm.RolloutClock()
    k = ("ns", "a")
    c.observe(k, {"currentRevision": "r1", "updateRevision": "r2"}, 0.0)
    c.observe(k, {"currentRevision": "r1", "updateRevision": "r3"}, 5.0)
    assert c.observe(k, {"currentRevision": "r3", "updateRevision": "r3"}, 8.0) == 3.0


def test_a_rollback_to_the_current_revision_is_not_a_rollout() -> None:
    c = rm.RolloutClock()
    k = ("ns", "a")
    c.observe(k, {"currentRevision": "r1", "updateRevision": "r2"}, 0.0)
    # Undone before completing: r1 is update and current again; nothing was rolled out to r2.
    assert c.observe(k, {"currentRevision": "r1", "updateRevision": "r1"}, 4.0) is None
    assert c.observe(k, {"currentRevision": "r1", "updateRevision": "r1"}, 9.0) is None


def test_forget_and_sets_without_revisions() -> None:
    c = rm.RolloutClock()
    k = ("ns", "a")
    assert c.observe(k, {}, 0.0) is None
    c.observe(k, {"currentRevision": "r1", "updateRevision": "r2"}, 0.0)
    c.forget(k)
    assert c.observe(k, {"currentRevision": "r2", "updateRevision": "r2"}, 9.0) is None


def _sample(name: str, labels: dict[str, str]) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_per_set_series_appear_and_go_with_the_set() -> None:
    labels = {"namespace": "ns1", "name": "metrics-life"}
    before = _sample("kruise_py_rollout_duration_seconds_count", {"kind": "StatefulSet"}) or 0.0
    s = sts(6, 2, name="metrics-life")
    rm.observe_statefulset(
        s, {"availableReplicas": 5, "currentRevision": "a", "updateRevision": "b"}, now=100.0
    )
    assert _sample("kruise_py_rollout_unavailable_pods", labels) == 1.0
    assert _sample("kruise_py_rollout_max_unavailable", labels) == 2.0
    rm.observe_statefulset(
        s, {"availableReplicas": 6, "currentRevision": "b", "updateRevision": "b"}, now=130.0
    )
    assert _sample("kruise_py_rollout_unavailable_pods", labels) == 0.0
    assert _sample("kruise_py_rollout_duration_seconds_count", {"kind": "StatefulSet"}) == before + 1
    rm.forget_statefulset("ns1", "metrics-life")
    assert _sample("kruise_py_rollout_unavailable_pods", labels) is None
    assert _sample("kruise_py_rollout_max_unavailable", labels) is None
    rm.forget_statefulset("ns1", "metrics-life")  # twice: harmless


def test_pods_updated_counts_by_kind_and_method_and_exists_at_zero() -> None:
    for kind in rm.KINDS:
        for method in rm.METHODS:
            assert _sample("kruise_py_pods_updated_total", {"kind": kind, "method": method}) is not None
    before = _sample("kruise_py_pods_updated_total", {"kind": "StatefulSet", "method": "recreate"}) or 0.0
    rm.pod_updated("StatefulSet", "recreate")
    assert (
        _sample("kruise_py_pods_updated_total", {"kind": "StatefulSet", "method": "recreate"}) == before + 1
    )
