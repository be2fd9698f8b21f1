"""The SidecarSet injector the pod-creation webhook calls: it answers from memory only
(SidecarSets, namespace labels and the SidecarSets' ControllerRevisions come from informers), so
admission costs no API call (issue 5). The decisions are in ``inject``; this reads the caches."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ...api import sidecarset as scs
from ...runtime.cache import ObjectCache
from ...runtime.manager import Manager, Resource
from . import inject

log = logging.getLogger(__name__)
Obj = dict[str, Any]

SIDECARSETS = Resource(scs.API_VERSION, "sidecarsets", namespaced=False)
NAMESPACES = Resource("v1", "namespaces", namespaced=False)
# SidecarSet revisions live in the operator's namespace and carry this label (spec §9 P26).
REVISIONS = Resource("apps/v1", "controllerrevisions", label_selector="kruise.io/sidecarset-name")
# Upgrades look at every injected pod; the injected-list annotation is not selectable server-side.


class NotReady(Exception):
    """The caches are not loaded yet: answering now could admit a pod without its sidecars."""


class SidecarSetInjector:
    name = "sidecarset-injector"

    def __init__(
        self, manager: Manager, revision_namespace: str, *, sort_sidecars_by_name: bool = False
    ) -> None:
        self.manager = manager
        # SidecarSets are cluster-scoped: their ControllerRevisions live here (spec §9 P26).
        self.revision_namespace = revision_namespace
        # OpenKruise's gate EnableSortSidecarContainerByName (alpha, default off).
        self.sort_sidecars_by_name = sort_sidecars_by_name
        self.sidecarsets: ObjectCache = manager.cache(SIDECARSETS)
        self.namespaces: ObjectCache = manager.cache(NAMESPACES)
        self.revisions: ObjectCache = manager.cache(REVISIONS)

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = self.namespaces.get(None, namespace)
        labels = dict(((ns or {}).get("metadata") or {}).get("labels") or {})
        # Every namespace carries its name as a label (since 1.22); keep selectors on it working
        # even for a namespace our cache has not seen yet.
        labels.setdefault("kubernetes.io/metadata.name", namespace)
        return labels

    def inject(self, pod: Obj, now: datetime | None = None) -> Obj | None:
        """The pod with every matching SidecarSet injected, or None when nothing applies."""
        if self.manager.readiness() is not True:
            raise NotReady("kruise-py is starting: SidecarSet caches are not loaded yet")
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        matched = inject.matching_sidecarsets(pod, self.namespace_labels(namespace), self.sidecarsets.list())
        if not matched:
            return None
        revisions = {r["metadata"]["name"]: r for r in self.revisions.list(self.revision_namespace)}
        result = inject.inject(
            pod,
            matched,
            now or datetime.now(UTC),
            revisions=revisions,
            sort_by_name=self.sort_sidecars_by_name,
        )
        if result.changed:
            log.debug(
                "injected %s into pod %s/%s",
                result.injected,
                namespace,
                (pod.get("metadata") or {}).get("name") or (pod.get("metadata") or {}).get("generateName"),
            )
        return result.pod if result.changed else None
