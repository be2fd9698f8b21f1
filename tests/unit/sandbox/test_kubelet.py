"""The simulated kubelet's pure state machine, driven by a fake clock and a fake apiserver merge."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kruise_py.sandbox.kubelet import (
    ANN_EXIT_CODE,
    ANN_RUN_SECONDS,
    NOT_READY_TAINT,
    IPPool,
    PodState,
    SimConfig,
    container_should_restart,
    get_phase,
    image_id,
    new_node,
    new_pod_state,
    node_actions,
    qos_class,
    slim_pod,
    status_differs,
    status_signature,
    step,
)

T0 = 1_800_000_000.0
ZERO = SimConfig(
    start_delay=0,
    ready_delay=0,
    stop_delay=0,
    restart_delay=0,
    resize_delay=0,
    delete_delay=0,
    pull_backoff_delay=0,
    init_run_seconds=0,
    complete_after=0,
)
SLOW = SimConfig(
    start_delay=1,
    ready_delay=2,
    stop_delay=3,
    restart_delay=4,
    resize_delay=5,
    delete_delay=6,
    pull_backoff_delay=7,
    init_run_seconds=8,
    complete_after=10,
)


# -- a tiny fake apiserver -------------------------------------------------------------------------
def _merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)


def apply_status_patch(pod: dict[str, Any], patch: dict[str, Any]) -> None:
    """Strategic merge of a pods/status patch: conditions merge by type, other lists replace."""
    assert patch["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"], "stale write"
    status = pod.setdefault("status", {})
    for k, v in patch["status"].items():
        if k != "conditions":
            if v is None:
                status.pop(k, None)
            else:
                status[k] = copy.deepcopy(v)
            continue
        conds = status.setdefault("conditions", [])
        for c in v:
            i = next((i for i, o in enumerate(conds) if o["type"] == c["type"]), None)
            if c.get("$patch") == "delete":
                if i is not None:
                    conds.pop(i)
            elif i is None:
                conds.append({kk: vv for kk, vv in c.items() if vv is not None})
            else:
                _merge(conds[i], c)
    bump(pod)


def bump(pod: dict[str, Any]) -> None:
    pod["metadata"]["resourceVersion"] = str(int(pod["metadata"]["resourceVersion"]) + 1)


def make_pod(
    *containers: dict[str, Any],
    init: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "uid-1",
            "resourceVersion": "1",
            "generation": 1,
            "annotations": annotations or {},
        },
        "spec": {
            "nodeName": "n",
            "containers": list(containers) or [{"name": "app", "image": "nginx:1"}],
            **({"initContainers": init} if init else {}),
            **spec,
        },
        "status": {
            "phase": "Pending",
            "qosClass": "BestEffort",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2027-01-15T08:00:00Z"}
            ],
        },
    }


class Kubelet:
    """Drives step() like the simulator does: applies patches, follows wake-ups, counts writes."""

    def __init__(self, pod: dict[str, Any], cfg: SimConfig, now: float = T0) -> None:
        self.pod, self.cfg, self.now = pod, cfg, now
        self.state: PodState = new_pod_state(pod, "10.244.0.7", "127.0.0.9", now)
        self.writes = 0
        self.deleted = False
        self.wake: float | None = None

    def sync(self, at: float | None = None) -> dict[str, Any] | None:
        if at is not None:
            self.now = at
        d = step(self.pod, self.state, self.cfg, self.now)
        self.state, self.wake = d.state, d.wake
        if d.delete:
            self.deleted = True
        if d.patch:
            apply_status_patch(self.pod, d.patch)
            self.state.last_written = d.signature
            self.state.written_result = status_signature(self.pod.get("status") or {})
            self.writes += 1
        return d.patch

    def run_until(self, until: float) -> None:
        """Sync now, then at every wake-up up to ``until`` (inclusive), then once at ``until``."""
        self.sync()
        while self.wake is not None and self.wake <= until:
            self.sync(self.wake)
        self.sync(until)

    def spec_change(self, fn: Any) -> None:
        fn(self.pod["spec"])
        self.pod["metadata"]["generation"] += 1
        bump(self.pod)

    # views
    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.pod["status"]
        return status

    def cs(self, name: str = "app", init: bool = False) -> dict[str, Any]:
        key = "initContainerStatuses" if init else "containerStatuses"
        return next(c for c in self.status[key] if c["name"] == name)

    def cond(self, ctype: str) -> dict[str, Any]:
        return next(c for c in self.status["conditions"] if c["type"] == ctype)

    def has_cond(self, ctype: str) -> bool:
        return any(c["type"] == ctype for c in self.status["conditions"])


# -- basic lifecycle ---------------------------------------------------------------------------------
def test_zero_delays_one_write_running_ready() -> None:
    k = Kubelet(make_pod(), ZERO)
    k.sync()
    assert k.writes == 1
    s = k.status
    assert s["phase"] == "Running"
    assert s["podIP"] == "10.244.0.7" and s["podIPs"] == [{"ip": "10.244.0.7"}]
    assert s["hostIP"] == "127.0.0.9" and s["hostIPs"] == [{"ip": "127.0.0.9"}]
    assert s["startTime"] == "2027-01-15T08:00:00Z"
    assert s["observedGeneration"] == 1
    cs = k.cs()
    assert cs["image"] == "nginx:1"
    assert cs["imageID"] == image_id("nginx:1")
    assert cs["imageID"].startswith("nginx@sha256:")
    assert cs["containerID"].startswith("containerd://")
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0
    assert cs["state"] == {"running": {"startedAt": "2027-01-15T08:00:00Z"}}
    for ctype in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"):
        assert k.cond(ctype)["status"] == "True", ctype
    # the scheduler's transition time is kept
    assert k.cond("PodScheduled")["lastTransitionTime"] == "2027-01-15T08:00:00Z"
    assert k.sync() is None and k.wake is None
    assert k.sync(T0 + 100) is None


PROBE = {"httpGet": {"path": "/", "port": 8080}}


def probed(name: str = "app", image: str = "nginx:1") -> dict[str, Any]:
    return {"name": name, "image": image, "readinessProbe": PROBE}


def test_without_a_readiness_probe_a_started_container_is_ready_at_once() -> None:
    """As the real kubelet (tests/realnode): no probe, ready when running; no not-ready write."""
    k = Kubelet(make_pod(), SLOW)
    k.sync()
    k.sync(T0 + 1)
    assert k.cs()["started"] and k.cs()["ready"] and k.cond("Ready")["status"] == "True"
    assert k.wake is None and k.writes == 2


def test_delays_pending_then_started_then_ready() -> None:
    k = Kubelet(make_pod(probed()), SLOW)
    k.sync()
    assert k.status["phase"] == "Pending"
    assert k.cs()["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert k.cs()["imageID"] == "" and "containerID" not in k.cs()
    assert k.cond("ContainersReady")["reason"] == "ContainersNotReady"
    assert k.cond("ContainersReady")["message"] == "containers with unready status: [app]"
    assert k.wake == T0 + 1
    k.sync(T0 + 1)
    assert k.status["phase"] == "Running"
    assert k.cs()["started"] and not k.cs()["ready"]
    assert k.wake == T0 + 3
    k.sync(T0 + 3)
    assert k.cs()["ready"] and k.cond("Ready")["status"] == "True"
    assert "reason" not in k.cond("Ready") and "message" not in k.cond("Ready")
    assert k.wake is None and k.writes == 3


def test_transition_times_are_scheduled_times_not_observation_times() -> None:
    k = Kubelet(make_pod(), SLOW)
    k.sync()
    k.sync(T0 + 50)  # the timer fired very late: one write, but history is exact
    assert k.cs()["state"]["running"]["startedAt"] == "2027-01-15T08:00:01Z"
    assert k.cs()["ready"]
    assert k.writes == 2


def test_never_rewrites_an_equal_status_even_if_the_server_drops_a_field() -> None:
    k = Kubelet(make_pod(), ZERO)
    k.sync()
    del k.pod["status"]["observedGeneration"]  # e.g. a server with the feature off
    # ...so the write's response already showed the status without it.
    k.state.written_result = status_signature(k.pod["status"])
    bump(k.pod)
    assert k.sync() is None
    assert k.writes == 1


def test_writes_again_when_someone_else_changed_a_status_it_owns() -> None:
    # A controller flips its readiness gate False and writes Ready False itself (as OpenKruise's
    # in-place update does), then flips the gate True: Ready True is the kubelet's to write again,
    # although it is the status the kubelet wrote last.
    k = Kubelet(make_pod(readinessGates=[{"conditionType": "InPlaceUpdateReady"}]), ZERO)
    set_condition(k.pod, "InPlaceUpdateReady", "True")
    k.sync()
    assert k.cond("Ready")["status"] == "True"
    set_condition(k.pod, "InPlaceUpdateReady", "False")
    set_condition(k.pod, "Ready", "False")
    set_condition(k.pod, "InPlaceUpdateReady", "True")
    writes = k.writes
    assert k.sync() is not None
    assert k.cond("Ready")["status"] == "True" and k.writes == writes + 1


def test_container_statuses_sorted_by_name_like_the_kubelet() -> None:
    k = Kubelet(make_pod({"name": "web", "image": "a"}, {"name": "api", "image": "b"}), ZERO)
    k.sync()
    assert [c["name"] for c in k.status["containerStatuses"]] == ["api", "web"]


# -- readiness gates ---------------------------------------------------------------------------------
def set_condition(pod: dict[str, Any], ctype: str, status: str) -> None:
    conds = pod["status"]["conditions"]
    conds[:] = [c for c in conds if c["type"] != ctype] + [{"type": ctype, "status": status}]
    bump(pod)


def test_readiness_gate_keeps_ready_false_until_true() -> None:
    k = Kubelet(make_pod(readinessGates=[{"conditionType": "InPlaceUpdateReady"}]), ZERO)
    k.sync()
    assert k.cond("ContainersReady")["status"] == "True"
    ready = k.cond("Ready")
    assert ready["status"] == "False" and ready["reason"] == "ReadinessGatesNotReady"
    assert (
        ready["message"]
        == 'corresponding condition of pod readiness gate "InPlaceUpdateReady" does not exist.'
    )
    set_condition(k.pod, "InPlaceUpdateReady", "False")
    k.sync()
    assert (
        k.cond("Ready")["message"]
        == 'the status of pod readiness gate "InPlaceUpdateReady" is not "True", but False'
    )
    set_condition(k.pod, "InPlaceUpdateReady", "True")
    k.sync()
    assert k.cond("Ready")["status"] == "True"
    assert k.cond("InPlaceUpdateReady")["status"] == "True"  # never clobbered
    set_condition(k.pod, "InPlaceUpdateReady", "False")
    k.sync()
    assert k.cond("Ready")["status"] == "False"


def test_container_not_ready_wins_over_gates() -> None:
    k = Kubelet(make_pod(readinessGates=[{"conditionType": "g"}]), SLOW)
    k.sync()
    assert k.cond("Ready")["reason"] == "ContainersNotReady"


# -- in-place image update ----------------------------------------------------------------------------
def test_in_place_image_change_restarts_container() -> None:
    """One kubelet sync kills the old container and starts the new one: the status goes from the
    old instance running straight to the new one running (restartCount + 1), never waiting."""
    k = Kubelet(make_pod(probed()), SLOW)
    k.run_until(T0 + 10)
    old = k.cs()
    assert old["ready"]
    k.now = T0 + 20
    k.spec_change(lambda s: s["containers"][0].update(image="nginx:2"))
    k.sync()
    assert k.status["observedGeneration"] == 2
    assert k.wake == T0 + 24  # stop_delay + start_delay
    k.sync(T0 + 23.5)
    assert k.cs()["containerID"] == old["containerID"] and k.cs()["ready"]
    k.sync(T0 + 24)
    cs = k.cs()
    assert cs["image"] == "nginx:2" and cs["imageID"] == image_id("nginx:2") != old["imageID"]
    assert cs["restartCount"] == 1 and cs["started"] and not cs["ready"]
    assert cs["containerID"] != old["containerID"]
    assert cs["lastState"]["terminated"]["containerID"] == old["containerID"]
    assert cs["state"]["running"]["startedAt"] == "2027-01-15T08:00:24Z"
    assert k.status["phase"] == "Running" and k.cond("Ready")["status"] == "False"
    k.sync(T0 + 26)
    assert k.cs()["ready"] and k.cond("Ready")["status"] == "True"
    assert k.wake is None


def test_in_place_image_change_with_zero_delays_single_write() -> None:
    k = Kubelet(make_pod(), ZERO)
    k.sync()
    k.spec_change(lambda s: s["containers"][0].update(image="nginx:2"))
    k.sync()
    assert k.writes == 2
    cs = k.cs()
    assert cs["restartCount"] == 1 and cs["ready"] and cs["imageID"] == image_id("nginx:2")
    assert cs["lastState"]["terminated"]["reason"] == "Completed"


def test_hot_upgrade_pair_restarts_each_container_on_its_own() -> None:
    """SidecarSet HotUpgrade: mesh-2 gets the new image, mesh-1 the empty one seconds later. Each
    restarts when its own image changes, the other keeps running; the fieldRef env (resolved by a
    real kubelet at start) does not matter to the simulator."""

    def hot(name: str, image: str) -> dict[str, Any]:
        env = [
            {
                "name": "SIDECARSET_VERSION",
                "valueFrom": {
                    "fieldRef": {"fieldPath": f"metadata.annotations['version.sidecarset.kruise.io/{name}']"}
                },
            }
        ]
        return {"name": name, "image": image, "env": env}

    k = Kubelet(
        make_pod(hot("mesh-1", "mesh:1"), hot("mesh-2", "empty:1"), {"name": "app", "image": "app:1"}), SLOW
    )
    k.run_until(T0 + 10)
    first = {n: k.cs(n)["containerID"] for n in ("mesh-1", "mesh-2", "app")}
    k.now = T0 + 20
    k.spec_change(lambda s: s["containers"][1].update(image="mesh:2"))
    k.run_until(T0 + 30)
    assert (k.cs("mesh-2")["image"], k.cs("mesh-2")["restartCount"], k.cs("mesh-2")["ready"]) == (
        "mesh:2",
        1,
        True,
    )
    assert k.cs("mesh-1")["containerID"] == first["mesh-1"] and k.cs("mesh-1")["ready"], "mesh-1 kept running"
    k.now = T0 + 31
    k.spec_change(lambda s: s["containers"][0].update(image="empty:1"))
    k.sync()
    k.sync(T0 + 35)  # mesh-1 replaced after stop_delay + start_delay; mesh-2 untouched
    assert k.cs("mesh-1")["restartCount"] == 1 and k.cs("mesh-2")["containerID"] != first["mesh-2"]
    k.run_until(T0 + 40)
    assert (k.cs("mesh-1")["image"], k.cs("mesh-1")["restartCount"]) == ("empty:1", 1)
    assert k.cs("mesh-2")["restartCount"] == 1 and k.cs("app")["containerID"] == first["app"]
    assert k.cond("Ready")["status"] == "True"


def test_image_reverted_before_kill_does_not_restart() -> None:
    k = Kubelet(make_pod(), SLOW)
    k.run_until(T0 + 10)
    k.spec_change(lambda s: s["containers"][0].update(image="nginx:2"))
    k.sync(T0 + 11)
    k.spec_change(lambda s: s["containers"][0].update(image="nginx:1"))
    k.run_until(T0 + 30)
    assert k.cs()["restartCount"] == 0 and k.cs()["ready"]


def test_in_place_restart_of_never_pod_stays_running() -> None:
    # The old instance is replaced within one sync: no terminated state is ever shown, which the
    # apiserver would refuse to move back to running for a Never pod.
    k = Kubelet(make_pod(restartPolicy="Never", annotations={ANN_RUN_SECONDS: "1000"}), SLOW)
    k.run_until(T0 + 10)
    k.spec_change(lambda s: s["containers"][0].update(image="nginx:2"))
    k.sync(T0 + 10)
    k.sync(T0 + 13)
    assert "running" in k.cs()["state"] and k.cs()["restartCount"] == 0
    assert k.status["phase"] == "Running"
    k.sync(T0 + 14)
    assert k.cs()["restartCount"] == 1 and k.status["phase"] == "Running"


# -- unpullable images ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image,bad",
    [
        ("nginx:1", False),
        ("invalid-image", True),
        ("registry.local/team/unpullable:1", True),
        ("does-not-exist:latest", True),
        ("nginx:unpullable", True),
        ("invalidity/ok:1", False),
        ("my-invalid:1", False),
    ],
)
def test_unpullable_pattern(image: str, bad: bool) -> None:
    assert SimConfig().unpullable(image) is bad


def test_unpullable_image_stays_waiting_pending() -> None:
    k = Kubelet(make_pod({"name": "app", "image": "invalid-image:1"}), SLOW)
    k.sync()
    k.sync(T0 + 1)
    cs = k.cs()
    assert cs["state"]["waiting"]["reason"] == "ErrImagePull" and not cs["ready"]
    assert k.status["phase"] == "Pending"
    assert k.wake == T0 + 8
    k.sync(T0 + 8)
    assert k.cs()["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert k.wake is None
    assert k.cond("Ready")["status"] == "False" and k.cond("Ready")["reason"] == "ContainersNotReady"
    # fixing the image starts it
    k.spec_change(lambda s: s["containers"][0].update(image="nginx:1"))
    k.run_until(T0 + 20)
    assert k.cs()["ready"] and k.cs()["restartCount"] == 0 and k.status["phase"] == "Running"


def test_one_unpullable_container_keeps_pod_pending_like_the_kubelet() -> None:
    k = Kubelet(make_pod({"name": "a", "image": "nginx"}, {"name": "b", "image": "x/unpullable"}), ZERO)
    k.sync()
    assert k.cs("a")["ready"] and "waiting" in k.cs("b")["state"]
    assert k.status["phase"] == "Pending"


def test_in_place_update_to_unpullable_image_is_running_not_ready() -> None:
    k = Kubelet(make_pod(), ZERO)
    k.sync()
    k.spec_change(lambda s: s["containers"][0].update(image="nginx:does-not-exist-tag:unpullable"))
    k.sync()
    cs = k.cs()
    assert cs["state"]["waiting"]["reason"] == "ImagePullBackOff"  # zero back-off delay
    assert cs["lastState"]["terminated"]["exitCode"] == 0
    assert k.status["phase"] == "Running" and k.cond("Ready")["status"] == "False"


# -- run to completion -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "policy,code,phase,restarts",
    [
        ("Never", 0, "Succeeded", 0),
        ("Never", 1, "Failed", 0),
        ("OnFailure", 0, "Succeeded", 0),
        ("OnFailure", 3, "Running", 2),
        ("Always", 2, "Running", 2),
    ],
)
def test_run_to_completion(policy: str, code: int, phase: str, restarts: int) -> None:
    cfg = SimConfig(start_delay=1, ready_delay=0, restart_delay=1, complete_after=5)
    pod = make_pod(restartPolicy=policy, annotations={ANN_EXIT_CODE: str(code)})
    k = Kubelet(pod, cfg)
    # start 1, run 5, back-off 1 -> cycles of 7 s; at 20.5 s two restarts have happened
    k.run_until(T0 + 20.5)
    assert k.status["phase"] == phase
    assert k.cs()["restartCount"] == restarts
    if phase == "Failed":
        term = k.cs()["state"]["terminated"]
        assert term["exitCode"] == code and term["reason"] == "Error"
        assert k.cond("Ready")["reason"] == "PodFailed"
        assert k.cond("PodReadyToStartContainers")["status"] == "False"
    if phase == "Succeeded":
        assert k.cs()["state"]["terminated"]["reason"] == "Completed"
        assert k.cond("Ready")["reason"] == "PodCompleted"
        assert k.cond("Initialized")["reason"] == "PodCompleted"
        assert k.wake is None
    if restarts:
        assert k.cs()["lastState"]["terminated"]["exitCode"] == code


def test_run_seconds_annotation_and_terminal_pod_is_never_written_again() -> None:
    pod = make_pod(restartPolicy="Never", annotations={ANN_RUN_SECONDS: "3"})
    k = Kubelet(pod, ZERO)
    k.sync()
    assert k.status["phase"] == "Running" and k.wake == T0 + 3
    k.sync(T0 + 3)
    assert k.status["phase"] == "Succeeded"
    writes = k.writes
    k.spec_change(lambda s: s["containers"][0].update(image="nginx:9"))
    k.sync(T0 + 100)
    assert k.writes == writes


def test_crash_loop_shows_back_off() -> None:
    cfg = SimConfig(start_delay=0, ready_delay=0, restart_delay=10, complete_after=1)
    k = Kubelet(make_pod(restartPolicy="OnFailure", annotations={ANN_EXIT_CODE: "1"}), cfg)
    k.run_until(T0 + 2)
    cs = k.cs()
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert k.status["phase"] == "Running" and not cs["ready"]


def test_zero_delay_crash_loop_does_not_hang() -> None:
    k = Kubelet(make_pod(annotations={ANN_EXIT_CODE: "1", ANN_RUN_SECONDS: "0"}), ZERO)
    k.sync()
    assert k.wake is not None and k.wake > k.now
    assert k.cs()["restartCount"] > 0


@pytest.mark.parametrize(
    "container,pod_policy,code,expected",
    [
        ({}, "Always", 0, True),
        ({}, None, 1, True),
        ({}, "OnFailure", 0, False),
        ({}, "OnFailure", 1, True),
        ({}, "Never", 1, False),
        ({"restartPolicy": "Never"}, "Always", 1, False),
        ({"restartPolicy": "OnFailure"}, "Never", 2, True),
        (
            {
                "restartPolicy": "Never",
                "restartPolicyRules": [
                    {"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}
                ],
            },
            "Never",
            42,
            True,
        ),
        (
            {
                "restartPolicy": "Never",
                "restartPolicyRules": [
                    {"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}
                ],
            },
            "Never",
            1,
            False,
        ),
        (
            {
                "restartPolicy": "Always",
                "restartPolicyRules": [
                    {"action": "Restart", "exitCodes": {"operator": "NotIn", "values": [0]}}
                ],
            },
            "Never",
            0,
            True,
        ),
    ],
)
def test_container_should_restart(
    container: dict[str, Any], pod_policy: str | None, code: int, expected: bool
) -> None:
    spec = {"restartPolicy": pod_policy} if pod_policy else {}
    assert container_should_restart(container, spec, code) is expected


# -- init containers and sidecars --------------------------------------------------------------------
def test_init_containers_run_in_order_before_main() -> None:
    cfg = SimConfig(start_delay=1, ready_delay=1, init_run_seconds=2)
    pod = make_pod(init=[{"name": "i1", "image": "busybox"}, {"name": "i2", "image": "busybox"}])
    k = Kubelet(pod, cfg)
    k.sync()
    assert k.status["phase"] == "Pending"
    assert k.cond("Initialized")["status"] == "False"
    assert k.cond("Initialized")["message"] == "containers with incomplete status: [i1 i2]"
    assert k.cs()["state"]["waiting"]["reason"] == "PodInitializing"
    assert k.cs("i2", init=True)["state"]["waiting"]["reason"] == "PodInitializing"
    k.sync(T0 + 1)
    assert "running" in k.cs("i1", init=True)["state"] and not k.cs("i1", init=True)["ready"]
    k.sync(T0 + 3)  # i1 done, i2 being created
    i1 = k.cs("i1", init=True)
    assert i1["state"]["terminated"]["reason"] == "Completed" and i1["ready"] and not i1["started"]
    assert k.cond("Initialized")["message"] == "containers with incomplete status: [i2]"
    k.sync(T0 + 4)
    assert "running" in k.cs("i2", init=True)["state"]
    k.sync(T0 + 6)  # i2 done -> main created at 6, starts at 7
    assert k.cond("Initialized")["status"] == "True"
    assert "waiting" in k.cs()["state"]
    k.run_until(T0 + 10)
    assert k.cs()["state"]["running"]["startedAt"] == "2027-01-15T08:00:07Z"
    assert k.status["phase"] == "Running" and k.cond("Ready")["status"] == "True"


def test_native_sidecar_starts_first_keeps_running_and_restarts_in_place() -> None:
    cfg = SimConfig(start_delay=1, ready_delay=1, stop_delay=1)
    pod = make_pod(probed(), init=[{**probed("proxy", "envoy:1"), "restartPolicy": "Always"}])
    k = Kubelet(pod, cfg)
    k.sync()
    k.sync(T0 + 1)  # sidecar started -> main may start
    assert k.cs("proxy", init=True)["started"]
    assert k.cond("Initialized")["status"] == "True"
    k.run_until(T0 + 5)
    assert k.cs()["state"]["running"]["startedAt"] == "2027-01-15T08:00:02Z"
    assert k.cs("proxy", init=True)["ready"] and k.cond("ContainersReady")["status"] == "True"
    k.spec_change(lambda s: s["initContainers"][0].update(image="envoy:2"))
    k.sync(T0 + 10)
    k.sync(T0 + 12)  # sidecar replaced, its probe not yet passed: pod not ready, still initialized
    assert k.cond("ContainersReady")["message"] == "containers with unready status: [proxy]"
    assert k.cond("Initialized")["status"] == "True" and k.status["phase"] == "Running"
    k.run_until(T0 + 20)
    proxy = k.cs("proxy", init=True)
    assert proxy["restartCount"] == 1 and proxy["imageID"] == image_id("envoy:2") and proxy["ready"]
    assert k.cs()["restartCount"] == 0


def test_job_pod_with_sidecar_completes_and_stops_sidecar() -> None:
    pod = make_pod(
        init=[{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}],
        restartPolicy="Never",
        annotations={ANN_RUN_SECONDS: "5"},
    )
    k = Kubelet(pod, ZERO)
    k.run_until(T0 + 6)
    assert k.status["phase"] == "Succeeded"
    assert k.cs("proxy", init=True)["state"]["terminated"]["exitCode"] == 0


# -- resize ------------------------------------------------------------------------------------------
def _res(cpu: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": "1Gi"}, "limits": {"cpu": cpu, "memory": "1Gi"}}


def test_in_place_resize_without_restart() -> None:
    cfg = SimConfig(start_delay=0, ready_delay=0, resize_delay=2)
    k = Kubelet(make_pod({"name": "app", "image": "nginx", "resources": _res("1")}), cfg)
    k.sync()
    assert k.cs()["resources"] == _res("1") and k.cs()["allocatedResources"] == _res("1")["requests"]
    k.spec_change(lambda s: s["containers"][0].update(resources=_res("2")))
    k.sync(T0 + 10)
    assert k.cs()["allocatedResources"]["cpu"] == "2" and k.cs()["resources"]["limits"]["cpu"] == "1"
    assert k.cond("PodResizeInProgress")["status"] == "True"
    assert k.wake == T0 + 12
    k.sync(T0 + 12)
    assert k.cs()["resources"] == _res("2")
    assert not k.has_cond("PodResizeInProgress")
    assert k.cs()["restartCount"] == 0 and k.cs()["ready"]


def test_resize_with_restart_container_policy_restarts() -> None:
    c = {
        "name": "app",
        "image": "nginx",
        "resources": _res("1"),
        "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "RestartContainer"}],
    }
    k = Kubelet(make_pod(c), ZERO)
    k.sync()
    k.spec_change(lambda s: s["containers"][0].update(resources=_res("2")))
    k.sync()
    assert k.cs()["restartCount"] == 1 and k.cs()["resources"] == _res("2")


# -- deletion, deadline ------------------------------------------------------------------------------
def test_deletion_is_confirmed_after_delay_without_status_writes() -> None:
    k = Kubelet(make_pod(), SLOW)
    k.run_until(T0 + 5)
    writes = k.writes
    k.pod["metadata"]["deletionTimestamp"] = "2027-01-15T08:00:35Z"
    bump(k.pod)
    k.sync(T0 + 10)
    assert not k.deleted and k.wake == T0 + 16
    k.sync(T0 + 16)
    assert k.deleted and k.writes == writes
    k.state.delete_sent = True
    k.deleted = False
    k.sync(T0 + 20)
    assert not k.deleted


def test_active_deadline_fails_the_pod() -> None:
    k = Kubelet(make_pod(activeDeadlineSeconds=30), ZERO)
    k.sync()
    assert k.wake == T0 + 30
    k.sync(T0 + 30)
    s = k.status
    assert s["phase"] == "Failed" and s["reason"] == "DeadlineExceeded"
    assert k.cs()["state"]["terminated"]["exitCode"] == 137


# -- adoption after a simulator restart ----------------------------------------------------------------
def test_adopts_status_written_by_an_earlier_simulator() -> None:
    k = Kubelet(make_pod(), ZERO)
    k.sync()
    k.spec_change(lambda s: s["containers"][0].update(image="nginx:2"))
    k.sync()
    k2 = Kubelet(k.pod, ZERO, now=T0 + 100)
    assert k2.state.pod_ip == "10.244.0.7"
    assert k2.sync() is None
    assert k2.cs()["restartCount"] == 1
    k2.spec_change(lambda s: s["containers"][0].update(image="nginx:3"))
    k2.sync()
    assert k2.cs()["restartCount"] == 2


def test_adopted_run_to_completion_pod_still_finishes() -> None:
    pod = make_pod(restartPolicy="Never", annotations={ANN_RUN_SECONDS: "30"})
    k = Kubelet(pod, ZERO)
    k.sync()
    k2 = Kubelet(k.pod, ZERO, now=T0 + 10)
    k2.sync()
    assert k2.wake == T0 + 30
    k2.sync(T0 + 30)
    assert k2.status["phase"] == "Succeeded"


def test_host_network_pod_uses_host_ip() -> None:
    k = Kubelet(make_pod(hostNetwork=True), ZERO)
    k.sync()
    assert k.status["podIP"] == "127.0.0.9"


# -- helpers ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "image,expected_prefix",
    [
        ("nginx", "nginx@sha256:"),
        ("nginx:1.25", "nginx@sha256:"),
        ("localhost:5000/team/app", "localhost:5000/team/app@sha256:"),
        ("localhost:5000/team/app:v2", "localhost:5000/team/app@sha256:"),
    ],
)
def test_image_id(image: str, expected_prefix: str) -> None:
    assert image_id(image).startswith(expected_prefix)
    assert image_id(image) == image_id(image)
    assert len(image_id(image).rsplit(":", 1)[1]) == 64


def test_image_id_of_digest_image_keeps_the_digest() -> None:
    img = "nginx@sha256:" + "a" * 64
    assert image_id(img) == "nginx@sha256:" + "a" * 64
    assert image_id("nginx:1") != image_id("nginx:2")


@pytest.mark.parametrize(
    "resources,expected",
    [
        ([{}], "BestEffort"),
        ([{"requests": {"cpu": "1"}}], "Burstable"),
        (
            [{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}],
            "Guaranteed",
        ),
        (
            [{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}],
            "Burstable",
        ),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
        ([{"requests": {"cpu": "0"}}], "BestEffort"),
    ],
)
def test_qos_class(resources: list[dict[str, Any]], expected: str) -> None:
    pod = {"spec": {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}}
    assert qos_class(pod) == expected


def _cs(
    name: str,
    state: dict[str, Any],
    last: dict[str, Any] | None = None,
    started: bool = False,
) -> dict[str, Any]:
    return {
        "name": name,
        "state": state,
        "lastState": {"terminated": last} if last else {},
        "started": started,
    }


RUN: dict[str, Any] = {"running": {}}
WAIT: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}


@pytest.mark.parametrize(
    "spec,statuses,initialized,expected",
    [
        ({"containers": [{"name": "a"}]}, [_cs("a", RUN)], True, "Running"),
        ({"containers": [{"name": "a"}]}, [_cs("a", WAIT)], False, "Pending"),
        ({"containers": [{"name": "a"}]}, [], False, "Pending"),
        ({"containers": [{"name": "a"}, {"name": "b"}]}, [_cs("a", RUN), _cs("b", WAIT)], True, "Pending"),
        ({"containers": [{"name": "a"}]}, [_cs("a", WAIT, {"exitCode": 1})], True, "Running"),
        (
            {"restartPolicy": "Never", "containers": [{"name": "a"}]},
            [_cs("a", {"terminated": {"exitCode": 0}})],
            True,
            "Succeeded",
        ),
        (
            {"restartPolicy": "Never", "containers": [{"name": "a"}, {"name": "b"}]},
            [_cs("a", {"terminated": {"exitCode": 0}}), _cs("b", {"terminated": {"exitCode": 2}})],
            True,
            "Failed",
        ),
        (
            {"restartPolicy": "OnFailure", "containers": [{"name": "a"}]},
            [_cs("a", {"terminated": {"exitCode": 2}})],
            True,
            "Running",
        ),
        (
            {"restartPolicy": "Never", "initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
            [_cs("i", {"terminated": {"exitCode": 1}}), _cs("a", WAIT)],
            False,
            "Failed",
        ),
        (
            {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
            [_cs("i", RUN), _cs("a", WAIT)],
            False,
            "Pending",
        ),
        (
            {"initContainers": [{"name": "s", "restartPolicy": "Always"}], "containers": [{"name": "a"}]},
            [_cs("s", WAIT), _cs("a", RUN)],
            True,
            "Pending",
        ),  # waiting sidecar without a past run
        (
            {"initContainers": [{"name": "s", "restartPolicy": "Always"}], "containers": [{"name": "a"}]},
            [_cs("s", WAIT, {"exitCode": 0}), _cs("a", RUN)],
            True,
            "Running",
        ),
    ],
)
def test_get_phase_matches_the_kubelet(
    spec: dict[str, Any], statuses: list[dict[str, Any]], initialized: bool, expected: str
) -> None:
    assert get_phase({"spec": spec}, statuses, initialized) == expected


def test_ip_pool_unique_release_and_exhaustion() -> None:
    pool = IPPool("10.0.0.0/29")  # 6 usable
    ips = [pool.allocate() for _ in range(6)]
    assert len(set(ips)) == 6 and "10.0.0.0" not in ips and "10.0.0.7" not in ips
    with pytest.raises(RuntimeError):
        pool.allocate()
    pool.release(ips[2])
    assert pool.allocate() == ips[2]
    pool2 = IPPool("10.0.0.0/29")
    pool2.reserve("10.0.0.1")
    assert pool2.allocate() == "10.0.0.2"


def test_status_differs_ignores_foreign_conditions_and_transition_times() -> None:
    desired = {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "x", "reason": None, "message": None}
        ],
    }
    current = {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "y", "lastProbeTime": None},
            {"type": "InPlaceUpdateReady", "status": "False"},
        ],
    }
    assert not status_differs(desired, current)
    assert status_differs({**desired, "phase": "Pending"}, current)


# -- nodes ---------------------------------------------------------------------------------------------
def test_new_node_labels_and_capacity() -> None:
    cfg = SimConfig(node_labels={"zone": "a"})
    n = new_node("sim-node-3", cfg, labels={"pool": "x"}, capacity={"cpu": "2", "memory": "4Gi", "pods": "5"})
    assert n["metadata"]["labels"] == {
        "kubernetes.io/hostname": "sim-node-3",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "zone": "a",
        "pool": "x",
        "kruise-py.io/simulated": "true",
    }
    assert n["status"]["allocatable"]["pods"] == "5"


def test_node_actions_mark_ready_remove_not_ready_taint_keep_others_then_quiet() -> None:
    cfg = SimConfig()
    # as a test would create it: labelled, no status
    node: dict[str, Any] = {
        "metadata": {
            "name": "sim-node-0",
            "labels": {"kruise-py.io/simulated": "true"},
            "resourceVersion": "5",
        }
    }
    node["spec"] = {
        "taints": [
            {"key": NOT_READY_TAINT, "effect": "NoSchedule"},
            {"key": "dedicated", "value": "x", "effect": "NoSchedule"},
        ]
    }
    status_patch, spec_patch = node_actions(node, cfg, T0)
    assert spec_patch == {
        "metadata": {"resourceVersion": "5"},
        "spec": {"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]},
    }
    assert status_patch is not None
    s = status_patch["status"]
    ready = next(c for c in s["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady"
    assert {c["type"]: c["status"] for c in s["conditions"]} == {
        "MemoryPressure": "False",
        "DiskPressure": "False",
        "PIDPressure": "False",
        "Ready": "True",
    }
    assert s["nodeInfo"]["kubeletVersion"] == "v1.36.2"
    assert s["addresses"][0]["type"] == "InternalIP" and s["addresses"][0]["address"].startswith("127.")
    assert s["addresses"][1] == {"type": "Hostname", "address": "sim-node-0"}
    assert s["capacity"] == cfg.node_capacity
    # apply both; nothing left to do, even much later (no heartbeats)
    node["spec"] = spec_patch["spec"]
    node["status"] = copy.deepcopy(s)
    assert node_actions(node, cfg, T0 + 3600) == (None, None)


def test_registered_node_needs_only_the_taint_removed() -> None:
    node = new_node("n", SimConfig(), now=T0)
    node["spec"] = {"taints": [{"key": NOT_READY_TAINT, "effect": "NoSchedule"}]}
    status_patch, spec_patch = node_actions(node, SimConfig(), T0 + 5)
    assert status_patch is None
    assert spec_patch is not None and spec_patch["spec"] == {"taints": None}


def test_slim_pod_keeps_what_the_kubelet_reads() -> None:
    pod = make_pod(
        {
            "name": "app",
            "image": "nginx",
            "env": [{"name": "A", "value": "x" * 1000}],
            "resources": {"limits": {"cpu": "1"}},
        },
        annotations={ANN_EXIT_CODE: "1", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
        readinessGates=[{"conditionType": "g"}],
        volumes=[{"name": "v", "emptyDir": {}}],
    )
    pod["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    slim = slim_pod(pod)
    assert slim["metadata"]["annotations"] == {ANN_EXIT_CODE: "1"}
    assert "managedFields" not in slim["metadata"] and "volumes" not in slim["spec"]
    assert slim["spec"]["containers"] == [
        {"name": "app", "image": "nginx", "resources": {"limits": {"cpu": "1"}}}
    ]
    assert slim["status"] is pod["status"]
    for t in (T0, T0 + 1, T0 + 10):
        a = step(pod, new_pod_state(pod, "10.0.0.1", "127.0.0.1", T0), SLOW, t)
        b = step(slim, new_pod_state(slim, "10.0.0.1", "127.0.0.1", T0), SLOW, t)
        assert a.patch == b.patch and a.wake == b.wake


# -- properties ---------------------------------------------------------------------------------------
delays = st.floats(min_value=0, max_value=3, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    start=delays,
    ready=delays,
    init_run=delays,
    n_init=st.integers(0, 2),
    n_main=st.integers(1, 3),
    sidecar=st.booleans(),
    gates=st.booleans(),
    probes=st.lists(st.floats(min_value=0, max_value=20, allow_nan=False), max_size=8),
)
def test_converged_status_does_not_depend_on_when_the_kubelet_looked(
    start: float,
    ready: float,
    init_run: float,
    n_init: int,
    n_main: int,
    sidecar: bool,
    gates: bool,
    probes: list[float],
) -> None:
    cfg = SimConfig(start_delay=start, ready_delay=ready, init_run_seconds=init_run)
    init = [{"name": f"i{i}", "image": "busybox"} for i in range(n_init)]
    if sidecar:
        init.append({"name": "side", "image": "envoy", "restartPolicy": "Always"})
    mains = [{"name": f"m{i}", "image": f"app:{i}"} for i in range(n_main)]
    extra: dict[str, Any] = {"readinessGates": [{"conditionType": "g"}]} if gates else {}

    def run(times: list[float]) -> dict[str, Any]:
        k = Kubelet(make_pod(*mains, init=init or None, **extra), cfg)
        for t in sorted(times):
            k.sync(T0 + t)
            s = k.status
            # invariants at every step
            if s.get("containerStatuses"):
                assert len(s["containerStatuses"]) == n_main
                if k.cond("Ready")["status"] == "True":
                    assert all(c["ready"] for c in s["containerStatuses"])
                    assert not gates
        k.run_until(T0 + 100)
        return k.status

    dense = run([0.0, *[i / 4 for i in range(80)]])
    sparse = run([0.0, *probes])

    def strip(s: dict[str, Any]) -> dict[str, Any]:
        s = copy.deepcopy(s)
        for c in s["conditions"]:
            c.pop("lastTransitionTime", None)
        return s

    assert strip(dense) == strip(sparse)
    assert dense["phase"] == "Running"
    assert all(c["ready"] for c in dense["containerStatuses"])
