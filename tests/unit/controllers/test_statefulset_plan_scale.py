"""Planner: scaling, reserveOrdinals and the revision of new pods (spec §1.4, §3.3, §3.4, P4, P22)."""

from __future__ import annotations

from typing import Any

import pytest

from kruise_py.controllers.statefulset.plan import Plan
from kruise_py.core.revisions import REVISION_LABEL

from .builders import (
    World,
    make_pod,
    make_sts,
    pname,
    revision_of,
    rname,
    rolling_world,
    update_deletes,
)


def created(p: Plan) -> list[int]:
    return [c.ordinal for c in p.creates]


def deleted(p: Plan, reason: str | None = None) -> list[str]:
    return [pname(d.pod) for d in p.deletes if reason is None or d.reason == reason]


def fresh_world(replicas: int, *existing: int, ready: dict[int, bool] | None = None, **kw: Any) -> World:
    """A set at one revision (no rollout) with pods at ``existing`` ordinals."""
    sts = make_sts(replicas, **kw)
    rev = revision_of(sts, 1)
    sts["status"] = {"currentRevision": rname(rev), "updateRevision": rname(rev), "collisionCount": 0}
    w = World(sts, revisions=[rev])
    for o in existing:
        w.add(make_pod(sts, o, rev, ready=(ready or {}).get(o, True)))
    return w


def run_until_stable(w: World, limit: int = 30, **step_kw: Any) -> int:
    for i in range(limit):
        p = w.step(**step_kw)
        if not p.creates and not p.deletes and not p.pod_writes:
            return i
    raise AssertionError("no fixpoint")


# --------------------------------------------------------------------------------------------------
# OrderedReady


def test_ordered_ready_creates_one_pod_per_plan_in_order() -> None:
    w = fresh_world(3)
    assert created(w.step(new_pods_ready=False)) == [0]
    # pod-0 exists but is not Ready: wait
    p = w.step()
    assert created(p) == [] and any("waiting for web-0" in n for n in p.notes)
    w.make_ready("web-0")
    assert created(w.step()) == [1]
    assert created(w.step()) == [2]
    assert created(w.step()) == []
    assert [n for n, _ in w.created] == ["web-0", "web-1", "web-2"]


def test_ordered_ready_stops_at_not_ready_pod() -> None:
    w = fresh_world(4, 0, 1, 3, ready={1: False})
    p = w.plan()
    assert created(p) == [] and deleted(p) == []


def test_ordered_ready_terminating_pod_blocks() -> None:
    w = fresh_world(3, 0, 1)
    w.pods["web-1"]["metadata"]["deletionTimestamp"] = "2025-01-01T12:00:00Z"
    assert created(w.plan()) == []


def test_ordered_ready_min_ready_seconds_gates_scale_up() -> None:
    """P21: minReadySeconds also gates OrderedReady scale-up."""
    w = fresh_world(2, min_ready=30)
    w.step()
    p = w.step(advance=0)
    assert created(p) == [] and p.requeue_after == pytest.approx(30)
    w.now = w.now.replace(second=31)
    assert created(w.step()) == [1]


def test_ordered_ready_scale_down_one_per_plan_highest_first() -> None:
    w = fresh_world(2, 0, 1, 2, 3)
    assert deleted(w.step(), "scale-down") == ["web-3"]
    assert deleted(w.step(), "scale-down") == ["web-2"]
    assert deleted(w.step()) == []
    assert sorted(w.pods) == ["web-0", "web-1"]


def test_ordered_ready_scale_down_waits_for_termination() -> None:
    w = fresh_world(2, 0, 1, 2, 3)
    w.pods["web-3"]["metadata"]["deletionTimestamp"] = "2025-01-01T12:00:00Z"
    assert deleted(w.plan()) == []


def test_ordered_ready_scale_down_only_when_all_healthy() -> None:
    w = fresh_world(2, 0, 1, 2, 3, ready={0: False})
    assert deleted(w.plan()) == []


