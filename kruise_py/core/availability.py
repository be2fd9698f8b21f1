"""Pod health and availability as the Advanced StatefulSet judges them.

[kruise stateful_set_utils.go ``isRunningAndReady``, ``isRunningAndAvailable``, ``isHealthy``,
``isTerminating``; k8s podutil.IsPodReady] — spec §1.3, §3.1, §3.4, §9 P21.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kruise_py.api import views

from .lifecycle import NORMAL, STATE_LABEL

# Callers pass raw pods or views; both are read through the views (a misspelled field is a mypy
# error), tolerating malformed sub-objects as before.
_meta = views.meta


def _status(pod: Mapping[str, Any]) -> views.PodStatus:
    return views.or_empty(views.pod(pod).get("status"))


def _phase(pod: Mapping[str, Any]) -> str:
    phase = _status(pod).get("phase")
    return phase if isinstance(phase, str) else ""


def parse_time(s: str) -> datetime:
    """Parse an RFC3339 timestamp (``2024-05-01T10:00:00Z``, fractions and offsets allowed) to an
    aware datetime in UTC. A timestamp without offset is taken as UTC. Raises ValueError."""
    text = s.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _condition(pod: Mapping[str, Any], ctype: str) -> views.PodCondition | None:
    return next((c for c in views.each(_status(pod).get("conditions")) if c.get("type") == ctype), None)


def is_created(pod: Mapping[str, Any]) -> bool:
    """Created and maintained by the API server: ``status.phase`` is set (counts in status.replicas)."""
    return _phase(pod) != ""


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return _meta(pod).get("deletionTimestamp") is not None


def is_failed_or_succeeded(pod: Mapping[str, Any]) -> bool:
    return _phase(pod) in ("Failed", "Succeeded")


def is_ready(pod: Mapping[str, Any]) -> bool:
    """podutil.IsPodReady: the Ready condition is True (phase not checked)."""
    c = _condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def is_running_ready(pod: Mapping[str, Any]) -> bool:
    """Phase Running and the Ready condition True (counts in status.readyReplicas)."""
    return _phase(pod) == "Running" and is_ready(pod)


def ready_since(pod: Mapping[str, Any]) -> datetime | None:
    """lastTransitionTime of a True Ready condition; None if not Ready or the time is missing/bad."""
    c = _condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    ltt = c.get("lastTransitionTime")
    if not isinstance(ltt, str) or not ltt:
        return None
    try:
        return parse_time(ltt)
    except ValueError:
        return None


def lifecycle_state(pod: Mapping[str, Any]) -> str:
    """The ``lifecycle.apps.kruise.io/state`` label, "" if absent."""
    labels = _meta(pod).get("labels")
    value = labels.get(STATE_LABEL) if isinstance(labels, Mapping) else None
    return value if isinstance(value, str) else ""


def lifecycle_normal(pod: Mapping[str, Any]) -> bool:
    """Lifecycle state is "" or Normal; any other state makes a pod unhealthy and unavailable."""
    return lifecycle_state(pod) in ("", NORMAL)


def available(
    pod: Mapping[str, Any], min_ready_seconds: int, now: datetime, *, ignore_lifecycle: bool = False
) -> tuple[bool, float]:
    """Kruise isRunningAndAvailable: ``(available, seconds_to_wait)``.

    - lifecycle state not ""/Normal (unless ``ignore_lifecycle``), not Running, or not Ready:
      ``(False, 0)`` (no timed recheck helps);
    - ``min_ready_seconds`` == 0: ``(True, 0)``;
    - Ready but no usable lastTransitionTime: ``(False, min_ready_seconds)`` (as Kruise: recheck later);
    - Ready for less than min_ready_seconds: ``(False, remaining)``; otherwise ``(True, 0)``.
      Exactly min_ready_seconds is available (Kruise: ``waitTime > 0`` means wait).

    ``now`` should be timezone-aware; a naive one is taken as UTC.
    """
    if not (ignore_lifecycle or lifecycle_normal(pod)) or not is_running_ready(pod):
        return False, 0.0
    if min_ready_seconds <= 0:
        return True, 0.0
    since = ready_since(pod)
    if since is None:
        return False, float(min_ready_seconds)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    wait = min_ready_seconds - (now - since).total_seconds()
    if wait > 0:
        return False, wait
    return True, 0.0


def is_healthy(pod: Mapping[str, Any]) -> bool:
    """Kruise isHealthy: Running, Ready, not terminating, lifecycle state "" or Normal."""
    return lifecycle_normal(pod) and is_running_ready(pod) and not is_terminating(pod)
