"""The informer against the real apiserver: initial sync, watch events, and relist semantics."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kruise_py.runtime.cache import ObjectCache
from kruise_py.runtime.client import KubeClient, path_for
from kruise_py.runtime.informer import Informer

from .conftest import Kubectl


def test_sync_watch_and_relist_drop_ghosts(kubeconfig: Path, kubectl: Kubectl, ns: str) -> None:
    for i in range(3):
        kubectl("create", "configmap", f"cm-{i}", "-n", ns, f"--from-literal=i={i}")

    async def scenario() -> None:
        client = KubeClient.connect(str(kubeconfig))
        cache = ObjectCache()
        seen: list[tuple[str, str]] = []
        inf = Informer(client, path_for("v1", "configmaps", ns), cache, page_size=2)  # forces pagination
        inf.add_handler(lambda t, old, new: seen.append((t, (new or old or {})["metadata"]["name"])))
        inf.start()
        await asyncio.wait_for(inf.synced.wait(), 30)
        names = {o["metadata"]["name"] for o in cache.list(ns)}
        assert {"cm-0", "cm-1", "cm-2"} <= names

        # Watch: a create and a delete arrive as events.
        await asyncio.to_thread(kubectl, "create", "configmap", "cm-3", "-n", ns)
        await asyncio.to_thread(kubectl, "delete", "configmap", "cm-0", "-n", ns)
        for _ in range(100):
            if ("DELETED", "cm-0") in seen and cache.get(ns, "cm-3"):
                break
            await asyncio.sleep(0.1)
        assert ("ADDED", "cm-3") in seen and ("DELETED", "cm-0") in seen
        assert cache.get(ns, "cm-0") is None

        # Stop watching, delete behind its back, relist: the vanished object must not stay a ghost.
        await inf.stop()
        await asyncio.to_thread(kubectl, "delete", "configmap", "cm-1", "-n", ns)
        seen.clear()
        await inf.relist()
        assert cache.get(ns, "cm-1") is None
        assert ("DELETED", "cm-1") in seen
        # Unchanged objects are not re-announced on relist.
        assert ("MODIFIED", "cm-2") not in seen and ("ADDED", "cm-2") not in seen
        await client.close()

    asyncio.run(scenario())


def test_per_namespace_informers_share_a_cache_safely(kubeconfig: Path, kubectl: Kubectl) -> None:
    import uuid

    a, b = f"inf-a-{uuid.uuid4().hex[:5]}", f"inf-b-{uuid.uuid4().hex[:5]}"
    for n in (a, b):
        kubectl("create", "namespace", n)
        kubectl("create", "configmap", "only", "-n", n)

    async def scenario() -> None:
        client = KubeClient.connect(str(kubeconfig))
        cache = ObjectCache()
        infs = [Informer(client, path_for("v1", "configmaps", n), cache, namespace=n) for n in (a, b)]
        for inf in infs:
            await inf.relist()
        await infs[0].relist()  # relisting a must not drop b's objects
        assert cache.get(b, "only") is not None and cache.get(a, "only") is not None
        # Listed items carry kind/apiVersion like watched ones.
        assert cache.get(a, "only")["kind"] == "ConfigMap"  # type: ignore[index]
        await client.close()

    try:
        asyncio.run(scenario())
    finally:
        kubectl.run("delete", "namespace", a, b, "--wait=false", check=False)