def test_ordered_ready_scale_down_unready_condemned_waits_unless_first_unhealthy() -> None:
    # web-3 unready but web-2 is also unready: web-2 is the first unhealthy pod, web-3 is not -> wait
    w = fresh_world(2, 0, 1, 2, 3, ready={2: False, 3: False})
    assert deleted(w.plan()) == []
    # only web-3 is unready: it is the lowest unhealthy pod -> delete
    w = fresh_world(2, 0, 1, 2, 3, ready={3: False})
    assert deleted(w.plan()) == ["web-3"]


def test_ordered_ready_no_update_while_any_pod_unhealthy() -> None:
    """P4: an unready pod blocks updates in OrderedReady."""
    w, _, _ = rolling_world(3, ready={0: False})
    p = w.plan()
    assert update_deletes(p) == []
    # same with Parallel: web-2 is updated
    w, _, _ = rolling_world(3, parallel=True, max_unavailable=2, ready={0: False})
    assert update_deletes(w.plan()) == ["web-2"]


# --------------------------------------------------------------------------------------------------
# Parallel


def test_parallel_creates_all_missing_at_once() -> None:
    w = fresh_world(5, 1, parallel=True)
    assert sorted(created(w.plan())) == [0, 2, 3, 4]


def test_parallel_deletes_all_condemned() -> None:
    w = fresh_world(1, 0, 1, 2, 3, parallel=True, ready={2: False})
    p = w.plan()
    assert deleted(p, "scale-down") == ["web-3", "web-2", "web-1"]


def test_parallel_condemned_terminating_is_not_deleted_again() -> None:
    w = fresh_world(1, 0, 1, 2, parallel=True)
    w.pods["web-2"]["metadata"]["deletionTimestamp"] = "2025-01-01T12:00:00Z"
    assert deleted(w.plan()) == ["web-1"]


@pytest.mark.parametrize("phase", ["Failed", "Succeeded"])
@pytest.mark.parametrize("parallel", [False, True])
def test_failed_or_succeeded_pod_deleted_then_recreated(phase: str, parallel: bool) -> None:
    """P22: deleted (reason "failed") and recreated on the next pass, also in OrderedReady."""
    w = fresh_world(3, 0, 1, 2, parallel=parallel)
    w.pods["web-1"]["status"]["phase"] = phase
    p = w.step()
    assert [(pname(d.pod), d.reason) for d in p.deletes] == [("web-1", "failed")]
    assert created(p) == []
    p = w.step()
    assert created(p) == [1]


def test_ordered_ready_failed_pod_stops_processing() -> None:
    w = fresh_world(4, 0, 1, 3)
    w.pods["web-0"]["status"]["phase"] = "Failed"
    p = w.plan()
    assert deleted(p) == ["web-0"] and created(p) == []


def test_failed_outdated_pod_is_deleted_once() -> None:
    """A Failed pod the scale phase deletes is not deleted again by the rolling update."""
    w, _, _ = rolling_world(3, parallel=True, max_unavailable=2)
    w.pods["web-2"]["status"]["phase"] = "Failed"
    p = w.plan()
    assert [(pname(d.pod), d.reason) for d in p.deletes] == [("web-2", "failed"), ("web-1", "update")]


# --------------------------------------------------------------------------------------------------
# scaleStrategy.maxUnavailable (§3.4)


def test_scale_max_unavailable_3_to_10_s2() -> None:
    """e2e: 3 Ready pods scaled to 10 with S=2 -> at most 5 pods until the new ones are available."""
    w = fresh_world(10, 0, 1, 2, parallel=True, scale_max_unavailable=2)
    p = w.step(new_pods_ready=False)
    assert sorted(created(p)) == [3, 4]
    for _ in range(3):
        assert created(w.step(new_pods_ready=False)) == []
    assert len(w.pods) == 5
    w.make_ready("web-3")
    assert created(w.step(new_pods_ready=False)) == [5]
    w.make_ready("web-4")
    w.make_ready("web-5")
    assert sorted(created(w.step(new_pods_ready=False))) == [6, 7]


