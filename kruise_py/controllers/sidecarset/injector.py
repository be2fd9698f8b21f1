"""The SidecarSet injector the pod-creation webhook calls: it answers from memory only
(SidecarSets, namespace labels and the SidecarSets' ControllerRevisions come from informers), so
admission costs no API call (issue 5). The decisions are in ``inject``; this reads the caches.

One owner per piece of mutable state (docs/decisions.md, "The injection webhook reads a published
snapshot"): the informer caches belong to the event loop. The webhook is answered on the admission
server's own thread, so it never reads them: the loop builds an :class:`InjectionView` (immutable
containers over the cached objects, which are never modified once cached) whenever one of the three
caches changes, and swaps one reference, :attr:`SidecarSetInjector.view`; the thread reads that
reference once per pod. The SidecarSet controller, on the loop, keeps reading the live caches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol

from ...api import sidecarset as scs
from ...runtime.cache import ObjectCache
from ...runtime.manager import Resource, Runnable
from . import inject

log = logging.getLogger(__name__)
Obj = dict[str, Any]

SIDECARSETS = Resource(scs.API_VERSION, "sidecarsets", namespaced=False)
NAMESPACES = Resource("v1", "namespaces", namespaced=False)
# SidecarSet revisions live in the operator's namespace and carry this label (spec §9 P26).
REVISIONS = Resource("apps/v1", "controllerrevisions", label_selector="kruise.io/sidecarset-name")
# Upgrades look at every injected pod; the injected-list annotation is not selectable server-side.

NAME_LABEL = "kubernetes.io/metadata.name"
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class NotReady(Exception):
    """The caches are not loaded yet: answering now could admit a pod without its sidecars."""


class InjectorHost(Protocol):
    """What the injector needs from the manager (runtime.manager.Manager is one)."""

    def cache(self, res: Resource) -> ObjectCache: ...
    def readiness(self) -> bool | str: ...
    def add(self, runnable: Runnable) -> None: ...


@dataclass(frozen=True, slots=True)
class InjectionView:
    """Everything one pod injection reads, as of one moment of the event loop.

    Immutable containers (a tuple, read-only mappings) over cached objects: a reader on another
    thread sees either this whole view or the next one, never a cache half-way through an update.
    ``generation`` counts publications (0: nothing loaded yet)."""

    generation: int
    loaded: bool
    # Every SidecarSet, by name.
    sidecarsets: tuple[Obj, ...]
    # Namespace name -> its labels, each with the kubernetes.io/metadata.name label set.
    namespace_labels: Mapping[str, Mapping[str, str]]
    # The SidecarSets' ControllerRevisions in the revision namespace, by name.
    revisions: Mapping[str, Obj]

    def labels_of(self, namespace: str) -> Mapping[str, str]:
        """The labels of a namespace; one the view has not seen (yet) still carries its name label,
        which every namespace has since Kubernetes 1.22, so selectors on it keep working."""
        labels = self.namespace_labels.get(namespace)
        return labels if labels is not None else MappingProxyType({NAME_LABEL: namespace})


UNLOADED = InjectionView(0, False, (), _EMPTY, _EMPTY)


# -- building a view (pure) ---------------------------------------------------------------------
def sidecarset_index(sidecarsets: Iterable[Obj]) -> tuple[Obj, ...]:
    return tuple(sorted(sidecarsets, key=lambda s: str(s["metadata"]["name"])))


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def namespace_label_index(namespaces: Iterable[Obj]) -> Mapping[str, Mapping[str, str]]:
    out: dict[str, Mapping[str, str]] = {}
    for ns in namespaces:
        name = str(ns["metadata"]["name"])
        labels = _labels(ns)
        labels.setdefault(NAME_LABEL, name)
        out[name] = MappingProxyType(labels)
    return MappingProxyType(out)


def revision_index(revisions: Iterable[Obj], namespace: str) -> Mapping[str, Obj]:
    return MappingProxyType(
        {
            str(r["metadata"]["name"]): r
            for r in revisions
            if (r.get("metadata") or {}).get("namespace") == namespace
        }
    )


PARTS = frozenset({"sidecarsets", "namespaces", "revisions"})


def next_view(
    old: InjectionView,
    dirty: Iterable[str],
    *,
    sidecarsets: ObjectCache,
    namespaces: ObjectCache,
    revisions: ObjectCache,
    revision_namespace: str,
    loaded: bool,
) -> InjectionView:
    """The view after ``old``: the ``dirty`` parts rebuilt from the caches, the others shared
    (they are immutable). Every part is rebuilt when ``old`` was not loaded."""
    dirty = PARTS if not old.loaded else frozenset(dirty)
    return InjectionView(
        generation=old.generation + 1,
        loaded=loaded,
        sidecarsets=sidecarset_index(sidecarsets.list()) if "sidecarsets" in dirty else old.sidecarsets,
        namespace_labels=(
            namespace_label_index(namespaces.list()) if "namespaces" in dirty else old.namespace_labels
        ),
        revisions=(
            revision_index(revisions.list(revision_namespace), revision_namespace)
            if "revisions" in dirty
            else old.revisions
        ),
    )


# -- answering from a view (pure) ---------------------------------------------------------------
def inject_with(view: InjectionView, pod: Obj, now: datetime, *, sort_by_name: bool = False) -> Obj | None:
    """The pod with every SidecarSet of ``view`` that matches it injected, or None when nothing
    applies. Reads nothing but ``view`` and ``pod``."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    matched = inject.matching_sidecarsets(pod, view.labels_of(namespace), view.sidecarsets)
    if not matched:
        return None
    result = inject.inject(pod, matched, now, revisions=view.revisions, sort_by_name=sort_by_name)
    if result.changed:
        md = pod.get("metadata") or {}
        log.debug(
            "injected %s into pod %s/%s", result.injected, namespace, md.get("name") or md.get("generateName")
        )
    return result.pod if result.changed else None


