"""The node simulator on the real control plane: real scheduler, real controllers, simulated kubelet.

Uses the session fixtures of conftest.py (one control plane and one simulator process per session —
two simulators on one cluster would fight over pod IPs) and kubectl, as a user sees the cluster.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from kruise_py.sandbox import storage
from kruise_py.sandbox.controlplane import ControlPlane
from kruise_py.sandbox.kubelet import ANN_EXIT_CODE, ANN_RUN_SECONDS, NOT_READY_TAINT, SIM_LABEL, image_id

from .conftest import NODES, Kubectl, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("simulator")]


def pod_manifest(name: str, image: str = "nginx:1.27", **spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": image}], "terminationGracePeriodSeconds": 5, **spec},
    }


def get_pod(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    pod: dict[str, Any] = kubectl.json("get", "pod", name, "-n", ns)
    return pod


def cond(pod: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in pod.get("status", {}).get("conditions", []) if c["type"] == ctype), {})


def is_ready(pod: dict[str, Any]) -> bool:
    return cond(pod, "Ready").get("status") == "True"


def simulator_writes(cp: ControlPlane, ns: str | None, resource: str) -> Counter[str]:
    """Writes by the simulator per object name, from the apiserver's audit log."""
    counts: Counter[str] = Counter()
    for line in cp.audit_log.read_text().splitlines():
        if '"kruise-py-simulator"' not in line:
            continue
        e = json.loads(line)
        ref = e.get("objectRef", {})
        if (
            ref.get("resource") == resource
            and (ns is None or ref.get("namespace") == ns)
            and e.get("stage") == "ResponseComplete"
        ):
            counts[ref.get("name", "")] += 1
    return counts


def test_nodes_are_ready_and_untainted(kubectl: Kubectl, control_plane: ControlPlane) -> None:
    nodes = kubectl.json("get", "nodes", "-l", f"{SIM_LABEL}=true")["items"]
    assert len(nodes) >= NODES
    names = {n["metadata"]["name"] for n in nodes}
    assert {f"sim-node-{i}" for i in range(NODES)} <= names
    for n in nodes:
        assert cond(n, "Ready")["status"] == "True" and cond(n, "Ready")["reason"] == "KubeletReady"
        for pressure in ("MemoryPressure", "DiskPressure", "PIDPressure"):
            assert cond(n, pressure)["status"] == "False"
        assert not any(t["key"] == NOT_READY_TAINT for t in n["spec"].get("taints") or [])
        assert n["status"]["allocatable"]["pods"] == "110"
        assert n["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.2"
        assert n["metadata"]["labels"]["kubernetes.io/hostname"] == n["metadata"]["name"]
    # `kubectl get nodes` shows them Ready
    out = kubectl("get", "nodes", "-l", f"{SIM_LABEL}=true", "--no-headers")
    assert all(line.split()[1] == "Ready" for line in out.splitlines())
    # No heartbeats, no write storm: an idle node is not written again.
    before = simulator_writes(control_plane, None, "nodes")
    time.sleep(2)
    assert simulator_writes(control_plane, None, "nodes") == before


def test_adopts_a_labelled_node_created_by_a_test_keeping_its_taints(kubectl: Kubectl) -> None:
    name = f"adopted-{int(time.time() * 1000) % 100000}"
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {SIM_LABEL: "true"}},
            "spec": {"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]},
        }
    )
    try:
        node = wait_for(
            lambda: (
                (n := kubectl.json("get", "node", name))
                and is_ready(n)
                and not any(t["key"] == NOT_READY_TAINT for t in n["spec"].get("taints") or [])
                and n
            ),
            what="adopted node Ready",
        )
        assert [t["key"] for t in node["spec"]["taints"]] == ["dedicated"]
        assert node["status"]["capacity"]["cpu"] == "8"
    finally:
        kubectl.run("delete", "node", name, check=False)


