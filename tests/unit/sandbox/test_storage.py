"""The sandbox storage driver's pure state machine: provisioning, controller and node expansion,
deprovisioning — driven by a fake clock, with the apiserver's and the PV controller's parts
played by small helpers (JSON merge patches, binding)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kruise_py.sandbox import storage as st
from kruise_py.sandbox.kubelet import fmt_time, slim_pod

T0 = 1_800_000_000.0
DELAYS = st.StorageDelays(provision_delay=1, expand_delay=2, fs_resize_delay=3, deprovision_delay=4)
ZERO = st.StorageDelays(0, 0, 0, 0)


def merge(dst: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 merge patch."""
    for k, v in patch.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)


def sc(name: str = st.EXPANDABLE_CLASS, **params: str) -> dict[str, Any]:
    obj = next(o for o in st.storage_objects(default=False) if o["metadata"]["name"] == name)
    if params:
        obj["parameters"] = params
    return obj


def claim(size: str = "1Gi", cls: str = st.EXPANDABLE_CLASS, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "data-web-0", "namespace": "ns", "uid": "u1", "resourceVersion": "1"},
        "spec": {
            "storageClassName": cls,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
        },
        "status": {"phase": "Pending", **status},
    }


def bind(c: dict[str, Any], pv: dict[str, Any]) -> None:
    """What kube-controller-manager's PV controller does with a PV whose claimRef names the claim."""
    c["spec"]["volumeName"] = pv["metadata"]["name"]
    c["status"].update(
        phase="Bound", capacity=dict(pv["spec"]["capacity"]), accessModes=pv["spec"]["accessModes"]
    )
    pv.setdefault("status", {})["phase"] = "Bound"


def bound(size: str = "1Gi", cls: str = st.EXPANDABLE_CLASS) -> tuple[dict[str, Any], dict[str, Any]]:
    c = claim(size, cls)
    pv = st.new_volume(c, sc(cls))
    bind(c, pv)
    return c, pv


def run(
    c: dict[str, Any],
    pv: dict[str, Any] | None,
    klass: dict[str, Any],
    consumers: list[float],
    timers: st.Timers,
    now: float,
    delays: st.StorageDelays = DELAYS,
) -> st.ClaimDecision:
    """One step, with its writes applied to the objects (as the simulator's I/O would)."""
    d = st.step_claim(c, pv, klass, consumers, timers, delays, now)
    if d.volume_patch and pv is not None:
        merge(pv, d.volume_patch)
    if d.status_patch:
        merge(c, d.status_patch)
    return d


def conditions(c: dict[str, Any]) -> list[str]:
    return [x["type"] for x in c["status"].get("conditions") or []]


def test_storage_objects_default_class_and_expansion() -> None:
    objs = {o["metadata"]["name"]: o for o in st.storage_objects()}
    assert objs[st.PROVISIONER]["spec"]["attachRequired"] is False
    exp, fixed = objs[st.EXPANDABLE_CLASS], objs[st.FIXED_CLASS]
    assert exp["allowVolumeExpansion"] is True and fixed["allowVolumeExpansion"] is False
    assert exp["metadata"]["annotations"][st.DEFAULT_CLASS_ANNOTATION] == "true"
    assert "annotations" not in fixed["metadata"]
    assert {exp["provisioner"], fixed["provisioner"]} == {st.PROVISIONER}
    assert (
        "annotations"
        not in {o["metadata"]["name"]: o for o in st.storage_objects(default=False)}[st.EXPANDABLE_CLASS][
            "metadata"
        ]
    )


def test_provisions_after_the_delay_with_the_requested_size() -> None:
    c, timers = claim("3Gi"), st.Timers()
    d = st.step_claim(c, None, sc(), [], timers, DELAYS, T0)
    assert d.create_volume is None and d.wake == T0 + 1
    d = st.step_claim(c, None, sc(), [], timers, DELAYS, T0 + 0.5)
    assert d.create_volume is None and d.wake == T0 + 1  # the clock started when first seen
    d = st.step_claim(c, None, sc(), [], timers, DELAYS, T0 + 1)
    pv = d.create_volume
    assert pv is not None and pv["metadata"]["name"] == "pvc-u1"
    assert pv["metadata"]["annotations"][st.PROVISIONED_BY] == st.PROVISIONER
    assert (
        pv["spec"]["capacity"] == {"storage": "3Gi"} and pv["spec"]["storageClassName"] == st.EXPANDABLE_CLASS
    )
    assert pv["spec"]["claimRef"] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": "ns",
        "name": "data-web-0",
        "uid": "u1",
    }
    assert (
        pv["spec"]["csi"]["driver"] == st.PROVISIONER
        and pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    )
    # Provisioned, not yet bound: the PV controller's turn, nothing to do.
    assert st.step_claim(c, pv, sc(), [], timers, DELAYS, T0 + 2) == st.ClaimDecision()


