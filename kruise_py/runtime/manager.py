"""The operator's runtime without kopf: client, informers + caches, controllers, metrics server.

A controller registers the resources it watches and how their events map to its keys; the
manager starts one informer per resource (shared between controllers), waits until every cache
is synced, then starts the controllers' workers. Layout follows controller-runtime's Manager.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from . import sharding as sh
from .cache import ObjectCache
from .client import KubeClient, path_for
from .controller import AlwaysLeader, LeaderGate
from .events import EventRecorder
from .informer import Handler, Informer, label_matcher
from .metrics import MetricsServer

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    api_version: str
    plural: str
    namespaced: bool = True
    label_selector: str | None = None
    field_selector: str | None = None
    # Sharded mode (docs/decisions.md, "Sharding"): narrowed to the buckets this replica holds.
    sharded: bool = False

    @property
    def key(self) -> str:
        # Controllers may watch the same resource with different selectors: separate caches.
        sel = "&".join(s for s in (self.label_selector, self.field_selector) if s)
        return (
            f"{self.plural}.{self.api_version}"
            + (f"?{sel}" if sel else "")
            + ("#shard" if self.sharded else "")
        )


class Runnable(Protocol):
    name: str

    def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class ManagerOptions:
    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 8080
    sync_timeout: float = 120.0
    # Sharded mode: resources asked for through scoped() are narrowed to the held buckets.
    sharding: bool = False


@dataclass
class Manager:
    client: KubeClient
    options: ManagerOptions = field(default_factory=ManagerOptions)
    caches: dict[str, ObjectCache] = field(default_factory=dict)
    informers: dict[str, list[Informer]] = field(default_factory=dict)
    # A label-selected resource whose unselected twin is also watched is a view of it: one LIST
    # and one watch, each object decoded once (docs/decisions.md, "One watch per resource").
    views: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    handlers: dict[str, list[Handler]] = field(default_factory=dict)
    runnables: list[Runnable] = field(default_factory=list)
    ready_checks: list[Callable[[], bool | str]] = field(default_factory=list)
    # Controllers take keys only while this says we lead (runtime/leader.py); webhooks always serve.
    leader: LeaderGate = field(default_factory=AlwaysLeader)

    def __post_init__(self) -> None:
        self.events = EventRecorder(self.client)
        self.metrics = MetricsServer(
            self.options.metrics_host, self.options.metrics_port, readiness=self.readiness
        )
        self._synced = False
        self._started = False
        # The buckets the sharded informers select (sharded mode; none until the first reshard).
        self.buckets: frozenset[int] = frozenset()
        self._stopping = False

    # -- sharded mode --------------------------------------------------------------------------
    def scoped(self, res: Resource) -> Resource:
        """``res`` narrowed to this replica's buckets in sharded mode (an owner kind, or the pods
        of one), else ``res`` itself."""
        return replace(res, sharded=True) if self.options.sharding else res

    def _selector(self, res: Resource) -> str | None:
        if not res.sharded:
            return res.label_selector
        return ",".join(s for s in (res.label_selector, sh.label_selector(self.buckets)) if s) or None

    async def reshard(self, buckets: frozenset[int]) -> None:
        """Select ``buckets`` in every sharded informer and wait for their fresh LISTs: objects of
        buckets left are DELETED from the caches, those of buckets taken ADDED."""
        self.buckets = frozenset(buckets)
        if self._stopping:  # shutting down: no LIST for caches about to go
            return
        await asyncio.gather(
            *(
                inf.reselect(self._selector(self.resources[key]))
                for key, infs in self.informers.items()
                if self.resources[key].sharded
                for inf in infs
            )
        )

    # -- wiring --------------------------------------------------------------------------------
    def cache(self, res: Resource) -> ObjectCache:
        """The shared cache of a resource. Its informer is made when the manager starts (or at
        once, after): by then every resource is known, so a label-selected one can be a view."""
        if res.key not in self.caches:
            self.caches[res.key] = ObjectCache()
            self.resources[res.key] = res
            self.handlers[res.key] = []
            if self._started:
                self._wire(res.key, view=None)
                for inf in self.informers[res.key]:
                    inf.start()
        return self.caches[res.key]

    def on_event(self, res: Resource, handler: Handler) -> None:
        self.cache(res)
        self.handlers[res.key].append(handler)

    def _view_of(self, res: Resource) -> tuple[str, Callable[[Obj], bool]] | None:
        """The key of the unselected resource ``res`` can be a view of, and its local selector."""
        match = label_matcher(res.label_selector) if res.label_selector else None
        if match is None or res.sharded:
            return None
        twin = Resource(res.api_version, res.plural, res.namespaced, None, res.field_selector)
        return (twin.key, match) if twin.key in self.resources else None

    def wire(self) -> None:
        """Make the informers (and views) of every resource registered so far; :meth:`start`
        does it, and any resource registered afterwards gets its own informer at once."""
        if self._started:
            return
        views = {k: v for k in self.resources if (v := self._view_of(self.resources[k])) is not None}
        # Sources first: a view's feeder is a handler on its source's informers.
        for key in [k for k in self.resources if k not in views] + list(views):
            self._wire(key, views.get(key))
        self._started = True

    def _wire(self, key: str, view: tuple[str, Callable[[Obj], bool]] | None) -> None:
        res, cache, handlers = self.resources[key], self.caches[key], self.handlers[key]

        def dispatch(etype: str, old: Obj | None, new: Obj | None) -> None:
            for h in handlers:  # the list, not a copy: handlers added later are called too
                try:
                    h(etype, old, new)
                except Exception:  # a buggy handler must not starve the others
                    log.exception("%s: handler failed on %s", key, etype)

        if view is not None:
            source, match = view
            self.views[key] = source
            feed = _view_feeder(cache, match, dispatch)
            for inf in self.informers[source]:
                inf.add_handler(feed)
            return
        spaces: Iterable[str | None] = (
            self.options.namespaces if (res.namespaced and self.options.namespaces) else (None,)
        )
        self.informers[key] = [
            Informer(
                self.client,
                path_for(res.api_version, res.plural, ns),
                cache,
                name=f"{res.plural}{'/' + ns if ns else ''}",
                namespace=ns,
                label_selector=self._selector(res),
                field_selector=res.field_selector,
            )
            for ns in spaces
        ]
        for inf in self.informers[key]:
            inf.add_handler(dispatch)

    def add(self, runnable: Runnable) -> None:
        self.runnables.append(runnable)

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def synced(self) -> bool:
        return self._synced

    def readiness(self) -> bool | str:
        if not self._synced:
            return "caches not synced"
        for check in self.ready_checks:
            r = check()
            if r is not True:
                return r or "not ready"
        return True

    async def start(self) -> None:
        await self.metrics.start()
        self.wire()
        for infs in self.informers.values():
            for inf in infs:
                inf.start()
        waits = [inf.synced.wait() for infs in self.informers.values() for inf in infs]
        if waits:
            await asyncio.wait_for(asyncio.gather(*waits), self.options.sync_timeout)
        self._synced = True
        # The caches are long-lived and acyclic: out of the collector's full passes from now on
        # (50,000 pods are ~10M containers, a pass over them ~1 s of a stalled loop). They are
        # still freed by reference counting when replaced.
        gc.freeze()
        log.info("caches synced: %s", {k: len(c) for k, c in self.caches.items()})
        for r in self.runnables:
            r.start()

    async def stop(self) -> None:
        self._stopping = True
        for r in self.runnables:
            await r.stop()
        for infs in self.informers.values():
            for inf in infs:
                await inf.stop()
        await self.metrics.stop()
        await self.client.close()

    def status(self) -> dict[str, Any]:
        return {"synced": self._synced, "objects": {k: len(c) for k, c in self.caches.items()}}


def _view_feeder(cache: ObjectCache, match: Callable[[Obj], bool], dispatch: Handler) -> Handler:
    """A source informer's handler keeping ``cache`` as the server would for a selected watch:
    an object entering the selection is ADDED, one leaving it DELETED."""

    def feed(etype: str, old: Obj | None, new: Obj | None) -> None:
        was = old is not None and match(old)
        now = new is not None and match(new)
        if now and new is not None:
            cache.apply("MODIFIED" if was else "ADDED", new)
            dispatch("MODIFIED" if was else "ADDED", old if was else None, new)
        elif was and old is not None:
            cache.apply("DELETED", old)
            dispatch("DELETED", old, None)

    return feed
