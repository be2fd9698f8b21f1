"""Advanced StatefulSet: every decision of one reconcile, as a pure function.

``plan(snapshot) -> Plan``: given the set, the pods that may belong to it, its ControllerRevisions,
its claims and the time, decide what to write — revisions, claims, pod creations and deletions,
in-place updates, lifecycle and gate changes, adoption, status — following OpenKruise's
``stateful_set_control.go`` (spec §1.8, §3) with the in-place mechanism of ``core.inplace``.
reconcile.py only executes the plan. No I/O here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...api import views
from ...api.common import int_or_percent, label_selector_matches, selector_to_string
from ...api.statefulset import VOLUME_CLAIM_UPDATE_ON_POD_ROLLING_UPDATE
from ...api.views import Pod, RollingUpdate, StatefulSet, StatefulSetSpec
from ...core import availability as av
from ...core import claims as pvc
from ...core import inplace, ordinals, priority
from ...core import lifecycle as lc
from ...core import revisions as rev

Obj = dict[str, Any]

GROUP_VERSION = "apps.kruise.io/v1beta1"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
SPECIFIED_DELETE_LABEL = "apps.kruise.io/specified-delete"
# States the rolling update puts a pod in while a lifecycle hook holds it.
HELD_BY_UPDATE_HOOK = (lc.PREPARING_UPDATE, lc.PREPARING_DELETE)
RESIZE_FEATURE = True  # in-place CPU/memory resize (pod `resize` subresource, GA in 1.35)


@dataclass(frozen=True)
class Snapshot:
    sts: Obj
    pods: list[Obj]  # pods of the namespace that may belong to the set (owned, or orphans)
    revisions: list[Obj]  # ControllerRevisions owned by the set
    claims: Mapping[str, Obj]  # PVCs of the namespace by name
    now: datetime
    # Whether the apiserver serves pods/resize (checked once by the reconciler).
    resize_supported: bool = True


@dataclass
class PodWrite:
    """Writes to one existing pod, applied in order (status, then metadata+spec, then resize)."""

    pod: Pod
    writes: list[inplace.PodWrites]
    reason: str  # "inplace" | "refresh" | "lifecycle" | "adopt" | "release"
    revision: str = ""


@dataclass
class PodCreate:
    ordinal: int
    pod: Obj
    claims: list[Obj]


@dataclass
class PodDelete:
    pod: Pod
    reason: str  # "scale-down" | "failed" | "update" | "specified-delete"


@dataclass
class ClaimOwnerPatch:
    name: str
    owner_references: list[views.OwnerReference]


@dataclass
class ClaimResize:
    """Grow one claim's storage request to its template's (volumeClaimUpdateStrategy OnPodRollingUpdate)."""

    name: str
    pod: str  # the pod the claim belongs to (events)
    storage: Any  # the template's request, as written ("2Gi")
    uid: str | None = None  # precondition: the claim the plan was made from


@dataclass
class Plan:
    update_revision: str = ""
    current_revision: str = ""
    revision_create: Obj | None = None
    revision_bump: Obj | None = None
    revisions_delete: list[str] = field(default_factory=list)
    creates: list[PodCreate] = field(default_factory=list)
    deletes: list[PodDelete] = field(default_factory=list)
    pod_writes: list[PodWrite] = field(default_factory=list)
    claim_patches: list[ClaimOwnerPatch] = field(default_factory=list)
    claim_resizes: list[ClaimResize] = field(default_factory=list)
    status: Obj | None = None  # None: unchanged, do not write
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    # Status conditions this round's decisions call for, (type, message); write failures add theirs.
    conditions: list[tuple[str, str]] = field(default_factory=list)
    requeue_after: float | None = None
    error: str | None = None
    # Why nothing more happened this round (for `kruise-py plan` and logs).
    notes: list[str] = field(default_factory=list)
    # Per pod: what the rolling update would do (for `kruise-py plan`).
    pod_plan: dict[str, str] = field(default_factory=dict)

    def requeue(self, seconds: float) -> None:
        if seconds > 0 and (self.requeue_after is None or seconds < self.requeue_after):
            self.requeue_after = seconds


# -- small helpers ------------------------------------------------------------------------------
_meta = views.meta


def _labels(o: Mapping[str, Any]) -> Mapping[str, str]:
    return _meta(o).get("labels") or {}


def _controller_ref(o: Mapping[str, Any]) -> views.OwnerReference | None:
    return next((r for r in _meta(o).get("ownerReferences") or [] if r.get("controller")), None)


def owner_ref(sts: Mapping[str, Any]) -> views.OwnerReference:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "StatefulSet",
        "name": _meta(sts)["name"],
        "uid": _meta(sts)["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


# -- pods and claims ----------------------------------------------------------------------------
def candidate_pods(sts: Mapping[str, Any], owned: list[Obj], namespace_pods: list[Obj]) -> list[Obj]:
    """The pods a set may hold: those it owns, and orphans named ``<set>-...`` (adoption)."""
    prefix = _meta(sts)["name"] + "-"
    orphans = [
        p
        for p in namespace_pods
        if _controller_ref(p) is None and _meta(p).get("name", "").startswith(prefix)
    ]
    return [*owned, *orphans]


def claim_name(template_name: str, set_name: str, ordinal: int) -> str:
    return f"{template_name}-{set_name}-{ordinal}"


def new_claims(sts: StatefulSet, ordinal: int) -> list[Obj]:
    spec = sts["spec"]
    name = _meta(sts)["name"]
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    out = []
    for vct in spec.get("volumeClaimTemplates") or []:
        meta = vct.get("metadata") or {}
        claim: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim_name(meta["name"], name, ordinal),
                "namespace": _meta(sts).get("namespace"),
                # The selector wins over the claim template's own labels (OpenKruise fix #2257).
                "labels": {**(meta.get("labels") or {}), **sel},
            },
            "spec": copy.deepcopy(vct.get("spec") or {}),
        }
        if meta.get("annotations"):
            claim["metadata"]["annotations"] = dict(meta["annotations"])
        if policy.get("whenDeleted") == "Delete":
            claim["metadata"]["ownerReferences"] = [{**owner_ref(sts), "controller": False}]
        out.append(claim)
    return out


def new_pod(sts: StatefulSet, ordinal: int, revision: Mapping[str, Any], now: datetime) -> Obj:
    """A pod of the set at ``ordinal`` from ``revision``'s template (spec §1.5)."""
    set_name = _meta(sts)["name"]
    name = f"{set_name}-{ordinal}"
    t = rev.revision_template(revision) or {}
    tmeta = t.get("metadata") or {}
    spec = copy.deepcopy(t.get("spec") or {})
    labels = dict(tmeta.get("labels") or {})
    labels.update(
        {
            inplace.REVISION_LABEL: _meta(revision)["name"],
            POD_NAME_LABEL: name,
            POD_INDEX_LABEL: str(ordinal),
        }
    )
    annotations = dict(tmeta.get("annotations") or {})
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": _meta(sts).get("namespace"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_ref(sts)],
        },
        "spec": spec,
    }
    if tmeta.get("finalizers"):
        pod["metadata"]["finalizers"] = list(tmeta["finalizers"])
    labels[lc.STATE_LABEL] = lc.initial_state(pod, sts["spec"].get("lifecycle"))
    annotations[lc.TIMESTAMP_ANNOTATION] = lc.format_timestamp(now)
    spec["hostname"] = name
    if sts["spec"].get("serviceName"):
        spec["subdomain"] = sts["spec"]["serviceName"]
    vcts = sts["spec"].get("volumeClaimTemplates") or []
    if vcts:
        names = {(v.get("metadata") or {}).get("name") for v in vcts}
        vols = [v for v in spec.get("volumes") or [] if v.get("name") not in names]
        vols += [
            {
                "name": (v.get("metadata") or {})["name"],
                "persistentVolumeClaim": {"claimName": claim_name(v["metadata"]["name"], set_name, ordinal)},
            }
            for v in vcts
        ]
        spec["volumes"] = vols
    return pod


