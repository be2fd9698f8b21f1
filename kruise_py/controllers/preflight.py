"""`kruise-py migrate check`: what kruise-py would do to each object on its first reconcile after
taking over from OpenKruise (or after any restart), decided by the controllers' own planners.

Pure: it takes the objects as listed from the cluster and returns one :class:`Finding` per object;
docs/migrate.md explains the verdicts. A pod "restarts" when a container would restart (an in-place
image change) or the pod would be deleted or recreated; writes that restart nothing (a status
condition, a label) are counted apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..api.defaults import default_broadcastjob, default_sidecarset, default_statefulset
from ..core.obj import meta as _meta
from ..core.obj import status as _status
from .broadcastjob import plan as bcj_plan
from .sidecarset import inject as ss_inject
from .sidecarset import plan as ss_plan
from .statefulset import plan as sts_plan
from .statefulset import preview

Obj = dict[str, Any]
# nothing: no write at all; adopt: existing revisions reused, no pod write; new-revision: no existing
# revision is equal, one is created (names change, no pod write); write: pod writes that restart
# nothing (or pods created); roll: pods restarted, recreated or deleted.
Verdict = Literal["nothing", "adopt", "new-revision", "write", "roll"]


@dataclass
class Finding:
    kind: str
    namespace: str
    name: str
    verdict: Verdict = "nothing"
    revisions_adopted: list[str] = field(default_factory=list)
    revisions_created: list[str] = field(default_factory=list)
    pod_restarts: int = 0
    pod_writes: int = 0  # writes to existing pods that restart nothing
    pod_creates: int = 0
    details: list[str] = field(default_factory=list)

    def conclude(self) -> Finding:
        if self.pod_restarts:
            self.verdict = "roll"
        elif self.pod_writes or self.pod_creates:
            self.verdict = "write"
        elif self.revisions_created:
            self.verdict = "new-revision"
        elif self.revisions_adopted:
            self.verdict = "adopt"
        else:
            self.verdict = "nothing"
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "verdict": self.verdict,
            "revisionsAdopted": self.revisions_adopted,
            "revisionsCreated": self.revisions_created,
            "podRestarts": self.pod_restarts,
            "podWrites": self.pod_writes,
            "podCreates": self.pod_creates,
            "details": self.details,
        }


def _names(objs: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(_meta(o).get("name")) for o in objs}


def statefulset(
    sts: Obj, pods: list[Obj], revisions: list[Obj], claims: Mapping[str, Obj], now: datetime
) -> Finding:
    """``pods``: the namespace's pods; ``revisions``: the set's ControllerRevisions."""
    md = _meta(sts)
    f = Finding("StatefulSet", md.get("namespace", ""), md.get("name", ""))
    sts = default_statefulset(sts)
    owned = [
        p for p in pods if any(r.get("uid") == md.get("uid") for r in _meta(p).get("ownerReferences") or [])
    ]
    snap = sts_plan.Snapshot(
        sts=sts, pods=sts_plan.candidate_pods(sts, owned, pods), revisions=revisions, claims=claims, now=now
    )
    rows, p = preview.preview(snap)
    existing = _names(revisions)
    status = _status(sts)
    if p.revision_create is not None:
        f.revisions_created.append(p.update_revision)
        f.details.append(f"no revision has the current template: creates {p.update_revision}")
    else:
        f.revisions_adopted.append(p.update_revision)
    if p.current_revision in existing and p.current_revision not in f.revisions_adopted:
        f.revisions_adopted.append(p.current_revision)
    for key, new in (("updateRevision", p.update_revision), ("currentRevision", p.current_revision)):
        old = status.get(key)
        if old and old != new:
            f.details.append(f"status.{key} changes from {old} to {new}")
    rolling = [r for r in rows if r.action in ("in place", "recreate", "blocked") and r.restart]
    f.pod_restarts = len(rolling)
    if rolling:
        cause = (
            "the update revision changes"
            if status.get("updateRevision") not in (None, "", p.update_revision)
            else "a rollout in progress continues"
        )
        f.details.append(
            f"{len(rolling)} pod(s) to roll to {p.update_revision} ({cause}): "
            + ", ".join(f"{r.pod} {r.action}" for r in rolling[:10])
            + (" ..." if len(rolling) > 10 else "")
        )
    rolling_pods = {r.pod for r in rolling}
    writes = [w for w in p.pod_writes if _meta(w.pod).get("name") not in rolling_pods]
    f.pod_writes = len(writes)
    for w in writes:
        f.details.append(f"pod {_meta(w.pod).get('name')}: {w.reason} write (no restart)")
    deletes = [d for d in p.deletes if _meta(d.pod).get("name") not in rolling_pods]
    f.pod_restarts += len(deletes)
    for d in deletes:
        f.details.append(f"pod {_meta(d.pod).get('name')}: deleted ({d.reason})")
    f.pod_creates = len(p.creates)
    if p.creates:
        f.details.append("creates " + ", ".join(str(_meta(c.pod).get("name")) for c in p.creates))
    return f.conclude()


def broadcastjob(job: Obj, pods: list[Obj], nodes: list[Obj], now: datetime) -> Finding:
    """``pods``: the job's pods (controller ownerRef); ``nodes``: every node."""
    md = _meta(job)
    f = Finding("BroadcastJob", md.get("namespace", ""), md.get("name", ""))
    p = bcj_plan.plan(bcj_plan.Snapshot(job=default_broadcastjob(job), pods=pods, nodes=nodes, now=now))
    f.pod_restarts = len(p.deletes)
    for pod, reason in p.deletes:
        f.details.append(f"pod {_meta(pod).get('name')}: deleted ({reason})")
    f.pod_creates = len(p.creates)
    if p.creates:
        f.details.append(f"creates {len(p.creates)} pod(s) on " + ", ".join(p.nodes_needing_pod[:10]))
    if p.delete_job:
        f.details.append("the job is deleted (ttlSecondsAfterFinished has passed)")
    return f.conclude()


