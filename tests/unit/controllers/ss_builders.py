"""Builders shared by the SidecarSet planner tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kruise_py.controllers.sidecarset import plan as planner
from kruise_py.controllers.sidecarset import revisions as ssrev

Obj = dict[str, Any]
REVISION_NAMESPACE = "kruise-system"


def recorded_as(ss: Obj, name: str) -> Obj:
    """A revision recording ``ss``'s current sidecars under ``name``: a plan of ``ss`` reuses it as
    its latest revision (revisions are compared by content, not name)."""
    r = ssrev.new_revision(ss, REVISION_NAMESPACE, 1, 0)
    r["metadata"]["name"] = name
    return r


def snapshot(ss: Obj, pods: list[Obj], now: datetime, latest: str) -> planner.Snapshot:
    """The snapshot of ``ss`` and ``pods`` with ``latest`` as its latest revision (no revision write)."""
    return planner.Snapshot(
        sidecarset=ss,
        pods=pods,
        revisions=[recorded_as(ss, latest)],
        revision_namespace=REVISION_NAMESPACE,
        now=now,
    )
