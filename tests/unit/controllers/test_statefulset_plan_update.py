"""Planner: rolling update (spec §3.1, §3.2, §2.7, §9 P3, P21, P23), table-driven from the spec's examples."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kruise_py.controllers.statefulset import plan as planner
from kruise_py.core import inplace
from kruise_py.core import lifecycle as lc
from kruise_py.core.revisions import REVISION_LABEL

from .builders import (
    NEW_IMAGE,
    NOW,
    OLD_IMAGE,
    kubelet_settle,
    make_pod,
    make_sts,
    pname,
    restart_containers,
    revision_of,
    rname,
    rolling_world,
    update_deletes,
    with_image,
)

# --------------------------------------------------------------------------------------------------
# sortPodsToUpdate (spec §3.1 unit examples)


def _pods_at(slots: list[int | None], sts: dict[str, Any], rev: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {o: make_pod(sts, o, rev) for o in slots if o is not None}


@pytest.mark.parametrize(
    ("slots", "n", "partition", "expected"),
    [
        # spec §3.1: P=2, N=3, slots [p0, ∅, p2, ∅, p4] -> [4]
        ([0, None, 2, None, 4], 3, 2, [4]),
        # spec §3.1: no strategy, N=3 -> [2, 1, 0]
        ([0, 1, 2], 3, 0, [2, 1, 0]),
        ([0, 1, 2], 3, 1, [2, 1]),
        ([0, 1, 2], 3, 3, []),
        ([0, 1, 2], 3, 5, []),
        # reserved slots are skipped, partition counts pods (P1): keep the 2 lowest pods
        ([0, None, 2, None, 4, 5], 4, 2, [5, 4]),
    ],
)
def test_order_to_update_ordered(
    slots: list[int | None], n: int, partition: int, expected: list[int]
) -> None:
    sts = make_sts(n)
    rev = revision_of(sts, 1)
    replicas = _pods_at(slots, sts, rev)
    order = planner._order_to_update(replicas, 0, len(slots), partition, n, {}, rname(rev))
    assert [int(pname(p).rsplit("-", 1)[1]) for p in order] == expected


def _priority_world() -> tuple[dict[int, dict[str, Any]], dict[str, Any], str]:
    """spec §3.1: N=10, P=6, weights k=v1:20, k=v2:10, pods 6 and 7 already updated."""
    strategy = {
        "priorityStrategy": {
            "weightPriority": [
                {"weight": 20, "matchSelector": {"matchLabels": {"k": "v1"}}},
                {"weight": 10, "matchSelector": {"matchLabels": {"k": "v2"}}},
            ]
        }
    }
    sts = make_sts(10, parallel=True, partition=6, max_unavailable=10, unordered=strategy)
    old = revision_of(with_image(sts, OLD_IMAGE), 1)
    new = revision_of(sts, 2)
    labels = {9: {"k": "v1"}, 8: {"k": "v2"}, 2: {"k": "v2"}}
    replicas = {o: make_pod(sts, o, new if o in (6, 7) else old, labels=labels.get(o)) for o in range(10)}
    return replicas, sts, rname(new)


def test_order_to_update_unordered_priority_example() -> None:
    replicas, sts, new = _priority_world()
    ru = sts["spec"]["updateStrategy"]["rollingUpdate"]
    order = planner._order_to_update(replicas, 0, 10, 6, 10, ru, new)
    # updated pods first (high to low), then by weight; ties keep high-ordinal-first (8 before 2)
    assert [pname(p) for p in order] == ["web-7", "web-6", "web-9", "web-8"]


def test_unordered_priority_plan_updates_9_then_8() -> None:
    w, _old, _new = rolling_world(
        10,
        parallel=True,
        partition=6,
        max_unavailable=10,
        updated={6, 7},
        unordered={
            "priorityStrategy": {
                "weightPriority": [
                    {"weight": 20, "matchSelector": {"matchLabels": {"k": "v1"}}},
                    {"weight": 10, "matchSelector": {"matchLabels": {"k": "v2"}}},
                ]
            }
        },
    )
    w.pods["web-9"]["metadata"]["labels"]["k"] = "v1"
    w.pods["web-8"]["metadata"]["labels"]["k"] = "v2"
    w.pods["web-2"]["metadata"]["labels"]["k"] = "v2"
    p = w.plan()
    assert update_deletes(p) == ["web-9", "web-8"]
    assert p.pod_plan["web-5"] == "untouched: partition"


def test_unordered_priority_orders_updates_under_max_unavailable_1() -> None:
    w, _, _ = rolling_world(
        10,
        parallel=True,
        partition=6,
        updated={6, 7},
        unordered={
            "priorityStrategy": {
                "weightPriority": [{"weight": 20, "matchSelector": {"matchLabels": {"k": "v1"}}}]
            }
        },
    )
    w.pods["web-3"]["metadata"]["labels"]["k"] = "v1"
    p = w.plan()
    # web-3 outranks the higher ordinals
    assert update_deletes(p) == ["web-3"]


# --------------------------------------------------------------------------------------------------
# the update loop


def test_ordered_recreate_deletes_highest_first() -> None:
    w, _, _ = rolling_world(3)
    p = w.plan()
    assert update_deletes(p) == ["web-2"]
    assert not p.creates and not p.error
    assert p.pod_plan["web-2"] == "recreate"
    assert p.pod_plan["web-1"].startswith("blocked: maxUnavailable")


def test_unit_scenario_n6_p3_maxu2_parallel() -> None:
    """spec §3.1: pass 1 deletes 5 and 4; when 4 is Ready again, 3; partition holds."""
    w, _, new = rolling_world(6, parallel=True, partition=3, max_unavailable=2)
    p1 = w.step(new_pods_ready=False)
    assert update_deletes(p1) == ["web-5", "web-4"]
    # pass 2: 4 and 5 come back (not ready yet): nothing more may be updated
    p2 = w.step(new_pods_ready=False)
    assert sorted(c.ordinal for c in p2.creates) == [4, 5]
    assert all(c.pod["metadata"]["labels"][REVISION_LABEL] == rname(new) for c in p2.creates)
    assert update_deletes(p2) == []
    p3 = w.step()
    assert update_deletes(p3) == []
    # pod 4 Ready again (5 still not): one unit of budget is free -> pod 3
    w.make_ready("web-4")
    p4 = w.step()
    assert update_deletes(p4) == ["web-3"]
    w.step()  # recreate 3
    w.make_ready("web-5")
    w.make_ready("web-3")
    p6 = w.step()
    assert update_deletes(p6) == [] and not p6.creates
    assert sorted(n for n, r in w.created) == ["web-3", "web-4", "web-5"]
    assert {o: w.pods[f"web-{o}"]["metadata"]["labels"][REVISION_LABEL] == rname(new) for o in range(6)} == {
        0: False,
        1: False,
        2: False,
        3: True,
        4: True,
        5: True,
    }
    assert p6.pod_plan == {
        "web-0": "untouched: partition",
        "web-1": "untouched: partition",
        "web-2": "untouched: partition",
    }


def test_stop_not_skip_when_budget_exhausted_at_available_pod() -> None:
    """P3: pod 4 is unavailable (budget full with maxU=1); pod 5 available -> STOP; 4 is never reached."""
    w, _, _ = rolling_world(6, parallel=True, ready={4: False})
    p = w.plan()
    assert update_deletes(p) == []
    assert p.pod_plan["web-5"].startswith("blocked: maxUnavailable 1")
    assert p.pod_plan["web-4"].startswith("blocked: maxUnavailable 1")


def test_already_unavailable_outdated_pod_updated_when_budget_full() -> None:
    """§3.1 consequence: the highest pod is unavailable and outdated -> it may be updated anyway."""
    w, _, _ = rolling_world(6, parallel=True, ready={5: False})
    p = w.plan()
    assert update_deletes(p) == ["web-5"]
    assert p.pod_plan["web-4"].startswith("blocked: maxUnavailable")


@pytest.mark.parametrize("max_unavailable", [1, 2])
def test_terminating_pod_outside_partition_blocks(max_unavailable: int) -> None:
    """RollingUpdateBlockByMaxUnavailable: a terminating pod-0 (inside the partition) consumes budget."""
    w, _, _ = rolling_world(6, parallel=True, partition=3, max_unavailable=max_unavailable, terminating={0})
    p = w.plan()
    expected = {1: [], 2: ["web-5"]}[max_unavailable]
    assert update_deletes(p) == expected


def test_unavailable_pod_inside_partition_counts() -> None:
    w, _, _ = rolling_world(6, parallel=True, partition=3, max_unavailable=2, ready={1: False})
    p = w.plan()
    assert update_deletes(p) == ["web-5"]


def test_terminating_outdated_pod_is_skipped_but_counts() -> None:
    w, _, _ = rolling_world(4, parallel=True, max_unavailable=2, terminating={3})
    p = w.plan()
    assert update_deletes(p) == ["web-2"]


def test_updated_pods_are_skipped_before_budget_check() -> None:
    """P3: pods already at updateRevision are skipped before the budget check."""
    w, _, _ = rolling_world(4, parallel=True, updated={3}, ready={3: False})
    p = w.plan()
    # budget full by web-3 (unavailable, updated): web-2 is available -> stop
    assert update_deletes(p) == []
    w2, _, _ = rolling_world(4, parallel=True, updated={3})
    assert update_deletes(w2.plan()) == ["web-2"]


@pytest.mark.parametrize(
    ("min_ready", "expected"),
    [(60, 1), (0, 2)],
)
def test_min_ready_seconds_limits_progress(min_ready: int, expected: int) -> None:
    """§3.1 unit test: 5 pods, maxU=1, P=0; after 3 passes: minReadySeconds=60 -> 1 pod updated, 0 -> 2."""
    w, _, _ = rolling_world(5, parallel=True, min_ready=min_ready)
    for _ in range(3):
        w.step(advance=10)
    updated = {n for n, reason in w.deleted if reason == "update"}
    assert len(updated) == expected
    if min_ready:
        assert w.plans[-1].requeue_after is not None and 0 < w.plans[-1].requeue_after <= 60


def test_min_ready_seconds_pod_becomes_available_after_wait() -> None:
    w, _, _ = rolling_world(3, min_ready=30)
    w.pods["web-2"]["status"]["conditions"][1]["lastTransitionTime"] = (NOW - timedelta(seconds=10)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    p = w.plan()
    # OrderedReady: pod-2 Ready for 10s < 30s blocks everything; requeue in 20s
    assert update_deletes(p) == [] and p.requeue_after == pytest.approx(20)
    w.now = NOW + timedelta(seconds=20)
    assert update_deletes(w.plan()) == ["web-2"]


def test_partition_ge_replicas_updates_nothing() -> None:
    w, _, _ = rolling_world(3, partition=3)
    p = w.plan()
    assert update_deletes(p) == [] and not p.pod_writes
    assert set(p.pod_plan.values()) == {"untouched: partition"}


def test_percent_max_unavailable_rounds_down_with_floor_one() -> None:
    w, _, _ = rolling_world(10, parallel=True, max_unavailable="25%")  # floor(2.5) = 2
    assert update_deletes(w.plan()) == ["web-9", "web-8"]
    w, _, _ = rolling_world(3, parallel=True, max_unavailable="10%")  # floor(0.3) = 0 -> 1
    assert update_deletes(w.plan()) == ["web-2"]


def test_paused_no_updates_but_scale_up_proceeds() -> None:
    w, _, new = rolling_world(5, parallel=True, paused=True, missing={3, 4}, max_unavailable=5)
    p = w.plan()
    assert update_deletes(p) == [] and not [x for x in p.pod_writes if x.reason == "inplace"]
    assert sorted(c.ordinal for c in p.creates) == [3, 4]
    assert all(c.pod["metadata"]["labels"][REVISION_LABEL] == rname(new) for c in p.creates)
    assert p.pod_plan["web-2"] == "blocked: paused"


def test_on_delete_never_updates() -> None:
    w, _, _ = rolling_world(3, on_delete=True)
    p = w.plan()
    assert not p.deletes and not p.pod_writes


# --------------------------------------------------------------------------------------------------
# podUpdatePolicy (§2.7)


def test_inplace_if_possible_image_change_patches_in_place() -> None:
    w, _, new = rolling_world(3, update_policy="InPlaceIfPossible")
    p = w.plan()
    assert not p.deletes and not p.error
    writes = [x for x in p.pod_writes if x.reason == "inplace"]
    assert [pname(x.pod) for x in writes] == ["web-2"]
    pw = writes[0]
    assert pw.revision == rname(new)
    assert len(pw.writes) == 2
    gate_write, pod_patch = pw.writes
    # 1. status write: gate False (StartInPlaceUpdate) and Ready False
    conds = {c["type"]: c for c in gate_write.status_conditions or []}
    assert conds[inplace.INPLACE_UPDATE_READY]["status"] == "False"
    assert conds[inplace.INPLACE_UPDATE_READY]["reason"] == "StartInPlaceUpdate"
    assert conds["Ready"]["status"] == "False"
    assert gate_write.pod_patch() is None
    # 2. one pod patch: new revision label, lifecycle Updating, the new image, the state annotation
    patch = pod_patch.pod_patch()
    assert patch is not None and not pod_patch.status_conditions
    assert patch["metadata"]["labels"][REVISION_LABEL] == rname(new)
    # with or without spec.lifecycle, a pod with a state moves to Updating in this same patch
    assert patch["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Updating"
    assert "lifecycle.apps.kruise.io/timestamp" in patch["metadata"]["annotations"]
    assert patch["spec"]["containers"] == [{"name": "main", "image": NEW_IMAGE}]
    assert inplace.STATE_ANNOTATION in patch["metadata"]["annotations"]
    assert p.pod_plan["web-2"] == "in place"


def test_inplace_with_lifecycle_moves_state_to_updating() -> None:
    w, _, _ = rolling_world(
        3,
        parallel=True,
        update_policy="InPlaceIfPossible",
        lifecycle={"preDelete": {"labelsHandler": {"hold": "true"}}},
    )
    p = w.plan()
    pw = next(x for x in p.pod_writes if x.reason == "inplace")
    patch = pw.writes[-1].pod_patch()
    assert patch is not None
    assert patch["metadata"]["labels"]["lifecycle.apps.kruise.io/state"] == "Updating"
    assert "lifecycle.apps.kruise.io/timestamp" in patch["metadata"]["annotations"]


@pytest.mark.parametrize("lifecycle", [None, {"preDelete": {"labelsHandler": {"hold": "true"}}}])
def test_inplace_update_completes_and_rollout_continues(lifecycle: dict[str, Any] | None) -> None:
    w, _, new = rolling_world(3, parallel=True, update_policy="InPlaceIfPossible", lifecycle=lifecycle)
    w.step()
    assert w.inplace == ["web-2"]
    assert w.pods["web-2"]["spec"]["containers"][0]["image"] == NEW_IMAGE
    assert w.pods["web-2"]["metadata"]["labels"][lc.STATE_LABEL] == lc.UPDATING
    # the kubelet has not restarted the container yet: in progress (unavailable), nothing else is updated
    p = w.step()
    assert not [x for x in p.pod_writes if x.reason == "inplace"] and not p.deletes
    # the container restarted: one status write sets the gate True and moves the state on
    # (Normal without spec.lifecycle, Updated with it: refreshPodState)
    restart_containers(w.pods["web-2"])
    p = w.step()
    assert [(pname(x.pod), x.reason) for x in p.pod_writes] == [("web-2", "refresh")]
    (gate_true,) = p.pod_writes[0].writes
    assert gate_true.pod_patch() is None and gate_true.status_conditions
    assert gate_true.status_conditions[0]["status"] == "True"
    after = lc.NORMAL if lifecycle is None else lc.UPDATED
    assert (gate_true.status_metadata or {})["labels"] == {lc.STATE_LABEL: after}
    kubelet_settle(w.pods["web-2"], w.now)
    # lifecycle set, inPlaceUpdate nil: Updated lasts one round, then Normal (a write of its own)
    while w.pods["web-2"]["metadata"]["labels"][lc.STATE_LABEL] != lc.NORMAL:
        p = w.step()
        assert not [x for x in p.pod_writes if x.reason == "inplace"]
    p = w.step()
    assert [pname(x.pod) for x in p.pod_writes if x.reason == "inplace"] == ["web-1"]
    assert w.pods["web-2"]["metadata"]["labels"][REVISION_LABEL] == rname(new)


def test_inplace_if_possible_env_change_recreates() -> None:
    w, _, _ = rolling_world(3, update_policy="InPlaceIfPossible", old_env=[{"name": "A", "value": "1"}])
    p = w.plan()
    assert update_deletes(p) == ["web-2"]
    assert not [x for x in p.pod_writes if x.reason == "inplace"]


def test_inplace_only_non_image_change_is_an_error() -> None:
    w, _, _ = rolling_world(3, update_policy="InPlaceOnly", old_env=[{"name": "A", "value": "1"}])
    p = w.plan()
    assert p.error == "find strategy is InPlaceOnly but Pod web-2 can not update in-place"
    assert not p.deletes and not [x for x in p.pod_writes if x.reason == "inplace"]
    assert ("Warning", "FailedUpdatePodInPlace", p.error) in p.events


def test_inplace_only_image_change_is_in_place() -> None:
    w, _, _ = rolling_world(3, update_policy="InPlaceOnly")
    p = w.plan()
    assert p.error is None and [pname(x.pod) for x in p.pod_writes if x.reason == "inplace"] == ["web-2"]


def test_recreate_policy_deletes_even_for_image_change() -> None:
    w, _, _ = rolling_world(3, update_policy="ReCreate")
    p = w.plan()
    assert update_deletes(p) == ["web-2"] and not [x for x in p.pod_writes if x.reason == "inplace"]


def test_inplace_old_revision_missing_recreates() -> None:
    """P7: without the pod's own revision in-place is impossible -> recreate."""
    w, old, _ = rolling_world(3, update_policy="InPlaceIfPossible")
    w.revisions = [r for r in w.revisions if rname(r) != rname(old)]
    p = w.plan()
    assert update_deletes(p) == ["web-2"]


