"""core/v1 Events about our objects, as client-go's EventRecorder writes them.

- Identical events (same object, type, reason and message) are aggregated like client-go's
  correlator: the first one is created with ``count: 1``, repeats PATCH ``count`` and
  ``lastTimestamp`` of that Event instead of creating new ones. The memory of recent events is a
  small LRU; if the Event has gone (Events expire after an hour) a new one is created.
- Recording never raises: an event is worth less than the reconcile that emits it, so API
  errors are logged and the event dropped.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kruise_py.runtime.client import ApiError, KubeClient, path_for

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
# The apiserver caps an event's note at 1 KiB (events.k8s.io); stay within it for core/v1 too.
MAX_MESSAGE = 1024


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def involved_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ObjectReference of ``obj`` for ``involvedObject``."""
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v}


@dataclass
class _Seen:
    """An Event we created: where it lives and how many times it has been recorded."""

    namespace: str
    name: str | None = None
    count: int = 0
    # Serialises identical events, so two concurrent repeats do not both create an Event.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class EventRecorder:
    """Posts core/v1 Events through :class:`KubeClient`; see the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        component: str = "kruise-py",
        host: str | None = None,
        cache_size: int = 4096,
    ) -> None:
        self.client = client
        self.component = component
        self.host = host if host is not None else socket.gethostname()
        self.cache_size = cache_size
        self._seen: OrderedDict[tuple[Any, ...], _Seen] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    async def event(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """Record an event about ``obj`` (``event_type`` is ``Normal`` or ``Warning``). Never raises."""
        try:
            await self._record(obj, event_type, reason, message[:MAX_MESSAGE])
        except ApiError as e:
            # A namespace being deleted or RBAC without events: the event is lost, nothing else is.
            log.warning("dropping event %s/%s (%s %s): %s", event_type, reason, e.status, e.reason, message)
        except Exception:
            log.exception("dropping event %s/%s: %s", event_type, reason, message)

    async def normal(self, obj: Mapping[str, Any], reason: str, message: str) -> None:
        await self.event(obj, NORMAL, reason, message)

    async def warning(self, obj: Mapping[str, Any], reason: str, message: str) -> None:
        await self.event(obj, WARNING, reason, message)

    def emit(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """Fire-and-forget :meth:`event` (must be called on the event loop); see :meth:`flush`."""
        task = asyncio.get_running_loop().create_task(self.event(obj, event_type, reason, message))
        # Hold a reference: the loop keeps only weak ones to tasks.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait for every event started with :meth:`emit`."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _record(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        ref = involved_object(obj)
        # Cluster-scoped objects get their events in "default", as client-go does.
        namespace = ref.get("namespace") or "default"
        identity = (ref.get("uid"), ref.get("kind"), ref.get("namespace"), ref.get("name"))
        key = (*identity, event_type, reason, message)
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = _Seen(namespace)
            if len(self._seen) > self.cache_size:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(key)

        async with seen.lock:
            now = _now()
            if seen.name is not None:
                try:
                    await self.client.patch(
                        path_for("v1", "events", namespace, seen.name),
                        {"count": seen.count + 1, "lastTimestamp": now},
                    )
                    seen.count += 1
                    return
                except ApiError as e:
                    if not e.not_found:
                        raise
                    # The Event expired: start a new one.
            name = f"{ref.get('name', 'unknown')}.{time.time_ns():x}"
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": ref,
                "type": event_type,
                "reason": reason,
                "message": message,
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": self.component, "host": self.host},
                "reportingComponent": self.component,
                "reportingInstance": self.host,
            }
            await self.client.create(path_for("v1", "events", namespace), body)
            seen.name, seen.count = name, 1
