"""BroadcastJob planner: pod shape and binding (spec §4.5), parallelism (P2), which pods count
(§4.6 steps 3-4), counting quirks (P10) and re-checking existing pods on their real spec (P12)."""

from __future__ import annotations

import pytest

from kruise_py.controllers.broadcastjob import plan as planner

from .bcj_builders import (
    JOB_UID,
    World,
    created_nodes,
    deleted,
    make_job,
    make_node,
    make_pod,
    nodes,
    plan_of,
    reasons,
)

# --------------------------------------------------------------------------------------------------
# Pod shape (§4.5)


def test_new_pod_shape() -> None:
    preferred = [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "z", "operator": "In", "values": ["a"]}]}}
    ]
    pod_anti = {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "bcj"}}, "topologyKey": "kubernetes.io/hostname"}
        ]
    }
    job = make_job(
        labels={"app": "bcj", "tier": "batch"},
        annotations={"note": "x"},
        spec={
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}
                        ]
                    },
                    "preferredDuringSchedulingIgnoredDuringExecution": preferred,
                },
                "podAntiAffinity": pod_anti,
            },
            "nodeSelector": {"role": "worker"},
        },
    )
    pod = planner.new_pod(job, "node-3")
    md = pod["metadata"]
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
    assert md["generateName"] == "bcj-" and "name" not in md
    assert md["namespace"] == "default"
    assert md["labels"] == {
        "app": "bcj",
        "tier": "batch",
        "broadcastjob-name": "bcj",
        "broadcastjob-controller-uid": JOB_UID,
    }
    assert md["annotations"] == {"note": "x"}
    assert md["ownerReferences"] == [
        {
            "apiVersion": "apps.kruise.io/v1beta1",
            "kind": "BroadcastJob",
            "name": "bcj",
            "uid": JOB_UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    na = pod["spec"]["affinity"]["nodeAffinity"]
    assert na["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-3"]}]}
        ]
    }
    assert na["preferredDuringSchedulingIgnoredDuringExecution"] == preferred
    assert pod["spec"]["affinity"]["podAntiAffinity"] == pod_anti
    assert pod["spec"]["nodeSelector"] == {"role": "worker"}
    assert "nodeName" not in pod["spec"]
    # The job's template is untouched.
    tmpl = job["spec"]["template"]
    assert "broadcastjob-name" not in tmpl["metadata"]["labels"]
    assert tmpl["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]["matchExpressions"]


def test_new_pod_without_any_affinity() -> None:
    pod = planner.new_pod(make_job(labels={}), "n")
    assert pod["spec"]["affinity"] == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}
                ]
            }
        }
    }
    assert pod["metadata"]["labels"] == {"broadcastjob-name": "bcj", "broadcastjob-controller-uid": JOB_UID}
    assert "annotations" not in pod["metadata"]


def test_creates_follow_node_order() -> None:
    ns = [make_node(n) for n in ("zeta", "alpha", "mid")]
    p = plan_of(make_job(), [], ns)
    assert created_nodes(p) == ["zeta", "alpha", "mid"]
    assert p.nodes_needing_pod == ["zeta", "alpha", "mid"] == p.desired_nodes


# --------------------------------------------------------------------------------------------------
# Parallelism (P2: percent of desired, rounded up)


@pytest.mark.parametrize(
    ("value", "desired", "expected"),
    [
        (None, 5, 2**31 - 1),
        (3, 10, 3),
        (0, 10, 0),
        ("50%", 3, 2),
        ("40%", 5, 2),
        ("10%", 1, 1),
        ("0%", 9, 0),
        ("100%", 7, 7),
        ("33%", 10, 4),
        ("50%", 0, 0),
    ],
)
def test_resolve_parallelism(value: int | str | None, desired: int, expected: int) -> None:
    job = make_job(parallelism=value)
    if value is None:
        del job["spec"]["parallelism"]
    assert planner.resolve_parallelism(job, desired) == expected


def test_default_parallelism_places_everywhere() -> None:
    p = plan_of(make_job(), [], nodes(20))
    assert len(p.creates) == 20
    assert p.status is not None and p.status["active"] == 20


