"""BroadcastJob: the I/O half. Snapshot from the caches → pure plan → writes, expectations, events.

Same shape as the Advanced StatefulSet reconciler. Node events map to exactly the jobs whose
placement they change (spec §4.7); deadlines and TTL are timed requeues, not event-driven.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...api import broadcastjob as bcj
from ...api.defaults import default_broadcastjob
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
from . import fit
from . import plan as planner

log = logging.getLogger(__name__)

JOBS = Resource(bcj.API_VERSION, "broadcastjobs")
# Every pod a BroadcastJob creates carries this label: watch only those.
PODS = Resource("v1", "pods", label_selector="broadcastjob-controller-uid")
NODES = Resource("v1", "nodes", namespaced=False)
Key = tuple[str, str]
Obj = dict[str, Any]


class BroadcastJobController:
    name = "broadcastjob"

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
        own, pods = manager.scoped(JOBS), manager.scoped(PODS)
        self.events = manager.events
        self.jobs: ObjectCache = manager.cache(own)
        self.pods: ObjectCache = manager.cache(pods)
        self.nodes: ObjectCache = manager.cache(NODES)
        self.expectations: Expectations[Key] = Expectations(
            self.name, rv_lookup=rv_lookup(self.pods, self.jobs)
        )
        manager.on_event(own, self._on_job)
        manager.on_event(pods, self._on_pod)
        manager.on_event(NODES, self._on_node)
        self.controller: Controller[Key] = Controller(
            self.name,
            self.reconcile,
            workers=workers,
            resync_period=resync_period,
            leader=AlwaysLeader() if owns is not None else manager.leader,
            owns=owns,
            keys=lambda: [(ns or "", n) for ns, n in self.jobs.keys()],  # noqa: SIM118 - ObjectCache.keys()
        )
        manager.add(self.controller)

    # -- event mapping -------------------------------------------------------------------------
    def _on_job(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        if new is not None:
            md = new["metadata"]
            self.expectations.observe_rv(
                (md.get("namespace", ""), md["name"]), own_key(new), md.get("resourceVersion", "")
            )
        self._enqueue_job(new or old)

    def _enqueue_job(self, job: Mapping[str, Any] | None) -> None:
        if job:
            md = job.get("metadata") or {}
            self.controller.enqueue((md.get("namespace", ""), md["name"]))

    def _on_pod(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is None or (owner := owner_key(obj, "BroadcastJob")) is None:
            return
        key = pod_key(obj)
        if new is None:
            self.expectations.observe_gone(owner, key)
        else:
            self.expectations.observe_rv(owner, key, (new.get("metadata") or {}).get("resourceVersion", ""))
        self.controller.enqueue(owner)

    def _on_node(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        """Only the jobs whose placement the change affects (spec §4.7); heartbeats are ignored."""
        if etype == "DELETED" or new is None:
            return  # pods on a vanished node keep counting; nothing to place
        if old is not None and fit.node_update_is_heartbeat(old, new):
            return
        node_name = (new.get("metadata") or {}).get("name", "")
        for job in self.jobs.list():
            if old is None:
                wanted, _ = fit.node_fits(fit.mock_pod_spec(job, node_name), new)
            else:
                wanted = fit.fit_changed(job, old, new)
            if wanted:
                self._enqueue_job(job)
        if old is not None:
            # Also the jobs whose pod on this node stops (or starts) fitting it: the pod is re-checked
            # on its own spec, whose fit can change when the mock pod's does not.
            for pod in self.pods.by_node(node_name):
                if (owner := owner_key(pod, "BroadcastJob")) is not None and fit.pod_fit_changed(
                    pod, old, new
                ):
                    self.controller.enqueue(owner)

    # -- reconcile -----------------------------------------------------------------------------
    def snapshot(self, job: Obj) -> planner.Snapshot:
        return planner.Snapshot(
            job=job,
            pods=self.pods.by_owner(job["metadata"]["uid"]),
            nodes=self.nodes.list(),
            now=datetime.now(UTC),
        )

    async def reconcile(self, key: Key) -> Result:
        cached = self.jobs.get(*key)
        if cached is None:
            self.forget(key)
            return Result()
        if (wait := wait_for_cache(self.expectations, key)) is not None:
            return wait
        job = default_broadcastjob(cached)
        p = planner.plan(self.snapshot(job))
        try:
            await self.execute(key, job, p)
        except ApiError as e:
            if object_gone(e):
                return Result()
            raise
        return requeue(p.requeue_after)

    def forget_moved(self, moved: Callable[[Key], bool]) -> None:
        """Sharding moved these owners (to or from this replica): what was kept for them is stale."""
        known = [(ns or "", n) for ns, n in self.jobs.keys()]  # noqa: SIM118 - ObjectCache.keys()
        forget_where(self.expectations, self.forget, moved, known)

    def forget(self, key: Key) -> None:
        """The job is gone: drop what was kept for it."""
        self.expectations.delete(key)

    # -- executing a plan ----------------------------------------------------------------------

    async def execute(self, key: Key, job: Obj, p: planner.Plan) -> None:
        ns, name = key
        job_path = path_for(bcj.API_VERSION, "broadcastjobs", ns, name)
        if p.delete_job:
            # TTL after finishing: a plain delete, background propagation (spec §9 P29).
            await self.client.delete(job_path, propagation="Background")
            self.expectations.delete(key)
            return
        errors = await settle([self._delete(key, job, pod, reason) for pod, reason in p.deletes])
        errors += await self._create_slow_start(key, job, p.creates)
        own: Obj | None = None
        if p.paused_spec:
            own = await self.client.patch(job_path, {"spec": {"paused": True}}, "merge")
        if p.status is not None:
            own = await self.client.patch(f"{job_path}/status", {"status": p.status}, "merge")
        if own is not None:
            # Do not plan again from a cached job older than this write (it would look unfinished).
            self.expectations.expect_rv(key, own_key(own), own["metadata"]["resourceVersion"])
        for etype, reason, msg in p.events:
            self.events.emit(job, etype, reason, msg)
        if errors:
            raise errors[0]

    async def _create_slow_start(self, key: Key, job: Obj, pods: list[Obj]) -> list[BaseException]:
        """Create in batches of 1, 2, 4, … and stop at the first failing batch (like the Job controller)."""
        i, batch = 0, 1
        while i < len(pods):
            chunk = pods[i : i + batch]
            errs = await settle([self._create(key, job, pod) for pod in chunk])
            if errs:
                return errs
            i += len(chunk)
            batch *= 2
        return []

    async def _create(self, key: Key, job: Obj, pod: Obj) -> None:
        ns = key[0]
        try:
            body = with_shard_label(pod, key) if self.sharded else pod
            created = await self.client.create(path_for("v1", "pods", ns), body)
        except ApiError as e:
            self.events.emit(job, "Warning", "FailedCreate", f"Error creating: {e.message}")
            raise
        md = created["metadata"]
        self.expectations.expect_rv(key, f"{ns}/{md['name']}", md["resourceVersion"])
        self.events.emit(job, "Normal", "SuccessfulCreate", f"Created pod: {md['name']}")

    async def _delete(self, key: Key, job: Obj, pod: Obj, reason: str) -> None:
        md = pod["metadata"]
        try:
            res = await self.client.delete(
                path_for("v1", "pods", md["namespace"], md["name"]), uid=md.get("uid")
            )
        except ApiError as e:
            if e.status == 409:
                return
            raise
        if res and res.get("kind") == "Pod":
            self.expectations.expect_rv(key, pod_key(pod), res["metadata"]["resourceVersion"])
        self.events.emit(job, "Normal", "SuccessfulDelete", f"Delete pod: {md['name']}")