@pytest.mark.parametrize("gate", [True, False])
def test_inplace_grace_period_defers_image(gate: bool) -> None:
    w, _, new = rolling_world(3, update_policy="InPlaceIfPossible", gate=gate)
    w.sts["spec"]["updateStrategy"]["rollingUpdate"]["inPlaceUpdateStrategy"] = {"gracePeriodSeconds": 15}
    p = w.plan()
    pw = next(x for x in p.pod_writes if x.reason == "inplace")
    # one write starts the grace period: with the gate, the status write (gate False) carries the
    # revision label, Updating and the grace annotation; without it, a pod patch does
    (start,) = pw.writes
    if gate:
        assert start.pod_patch() is None and start.status_conditions
        meta = start.status_metadata or {}
    else:
        patch = start.pod_patch()
        assert patch is not None and "spec" not in patch and not start.status_conditions
        meta = patch["metadata"]
    assert meta["labels"][REVISION_LABEL] == rname(new)
    assert meta["labels"][lc.STATE_LABEL] == lc.UPDATING
    assert inplace.GRACE_ANNOTATION in meta["annotations"]
    assert p.requeue_after == 15


# --------------------------------------------------------------------------------------------------
# specified delete (§3.2, P23)

SPEC_DEL = {"apps.kruise.io/specified-delete": "true"}


