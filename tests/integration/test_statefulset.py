"""Advanced StatefulSet on the real control plane, observed as a user observes it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from .conftest import Kubectl, OperatorProcess, wait_for
from .monitor import PodMonitor


def asts(
    name: str,
    replicas: int = 3,
    *,
    parallel: bool = False,
    policy: str = "InPlaceIfPossible",
    max_unavailable: Any = 1,
    partition: int = 0,
    image: str = "nginx:1.25",
    **rolling: Any,
) -> dict[str, Any]:
    ru: dict[str, Any] = {
        "podUpdatePolicy": policy,
        "maxUnavailable": max_unavailable,
        "partition": partition,
        **rolling,
    }
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": name,
        "podManagementPolicy": "Parallel" if parallel else "OrderedReady",
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "readinessGates": [{"conditionType": "InPlaceUpdateReady"}],
                "containers": [{"name": "app", "image": image}],
            },
        },
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": ru},
    }
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": spec,
    }


def pods_of(kubectl: Kubectl, ns: str, name: str) -> dict[str, dict[str, Any]]:
    items = kubectl.json("get", "pods", "-n", ns, "-l", f"app={name}")["items"]
    return {p["metadata"]["name"]: p for p in items}


def ready(p: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", [])
    )


def status_of(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    return kubectl.json("get", "asts", name, "-n", ns).get("status") or {}


def wait_rolled_out(
    kubectl: Kubectl, ns: str, name: str, replicas: int, timeout: float = 120
) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        st = status_of(kubectl, ns, name)
        ok = (
            st.get("updatedReplicas") == replicas
            and st.get("readyReplicas") == replicas
            and st.get("replicas") == replicas
            and st.get("currentRevision") == st.get("updateRevision")
            and st.get("observedGeneration")
            == kubectl.json("get", "asts", name, "-n", ns)["metadata"]["generation"]
        )
        return st if ok else None

    return wait_for(done, timeout, what=f"{name} rolled out to {replicas} ready pods")  # type: ignore[no-any-return]


def set_image(kubectl: Kubectl, ns: str, name: str, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    kubectl("patch", "asts", name, "-n", ns, "--type=merge", "-p", json.dumps(patch))


def test_ordered_ready_scale_up_creates_pods_strictly_in_order(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    with PodMonitor(kubeconfig, ns, "app=ordered", desired=3) as mon:
        kubectl.apply(asts("ordered", 3), ns)
        wait_rolled_out(kubectl, ns, "ordered", 3)
    created = [e[2] for e in mon.events if e[1] == "ADDED"]
    assert created == ["ordered-0", "ordered-1", "ordered-2"], created
    # Each pod appeared only after the previous one was Ready.
    for prev, nxt in (("ordered-0", "ordered-1"), ("ordered-1", "ordered-2")):
        t_ready = min(t for t, _, n, _, _, r in mon.events if n == prev and r)
        t_added = min(t for t, typ, n, *_ in mon.events if n == nxt and typ == "ADDED")
        assert t_added >= t_ready, f"{nxt} created before {prev} was Ready"
    pods = pods_of(kubectl, ns, "ordered")
    for i in range(3):
        p = pods[f"ordered-{i}"]
        labels = p["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == f"ordered-{i}"
        assert labels["apps.kubernetes.io/pod-index"] == str(i)
        assert labels["lifecycle.apps.kruise.io/state"] == "Normal"
        assert p["spec"]["hostname"] == f"ordered-{i}" and p["spec"]["subdomain"] == "ordered"
        ref = p["metadata"]["ownerReferences"][0]
        assert (
            ref["kind"] == "StatefulSet"
            and ref["apiVersion"] == "apps.kruise.io/v1beta1"
            and ref["controller"]
        )
    st = status_of(kubectl, ns, "ordered")
    assert st["labelSelector"] == "app=ordered"


def test_in_place_update_keeps_uid_and_node_and_restarts_the_container(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    kubectl.apply(asts("inplace", 3, parallel=True, max_unavailable=1), ns)
    before_st = wait_rolled_out(kubectl, ns, "inplace", 3)
    before = pods_of(kubectl, ns, "inplace")
    with PodMonitor(kubeconfig, ns, "app=inplace", desired=3) as mon:
        set_image(kubectl, ns, "inplace", "nginx:1.27")
        after_st = wait_rolled_out(kubectl, ns, "inplace", 3)
    assert not mon.errors
    assert after_st["updateRevision"] != before_st["updateRevision"]
    after = pods_of(kubectl, ns, "inplace")
    for name, p in after.items():
        assert p["metadata"]["uid"] == before[name]["metadata"]["uid"], f"{name} was recreated"
        assert p["spec"]["nodeName"] == before[name]["spec"]["nodeName"]
        cs = p["status"]["containerStatuses"][0]
        assert cs["image"] == "nginx:1.27" and cs["restartCount"] == 1
        assert cs["imageID"] != before[name]["status"]["containerStatuses"][0]["imageID"]
        state = json.loads(p["metadata"]["annotations"]["apps.kruise.io/inplace-update-state"])
        assert state["revision"] == after_st["updateRevision"] and state["updateImages"] is True
        gate = next(c for c in p["status"]["conditions"] if c["type"] == "InPlaceUpdateReady")
        assert gate["status"] == "True"
    assert mon.max_unavailable <= 1, f"saw {mon.max_unavailable} unavailable with maxUnavailable 1"
    # Events are posted asynchronously after the writes.
    wait_for(
        lambda: (
            "SuccessfulUpdatePodInPlace"
            in kubectl(
                "get",
                "events",
                "-n",
                ns,
                "--field-selector",
                "involvedObject.name=inplace",
                "-o",
                "jsonpath={.items[*].reason}",
            )
        ),
        30,
        what="SuccessfulUpdatePodInPlace event",
    )


def test_recreate_changes_the_uid(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(asts("recreate", 2, parallel=True, policy="ReCreate"), ns)
    wait_rolled_out(kubectl, ns, "recreate", 2)
    before = pods_of(kubectl, ns, "recreate")
    set_image(kubectl, ns, "recreate", "nginx:1.27")
    wait_rolled_out(kubectl, ns, "recreate", 2)
    after = pods_of(kubectl, ns, "recreate")
    for name, p in after.items():
        assert p["metadata"]["uid"] != before[name]["metadata"]["uid"]
        assert p["status"]["containerStatuses"][0]["restartCount"] == 0
        assert p["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_maxunavailable_bounds_a_parallel_rollout(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    kubectl.apply(asts("wave", 6, parallel=True, max_unavailable=2), ns)
    wait_rolled_out(kubectl, ns, "wave", 6)
    with PodMonitor(kubeconfig, ns, "app=wave", desired=6) as mon:
        set_image(kubectl, ns, "wave", "nginx:1.27")
        wait_rolled_out(kubectl, ns, "wave", 6)
    assert mon.max_unavailable == 2, f"recorded maximum unavailable {mon.max_unavailable}, budget 2"
    # No pod was updated twice: each carries exactly two revisions (old, new).
    assert all(len(r) == 2 for r in mon.revisions.values()), mon.revisions


def test_partition_holds_the_lowest_pods(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(asts("canary", 4, parallel=True, partition=3), ns)
    st0 = wait_rolled_out(kubectl, ns, "canary", 4)
    set_image(kubectl, ns, "canary", "nginx:1.27")

    def canary_done() -> bool:
        st = status_of(kubectl, ns, "canary")
        return st.get("updatedReplicas") == 1 and st.get("readyReplicas") == 4

    wait_for(canary_done, 60, what="one canary pod updated")
    pods = pods_of(kubectl, ns, "canary")
    images = {n: p["spec"]["containers"][0]["image"] for n, p in pods.items()}
    assert images == {
        "canary-0": "nginx:1.25",
        "canary-1": "nginx:1.25",
        "canary-2": "nginx:1.25",
        "canary-3": "nginx:1.27",
    }
    st = status_of(kubectl, ns, "canary")
    assert st["currentRevision"] == st0["currentRevision"] != st["updateRevision"]


def test_paused_stops_updates_but_not_scaling(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(asts("paused", 2, parallel=True, paused=True), ns)
    wait_rolled_out(kubectl, ns, "paused", 2)
    set_image(kubectl, ns, "paused", "nginx:1.27")
    kubectl("scale", "asts/paused", "--replicas=3", "-n", ns)
    wait_for(
        lambda: status_of(kubectl, ns, "paused").get("readyReplicas") == 3,
        60,
        what="scaled to 3 while paused",
    )
    pods = pods_of(kubectl, ns, "paused")
    assert pods["paused-0"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert pods["paused-1"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    # New pods are created at the update revision (partition 0).
    assert pods["paused-2"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    kubectl(
        "patch",
        "asts",
        "paused",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"updateStrategy":{"rollingUpdate":{"paused":false}}}}',
    )
    wait_rolled_out(kubectl, ns, "paused", 3)


def test_rollback_reuses_the_revision(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(asts("rollback", 2, parallel=True), ns)
    first = wait_rolled_out(kubectl, ns, "rollback", 2)["updateRevision"]
    set_image(kubectl, ns, "rollback", "nginx:1.27")
    second = wait_rolled_out(kubectl, ns, "rollback", 2)["updateRevision"]
    assert second != first
    set_image(kubectl, ns, "rollback", "nginx:1.25")
    third = wait_rolled_out(kubectl, ns, "rollback", 2)["updateRevision"]
    assert third == first, "rolling back must reuse the old ControllerRevision"
    revs = kubectl.json("get", "controllerrevisions", "-n", ns)["items"]
    by_name = {r["metadata"]["name"]: r for r in revs}
    assert by_name[first]["revision"] > by_name[second]["revision"], (
        "the reused revision is bumped to the newest number"
    )


def test_scale_down_deletes_highest_ordinals_first(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    kubectl.apply(asts("down", 4, parallel=True), ns)
    wait_rolled_out(kubectl, ns, "down", 4)
    kubectl("scale", "asts/down", "--replicas=2", "-n", ns)
    wait_for(
        lambda: sorted(pods_of(kubectl, ns, "down")) == ["down-0", "down-1"], 60, what="scaled down to 2"
    )


def test_deleting_the_set_garbage_collects_its_pods(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    kubectl.apply(asts("gc", 2, parallel=True), ns)
    wait_rolled_out(kubectl, ns, "gc", 2)
    kubectl("delete", "asts", "gc", "-n", ns)
    wait_for(lambda: not pods_of(kubectl, ns, "gc"), 60, what="pods garbage-collected")


def test_invalid_update_is_rejected_and_loses_nothing(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    obj = asts("guard", 1, parallel=True)
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "guard", 1)
    bad = copy.deepcopy(obj)
    bad["spec"]["podManagementPolicy"] = "OrderedReady"
    res = kubectl.apply(bad, ns, check=False)
    assert res.returncode != 0 and "spec" in res.stderr
    assert kubectl.json("get", "asts", "guard", "-n", ns)["spec"]["podManagementPolicy"] == "Parallel"
