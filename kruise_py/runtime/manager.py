"""The operator's runtime without kopf: client, informers + caches, controllers, metrics server.

A controller registers the resources it watches and how their events map to its keys; the
manager starts one informer per resource (shared between controllers), waits until every cache
is synced, then starts the controllers' workers. Layout follows controller-runtime's Manager.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .cache import ObjectCache
from .client import KubeClient, path_for
from .controller import AlwaysLeader, LeaderGate
from .events import EventRecorder
from .informer import Handler, Informer
from .metrics import MetricsServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resource:
    api_version: str
    plural: str
    namespaced: bool = True
    label_selector: str | None = None
    field_selector: str | None = None

    @property
    def key(self) -> str:
        # Controllers may watch the same resource with different selectors: separate caches.
        sel = "&".join(s for s in (self.label_selector, self.field_selector) if s)
        return f"{self.plural}.{self.api_version}" + (f"?{sel}" if sel else "")


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


@dataclass
class Manager:
    client: KubeClient
    options: ManagerOptions = field(default_factory=ManagerOptions)
    caches: dict[str, ObjectCache] = field(default_factory=dict)
    informers: dict[str, list[Informer]] = field(default_factory=dict)
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

    # -- wiring --------------------------------------------------------------------------------
    def cache(self, res: Resource) -> ObjectCache:
        """The shared cache of a resource; starts an informer for it on first use."""
        if res.key not in self.caches:
            cache = ObjectCache()
            self.caches[res.key] = cache
            spaces: Iterable[str | None] = (
                self.options.namespaces if (res.namespaced and self.options.namespaces) else (None,)
            )
            self.informers[res.key] = [
                Informer(
                    self.client,
                    path_for(res.api_version, res.plural, ns),
                    cache,
                    name=f"{res.plural}{'/' + ns if ns else ''}",
                    namespace=ns,
                    label_selector=res.label_selector,
                    field_selector=res.field_selector,
                )
                for ns in spaces
            ]
        return self.caches[res.key]

    def on_event(self, res: Resource, handler: Handler) -> None:
        self.cache(res)
        for inf in self.informers[res.key]:
            inf.add_handler(handler)

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
        for infs in self.informers.values():
            for inf in infs:
                inf.start()
        waits = [inf.synced.wait() for infs in self.informers.values() for inf in infs]
        if waits:
            await asyncio.wait_for(asyncio.gather(*waits), self.options.sync_timeout)
        self._synced = True
        log.info("caches synced: %s", {k: len(c) for k, c in self.caches.items()})
        for r in self.runnables:
            r.start()

    async def stop(self) -> None:
        for r in self.runnables:
            await r.stop()
        for infs in self.informers.values():
            for inf in infs:
                await inf.stop()
        await self.metrics.stop()
        await self.client.close()

    def status(self) -> dict[str, Any]:
        return {"synced": self._synced, "objects": {k: len(c) for k, c in self.caches.items()}}