def claim_owner_refs(
    sts: StatefulSet, claim: Mapping[str, Any], pod: Pod | None, condemned: bool
) -> list[views.OwnerReference]:
    """The owner references a claim should carry under the retention policy (spec §1.7 table)."""
    policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
    when_deleted, when_scaled = policy.get("whenDeleted", "Retain"), policy.get("whenScaled", "Retain")
    set_uid = _meta(sts)["uid"]
    pod_uid = _meta(pod).get("uid") if pod else None
    keep = [
        r
        for r in _meta(claim).get("ownerReferences") or []
        if r.get("uid") != set_uid and not (r.get("kind") == "Pod" and r.get("uid") == pod_uid)
    ]
    refs = list(keep)
    if when_scaled == "Delete" and condemned and pod is not None:
        refs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": _meta(pod)["name"],
                "uid": _meta(pod).get("uid", ""),
                "controller": False,
                "blockOwnerDeletion": False,
            }
        )
    elif when_deleted == "Delete" and not (when_scaled == "Delete" and condemned):
        refs.append({**owner_ref(sts), "controller": False})
    return refs


# -- claims that follow their templates (volumeClaimUpdateStrategy: OnPodRollingUpdate) ---------
CONDITION_FAILED_UPDATE_PVC = "FailedUpdatePVC"