def test_scale_max_unavailable_from_zero() -> None:
    """unit: 5 replicas with S=2 from zero: 2 creates on the first pass, 3 pods once pod-1 is Ready."""
    w = fresh_world(5, parallel=True, scale_max_unavailable=2)
    assert sorted(created(w.step(new_pods_ready=False))) == [0, 1]
    assert created(w.step(new_pods_ready=False)) == []
    assert len(w.pods) == 2
    w.make_ready("web-1")
    assert created(w.step(new_pods_ready=False)) == [2]


def test_scale_max_unavailable_percent() -> None:
    w = fresh_world(10, parallel=True, scale_max_unavailable="30%")  # floor(3) = 3
    assert sorted(created(w.plan())) == [0, 1, 2]
    w = fresh_world(3, parallel=True, scale_max_unavailable="10%")  # floor(0.3) -> 1
    assert created(w.plan()) == [0]


def test_scale_max_unavailable_terminating_consumes_budget() -> None:
    w = fresh_world(4, 0, 1, parallel=True, scale_max_unavailable=1)
    w.pods["web-0"]["metadata"]["deletionTimestamp"] = "2025-01-01T12:00:00Z"
    assert created(w.plan()) == []


def test_scale_max_unavailable_failed_pods_use_the_budget() -> None:
    """§3.4 with our reading (docs/statefulset.md): each Failed pod uses one unit of the scale budget
    and is deleted while budget remains; once the walk has used it up, the rest wait for the next
    round. (Read literally, §3.4 would never replace a Failed pod under a budget of 1.)"""
    w = fresh_world(4, 0, 1, 2, parallel=True, scale_max_unavailable=2)
    for name in ("web-0", "web-1", "web-2"):
        w.pods[name]["status"]["phase"] = "Failed"
    p = w.plan()
    assert deleted(p, "failed") == ["web-0", "web-1"]
    assert created(p) == []


def test_scale_max_unavailable_update_phase_still_runs() -> None:
    w, _, _ = rolling_world(4, parallel=True, scale_max_unavailable=1, max_unavailable=2, missing={0})
    p = w.plan()
    assert created(p) == [0]
    # budget reached after the create; the update phase still runs (web-0 missing counts: 1 of 2)
    assert update_deletes(p) == ["web-3"]


# --------------------------------------------------------------------------------------------------
# revision of new pods (§3.3)


def test_image_update_and_scale_up() -> None:
    """unit test "image update and scale up": P=2, 3 -> 5 replicas -> pods 2, 3, 4 run the new image."""
    w, old, new = rolling_world(5, parallel=True, partition=2, missing={3, 4})
    p = w.step()
    assert {c.ordinal: c.pod["metadata"]["labels"][REVISION_LABEL] for c in p.creates} == {
        3: rname(new),
        4: rname(new),
    }
    run_until_stable(w)
    at = {o: w.pods[f"web-{o}"]["metadata"]["labels"][REVISION_LABEL] for o in range(5)}
    assert at == {0: rname(old), 1: rname(old), 2: rname(new), 3: rname(new), 4: rname(new)}
    assert w.pods["web-4"]["spec"]["containers"][0]["image"] == "nginx:2"


def test_image_update_and_scale_up_ordered_ready() -> None:
    w, _old, new = rolling_world(5, partition=2, missing={3, 4})
    run_until_stable(w)
    at = {o: w.pods[f"web-{o}"]["metadata"]["labels"][REVISION_LABEL] == rname(new) for o in range(5)}
    assert at == {0: False, 1: False, 2: True, 3: True, 4: True}


def test_new_pod_below_partition_gets_current_revision() -> None:
    w, old, new = rolling_world(4, parallel=True, partition=2, missing={0, 3})
    p = w.plan()
    assert {c.ordinal: c.pod["metadata"]["labels"][REVISION_LABEL] for c in p.creates} == {
        0: rname(old),
        3: rname(new),
    }


def test_partition_counts_slots_not_ordinals() -> None:
    """P1: reserve=[1], P=2: the slots are 0, 2, 3; position 1 (ordinal 2) is inside the partition."""
    w, old, new = rolling_world(3, parallel=True, partition=2, reserve=[1], missing={0, 1, 2})
    p = w.plan()
    assert {c.ordinal: c.pod["metadata"]["labels"][REVISION_LABEL] for c in p.creates} == {
        0: rname(old),
        2: rname(old),
        3: rname(new),
    }