def test_specified_delete_bypasses_partition() -> None:
    w, _, _ = rolling_world(4, partition=4)
    w.pods["web-1"]["metadata"]["labels"].update(SPEC_DEL)
    p = w.plan()
    assert [(pname(d.pod), d.reason) for d in p.deletes] == [("web-1", "specified-delete")]


def test_specified_delete_of_updated_pod() -> None:
    w, _, _ = rolling_world(3, partition=3, updated={0})
    w.pods["web-0"]["metadata"]["labels"].update(SPEC_DEL)
    p = w.plan()
    assert [(pname(d.pod), d.reason) for d in p.deletes] == [("web-0", "specified-delete")]


def test_specified_delete_limited_by_max_unavailable_skips_not_stops() -> None:
    """maxU=1, pod 2 unavailable and labelled; 3 and 1 labelled and available: only 2 is deleted; the walk
    goes on past 3 (skip, not stop) but 1 is over budget too."""
    w, _, _ = rolling_world(4, parallel=True, partition=4, ready={2: False})
    for o in (1, 2, 3):
        w.pods[f"web-{o}"]["metadata"]["labels"].update(SPEC_DEL)
    p = w.plan()
    assert [(pname(d.pod), d.reason) for d in p.deletes] == [("web-2", "specified-delete")]
    assert p.pod_plan["web-3"] == "blocked: specified-delete waits for maxUnavailable"
    assert p.pod_plan["web-1"] == "blocked: specified-delete waits for maxUnavailable"


