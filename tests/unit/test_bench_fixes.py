"""Performance fixes found by the benchmarks (docs/benchmarks.md): behaviour, not speed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from kruise_py.runtime.cache import ObjectCache
from kruise_py.runtime.informer import Informer


def _pod(name: str, rv: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "n",
            "resourceVersion": rv,
            "labels": {"a": "b"},
            "managedFields": [{"manager": "kubelet", "operation": "Update"}],
        },
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }


class FakeClient:
    def __init__(self) -> None:
        self.transformed = 0

    async def list_all(
        self, path: str, limit: int = 500, transform: Any = None, **params: Any
    ) -> tuple[list[Any], str]:
        items = [_pod("a", "1"), _pod("b", "2")]
        for i in items:
            if transform is not None:
                transform(i)
                self.transformed += 1
        return items, "2"

    async def watch(self, path: str, rv: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        yield {"type": "MODIFIED", "object": _pod("a", "3")}
        yield {"type": "ADDED", "object": _pod("c", "4")}


def test_informer_caches_objects_without_managed_fields() -> None:
    async def go() -> ObjectCache:
        client = FakeClient()
        cache = ObjectCache()
        inf = Informer(client, "/api/v1/pods", cache)  # type: ignore[arg-type]
        seen: list[Any] = []
        inf.add_handler(lambda etype, old, new: seen.append(new))
        await inf.relist()
        assert client.transformed == 2  # slimmed page by page, as the list arrives
        await inf._watch_once()
        assert all("managedFields" not in o["metadata"] for o in seen if o)
        return cache

    cache = asyncio.run(go())
    assert sorted(o["metadata"]["name"] for o in cache.list()) == ["a", "b", "c"]
    for o in cache.list():
        assert "managedFields" not in o["metadata"]
        assert o["metadata"]["labels"] == {"a": "b"} and o["spec"]["containers"]  # the rest is untouched
    assert cache.get("n", "a")["metadata"]["resourceVersion"] == "3"
