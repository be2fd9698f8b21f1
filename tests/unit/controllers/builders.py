"""Builders for planner tests: sets, revisions, pods and a tiny world that applies a plan's effects.

Everything is a plain dict, as the planner sees it. ``World.step()`` runs one reconcile (``plan``)
and applies its effects the way the API server and a kubelet would, so multi-pass scenarios of the
spec (§3.1, §3.4) can be replayed without a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kruise_py.api.defaults import default_statefulset
from kruise_py.controllers.statefulset import plan as planner
from kruise_py.core import inplace
from kruise_py.core import lifecycle as lc
from kruise_py.core.revisions import REVISION_LABEL, new_revision

Obj = dict[str, Any]

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
NS = "default"
SET = "web"
SET_UID = "uid-web"
APP = {"app": "web"}
OLD_IMAGE = "nginx:1"
NEW_IMAGE = "nginx:2"


def ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_id(image: str) -> str:
    return f"docker-pullable://{image}@sha256:{abs(hash(image)) % 10**12:064d}"


def template(
    image: str = NEW_IMAGE,
    *,
    env: list[Obj] | None = None,
    gate: bool = False,
    labels: Mapping[str, str] | None = None,
) -> Obj:
    c: Obj = {"name": "main", "image": image}
    if env is not None:
        c["env"] = env
    spec: Obj = {"containers": [c]}
    if gate:
        spec["readinessGates"] = [{"conditionType": inplace.INPLACE_UPDATE_READY}]
    return {"metadata": {"labels": dict(labels if labels is not None else APP)}, "spec": spec}


def make_sts(
    replicas: int = 3,
    image: str = NEW_IMAGE,
    *,
    name: str = SET,
    parallel: bool = False,
    partition: int | None = None,
    max_unavailable: int | str | None = None,
    update_policy: str | None = None,
    min_ready: int | None = None,
    paused: bool = False,
    unordered: Obj | None = None,
    on_delete: bool = False,
    reserve: list[int | str] | None = None,
    lifecycle: Obj | None = None,
    scale_max_unavailable: int | str | None = None,
    claims: list[str] | None = None,
    claim_labels: Mapping[str, str] | None = None,
    retention: tuple[str, str] | None = None,  # (whenScaled, whenDeleted)
    env: list[Obj] | None = None,
    gate: bool | None = None,
    status: Obj | None = None,
    generation: int = 1,
    deleting: bool = False,
) -> Obj:
    """A defaulted ASTS (``default_statefulset``) with metadata uid/generation."""
    if gate is None:
        gate = update_policy in ("InPlaceIfPossible", "InPlaceOnly")
    spec: Obj = {
        "replicas": replicas,
        "selector": {"matchLabels": dict(APP)},
        "serviceName": "web-svc",
        "template": template(image, env=env, gate=gate),
        "podManagementPolicy": "Parallel" if parallel else "OrderedReady",
    }
    if on_delete:
        spec["updateStrategy"] = {"type": "OnDelete"}
    else:
        ru: Obj = {}
        if partition is not None:
            ru["partition"] = partition
        if max_unavailable is not None:
            ru["maxUnavailable"] = max_unavailable
        if update_policy is not None:
            ru["podUpdatePolicy"] = update_policy
        if min_ready is not None:
            ru["minReadySeconds"] = min_ready
        if paused:
            ru["paused"] = True
        if unordered is not None:
            ru["unorderedUpdate"] = unordered
        spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": ru}
    if reserve is not None:
        spec["reserveOrdinals"] = reserve
    if lifecycle is not None:
        spec["lifecycle"] = lifecycle
    if scale_max_unavailable is not None:
        spec["scaleStrategy"] = {"maxUnavailable": scale_max_unavailable}
    if claims:
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": c, **({"labels": dict(claim_labels)} if claim_labels else {})},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
            for c in claims
        ]
    if retention is not None:
        spec["persistentVolumeClaimRetentionPolicy"] = {
            "whenScaled": retention[0],
            "whenDeleted": retention[1],
        }
    meta: Obj = {
        "name": name,
        "namespace": NS,
        "uid": SET_UID,
        "generation": generation,
        "annotations": {"team": "a"},
    }
    if deleting:
        meta["deletionTimestamp"] = ts(NOW)
    obj: Obj = {"apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "metadata": meta, "spec": spec}
    if status is not None:
        obj["status"] = status
    return default_statefulset(obj)


def with_image(sts: Obj, image: str, env: list[Obj] | None = None) -> Obj:
    """The same set with another container image (and env, if given) in its template."""
    out = copy.deepcopy(sts)
    c = out["spec"]["template"]["spec"]["containers"][0]
    c["image"] = image
    if env is not None:
        c["env"] = env
    return out


def revision_of(sts: Obj, number: int) -> Obj:
    """The ControllerRevision of ``sts``'s current template (collision count 0, as the planner uses)."""
    return new_revision(sts, sts["spec"]["template"], number, 0)


