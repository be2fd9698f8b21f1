"""kruise-py's core promises on a real kubelet, and the same scenarios on the simulator.

Every assertion here is what the real kubelet v1.36.2 (containerd 1.6, runc, cgroup v1) does; the
``sim`` variant must do the same. Pods run the locally built images (docs/realnode.md): ``app`` is
busybox httpd on :8080 (readiness probe), other containers sleep; all exit at once on TERM.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import APP_V1, APP_V2, SLEEP, Kubectl, Shapes, Target, wait_for
from .observe import PodHistory, status_shape

pytestmark = pytest.mark.realnode
ANN_RUN = "sim.kruise-py.io/run-seconds"


def app(image: str = APP_V1, cpu: str = "20m", cpu_limit: str = "200m") -> dict[str, Any]:
    return {
        "name": "app",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
        "resources": {
            "requests": {"cpu": cpu, "memory": "16Mi"},
            "limits": {"cpu": cpu_limit, "memory": "64Mi"},
        },
    }


def side(name: str = "side", image: str = APP_V1) -> dict[str, Any]:
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "command": SLEEP}


def asts(
    target: Target, name: str, replicas: int, containers: list[dict[str, Any]], *, max_unavailable: int = 1
) -> dict[str, Any]:
    spec = target.place(
        {
            "readinessGates": [{"conditionType": "InPlaceUpdateReady"}],
            "terminationGracePeriodSeconds": 10,
            "containers": containers,
        }
    )
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": max_unavailable},
            },
        },
    }


def pods_of(kubectl: Kubectl, ns: str, selector: str) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in kubectl.json("get", "pods", "-n", ns, "-l", selector)["items"]}


def cstatus(pod: dict[str, Any], name: str) -> dict[str, Any]:
    st = pod.get("status") or {}
    return next(
        c
        for c in [*(st.get("containerStatuses") or []), *(st.get("initContainerStatuses") or [])]
        if c["name"] == name
    )


def cond(pod: dict[str, Any], typ: str) -> dict[str, Any]:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == typ), {})


def ready_pod(kubectl: Kubectl, ns: str, name: str, timeout: float = 90) -> dict[str, Any]:
    def get() -> dict[str, Any] | None:
        p: dict[str, Any] = kubectl.json("get", "pod", name, "-n", ns)
        return p if cond(p, "Ready").get("status") == "True" else None

    return wait_for(get, timeout, what=f"{name} Ready")  # type: ignore[no-any-return]


def rolled_out(kubectl: Kubectl, ns: str, name: str, replicas: int, timeout: float = 120) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        obj = kubectl.json("get", "asts", name, "-n", ns)
        st = obj.get("status") or {}
        ok = (
            st.get("updatedReplicas") == replicas
            and st.get("readyReplicas") == replicas
            and st.get("replicas") == replicas
            and st.get("currentRevision") == st.get("updateRevision")
            and st.get("observedGeneration") == obj["metadata"]["generation"]
        )
        return st if ok else None

    return wait_for(done, timeout, what=f"{name} rolled out")  # type: ignore[no-any-return]


def patch_app(kubectl: Kubectl, ns: str, name: str, field: str, value: Any) -> None:
    """Set one field of the template's first container ("app"); a JSON patch, since a merge patch
    would replace the whole container list (and a CRD takes no strategic merge)."""
    kubectl(
        "patch",
        "asts",
        name,
        "-n",
        ns,
        "--type=json",
        "-p",
        json.dumps([{"op": "replace", "path": f"/spec/template/spec/containers/0/{field}", "value": value}]),
    )


def http_get(ip: str) -> str:
    """The pod answers on its own address (a bridge on this machine): which image is serving."""
    with urllib.request.urlopen(f"http://{ip}:8080/", timeout=5) as r:
        return str(r.read().decode())


def test_asts_inplace_image_update(
    target: Target, kubectl: Kubectl, kubeconfig: Path, ns: str, shapes: Shapes
) -> None:
    """Only the changed container restarts; the pod keeps its UID and IP; the readiness gate
    takes the pod out of Ready during the update and back after."""
    kubectl.apply(asts(target, "web", 1, [app(), side()]), ns)
    rolled_out(kubectl, ns, "web", 1)
    before = pods_of(kubectl, ns, "app=web")["web-0"]
    if target.kind == "real":
        assert "v1" in http_get(before["status"]["podIP"])
    with PodHistory(kubeconfig, ns, "app=web", desired=1) as mon:
        patch_app(kubectl, ns, "web", "image", APP_V2)
        rolled_out(kubectl, ns, "web", 1)
        after = ready_pod(kubectl, ns, "web-0")
    assert not mon.errors
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["status"]["podIP"] == before["status"]["podIP"]
    a0, a1 = cstatus(before, "app"), cstatus(after, "app")
    s0, s1 = cstatus(before, "side"), cstatus(after, "side")
    assert (a1["restartCount"], s1["restartCount"]) == (1, 0)
    assert a1["containerID"] != a0["containerID"] and a1["imageID"] != a0["imageID"]
    assert a1["image"] == APP_V2
    assert (s1["containerID"], s1["imageID"]) == (s0["containerID"], s0["imageID"])
    # The old container stopped on TERM: exit 0, "Completed".
    term = a1["lastState"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed") and term["containerID"] == a0["containerID"]
    gate = cond(after, "InPlaceUpdateReady")
    assert gate["status"] == "True"
    views = mon.views("web-0")
    # Ready went False during the update (the gate, then the restarting container), True at the end.
    assert any(v[1] == "False" for v in views), views
    assert any(v[3] == "False" for v in views), views
    assert views[-1][1] == "True"
    if target.kind == "real":
        assert "v2" in http_get(after["status"]["podIP"])
    shapes.record("asts-inplace-image", target, status_shape(after), views)


def test_asts_max_unavailable_waves(
    target: Target, kubectl: Kubectl, kubeconfig: Path, ns: str, shapes: Shapes
) -> None:
    """maxUnavailable 2 over 4 pods: two at a time, never three, every pod updated in place."""
    kubectl.apply(asts(target, "waves", 4, [app(cpu="10m")], max_unavailable=2), ns)
    rolled_out(kubectl, ns, "waves", 4)
    before = pods_of(kubectl, ns, "app=waves")
    with PodHistory(kubeconfig, ns, "app=waves", desired=4) as mon:
        patch_app(kubectl, ns, "waves", "image", APP_V2)
        rolled_out(kubectl, ns, "waves", 4, timeout=180)
    assert not mon.errors
    assert mon.max_unavailable == 2, f"max unavailable {mon.max_unavailable} with maxUnavailable 2"
    after = pods_of(kubectl, ns, "app=waves")
    for name, p in after.items():
        assert p["metadata"]["uid"] == before[name]["metadata"]["uid"]
        assert cstatus(p, "app")["restartCount"] == 1 and cstatus(p, "app")["image"] == APP_V2
    shapes.record("asts-waves", target, status_shape(after["waves-0"]))


def test_asts_inplace_cpu_resize(
    target: Target, kubectl: Kubectl, kubeconfig: Path, ns: str, shapes: Shapes, real_node_dir: Path | None
) -> None:
    """A CPU change in the template goes through pods/resize: no restart, the kubelet actuates it
    and reports it in containerStatuses[].resources and allocatedResources."""
    kubectl.apply(asts(target, "rsz", 1, [app(cpu="20m", cpu_limit="200m")]), ns)
    rolled_out(kubectl, ns, "rsz", 1)
    before = pods_of(kubectl, ns, "app=rsz")["rsz-0"]
    with PodHistory(kubeconfig, ns, "app=rsz", desired=1) as mon:
        patch_app(
            kubectl,
            ns,
            "rsz",
            "resources",
            {"requests": {"cpu": "40m", "memory": "16Mi"}, "limits": {"cpu": "300m", "memory": "64Mi"}},
        )
        rolled_out(kubectl, ns, "rsz", 1)

        def actuated() -> dict[str, Any] | None:
            p = pods_of(kubectl, ns, "app=rsz")["rsz-0"]
            res = cstatus(p, "app").get("resources") or {}
            done = (
                res.get("limits", {}).get("cpu") == "300m"
                and not cond(p, "PodResizePending")
                and not cond(p, "PodResizeInProgress")
                and (p["status"].get("observedGeneration") == p["metadata"]["generation"])
            )
            return p if done else None

        after = wait_for(actuated, 60, what="resize actuated")
    assert not mon.errors
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    a0, a1 = cstatus(before, "app"), cstatus(after, "app")
    assert a1["restartCount"] == 0 and a1["containerID"] == a0["containerID"]
    assert a1["resources"] == {
        "requests": {"cpu": "40m", "memory": "16Mi"},
        "limits": {"cpu": "300m", "memory": "64Mi"},
    }
    assert a1["allocatedResources"] == {"cpu": "40m", "memory": "16Mi"}
    assert after["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "300m"
    assert after["status"]["resources"]["limits"]["cpu"] == "300m"
    if target.kind == "real" and real_node_dir is not None:
        # The container's own cgroup (v1: cpu controller) carries the new quota: 300m of 100 ms.
        cid = a1["containerID"].split("//", 1)[1]
        quota = next(Path("/sys/fs/cgroup/cpu").rglob(f"{cid}/cpu.cfs_quota_us"))
        assert quota.read_text().strip() == "30000"
    shapes.record("asts-resize", target, status_shape(after), mon.views("rsz-0"))


def sidecarset(name: str, selector: dict[str, str], image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": selector},
            "containers": [{**side("logger", image), "podInjectPolicy": "AfterAppContainer"}],
            "initContainers": [{**side("proxy", image), "restartPolicy": "Always"}],
            "updateStrategy": {"type": "RollingUpdate", "maxUnavailable": 1},
        },
    }


def test_sidecarset_inplace_upgrade_with_native_sidecar(
    target: Target, kubectl: Kubectl, kubeconfig: Path, ns: str, sidecarsets: list[str], shapes: Shapes
) -> None:
    """A SidecarSet image change upgrades the injected sidecar and the native sidecar (init
    container with restartPolicy Always) in place; the app container is not restarted."""
    tag = ns[-5:]
    name = "rn-sidecars"  # cluster-scoped, deleted after the test; its name shows in a condition
    labels = {"app": "scs", "t": tag}
    sidecarsets.append(name)
    kubectl.apply(sidecarset(name, labels, APP_V1))
    wait_for(
        lambda: (
            kubectl.json("get", "sidecarset", name)["metadata"]
            .get("annotations", {})
            .get("kruise.io/sidecarset-hash")
        ),
        30,
        what="SidecarSet admitted",
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "scs-0", "labels": labels},
        "spec": target.place({"terminationGracePeriodSeconds": 10, "containers": [app()]}),
    }

    def injected_pod() -> dict[str, Any] | None:
        # The webhook reads SidecarSets from the operator's cache: create until it has injected.
        kubectl.apply(pod, ns)
        p = kubectl.json("get", "pod", "scs-0", "-n", ns)
        if [c["name"] for c in p["spec"].get("initContainers") or []] != ["proxy"]:
            kubectl("delete", "pod", "scs-0", "-n", ns, "--wait=true")
            return None
        return p

    wait_for(injected_pod, 60, what="sidecars injected")
    before = ready_pod(kubectl, ns, "scs-0")
    assert [c["name"] for c in before["spec"]["containers"]] == ["app", "logger"]
    with PodHistory(kubeconfig, ns, "app=scs", desired=1) as mon:
        kubectl.apply(sidecarset(name, labels, APP_V2))

        def upgraded() -> dict[str, Any] | None:
            p = kubectl.json("get", "pod", "scs-0", "-n", ns)
            ok = all(
                cstatus(p, c).get("image") == APP_V2 and cstatus(p, c).get("ready")
                for c in ("proxy", "logger")
            )
            return p if ok and cond(p, "Ready").get("status") == "True" else None

        after = wait_for(upgraded, 90, what="sidecars upgraded in place")
        wait_for(
            lambda: kubectl.json("get", "sidecarset", name).get("status", {}).get("updatedReadyPods") == 1,
            60,
            what="SidecarSet status updatedReadyPods=1",
        )
    assert not mon.errors
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["status"]["podIP"] == before["status"]["podIP"]
    for c in ("proxy", "logger"):
        assert cstatus(after, c)["restartCount"] == 1, c
        assert cstatus(after, c)["containerID"] != cstatus(before, c)["containerID"], c
        term = cstatus(after, c)["lastState"]["terminated"]
        assert (term["exitCode"], term["reason"]) == (0, "Completed"), (c, term)
    assert cstatus(after, "app")["restartCount"] == 0
    assert cstatus(after, "app")["containerID"] == cstatus(before, "app")["containerID"]
    shapes.record("sidecarset-upgrade", target, status_shape(after), mon.views("scs-0"))


def test_broadcastjob_runs_to_completion(
    target: Target, kubectl: Kubectl, kubeconfig: Path, ns: str, shapes: Shapes
) -> None:
    """One pod on the node, run to exit 0: pod Succeeded, job complete."""
    spec = target.place(
        {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "task",
                    "image": APP_V1,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["/bin/sh", "-c", "sleep 2; cat /etc/kruise-py-image"],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }
            ],
        }
    )
    job = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "BroadcastJob",
        "metadata": {"name": "once"},
        "spec": {
            "template": {
                "metadata": {"labels": {"job": "once"}, "annotations": {ANN_RUN: "2"}},
                "spec": spec,
            },
            "completionPolicy": {"type": "Always"},
        },
    }
    with PodHistory(kubeconfig, ns, "job=once", desired=1) as mon:
        kubectl.apply(job, ns)

        def completed() -> dict[str, Any] | None:
            s: dict[str, Any] = kubectl.json("get", "bcj", "once", "-n", ns).get("status") or {}
            return s if s.get("phase") == "completed" else None

        st = wait_for(completed, 90, what="job completed")
    assert not mon.errors
    assert (st["desired"], st["active"], st["succeeded"], st["failed"]) == (1, 0, 1, 0)
    assert st["conditions"][-1]["type"] == "Complete"
    pods = list(pods_of(kubectl, ns, "job=once").values())
    assert len(pods) == 1 and pods[0]["spec"]["nodeName"] == target.node
    p = pods[0]
    assert p["status"]["phase"] == "Succeeded"
    term = cstatus(p, "task")["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")
    assert cond(p, "Ready")["status"] == "False" and cond(p, "Ready")["reason"] == "PodCompleted"
    assert cond(p, "ContainersReady")["reason"] == "PodCompleted"
    shapes.record("broadcastjob", target, status_shape(p), mon.views(p["metadata"]["name"]))