def test_parallelism_reached_creates_nothing() -> None:
    job = make_job(parallelism=2)
    p = plan_of(job, [make_pod(job, "node-0"), make_pod(job, "node-1")], nodes(4))
    assert not p.creates and not p.events
    assert p.status is not None and p.status["active"] == 2


def test_too_many_active_pods() -> None:
    job = make_job(parallelism=1)
    p = plan_of(job, [make_pod(job, "node-0"), make_pod(job, "node-1")], nodes(3))
    assert not p.creates
    assert p.events == [("Warning", "TooManyActivePods", "Number of active pods exceed parallelism limit")]


def test_finished_pods_free_parallelism() -> None:
    w = World(make_job(parallelism=2), nodes(5))
    assert created_nodes(w.step()) == ["node-0", "node-1"]
    w.set_phase("node-0", "Succeeded")
    assert created_nodes(w.step()) == ["node-2"]
    w.set_phase("node-1", "Succeeded")
    w.set_phase("node-2", "Succeeded")
    assert created_nodes(w.step()) == ["node-3", "node-4"]


def test_invalid_parallelism_creates_nothing() -> None:
    job = make_job(parallelism="lots")
    p = plan_of(job, [], nodes(2))
    assert not p.creates
    assert any("invalid parallelism" in n for n in p.notes)


# --------------------------------------------------------------------------------------------------
# Which pods count (steps 3-4)


def test_only_pods_of_this_job_count() -> None:
    job = make_job()
    other = make_job(name="other", uid="uid-other")
    mine = make_pod(job, "node-0")
    foreign = make_pod(other, "node-1")
    relabeled = make_pod(job, "node-2")
    relabeled["metadata"]["labels"].pop("broadcastjob-name")
    p = plan_of(job, [mine, foreign, relabeled], nodes(3))
    assert created_nodes(p) == ["node-1", "node-2"]
    assert p.status is not None and p.status["active"] == 3  # 1 counted + 2 created


def test_terminating_pods_are_ignored_but_hold_their_node() -> None:
    job = make_job()
    p = plan_of(job, [make_pod(job, "node-0", deleting=True)], nodes(2))
    assert p.status is not None and p.status["active"] == 1  # only the new pod on node-1
    assert created_nodes(p) == ["node-1"]
    assert p.status["desired"] == 2


def test_duplicate_pods_on_one_node() -> None:
    job = make_job()
    a = make_pod(job, "node-0", name="bcj-a")
    b = make_pod(job, "node-0", name="bcj-b")
    p = plan_of(job, [a, b], nodes(1))
    assert p.events == [
        ("Warning", "DuplicatePodCreatedOnSameNode", "Duplicated pod bcj-b found on same node node-0")
    ]
    assert p.status is not None and p.status["active"] == 2 and not p.creates


def test_unscheduled_pod_is_found_by_its_match_fields() -> None:
    job = make_job()
    p = plan_of(job, [make_pod(job, "node-0", "Pending", scheduled=False)], nodes(2))
    assert created_nodes(p) == ["node-1"]


# --------------------------------------------------------------------------------------------------
# P10 counting quirks


def test_active_pod_on_deleted_node_is_deleted_when_the_job_fails() -> None:
    job = make_job(failure="FailFast")
    pods = [make_pod(job, "gone-a"), make_pod(job, "gone-b", "Succeeded"), make_pod(job, "gone-c", "Failed")]
    p = plan_of(job, pods, [make_node("node-0")])
    assert deleted(p) == [("bcj-gone-a", "failfast")]
    st = p.status
    assert st is not None
    assert (st["desired"], st["succeeded"], st["failed"], st["active"], st["phase"]) == (1, 1, 2, 0, "failed")


def test_pods_on_deleted_nodes_count_without_failure() -> None:
    job = make_job(failure="Continue")
    pods = [make_pod(job, "gone-a"), make_pod(job, "gone-b", "Succeeded"), make_pod(job, "gone-c", "Failed")]
    p = plan_of(job, pods, [make_node("node-0")])
    assert not p.deletes
    st = p.status
    assert st is not None
    assert (st["desired"], st["active"], st["succeeded"], st["failed"]) == (
        1,
        2,
        1,
        1,
    )  # +1 created on node-0
    assert created_nodes(p) == ["node-0"]