def rname(r: Mapping[str, Any]) -> str:
    return str(r["metadata"]["name"])


def pod_status(
    pod: Obj,
    *,
    phase: str = "Running",
    ready: bool = True,
    since: datetime | None = None,
    gate_ok: bool = True,
) -> Obj:
    """A kubelet-like status for ``pod``: phase, Ready/ContainersReady, gate, containerStatuses."""
    since = since or NOW - timedelta(hours=1)
    conds: list[Obj] = [
        {"type": "ContainersReady", "status": "True" if ready else "False", "lastTransitionTime": ts(since)},
        {
            "type": "Ready",
            "status": "True" if ready and gate_ok else "False",
            "lastTransitionTime": ts(since),
        },
    ]
    if inplace.has_gate(pod):
        conds.append(
            {
                "type": inplace.INPLACE_UPDATE_READY,
                "status": "True" if gate_ok else "False",
                "lastTransitionTime": ts(since),
            }
        )
    return {
        "phase": phase,
        "conditions": conds,
        "containerStatuses": [
            {"name": c["name"], "image": c["image"], "imageID": image_id(c["image"]), "ready": ready}
            for c in pod["spec"].get("containers", [])
        ],
    }


def make_pod(
    sts: Obj,
    ordinal: int,
    revision: Mapping[str, Any],
    *,
    phase: str = "Running",
    ready: bool = True,
    since: datetime | None = None,
    terminating: bool = False,
    state: str | None = None,
    labels: Mapping[str, str] | None = None,
    finalizers: list[str] | None = None,
    owned: bool = True,
    name: str | None = None,
) -> Obj:
    """A pod of ``sts`` at ``revision`` (built by the planner's own ``new_pod``), with a status."""
    pod = planner.new_pod(sts, ordinal, revision, NOW - timedelta(hours=2))
    md = pod["metadata"]
    if name is not None:
        md["name"] = name
    md["uid"] = f"uid-{md['name']}"
    md["resourceVersion"] = "1"
    if state is not None:
        md["labels"][lc.STATE_LABEL] = state
    if labels:
        md["labels"].update(labels)
    if finalizers:
        md["finalizers"] = list(finalizers)
    if terminating:
        md["deletionTimestamp"] = ts(NOW)
    if not owned:
        md["ownerReferences"] = []
    pod["status"] = pod_status(pod, phase=phase, ready=ready, since=since)
    return pod


def pname(pod: Mapping[str, Any]) -> str:
    return str(pod["metadata"]["name"])


def ordinal(pod: Mapping[str, Any]) -> int:
    return int(pname(pod).rsplit("-", 1)[1])


def deep_merge(dst: Obj, patch: Mapping[str, Any]) -> None:
    """JSON merge patch (None deletes); lists replace."""
    for k, v in patch.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, Mapping) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)


def apply_pod_writes(pod: Obj, writes: list[inplace.PodWrites]) -> None:
    """Apply a PodWrite's steps to ``pod`` as the API server would."""
    for w in writes:
        if w.status_conditions:
            conds = pod.setdefault("status", {}).setdefault("conditions", [])
            for c in w.status_conditions:
                for i, old in enumerate(conds):
                    if old.get("type") == c["type"]:
                        conds[i] = {**old, **c}
                        break
                else:
                    conds.append(dict(c))
        if w.status_metadata:
            deep_merge(pod["metadata"], w.status_metadata)
        if w.metadata_patch:
            md = w.metadata_patch.get("metadata", w.metadata_patch)
            deep_merge(pod["metadata"], md)
        if w.spec_patch:
            for c in w.spec_patch["spec"]["containers"]:
                for pc in pod["spec"]["containers"]:
                    if pc["name"] == c["name"]:
                        pc.update({k: v for k, v in c.items() if k != "name"})


def restart_containers(pod: Obj) -> None:
    """The kubelet restarted the changed containers (status images follow the spec); the
    InPlaceUpdateReady gate, and so Ready, are left as they were (the controller sets the gate)."""
    pod.setdefault("status", {})["containerStatuses"] = [
        {"name": c["name"], "image": c["image"], "imageID": image_id(c["image"]), "ready": True}
        for c in pod["spec"].get("containers", [])
    ]


def kubelet_settle(pod: Obj, now: datetime) -> None:
    """The kubelet restarted the changed containers: status images follow the spec, gate and Ready True."""
    st = pod.setdefault("status", {})
    st["containerStatuses"] = [
        {"name": c["name"], "image": c["image"], "imageID": image_id(c["image"]), "ready": True}
        for c in pod["spec"].get("containers", [])
    ]
    for c in st.get("conditions", []):
        if (
            c["type"] in ("Ready", "ContainersReady", inplace.INPLACE_UPDATE_READY)
            and c.get("status") != "True"
        ):
            c.update({"status": "True", "reason": "", "message": "", "lastTransitionTime": ts(now)})


