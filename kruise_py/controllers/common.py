"""Small pieces the reconcilers share (I/O side; the pure decisions live in each plan.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..runtime.cache import ObjectCache

# Expectation keys for a controller's own objects (its pods are keyed "ns/name").
OWN_PREFIX = "self:"


def own_key(obj: Mapping[str, Any]) -> str:
    md = obj.get("metadata") or {}
    return f"{OWN_PREFIX}{md.get('namespace')}/{md.get('name')}"


def rv_lookup(pods: ObjectCache, owners: ObjectCache | None = None) -> Callable[[str], str | None]:
    """Expectations' view of the cache: the resourceVersion held for a pod key ``ns/name``, or for
    an owner key from :func:`own_key`."""

    def lookup(key: str) -> str | None:
        cache = pods
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
