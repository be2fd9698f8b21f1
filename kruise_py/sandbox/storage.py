"""The sandbox's storage driver, as a pure state machine: a CSI provisioner, resizer and the
kubelet's file-system expansion for the StorageClasses whose provisioner is :data:`PROVISIONER`.

Nothing is stored anywhere; the volumes are PersistentVolume objects with a ``csi`` source that no
node mounts. What it models, after external-provisioner, external-resizer and the kubelet's
volume manager (and what kube-controller-manager does in between, which runs for real):

- **provisioning**: a Pending claim of one of our classes (``WaitForFirstConsumer``: once the
  scheduler picked a node) gets a PV ``pvc-<claim uid>`` of the requested size, ``claimRef`` set,
  ``provision_delay`` after it is seen; kube-controller-manager's PV controller binds the two;
- **controller expansion**: a bound claim whose request grew beyond its PV gets the ``Resizing``
  condition (``allocatedResources``, ``allocatedResourceStatuses: ControllerResizeInProgress``) at
  once, and ``expand_delay`` later the PV grows and the claim gets ``FileSystemResizePending``
  (``NodeResizePending``), or, with class parameter ``nodeExpansion: "false"``, its new capacity;
- **node expansion**: ``fs_resize_delay`` after a pod on a simulated node uses a claim with
  ``FileSystemResizePending``, ``status.capacity`` becomes the PV's size and the condition goes.
  With class parameter ``onlineExpansion: "false"`` only a pod started after the resize counts
  (the file system grows when the volume is mounted again, i.e. the pod was re-created);
- **deletion**: a Released PV of ours with reclaim policy Delete is deleted after
  ``deprovision_delay``.

The apiserver itself refuses a larger request unless the claim is bound and its class has
``allowVolumeExpansion: true`` (admission plugin PersistentVolumeClaimResize).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..api.quantity import parse_quantity
from .kubelet import fmt_time, parse_time

PROVISIONER = "fake.sandbox.kruise-py.io"  # a CSI driver name (a DNS subdomain)
EXPANDABLE_CLASS = "sandbox-expandable"
FIXED_CLASS = "sandbox-fixed"
PARAM_NODE_EXPANSION = "nodeExpansion"
PARAM_ONLINE_EXPANSION = "onlineExpansion"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
SELECTED_NODE = "volume.kubernetes.io/selected-node"

RESIZING = "Resizing"
FS_RESIZE_PENDING = "FileSystemResizePending"
# external-resizer's message for FileSystemResizePending.
FS_RESIZE_PENDING_MESSAGE = (
    "Waiting for user to (re-)start a pod to finish file system resize of volume on node."
)

Obj = dict[str, Any]


def storage_objects(default: bool = True) -> list[Obj]:
    """The sandbox's CSIDriver (no attach step) and its two classes: ``sandbox-expandable``
    (``allowVolumeExpansion: true``, the cluster default when ``default``) and ``sandbox-fixed``
    (``allowVolumeExpansion: false``)."""
    driver = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": PROVISIONER},
        "spec": {"attachRequired": False, "podInfoOnMount": False, "volumeLifecycleModes": ["Persistent"]},
    }

    def sc(name: str, expandable: bool, is_default: bool) -> Obj:
        meta: Obj = {"name": name, "labels": {"app.kubernetes.io/managed-by": "kruise-py-sandbox"}}
        if is_default:
            meta["annotations"] = {DEFAULT_CLASS_ANNOTATION: "true"}
        return {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": meta,
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": expandable,
        }

    return [driver, sc(EXPANDABLE_CLASS, True, default), sc(FIXED_CLASS, False, False)]


# -- small helpers -------------------------------------------------------------------------------
def _get(o: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(o, Mapping):
            return None
        o = o.get(key)
    return o


def _qty(v: Any) -> Fraction | None:
    if v is None:
        return None
    try:
        return parse_quantity(v)
    except ValueError:
        return None


def is_ours(sc: Mapping[str, Any] | None) -> bool:
    return bool(sc) and _get(sc, "provisioner") == PROVISIONER


def _param(sc: Mapping[str, Any], key: str) -> bool:
    return str(_get(sc, "parameters", key) or "true").lower() != "false"


def volume_name(claim: Mapping[str, Any]) -> str:
    """What external-provisioner names the PV of a claim."""
    return f"pvc-{_get(claim, 'metadata', 'uid')}"


def claim_key(claim: Mapping[str, Any]) -> str:
    return f"{_get(claim, 'metadata', 'namespace')}/{_get(claim, 'metadata', 'name')}"


def new_volume(claim: Mapping[str, Any], sc: Mapping[str, Any]) -> Obj:
    meta, spec = claim.get("metadata") or {}, claim.get("spec") or {}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": volume_name(claim), "annotations": {PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": _get(spec, "resources", "requests", "storage") or "1Gi"},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "storageClassName": _get(sc, "metadata", "name"),
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta.get("namespace"),
                "name": meta.get("name"),
                "uid": meta.get("uid"),
            },
            "csi": {"driver": PROVISIONER, "volumeHandle": f"sandbox-{meta.get('uid')}", "fsType": "ext4"},
        },
    }


# -- state and decisions -------------------------------------------------------------------------
@dataclass
class Timers:
    """When the simulator first saw the step an object is waiting for (one at a time)."""

    since: dict[str, float] = field(default_factory=dict)

    def due(self, key: str, delay: float, now: float) -> tuple[bool, float]:
        """(is the step due, when it is due); starts the clock for ``key`` and drops older steps."""
        start = self.since.get(key, now)
        self.since = {key: start}
        return now >= start + delay, start + delay

    def clear(self) -> None:
        self.since = {}


@dataclass
class ClaimDecision:
    create_volume: Obj | None = None
    volume_patch: Obj | None = None  # JSON merge patch of the PV
    status_patch: Obj | None = None  # JSON merge patch of the claim's status (subresource)
    wake: float | None = None  # step again at this time (if nothing happens before)


@dataclass(frozen=True)
class StorageDelays:
    provision_delay: float
    expand_delay: float
    fs_resize_delay: float
    deprovision_delay: float


def _conditions(claim: Mapping[str, Any], drop: tuple[str, ...], add: Obj | None = None) -> list[Obj]:
    kept = [
        c
        for c in _get(claim, "status", "conditions") or []
        if isinstance(c, Mapping) and c.get("type") not in drop
    ]
    return [dict(c) for c in kept] + ([add] if add else [])


def _condition(claim: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    return next(
        (
            c
            for c in _get(claim, "status", "conditions") or []
            if isinstance(c, Mapping) and c.get("type") == ctype and c.get("status") == "True"
        ),
        None,
    )


def step_claim(
    claim: Mapping[str, Any],
    volume: Mapping[str, Any] | None,
    sc: Mapping[str, Any] | None,
    consumers: Sequence[float],
    timers: Timers,
    delays: StorageDelays,
    now: float,
) -> ClaimDecision:
    """What the driver does next for ``claim``. ``volume`` is its PV (``spec.volumeName`` or the
    one we provisioned), ``consumers`` the start times of the pods on simulated nodes that mount it."""
    if not is_ours(sc) or _get(claim, "metadata", "deletionTimestamp"):
        timers.clear()
        return ClaimDecision()
    assert sc is not None
    req_raw = _get(claim, "spec", "resources", "requests", "storage")
    req = _qty(req_raw)
    bound = (
        _get(claim, "status", "phase") == "Bound"
        and volume is not None
        and _get(volume, "spec", "claimRef", "uid") == _get(claim, "metadata", "uid")
    )

    if not bound:
        if (
            volume is not None
            or _get(claim, "spec", "volumeName")
            or _get(claim, "status", "phase") == "Bound"
        ):
            timers.clear()
            return ClaimDecision()  # provisioned: kube-controller-manager binds it
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not _get(
            claim, "metadata", "annotations", SELECTED_NODE
        ):
            timers.clear()
            return ClaimDecision()
        due, at = timers.due("provision", delays.provision_delay, now)
        return ClaimDecision(create_volume=new_volume(claim, sc)) if due else ClaimDecision(wake=at)

    assert volume is not None
    pv_raw = _get(volume, "spec", "capacity", "storage")
    pv_cap, cap = _qty(pv_raw), _qty(_get(claim, "status", "capacity", "storage"))
    node_expansion = _param(sc, PARAM_NODE_EXPANSION)
    if req is not None and pv_cap is not None and req > pv_cap:
        if sc.get("allowVolumeExpansion") is not True:
            timers.clear()
            return ClaimDecision()  # the apiserver would not have let the request grow
        if (
            _condition(claim, RESIZING) is None
            or _qty(_get(claim, "status", "allocatedResources", "storage")) != req
        ):
            timers.due(f"expand:{req}", delays.expand_delay, now)
            return ClaimDecision(
                status_patch={
                    "status": {
                        "conditions": _conditions(
                            claim,
                            (RESIZING,),
                            {"type": RESIZING, "status": "True", "lastTransitionTime": fmt_time(now)},
                        ),
                        "allocatedResources": {"storage": req_raw},
                        "allocatedResourceStatuses": {"storage": "ControllerResizeInProgress"},
                    }
                }
            )
        due, at = timers.due(f"expand:{req}", delays.expand_delay, now)
        if not due:
            return ClaimDecision(wake=at)
        timers.clear()
        return ClaimDecision(
            volume_patch={"spec": {"capacity": {"storage": req_raw}}},
            status_patch=_after_controller_expansion(claim, req_raw, node_expansion, now),
        )

    if pv_cap is None or (cap is not None and cap >= pv_cap):
        timers.clear()
        return ClaimDecision()
    # The volume grew; its file system (status.capacity) not yet.
    if not node_expansion or _condition(claim, FS_RESIZE_PENDING) is None:
        timers.clear()
        # A write that got lost half-way (PV patched, claim status not): finish it.
        return ClaimDecision(status_patch=_after_controller_expansion(claim, pv_raw, node_expansion, now))
    pending = _condition(claim, FS_RESIZE_PENDING) or {}
    since = parse_time(pending.get("lastTransitionTime")) or 0.0
    online = _param(sc, PARAM_ONLINE_EXPANSION)
    if not any(online or started >= since for started in consumers):
        timers.clear()
        return ClaimDecision()  # waits for a pod (a new pod, offline) to mount it
    due, at = timers.due(f"fs:{pv_cap}", delays.fs_resize_delay, now)
    if not due:
        return ClaimDecision(wake=at)
    timers.clear()
    return ClaimDecision(status_patch=_done(claim, pv_raw))


def _after_controller_expansion(claim: Mapping[str, Any], size: Any, node_expansion: bool, now: float) -> Obj:
    if not node_expansion:
        return _done(claim, size)
    return {
        "status": {
            "conditions": _conditions(
                claim,
                (RESIZING, FS_RESIZE_PENDING),
                {
                    "type": FS_RESIZE_PENDING,
                    "status": "True",
                    "lastTransitionTime": fmt_time(now),
                    "message": FS_RESIZE_PENDING_MESSAGE,
                },
            ),
            "allocatedResources": {"storage": size},
            "allocatedResourceStatuses": {"storage": "NodeResizePending"},
        }
    }


def _done(claim: Mapping[str, Any], size: Any) -> Obj:
    return {
        "status": {
            "capacity": {"storage": size},
            "conditions": _conditions(claim, (RESIZING, FS_RESIZE_PENDING)),
            "allocatedResources": {"storage": size},
            "allocatedResourceStatuses": None,
        }
    }


def step_volume(
    volume: Mapping[str, Any], timers: Timers, delays: StorageDelays, now: float
) -> tuple[bool, float | None]:
    """(delete the PV now, wake at): a Released PV we provisioned, with reclaim policy Delete."""
    if (
        _get(volume, "metadata", "annotations", PROVISIONED_BY) != PROVISIONER
        or _get(volume, "metadata", "deletionTimestamp")
        or _get(volume, "status", "phase") != "Released"
        or _get(volume, "spec", "persistentVolumeReclaimPolicy") != "Delete"
    ):
        timers.clear()
        return False, None
    due, at = timers.due("delete", delays.deprovision_delay, now)
    return (True, None) if due else (False, at)


def pod_claim_names(pod: Mapping[str, Any]) -> list[str]:
    """Names of the claims a pod mounts (``persistentVolumeClaim`` volumes)."""
    return [
        str(v["persistentVolumeClaim"]["claimName"])
        for v in _get(pod, "spec", "volumes") or []
        if isinstance(v, Mapping)
        and isinstance(v.get("persistentVolumeClaim"), Mapping)
        and v["persistentVolumeClaim"].get("claimName")
    ]
