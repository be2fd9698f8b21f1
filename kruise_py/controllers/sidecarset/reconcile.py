"""SidecarSet: the in-place sidecar upgrade controller. It shares its caches with the injector
(``injector.py``), which the mutating webhook calls at pod creation.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ...api import sidecarset as scs
from ...api.defaults import default_sidecarset
from ...core import revisions as rev
from ...runtime import rollout_metrics
from ...runtime.cache import ObjectCache
from ...runtime.client import ApiError, KubeClient, path_for
from ...runtime.controller import Controller, Result
from ...runtime.expectations import Expectations
from ...runtime.manager import Manager, Resource
from ..common import rv_lookup, settle
from . import plan as planner
from . import revisions as ssrev
from .injector import SIDECARSETS, SidecarSetInjector

log = logging.getLogger(__name__)

PODS = Resource("v1", "pods")
INJECTED_LIST = "kruise.io/sidecarset-injected-list"
Obj = dict[str, Any]


# Pod events reconcile their SidecarSets at most this often (the workqueue keeps one timer per key)
# while an upgrade is under way: each pod that turns ready may free the budget for the next one.
POD_EVENT_BATCH_S = 0.1
# ...and at most this often while the last plan had nothing left to upgrade: then a pod event can
# only change the status counts, which are not latency critical, and a burst of pod creates (bench
# P5) costs a reconcile a second instead of ten.
STATUS_ONLY_BATCH_S = 1.0
# The pods cache's index of pods by the SidecarSets named in their injected-list annotation: a
# SidecarSet only ever counts or upgrades pods that name it there (plan.matched).
INJECTED_INDEX = "sidecarset-injected"


def injected_sidecarsets(pod: Obj) -> list[str]:
    names = ((pod.get("metadata") or {}).get("annotations") or {}).get(INJECTED_LIST)
    if not isinstance(names, str):
        return []
    return [n for n in (x.strip() for x in names.split(",")) if n]


class SidecarSetController:
    """In-place upgrade of injected sidecars (spec §5.4): one reconcile per SidecarSet."""

    name = "sidecarset"

    def __init__(
        self, manager: Manager, injector: SidecarSetInjector, workers: int = 2, resync_period: float = 300.0
    ) -> None:
        self.client: KubeClient = manager.client
        self.events = manager.events
        self.injector = injector
        self.pods: ObjectCache = manager.cache(PODS)
        self.pods.add_index(INJECTED_INDEX, injected_sidecarsets)
        # Per SidecarSet: the pod facts of its last plan, and whether that plan left upgrades to do.
        self.memos: dict[str, planner.FactsMemo] = {}
        self.upgrading: dict[str, bool] = {}
        self.expectations: Expectations[str] = Expectations(self.name, rv_lookup=rv_lookup(self.pods))
        manager.on_event(SIDECARSETS, self._on_set)
        manager.on_event(PODS, self._on_pod)
        self.controller: Controller[str] = Controller(
            self.name,
            self.reconcile,
            workers=workers,
            resync_period=resync_period,
            leader=manager.leader,
            keys=lambda: [n for _, n in injector.sidecarsets.keys()],  # noqa: SIM118 - ObjectCache.keys()
        )
        manager.add(self.controller)

    def _enqueue_set(self, obj: Obj | None) -> None:
        if obj:
            self.controller.enqueue(obj["metadata"]["name"])

    def _on_set(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        # A change of status alone is (nearly always) our own status write: reconciling again for
        # it made every reconcile trigger the next one while pods kept changing (bench P5).
        if old is not None and new is not None and _all_but_status(old) == _all_but_status(new):
            return
        self._enqueue_set(new or old)

    def _on_pod(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        names = injected_sidecarsets(obj or {})
        if not names:
            return
        md = (obj or {})["metadata"]
        key = f"{md.get('namespace')}/{md.get('name')}"
        for n in names:
            if new is None:
                self.expectations.observe_gone(n, key)
            else:
                self.expectations.observe_rv(n, key, md.get("resourceVersion", ""))
            # Coalesced: a reconcile looks at every pod of the SidecarSet (O(pods)), so one per pod
            # event made a burst of pod creates O(pods^2) and starved the injection webhook (bench P5).
            delay = POD_EVENT_BATCH_S if self.upgrading.get(n, True) else STATUS_ONLY_BATCH_S
            self.controller.enqueue_after(n, delay)

    def candidates(self, ss: Obj) -> list[Obj]:
        """Pods the SidecarSet may count or upgrade: those whose injected list names it, filtered
        by its selectors (plan.candidate_pods)."""
        return planner.candidate_pods(
            ss, self.pods.by_index(INJECTED_INDEX, ss["metadata"]["name"]), self.injector.namespace_labels
        )

    async def reconcile(self, name: str) -> Result:
        cached = self.injector.sidecarsets.get(None, name)
        if cached is None:
            self.expectations.delete(name)
            self.memos.pop(name, None)
            self.upgrading.pop(name, None)
            return Result()
        if not self.expectations.satisfied(name):
            return Result(requeue_after=0.5)
        ss = default_sidecarset(cached)
        ns = self.injector.revision_namespace
        revisions = self.injector.revisions.list(ns)
        action, revision, collisions = ssrev.decide_revision_full(ss, revisions, ns)
        revs_path = path_for("apps/v1", "controllerrevisions", ns)
        try:
            if action == "create":
                await self.client.create(revs_path, rev.go_json(revision))
            elif action == "bump":
                await self.client.replace(
                    f"{revs_path}/{revision['metadata']['name']}", rev.go_json(revision)
                )
            elif (label := ssrev.custom_version_patch(ss, revision)) is not None:
                # spec.customVersion changed without a new revision (updateCustomVersionLabel).
                await self.client.patch(f"{revs_path}/{revision['metadata']['name']}", label, "merge")
        except ApiError as e:
            if not (e.already_exists or (e.status == 404 and "namespaces" in e.message)):
                raise
            if e.status == 404:
                log.warning(
                    "SidecarSet revisions need the operator namespace %s; not recording revisions", ns
                )
        snap = planner.Snapshot(
            sidecarset=ss,
            pods=self.candidates(ss),
            latest_revision=revision["metadata"]["name"],
            now=datetime.now(UTC),
            collision_count=collisions,
        )
        p = planner.plan(snap, self.memos.setdefault(name, planner.FactsMemo()))
        # Pods left to upgrade (waiting, held by the budget or mid-upgrade): keep pod events fast.
        self.upgrading[name] = any(v != "updated" for v in p.pod_plan.values())
        errors = await settle([self._flip(name, f) for f in p.flips])
        errors += await settle([self._upgrade(name, ss, u) for u in p.upgrades])
        errors += await settle([self._condition(pod, cond) for pod, cond in p.not_upgradable])
        if p.status is not None:
            try:
                await self.client.patch(
                    path_for(scs.API_VERSION, "sidecarsets", None, name, "status"),
                    {"status": p.status},
                    "merge",
                )
            except ApiError as e:
                if e.not_found:
                    return Result()  # deleted while we reconciled
                raise
        for etype, reason, msg in p.events:
            self.events.emit(ss, etype, reason, msg)
        if errors:
            raise errors[0]
        after = ssrev.apply_decision(revisions, action, revision)
        for rname in ssrev.revisions_to_delete(ss, after, p.matched_pods):
            await self.client.delete(f"{revs_path}/{rname}")
        return Result(requeue_after=p.requeue_after) if p.requeue_after else Result()

    async def _upgrade(self, name: str, ss: Obj, u: planner.PodUpgrade) -> None:
        """The pods patch, then (if any) the pods/status patch: the condition, or everything when no
        image changes (plan.pod_upgrade)."""
        md = u.pod["metadata"]
        key = f"{md['namespace']}/{md['name']}"
        path = path_for("v1", "pods", md["namespace"], md["name"])
        wrote = False
        for target, patch in ((path, u.patch), (f"{path}/status", u.status_patch)):
            if patch is None:
                continue
            try:
                res = await self.client.patch(target, patch, "strategic")
            except ApiError as e:
                if e.not_found or e.conflict:
                    break  # the pod changed under us (or is gone): the next round re-plans
                raise
            wrote = True
            self.expectations.expect_rv(name, key, res["metadata"]["resourceVersion"])
        if wrote:
            rollout_metrics.pod_updated("SidecarSet", "in_place")

    async def _flip(self, name: str, f: planner.PodFlip) -> None:
        """HotUpgrade reset, with OpenKruise's events on the pod."""
        md = f.pod["metadata"]
        pod_ref = {**f.pod, "apiVersion": "v1", "kind": "Pod"}
        try:
            res = await self.client.patch(
                path_for("v1", "pods", md["namespace"], md["name"]), f.patch, "strategic"
            )
        except ApiError as e:
            if e.not_found:
                return
            self.events.emit(
                pod_ref,
                "Warning",
                "ResetContainerFailed",
                f"reset sidecar container image empty failed: {e.message}",
            )
            if e.conflict:
                return  # replaced under us: the next round re-plans
            raise
        self.expectations.expect_rv(
            name, f"{md['namespace']}/{md['name']}", res["metadata"]["resourceVersion"]
        )
        self.events.emit(
            pod_ref, "Normal", "ResetContainerSucceed", "reset sidecar container image empty successfully"
        )

    async def _condition(self, pod: Obj, condition: Obj) -> None:
        md = pod["metadata"]
        try:
            await self.client.patch(
                path_for("v1", "pods", md["namespace"], md["name"], "status"),
                {"status": {"conditions": [condition]}},
                "strategic",
            )
        except ApiError as e:
            if not e.not_found:
                raise


def _all_but_status(obj: Obj) -> tuple[Any, Any]:
    meta = {
        k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("resourceVersion", "managedFields")
    }
    return obj.get("spec"), meta