def test_specified_delete_skip_continues_to_unavailable_pod() -> None:
    """The highest labelled pod is over budget (skipped); a lower one that is already unavailable is
    still deleted (skip, not stop)."""
    w, _, _ = rolling_world(4, parallel=True, partition=4, ready={1: False})
    for o in (1, 3):
        w.pods[f"web-{o}"]["metadata"]["labels"].update(SPEC_DEL)
    p = w.plan()
    assert [pname(d.pod) for d in p.deletes] == ["web-1"]


def test_specified_delete_consumes_budget_of_rolling_update() -> None:
    w, _, _ = rolling_world(4, parallel=True, max_unavailable=2)
    w.pods["web-0"]["metadata"]["labels"].update(SPEC_DEL)
    p = w.plan()
    assert [(pname(d.pod), d.reason) for d in p.deletes] == [
        ("web-0", "specified-delete"),
        ("web-3", "update"),
    ]


def test_specified_delete_recreated_pod_revision() -> None:
    """§3.2: P=2, N=4: a recreated pod-1 gets currentRevision and a recreated pod-2 gets updateRevision."""
    w, old, new = rolling_world(4, parallel=True, partition=2, max_unavailable=2, missing={1, 2}, updated={3})
    p = w.plan()
    revs = {c.ordinal: c.pod["metadata"]["labels"][REVISION_LABEL] for c in p.creates}
    assert revs == {1: rname(old), 2: rname(new)}


