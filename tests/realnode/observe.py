"""What the scenarios compare between the real kubelet and the simulator: the shape of a pod's
status (every field the kubelet writes, with times, IDs and addresses reduced to whether they are
there) and, from a watch, the sequence of distinct views a user saw."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from tests.integration.monitor import PodMonitor


def _kind(state: dict[str, Any] | None) -> dict[str, Any]:
    """{"running": {}} / {"waiting": {"reason"}} / {"terminated": {"reason", "exitCode", "keys"}}."""
    if not state:
        return {}
    ((kind, body),) = state.items()
    out: dict[str, Any] = {"kind": kind}
    if kind in ("waiting", "terminated"):
        out["reason"] = body.get("reason")
    if kind == "terminated":
        out["exitCode"] = body.get("exitCode")
        out["keys"] = sorted(body)
    return out


def container_shape(cs: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": cs["name"],
        "keys": sorted(cs),
        "ready": cs.get("ready"),
        "started": cs.get("started"),
        "restartCount": cs.get("restartCount"),
        "image": cs.get("image"),
        # The real node's images are imported, not pulled: containerd reports their image id
        # (sha256:…) where a pulled image has a repo digest (<repo>@sha256:…, what the simulator
        # models); both are a digest.
        "imageID": re.sub(r"[0-9a-f]{64}", "<digest>", (cs.get("imageID") or "").rsplit("@", 1)[-1]),
        "containerID": re.sub(r"//.*", "//<id>", cs.get("containerID") or ""),
        "state": _kind(cs.get("state")),
        "lastState": _kind(cs.get("lastState")),
        "resources": cs.get("resources"),
        "allocatedResources": cs.get("allocatedResources"),
        "volumeMounts": [m["mountPath"] for m in cs.get("volumeMounts") or []],
    }


def status_shape(pod: dict[str, Any]) -> dict[str, Any]:
    st = pod.get("status") or {}
    gen = pod["metadata"].get("generation")
    conds = [
        {
            "type": c["type"],
            "status": c["status"],
            "reason": c.get("reason"),
            "message": c.get("message"),
            "keys": sorted(c),
            "observedGeneration": "current"
            if c.get("observedGeneration") == gen
            else c.get("observedGeneration"),
        }
        for c in st.get("conditions") or []
    ]
    return {
        "keys": sorted(st),
        "phase": st.get("phase"),
        "qosClass": st.get("qosClass"),
        "observedGeneration": "current"
        if st.get("observedGeneration") == gen
        else st.get("observedGeneration"),
        "conditions": sorted(conds, key=lambda c: c["type"]),
        "containerStatuses": [container_shape(c) for c in st.get("containerStatuses") or []],
        "initContainerStatuses": [container_shape(c) for c in st.get("initContainerStatuses") or []],
        "resources": _pod_resources(st.get("resources")),
        "podIPs": len(st.get("podIPs") or []),
        "hostIPs": len(st.get("hostIPs") or []),
    }


# What a cgroup v1 pod memory cgroup without a limit reads back as (2^63 - 4096 bytes): the real
# node reports it as the pod's memory limit when a container declares none; the simulator models
# cgroup v2, which keeps the declared aggregate.
CGROUP_V1_UNLIMITED = "9007199254740988Ki"
UNLIMITED_V1 = "<cgroup v1: unlimited>"  # matches whatever the simulator says (test_zz_differences)


def _pod_resources(r: dict[str, Any] | None) -> dict[str, Any] | None:
    if r is None:
        return None
    out = {k: dict(v) for k, v in r.items()}
    if out.get("limits", {}).get("memory") == CGROUP_V1_UNLIMITED:
        out["limits"]["memory"] = UNLIMITED_V1
    return out


def view(pod: dict[str, Any]) -> tuple[Any, ...]:
    """What a user watching ``kubectl get pod -w`` plus the Ready condition sees."""
    st = pod.get("status") or {}
    ready = next((c for c in st.get("conditions") or [] if c["type"] == "Ready"), {})
    gate = next(
        (c.get("status") for c in st.get("conditions") or [] if c["type"] == "InPlaceUpdateReady"), None
    )
    cs = tuple(
        (c["name"], next(iter(c.get("state") or {"": 0})), c.get("ready"), c.get("restartCount"))
        for c in [*(st.get("initContainerStatuses") or []), *(st.get("containerStatuses") or [])]
    )
    return (st.get("phase"), ready.get("status"), ready.get("reason"), gate, cs)


@dataclass
class PodHistory(PodMonitor):
    """A PodMonitor that also keeps every version of every pod it saw."""

    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def _record(self, etype: str, pod: dict[str, Any]) -> None:
        super()._record(etype, pod)
        if etype != "DELETED":
            self.versions.setdefault(pod["metadata"]["name"], []).append(copy.deepcopy(pod))

    def views(self, name: str) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for p in self.versions.get(name, []):
            v = view(p)
            if not out or out[-1] != v:
                out.append(v)
        return out
