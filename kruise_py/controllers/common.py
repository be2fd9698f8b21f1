"""Small pieces the reconcilers share (I/O side; the pure decisions live in each plan.py).

Every reconciler has the same steps, under the same names: ``reconcile(key)`` looks the object up
in its cache (gone: ``forget(key)``), passes the expectations gate (:func:`wait_for_cache`),
takes a ``snapshot``, calls its planner's pure ``plan``, ``execute``s the plan and ends with
:func:`requeue`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from ..runtime import sharding as sh
from ..runtime.client import ApiError
from ..runtime.controller import Result
from ..runtime.expectations import Expectations

K = TypeVar("K", bound=Hashable)

# Expectation keys for a controller's own objects (its pods are keyed "ns/name").
OWN_PREFIX = "self:"
# How soon a key whose cache has not shown its last writes yet is looked at again.
CACHE_WAIT_S = 0.5


def wait_for_cache(expectations: Expectations[K], key: K) -> Result | None:
    """The expectations gate before planning: while the cache has not caught up with this key's
    last writes, planning could repeat them, so the key comes back shortly. None: go on."""
    if expectations.satisfied(key):
        return None
    return Result(requeue_after=CACHE_WAIT_S)


def with_shard_label(obj: dict[str, Any], owner: tuple[str, str]) -> dict[str, Any]:
    """``obj`` (a pod about to be created) carrying its owner's shard label, in sharded mode the
    label that keeps it in the owner's replica's watch. A new dict: the original may share its
    labels with a cached template."""
    md = obj.get("metadata") or {}
    return {
        **obj,
        "metadata": {**md, "labels": {**(md.get("labels") or {}), **sh.owner_bucket_label(*owner)}},
    }


def forget_where(
    expectations: Expectations[K], forget: Callable[[K], None], which: Callable[[K], bool], known: Iterable[K]
) -> None:
    """``forget`` every owner (``known`` or with pending expectations) that ``which`` picks.
    Sharding: owners whose bucket moved; their new holder's fresh LIST is the truth, not what the
    old one waited for, and the old one's per-owner metrics must go with them."""
    for owner in {*expectations.owners(), *known}:
        if which(owner):
            forget(owner)


def requeue(after: float | None) -> Result:
    """The end of a round: come back after the plan's timed requeue (readiness, deadlines), if any."""
    return Result(requeue_after=after) if after else Result()


def object_gone(e: ApiError) -> bool:
    """A write failed because the reconciled object or its namespace is gone (or going): the
    round ends without error; the delete event cleans up."""
    return e.not_found or (e.status == 403 and "being terminated" in e.message)


def pod_key(obj: Mapping[str, Any]) -> str:
    """The expectation key of a pod (of any namespaced object): ``ns/name``, as :func:`rv_lookup` reads it."""
    md = obj.get("metadata") or {}
    return f"{md.get('namespace')}/{md.get('name')}"


def own_key(obj: Mapping[str, Any]) -> str:
    md = obj.get("metadata") or {}
    return f"{OWN_PREFIX}{md.get('namespace')}/{md.get('name')}"


class Lookup(Protocol):
    """Where an object is looked up by namespace and name (an ObjectCache, or several)."""

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None: ...


def rv_lookup(pods: Lookup, owners: Lookup | None = None) -> Callable[[str], str | None]:
    """Expectations' view of the cache: the resourceVersion held for a pod key ``ns/name``, or for
    an owner key from :func:`own_key`."""

    def lookup(key: str) -> str | None:
        cache: Lookup = pods
        if owners is not None and key.startswith(OWN_PREFIX):
            cache, key = owners, key[len(OWN_PREFIX) :]
        ns, name = key.split("/", 1)
        obj = cache.get(ns, name)
        return None if obj is None else (obj.get("metadata") or {}).get("resourceVersion")

    return lookup


def owner_key(obj: Mapping[str, Any], kind: str) -> tuple[str, str] | None:
    """(namespace, name) of the apps.kruise.io controller of kind ``kind`` that owns ``obj``."""
    md = obj.get("metadata") or {}
    for ref in md.get("ownerReferences") or []:
        if (
            ref.get("controller")
            and ref.get("kind") == kind
            and str(ref.get("apiVersion", "")).startswith("apps.kruise.io/")
        ):
            return (md.get("namespace", ""), ref["name"])
    return None


async def settle(coros: list[Awaitable[None]]) -> list[BaseException]:
    """Run a wave's writes concurrently, wait for all, and return their errors."""
    if not coros:
        return []
    results = await asyncio.gather(*coros, return_exceptions=True)
    return [r for r in results if isinstance(r, BaseException)]
