"""Small helpers for the runtime tests (pytest-asyncio is deliberately not a dependency)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from prometheus_client import REGISTRY

_ids = itertools.count()


def unique(prefix: str) -> str:
    """A controller/queue name no other test uses, so metric samples do not mix."""
    return f"{prefix}-{next(_ids)}"


def sample(metric: str, /, **labels: str) -> float:
    """A sample's value from the default registry (0 when it does not exist yet)."""
    value = REGISTRY.get_sample_value(metric, labels)
    return 0.0 if value is None else value


async def until(cond: Callable[[], bool], limit: float = 5.0) -> None:
    """Wait until ``cond()`` is true; fail the test after a generous ``limit`` in seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {limit}s")
        await asyncio.sleep(0.001)