def sidecarset(
    ss: Obj,
    pods: list[Obj],
    revisions: list[Obj],
    revision_namespace: str,
    namespace_labels: Callable[[str], Mapping[str, str]],
    now: datetime,
) -> Finding:
    """``pods``: every pod; ``revisions``: the ControllerRevisions of ``revision_namespace``."""
    md = _meta(ss)
    name = str(md.get("name", ""))
    f = Finding("SidecarSet", "", name)
    ss = default_sidecarset(ss)
    injected = [p for p in pods if name in ss_inject.injected_sidecarsets(p)]
    snap = ss_plan.Snapshot(
        sidecarset=ss,
        pods=ss_plan.candidate_pods(ss, injected, namespace_labels),
        revisions=revisions,
        revision_namespace=revision_namespace,
        now=now,
    )
    p = ss_plan.plan(snap)
    rname = p.latest_revision
    if p.revision_create is not None:
        f.revisions_created.append(rname)
        others = sorted(r for r in _names(revisions) if r.startswith(name + "-"))
        f.details.append(
            f"no revision in {revision_namespace} has the current sidecars: creates {rname}"
            + (f" (found {', '.join(others)})" if others else "")
        )
    else:
        f.revisions_adopted.append(rname)
    old = _status(ss).get("latestRevision")
    if old and old != rname:
        f.details.append(f"status.latestRevision changes from {old} to {rname}")
    f.pod_restarts = len(p.upgrades)
    for u in p.upgrades:
        f.details.append(
            f"pod {_meta(u.pod).get('namespace')}/{_meta(u.pod).get('name')}: sidecar upgraded in place"
        )
    f.pod_writes = len(p.not_upgradable)
    for pod, _ in p.not_upgradable:
        f.details.append(
            f"pod {_meta(pod).get('namespace')}/{_meta(pod).get('name')}: condition write (no restart)"
        )
    not_updated = [k for k, v in p.pod_plan.items() if v != "updated"]
    if not_updated:
        f.details.append(
            f"{len(not_updated)} matched pod(s) not counted as updated: " + ", ".join(not_updated[:10])
        )
    return f.conclude()
