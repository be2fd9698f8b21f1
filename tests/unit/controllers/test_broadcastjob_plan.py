"""BroadcastJob planner: the unit-test expectations of spec §4.6, phases, failure policies, deadline,
TTL, completion (P13) and the frozen status of a finished job."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kruise_py.controllers.broadcastjob import plan as planner

from .bcj_builders import (
    NOW,
    World,
    created_nodes,
    deleted,
    make_job,
    make_node,
    make_pod,
    nodes,
    plan_of,
    reasons,
    ts,
)

# --------------------------------------------------------------------------------------------------
# The seven unit-test expectations of spec §4.6


def test_failfast_with_a_failed_pod_fails_the_job() -> None:
    job = make_job(failure="FailFast")
    ns = nodes(3)
    pods = [
        make_pod(job, "node-0", "Succeeded"),
        make_pod(job, "node-1", "Succeeded"),
        make_pod(job, "node-2", "Failed"),
    ]
    p = plan_of(job, pods, ns)
    st = p.status
    assert st is not None
    assert st["phase"] == "failed"
    assert (st["desired"], st["succeeded"], st["failed"], st["active"]) == (3, 2, 1, 0)
    assert st["conditions"][-1]["type"] == "Failed"
    assert st["conditions"][-1]["reason"] == "Failed"
    assert st["conditions"][-1]["status"] == "True"
    assert st["conditions"][-1]["message"] == planner.FAILFAST_MESSAGE
    assert st["completionTime"] == ts(NOW)
    assert not p.creates and not p.deletes
    assert p.events == [
        ("Warning", "failed pod is found", f"{planner.FAILFAST_MESSAGE}: 2 pods succeeded, 1 pods failed")
    ]


def test_continue_keeps_running_and_places_the_missing_pod() -> None:
    job = make_job(failure="Continue")
    pods = [make_pod(job, "node-0", "Succeeded"), make_pod(job, "node-1", "Failed")]
    p = plan_of(job, pods, nodes(3))
    assert p.status is not None
    assert p.status["phase"] == "running"
    assert (p.status["succeeded"], p.status["failed"], p.status["active"]) == (1, 1, 1)
    assert created_nodes(p) == ["node-2"]
    assert "conditions" not in p.status


def test_pause_policy_pauses_without_creating() -> None:
    job = make_job(failure="Pause")
    pods = [make_pod(job, "node-0", "Succeeded"), make_pod(job, "node-1", "Failed")]
    p = plan_of(job, pods, nodes(3))
    assert p.status is not None
    assert p.status["phase"] == "paused"
    assert p.status["active"] == 0
    assert not p.creates
    assert p.paused_spec is True
    assert p.events == [("Warning", "Paused", "job is paused, due to failed pod")]


def test_paused_job_creates_nothing() -> None:
    job = make_job(paused=True, parallelism="50%", status={"phase": "running", "startTime": ts(NOW)})
    pods = [make_pod(job, f"node-{i}") for i in range(3)]
    p = plan_of(job, pods, nodes(10))
    assert p.status is not None
    assert (p.status["phase"], p.status["desired"], p.status["active"]) == ("paused", 10, 3)
    assert not p.creates and not p.deletes and not p.events


def test_parallelism_limits_creation() -> None:
    job = make_job(parallelism=2)
    p = plan_of(job, [make_pod(job, "node-0")], nodes(3))
    assert created_nodes(p) == ["node-1"]
    assert p.status is not None
    assert (p.status["active"], p.status["desired"]) == (2, 3)

    job = make_job(parallelism="40%")  # 40% of 5 desired = 2, rounded up
    p = plan_of(job, [make_pod(job, "node-0")], nodes(5))
    assert created_nodes(p) == ["node-1"]


def test_zero_deadline_fails_and_deletes_running_pods() -> None:
    job = make_job(deadline=0)
    pods = [make_pod(job, "node-0"), make_pod(job, "node-1")]
    p = plan_of(job, pods, nodes(2))
    assert sorted(deleted(p)) == [("bcj-node-0", "deadline"), ("bcj-node-1", "deadline")]
    assert p.status is not None
    assert (p.status["phase"], p.status["failed"], p.status["active"]) == ("failed", 2, 0)
    assert p.status["conditions"][-1]["type"] == "Failed"
    assert p.events == [
        (
            "Warning",
            "DeadlineExceeded",
            "Job default/bcj was active longer than specified deadline: 0 pods succeeded, 2 pods failed",
        )
    ]
    assert not p.creates


def test_unschedulable_node_gets_no_pod() -> None:
    job = make_job()
    p = plan_of(job, [], [make_node("cordoned", unschedulable=True), make_node("normal")])
    assert created_nodes(p) == ["normal"]
    assert p.status is not None and p.status["desired"] == 1


# --------------------------------------------------------------------------------------------------
# First reconcile, status writes, timestamps


def test_first_reconcile_sets_start_time_phase_and_deadline_requeue() -> None:
    job = make_job(deadline=600)
    p = plan_of(job, [], nodes(2), now=NOW + timedelta(microseconds=400_000))
    assert p.status is not None
    assert p.status["startTime"] == "2025-01-01T12:00:00Z"
    assert p.status["phase"] == "running"
    assert (p.status["active"], p.status["desired"], p.status["failed"], p.status["succeeded"]) == (
        2,
        2,
        0,
        0,
    )
    # Requeue for the deadline from the stored (truncated) startTime.
    assert p.requeue_after == pytest.approx(599.6)


def test_status_written_only_when_changed() -> None:
    w = World(make_job(), nodes(2))
    assert w.step().status is not None
    for n in ("node-0", "node-1"):
        w.set_phase(n, "Running")
    w.tick(5)
    p = w.step()
    assert p.status is None and not p.creates and not p.events


def test_status_always_carries_counts() -> None:
    p = plan_of(make_job(), [], [])
    assert p.status is not None
    assert {k: p.status[k] for k in ("active", "succeeded", "failed", "desired")} == {
        "active": 0,
        "succeeded": 0,
        "failed": 0,
        "desired": 0,
    }


# --------------------------------------------------------------------------------------------------
# Completion


def test_job_completes_when_every_desired_node_has_a_finished_pod() -> None:
    w = World(make_job(), nodes(3))
    w.step()
    for n in ("node-0", "node-1", "node-2"):
        w.set_phase(n, "Running")
    assert w.step().status is None
    w.set_phase("node-0", "Succeeded")
    w.set_phase("node-1", "Succeeded")
    p = w.step()
    assert p.status is not None and p.status["phase"] == "running"
    w.set_phase("node-2", "Succeeded")
    w.tick(10)
    p = w.step()
    st = p.status
    assert st is not None
    assert st["phase"] == "completed"
    assert (st["succeeded"], st["failed"], st["active"]) == (3, 0, 0)
    assert st["completionTime"] == ts(w.now)
    assert st["conditions"] == [
        {
            "type": "Complete",
            "status": "True",
            "lastProbeTime": ts(w.now),
            "lastTransitionTime": ts(w.now),
            "reason": "Complete",
            "message": "Job completed, 3 pods succeeded, 0 pods failed",
        }
    ]
    assert p.events == [
        ("Normal", "JobComplete", "Job default/bcj is completed, 3 pods succeeded, 0 pods failed")
    ]
    assert p.requeue_after is None  # no TTL


def test_completion_counts_failed_pods_under_continue() -> None:
    job = make_job(failure="Continue")
    p = plan_of(job, [make_pod(job, "node-0", "Succeeded"), make_pod(job, "node-1", "Failed")], nodes(2))
    assert p.status is not None and p.status["phase"] == "completed"
    assert p.status["conditions"][-1]["message"] == "Job completed, 1 pods succeeded, 1 pods failed"
    assert reasons(p) == ["JobComplete"]


def test_terminating_pod_counts_as_finished_for_completion() -> None:
    job = make_job()
    pods = [make_pod(job, "node-0", "Succeeded"), make_pod(job, "node-1", deleting=True)]
    p = plan_of(job, pods, nodes(2))
    assert p.status is not None
    assert p.status["phase"] == "completed"
    assert (p.status["active"], p.status["succeeded"]) == (0, 1)  # the terminating pod is ignored


def test_over_restart_pod_is_still_active_for_completion() -> None:
    job = make_job(restart_policy="OnFailure", restart_limit=1, failure="Continue")
    pods = [make_pod(job, "node-0", "Succeeded"), make_pod(job, "node-1", restarts=2)]
    p = plan_of(job, pods, nodes(2))
    assert p.status is not None
    assert p.status["failed"] == 1 and p.status["active"] == 0
    assert p.status["phase"] == "running"  # its pod is still running


def test_no_desired_node_never_completes() -> None:
    """P13: with no matching node the job stays running, even Always."""
    job = make_job(spec={"nodeSelector": {"role": "gpu"}})
    p = plan_of(job, [], nodes(3))
    assert p.status is not None
    assert (p.status["phase"], p.status["desired"]) == ("running", 0)
    assert not p.creates and p.requeue_after is None
    # ... until a node matches.
    w = World(job, nodes(2))
    w.step()
    w.nodes[1]["metadata"]["labels"]["role"] = "gpu"
    p = w.step()
    assert created_nodes(p) == ["node-1"]
    w.set_phase("node-1", "Succeeded")
    assert w.step().status["phase"] == "completed"  # type: ignore[index]


def test_never_jobs_do_not_complete_and_place_pods_on_new_nodes() -> None:
    w = World(make_job(completion="Never", deadline=10, ttl=0), nodes(2))
    w.step()
    for n in ("node-0", "node-1"):
        w.set_phase(n, "Succeeded")
    w.tick(3600)
    p = w.step()
    assert p.status is not None
    assert p.status["phase"] == "running" and "conditions" not in p.status  # no deadline for Never
    assert p.requeue_after is None
    w.nodes.append(make_node("node-new"))
    p = w.step()
    assert created_nodes(p) == ["node-new"]
    w.set_phase("node-new", "Succeeded")
    p = w.step()
    assert p.status is not None and p.status["phase"] == "running" and p.status["succeeded"] == 3


def test_user_deleted_pod_is_recreated_while_running() -> None:
    w = World(make_job(), nodes(2))
    w.step()
    victim = w.pod_on("node-1")["metadata"]["name"]
    del w.pods[victim]
    p = w.step()
    assert created_nodes(p) == ["node-1"]


# --------------------------------------------------------------------------------------------------
# Finished jobs: frozen status, TTL


def _completed_world(ttl: int | None) -> World:
    w = World(make_job(ttl=ttl), nodes(2))
    w.step()
    for n in ("node-0", "node-1"):
        w.set_phase(n, "Succeeded")
    p = w.step()
    assert p.status is not None and p.status["phase"] == "completed"
    return w


def test_completed_job_status_is_frozen() -> None:
    w = _completed_world(None)
    frozen = dict(w.status)
    w.set_phase("node-0", "Failed")
    w.nodes.append(make_node("node-late"))
    w.tick(60)
    p = w.step()
    assert p.status is None and not p.creates and not p.deletes and not p.events
    assert p.requeue_after is None and not p.delete_job
    assert w.status == frozen


def test_ttl_requeues_then_deletes_the_job() -> None:
    w = World(make_job(ttl=100), nodes(1))
    w.step()
    w.set_phase("node-0", "Succeeded")
    p = w.step()
    assert p.status is not None and p.status["phase"] == "completed"
    assert p.requeue_after == 101  # TTL + 1 s
    w.tick(40)
    p = w.step()
    assert p.status is None and not p.delete_job
    assert p.requeue_after == pytest.approx(60)
    w.tick(60)
    p = w.step()
    assert p.delete_job and p.status is None
    assert w.job_deleted


def test_ttl_zero_deletes_on_next_reconcile() -> None:
    w = _completed_world(0)
    assert w.plans[-1].requeue_after == 1
    w.tick(1)
    assert w.step().delete_job


def test_ttl_applies_to_failed_jobs() -> None:
    job = make_job(ttl=30)
    p = plan_of(job, [make_pod(job, "node-0", "Failed")], nodes(1))
    assert p.status is not None and p.status["phase"] == "failed"
    assert p.requeue_after == 31
    job["status"] = p.status
    assert plan_of(job, [], nodes(1), now=NOW + timedelta(seconds=30)).delete_job


def test_finished_job_with_ttl_but_no_completion_time_is_left_alone() -> None:
    job = make_job(
        ttl=5, status={"phase": "completed", "conditions": [{"type": "Complete", "status": "True"}]}
    )
    p = plan_of(job, [], nodes(1), now=NOW + timedelta(days=1))
    assert not p.delete_job and p.requeue_after is None and p.status is None


# --------------------------------------------------------------------------------------------------
# Deadline


def test_deadline_fails_a_job_whose_pods_never_finish() -> None:
    w = World(make_job(deadline=60), nodes(3))
    p = w.step()
    assert len(p.creates) == 3 and p.requeue_after == 60
    for n in ("node-0", "node-1"):
        w.set_phase(n, "Running")
    w.set_phase("node-2", "Succeeded")
    w.tick(45)
    p = w.step()
    assert p.requeue_after == pytest.approx(15)  # the timed requeue that makes the deadline fire
    assert not p.deletes
    w.tick(15)
    p = w.step()
    assert sorted(r for _, r in deleted(p)) == ["deadline", "deadline"]
    st = p.status
    assert st is not None
    assert (st["phase"], st["active"], st["failed"], st["succeeded"]) == ("failed", 0, 2, 1)
    assert st["conditions"][-1]["type"] == "Failed"
    assert st["conditions"][-1]["message"] == "Job default/bcj was active longer than specified deadline"
    assert st["completionTime"] == ts(w.now)
    assert reasons(p) == ["DeadlineExceeded"]
    assert p.requeue_after is None  # no TTL


def test_deadline_is_not_checked_while_paused() -> None:
    job = make_job(deadline=0, paused=True)
    p = plan_of(job, [make_pod(job, "node-0")], nodes(1), now=NOW + timedelta(hours=1))
    assert p.status is not None and p.status["phase"] == "paused"
    assert not p.deletes and p.requeue_after is None


# --------------------------------------------------------------------------------------------------
# Failure policies, pause and continue


def test_failfast_deletes_active_pods_but_not_over_restart_ones() -> None:
    """P10: an over-restart pod counts as failed and keeps running; active pods are deleted."""
    job = make_job(restart_policy="OnFailure", restart_limit=2, failure="FailFast")
    pods = [
        make_pod(job, "node-0", restarts=2, init_restarts=1),  # 3 > 2: failed
        make_pod(job, "node-1", restarts=2),  # 2: not over the limit
        make_pod(job, "node-2", "Succeeded"),
    ]
    p = plan_of(job, pods, nodes(3))
    assert deleted(p) == [("bcj-node-1", "failfast")]
    assert p.status is not None
    assert (p.status["phase"], p.status["failed"], p.status["active"], p.status["succeeded"]) == (
        "failed",
        2,
        0,
        1,
    )
    assert p.events == [
        ("Warning", "failed pod is found", f"{planner.FAILFAST_MESSAGE}: 1 pods succeeded, 2 pods failed")
    ]


def test_restart_limit_only_for_on_failure_pods() -> None:
    job = make_job(restart_policy="Never", failure="FailFast")
    p = plan_of(job, [make_pod(job, "node-0", restarts=5)], nodes(1))
    assert p.status is not None and p.status["phase"] == "running" and p.status["active"] == 1


def test_pause_is_persisted_and_stays_quiet() -> None:
    """P9 decision: spec.paused is persisted, so the next reconcile is quietly paused."""
    w = World(make_job(failure="Pause"), nodes(3))
    w.step()
    w.set_phase("node-0", "Failed")
    p = w.step()
    assert p.paused_spec and reasons(p) == ["Paused"]
    assert w.job["spec"]["paused"] is True
    assert w.status["phase"] == "paused"
    for _ in range(3):
        p = w.step()
        assert not p.events and not p.paused_spec and p.status is None and not p.creates
    assert w.status["phase"] == "paused"


def test_unpausing_emits_continue() -> None:
    w = World(make_job(paused=True), nodes(2))
    p = w.step()
    assert w.status["phase"] == "paused" and not p.creates
    w.job["spec"]["paused"] = False
    p = w.step()
    assert p.events == [("Normal", "Continue", "continue to process job")]
    assert w.status["phase"] == "running" and len(p.creates) == 2


def test_unpausing_with_failed_pods_under_pause_pauses_again() -> None:
    w = World(make_job(failure="Pause"), nodes(2))
    w.step()
    w.set_phase("node-0", "Failed")
    w.step()
    w.job["spec"]["paused"] = False  # the user resumes
    p = w.step()
    assert reasons(p) == ["Continue", "Paused"]
    assert p.paused_spec and w.status["phase"] == "paused"


def test_continue_policy_ignores_failures() -> None:
    job = make_job(failure="Continue")
    p = plan_of(job, [make_pod(job, "node-0", "Failed"), make_pod(job, "node-1")], nodes(2))
    assert p.status is not None and p.status["phase"] == "running"
    assert not p.events and not p.deletes


def test_failed_never_job_only_refreshes_counts() -> None:
    """A Never job can still fail by FailFast; afterwards only its counts move."""
    w = World(make_job(completion="Never"), nodes(2))
    w.step()
    w.set_phase("node-0", "Failed")
    p = w.step()
    assert w.status["phase"] == "failed" and reasons(p) == ["failed pod is found"]
    assert deleted(p) and deleted(p)[0][1] == "failfast"
    w.nodes.append(make_node("node-new"))
    p = w.step()
    assert not p.creates and not p.events
    assert w.status["phase"] == "failed"
    assert w.status["desired"] == 3  # node-1 is free again after the deletion, and node-new
    assert (w.status["failed"], w.status["active"]) == (1, 0)


def test_job_being_deleted_creates_nothing() -> None:
    job = make_job(deleting=True)
    p = plan_of(job, [], nodes(2))
    assert not p.creates
    assert p.status is not None and p.status["desired"] == 2