def claims_follow_templates(spec: StatefulSetSpec) -> bool:
    return bool(spec.get("volumeClaimTemplates")) and (
        (spec.get("volumeClaimUpdateStrategy") or {}).get("type") == VOLUME_CLAIM_UPDATE_ON_POD_ROLLING_UPDATE
    )


def pod_claims(
    sts: StatefulSet, claims: Mapping[str, Obj], ordinal: int
) -> list[tuple[views.ClaimTemplate, Obj]]:
    """(template, claim) of the pod at ``ordinal``, in template order. Missing claims (created with
    the pod) and claims being deleted are left out, as handlePVCWithCustomFn does."""
    out = []
    for vct in sts["spec"].get("volumeClaimTemplates") or []:
        c = claims.get(claim_name((vct.get("metadata") or {}).get("name", ""), _meta(sts)["name"], ordinal))
        if c is not None and not _meta(c).get("deletionTimestamp"):
            out.append((vct, c))
    return out


def volume_claims_status(sts: StatefulSet, claims: Mapping[str, Obj], ords: list[int]) -> list[Obj] | None:
    """``status.volumeClaims`` (updatePVCStatus): per template, how many pods' claims request at
    least the template's storage, and how many of those already have that capacity. OpenKruise
    fills it whatever the update strategy; None (the field removed) without claim templates."""
    vcts = sts["spec"].get("volumeClaimTemplates") or []
    if not vcts:
        return None
    out: list[Obj] = [
        {
            "volumeClaimName": (v.get("metadata") or {}).get("name", ""),
            "compatibleReplicas": 0,
            "compatibleReadyReplicas": 0,
        }
        for v in vcts
    ]
    for o in ords:
        for i, vct in enumerate(vcts):
            c = claims.get(claim_name(out[i]["volumeClaimName"], _meta(sts)["name"], o))
            if c is None or _meta(c).get("deletionTimestamp"):
                continue
            compatible, ready = pvc.compatible_and_ready(c, vct)
            out[i]["compatibleReplicas"] += compatible
            out[i]["compatibleReadyReplicas"] += compatible and ready
    return out


def _claims_ready(pairs: list[tuple[views.ClaimTemplate, Obj]]) -> bool:
    """IsOwnedPVCsReady: every claim has the capacity it requests (a resized claim is not ready
    until the file system grew, so its pod counts as unavailable meanwhile)."""
    return all(pvc.compatible_and_ready(c, t)[1] for t, c in pairs)


def _expand_claims(
    out: Plan, sts: StatefulSet, pod: Pod, pairs: list[tuple[views.ClaimTemplate, Obj]]
) -> str | None:
    """TryPatchPVC: plan a resize of every claim smaller than its template. Returns why the
    rollout must stop instead: a claim whose class or access modes differ from its template
    cannot be resized, only deleted (by the user) and recreated. Whether the class can expand is
    the apiserver's to say (admission plugin PersistentVolumeClaimResize): see the executor."""
    for tmpl, c in pairs:
        if pvc.matches(c, tmpl):
            continue
        name = _meta(c)["name"]
        if not pvc.compatible_without_size(c, tmpl):
            msg = (
                f"failed to update pvc {name}: contains diff other than spec resource, wait pvc to be deleted"
            )
            out.events.append(("Warning", "FailedUpdatePVC", msg))
            out.conditions.append((CONDITION_FAILED_UPDATE_PVC, msg))
            out.error = (
                f"can not patch pvc {name}: contains diff other than spec resource, wait pvc to be deleted"
            )
            return f"claim {name} differs from its template in more than its size"
        out.claim_resizes.append(
            ClaimResize(
                name,
                _meta(pod)["name"],
                tmpl["spec"]["resources"]["requests"]["storage"],
                _meta(c).get("uid"),
            )
        )
    return None


