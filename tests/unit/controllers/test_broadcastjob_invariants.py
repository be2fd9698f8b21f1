"""BroadcastJob planner invariants with hypothesis (design §2).

For any mix of nodes (tainted, cordoned, labelled, resource-starved, vanished) and pods (any phase,
terminating, over the restart limit), one plan:
- creates at most one pod per node, only on nodes whose mock pod fits and that have no pod, and no
  more than ``parallelism - active`` (active after this round's deletions);
- deletes only non-terminating pods, each once;
- writes counts that follow P10 and count every pod once (deleting an active pod: failed + 1,
  active - 1; a terminating pod whose node no longer fits it, unless Succeeded: failed; each
  creation: active + 1);
- never creates and fails in the same round, and completes only an Always job with a desired node.
And repeatedly applied to a world where pods succeed, an Always job with a desired node completes.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kruise_py.controllers.broadcastjob import fit
from kruise_py.controllers.broadcastjob import plan as planner

from .bcj_builders import World, make_job, make_node, make_pod, plan_of

NODE_KINDS = ("plain", "plain", "worker", "tainted", "cordoned", "starved")
POD_KINDS = ("none", "none", "Running", "Pending", "Succeeded", "Failed", "terminating", "restarts")


def node_of(kind: str, i: int) -> dict[str, Any]:
    name = f"node-{i}"
    if kind == "worker":
        return make_node(name, labels={"role": "worker"})
    if kind == "tainted":
        return make_node(name, taints=[{"key": "k", "effect": "NoSchedule"}])
    if kind == "cordoned":
        return make_node(name, unschedulable=True)
    if kind == "starved":
        return make_node(name, allocatable={"cpu": "4", "memory": "8Gi", "pods": "0"})
    return make_node(name)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 7))
    return {
        "nodes": draw(st.lists(st.sampled_from(NODE_KINDS), min_size=n, max_size=n)),
        "pods": draw(st.lists(st.sampled_from(POD_KINDS), min_size=n, max_size=n)),
        "vanished": draw(st.lists(st.sampled_from(POD_KINDS[2:]), max_size=2)),
        "parallelism": draw(
            st.one_of(st.none(), st.integers(0, 8), st.integers(0, 100).map(lambda x: f"{x}%"))
        ),
        "failure": draw(st.sampled_from(["FailFast", "Continue", "Pause"])),
        "completion": draw(st.sampled_from(["Always", "Never"])),
        "selector": draw(st.booleans()),
        "paused": draw(st.booleans()),
        "deadline": draw(st.sampled_from([None, 0, 600])),
    }


def build(sc: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    job = make_job(
        parallelism=sc["parallelism"],
        failure=sc["failure"],
        completion=sc["completion"],
        paused=sc["paused"],
        deadline=sc["deadline"],
        restart_policy="OnFailure",
        restart_limit=1,
        spec={"nodeSelector": {"role": "worker"}} if sc["selector"] else None,
    )
    nodes = [node_of(k, i) for i, k in enumerate(sc["nodes"])]
    pods = []
    targets = [(f"node-{i}", k) for i, k in enumerate(sc["pods"])]
    targets += [(f"gone-{i}", k) for i, k in enumerate(sc["vanished"])]
    for node, kind in targets:
        if kind == "none":
            continue
        phase = kind if kind in ("Running", "Pending", "Succeeded", "Failed") else "Running"
        pods.append(
            make_pod(
                job, node, phase, deleting=kind == "terminating", restarts=3 if kind == "restarts" else 0
            )
        )
    return job, nodes, pods


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_one_plan_invariants(sc: dict[str, Any]) -> None:
    job, nodes, pods = build(sc)
    p = plan_of(job, pods, nodes)
    active0, failed0, _ = planner.classify(pods, 1)

    # Creations: one per node, on free nodes that fit, within parallelism.
    targets = [fit.assigned_node(c) for c in p.creates]
    assert len(set(targets)) == len(targets)
    occupied = {fit.assigned_node(x) for x in pods}
    by_name = {n["metadata"]["name"]: n for n in nodes}
    for t in targets:
        assert t is not None and t in by_name and t not in occupied
        assert fit.node_fits(fit.mock_pod_spec(job, t), by_name[t])[0]
    active_after_deletes = len(active0) - len(p.deletes)
    if p.creates:
        par = planner.resolve_parallelism(job, p.status["desired"] if p.status else 0)
        assert len(p.creates) <= par - active_after_deletes

    # Deletions: live pods, once each.
    deleted_names = [d["metadata"]["name"] for d, _ in p.deletes]
    assert len(set(deleted_names)) == len(deleted_names)
    for d, reason in p.deletes:
        assert d["metadata"].get("deletionTimestamp") is None
        assert reason in ("failfast", "deadline", "node-unfit")
        if reason != "node-unfit":
            assert d in active0

    st_ = p.status
    assert st_ is not None  # a first reconcile always writes (startTime)
    by_node = {fit.assigned_node(x): x for x in pods}
    removed = [
        x
        for n in nodes
        if (x := by_node.get(n["metadata"]["name"])) is not None
        and x["metadata"].get("deletionTimestamp")
        and x["status"].get("phase") != "Succeeded"
        and not fit.node_fits(x["spec"], n)[0]
    ]
    deleted_active = [d for d, _ in p.deletes if any(d is a for a in active0)]
    failed_own = [x for x in failed0 if all(x is not r for r in removed)]
    assert st_["failed"] == len(failed_own) + len(removed) + len(deleted_active)
    assert st_["active"] == len(active0) - len(deleted_active) + len(p.creates)
    assert st_["desired"] == len(p.desired_nodes) <= len(nodes)
    if st_["phase"] == "failed":
        assert not p.creates
        assert st_["conditions"][-1]["type"] == "Failed"
    if st_["phase"] == "completed":
        assert sc["completion"] == "Always" and st_["desired"] > 0
    if st_["phase"] == "paused":
        assert not p.creates and not p.deletes


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(NODE_KINDS), min_size=1, max_size=8),
    st.one_of(st.integers(1, 4), st.integers(1, 100).map(lambda x: f"{x}%")),
)
def test_always_job_with_a_desired_node_completes(kinds: list[str], parallelism: int | str) -> None:
    w = World(make_job(parallelism=parallelism), [node_of(k, i) for i, k in enumerate(kinds)])
    for _ in range(3 * len(kinds) + 2):
        w.step()
        if w.status.get("phase") == "completed":
            break
        for pod in w.pods.values():
            pod["status"]["phase"] = "Succeeded"
    fitting = sum(1 for k in kinds if k in ("plain", "worker"))
    if fitting:
        assert w.status["phase"] == "completed"
        assert w.status["succeeded"] == fitting == w.status["desired"]
        assert (
            w.status["conditions"][-1]["message"] == f"Job completed, {fitting} pods succeeded, 0 pods failed"
        )
    else:
        assert w.status["phase"] == "running" and w.status["desired"] == 0  # P13
