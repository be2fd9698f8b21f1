"""EventRecorder against a tiny in-process HTTP server that stores Events like the apiserver does.

The real client is used, so paths, verbs and content types are what a real apiserver would get.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from kruise_py.runtime.client import ClientOptions, Credentials, KubeClient
from kruise_py.runtime.events import MAX_MESSAGE, EventRecorder

from .helpers import until


class FakeEvents:
    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content type)
        self.fail_with: int | None = None
        # When set, POSTs wait for it: a slow apiserver, released by the test, not by a timer.
        self.hold: asyncio.Event | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/namespaces/{ns}/events", self.create)
        app.router.add_patch("/api/v1/namespaces/{ns}/events/{name}", self.patch)
        return app

    async def create(self, request: web.Request) -> web.Response:
        self.requests.append(("POST", request.path, request.content_type))
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_with:
            return web.json_response({"reason": "InternalError", "message": "nope"}, status=self.fail_with)
        body = await request.json()
        ns = request.match_info["ns"]
        assert body["metadata"]["namespace"] == ns
        self.events[(ns, body["metadata"]["name"])] = body
        return web.json_response(body, status=201)

    async def patch(self, request: web.Request) -> web.Response:
        self.requests.append(("PATCH", request.path, request.content_type))
        key = (request.match_info["ns"], request.match_info["name"])
        if key not in self.events:
            return web.json_response({"reason": "NotFound", "message": "gone"}, status=404)
        self.events[key].update(json.loads(await request.read()))
        return web.json_response(self.events[key])


@asynccontextmanager
async def recorder() -> AsyncIterator[tuple[EventRecorder, FakeEvents]]:
    fake = FakeEvents()
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = KubeClient(Credentials(server=f"http://127.0.0.1:{port}"), ClientOptions(qps=0, max_retries=0))
    try:
        yield EventRecorder(client, component="kruise-py", host="test-host", cache_size=2), fake
    finally:
        await client.close()
        await runner.cleanup()


def sts(name: str = "web", ns: str | None = "demo", uid: str = "uid-1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid, "resourceVersion": "42"}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "metadata": meta}


def test_creates_an_event_with_involved_object() -> None:
    async def main() -> None:
        async with recorder() as (rec, fake):
            await rec.normal(sts(), "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful")
            assert len(fake.events) == 1
            (ns, name), ev = next(iter(fake.events.items()))
            assert ns == "demo" and name.startswith("web.")
            assert ev["type"] == "Normal"
            assert ev["reason"] == "SuccessfulCreate"
            assert ev["count"] == 1
            assert ev["firstTimestamp"] == ev["lastTimestamp"]
            assert ev["involvedObject"] == {
                "apiVersion": "apps.kruise.io/v1beta1",
                "kind": "StatefulSet",
                "namespace": "demo",
                "name": "web",
                "uid": "uid-1",
                "resourceVersion": "42",
            }
            assert ev["source"] == {"component": "kruise-py", "host": "test-host"}

    asyncio.run(main())


def test_identical_events_are_aggregated_by_patch() -> None:
    async def main() -> None:
        async with recorder() as (rec, fake):
            for _ in range(3):
                await rec.warning(sts(), "FailedCreate", "quota exceeded")
            assert len(fake.events) == 1
            ev = next(iter(fake.events.values()))
            assert ev["count"] == 3
            assert [r[0] for r in fake.requests] == ["POST", "PATCH", "PATCH"]
            assert fake.requests[1][2] == "application/merge-patch+json"
            # A different message, reason or object is a new Event.
            await rec.warning(sts(), "FailedCreate", "other message")
            await rec.warning(sts(uid="uid-2", name="db"), "FailedCreate", "quota exceeded")
            assert len(fake.events) == 3

    asyncio.run(main())


def test_concurrent_identical_events_create_one_event() -> None:
    async def main() -> None:
        async with recorder() as (rec, fake):
            fake.hold = asyncio.Event()
            calls = asyncio.gather(*(rec.normal(sts(), "Scaled", "up to 3") for _ in range(4)))
            # The first POST is at the apiserver: the other three calls have started meanwhile.
            await until(lambda: len(fake.requests) >= 1)
            fake.hold.set()
            await calls
            assert len(fake.events) == 1
            assert next(iter(fake.events.values()))["count"] == 4

    asyncio.run(main())


def test_expired_event_is_recreated() -> None:
    async def main() -> None:
        async with recorder() as (rec, fake):
            await rec.normal(sts(), "Scaled", "up")
            fake.events.clear()  # the apiserver's event TTL ran out
            await rec.normal(sts(), "Scaled", "up")
            assert len(fake.events) == 1
            assert next(iter(fake.events.values()))["count"] == 1
            assert [r[0] for r in fake.requests] == ["POST", "PATCH", "POST"]

    asyncio.run(main())


def test_lru_forgets_old_events() -> None:
    async def main() -> None:
        async with recorder() as (rec, fake):  # cache_size=2
            await rec.normal(sts(), "R", "m1")
            await rec.normal(sts(), "R", "m2")
            await rec.normal(sts(), "R", "m3")  # evicts m1
            await rec.normal(sts(), "R", "m1")  # so this is a new Event
            assert len(fake.events) == 4
            await rec.normal(sts(), "R", "m3")  # still remembered: aggregated
            assert len(fake.events) == 4

    asyncio.run(main())


def test_cluster_scoped_object_events_go_to_default() -> None:
    async def main() -> None:
        async with recorder() as (rec, fake):
            obj = {
                "apiVersion": "apps.kruise.io/v1alpha1",
                "kind": "SidecarSet",
                "metadata": {"name": "sc", "uid": "u"},
            }
            await rec.normal(obj, "Injected", "ok")
            (ns, _), ev = next(iter(fake.events.items()))
            assert ns == "default"
            assert "namespace" not in ev["involvedObject"]

    asyncio.run(main())


def test_long_messages_are_truncated() -> None:
    async def main() -> None:
        async with recorder() as (rec, fake):
            await rec.normal(sts(), "R", "x" * 5000)
            assert len(next(iter(fake.events.values()))["message"]) == MAX_MESSAGE

    asyncio.run(main())


def test_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with recorder() as (rec, fake):
            fake.fail_with = 500
            with caplog.at_level(logging.WARNING):
                await rec.warning(sts(), "FailedCreate", "x")
            assert "dropping event" in caplog.text
            assert fake.events == {}
            # A broken object does not raise either.
            await rec.normal({"metadata": None}, "R", "m")
            fake.fail_with = None
            await rec.warning(sts(), "FailedCreate", "x")  # recovers
            assert len(fake.events) == 1

    asyncio.run(main())


def test_emit_is_fire_and_forget() -> None:
    async def main() -> None:
        async with recorder() as (rec, fake):
            rec.emit(sts(), "Normal", "A", "a")
            rec.emit(sts(), "Normal", "B", "b")
            assert fake.events == {}
            await rec.flush()
            assert sorted(e["reason"] for e in fake.events.values()) == ["A", "B"]

    asyncio.run(main())


def test_unreachable_apiserver_does_not_raise() -> None:
    async def main() -> None:
        client = KubeClient(
            Credentials(server="http://127.0.0.1:9"), ClientOptions(qps=0, max_retries=0, timeout=2)
        )
        try:
            await EventRecorder(client).normal(sts(), "R", "m")
        finally:
            await client.close()

    asyncio.run(main())