def _claims_before_pod(
    out: Plan,
    sts: StatefulSet,
    pod: Pod,
    pairs: list[tuple[views.ClaimTemplate, Obj]],
    claims_match: bool,
    update_revision: str,
) -> str | None:
    """Claims are resized before their pod is updated, and the pod waits until the resize is
    done on the controller side [rollingUpdateStatefulsetPods]. Returns None to go on with the
    pod's update, "wait" (its claims are being resized), "up to date", or "stop: <why>" (the
    rollout stops).

    A pod whose template did not change is not touched at all: once its claims request the new
    size it counts as up to date, and as unavailable until their capacity follows."""
    name = _meta(pod)["name"]
    if not claims_match:
        blocked = _expand_claims(out, sts, pod, pairs)
        if blocked:
            out.pod_plan[name] = f"blocked: {blocked}"
            return f"stop: {blocked}"
    # Claims resized this round are not in the snapshot yet: they count as waiting until next round.
    waiting = [
        _meta(c)["name"] + ("" if (c.get("status") or {}).get("phase") == "Bound" else " (not bound)")
        for t, c in pairs
        if not pvc.resize_completed(c, t)
    ]
    if waiting:
        out.pod_plan[name] = f"waiting: claims resizing: {', '.join(waiting)}"
        return "wait"
    # (Claims just patched are never complete in the same round; this only guards the pod.)
    return "up to date" if rev.pod_at_revision(pod, update_revision) else None


def _ordinal(pod: Mapping[str, Any]) -> int:
    parsed = ordinals.parse_ordinal(_meta(pod)["name"])
    assert parsed is not None  # replicas are parsed pods
    return parsed[1]


# -- status -------------------------------------------------------------------------------------
def compute_status(
    sts: StatefulSet, pods: list[Pod], current: str, update: str, collision: int, now: datetime
) -> Obj:
    spec = sts["spec"]
    ru = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    min_ready = int(ru.get("minReadySeconds") or 0)
    st: Obj = {
        "observedGeneration": _meta(sts).get("generation", 0),
        "replicas": 0,
        "readyReplicas": 0,
        "availableReplicas": 0,
        "currentReplicas": 0,
        "updatedReplicas": 0,
        "updatedReadyReplicas": 0,
        "updatedAvailableReplicas": 0,
        "currentRevision": current,
        "updateRevision": update,
        "collisionCount": collision,
        "labelSelector": selector_to_string(spec.get("selector") or {}),
    }
    for p in pods:
        if (p.get("status") or {}).get("phase"):
            st["replicas"] += 1
        ready = av.is_running_ready(p)
        available = ready and av.available(p, min_ready, now)[0] and av.lifecycle_state(p) in ("", lc.NORMAL)
        st["readyReplicas"] += ready
        st["availableReplicas"] += available
        if av.is_terminating(p):
            continue
        r = rev.revision_of_pod(p)
        if r == current:
            st["currentReplicas"] += 1
        if r == update:
            st["updatedReplicas"] += 1
            st["updatedReadyReplicas"] += ready
            st["updatedAvailableReplicas"] += available
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if (
        strategy == "RollingUpdate"
        and st["updatedReplicas"] == st["replicas"]
        and st["readyReplicas"] == st["replicas"]
    ):
        # The rollout is complete: the update revision becomes current (completeRollingUpdate).
        st["currentRevision"] = update
        st["currentReplicas"] = st["updatedReplicas"]
    return st


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    old = old or {}
    return any(old.get(k) != v for k, v in new.items() if k != "conditions") or bool(old.get("conditions"))