def test_controller_deletion_counts_as_failure() -> None:
    """P10: deleting a pod whose node no longer fits: failed += 1, active -= 1 in this status."""
    job = make_job()
    w = World(job, [make_node("node-0"), make_node("node-1")])
    w.step()
    for n in ("node-0", "node-1"):
        w.set_phase(n, "Running")
    w.nodes[1]["spec"]["taints"] = [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]
    victim = w.pod_on("node-1")["metadata"]["name"]
    p = w.step()
    assert deleted(p) == [(victim, "node-unfit")]
    assert p.status is not None
    assert (p.status["desired"], p.status["active"], p.status["failed"]) == (1, 1, 1)
    assert p.status["phase"] == "running" and not p.creates
    # Next round the pod is gone and the counts come from the pods again.
    p = w.step()
    assert p.status is not None and (p.status["active"], p.status["failed"]) == (1, 0)
    # ... and the job completes on the remaining node.
    w.set_phase("node-0", "Succeeded")
    p = w.step()
    assert p.status is not None and p.status["phase"] == "completed"


def test_deleting_unfit_pods_frees_parallelism() -> None:
    job = make_job(parallelism=1)
    tainted = make_node("node-0", taints=[{"key": "k", "effect": "NoExecute"}])
    p = plan_of(job, [make_pod(job, "node-0")], [tainted, make_node("node-1")])
    assert deleted(p) == [("bcj-node-0", "node-unfit")]
    assert created_nodes(p) == ["node-1"]
    assert p.status is not None and (p.status["active"], p.status["failed"]) == (1, 1)


def test_unfit_terminating_pod_is_not_deleted_again() -> None:
    job = make_job()
    p = plan_of(job, [make_pod(job, "node-0", deleting=True)], [make_node("node-0", unschedulable=True)])
    assert not p.deletes and not p.creates
    assert p.status is not None and p.status["desired"] == 0


# --------------------------------------------------------------------------------------------------
# P12: existing pods are re-checked on their real spec


def _running_world(**job_kw: object) -> World:
    job = make_job(**job_kw)  # type: ignore[arg-type]
    w = World(job, [make_node("node-0", labels={"zone": "z1", "role": "worker"})])
    p = w.step()
    assert created_nodes(p) == ["node-0"]
    w.set_phase("node-0", "Running")
    return w


def test_affinity_label_change_does_not_remove_the_pod() -> None:
    w = _running_world(
        spec={
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}
                        ]
                    }
                }
            }
        }
    )
    w.node("node-0")["metadata"]["labels"]["zone"] = "z2"
    p = w.step()
    assert not p.deletes
    assert w.status["desired"] == 1 and w.status["active"] == 1


def test_node_selector_change_removes_the_pod() -> None:
    w = _running_world(spec={"nodeSelector": {"role": "worker"}})
    w.node("node-0")["metadata"]["labels"]["role"] = "infra"
    p = w.step()
    assert [r for _, r in deleted(p)] == ["node-unfit"]
    assert w.status["desired"] == 0


@pytest.mark.parametrize("effect", ["NoSchedule", "NoExecute"])
def test_untolerated_taint_removes_the_pod(effect: str) -> None:
    w = _running_world()
    w.node("node-0")["spec"]["taints"] = [{"key": "maintenance", "effect": effect}]
    p = w.step()
    assert [r for _, r in deleted(p)] == ["node-unfit"]


def test_prefer_no_schedule_and_tolerated_taints_keep_the_pod() -> None:
    w = _running_world(spec={"tolerations": [{"key": "maintenance", "operator": "Exists"}]})
    w.node("node-0")["spec"]["taints"] = [
        {"key": "maintenance", "effect": "NoSchedule"},
        {"key": "soft", "effect": "PreferNoSchedule"},
    ]
    assert not w.step().deletes


def test_unschedulable_node_removes_the_pod() -> None:
    w = _running_world()
    w.node("node-0")["spec"]["unschedulable"] = True
    p = w.step()
    assert [r for _, r in deleted(p)] == ["node-unfit"]
    assert "node(s) were unschedulable" in " ".join(p.notes)


