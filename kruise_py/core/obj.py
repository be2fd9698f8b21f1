"""Tolerant accessors for Kubernetes objects as plain dicts: a missing or malformed field reads as
empty instead of raising, so one odd object cannot crash a planner."""

from __future__ import annotations

from collections.abc import Mapping
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