@dataclass
class World:
    """A set, its pods, revisions and claims; ``step()`` plans one reconcile and applies it."""

    sts: Obj
    pods: dict[str, Obj] = field(default_factory=dict)
    revisions: list[Obj] = field(default_factory=list)
    claims: dict[str, Obj] = field(default_factory=dict)
    now: datetime = NOW
    # history of what the plans did
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (pod name, reason)
    created: list[tuple[str, str]] = field(default_factory=list)  # (pod name, revision)
    inplace: list[str] = field(default_factory=list)
    plans: list[planner.Plan] = field(default_factory=list)

    def add(self, *pods: Obj) -> World:
        for p in pods:
            self.pods[pname(p)] = p
        return self

    def snapshot(self) -> planner.Snapshot:
        return planner.Snapshot(
            sts=self.sts,
            pods=list(self.pods.values()),
            revisions=list(self.revisions),
            claims=dict(self.claims),
            now=self.now,
        )

    def plan(self) -> planner.Plan:
        return planner.plan(self.snapshot())

    def step(
        self, *, new_pods_ready: bool = True, settle_inplace: bool = False, advance: float = 0.0
    ) -> planner.Plan:
        """Plan and apply one reconcile; then advance the clock by ``advance`` seconds."""
        p = self.plan()
        self.plans.append(p)
        if p.revision_create is not None:
            self.revisions.append(p.revision_create)
        if p.revision_bump is not None:
            self.revisions = [r for r in self.revisions if rname(r) != rname(p.revision_bump)]
            self.revisions.append(p.revision_bump)
        self.revisions = [r for r in self.revisions if rname(r) not in p.revisions_delete]
        if p.status is not None:
            self.sts = {**self.sts, "status": p.status}
        for w in p.pod_writes:
            pod = self.pods[pname(w.pod)]
            apply_pod_writes(pod, w.writes)
            if w.reason == "inplace":
                self.inplace.append(pname(pod))
                if settle_inplace:
                    kubelet_settle(pod, self.now)
        for d in p.deletes:
            self.deleted.append((pname(d.pod), d.reason))
            self.pods.pop(pname(d.pod), None)
        for c in p.creates:
            pod = copy.deepcopy(c.pod)
            pod["metadata"]["uid"] = f"uid-{pname(pod)}-{len(self.created)}"
            pod["status"] = pod_status(
                pod, ready=new_pods_ready, since=self.now, phase="Running" if new_pods_ready else "Pending"
            )
            self.pods[pname(pod)] = pod
            self.created.append((pname(pod), pod["metadata"]["labels"][REVISION_LABEL]))
            for claim in c.claims:
                self.claims[claim["metadata"]["name"]] = copy.deepcopy(claim)
        self.now += timedelta(seconds=advance)
        return p

    def make_ready(self, name: str) -> None:
        """The kubelet reports ``name`` Running and Ready from now on."""
        pod = self.pods[name]
        pod["status"] = pod_status(pod, since=self.now)


def rolling_world(
    n: int,
    *,
    updated: set[int] | frozenset[int] = frozenset(),
    ready: Mapping[int, bool] | None = None,
    terminating: set[int] | frozenset[int] = frozenset(),
    missing: set[int] | frozenset[int] = frozenset(),
    old_env: list[Obj] | None = None,
    **sts_kw: Any,
) -> tuple[World, Obj, Obj]:
    """A set mid-rollout: template nginx:2 (revision 2), status.currentRevision = the nginx:1 revision
    (revision 1); pods 0..n-1 at the old revision except ``updated``. Returns (world, old_rev, new_rev)."""
    base = make_sts(n, **sts_kw)
    old_rev = revision_of(with_image(base, OLD_IMAGE, env=old_env), 1)
    new_rev = revision_of(base, 2)
    sts = {
        **base,
        "status": {
            "currentRevision": rname(old_rev),
            "updateRevision": rname(new_rev),
            "collisionCount": 0,
            "observedGeneration": 1,
        },
    }
    w = World(sts, revisions=[old_rev, new_rev])
    ready = ready or {}
    for i in range(n):
        if i in missing:
            continue
        r = new_rev if i in updated else old_rev
        w.add(make_pod(sts, i, r, ready=ready.get(i, True), terminating=i in terminating))
    return w, old_rev, new_rev


def update_deletes(p: planner.Plan) -> list[str]:
    return [pname(d.pod) for d in p.deletes if d.reason == "update"]


def inplace_names(p: planner.Plan) -> list[str]:
    return [pname(w.pod) for w in p.pod_writes if w.reason == "inplace"]