def test_min_ready_requeue_for_unavailable_ready_pod() -> None:
    w, _, _ = rolling_world(3, parallel=True, min_ready=60, updated={2})
    w.pods["web-2"]["status"]["conditions"][1]["lastTransitionTime"] = (NOW - timedelta(seconds=50)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    p = w.plan()
    assert update_deletes(p) == []
    assert p.requeue_after == pytest.approx(10)


def test_new_template_creates_revision() -> None:
    sts = make_sts(2)
    old = revision_of(with_image(sts, OLD_IMAGE), 1)
    sts["status"] = {"currentRevision": rname(old), "collisionCount": 0}
    from .builders import World

    w = World(sts, revisions=[old]).add(make_pod(sts, 0, old), make_pod(sts, 1, old))
    p = w.plan()
    assert p.revision_create is not None and p.revision_create["revision"] == 2
    assert p.update_revision == rname(p.revision_create) != rname(old)
    assert p.current_revision == rname(old)
    assert update_deletes(p) == ["web-1"]


@pytest.mark.parametrize(("unordered", "expected"), [(None, ["web-2", "web-1"]), ({}, ["web-2"])])
def test_empty_unordered_update_is_unordered(unordered: dict[str, Any] | None, expected: list[str]) -> None:
    """`unorderedUpdate: {}` (no priorityStrategy) selects the unordered sort: updated pods go first
    (pod-0 here, inside the partition) and the list is cut at N-P, so only web-2 is left to update."""
    w, _, _ = rolling_world(
        3, parallel=True, partition=1, max_unavailable=3, updated={0}, unordered=unordered
    )
    assert update_deletes(w.plan()) == expected