def test_upstream_statefulset_reaches_ready(kubectl: Kubectl, ns: str, control_plane: ControlPlane) -> None:
    kubectl.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "serviceName": "web",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
                },
            },
        },
        namespace=ns,
    )
    wait_for(
        lambda: kubectl.json("get", "sts", "web", "-n", ns)["status"].get("readyReplicas") == 3,
        timeout=90,
        what="3 ready replicas",
    )
    pods = kubectl.json("get", "pods", "-n", ns, "-l", "app=web")["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == ["web-0", "web-1", "web-2"]
    ips = set()
    for p in pods:
        s = p["status"]
        assert s["phase"] == "Running" and is_ready(p)
        assert s["podIP"].startswith("10.244.") and s["hostIP"].startswith("127.")
        assert p["spec"]["nodeName"].startswith("sim-node-")
        cs = s["containerStatuses"][0]
        assert cs["ready"] and cs["started"] and cs["restartCount"] == 0
        assert cs["imageID"] == image_id("nginx:1.27")
        ips.add(s["podIP"])
    assert len(ips) == 3
    # Converged: no status is written again (at most create->started->ready, plus a retried conflict).
    writes = simulator_writes(control_plane, ns, "pods")
    assert all(n <= 4 for n in writes.values()), writes
    time.sleep(1.5)
    assert simulator_writes(control_plane, ns, "pods") == writes


def test_image_change_restarts_container_in_place(kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(pod_manifest("inplace", "nginx:1.27"), namespace=ns)
    before = wait_for(lambda: (p := get_pod(kubectl, ns, "inplace")) and is_ready(p) and p, what="pod Ready")
    old = before["status"]["containerStatuses"][0]
    kubectl(
        "patch",
        "pod",
        "inplace",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/containers/0/image","value":"nginx:1.28"}]',
    )

    def restarted() -> dict[str, Any] | None:
        p = get_pod(kubectl, ns, "inplace")
        cs = p["status"]["containerStatuses"][0]
        return p if cs["restartCount"] == 1 and cs["ready"] and is_ready(p) else None

    after = wait_for(restarted, what="container restarted with the new image")
    cs = after["status"]["containerStatuses"][0]
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert cs["image"] == "nginx:1.28"
    assert cs["imageID"] == image_id("nginx:1.28") != old["imageID"]
    assert cs["containerID"] != old["containerID"]
    assert cs["lastState"]["terminated"]["containerID"] == old["containerID"]
    assert after["status"]["observedGeneration"] == after["metadata"]["generation"]


def test_readiness_gate_holds_ready_until_condition_true(kubectl: Kubectl, ns: str) -> None:
    gate = "example.com/gate"
    kubectl.apply(pod_manifest("gated", readinessGates=[{"conditionType": gate}]), namespace=ns)
    pod = wait_for(
        lambda: (
            (p := get_pod(kubectl, ns, "gated")) and cond(p, "ContainersReady").get("status") == "True" and p
        ),
        what="containers ready",
    )
    time.sleep(1)  # nothing else may flip it
    pod = get_pod(kubectl, ns, "gated")
    ready = cond(pod, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ReadinessGatesNotReady"
    assert gate in ready["message"]
    kubectl(
        "patch",
        "pod",
        "gated",
        "-n",
        ns,
        "--subresource=status",
        "--type=strategic",
        "-p",
        json.dumps({"status": {"conditions": [{"type": gate, "status": "False"}]}}),
    )
    wait_for(
        lambda: "is not" in cond(get_pod(kubectl, ns, "gated"), "Ready").get("message", ""),
        what="Ready message follows the gate",
    )
    kubectl(
        "patch",
        "pod",
        "gated",
        "-n",
        ns,
        "--subresource=status",
        "--type=strategic",
        "-p",
        json.dumps({"status": {"conditions": [{"type": gate, "status": "True"}]}}),
    )
    pod = wait_for(lambda: (p := get_pod(kubectl, ns, "gated")) and is_ready(p) and p, what="Ready")
    assert cond(pod, gate)["status"] == "True"  # the simulator never clobbers a controller's gate


def test_deleting_the_owner_garbage_collects_pods(kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "gc"},
            "spec": {
                "replicas": 2,
                "serviceName": "gc",
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": {"app": "gc"}},
                "template": {
                    "metadata": {"labels": {"app": "gc"}},
                    "spec": {
                        "containers": [{"name": "c", "image": "nginx:1.27"}],
                        "terminationGracePeriodSeconds": 30,
                    },
                },
            },
        },
        namespace=ns,
    )
    wait_for(
        lambda: kubectl.json("get", "sts", "gc", "-n", ns)["status"].get("readyReplicas") == 2,
        timeout=90,
        what="2 ready replicas",
    )
    kubectl("delete", "statefulset", "gc", "-n", ns, "--wait=false")
    wait_for(
        lambda: not kubectl.json("get", "pods", "-n", ns, "-l", "app=gc")["items"],
        timeout=90,
        what="pods garbage-collected",
    )


@pytest.mark.parametrize("code,phase", [(0, "Succeeded"), (1, "Failed")])
def test_run_to_completion(kubectl: Kubectl, ns: str, code: int, phase: str) -> None:
    kubectl.apply(
        pod_manifest(
            "job",
            "busybox:1.36",
            restartPolicy="Never",
            annotations={ANN_EXIT_CODE: str(code), ANN_RUN_SECONDS: "0.5"},
        ),
        namespace=ns,
    )
    pod = wait_for(
        lambda: (p := get_pod(kubectl, ns, "job"))["status"].get("phase") in ("Succeeded", "Failed") and p,
        what="pod finished",
    )
    assert pod["status"]["phase"] == phase
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == code
    assert term["reason"] == ("Completed" if code == 0 else "Error")
    assert cond(pod, "Ready")["reason"] == ("PodCompleted" if code == 0 else "PodFailed")


def test_on_failure_pod_keeps_restarting(kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(
        pod_manifest(
            "crash", restartPolicy="OnFailure", annotations={ANN_EXIT_CODE: "2", ANN_RUN_SECONDS: "0.2"}
        ),
        namespace=ns,
    )
    pod = wait_for(
        lambda: (
            (p := get_pod(kubectl, ns, "crash"))["status"].get("containerStatuses")
            and p["status"]["containerStatuses"][0]["restartCount"] >= 2
            and p
        ),
        what="restarts",
    )
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 2


def test_unpullable_image_stays_waiting(kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(pod_manifest("bad", "registry.example/team/does-not-exist:1"), namespace=ns)

    def backing_off() -> dict[str, Any] | None:
        p = get_pod(kubectl, ns, "bad")
        cs = (p["status"].get("containerStatuses") or [{}])[0]
        return p if cs.get("state", {}).get("waiting", {}).get("reason") == "ImagePullBackOff" else None

    wait_for(backing_off, what="ImagePullBackOff")
    time.sleep(1.5)
    pod = get_pod(kubectl, ns, "bad")
    cs = pod["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert not cs["ready"] and cs["restartCount"] == 0
    assert pod["status"]["phase"] == "Pending" and not is_ready(pod)
    # `kubectl get pod` shows the reason, as with a real kubelet
    assert "ImagePullBackOff" in kubectl("get", "pod", "bad", "-n", ns, "--no-headers")


def test_init_container_and_native_sidecar(kubectl: Kubectl, ns: str) -> None:
    manifest = pod_manifest("side")
    manifest["spec"]["initContainers"] = [
        {"name": "setup", "image": "busybox:1.36"},
        {"name": "proxy", "image": "envoy:1", "restartPolicy": "Always"},
    ]
    kubectl.apply(manifest, namespace=ns)
    pod = wait_for(lambda: (p := get_pod(kubectl, ns, "side")) and is_ready(p) and p, what="pod Ready")
    init = {c["name"]: c for c in pod["status"]["initContainerStatuses"]}
    assert init["setup"]["state"]["terminated"]["reason"] == "Completed"
    assert "running" in init["proxy"]["state"] and init["proxy"]["ready"]
    kubectl(
        "patch",
        "pod",
        "side",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/initContainers/1/image","value":"envoy:2"}]',
    )

    def sidecar_restarted() -> bool:
        p = get_pod(kubectl, ns, "side")
        proxy = next(c for c in p["status"]["initContainerStatuses"] if c["name"] == "proxy")
        return proxy["restartCount"] == 1 and proxy["imageID"] == image_id("envoy:2") and is_ready(p)

    wait_for(sidecar_restarted, what="sidecar restarted in place")
    assert get_pod(kubectl, ns, "side")["status"]["containerStatuses"][0]["restartCount"] == 0


def test_namespace_with_pods_can_be_deleted(kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "sim-ns-delete")
    kubectl.apply(pod_manifest("p"), namespace="sim-ns-delete")
    wait_for(lambda: is_ready(get_pod(kubectl, "sim-ns-delete", "p")), what="pod Ready")
    kubectl("delete", "namespace", "sim-ns-delete", "--wait=false")
    wait_for(
        lambda: kubectl.run("get", "namespace", "sim-ns-delete", check=False).returncode != 0,
        timeout=90,
        what="namespace gone",
    )


# -- the storage driver ----------------------------------------------------------------------------
def claim_manifest(name: str, size: str, cls: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "storageClassName": cls,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
        },
    }


def get_claim(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    claim: dict[str, Any] = kubectl.json("get", "pvc", name, "-n", ns)
    return claim


@pytest.mark.usefixtures("sandbox_storage")
def test_storage_driver_provisions_expands_online_and_deletes(
    kubectl: Kubectl, ns: str, control_plane: ControlPlane
) -> None:
    kubectl.apply(claim_manifest("grow", "1Gi", storage.EXPANDABLE_CLASS), ns)
    kubectl.apply(claim_manifest("fixed", "1Gi", storage.FIXED_CLASS), ns)
    for name in ("grow", "fixed"):
        # Provisioned by the simulator, bound by kube-controller-manager's PV controller.
        c = wait_for(
            lambda n=name: (c := get_claim(kubectl, ns, n))["status"].get("phase") == "Bound" and c,
            what=f"claim {name} bound",
        )
        assert c["status"]["capacity"] == {"storage": "1Gi"}
        pv = kubectl.json("get", "pv", c["spec"]["volumeName"])
        assert pv["metadata"]["name"] == f"pvc-{c['metadata']['uid']}"
        assert pv["metadata"]["annotations"][storage.PROVISIONED_BY] == storage.PROVISIONER
        assert pv["spec"]["csi"]["driver"] == storage.PROVISIONER

    # The apiserver refuses to grow a claim whose class cannot expand.
    res = kubectl.run(
        "patch",
        "pvc",
        "fixed",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}',
        check=False,
    )
    assert res.returncode != 0 and "storageclass that provisions the pvc must support resize" in res.stderr

    kubectl(
        "patch",
        "pvc",
        "grow",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}',
    )

    def fs_pending() -> dict[str, Any] | None:
        c = get_claim(kubectl, ns, "grow")
        return (
            c
            if any(x["type"] == storage.FS_RESIZE_PENDING for x in c["status"].get("conditions") or [])
            else None
        )

    c = wait_for(fs_pending, what="FileSystemResizePending")
    assert c["status"]["capacity"] == {"storage": "1Gi"}  # no pod mounts it: the file system waits
    assert kubectl.json("get", "pv", c["spec"]["volumeName"])["spec"]["capacity"] == {"storage": "2Gi"}

    kubectl.apply(
        pod_manifest("user", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "grow"}}]), ns
    )
    c = wait_for(
        lambda: (c := get_claim(kubectl, ns, "grow"))["status"].get("capacity") == {"storage": "2Gi"} and c,
        what="capacity 2Gi once a pod mounts the claim",
    )
    assert not c["status"].get("conditions") and not c["status"].get("allocatedResourceStatuses")
    assert is_ready(get_pod(kubectl, ns, "user"))
    # One status write per step: Resizing, FileSystemResizePending, the new capacity.
    assert simulator_writes(control_plane, ns, "persistentvolumeclaims")["grow"] == 3

    volumes = {get_claim(kubectl, ns, n)["spec"]["volumeName"] for n in ("grow", "fixed")}
    kubectl("delete", "pod", "user", "-n", ns, "--wait=true")
    kubectl("delete", "pvc", "grow", "fixed", "-n", ns, "--wait=true")
    wait_for(
        lambda: not volumes & {v["metadata"]["name"] for v in kubectl.json("get", "pv")["items"]},
        what="released volumes deleted",
    )