def test_finished_pod_on_unfit_node_is_deleted_too() -> None:
    """As OpenKruise, a Succeeded pod on a node that stopped fitting is deleted while the job runs;
    unlike OpenKruise (failed + 1, active - 1 for it: active 0 with a pod running), it keeps its
    one count, succeeded."""
    job = make_job()
    pods = [make_pod(job, "node-0", "Succeeded"), make_pod(job, "node-1")]
    ns = [make_node("node-0", unschedulable=True), make_node("node-1")]
    p = plan_of(job, pods, ns)
    assert deleted(p) == [("bcj-node-0", "node-unfit")]
    assert p.status is not None
    assert (p.status["desired"], p.status["succeeded"], p.status["failed"], p.status["active"]) == (
        1,
        1,
        0,
        1,
    )
    assert reasons(p) == []


def _two_running(**job_kw: object) -> World:
    job = make_job(completion="Never", spec={"nodeSelector": {"pool": "x"}}, **job_kw)  # type: ignore[arg-type]
    w = World(job, [make_node(f"node-{i}", labels={"pool": "x"}) for i in range(2)])
    w.step()
    for i in range(2):
        w.set_phase(f"node-{i}", "Running")
    w.step()
    assert (w.status["desired"], w.status["active"], w.status["failed"]) == (2, 2, 0)
    return w


def _relabel(w: World) -> None:
    w.node("node-0")["metadata"]["labels"]["pool"] = "y"


def _taint(w: World) -> None:
    w.node("node-0")["spec"]["taints"] = [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]


@pytest.mark.parametrize("failure", [None, "Continue", "Pause"])
@pytest.mark.parametrize("change", [_relabel, _taint], ids=["label", "taint"])
def test_a_pod_removed_from_a_node_that_stopped_fitting_counts_as_failed(
    change: object, failure: str | None
) -> None:
    """P10/P12: the pod is deleted, its node stops being desired and the pod moves from active to
    failed, and stays there while it terminates, also once a kubelet reports it Failed; being the
    job's own doing, it does not trigger the failure policy (FailFast by default). Once it is gone it
    no longer counts, as in OpenKruise, which recounts existing pods every round."""
    w = _two_running(failure=failure)
    change(w)  # type: ignore[operator]
    p = w.step()
    ((victim, reason),) = deleted(p)
    assert reason == "node-unfit"
    counts = (1, 1, 1)  # desired, active, failed
    assert (w.status["desired"], w.status["active"], w.status["failed"]) == counts
    # the API server marks it terminating (the World dropped it: put it back as the apiserver shows it)
    pod = next(x for x, _ in p.deletes)
    pod["metadata"]["deletionTimestamp"] = "2025-01-01T12:00:00Z"
    w.add(pod)
    for phase in ("Running", "Failed"):  # containers stopping, then the kubelet's terminal phase
        pod["status"]["phase"] = phase
        p = w.step()
        assert not p.deletes and not p.creates and not p.paused_spec
        assert (w.status["desired"], w.status["active"], w.status["failed"]) == counts, phase
        assert w.status["phase"] == "running"
    del w.pods[victim]
    w.step()
    assert (w.status["desired"], w.status["active"], w.status["failed"]) == (1, 1, 0)
    assert w.status["phase"] == "running"


def test_a_terminating_pod_that_succeeded_on_an_unfit_node_counts_as_succeeded() -> None:
    job = make_job(completion="Never")
    pods = [make_pod(job, "node-0", "Succeeded", deleting=True), make_pod(job, "node-1")]
    p = plan_of(job, pods, [make_node("node-0", unschedulable=True), make_node("node-1")])
    assert p.status is not None and not p.deletes
    assert (p.status["desired"], p.status["succeeded"], p.status["failed"], p.status["active"]) == (
        1,
        1,
        0,
        1,
    )


def test_a_pod_that_fails_on_its_own_still_fails_the_job_next_to_a_removed_one() -> None:
    job = make_job(completion="Never")
    pods = [make_pod(job, "node-0", deleting=True), make_pod(job, "node-1", "Failed")]
    p = plan_of(job, pods, [make_node("node-0", unschedulable=True), make_node("node-1")])
    assert p.status is not None and p.status["phase"] == "failed"
    assert p.status["failed"] == 2