# -- the plan -------------------------------------------------------------------------------------
def plan(snap: Snapshot) -> Plan:
    """One reconcile, in the order of spec §1.8."""
    sts, now = views.statefulset(snap.sts), snap.now
    spec, meta = sts["spec"], _meta(sts)
    set_name, set_uid = meta["name"], meta["uid"]
    out = Plan()

    # 1. Revisions (spec §2.8).
    decision = rev.decide_update_revision(sts, snap.revisions)
    update_rev = decision.revision
    if decision.action == "create":
        out.revision_create = update_rev
    elif decision.action == "bump":
        out.revision_bump = update_rev
    revisions = {_meta(r)["name"]: r for r in snap.revisions}
    revisions[_meta(update_rev)["name"]] = update_rev
    out.update_revision = _meta(update_rev)["name"]
    out.current_revision = rev.current_revision_name(sts, list(revisions.values()), out.update_revision)
    current_rev = revisions.get(out.current_revision, update_rev)

    # 2. Claim pods: adopt orphans that match, release owned pods that stopped matching.
    selector = spec.get("selector") or {}
    pods: list[Pod] = []
    for p in map(views.pod, snap.pods):
        ref = _controller_ref(p)
        parsed = ordinals.parse_ordinal(_meta(p).get("name", ""))
        if parsed is None or parsed[0] != set_name:
            continue
        matches = label_selector_matches(selector, dict(_labels(p)))
        if ref is not None and ref.get("uid") == set_uid:
            if matches or av.is_terminating(p):
                pods.append(p)
            else:
                refs = [r for r in _meta(p).get("ownerReferences") or [] if r.get("uid") != set_uid]
                out.pod_writes.append(
                    PodWrite(
                        p,
                        [inplace.PodWrites(metadata_patch={"metadata": {"ownerReferences": refs}})],
                        "release",
                    )
                )
        elif ref is None and matches and not av.is_terminating(p) and not meta.get("deletionTimestamp"):
            refs = [*(_meta(p).get("ownerReferences") or []), owner_ref(sts)]
            out.pod_writes.append(
                PodWrite(
                    p, [inplace.PodWrites(metadata_patch={"metadata": {"ownerReferences": refs}})], "adopt"
                )
            )
            pods.append(p)

    # 3. Status from all pods (before this round's writes; the next round sees their effect).
    collision = decision.collision_count
    status = compute_status(sts, pods, out.current_revision, out.update_revision, collision, now)

    # 4. Replicas in range vs condemned.
    replicas_n = int(spec.get("replicas", 1))
    reserved = ordinals.Reserved.parse(spec.get("reserveOrdinals"))
    start = ordinals.get_start_ordinal(sts, True)
    start, end = ordinals.replica_range(replicas_n, start, reserved)
    slots = ordinals.slots(replicas_n, start, reserved)
    replicas, condemned = ordinals.split_pods(set_name, pods, start, end, reserved)
    status["volumeClaims"] = volume_claims_status(sts, snap.claims, slots)
    if not reserved.valid:
        out.events.append(
            ("Warning", "InvalidReserveOrdinals", "spec.reserveOrdinals could not be parsed; reserving none")
        )

    strategy = spec.get("updateStrategy") or {}
    strategy_type = strategy.get("type", "RollingUpdate")
    ru = strategy.get("rollingUpdate") or {}
    partition = int(ru.get("partition") or 0)
    min_ready = int(ru.get("minReadySeconds") or 0)
    monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
    lifecycle = spec.get("lifecycle") or {}

    def finish() -> Plan:
        out.status = status if status_changed(sts.get("status"), status) else None
        live = {out.current_revision, out.update_revision} | {rev.revision_of_pod(p) for p in pods}
        limit = int(spec.get("revisionHistoryLimit", 10))
        out.revisions_delete = rev.revisions_to_delete(list(revisions.values()), live, limit)
        return out

    # 5. A set being deleted only gets its status: garbage collection removes the pods.
    if meta.get("deletionTimestamp"):
        return finish()

    # Claims of condemned pods follow the retention policy (whenScaled).
    for p in condemned:
        parsed_c = ordinals.parse_ordinal(_meta(p)["name"])
        assert parsed_c is not None
        for c in new_claims(sts, parsed_c[1]):
            existing = snap.claims.get(_meta(c)["name"])
            if existing is None:
                continue
            want = claim_owner_refs(sts, existing, p, condemned=True)
            if want != (_meta(existing).get("ownerReferences") or []):
                out.claim_patches.append(ClaimOwnerPatch(_meta(existing)["name"], want))

    # 6. Process replicas in ordinal order (spec §3.4).
    scale_budget: int | None = None
    smu = (spec.get("scaleStrategy") or {}).get("maxUnavailable")
    if smu is not None and not monotonic:
        scale_budget = max(1, int_or_percent(smu, replicas_n, round_up=False))
    blocked = False  # OrderedReady: processing stopped at this pod; no scale-down, no updates

    def revision_for_new_pod(position: int) -> Mapping[str, Any]:
        if strategy_type != "RollingUpdate":
            return update_rev
        if ru.get("unorderedUpdate") is not None:  # `unorderedUpdate: {}` is unordered too (Go: non-nil)
            # Pods created earlier in this pass count as "other pods" (Kruise builds them one by one).
            others = [*replicas.values(), *(c.pod for c in out.creates)]
            others_not_updated = sum(1 for p in others if not rev.pod_at_revision(p, out.update_revision))
            return current_rev if others_not_updated < partition else update_rev
        return current_rev if position < partition else update_rev

    for position, ordn in enumerate(slots):
        if scale_budget is not None and scale_budget <= 0:
            out.notes.append("scaleStrategy.maxUnavailable reached")
            break
        pod = replicas.get(ordn)
        if pod is None:
            revision = revision_for_new_pod(position)
            new = new_pod(sts, ordn, revision, now)
            claims = [c for c in new_claims(sts, ordn) if _meta(c)["name"] not in snap.claims]
            terminating_claim = next(
                (
                    n
                    for c in new_claims(sts, ordn)
                    if (n := _meta(c)["name"]) in snap.claims
                    and _meta(snap.claims[n]).get("deletionTimestamp")
                ),
                None,
            )
            if terminating_claim:
                out.events.append(
                    (
                        "Warning",
                        "FailedCreate",
                        f"create Pod {_meta(new)['name']} in StatefulSet {set_name} failed error: "
                        f"PersistentVolumeClaim {terminating_claim} is being deleted",
                    )
                )
                blocked = blocked or monotonic
                if monotonic:
                    break
                continue
            out.creates.append(PodCreate(ordn, new, claims))
            if scale_budget is not None:
                scale_budget -= 1
            if monotonic:
                blocked = True
                out.notes.append(f"OrderedReady: created {_meta(new)['name']}, waiting for it")
                break
            continue
        if av.is_failed_or_succeeded(pod):
            if scale_budget is not None:
                scale_budget -= 1
            _delete(out, sts, pod, "failed", lifecycle, now)
            if monotonic:
                blocked = True
                break
            continue
        if av.is_terminating(pod):
            if scale_budget is not None:
                scale_budget -= 1
            if monotonic:
                blocked = True
                out.notes.append(f"OrderedReady: waiting for {_meta(pod)['name']} to terminate")
                break
            continue
        ok, wait = av.available(pod, min_ready, now) if av.is_healthy(pod) else (False, 0.0)
        if not ok:
            out.requeue(wait)
            if scale_budget is not None:
                scale_budget -= 1
            if monotonic and av.lifecycle_state(pod) in HELD_BY_UPDATE_HOOK:
                # Only the rolling update below moves this pod on once its hook is released, so
                # OrderedReady waits for it to be Running and Ready, not for its state (OpenKruise
                # stops here and the pod stays held forever: docs/decisions.md).
                ok, wait = av.available(pod, min_ready, now, ignore_lifecycle=True)
                out.requeue(wait)
                if ok:
                    continue
            if monotonic:
                blocked = True
                out.notes.append(f"OrderedReady: waiting for {_meta(pod)['name']} to be available")
                break

    # Refresh in-place state and lifecycle of every replica (gate True, grace expiry, states).
    refreshed = _refresh(out, sts, list(replicas.values()), out.update_revision, lifecycle, now)

    if blocked:
        return finish()

    # 7. Condemned pods, highest ordinal first.
    if condemned:
        unhealthy = [
            o
            for p in [*replicas.values(), *condemned]
            if (o := ordinals.parse_ordinal(_meta(p)["name"])) is not None and not av.is_healthy(p)
        ]
        first_unhealthy = min(unhealthy, key=lambda o: o[1], default=None)
        for p in condemned:
            if av.is_terminating(p):
                if monotonic:
                    out.notes.append(f"OrderedReady: waiting for {_meta(p)['name']} to terminate")
                    return finish()
                continue
            o = ordinals.parse_ordinal(_meta(p)["name"])
            if monotonic and not av.is_healthy(p) and o != first_unhealthy:
                return finish()
            _delete(out, sts, p, "scale-down", lifecycle, now)
            if monotonic:
                return finish()

    # 8. Updates.
    if strategy_type != "RollingUpdate":
        return finish()
    if refreshed:
        out.notes.append("refreshed in-place state or lifecycle; updating next round")
        return finish()
    if ru.get("paused"):
        out.notes.append("rollingUpdate.paused")
        for p in replicas.values():
            if not rev.pod_at_revision(p, out.update_revision):
                out.pod_plan[_meta(p)["name"]] = "blocked: paused"
        return finish()
    # Missing slots are Kruise's in-memory pods (created this round or not): never available.
    missing = [ordinals.pod_name(set_name, o) for o in slots if o not in replicas]
    _rolling_update(
        out, snap, sts, replicas, start, end, current_rev, update_rev, revisions, now, missing=missing
    )
    return finish()


