"""Plain-dict helpers for Kubernetes objects: tolerant accessors (a missing or malformed field reads
as empty instead of raising, so one odd object cannot crash a planner) and metav1.Time formatting."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def as_map(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def meta(o: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_map(o.get("metadata"))


def spec(o: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_map(o.get("spec"))


def status(o: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_map(o.get("status"))


def name(o: Mapping[str, Any]) -> str:
    return str(meta(o).get("name") or "")


def format_time(t: datetime) -> str:
    """metav1.Time's JSON form: RFC 3339 in UTC, whole seconds (naive datetimes are taken as UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
