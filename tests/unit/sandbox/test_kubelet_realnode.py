"""The simulator's kubelet where tests/realnode showed it differed from the real kubelet v1.36.2
(containerd, runc): each test pins the real behaviour (docs/realnode.md, "Differences found")."""

from __future__ import annotations

from typing import Any

import pytest

from kruise_py.sandbox.kubelet import (
    ANN_RUN_SECONDS,
    SimConfig,
    container_id,
    image_id,
    pod_requests,
    slim_pod,
)

from .test_kubelet import SLOW, T0, ZERO, Kubelet, make_pod

SA_MOUNT = {
    "name": "kube-api-access-x",
    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
    "readOnly": True,
}


def res(cpu: str, mem: str, lcpu: str | None = None, lmem: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"requests": {"cpu": cpu, "memory": mem}}
    limits = {k: v for k, v in (("cpu", lcpu), ("memory", lmem)) if v}
    if limits:
        out["limits"] = limits
    return out


def test_ids_look_like_containerd_not_dockershim() -> None:
    assert container_id("u", "app", 1).startswith("containerd://")
    assert image_id("localhost/kruise-py/busybox:v1").startswith("localhost/kruise-py/busybox@sha256:")
    assert image_id("nginx@sha256:" + "a" * 64) == "nginx@sha256:" + "a" * 64


def test_volume_mounts_are_reported_for_every_container_even_before_it_starts() -> None:
    app = {"name": "app", "image": "a", "volumeMounts": [SA_MOUNT, {"name": "data", "mountPath": "/data"}]}
    k = Kubelet(make_pod(app), SLOW)
    k.sync()
    want = [
        {
            "name": "kube-api-access-x",
            "mountPath": SA_MOUNT["mountPath"],
            "readOnly": True,
            "recursiveReadOnly": "Disabled",
        },
        {"name": "data", "mountPath": "/data"},
    ]
    assert k.cs()["volumeMounts"] == want
    k.run_until(T0 + 5)
    assert k.cs()["volumeMounts"] == want
    # The simulator's slim cache keeps the mounts (and the probe, which decides readiness).
    assert (
        slim_pod(make_pod({**app, "readinessProbe": {"exec": {}}}))["spec"]["containers"][0]["volumeMounts"]
        == app["volumeMounts"]
    )


def test_a_started_container_without_resources_reports_empty_resources() -> None:
    k = Kubelet(make_pod({"name": "side", "image": "a"}), ZERO)
    k.sync()
    assert k.cs("side")["resources"] == {} and "allocatedResources" not in k.cs("side")


@pytest.mark.parametrize(
    ("containers", "init", "want_requests", "want_limits"),
    [
        (
            [("app", res("20m", "16Mi", "200m", "64Mi"))],
            [],
            {"cpu": "20m", "memory": "16Mi"},
            {"cpu": "200m", "memory": "64Mi"},
        ),
        # Sidecars add up with the containers; a regular init container needs the max.
        (
            [("app", res("100m", "16Mi")), ("b", res("50m", "16Mi"))],
            [("proxy", res("10m", "8Mi"), True)],
            {"cpu": "160m", "memory": "40Mi"},
            {},
        ),
        (
            [("app", res("100m", "16Mi"))],
            [("setup", res("1", "1Gi"), False)],
            {"cpu": "1", "memory": "1Gi"},
            {},
        ),
    ],
)
def test_pod_level_resources_and_allocated_resources(
    containers: list[Any], init: list[Any], want_requests: dict[str, str], want_limits: dict[str, str]
) -> None:
    """InPlacePodLevelResourcesVerticalScaling (on in 1.36): status.allocatedResources and
    status.resources at pod level, the aggregate of the containers (resourcehelper.PodRequests)."""
    pod = make_pod(
        *[{"name": n, "image": "a", "resources": r} for n, r in containers],
        init=[
            {"name": n, "image": "a", "resources": r, **({"restartPolicy": "Always"} if sc else {})}
            for n, r, sc in init
        ]
        or None,
    )
    k = Kubelet(pod, ZERO)
    k.run_until(T0 + 5)
    assert k.status["allocatedResources"] == want_requests
    assert k.status["resources"].get("requests") == want_requests
    assert k.status["resources"].get("limits", {}) == want_limits


def test_pod_level_resources_follow_an_in_place_resize() -> None:
    k = Kubelet(
        make_pod({"name": "app", "image": "a", "resources": res("20m", "16Mi", "200m", "64Mi")}), SLOW
    )
    k.run_until(T0 + 10)
    k.spec_change(lambda s: s["containers"][0].update(resources=res("40m", "16Mi", "300m", "64Mi")))
    k.run_until(T0 + 30)
    assert k.status["allocatedResources"] == {"cpu": "40m", "memory": "16Mi"}
    assert k.status["resources"] == {
        "requests": {"cpu": "40m", "memory": "16Mi"},
        "limits": {"cpu": "300m", "memory": "64Mi"},
    }
    assert pod_requests(k.pod, {"app": None}) == {}


def test_a_finished_pod_reports_completed_conditions_before_the_terminal_phase() -> None:
    """The status manager holds the terminal phase until the pod worker has terminated the pod:
    first phase Running with the container terminated and Ready False (PodCompleted), then
    Succeeded (seen on the real node with every BroadcastJob pod)."""
    cfg = SimConfig(start_delay=1, ready_delay=0, stop_delay=1, complete_after=2)
    k = Kubelet(make_pod(restartPolicy="Never", annotations={ANN_RUN_SECONDS: "2"}), cfg)
    k.sync()
    k.sync(T0 + 1)
    k.sync(T0 + 3)
    assert k.cs()["state"]["terminated"]["reason"] == "Completed"
    assert k.status["phase"] == "Running"
    assert (k.cond("Ready")["status"], k.cond("Ready")["reason"]) == ("False", "PodCompleted")
    assert k.wake == T0 + 4
    k.sync(T0 + 4)
    assert k.status["phase"] == "Succeeded"
    assert k.wake is None
