"""Rollout metrics for dashboards: pods updated in place vs recreated, rollout duration, and per set
the pods unavailable now against the maxUnavailable budget.

The reconcilers call these hooks after executing a plan (the pure planners stay metric-free).
Per-set series carry namespace/name (bounded by the number of sets) and are removed when the set
is deleted. Rollout timing lives in the leader's memory: after a failover the new leader times a
rollout from when it first saw it, so a rollout in flight during a failover is reported shorter.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from ..api.common import int_or_percent

KINDS = ("StatefulSet", "SidecarSet")
METHODS = ("in_place", "recreate")

PODS_UPDATED = Counter(
    "kruise_py_pods_updated",
    "Pods moved to a new revision, by kind of owner and method (in_place or recreate).",
    ["kind", "method"],
)
ROLLOUT_DURATION = Histogram(
    "kruise_py_rollout_duration_seconds",
    "Time from a new update revision until all pods are updated and ready, by kind of owner.",
    ["kind"],
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600),
)
UNAVAILABLE = Gauge(
    "kruise_py_rollout_unavailable_pods",
    "Desired replicas minus available pods, per Advanced StatefulSet.",
    ["namespace", "name"],
)
MAX_UNAVAILABLE = Gauge(
    "kruise_py_rollout_max_unavailable",
    "The rolling update's maxUnavailable budget as a pod count, per Advanced StatefulSet.",
    ["namespace", "name"],
)

for _kind in KINDS:  # zero series exist from the start, so rate() and dashboards see them
    ROLLOUT_DURATION.labels(_kind)
    for _method in METHODS:
        PODS_UPDATED.labels(_kind, _method)


def pod_updated(kind: str, method: str) -> None:
    PODS_UPDATED.labels(kind, method).inc()


# -- pure: what a status says about the rollout ------------------------------------------------------
def unavailable_and_budget(sts: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[int, int]:
    """(pods unavailable now, maxUnavailable as a count) as the rolling update sees the budget."""
    spec = sts.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    ru = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    try:
        budget = max(1, int_or_percent(ru.get("maxUnavailable", 1), replicas, round_up=False))
    except (ValueError, TypeError):  # an invalid value is the webhook's business, not the metric's
        budget = 1
    return max(0, replicas - int(status.get("availableReplicas") or 0)), budget


class RolloutClock:
    """Times rollouts: one starts when a status shows an update revision other than the current one,
    and ends when the status shows it current (all pods updated and ready: the planner's rule)."""

    def __init__(self) -> None:
        self._started: dict[Any, tuple[str, float]] = {}

    def observe(self, key: Any, status: Mapping[str, Any], now: float) -> float | None:
        """Feed one status; returns the duration when this status completes a timed rollout."""
        update, current = status.get("updateRevision"), status.get("currentRevision")
        if not update:
            return None
        started = self._started.get(key)
        if current != update:
            if started is None or started[0] != update:
                self._started[key] = (update, now)
            return None
        if started is not None:
            del self._started[key]
            if started[0] == update:
                return now - started[1]
        return None

    def forget(self, key: Any) -> None:
        self._started.pop(key, None)


# -- the hooks the StatefulSet reconciler calls ------------------------------------------------------
_clock = RolloutClock()


def observe_statefulset(sts: Mapping[str, Any], status: Mapping[str, Any], now: float | None = None) -> None:
    md = sts.get("metadata") or {}
    ns, name = md.get("namespace", ""), md.get("name", "")
    unavailable, budget = unavailable_and_budget(sts, status)
    UNAVAILABLE.labels(ns, name).set(unavailable)
    MAX_UNAVAILABLE.labels(ns, name).set(budget)
    took = _clock.observe((ns, name), status, time.monotonic() if now is None else now)
    if took is not None:
        ROLLOUT_DURATION.labels("StatefulSet").observe(took)


def forget_statefulset(namespace: str, name: str) -> None:
    """The set is gone: drop its series (and any rollout being timed)."""
    _clock.forget((namespace, name))
    for g in (UNAVAILABLE, MAX_UNAVAILABLE):
        with contextlib.suppress(KeyError):
            g.remove(namespace, name)