@pytest.mark.parametrize(
    "klass,why",
    [
        (None, "no such class"),
        ({"metadata": {"name": "other"}, "provisioner": "ebs.csi.aws.com"}, "another provisioner's class"),
        ({**sc(), "volumeBindingMode": "WaitForFirstConsumer"}, "no node selected yet"),
    ],
)
def test_claims_it_must_not_provision(klass: dict[str, Any] | None, why: str) -> None:
    assert st.step_claim(claim(), None, klass, [], st.Timers(), ZERO, T0) == st.ClaimDecision(), why


def test_wait_for_first_consumer_provisions_once_a_node_is_selected() -> None:
    c = claim()
    c["metadata"]["annotations"] = {st.SELECTED_NODE: "sim-node-0"}
    d = st.step_claim(
        c, None, {**sc(), "volumeBindingMode": "WaitForFirstConsumer"}, [], st.Timers(), ZERO, T0
    )
    assert d.create_volume is not None


def test_a_claim_being_deleted_is_left_alone() -> None:
    c = claim()
    c["metadata"]["deletionTimestamp"] = fmt_time(T0)
    assert st.step_claim(c, None, sc(), [], st.Timers(), ZERO, T0) == st.ClaimDecision()


def test_bound_claim_at_its_size_needs_nothing() -> None:
    c, pv = bound()
    assert st.step_claim(c, pv, sc(), [T0], st.Timers(), ZERO, T0) == st.ClaimDecision()


def test_online_expansion_resizing_then_file_system_pending_then_capacity() -> None:
    c, pv = bound("1Gi")
    c["spec"]["resources"]["requests"]["storage"] = "2Gi"  # the user / the controller grew it
    timers = st.Timers()
    d = run(c, pv, sc(), [], timers, T0)
    assert d.volume_patch is None and conditions(c) == [st.RESIZING]
    assert c["status"]["allocatedResources"] == {"storage": "2Gi"}
    assert c["status"]["allocatedResourceStatuses"] == {"storage": "ControllerResizeInProgress"}
    d = run(c, pv, sc(), [], timers, T0 + 1)
    assert d.wake == T0 + 2 and pv["spec"]["capacity"] == {"storage": "1Gi"}
    d = run(c, pv, sc(), [], timers, T0 + 2)
    assert pv["spec"]["capacity"] == {"storage": "2Gi"}
    assert conditions(c) == [st.FS_RESIZE_PENDING] and c["status"]["capacity"] == {"storage": "1Gi"}
    assert c["status"]["allocatedResourceStatuses"] == {"storage": "NodeResizePending"}
    assert c["status"]["conditions"][0]["message"] == st.FS_RESIZE_PENDING_MESSAGE
    # No pod mounts it: the file system waits (nothing to wake up for either).
    assert run(c, pv, sc(), [], timers, T0 + 100) == st.ClaimDecision()
    # A running pod mounts it (online expansion): fs_resize_delay later the capacity follows.
    d = run(c, pv, sc(), [T0 - 50], timers, T0 + 101)
    assert d.wake == T0 + 104 and c["status"]["capacity"] == {"storage": "1Gi"}
    run(c, pv, sc(), [T0 - 50], timers, T0 + 104)
    assert c["status"]["capacity"] == {"storage": "2Gi"} and conditions(c) == []
    assert "allocatedResourceStatuses" not in c["status"] and c["status"]["allocatedResources"] == {
        "storage": "2Gi"
    }
    assert run(c, pv, sc(), [T0 - 50], timers, T0 + 200) == st.ClaimDecision()


def test_offline_expansion_needs_a_pod_started_after_the_resize() -> None:
    klass = sc(**{st.PARAM_ONLINE_EXPANSION: "false"})
    c, pv = bound("1Gi")
    c["spec"]["resources"]["requests"]["storage"] = "5Gi"
    timers = st.Timers()
    for t in (T0, T0 + 2):
        run(c, pv, klass, [T0 - 10], timers, t)
    assert conditions(c) == [st.FS_RESIZE_PENDING]
    # The pod that ran all along does not get the bigger file system ...
    assert run(c, pv, klass, [T0 - 10], timers, T0 + 50) == st.ClaimDecision()
    # ... its replacement does (mounted after the resize).
    run(c, pv, klass, [T0 + 40], timers, T0 + 60)
    run(c, pv, klass, [T0 + 40], timers, T0 + 63)
    assert c["status"]["capacity"] == {"storage": "5Gi"}


