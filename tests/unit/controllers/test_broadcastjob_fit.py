"""BroadcastJob node fitness (spec §4.4, P11, P12) and the node-event filters (§4.7)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from kruise_py.controllers.broadcastjob import fit
from kruise_py.controllers.broadcastjob import plan as planner

from .bcj_builders import make_job, make_node, make_pod

Obj = dict[str, Any]


def spec(**kw: Any) -> Obj:
    s: Obj = {"containers": [{"name": "main", "image": "busybox"}]}
    s.update(kw)
    return s


def term(*exprs: Obj, fields: list[Obj] | None = None) -> Obj:
    t: Obj = {}
    if exprs:
        t["matchExpressions"] = list(exprs)
    if fields:
        t["matchFields"] = fields
    return t


def required(*terms: Obj) -> Obj:
    return {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}
    }


def expr(key: str, op: str, *values: str) -> Obj:
    e: Obj = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return e


def fits(pod_spec: Obj, node: Obj) -> bool:
    return fit.node_fits(pod_spec, node)[0]


# -- 1. nodeName ---------------------------------------------------------------------------------


def test_node_name_must_match() -> None:
    n = make_node("a")
    assert fits(spec(nodeName="a"), n)
    ok, reason = fit.node_fits(spec(nodeName="b"), n)
    assert not ok and reason == fit.REASON_NODE_NAME
    assert fits(spec(), n)  # unset: any node


# -- 2. node selector and required affinity ----------------------------------------------------------

NODE = make_node("n1", labels={"zone": "z1", "disk": "ssd", "cores": "8"})


@pytest.mark.parametrize(
    ("affinity_terms", "expected"),
    [
        ([term(expr("zone", "In", "z1", "z2"))], True),
        ([term(expr("zone", "In", "z2"))], False),
        ([term(expr("zone", "NotIn", "z2"))], True),
        ([term(expr("zone", "NotIn", "z1"))], False),
        ([term(expr("absent", "NotIn", "x"))], True),  # NotIn matches a missing key
        ([term(expr("disk", "Exists"))], True),
        ([term(expr("gpu", "Exists"))], False),
        ([term(expr("gpu", "DoesNotExist"))], True),
        ([term(expr("disk", "DoesNotExist"))], False),
        ([term(expr("cores", "Gt", "4"))], True),
        ([term(expr("cores", "Gt", "8"))], False),
        ([term(expr("cores", "Lt", "16"))], True),
        ([term(expr("cores", "Lt", "8"))], False),
        ([term(expr("zone", "Gt", "1"))], False),  # label not an integer
        ([term(expr("absent", "Lt", "100"))], False),  # missing label never compares
        ([term(expr("cores", "Gt", "4", "5"))], False),  # Gt needs exactly one value
        # expressions in one term are ANDed
        ([term(expr("zone", "In", "z1"), expr("disk", "In", "hdd"))], False),
        ([term(expr("zone", "In", "z1"), expr("disk", "In", "ssd"))], True),
        # terms are ORed
        ([term(expr("zone", "In", "z9")), term(expr("disk", "In", "ssd"))], True),
        # matchFields on metadata.name
        ([term(fields=[expr("metadata.name", "In", "n1")])], True),
        ([term(fields=[expr("metadata.name", "In", "n2")])], False),
        ([term(fields=[expr("metadata.name", "NotIn", "n2")])], True),
        ([term(fields=[expr("metadata.name", "In", "n1", "n2")])], False),  # one value only
        ([term(fields=[expr("metadata.labels", "In", "n1")])], False),  # only metadata.name
        ([term(expr("zone", "In", "z1"), fields=[expr("metadata.name", "In", "n2")])], False),
        ([{}], False),  # an empty term matches nothing
        ([], False),  # no terms match nothing
        ([term(expr("zone", "Bogus", "z1"))], False),
    ],
)
def test_required_node_affinity(affinity_terms: list[Obj], expected: bool) -> None:
    ok, reason = fit.node_fits(spec(affinity=required(*affinity_terms)), NODE)
    assert ok is expected
    if not ok:
        assert reason == fit.REASON_AFFINITY


def test_node_selector_and_affinity_are_anded() -> None:
    assert fits(spec(nodeSelector={"zone": "z1"}), NODE)
    assert not fits(spec(nodeSelector={"zone": "z2"}), NODE)
    assert not fits(spec(nodeSelector={"missing": "x"}), NODE)
    both = spec(nodeSelector={"zone": "z1"}, affinity=required(term(expr("disk", "In", "hdd"))))
    assert not fits(both, NODE)


def test_preferred_affinity_and_pod_affinity_do_not_filter() -> None:
    aff = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": term(expr("zone", "In", "nowhere"))}
            ]
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}
            ]
        },
    }
    assert fits(spec(affinity=aff), NODE)


# -- 3. taints and tolerations ----------------------------------------------------------------------


def taint(key: str, effect: str, value: str = "") -> Obj:
    t: Obj = {"key": key, "effect": effect}
    if value:
        t["value"] = value
    return t


@pytest.mark.parametrize(
    ("taints", "tolerations", "expected"),
    [
        ([taint("k", "NoSchedule", "v")], [], False),
        ([taint("k", "NoExecute", "v")], [], False),
        ([taint("k", "PreferNoSchedule", "v")], [], True),  # ignored
        (
            [taint("k", "NoSchedule", "v")],
            [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
            True,
        ),
        (
            [taint("k", "NoSchedule", "v")],
            [{"key": "k", "value": "v"}],
            True,
        ),  # operator defaults to Equal, any effect
        ([taint("k", "NoSchedule", "v")], [{"key": "k", "operator": "Equal", "value": "w"}], False),
        ([taint("k", "NoSchedule", "v")], [{"key": "k", "operator": "Exists"}], True),
        ([taint("k", "NoSchedule", "v")], [{"key": "k", "operator": "Exists", "effect": "NoExecute"}], False),
        ([taint("k", "NoSchedule", "v")], [{"key": "other", "operator": "Exists"}], False),
        (
            [taint("k", "NoSchedule", "v"), taint("j", "NoExecute")],
            [{"operator": "Exists"}],
            True,
        ),  # empty key
        ([taint("k", "NoSchedule", "v")], [{"operator": "Exists", "effect": "NoSchedule"}], True),
        ([taint("k", "NoExecute", "v")], [{"operator": "Exists", "effect": "NoSchedule"}], False),
        # every NoSchedule/NoExecute taint must be tolerated
        ([taint("k", "NoSchedule"), taint("j", "NoSchedule")], [{"key": "k", "operator": "Exists"}], False),
        ([taint("k", "NoSchedule")], [{"key": "k", "operator": "Equal"}], True),  # empty values equal
    ],
)
def test_taints(taints: list[Obj], tolerations: list[Obj], expected: bool) -> None:
    ok, reason = fit.node_fits(spec(tolerations=tolerations), make_node("n", taints=taints))
    assert ok is expected
    if not ok:
        assert reason.startswith("node(s) had taint {")


def test_unschedulable_node() -> None:
    n = make_node("n", unschedulable=True)
    ok, reason = fit.node_fits(spec(), n)
    assert not ok and reason == fit.REASON_UNSCHEDULABLE
    tol = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
    assert fits(spec(tolerations=[tol]), n)
    assert fits(spec(tolerations=[{"operator": "Exists"}]), n)
    assert not fits(
        spec(
            tolerations=[
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoExecute", "operator": "Exists"}
            ]
        ),
        n,
    )


def test_checks_run_in_order() -> None:
    n = make_node("n", taints=[taint("k", "NoSchedule")], unschedulable=True, allocatable={"pods": "0"})
    assert fit.node_fits(spec(nodeName="x"), n)[1] == fit.REASON_NODE_NAME
    assert fit.node_fits(spec(nodeSelector={"a": "b"}), n)[1] == fit.REASON_AFFINITY
    assert fit.node_fits(spec(), n)[1].startswith("node(s) had taint {k: }")
    assert (
        fit.node_fits(spec(tolerations=[{"key": "k", "operator": "Exists"}]), n)[1]
        == fit.REASON_UNSCHEDULABLE
    )
    assert fit.node_fits(spec(tolerations=[{"operator": "Exists"}]), n)[1] == fit.REASON_TOO_MANY_PODS


# -- 5. resources --------------------------------------------------------------------------------------


def res(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> Obj:
    r: Obj = {}
    if requests:
        r["requests"] = requests
    if limits:
        r["limits"] = limits
    return {"resources": r}


def containers(*rs: Obj) -> list[Obj]:
    return [{"name": f"c{i}", "image": "busybox", **r} for i, r in enumerate(rs)]


NODE_4CPU = make_node(
    "n",
    allocatable={
        "cpu": "4",
        "memory": "8Gi",
        "pods": "16",
        "ephemeral-storage": "10G",
        "example.com/gpu": "2",
        "hugepages-2Mi": "64Mi",
    },
)


@pytest.mark.parametrize(
    ("pod_spec", "expected", "reason"),
    [
        (spec(), True, ""),
        ({"containers": containers(res({"cpu": "4"}))}, True, ""),
        ({"containers": containers(res({"cpu": "4001m"}))}, False, "Insufficient cpu"),
        (
            {"containers": containers(res({"cpu": "2"}), res({"cpu": "2500m"}))},
            False,
            "Insufficient cpu",
        ),  # summed
        ({"containers": containers(res({"cpu": "0.5"}), res({"cpu": "3500m"}))}, True, ""),
        ({"containers": containers(res({"memory": "8Gi"}))}, True, ""),
        ({"containers": containers(res({"memory": "8193Mi"}))}, False, "Insufficient memory"),
        (
            {"containers": containers(res({"memory": "8590000k"}))},
            False,
            "Insufficient memory",
        ),  # > 8Gi bytes
        ({"containers": containers(res({"memory": "8589934592"}))}, True, ""),
        ({"containers": containers(res({"memory": "8.589934592e9"}))}, True, ""),  # decimal exponent
        ({"containers": containers(res({"memory": "1e10"}))}, False, "Insufficient memory"),
        ({"containers": containers(res({"ephemeral-storage": "10G"}))}, True, ""),
        (
            {"containers": containers(res({"ephemeral-storage": "10Gi"}))},
            False,
            "Insufficient ephemeral-storage",
        ),
        ({"containers": containers(res({"example.com/gpu": "2"}))}, True, ""),
        ({"containers": containers(res({"example.com/gpu": "3"}))}, False, "Insufficient example.com/gpu"),
        ({"containers": containers(res({"example.com/fpga": "1"}))}, False, "Insufficient example.com/fpga"),
        ({"containers": containers(res({"hugepages-2Mi": "128Mi"}))}, False, "Insufficient hugepages-2Mi"),
        # limits only: the request defaults to the limit
        ({"containers": containers(res(limits={"cpu": "5"}))}, False, "Insufficient cpu"),
        ({"containers": containers(res({"cpu": "1"}, limits={"cpu": "5"}))}, True, ""),
        # init containers: max with each init container, not summed with the main containers
        (
            {
                "containers": containers(res({"cpu": "3"})),
                "initContainers": containers(res({"cpu": "4"}), res({"cpu": "2"})),
            },
            True,
            "",
        ),
        (
            {"containers": containers(res({"cpu": "1"})), "initContainers": containers(res({"cpu": "5"}))},
            False,
            "Insufficient cpu",
        ),
        # a restartable (sidecar) init container adds to the main containers
        (
            {
                "containers": containers(res({"cpu": "3"})),
                "initContainers": [
                    {"name": "side", "image": "x", "restartPolicy": "Always", **res({"cpu": "1500m"})}
                ],
            },
            False,
            "Insufficient cpu",
        ),
        # overhead is added
        (
            {"containers": containers(res({"cpu": "3500m"})), "overhead": {"cpu": "600m"}},
            False,
            "Insufficient cpu",
        ),
        ({"containers": containers(res({"cpu": "3", "memory": "9Gi", "example.com/gpu": "3"}))}, True, None),
    ],
)
def test_resources(pod_spec: Obj, expected: bool, reason: str | None) -> None:
    if reason is None:  # several at once: cpu fits, memory and gpu do not
        ok, why = fit.node_fits(pod_spec, NODE_4CPU)
        assert not ok and why == "Insufficient memory, Insufficient example.com/gpu"
        return
    ok, why = fit.node_fits(pod_spec, NODE_4CPU)
    assert (ok, why) == (expected, reason)


def test_node_without_allocatable_pods_never_fits() -> None:
    """P11: no status.allocatable (or pods=0) means no pod fits, whatever it requests."""
    assert fit.node_fits(spec(), make_node("n", allocatable={"pods": "0", "cpu": "4"})) == (
        False,
        "Too many pods",
    )
    assert fit.node_fits(spec(), make_node("n", allocatable={"cpu": "4", "memory": "1Gi"})) == (
        False,
        "Too many pods",
    )
    bare = make_node("n")
    del bare["status"]
    assert not fits(spec(), bare)
    assert fits(spec(), make_node("n", allocatable={"pods": "1"}))


def test_invalid_quantity_does_not_fit() -> None:
    ok, why = fit.node_fits({"containers": containers(res({"cpu": "lots"}))}, NODE_4CPU)
    assert not ok and why.startswith("invalid resource quantity")


def test_pod_requests_effective() -> None:
    s = {
        "containers": containers(res({"cpu": "1", "memory": "1Gi"}), res({"cpu": "500m"})),
        "initContainers": containers(res({"cpu": "2", "memory": "512Mi"})),
        "overhead": {"memory": "100Mi"},
    }
    r = fit.pod_requests(s)
    assert r["cpu"] == 2
    assert r["memory"] == 1024 * 2**20 + 100 * 2**20


# -- mock pod, assigned node -----------------------------------------------------------------------------


def test_mock_pod_spec_is_template_with_node_name() -> None:
    job = make_job(spec={"nodeSelector": {"a": "b"}, "nodeName": "elsewhere"})
    m = fit.mock_pod_spec(job, "n1")
    assert m["nodeName"] == "n1"
    assert m["nodeSelector"] == {"a": "b"}
    assert job["spec"]["template"]["spec"]["nodeName"] == "elsewhere"  # the job is not modified
    m["nodeSelector"]["a"] = "c"
    assert job["spec"]["template"]["spec"]["nodeSelector"] == {"a": "b"}  # a copy


def test_assigned_node() -> None:
    job = make_job()
    pod = planner.new_pod(job, "n7")
    assert fit.assigned_node(pod) == "n7"
    pod["spec"]["nodeName"] = "n8"
    assert fit.assigned_node(pod) == "n8"
    assert fit.assigned_node({"spec": {}}) is None
    two = {"spec": {"affinity": required(term(fields=[expr("metadata.name", "In", "a", "b")]))}}
    assert fit.assigned_node(two) is None
    later = {
        "spec": {
            "affinity": required(
                term(expr("zone", "In", "z")), term(fields=[expr("metadata.name", "In", "c")])
            )
        }
    }
    assert fit.assigned_node(later) == "c"


# -- P12: existing pods are re-checked on their real spec -------------------------------------------------


def test_real_pod_ignores_user_affinity_but_keeps_node_selector() -> None:
    job = make_job(
        spec={"nodeSelector": {"role": "worker"}, "affinity": required(term(expr("zone", "In", "z1")))}
    )
    node = make_node("n1", labels={"role": "worker", "zone": "z1"})
    pod = make_pod(job, "n1")
    assert fits(pod["spec"], node)
    moved = copy.deepcopy(node)
    moved["metadata"]["labels"]["zone"] = "z2"  # breaks the user's affinity only
    assert fits(pod["spec"], moved)
    assert not fits(fit.mock_pod_spec(job, "n1"), moved)  # ... which still filters new placements
    demoted = copy.deepcopy(node)
    demoted["metadata"]["labels"]["role"] = "infra"  # breaks nodeSelector
    assert not fits(pod["spec"], demoted)


# -- node events (§4.7) --------------------------------------------------------------------------------------


def test_heartbeat_only_updates_are_ignored() -> None:
    old = make_node("n1")
    new = copy.deepcopy(old)
    new["metadata"]["resourceVersion"] = "2"
    new["metadata"]["managedFields"] = [{"manager": "kubelet", "time": "2025-01-01T12:01:00Z"}]
    for c in new["status"]["conditions"]:
        c["lastHeartbeatTime"] = "2025-01-01T12:01:00Z"
    assert fit.node_update_is_heartbeat(old, new)

    # A condition flips to True: not a heartbeat.
    pressure = copy.deepcopy(new)
    pressure["status"]["conditions"][1]["status"] = "True"
    assert not fit.node_update_is_heartbeat(old, pressure)
    # Ready goes False: the set of True conditions changes.
    not_ready = copy.deepcopy(new)
    not_ready["status"]["conditions"][0]["status"] = "False"
    assert not fit.node_update_is_heartbeat(old, not_ready)
    # Condition order or a False→Unknown change alone is ignored (same set of True conditions).
    shuffled = copy.deepcopy(new)
    shuffled["status"]["conditions"].reverse()
    shuffled["status"]["conditions"][0]["status"] = "Unknown"
    assert fit.node_update_is_heartbeat(old, shuffled)
    # Anything else that changes is not a heartbeat.
    mutations: list[Callable[[Obj], None]] = [
        lambda n: n["metadata"]["labels"].update({"x": "y"}),
        lambda n: n["spec"].update({"unschedulable": True}),
        lambda n: n["spec"].update({"taints": [taint("k", "NoSchedule")]}),
        lambda n: n["status"]["allocatable"].update({"pods": "17"}),
    ]
    for mutate in mutations:
        changed = copy.deepcopy(new)
        mutate(changed)
        assert not fit.node_update_is_heartbeat(old, changed)


def test_fit_changed() -> None:
    job = make_job(spec={"nodeSelector": {"role": "worker"}})
    plain = make_node("n1")
    worker = make_node("n1", labels={"role": "worker"})
    assert fit.fit_changed(job, plain, worker)  # label added
    assert fit.fit_changed(job, worker, plain)
    assert not fit.fit_changed(job, plain, make_node("n1", labels={"other": "x"}))
    tainted = make_node("n1", labels={"role": "worker"}, taints=[taint("k", "NoSchedule")])
    assert fit.fit_changed(job, tainted, worker)  # taint removed
    assert fit.fit_changed(job, worker, make_node("n1", labels={"role": "worker"}, unschedulable=True))
    assert not fit.fit_changed(
        job, worker, make_node("n1", labels={"role": "worker"}, taints=[taint("k", "PreferNoSchedule")])
    )
    assert fit.mock_fits(job, worker) and not fit.mock_fits(job, plain)


def test_pod_fit_changed_follows_the_real_pod_not_the_mock() -> None:
    """The template's affinity excludes the node once its zone label changes (the pod stays, P12);
    a taint then makes the real pod stop fitting while the mock pod's fit does not change."""
    job = make_job(
        spec={
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                        ]
                    }
                }
            }
        }
    )
    pod = make_pod(job, "n1")
    relabelled = make_node("n1", labels={"zone": "b"})
    tainted = make_node("n1", labels={"zone": "b"}, taints=[taint("k", "NoSchedule")])
    assert not fit.fit_changed(job, relabelled, tainted)
    assert fit.pod_fit_changed(pod, relabelled, tainted)
    assert fit.pod_fit_changed(pod, tainted, relabelled)
    assert not fit.pod_fit_changed(pod, make_node("n1", labels={"zone": "a"}), relabelled)