def test_on_delete_new_pods_at_update_revision() -> None:
    w, _, new = rolling_world(3, parallel=True, on_delete=True, missing={0, 1, 2})
    p = w.plan()
    assert sorted(created(p)) == [0, 1, 2]
    assert {c.pod["metadata"]["labels"][REVISION_LABEL] for c in p.creates} == {rname(new)}


def test_unordered_new_pods_revision_counts_other_pods() -> None:
    """§3.3 unordered: currentRevision while fewer than `partition` other pods are not updated. Pods
    created in the same pass count as others (Kruise builds them one after another)."""
    prio = {
        "priorityStrategy": {"weightPriority": [{"weight": 1, "matchSelector": {"matchLabels": {"x": "y"}}}]}
    }
    w, old, new = rolling_world(3, parallel=True, partition=2, unordered=prio, missing={0, 1, 2})
    p = w.plan()
    assert {c.ordinal: c.pod["metadata"]["labels"][REVISION_LABEL] for c in p.creates} == {
        0: rname(old),
        1: rname(old),
        2: rname(new),
    }
    # `unorderedUpdate: {}` is unordered too
    w, old, new = rolling_world(3, parallel=True, partition=1, unordered={}, missing={0, 1, 2})
    p = w.plan()
    assert {c.ordinal: c.pod["metadata"]["labels"][REVISION_LABEL] for c in p.creates} == {
        0: rname(old),
        1: rname(new),
        2: rname(new),
    }
    w, old, new = rolling_world(3, parallel=True, partition=1, unordered={}, missing={2})
    p = w.plan()
    # two other pods are not updated: 2 >= 1 -> update revision
    assert p.creates[0].pod["metadata"]["labels"][REVISION_LABEL] == rname(new)


# --------------------------------------------------------------------------------------------------
# reserveOrdinals (§1.4)


def test_reserve_ordinals_field_comment_example() -> None:
    """replicas=3, reserve=[1], pods [0,1,2] -> pod-1 deleted, pod-3 created."""
    w = fresh_world(3, 0, 1, 2, parallel=True)
    w.sts["spec"]["reserveOrdinals"] = [1]
    p = w.step()
    assert deleted(p, "scale-down") == ["web-1"]
    assert created(p) == [3]
    run_until_stable(w)
    assert sorted(w.pods) == ["web-0", "web-2", "web-3"]


def test_reserve_ordinals_fewer_replicas_only_deletes() -> None:
    """reserve=[1] with replicas=2: only pod-1 is deleted."""
    w = fresh_world(2, 0, 1, 2, parallel=True)
    w.sts["spec"]["reserveOrdinals"] = [1]
    p = w.plan()
    assert deleted(p) == ["web-1"] and created(p) == []


@pytest.mark.parametrize("parallel", [False, True])
def test_reserve_ordinals_e2e_range_example(parallel: bool) -> None:
    """replicas=3, reserve=[0, "2-5"] -> pods 1, 6, 7."""
    w = fresh_world(3, parallel=parallel, reserve=[0, "2-5"])
    run_until_stable(w)
    assert sorted(w.pods) == ["web-1", "web-6", "web-7"]


def test_reserve_ordinals_ordered_ready_scale_down_of_reserved_pod() -> None:
    w = fresh_world(3, 0, 1, 2, reserve=[1])
    p = w.step()
    # OrderedReady: the missing slot 3 is created first (one per round), then the reserved pod goes
    assert created(p) == [3] and deleted(p) == []
    run_until_stable(w)
    assert sorted(w.pods) == ["web-0", "web-2", "web-3"]


def test_invalid_reserve_ordinals_reserve_nothing() -> None:
    w = fresh_world(2, 0, 1, parallel=True)
    w.sts["spec"]["reserveOrdinals"] = ["5-x"]
    p = w.plan()
    assert deleted(p) == [] and created(p) == []
    assert any(e[1] == "InvalidReserveOrdinals" for e in p.events)