def test_without_node_expansion_the_controller_step_finishes_the_resize() -> None:
    klass = sc(**{st.PARAM_NODE_EXPANSION: "false"})
    c, pv = bound("1Gi")
    c["spec"]["resources"]["requests"]["storage"] = "2Gi"
    timers = st.Timers()
    run(c, pv, klass, [], timers, T0)
    run(c, pv, klass, [], timers, T0 + 2)
    assert c["status"]["capacity"] == {"storage": "2Gi"} and pv["spec"]["capacity"] == {"storage": "2Gi"}
    assert conditions(c) == []


def test_a_class_that_cannot_expand_is_never_resized() -> None:
    # The apiserver refuses such a request; should one get through (class changed later), nothing happens.
    c, pv = bound("1Gi", st.FIXED_CLASS)
    c["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert st.step_claim(c, pv, sc(st.FIXED_CLASS), [T0], st.Timers(), ZERO, T0) == st.ClaimDecision()


def test_a_half_done_write_is_finished() -> None:
    # The PV grew but the claim's status write was lost (conflict, crash).
    c, pv = bound("1Gi")
    c["spec"]["resources"]["requests"]["storage"] = "2Gi"
    pv["spec"]["capacity"]["storage"] = "2Gi"
    d = run(c, pv, sc(), [], st.Timers(), T0, ZERO)
    assert d.status_patch is not None and conditions(c) == [st.FS_RESIZE_PENDING]


def test_other_conditions_are_kept() -> None:
    c, pv = bound("1Gi")
    c["status"]["conditions"] = [{"type": "ModifyingVolume", "status": "True"}]
    c["spec"]["resources"]["requests"]["storage"] = "2Gi"
    run(c, pv, sc(), [], st.Timers(), T0, ZERO)
    assert conditions(c) == ["ModifyingVolume", st.RESIZING]


def test_growing_again_while_resizing_restarts_from_the_new_size() -> None:
    c, pv = bound("1Gi")
    timers = st.Timers()
    c["spec"]["resources"]["requests"]["storage"] = "2Gi"
    run(c, pv, sc(), [], timers, T0)
    c["spec"]["resources"]["requests"]["storage"] = "3Gi"
    run(c, pv, sc(), [], timers, T0 + 1)
    assert c["status"]["allocatedResources"] == {"storage": "3Gi"}
    assert run(c, pv, sc(), [], timers, T0 + 2).wake == T0 + 3  # the 3Gi step started at T0+1
    run(c, pv, sc(), [], timers, T0 + 3)
    assert pv["spec"]["capacity"] == {"storage": "3Gi"}


@pytest.mark.parametrize(
    "phase,policy,annotation,delete",
    [
        ("Released", "Delete", st.PROVISIONER, True),
        ("Bound", "Delete", st.PROVISIONER, False),
        ("Released", "Retain", st.PROVISIONER, False),
        ("Released", "Delete", "ebs.csi.aws.com", False),
    ],
)
def test_released_volumes_of_ours_are_deleted(phase: str, policy: str, annotation: str, delete: bool) -> None:
    pv = {
        "metadata": {"name": "pvc-u1", "annotations": {st.PROVISIONED_BY: annotation}},
        "spec": {"persistentVolumeReclaimPolicy": policy},
        "status": {"phase": phase},
    }
    timers = st.Timers()
    first = st.step_volume(pv, timers, DELAYS, T0)
    assert first == ((False, T0 + 4) if delete else (False, None))
    assert st.step_volume(pv, timers, DELAYS, T0 + 4) == ((True, None) if delete else (False, None))


def test_pod_claim_names_and_slim_pods_keep_them() -> None:
    pod = {
        "metadata": {"name": "web-0", "namespace": "ns", "uid": "p"},
        "spec": {
            "nodeName": "n",
            "containers": [{"name": "a", "image": "x"}],
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }
    assert st.pod_claim_names(pod) == ["data-web-0"]
    assert st.pod_claim_names(slim_pod(pod)) == ["data-web-0"]
    assert (
        "volumes"
        not in slim_pod({**pod, "spec": {**pod["spec"], "volumes": [{"name": "tmp", "emptyDir": {}}]}})[
            "spec"
        ]
    )
