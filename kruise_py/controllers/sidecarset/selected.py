"""Sharded mode: the SidecarSet controller's pods, one server-side-selected watch per selector.

The controller only ever reads pods one of its SidecarSets selects (``plan.candidate_pods``:
injected by it, in its namespaces, matching its ``selector``), and a LabelSelector is exactly one
server-side label selector. So instead of every pod of the cluster, the elected replica watches
each distinct ``(spec.namespace, selector)`` of the SidecarSets it has, and nothing else: the other
replicas' shards stay off it (docs/decisions.md, "Sharding").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ...api.common import _requirements, selector_to_string
from ...runtime.cache import ObjectCache
from ...runtime.client import KubeClient, path_for
from ...runtime.controller import LeaderGate
from ...runtime.informer import Handler, Informer

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WatchKey = tuple[str | None, str]  # (spec.namespace or None: every namespace, selector string)
Index = tuple[str, Callable[[Obj], Iterable[Any]]]


def watch_key(ss: Obj) -> WatchKey | None:
    """Where a SidecarSet's pods are: None when its selector selects nothing (absent or malformed,
    as ``label_selector_matches`` reads it); an empty selector is every pod ("")."""
    spec = ss.get("spec") or {}
    sel = spec.get("selector")
    if not isinstance(sel, dict) or _requirements(sel) is None:
        return None
    return (spec.get("namespace") or None, selector_to_string(sel))


class _Watch:
    def __init__(self, informers: list[Informer], cache: ObjectCache) -> None:
        self.informers, self.cache = informers, cache

    @property
    def synced(self) -> bool:
        return all(inf.synced.is_set() for inf in self.informers)


class SelectedPods:
    """The pods of every SidecarSet's selector; watches start once :meth:`activate` is called
    (the replica is elected) and follow the SidecarSets through :meth:`update`."""

    name = "sidecarset-pods"

    def __init__(
        self, client: KubeClient, namespaces: tuple[str, ...], handler: Handler, index: Index
    ) -> None:
        self.client, self.namespaces, self.handler, self.index = client, namespaces, handler, index
        self.watches: dict[WatchKey, _Watch] = {}
        self.of_set: dict[str, WatchKey | None] = {}
        self.active = False
        self._stopping: set[asyncio.Task[None]] = set()

    def activate(self, sidecarsets: Iterable[Obj]) -> None:
        self.active = True
        self.update(sidecarsets)

    def update(self, sidecarsets: Iterable[Obj]) -> None:
        """Watch what the SidecarSets select now; stop the watches none of them needs any more."""
        if not self.active:
            return
        self.of_set = {ss["metadata"]["name"]: watch_key(ss) for ss in sidecarsets}
        wanted = {k for k in self.of_set.values() if k is not None}
        for key in wanted - self.watches.keys():
            self.watches[key] = self._start(key)
        for key in self.watches.keys() - wanted:
            w = self.watches.pop(key)
            for inf in w.informers:
                task = asyncio.get_running_loop().create_task(inf.stop())
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)

    def _start(self, key: WatchKey) -> _Watch:
        ns, selector = key
        cache = ObjectCache()
        cache.add_index(*self.index)
        spaces: Iterable[str | None] = (ns,) if ns else (self.namespaces or (None,))
        infs = [
            Informer(
                self.client,
                path_for("v1", "pods", space),
                cache,
                name=f"sidecarset-pods{'/' + space if space else ''}?{selector}",
                namespace=space,
                label_selector=selector or None,
            )
            for space in spaces
        ]
        for inf in infs:
            inf.add_handler(self.handler)
            inf.start()
        log.info("sidecarset pods: watching %s%s", selector or "every pod", f" in {ns}" if ns else "")
        return _Watch(infs, cache)

    def pods(self, sidecarset: str) -> list[Obj] | None:
        """The pods the index gives for the SidecarSet's name; None while its watch has not
        listed yet."""
        key = self.of_set.get(sidecarset)
        if key is None:
            return [] if self.active and sidecarset in self.of_set else None
        w = self.watches.get(key)
        if w is None or not w.synced:
            return None
        return w.cache.by_index(self.index[0], sidecarset)

    def get(self, namespace: str | None, name: str) -> Obj | None:
        for w in self.watches.values():
            if (pod := w.cache.get(namespace, name)) is not None:
                return pod
        return None

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        for w in self.watches.values():
            for inf in w.informers:
                await inf.stop()
        for task in list(self._stopping):
            with contextlib.suppress(asyncio.CancelledError):
                await task


class ActivateOnLead:
    """The SidecarSet controller's gate in sharded mode: leading, and its pod watches started."""

    def __init__(
        self, leader: Callable[[], LeaderGate], activate: Callable[[], None], selected: SelectedPods
    ) -> None:
        self._leader, self._activate, self.selected = leader, activate, selected

    async def wait_leading(self) -> None:
        await self._leader().wait_leading()
        if not self.selected.active:
            self._activate()

    def is_leading(self) -> bool:
        return self.selected.active and self._leader().is_leading()
