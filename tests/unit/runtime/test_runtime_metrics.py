from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Counter

from kruise_py.runtime.metrics import MetricsServer
from kruise_py.runtime.workqueue import WorkQueue

from .helpers import unique


async def fetch(server: MetricsServer, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{server.port}{path}") as r:
        return r.status, await r.text()


def test_metrics_health_and_default_readiness() -> None:
    async def main() -> None:
        q: WorkQueue[str] = WorkQueue(unique("served"))
        q.add("k")
        server = MetricsServer("127.0.0.1", 0)
        await server.start()
        try:
            assert server.port != 0
            status, body = await fetch(server, "/metrics")
            assert status == 200
            assert f'workqueue_depth{{controller="{q.name}",name="{q.name}"}} 1.0' in body
            assert "process_resident_memory_bytes" in body  # the default registry's process collector
            assert f'workqueue_adds_total{{controller="{q.name}",name="{q.name}"}} 1.0' in body
            assert "_created{" not in body and "_created " not in body, "no *_created series"
            assert await fetch(server, "/healthz") == (200, "ok")
            assert await fetch(server, "/readyz") == (200, "ok")
        finally:
            await server.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            await fetch(server, "/healthz")

    asyncio.run(main())


def test_custom_registry() -> None:
    async def main() -> None:
        registry = CollectorRegistry()
        Counter("only_here", "A counter in a private registry", registry=registry).inc(3)
        server = MetricsServer("127.0.0.1", 0, registry=registry)
        await server.start()
        try:
            status, body = await fetch(server, "/metrics")
            assert status == 200
            assert "only_here_total 3.0" in body
            assert "workqueue_depth" not in body
            # As controller-runtime: no `*_created` series for counters (or histograms).
            assert "_created" not in body, body
        finally:
            await server.stop()

    asyncio.run(main())


def _boom() -> bool:
    raise RuntimeError("check exploded")


@pytest.mark.parametrize(
    ("readiness", "expected"),
    [
        (lambda: True, (200, "ok")),
        (lambda: False, (503, "not ready")),
        (lambda: "caches not synced", (503, "caches not synced")),
        (lambda: "", (503, "not ready")),
        (_boom, (503, "readiness check failed: RuntimeError('check exploded')")),
    ],
)
def test_readiness(readiness: Callable[[], bool | str], expected: tuple[int, str]) -> None:
    async def main() -> None:
        server = MetricsServer("127.0.0.1", 0, readiness=readiness)
        await server.start()
        try:
            assert await fetch(server, "/readyz") == expected
            assert await fetch(server, "/healthz") == (200, "ok")  # liveness is independent
        finally:
            await server.stop()

    asyncio.run(main())


def test_readiness_changes_over_time() -> None:
    async def main() -> None:
        state: dict[str, bool | str] = {"ready": "starting"}
        server = MetricsServer("127.0.0.1", 0, readiness=lambda: state["ready"])
        await server.start()
        try:
            assert await fetch(server, "/readyz") == (503, "starting")
            state["ready"] = True
            assert await fetch(server, "/readyz") == (200, "ok")
        finally:
            await server.stop()

    asyncio.run(main())
