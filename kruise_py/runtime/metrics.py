"""The operator's HTTP endpoint for Prometheus and probes: /metrics, /healthz, /readyz.

``readiness()`` returns ``True`` when ready; anything else means not ready, and a string says
why (it becomes the 503 body, e.g. ``"caches not synced"``). Note that a string is *not ready*
even though it is truthy: that lets one callable say both whether and why.
The default registry already carries the process and platform collectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, disable_created_metrics
from prometheus_client.aiohttp import make_aiohttp_handler

log = logging.getLogger(__name__)

# controller-runtime exports no `*_created` series; prometheus_client adds one per counter and
# histogram child, doubling the series count for nothing a dashboard reads. Process-wide, read at
# scrape time, so it holds for every metric whenever it was created.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

Readiness = Callable[[], bool | str]


class MetricsServer:
    """A small aiohttp server; ``port=0`` picks a free port, readable from :attr:`port` after start."""

    def __init__(
        self,
        host: str = "0.0.0.0",
        port: int = 8080,
        registry: CollectorRegistry = REGISTRY,
        readiness: Readiness | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.registry = registry
        self.readiness = readiness
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", make_aiohttp_handler(self.registry))
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.readiness is None:
            return web.Response(text="ok")
        try:
            state = self.readiness()
        except Exception as e:  # a broken check means "not ready", never a 500
            log.exception("readiness check failed")
            state = f"readiness check failed: {e!r}"
        if state is True:
            return web.Response(text="ok")
        reason = state if isinstance(state, str) and state else "not ready"
        return web.Response(status=503, text=reason)

    async def start(self) -> None:
        if self._runner is not None:
            return
        # No access log: Prometheus and kubelet probes would flood it.
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        if self.port == 0:
            self.port = runner.addresses[0][1]
        log.info("metrics and probes on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
