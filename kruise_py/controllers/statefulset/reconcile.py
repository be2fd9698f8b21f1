"""Advanced StatefulSet: the I/O half. Builds a snapshot from the caches, calls the pure planner,
executes the plan through the one client, records expectations and events.

Writes of one wave are issued concurrently (OpenKruise issues them one after another).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...api.defaults import default_statefulset
from ...core import claims as pvc
from ...core import revisions as rev
from ...core.obj import format_time
from ...runtime import rollout_metrics
from ...runtime.cache import ObjectCache
from ...runtime.client import ApiError, KubeClient, path_for
from ...runtime.controller import AlwaysLeader, Controller, Result
from ...runtime.expectations import Expectations
from ...runtime.manager import Manager, Resource
from ..common import (
    forget_where,
    object_gone,
    own_key,
    owner_key,
    pod_key,
    requeue,
    rv_lookup,
    settle,
    wait_for_cache,
    with_shard_label,
)
from . import plan as planner

log = logging.getLogger(__name__)

STS = Resource("apps.kruise.io/v1beta1", "statefulsets")
# Every pod a StatefulSet (ours or upstream) creates carries this label: watching only those keeps
# the cache to the pods this controller can own.
PODS = Resource("v1", "pods", label_selector=planner.POD_NAME_LABEL)
REVISIONS = Resource("apps/v1", "controllerrevisions")
CLAIMS = Resource("v1", "persistentvolumeclaims")
Key = tuple[str, str]
Obj = dict[str, Any]
# Expectation keys of claims the controller resized ("pvc:ns/name"; pods are "ns/name").
CLAIM_PREFIX = "pvc:"


class StatefulSetController:
    name = "statefulset"

    def __init__(
        self,
        manager: Manager,
        workers: int = 4,
        resync_period: float = 300.0,
        *,
        owns: Callable[[Key], bool] | None = None,
    ) -> None:
        self.client: KubeClient = manager.client
        # Sharded mode: the owners and pods of this replica's buckets only; ``owns`` says which.
        self.sharded = manager.options.sharding
        own, pods = manager.scoped(STS), manager.scoped(PODS)
        self.events = manager.events
        self.sets: ObjectCache = manager.cache(own)
        self.pods: ObjectCache = manager.cache(pods)
        self.revisions: ObjectCache = manager.cache(REVISIONS)
        self.claims: ObjectCache = manager.cache(CLAIMS)
        pods_or_sets = rv_lookup(self.pods, self.sets)

        def lookup(key: str) -> str | None:
            if key.startswith(CLAIM_PREFIX):
                ns, name = key[len(CLAIM_PREFIX) :].split("/", 1)
                c = self.claims.get(ns, name)
                return None if c is None else (c.get("metadata") or {}).get("resourceVersion")
            return pods_or_sets(key)

        self.expectations: Expectations[Key] = Expectations(self.name, rv_lookup=lookup)
        manager.on_event(own, self._on_set)
        manager.on_event(pods, self._on_pod)
        manager.on_event(CLAIMS, self._on_claim)
        manager.on_event(REVISIONS, lambda t, old, new: self._enqueue_owner(new or old))
        self.controller: Controller[Key] = Controller(
            self.name,
            self.reconcile,
            workers=workers,
            resync_period=resync_period,
            leader=AlwaysLeader() if owns is not None else manager.leader,
            owns=owns,
            keys=lambda: [(ns or "", n) for ns, n in self.sets.keys()],  # noqa: SIM118 - ObjectCache.keys()
        )
        manager.add(self.controller)
        self.resize_supported = True

    # -- event mapping -------------------------------------------------------------------------
    def _on_set(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        if new is not None:
            md = new["metadata"]
            self.expectations.observe_rv(
                (md.get("namespace", ""), md["name"]), own_key(new), md.get("resourceVersion", "")
            )
        self.enqueue_obj(new or old)

    def enqueue_obj(self, obj: Mapping[str, Any] | None) -> None:
        if obj:
            md = obj.get("metadata") or {}
            self.controller.enqueue((md.get("namespace", ""), md["name"]))

    def _enqueue_owner(self, obj: Mapping[str, Any] | None) -> None:
        if obj and (k := owner_key(obj, "StatefulSet")) is not None:
            self.controller.enqueue(k)

    def _on_pod(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is None:
            return
        owner = owner_key(obj, "StatefulSet")
        if owner is None:
            # An orphan of one of our sets (adoption): its name is <set>-<ordinal>.
            md = obj.get("metadata") or {}
            base = md.get("name", "").rsplit("-", 1)[0]
            if self.sets.get(md.get("namespace"), base) is None:
                return
            owner = (md.get("namespace", ""), base)
        key = pod_key(obj)
        if new is None:
            self.expectations.observe_gone(owner, key)
        else:
            self.expectations.observe_create(owner, key)
            self.expectations.observe_rv(owner, key, (new.get("metadata") or {}).get("resourceVersion", ""))
        self.controller.enqueue(owner)

    def _on_claim(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        """A claim changed (bound, resized, grown): its set may now count its pod as available,
        let the pod's update go on, or show other status.volumeClaims."""
        obj = new or old
        if obj is None:
            return
        md = obj.get("metadata") or {}
        ns, name = md.get("namespace", ""), md.get("name", "")
        owner = (md.get("annotations") or {}).get(pvc.OWNED_BY_ASTS_ANNOTATION)
        if owner and self.sets.get(ns, owner) is not None:
            owners = [(ns, owner)]
        else:
            # Claims are named <template>-<set>-<ordinal>; only sets with templates can own one.
            owners = [(ns, s["metadata"]["name"]) for s in self.sets.list(ns) if _owns_claim_name(s, name)]
        for key in owners:
            if new is not None:
                self.expectations.observe_rv(key, f"{CLAIM_PREFIX}{ns}/{name}", md.get("resourceVersion", ""))
            else:
                self.expectations.observe_gone(key, f"{CLAIM_PREFIX}{ns}/{name}")
            self.controller.enqueue(key)

    # -- reconcile -----------------------------------------------------------------------------
    def snapshot(self, sts: Obj) -> planner.Snapshot:
        md = sts["metadata"]
        ns, uid = md.get("namespace"), md["uid"]
        pods = planner.candidate_pods(sts, self.pods.by_owner(uid), self.pods.list(ns))
        claims: dict[str, Obj] = {}
        if sts["spec"].get("volumeClaimTemplates"):
            claims = {c["metadata"]["name"]: c for c in self.claims.list(ns)}
        return planner.Snapshot(
            sts=sts,
            pods=pods,
            revisions=self.revisions.by_owner(uid),
            claims=claims,
            now=datetime.now(UTC),
            resize_supported=self.resize_supported,
        )

    async def reconcile(self, key: Key) -> Result:
        cached = self.sets.get(*key)
        if cached is None:
            self.forget(key)
            return Result()
        if (wait := wait_for_cache(self.expectations, key)) is not None:
            return wait
        sts = default_statefulset(cached)
        p = planner.plan(self.snapshot(sts))
        try:
            await self.execute(key, sts, p)
        except ApiError as e:
            if object_gone(e):
                return Result()
            raise
        rollout_metrics.observe_statefulset(sts, p.status or sts.get("status") or {})
        if p.error:
            raise RuntimeError(p.error)
        return requeue(p.requeue_after)

    def forget_moved(self, moved: Callable[[Key], bool]) -> None:
        """Sharding moved these owners (to or from this replica): what was kept for them is stale."""
        known = [(ns or "", n) for ns, n in self.sets.keys()]  # noqa: SIM118 - ObjectCache.keys()
        forget_where(self.expectations, self.forget, moved, known)

    def forget(self, key: Key) -> None:
        """The set is gone: drop what was kept for it."""
        self.expectations.delete(key)
        rollout_metrics.forget_statefulset(*key)

    # -- executing a plan ----------------------------------------------------------------------
    async def execute(self, key: Key, sts: Obj, p: planner.Plan) -> None:
        ns, set_name = key
        revs = path_for("apps/v1", "controllerrevisions", ns)
        if p.revision_create is not None:
            try:
                # Go-encoded, so the stored data survives later patches (see rev.go_json).
                await self.client.create(revs, rev.go_json(p.revision_create))
            except ApiError as e:
                if not e.already_exists:
                    raise
        if p.revision_bump is not None:
            await self.client.replace(
                f"{revs}/{p.revision_bump['metadata']['name']}", rev.go_json(p.revision_bump)
            )

        write_errs = await settle([self._pod_write(key, sts, w) for w in p.pod_writes])
        write_errs += await settle([self._claim_patch(ns, c) for c in p.claim_patches])
        resize_errs = await settle([self._claim_resize(key, sts, r) for r in p.claim_resizes])
        create_errs = await settle([self._create(key, sts, c) for c in p.creates])
        write_errs += await settle([self._delete(key, sts, d) for d in p.deletes])

        # Conditions live one round, like OpenKruise's status rebuilt from scratch (spec §9 P18).
        old_status = sts.get("status") or {}
        conditions = []
        if create_errs:
            conditions.append(
                _condition(
                    "FailedCreatePod", f"StatefulPodControl failed to create Pod error: {create_errs[0]}"
                )
            )
        if write_errs:
            conditions.append(
                _condition(
                    "FailedUpdatePod", f"StatefulPodControl failed to update Pod error: {write_errs[0]}"
                )
            )
        claim_problems = [
            *p.conditions,
            *((planner.CONDITION_FAILED_UPDATE_PVC, str(e)) for e in resize_errs),
        ]
        if claim_problems:
            ctype, msg = claim_problems[0]
            conditions.append(_condition(ctype, msg, old_status.get("conditions")))
        status = p.status
        old_conditions = old_status.get("conditions")
        if conditions:
            status = {**(status or old_status), "conditions": conditions}
        elif status is not None and old_conditions:
            status = {**status, "conditions": None}  # a merge patch deletes with null
        if status is not None and all(old_status.get(k) == v for k, v in status.items()):
            status = None  # e.g. the same problem as last round, with its time kept: nothing to write
        if status is not None:
            own = await self.client.patch(
                path_for("apps.kruise.io/v1beta1", "statefulsets", ns, set_name, "status"),
                {"status": status},
                "merge",
            )
            # Do not plan again from a cached set older than this status write.
            self.expectations.expect_rv(key, own_key(own), own["metadata"]["resourceVersion"])
        for etype, reason, msg in p.events:
            self.events.emit(sts, etype, reason, msg)
        errors = create_errs + write_errs + resize_errs
        if errors:
            raise errors[0]  # history is truncated once a round succeeds
        for rname in p.revisions_delete:
            await self.client.delete(f"{revs}/{rname}")

    async def _create(self, key: Key, sts: Obj, c: planner.PodCreate) -> None:
        ns = key[0]
        for claim in c.claims:
            try:
                await self.client.create(path_for("v1", "persistentvolumeclaims", ns), claim)
                self.events.emit(
                    sts,
                    "Normal",
                    "SuccessfulCreate",
                    f"create Claim {claim['metadata']['name']} Pod {c.pod['metadata']['name']} "
                    f"in StatefulSet {key[1]} success",
                )
            except ApiError as e:
                if not e.already_exists:
                    self.events.emit(
                        sts,
                        "Warning",
                        "FailedCreate",
                        f"create Claim {claim['metadata']['name']} failed error: {e.message}",
                    )
                    raise
        pkey = f"{ns}/{c.pod['metadata']['name']}"
        pod = with_shard_label(c.pod, key) if self.sharded else c.pod
        self.expectations.expect_create(key, pkey)
        try:
            await self.client.create(path_for("v1", "pods", ns), pod)
        except ApiError as e:
            self.expectations.observe_create(key, pkey)
            if e.already_exists:
                return
            self.events.emit(
                sts,
                "Warning",
                "FailedCreate",
                f"create Pod {c.pod['metadata']['name']} in StatefulSet {key[1]} failed error: {e.message}",
            )
            raise
        self.events.emit(
            sts,
            "Normal",
            "SuccessfulCreate",
            f"create Pod {c.pod['metadata']['name']} in StatefulSet {key[1]} successful",
        )

    async def _delete(self, key: Key, sts: Obj, d: planner.PodDelete) -> None:
        md = d.pod["metadata"]
        try:
            res = await self.client.delete(
                path_for("v1", "pods", md["namespace"], md["name"]), uid=md.get("uid")
            )
        except ApiError as e:
            if e.status == 409:  # uid precondition: already replaced
                return
            self.events.emit(
                sts,
                "Warning",
                "FailedDelete",
                f"delete Pod {md['name']} in StatefulSet {key[1]} failed error: {e.message}",
            )
            raise
        if res and res.get("kind") == "Pod":
            self.expectations.expect_rv(key, pod_key(d.pod), res["metadata"]["resourceVersion"])
        if d.reason == "update":
            rollout_metrics.pod_updated("StatefulSet", "recreate")
        self.events.emit(
            sts, "Normal", "SuccessfulDelete", f"delete Pod {md['name']} in StatefulSet {key[1]} successful"
        )

    async def _claim_patch(self, ns: str, c: planner.ClaimOwnerPatch) -> None:
        await self.client.patch(
            path_for("v1", "persistentvolumeclaims", ns, c.name),
            {"metadata": {"ownerReferences": c.owner_references}},
            "merge",
        )

    async def _claim_resize(self, key: Key, sts: Obj, r: planner.ClaimResize) -> None:
        """One merge patch: the template's storage request, and the annotation whose events wake
        this set. Only the request: a bound claim's other fields (limits too) are immutable."""
        ns, set_name = key
        body: Obj = {
            "metadata": {"annotations": {pvc.OWNED_BY_ASTS_ANNOTATION: set_name}},
            "spec": {"resources": {"requests": {"storage": r.storage}}},
        }
        if r.uid:
            body["metadata"]["uid"] = r.uid
        try:
            res = await self.client.patch(path_for("v1", "persistentvolumeclaims", ns, r.name), body, "merge")
        except ApiError as e:
            if e.not_found or (r.uid and (e.conflict or (e.status == 422 and "metadata.uid" in e.message))):
                return  # deleted or re-created meanwhile (a uid mismatch is a 422): the next round re-plans
            # Typically the apiserver's PersistentVolumeClaimResize admission: the claim's class
            # has no allowVolumeExpansion (or the claim is not bound yet).
            msg = f"resize Claim {r.name} for Pod {r.pod} in StatefulSet {set_name} failed error: {e.message}"
            self.events.emit(sts, "Warning", "FailedResize", msg)
            raise ClaimResizeError(msg) from None
        self.expectations.expect_rv(key, f"{CLAIM_PREFIX}{ns}/{r.name}", res["metadata"]["resourceVersion"])
        self.events.emit(
            sts,
            "Normal",
            "SuccessfulResize",
            f"resize Claim {r.name} Pod {r.pod} in StatefulSet {set_name} success",
        )

    async def _pod_write(self, key: Key, sts: Obj, w: planner.PodWrite) -> None:
        md = w.pod["metadata"]
        ns, name = md["namespace"], md["name"]
        pod_path = path_for("v1", "pods", ns, name)
        pkey = f"{ns}/{name}"
        try:
            for step in w.writes:
                res: Obj | None = None
                if (status := step.status_patch()) is not None:
                    if "metadata" in status:  # labels too: never on a pod re-created under this name
                        status["metadata"] = {**status["metadata"], "uid": md.get("uid")}
                    res = await self.client.patch(f"{pod_path}/status", status, "strategic")
                if (body := step.pod_patch()) is not None:
                    # ownerReferences must be replaced as a list (adopt/release): JSON merge patch;
                    # everything else merges containers by name: strategic merge patch. The uid
                    # makes the apiserver refuse a pod re-created under the same name.
                    kind = "merge" if w.reason in ("adopt", "release") else "strategic"
                    body["metadata"] = {**body.get("metadata", {}), "uid": md.get("uid")}
                    res = await self.client.patch(pod_path, body, kind)
                if step.resize_patch:
                    res = await self.client.patch(f"{pod_path}/resize", step.resize_patch, "strategic")
                if res is not None:
                    self.expectations.expect_rv(key, pkey, res["metadata"]["resourceVersion"])
        except ApiError as e:
            if w.reason == "inplace":
                self.events.emit(
                    sts,
                    "Warning",
                    "FailedUpdatePodInPlace",
                    f"failed to update pod {name} in-place: {e.message}",
                )
            if e.not_found or e.conflict:
                return  # the pod changed under us: the next round re-plans from the cache
            raise
        if w.reason == "inplace":
            rollout_metrics.pod_updated("StatefulSet", "in_place")
            self.events.emit(
                sts,
                "Normal",
                "SuccessfulUpdatePodInPlace",
                f"successfully update pod {name} in-place(revision {w.revision})",
            )


class ClaimResizeError(Exception):
    """A claim could not be resized (its message is the event's and the condition's)."""


def _owns_claim_name(sts: Mapping[str, Any], claim: str) -> bool:
    name = (sts.get("metadata") or {}).get("name", "")
    for vct in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
        prefix = f"{(vct.get('metadata') or {}).get('name', '')}-{name}-"
        if claim.startswith(prefix) and claim[len(prefix) :].isdigit():
            return True
    return False


def _condition(ctype: str, message: str, old: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A status condition; one already there with the same type and message keeps its time."""
    message = message[:1024]
    for c in old or ():
        if c.get("type") == ctype and c.get("message") == message and c.get("status") == "True":
            return dict(c)
    now = format_time(datetime.now(UTC))
    return {"type": ctype, "status": "True", "lastTransitionTime": now, "reason": ctype, "message": message}
