"""The admission webhook server: our own aiohttp server on its own thread and event loop.

Why (docs/benchmarks.md, P5): every pod CREATE in the cluster calls the SidecarSet injection
webhook, so its latency is added to every pod creation. Served by kopf on the operator's one
event loop, a request paid for kopf's admission machinery (a sync handler run in a thread pool,
a deep copy and a full JSON diff of the pod to build the patch) and waited behind whatever the
controllers were doing on that loop (under a burst of creates, the SidecarSet controller handles
an event per new pod). Here the hot path -- pod injection -- is answered on a separate loop with
a patch of the parts that changed; the other webhooks (defaulting and validation of our own kinds,
rare) are handed to kopf's handler on the main loop, unchanged.

It duck-types kopf's webhook-server protocol (``async for config in server(fn)``) and takes its
listen address and certificate files from a configured ``kopf.WebhookServer`` (read, not imported:
kopf stays inside operator.py). The certificate files are re-read when they change, as kopf does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# kopf's WebhookFn: (AdmissionReview, webhook=id, headers=..., sslpeer=...) -> AdmissionReview
KopfFn = Callable[..., Awaitable[Obj]]
# A fast handler: the object as it should be stored, or None for "no change"; raises Rejected.
FastFn = Callable[[Obj], Obj | None]
# A review handler: the whole answer to a review (the CRD conversion webhook's ConversionReview).
ReviewFn = Callable[[Obj], Obj]


class Rejected(Exception):
    """An admission answer "not allowed" with an HTTP-like code (not a webhook failure)."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


def json_patch(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "", depth: int = 1) -> list[Obj]:
    """RFC 6902 ops turning ``old`` into ``new`` at the top level and ``depth`` levels down
    (metadata, spec): cheap to build and exact, since each changed member is replaced whole."""
    ops: list[Obj] = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}/{_escape(key)}"
        if key not in new:
            ops.append({"op": "remove", "path": path})
        elif key not in old:
            ops.append({"op": "add", "path": path, "value": new[key]})
        elif old[key] != new[key]:
            a, b = old[key], new[key]
            if depth > 0 and isinstance(a, dict) and isinstance(b, dict):
                ops.extend(json_patch(a, b, path, depth - 1))
            else:
                ops.append({"op": "replace", "path": path, "value": b})
    return ops


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def review_response(review: Mapping[str, Any], fast: FastFn) -> Obj:
    """The AdmissionReview answer of a fast handler (allowed, with a JSONPatch if it changed the object)."""
    req = review.get("request") or {}
    resp: Obj = {"uid": req.get("uid", ""), "allowed": True}
    obj = req.get("object")
    try:
        new = fast(obj) if isinstance(obj, dict) else None
    except Rejected as e:
        resp = {"uid": resp["uid"], "allowed": False, "status": {"code": e.code, "message": str(e)}}
    else:
        if new is not None and isinstance(obj, dict):
            ops = json_patch(obj, new)
            if ops:
                resp["patchType"] = "JSONPatch"
                resp["patch"] = base64.b64encode(json.dumps(ops, separators=(",", ":")).encode()).decode()
    return {
        "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
        "kind": "AdmissionReview",
        "response": resp,
    }


class AdmissionServer:
    """Serves every webhook path; ``fast`` ids on this server's thread, the rest through kopf's fn."""

    def __init__(
        self, base: Any, fast: Mapping[str, FastFn], reviews: Mapping[str, ReviewFn] | None = None
    ) -> None:
        # ``base``: a configured kopf.WebhookServer (addr, port, host, certfile, pkeyfile, ...).
        self.addr: str | None = getattr(base, "addr", None)
        self.port: int = int(getattr(base, "port", None) or 9443)
        self.host: str | None = getattr(base, "host", None)
        self.certfile = Path(base.certfile) if getattr(base, "certfile", None) else None
        self.pkeyfile = Path(base.pkeyfile) if getattr(base, "pkeyfile", None) else None
        self.file_check_interval = float(getattr(base, "file_check_interval", 60.0) or 60.0)
        self.fast = dict(fast)
        # Answered whole on this thread too: pure, and the apiserver calls the conversion webhook
        # for every object it reads in another version than the stored one.
        self.reviews = dict(reviews or {})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._error: Exception | None = None

    # -- kopf's server protocol ------------------------------------------------------------------
    async def __call__(self, fn: KopfFn) -> AsyncIterator[Obj]:
        main = asyncio.get_running_loop()
        ctx = self._ssl()
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(fn, main, ctx, started), daemon=True, name="admission-server"
        )
        self._thread.start()
        try:
            await main.run_in_executor(None, started.wait)
            if self._error is not None:
                raise self._error
            scheme = "https" if ctx else "http"
            yield {"url": f"{scheme}://{self.host or self.addr or 'localhost'}:{self.port}"}
            mtimes = self._mtimes()
            while True:
                await asyncio.sleep(self.file_check_interval)
                if ctx is not None and (m := self._mtimes()) != mtimes:
                    mtimes = m
                    # New handshakes use the new pair; open connections keep theirs.
                    with contextlib.suppress(OSError, ssl.SSLError):
                        ctx.load_cert_chain(str(self.certfile), str(self.pkeyfile or self.certfile))
                        log.info("webhook certificate reloaded from %s", self.certfile)
        finally:
            if self._loop is not None and self._stop is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    self._loop.call_soon_threadsafe(self._stop.set)
            await main.run_in_executor(None, self._thread.join, 10)

    # -- the server thread ---------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext | None:
        if not self.certfile:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.certfile), str(self.pkeyfile or self.certfile))
        return ctx

    def _mtimes(self) -> tuple[float, ...]:
        out = []
        for p in (self.certfile, self.pkeyfile):
            try:
                out.append(p.stat().st_mtime if p else 0.0)
            except OSError:
                out.append(0.0)
        return tuple(out)

    def _run(
        self,
        fn: KopfFn,
        main: asyncio.AbstractEventLoop,
        ctx: ssl.SSLContext | None,
        started: threading.Event,
    ) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(fn, main, ctx, started))
        finally:
            started.set()
            loop.close()

    async def _serve(
        self,
        fn: KopfFn,
        main: asyncio.AbstractEventLoop,
        ctx: ssl.SSLContext | None,
        started: threading.Event,
    ) -> None:
        async def on_main(review: Obj, hook: str, headers: dict[str, str]) -> Obj:
            return await fn(review, webhook=hook, headers=headers, sslpeer=None)

        async def handle(request: web.Request) -> web.Response:
            hook = request.match_info.get("id", "")
            try:
                review = orjson.loads(await request.read())
            except ValueError as e:
                return web.json_response({"error": f"not JSON: {e}"}, status=400)
            fast = self.fast.get(hook)
            whole = self.reviews.get(hook)
            try:
                if whole is not None:
                    body = whole(review)
                elif fast is not None:
                    body = review_response(review, fast)
                else:
                    fut = asyncio.run_coroutine_threadsafe(on_main(review, hook, dict(request.headers)), main)
                    body = await asyncio.wrap_future(fut)
            except Exception as e:  # a webhook failure: the configuration's failurePolicy decides
                log.exception("admission webhook %s failed", hook)
                return web.json_response({"error": str(e)}, status=500)
            return web.Response(
                body=json.dumps(body, separators=(",", ":")).encode(), content_type="application/json"
            )

        self._stop = asyncio.Event()
        app = web.Application()
        app.add_routes([web.post("/{id:.*}", handle)])
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.addr or None, self.port, ssl_context=ctx, reuse_address=True)
            await site.start()
        except Exception as e:
            self._error = e
            await runner.cleanup()
            return
        started.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
