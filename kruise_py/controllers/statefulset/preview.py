"""`kruise-py plan`: what the next rollout of an Advanced StatefulSet would do, per pod.

Pure: it calls the same decision functions the controller uses (revisions, ordinals, the update
order and ``core.inplace.calculate_update_spec``) on a snapshot, and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...api import views
from ...api.common import int_or_percent
from ...core import inplace, ordinals
from ...core import revisions as rev
from . import plan as planner


@dataclass(frozen=True)
class Row:
    pod: str
    revision: str
    action: str  # "create" | "in place" | "recreate" | "up to date" | "untouched" | "blocked"
    detail: str = ""
    wave: int | None = None
    # A container restarts (in place: an image or env-from-metadata change; a resize does not) or the pod is recreated.
    restart: bool = False


def preview(snap: planner.Snapshot) -> tuple[list[Row], planner.Plan]:
    """Rows for every pod slot, in update order, and the plan of the very next reconcile."""
    sts = views.statefulset(snap.sts)
    spec = sts["spec"]
    now_plan = planner.plan(snap)
    decision = rev.decide_update_revision(sts, snap.revisions)
    update_rev = decision.revision
    update_name = update_rev["metadata"]["name"]
    revisions = {r["metadata"]["name"]: r for r in snap.revisions}
    strategy = spec.get("updateStrategy") or {}
    ru = strategy.get("rollingUpdate") or {}
    n = int(spec.get("replicas", 1))
    partition = int(ru.get("partition") or 0)
    max_u = max(1, int_or_percent(ru.get("maxUnavailable", 1), n, round_up=False))
    policy = ru.get("podUpdatePolicy", "ReCreate")
    reserved = ordinals.Reserved.parse(spec.get("reserveOrdinals"))
    start, end = ordinals.replica_range(n, ordinals.get_start_ordinal(sts, True), reserved)
    set_name = sts["metadata"]["name"]
    pods = [views.pod(p) for p in snap.pods]
    replicas, condemned = ordinals.split_pods(set_name, pods, start, end, reserved)

    rows: list[Row] = []
    for o in ordinals.slots(n, start, reserved):
        if o not in replicas:
            rows.append(Row(f"{set_name}-{o}", "", "create", "missing; created at scale-up"))
    for p in condemned:
        rows.append(
            Row(
                p["metadata"]["name"],
                rev.revision_of_pod(p),
                "delete",
                "out of range (scale-down or reserved)",
            )
        )

    order = planner._order_to_update(replicas, start, end, partition, n, ru, update_name)
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        blocked_by = "updateStrategy OnDelete: pods change only when you delete them"
    elif ru.get("paused"):
        blocked_by = "rollingUpdate.paused"
    else:
        blocked_by = ""
    in_order = {p["metadata"]["name"] for p in order}
    wave_slot = 0
    for p in order:
        name, r = p["metadata"]["name"], rev.revision_of_pod(p)
        if rev.pod_at_revision(p, update_name):
            rows.append(Row(name, r, "up to date"))
            continue
        spec_ = None
        if policy != "ReCreate":
            spec_ = inplace.calculate_update_spec(
                revisions.get(r), update_rev, allow_resize=snap.resize_supported
            )
        if spec_ is None and policy == "InPlaceOnly":
            rows.append(Row(name, r, "blocked", "InPlaceOnly, but the change needs a recreate"))
            continue
        action = "recreate" if spec_ is None else "in place"
        detail = ""
        if spec_ is not None:
            changes = [f"{c} image → {img}" for c, img in sorted(spec_.container_images.items())]
            changes += [f"{c} resources (resize)" for c in sorted(spec_.container_resources)]
            if spec_.metadata_patch:
                changes.append("pod labels/annotations")
            detail = ", ".join(changes)
        elif policy == "ReCreate":
            detail = "podUpdatePolicy ReCreate"
        else:
            detail = "the change cannot be applied in place (only images and metadata can)"
        restart = spec_ is None or bool(spec_.container_images) or spec_.update_env_from_metadata
        if blocked_by:
            rows.append(Row(name, r, "blocked", f"{blocked_by} (would {action})", restart=restart))
            continue
        rows.append(Row(name, r, action, detail, wave=wave_slot // max_u + 1, restart=restart))
        wave_slot += 1
    for o in sorted(replicas):
        p = replicas[o]
        name = p["metadata"]["name"]
        if name not in in_order:
            status = "up to date" if rev.pod_at_revision(p, update_name) else "untouched"
            rows.append(
                Row(
                    name,
                    rev.revision_of_pod(p),
                    status,
                    "" if status == "up to date" else f"partition {partition}",
                )
            )
    return rows, now_plan


def render(rows: list[Row], snap: planner.Snapshot, now_plan: planner.Plan) -> str:
    spec = snap.sts["spec"]
    ru = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    lines = [
        f"StatefulSet {snap.sts['metadata'].get('namespace', '')}/{snap.sts['metadata']['name']}: "
        f"update revision {now_plan.update_revision} (current {now_plan.current_revision}), "
        f"policy {ru.get('podUpdatePolicy', 'ReCreate')}, maxUnavailable {ru.get('maxUnavailable', 1)}, "
        f"partition {ru.get('partition', 0)}",
        "",
    ]
    w = max([len(r.pod) for r in rows] + [3])
    lines.append(f"{'POD':<{w}}  {'WAVE':>4}  {'ACTION':<10}  DETAIL")
    for r in rows:
        lines.append(f"{r.pod:<{w}}  {r.wave if r.wave else '':>4}  {r.action:<10}  {r.detail}")
    if now_plan.notes:
        lines += ["", "next reconcile: " + "; ".join(now_plan.notes)]
    return "\n".join(lines)


def snapshot_for(
    sts: dict[str, Any], pods: list[dict[str, Any]], revisions: list[dict[str, Any]], now: Any
) -> planner.Snapshot:
    """A snapshot for a set that may not exist yet (no uid: a placeholder keeps names stable)."""
    sts = dict(sts)
    sts["metadata"] = {"uid": "00000000-preview", "generation": 1, **(sts.get("metadata") or {})}
    return planner.Snapshot(sts=sts, pods=pods, revisions=revisions, claims={}, now=now)