def _labels_changed(old: Obj | None, new: Obj | None) -> bool:
    return old is None or new is None or _labels(old) != _labels(new)


class SidecarSetInjector:
    """Owns the three caches' :class:`InjectionView`: publishes a new one, on the event loop, at
    most once per loop iteration after one of them changed (pod events touch none of them), and
    the first (loaded) one when the manager's caches are synced (:meth:`start`)."""

    name = "sidecarset-injector"

    def __init__(
        self, manager: InjectorHost, revision_namespace: str, *, sort_sidecars_by_name: bool = False
    ) -> None:
        self.manager = manager
        # SidecarSets are cluster-scoped: their ControllerRevisions live here (spec §9 P26).
        self.revision_namespace = revision_namespace
        # OpenKruise's gate EnableSortSidecarContainerByName (alpha, default off).
        self.sort_sidecars_by_name = sort_sidecars_by_name
        # The live caches: read on the event loop only (the SidecarSet controller, validation).
        self.sidecarsets: ObjectCache = manager.cache(SIDECARSETS)
        self.namespaces: ObjectCache = manager.cache(NAMESPACES)
        self.revisions: ObjectCache = manager.cache(REVISIONS)
        # The only attribute another thread reads: replaced whole, never modified.
        self.view: InjectionView = UNLOADED
        # Owned by the event loop, like the caches.
        self._loaded = False
        self._dirty: set[str] = set()
        self._scheduled = False
        self.sidecarsets.on_change.append(lambda old, new: self._changed("sidecarsets"))
        self.namespaces.on_change.append(self._namespace_changed)
        self.revisions.on_change.append(self._revision_changed)
        manager.add(self)

    # -- the event loop: publishing --------------------------------------------------------------
    def _namespace_changed(self, old: Obj | None, new: Obj | None) -> None:
        if _labels_changed(old, new):  # a namespace's status or annotations do not matter here
            self._changed("namespaces")

    def _revision_changed(self, old: Obj | None, new: Obj | None) -> None:
        if ((new or old or {}).get("metadata") or {}).get("namespace") == self.revision_namespace:
            self._changed("revisions")

    def _changed(self, part: str) -> None:
        self._dirty.add(part)
        if not self._loaded or self._scheduled:
            return  # the first view is built whole at start; a rebuild is already due
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # fed outside a loop (tests): publish now
            self.refresh()
            return
        # Once per loop iteration: a relist applies many objects in one go.
        self._scheduled = True
        loop.call_soon(self.refresh)

    def refresh(self) -> None:
        """Publish a view with the changed parts rebuilt from the caches (on the loop only)."""
        self._scheduled = False
        view = next_view(
            self.view,
            self._dirty,
            sidecarsets=self.sidecarsets,
            namespaces=self.namespaces,
            revisions=self.revisions,
            revision_namespace=self.revision_namespace,
            loaded=self._loaded,
        )
        # Cleared only once built: if building raised, the next change rebuilds these parts too.
        self._dirty = set()
        self.publish(view)

    def publish(self, view: InjectionView) -> None:
        """Make ``view`` the one the webhook reads: one reference assignment, atomic for readers."""
        self.view = view

    # -- Runnable: the manager starts it once every cache is synced -------------------------------
    def start(self) -> None:
        self._loaded = True
        self._dirty.update(PARTS)
        self.refresh()
        log.info(
            "injection view published: %d SidecarSets, %d namespaces, %d revisions",
            len(self.view.sidecarsets),
            len(self.view.namespace_labels),
            len(self.view.revisions),
        )

    async def stop(self) -> None:
        return None

    # -- the event loop: the live caches, for the SidecarSet controller ---------------------------
    def namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = self.namespaces.get(None, namespace)
        labels = dict(((ns or {}).get("metadata") or {}).get("labels") or {})
        # Every namespace carries its name as a label (since 1.22); keep selectors on it working
        # even for a namespace our cache has not seen yet.
        labels.setdefault(NAME_LABEL, namespace)
        return labels

    # -- any thread: the webhook -----------------------------------------------------------------
    def inject(self, pod: Obj, now: datetime | None = None) -> Obj | None:
        """The pod with every matching SidecarSet injected, or None when nothing applies."""
        view = self.view  # read once: the whole answer comes from this one snapshot
        if not view.loaded or self.manager.readiness() is not True:
            raise NotReady("kruise-py is starting: SidecarSet caches are not loaded yet")
        return inject_with(view, pod, now or datetime.now(UTC), sort_by_name=self.sort_sidecars_by_name)
