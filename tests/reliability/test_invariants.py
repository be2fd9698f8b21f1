"""The invariant monitor's rules on synthetic events: each rule can fail (no live cluster needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .invariants import (
    Budget,
    InvariantMonitor,
    asts_status_regression,
    asts_update_markers,
    bcj_status_regression,
)


def pod(
    name: str,
    *,
    uid: str = "",
    ready: bool = True,
    rev: str = "r1",
    image: str = "a:1",
    owner: str = "o1",
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ann = {"apps.kruise.io/inplace-update-state": json.dumps(state)} if state else {}
    return {
        "metadata": {
            "name": name,
            "uid": uid or f"u-{name}",
            "labels": {"controller-revision-hash": rev},
            "annotations": ann,
            "ownerReferences": [{"uid": owner, "controller": True}],
        },
        "spec": {"containers": [{"name": "c", "image": image}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def monitor(**kw: Any) -> InvariantMonitor:
    m = InvariantMonitor(Path("/nonexistent"), "ns", "app=x", "/owners", **kw)
    m._on_owner("ADDED", {"metadata": {"uid": "o1"}})
    return m


def test_budget_counts_unready_pods_but_not_exempt_ones() -> None:
    m = monitor(budget=Budget(1, 3))
    for i in range(3):
        m._on_pod("ADDED", pod(f"p{i}"))
    m.arm()
    m._on_pod("MODIFIED", pod("p0", ready=False))
    assert m.violations == [] and m.max_measured == 1
    m._on_pod("MODIFIED", pod("p1", ready=False))
    assert len(m.violations) == 1 and "budget: 2 unavailable > 1" in m.violations[0]
    m2 = monitor(budget=Budget(1, 3), exempt={"p1"})
    for i in range(3):
        m2._on_pod("ADDED", pod(f"p{i}", ready=i == 2))
    m2.arm()
    assert m2.max_measured == 1 and m2.violations == []


def test_active_budget_for_jobs() -> None:
    m = monitor(budget=Budget(1, kind="active"))
    m.arm()
    m._on_pod("ADDED", pod("a"))
    done = pod("b")
    done["status"]["phase"] = "Succeeded"
    m._on_pod("ADDED", done)
    assert m.violations == []
    m._on_pod("ADDED", pod("c"))
    assert m.violations and "2 active > 1" in m.violations[0]


def test_a_second_update_for_one_revision_is_a_double_update() -> None:
    m = monitor(update_markers=asts_update_markers)
    m._on_pod("ADDED", pod("p", state={"revision": "r2", "updateTimestamp": "t1"}, rev="r2", image="a:2"))
    m._on_pod("MODIFIED", pod("p", state={"revision": "r2", "updateTimestamp": "t1"}, rev="r2", image="a:2"))
    assert m.violations == []
    m._on_pod("MODIFIED", pod("p", state={"revision": "r2", "updateTimestamp": "t2"}, rev="r2", image="a:2"))
    assert any("double update" in v for v in m.violations)
    images = monitor()
    images._on_pod("ADDED", pod("q", rev="r1", image="a:1"))
    images._on_pod("MODIFIED", pod("q", rev="r2", image="a:2"))
    images._on_pod("MODIFIED", pod("q", rev="r2", image="a:3"))
    assert any("images changed 2 times" in v for v in images.violations)


def test_orphans_and_status_regressions() -> None:
    m = monitor(status_rule=asts_status_regression)
    m._on_pod("ADDED", pod("known"))
    m._on_pod("ADDED", pod("stray", owner="nobody"))
    bare = pod("bare")
    bare["metadata"]["ownerReferences"] = []
    m._on_pod("ADDED", bare)
    m._on_status(
        "MODIFIED",
        {
            "metadata": {"uid": "s", "name": "x"},
            "status": {"observedGeneration": 2, "updateRevision": "r", "updatedReplicas": 5},
        },
    )
    m._on_status(
        "MODIFIED",
        {
            "metadata": {"uid": "s", "name": "x"},
            "status": {"observedGeneration": 2, "updateRevision": "r", "updatedReplicas": 4},
        },
    )
    m._on_status(
        "MODIFIED",
        {
            "metadata": {"uid": "s", "name": "x"},
            "status": {"observedGeneration": 1, "updateRevision": "r", "updatedReplicas": 4},
        },
    )
    violations = m.stop()
    assert sum("orphan" in v for v in violations) == 2, violations
    assert sum("status backwards" in v for v in violations) == 2, violations
    assert bcj_status_regression({"succeeded": 3}, {"succeeded": 2})
    assert bcj_status_regression({"completionTime": "a"}, {"completionTime": "b"})
    assert bcj_status_regression({"succeeded": 2}, {"succeeded": 3}) is None
