"""Sharded mode's I/O: the shard label on owners and pods, and the hand-over glue.

``--shards auto`` (docs/decisions.md, "Sharding"): every replica holds a membership Lease
(:class:`~kruise_py.runtime.membership.ShardMember`), the ring gives it a set of buckets, and it
reconciles, watches and caches only the Advanced StatefulSets and BroadcastJobs of those buckets
and their pods, selected server-side by the label ``sharding.kruise-py.io/bucket``.

The label comes from three places: the defaulting webhook on every owner create and update; the
controllers on every pod they create; and, for objects made before sharding was on (or while the
webhook was away), this module: a replica about to take buckets labels their unlabelled owners and
pods first (a narrowed watch would not see them: a BroadcastJob would create its pods again), and
the elected replica labels owners that turn up unlabelled afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..api import broadcastjob as bcj
from ..runtime import sharding as sh
from ..runtime.client import ApiError, path_for
from ..runtime.controller import Controller, Result
from ..runtime.manager import Manager, Resource
from ..runtime.membership import ShardGate, ShardMember
from .statefulset.plan import POD_NAME_LABEL

log = logging.getLogger(__name__)

Key = tuple[str, str]
Obj = dict[str, Any]
UNLABELLED = f"!{sh.SHARD_LABEL}"
# The owner kinds that are sharded: (apiVersion, plural, kind); the pods of each carry a label
# their controller selects them by.
OWNERS = (
    ("apps.kruise.io/v1beta1", "statefulsets", "StatefulSet"),
    (bcj.API_VERSION, "broadcastjobs", "BroadcastJob"),
)
SHARDED_PLURALS = frozenset(p for _, p, _ in OWNERS)
POD_LABELS = (POD_NAME_LABEL, "broadcastjob-controller-uid")


def wants_label(obj: Obj) -> dict[str, str] | None:
    """The shard label an owner should carry, if it lacks it or has another value (admission:
    ``namespace/name`` are known before the apiserver stores the object; None with generateName)."""
    md = obj.get("metadata") or {}
    if not md.get("name") or not md.get("namespace"):
        return None
    want = sh.owner_bucket_label(md["namespace"], md["name"])
    have = (md.get("labels") or {}).get(sh.SHARD_LABEL)
    return None if have == want[sh.SHARD_LABEL] else want


def label_owner(obj: Obj) -> None:
    """Set the shard label on an owner, in place (the defaulting webhook, sharded mode)."""
    want = wants_label(obj)
    if want is not None:
        obj["metadata"]["labels"] = {**(obj["metadata"].get("labels") or {}), **want}


def pod_owner(pod: Obj) -> Key | None:
    """The sharded owner of a pod: its controller reference to one of :data:`OWNERS`."""
    md = pod.get("metadata") or {}
    for ref in md.get("ownerReferences") or ():
        if (
            ref.get("controller")
            and str(ref.get("apiVersion", "")).startswith("apps.kruise.io/")
            and any(ref.get("kind") == kind for _, _, kind in OWNERS)
        ):
            return md.get("namespace") or "", ref["name"]
    return None


class Owner(Protocol):
    """A sharded controller (StatefulSetController, BroadcastJobController)."""

    controller: Controller[Key]

    def forget_moved(self, moved: Callable[[Key], bool]) -> None: ...


class Shards:
    """One replica's part of sharded mode: its membership, the gate its controllers take keys
    through, and what happens when buckets arrive or leave.

    Taking buckets: label their unlabelled owners and pods, select them in every sharded informer
    (a fresh LIST, made after the previous holder released them), forget what was kept about their
    owners, then let the controllers take their keys. Giving buckets up: stop taking their keys,
    wait for in-flight reconciles (the drain), forget, and narrow the informers."""

    def __init__(self, manager: Manager, member: ShardMember, gate: ShardGate) -> None:
        self.manager, self.member, self.gate = manager, member, gate
        self.client = manager.client
        self.owners: list[Owner] = []
        self._lock = asyncio.Lock()
        member.on_start, member.on_stop = self.start_buckets, self.stop_buckets
        # Owners that turn up unlabelled (created with generateName, or while the webhook was
        # away): the elected replica labels them, one patch each. Usually an empty watch.
        self.labeller: Controller[tuple[str, str, str]] = Controller(
            "shard-labels", self._label, workers=1, leader=manager.leader
        )
        for api_version, plural, _ in OWNERS:
            res = Resource(api_version, plural, label_selector=UNLABELLED)

            def enqueue(_t: str, _old: Obj | None, new: Obj | None, plural: str = plural) -> None:
                if new is not None:
                    md = new["metadata"]
                    self.labeller.enqueue((plural, md.get("namespace") or "", md["name"]))

            manager.on_event(res, enqueue)
        manager.add(self.labeller)

    def add(self, owner: Owner, keys: Callable[[], Iterable[Key]]) -> None:
        self.owners.append(owner)
        self.gate.add(owner.controller, keys)

    async def _label(self, key: tuple[str, str, str]) -> Result:
        plural, ns, name = key
        api_version = next(a for a, p, _ in OWNERS if p == plural)
        await self._patch(path_for(api_version, plural, ns, name), ns, name)
        return Result()

    async def _patch(self, path: str, ns: str, owner_name: str) -> None:
        body = {"metadata": {"labels": sh.owner_bucket_label(ns, owner_name)}}
        try:
            await self.client.patch(path, body)
        except ApiError as e:
            if not e.not_found:
                raise

    async def backfill(self, buckets: frozenset[int]) -> int:
        """Label the unlabelled owners and pods of ``buckets``; returns how many were labelled.

        From the watch cache (``resourceVersion=0``): what needs a label was made before sharding
        was on, long since in the cache, and a consistent LIST goes to etcd where the apiserver
        cannot serve it from the cache (50,000 pods: ~9 s a LIST in the bench, for an empty
        answer). The LIST that must be consistent is the narrowed one after, in reshard()."""
        n = 0
        for api_version, plural, _ in OWNERS:
            items, _ = await self.client.list_all(
                path_for(api_version, plural), labelSelector=UNLABELLED, resourceVersion="0"
            )
            for obj in items:
                md = obj["metadata"]
                if sh.bucket_of(md["namespace"], md["name"]) in buckets:
                    await self._patch(
                        path_for(api_version, plural, md["namespace"], md["name"]),
                        md["namespace"],
                        md["name"],
                    )
                    n += 1
        for label in POD_LABELS:
            items, _ = await self.client.list_all(
                path_for("v1", "pods"), labelSelector=f"{label},{UNLABELLED}", resourceVersion="0"
            )
            for pod in items:
                owner = pod_owner(pod)
                if owner is not None and sh.bucket_of(*owner) in buckets:
                    md = pod["metadata"]
                    await self._patch(path_for("v1", "pods", md["namespace"], md["name"]), *owner)
                    n += 1
        if n:
            log.info("sharding: labelled %d objects of %d buckets taken", n, len(buckets))
        return n

    def _moved(self, buckets: frozenset[int]) -> Callable[[Key], bool]:
        return lambda k: self.gate.bucket(k) in buckets

    async def start_buckets(self, buckets: frozenset[int]) -> None:
        async with self._lock:
            await self.backfill(buckets)
            await self.manager.reshard(self.manager.buckets | buckets)
            for owner in self.owners:
                owner.forget_moved(self._moved(buckets))
            await self.gate.on_start(buckets)
        log.info("sharding: took %d buckets, holding %d", len(buckets), len(self.gate.active))

    async def stop_buckets(self, buckets: frozenset[int]) -> None:
        # Under the lock: a start of these buckets still running (its LIST) finishes first, so it
        # cannot make them active again after this stop took them off.
        async with self._lock:
            await self.gate.on_stop(buckets)  # no new reconcile of theirs; in-flight ones finished
            for owner in self.owners:
                owner.forget_moved(self._moved(buckets))
            await self.manager.reshard(self.manager.buckets - buckets)
        log.info("sharding: gave up %d buckets, holding %d", len(buckets), len(self.gate.active))
