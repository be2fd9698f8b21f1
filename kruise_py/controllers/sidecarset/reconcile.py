"""SidecarSet: the I/O half of the in-place sidecar upgrade controller. Builds a snapshot from the
caches (its SidecarSets, namespaces and revisions are the injector's, ``injector.py``, which the
mutating webhook calls at pod creation), calls the pure planner, executes the plan through the one
client, records expectations and events.
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
from ...runtime.controller import Controller, LeaderGate, Result
from ...runtime.expectations import Expectations
from ...runtime.manager import Manager, Resource
from ..common import CACHE_WAIT_S, Lookup, pod_key, requeue, rv_lookup, settle, wait_for_cache
from . import plan as planner
from .inject import injected_sidecarsets
from .injector import SIDECARSETS, SidecarSetInjector
from .selected import ActivateOnLead, SelectedPods

log = logging.getLogger(__name__)

PODS = Resource("v1", "pods")
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


class SidecarSetGone(Exception):
    """The SidecarSet's status write answered NotFound: it was deleted while we reconciled. Only
    that write tells: its revisions live in another namespace and its pods are anyone's."""


class SidecarSetController:
    """In-place upgrade of injected sidecars (spec §5.4): one reconcile per SidecarSet."""

    name = "sidecarset"

    def __init__(
        self, manager: Manager, injector: SidecarSetInjector, workers: int = 2, resync_period: float = 300.0
    ) -> None:
        self.client: KubeClient = manager.client
        self.events = manager.events
        self.injector = injector
        # Per SidecarSet: its last plan's Plan.memo, passed to its next plan (and read by _on_pod).
        self.memos: dict[str, planner.Memo] = {}
        leader: LeaderGate = manager.leader
        self.pods: ObjectCache | None = None
        self.selected: SelectedPods | None = None
        if manager.options.sharding:
            # Sharded mode: not every pod (the other replicas' shards), only those the SidecarSets
            # select, watched once this replica is elected (it alone upgrades sidecars).
            self.selected = selected = SelectedPods(
                manager.client,
                manager.options.namespaces,
                self._on_pod,
                (INJECTED_INDEX, injected_sidecarsets),
            )
            manager.add(selected)
            leader = ActivateOnLead(
                lambda: manager.leader, lambda: selected.activate(injector.sidecarsets.list()), selected
            )
            lookup: Lookup = selected
        else:
            self.pods = lookup = manager.cache(PODS)
            self.pods.add_index(INJECTED_INDEX, injected_sidecarsets)
            manager.on_event(PODS, self._on_pod)
        self.expectations: Expectations[str] = Expectations(self.name, rv_lookup=rv_lookup(lookup))
        manager.on_event(SIDECARSETS, self._on_set)
        self.controller: Controller[str] = Controller(
            self.name,
            self.reconcile,
            workers=workers,
            resync_period=resync_period,
            leader=leader,
            keys=lambda: [n for _, n in injector.sidecarsets.keys()],  # noqa: SIM118 - ObjectCache.keys()
        )
        manager.add(self.controller)

    # -- event mapping -------------------------------------------------------------------------
    def _enqueue_set(self, obj: Obj | None) -> None:
        if obj:
            self.controller.enqueue(obj["metadata"]["name"])

    def _on_set(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        # A change of status alone is (nearly always) our own status write: reconciling again for
        # it made every reconcile trigger the next one while pods kept changing (bench P5).
        if old is not None and new is not None and _all_but_status(old) == _all_but_status(new):
            return
        if self.selected is not None:
            self.selected.update(self.injector.sidecarsets.list())
        self._enqueue_set(new or old)

    def _on_pod(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        names = injected_sidecarsets(obj or {})
        if obj is None or not names:
            return
        key, rv = pod_key(obj), obj["metadata"].get("resourceVersion", "")
        for n in sorted(names):
            if new is None:
                self.expectations.observe_gone(n, key)
            else:
                self.expectations.observe_rv(n, key, rv)
            # Coalesced: a reconcile looks at every pod of the SidecarSet (O(pods)), so one per pod
            # event made a burst of pod creates O(pods^2) and starved the injection webhook (bench P5).
            memo = self.memos.get(n)
            delay = POD_EVENT_BATCH_S if memo is None or memo.upgrading else STATUS_ONLY_BATCH_S
            self.controller.enqueue_after(n, delay)

    # -- reconcile -----------------------------------------------------------------------------
    def _pods(self, name: str) -> list[Obj] | None:
        """The pods whose injected list names the SidecarSet; None while not listed yet."""
        if self.selected is not None:
            return self.selected.pods(name)
        assert self.pods is not None
        return self.pods.by_index(INJECTED_INDEX, name)

    def snapshot(self, ss: Obj, pods: list[Obj]) -> planner.Snapshot:
        """``pods``: those whose injected list names the SidecarSet (:meth:`_pods`), filtered here
        by its selectors to the ones it may count or upgrade (plan.candidate_pods)."""
        ns = self.injector.revision_namespace
        return planner.Snapshot(
            sidecarset=ss,
            pods=planner.candidate_pods(ss, pods, self.injector.namespace_labels),
            revisions=self.injector.revisions.list(ns),
            revision_namespace=ns,
            now=datetime.now(UTC),
        )

    async def reconcile(self, name: str) -> Result:
        cached = self.injector.sidecarsets.get(None, name)
        if cached is None:
            self.forget(name)
            return Result()
        if (wait := wait_for_cache(self.expectations, name)) is not None:
            return wait
        if (pods := self._pods(name)) is None:  # sharded mode: its pods' watch has not listed yet
            return Result(requeue_after=CACHE_WAIT_S)
        ss = default_sidecarset(cached)
        snap = self.snapshot(ss, pods)
        p = planner.plan(snap, self.memos.get(name))
        self.memos[name] = p.memo
        try:
            await self.execute(name, ss, snap.revision_namespace, p)
        except SidecarSetGone:
            return Result()
        return requeue(p.requeue_after)

    def forget(self, name: str) -> None:
        """The SidecarSet is gone: drop what was kept for it."""
        self.expectations.delete(name)
        self.memos.pop(name, None)

    # -- executing a plan ----------------------------------------------------------------------
    async def execute(self, name: str, ss: Obj, revision_namespace: str, p: planner.Plan) -> None:
        revs = path_for("apps/v1", "controllerrevisions", revision_namespace)
        try:
            if p.revision_create is not None:
                # Go-encoded, so the stored data survives later patches (see rev.go_json).
                await self.client.create(revs, rev.go_json(p.revision_create))
            elif p.revision_bump is not None:
                await self.client.replace(f"{revs}/{p.latest_revision}", rev.go_json(p.revision_bump))
            elif p.revision_label_patch is not None:
                await self.client.patch(f"{revs}/{p.latest_revision}", p.revision_label_patch, "merge")
        except ApiError as e:
            if not (e.already_exists or (e.status == 404 and "namespaces" in e.message)):
                raise
            if e.status == 404:
                log.warning(
                    "SidecarSet revisions need the operator namespace %s; not recording revisions",
                    revision_namespace,
                )
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
                    raise SidecarSetGone(name) from e
                raise
        for etype, reason, msg in p.events:
            self.events.emit(ss, etype, reason, msg)
        if errors:
            raise errors[0]  # history is truncated once a round succeeds
        for rname in p.revisions_delete:
            await self.client.delete(f"{revs}/{rname}")

    async def _upgrade(self, name: str, ss: Obj, u: planner.PodUpgrade) -> None:
        """The pods patch, then (if any) the pods/status patch: the condition, or everything when no
        image changes (plan.pod_upgrade)."""
        md = u.pod["metadata"]
        key = pod_key(u.pod)
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
        self.expectations.expect_rv(name, pod_key(f.pod), res["metadata"]["resourceVersion"])
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