def _delete(
    out: Plan, sts: StatefulSet, pod: Pod, reason: str, lifecycle: Mapping[str, Any], now: datetime
) -> bool:
    """Delete ``pod`` unless its preDelete hook holds it (then mark it PreparingDelete)."""
    if lc.delete_blocked(pod, lifecycle or None):
        if av.lifecycle_state(pod) != lc.PREPARING_DELETE:
            out.pod_writes.append(
                PodWrite(
                    pod,
                    [inplace.PodWrites(metadata_patch=lc.state_patch(lc.PREPARING_DELETE, now))],
                    "lifecycle",
                )
            )
        out.notes.append(f"preDelete hook holds {_meta(pod)['name']}")
        return False
    out.deletes.append(PodDelete(pod, reason))
    return True


def _refresh(
    out: Plan,
    sts: StatefulSet,
    pods: list[Pod],
    update_revision: str,
    lifecycle: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Refresh step (spec §2.4, §1.6): returns True if any pod gets a write this round."""
    touched = False
    for pod in pods:
        if av.is_terminating(pod):
            continue
        writes: list[inplace.PodWrites] = []
        w = inplace.refresh(pod, now)
        if w is not None and (w.status_conditions or w.metadata_patch or w.spec_patch or w.resize_patch):
            writes.append(w)
        elif w is not None and w.requeue_after:
            out.requeue(w.requeue_after)
        state = av.lifecycle_state(pod)
        nxt: str | None = None
        if (
            state == lc.UPDATING
            and inplace.check_completed(pod)
            and rev.pod_at_revision(pod, update_revision)
        ):
            nxt = lc.after_inplace_update_state(pod, lifecycle or None)
        else:
            nxt = lc.next_state(
                pod,
                lifecycle or None,
                wants_delete=False,
                wants_inplace=False,
                update_revision=update_revision,
            )
        if nxt is not None and nxt != state:
            # The state rides on the refresh's own write when there is one (Updating -> Normal or
            # Updated with gate True: the third write of an in-place update, not a fourth).
            state_md = lc.state_patch(nxt, now)["metadata"]
            if not (writes and writes[0].carry_metadata(state_md)):
                writes.append(inplace.PodWrites(metadata_patch={"metadata": state_md}))
        if writes:
            out.pod_writes.append(PodWrite(pod, writes, "refresh"))
            touched = True
    return touched


def _order_to_update(
    replicas: dict[int, Pod],
    start: int,
    end: int,
    partition: int,
    n: int,
    ru: RollingUpdate,
    update_revision: str,
) -> list[Pod]:
    """sortPodsToUpdate (spec §3.1)."""
    max_update = n - partition
    if max_update <= 0:
        return []
    arr = [replicas.get(o) for o in range(start, end)]
    unordered = ru.get("unorderedUpdate")
    if unordered is None:
        out: list[Pod] = []
        for i in range(len(arr) - 1, partition - 1, -1):
            p = arr[i]
            if p is None:
                continue
            out.append(p)
            if len(out) >= max_update:
                break
        return out
    first: list[Pod] = []
    rest: list[Pod] = []
    for p in reversed(arr):
        if p is None:
            continue
        if av.is_terminating(p) or rev.pod_updated_loose(p, update_revision):
            first.append(p)
        else:
            rest.append(p)
    rest = priority.priority_sort(rest, (unordered or {}).get("priorityStrategy"))
    return (first + rest)[:max_update]


def _rolling_update(
    out: Plan,
    snap: Snapshot,
    sts: StatefulSet,
    replicas: dict[int, Pod],
    start: int,
    end: int,
    current_rev: Mapping[str, Any],
    update_rev: Mapping[str, Any],
    revisions: Mapping[str, Obj],
    now: datetime,
    missing: list[str] | None = None,
) -> None:
    spec = sts["spec"]
    ru = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    n = int(spec.get("replicas", 1))
    partition = int(ru.get("partition") or 0)
    min_ready = int(ru.get("minReadySeconds") or 0)
    max_u = max(1, int_or_percent(ru.get("maxUnavailable", 1), n, round_up=False))
    policy = ru.get("podUpdatePolicy", "ReCreate")
    grace = int((ru.get("inPlaceUpdateStrategy") or {}).get("gracePeriodSeconds") or 0)
    lifecycle = spec.get("lifecycle") or {}
    update_name = _meta(update_rev)["name"]

    # Pods missing from their slot (being created) count as unavailable (spec §3.1, §1.8 step 4), and so
    # do pods deleted earlier this round (Failed/Succeeded), which the loops below must not delete again.
    unavailable: set[str] = set(missing or ())
    deleted = {_meta(d.pod)["name"] for d in out.deletes}
    unavailable |= deleted
    follow = claims_follow_templates(spec)
    for p in replicas.values():
        name = _meta(p)["name"]
        if not av.is_healthy(p) or inplace.update_in_progress(p):
            unavailable.add(name)
            continue
        ok, wait = av.available(p, min_ready, now)
        if not ok:
            unavailable.add(name)
            out.requeue(wait)
        elif follow and not _claims_ready(pod_claims(sts, snap.claims, _ordinal(p))):
            unavailable.add(name)

    # Specified delete (spec §3.2): not bound by partition, bound by maxUnavailable; skip, don't stop.
    specified: set[str] = set()
    for o in sorted(replicas, reverse=True):
        p = replicas[o]
        if SPECIFIED_DELETE_LABEL not in _labels(p) or av.is_terminating(p) or _meta(p)["name"] in deleted:
            continue
        name = _meta(p)["name"]
        specified.add(name)
        if len(unavailable) >= max_u and name not in unavailable:
            out.pod_plan[name] = "blocked: specified-delete waits for maxUnavailable"
            continue
        if _delete(out, sts, p, "specified-delete", lifecycle, now):
            unavailable.add(name)
            out.pod_plan[name] = "recreate: specified-delete"

    order = _order_to_update(replicas, start, end, partition, n, ru, update_name)
    ordered_names = {_meta(p)["name"] for p in order}
    for p in replicas.values():
        name = _meta(p)["name"]
        if name not in ordered_names and not rev.pod_at_revision(p, update_name) and name not in specified:
            out.pod_plan[name] = "untouched: partition"

    stopped_by: str | None = None
    for p in order:
        name = _meta(p)["name"]
        pairs = pod_claims(sts, snap.claims, _ordinal(p)) if follow else []
        claims_match = all(pvc.matches(c, t) for t, c in pairs)
        if rev.pod_at_revision(p, update_name) and claims_match:
            continue
        if stopped_by:
            out.pod_plan[name] = f"blocked: {stopped_by}"
            continue
        if len(unavailable) >= max_u and name not in unavailable:
            # Stop, do not skip (spec §3.1, P3): the budget is exhausted at an available pod.
            stopped_by = f"maxUnavailable {max_u} reached ({len(unavailable)} unavailable)"
            out.pod_plan[name] = f"blocked: {stopped_by}"
            continue
        if follow and (held := _claims_before_pod(out, sts, p, pairs, claims_match, update_name)):
            if held.startswith("stop: "):
                stopped_by = held.removeprefix("stop: ")
            elif held == "wait":
                unavailable.add(name)  # its claims are resizing: it is being updated
            continue
        if name in specified or av.is_terminating(p) or name in deleted:
            continue
        old_rev = revisions.get(rev.revision_of_pod(p))
        uspec = None
        if policy != "ReCreate":
            uspec = inplace.calculate_update_spec(
                old_rev,
                dict(update_rev),
                allow_resize=RESIZE_FEATURE and snap.resize_supported,
                grace_seconds=grace,
            )
        if uspec is None:
            if policy == "InPlaceOnly":
                out.error = f"find strategy is InPlaceOnly but Pod {name} can not update in-place"
                out.events.append(("Warning", "FailedUpdatePodInPlace", out.error))
                out.pod_plan[name] = "blocked: InPlaceOnly but the change needs a recreate"
                stopped_by = "InPlaceOnly"
                continue
            if _delete(out, sts, p, "update", lifecycle, now):
                out.pod_plan[name] = "recreate"
            else:
                out.pod_plan[name] = "blocked: preDelete hook"
            unavailable.add(name)
            continue
        gate = lc.inplace_gate(p, lifecycle or None)
        if gate == "refuse":
            out.pod_plan[name] = f"blocked: lifecycle state {av.lifecycle_state(p)}"
            unavailable.add(name)
            continue
        if gate == "wait":
            state = av.lifecycle_state(p)
            if state != lc.PREPARING_UPDATE:
                readd = (lifecycle or {}).get("inPlaceUpdate") if state == lc.UPDATED else None
                patch = lc.state_patch(lc.PREPARING_UPDATE, now, pod=p, readd_hook=readd)
                out.pod_writes.append(PodWrite(p, [inplace.PodWrites(metadata_patch=patch)], "lifecycle"))
            out.pod_plan[name] = "blocked: inPlaceUpdate hook (PreparingUpdate)"
            unavailable.add(name)
            continue
        extra_l: dict[str, str] = {}
        extra_a: dict[str, str] = {}
        # As OpenKruise: a pod with a state (every pod this controller creates) goes to Updating,
        # with or without spec.lifecycle, in the write that starts the update; refresh moves it on.
        if lc.get_state(p):
            extra_l[lc.STATE_LABEL] = lc.UPDATING
            extra_a[lc.TIMESTAMP_ANNOTATION] = lc.format_timestamp(now)
        writes = inplace.start_update(p, uspec, now, extra_labels=extra_l, extra_annotations=extra_a)
        out.pod_writes.append(PodWrite(p, writes, "inplace", revision=update_name))
        out.pod_plan[name] = "in place" + (" (resize)" if uspec.container_resources else "")
        unavailable.add(name)
        for w in writes:
            if w.requeue_after:
                out.requeue(w.requeue_after)
