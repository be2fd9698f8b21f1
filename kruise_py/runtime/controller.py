"""A level-triggered controller: N asyncio workers pulling keys from a :class:`WorkQueue`.

Mirrors controller-runtime's ``reconcileHandler``: an exception requeues the key with per-key
backoff, ``Result(requeue_after=...)`` requeues after that delay (resetting the backoff),
``Result(requeue=True)`` requeues with backoff, anything else forgets the key's backoff. One
failing object is logged and retried; it never stops the workers or the other keys.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from kruise_py.runtime.workqueue import ShutDown, WorkQueue

K = TypeVar("K", bound=Hashable)

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile",
    "Total number of reconciliations per controller",
    ["controller", "result"],
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors",
    "Total number of reconciliation errors per controller",
    ["controller"],
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    # controller-runtime's buckets.
    buckets=(
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.15,
        0.2,
        0.25,
        0.3,
        0.35,
        0.4,
        0.45,
        0.5,
        0.6,
        0.7,
        0.8,
        0.9,
        1.0,
        1.25,
        1.5,
        1.75,
        2.0,
        2.5,
        3.0,
        3.5,
        4.0,
        4.5,
        5,
        6,
        7,
        8,
        9,
        10,
        15,
        20,
        25,
        30,
        40,
        50,
        60,
    ),
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ["controller"],
)
MAX_CONCURRENT = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
)
RESULTS = ("success", "error", "requeue", "requeue_after")


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next. ``requeue_after`` wins over ``requeue``."""

    requeue: bool = False
    requeue_after: float | None = None


class LeaderGate(Protocol):
    """Workers only take keys while this says we lead (a Lease elector implements it)."""

    async def wait_leading(self) -> None: ...

    def is_leading(self) -> bool: ...


class AlwaysLeader:
    """The gate for a single replica: always leading."""

    async def wait_leading(self) -> None:
        return None

    def is_leading(self) -> bool:
        return True


class LeaderFlag:
    """A gate flipped by hand (or by an elector): ``set()`` when leading, ``clear()`` when not."""

    def __init__(self, leading: bool = False) -> None:
        self._event = asyncio.Event()
        if leading:
            self._event.set()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait_leading(self) -> None:
        await self._event.wait()

    def is_leading(self) -> bool:
        return self._event.is_set()


Reconcile = Callable[[K], Awaitable[Result | None]]


class Controller(Generic[K]):
    """Runs ``workers`` concurrent reconciles of keys from its queue.

    ``keys`` (optional) lists every key to enqueue each ``resync_period`` seconds (0/None: no
    resync). Feed events in with :meth:`enqueue` / :meth:`enqueue_after`. One-shot: after
    :meth:`stop` its queue is shut down, so make a new Controller to run again.
    """

    def __init__(
        self,
        name: str,
        reconcile: Reconcile[K],
        workers: int = 1,
        resync_period: float | None = None,
        *,
        keys: Callable[[], Iterable[K]] | None = None,
        leader: LeaderGate | None = None,
        queue: WorkQueue[K] | None = None,
        owns: Callable[[K], bool] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.name = name
        self.reconcile = reconcile
        self.workers = workers
        self.resync_period = resync_period
        self.keys = keys
        self.leader: LeaderGate = leader if leader is not None else AlwaysLeader()
        # Not `queue or ...`: an empty queue is falsy (it has __len__).
        self.queue: WorkQueue[K] = queue if queue is not None else WorkQueue(name)
        self.log = logging.getLogger(f"kruise_py.controller.{name}")
        self._tasks: list[asyncio.Task[None]] = []
        self._resync_task: asyncio.Task[None] | None = None
        # Workers inside a reconcile: stop() waits for these and cancels the idle ones.
        self._busy: set[asyncio.Task[None]] = set()
        self._stopping = False
        # Sharding (runtime/sharding.py): keys this replica does not own are dropped when taken;
        # None (no sharding) takes every key, as before.
        self.owns = owns
        self._in_flight: dict[K, int] = {}
        self._finished = asyncio.Condition() if owns is not None else None

        self._total = {r: RECONCILE_TOTAL.labels(name, r) for r in RESULTS}
        self._errors = RECONCILE_ERRORS.labels(name)
        self._time = RECONCILE_TIME.labels(name)
        self._active = ACTIVE_WORKERS.labels(name)

    # -- feeding -----------------------------------------------------------------------------
    def enqueue(self, key: K) -> None:
        self.queue.add(key)

    def enqueue_after(self, key: K, delay: float) -> None:
        self.queue.add_after(key, delay)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return bool(self._tasks) and not self._stopping

    def start(self) -> None:
        """Start the workers (and the resync loop) on the running event loop."""
        if self._tasks:
            return
        MAX_CONCURRENT.labels(self.name).set(self.workers)
        self._active.set(0)
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}") for i in range(self.workers)
        ]
        if self.resync_period and self.keys is not None:
            self._resync_task = asyncio.create_task(self._resync(), name=f"{self.name}-resync")

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking keys, let in-flight reconciles finish (cancel them after ``grace`` seconds)."""
        self._stopping = True
        self.queue.shutdown()
        if self._resync_task is not None:
            self._resync_task.cancel()
        # Idle workers hold no key: cancelling them is safe and wakes those waiting on the gate.
        for t in self._tasks:
            if t not in self._busy:
                t.cancel()
        tasks: list[asyncio.Task[None]] = list(self._tasks)
        if self._resync_task is not None:
            tasks.append(self._resync_task)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for t in pending:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        self._resync_task = None

    # -- internals ---------------------------------------------------------------------------
    async def _worker(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._stopping:
            await self.leader.wait_leading()
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            if not self.leader.is_leading():
                # Lost the lead while waiting: put the key back for whoever leads next.
                self.queue.add(key)
                self.queue.done(key)
                continue
            if self.owns is not None and not self.owns(key):
                # Another replica's: dropped, not put back; whoever owns it enqueues it on start.
                self.queue.forget(key)
                self.queue.done(key)
                continue
            self._busy.add(me)
            try:
                await self._process(key)
            finally:
                self._busy.discard(me)

    async def drain(self, gone: Callable[[K], bool]) -> None:
        """Wait until no reconcile of a key ``gone`` matches is in flight. Call after ``owns``
        stopped answering True for those keys, so none starts meanwhile (sharding's hand-over)."""
        if self._finished is None:
            raise RuntimeError("drain() needs a Controller made with owns=")
        async with self._finished:
            await self._finished.wait_for(lambda: not any(gone(k) for k in self._in_flight))

    async def _process(self, key: K) -> None:
        if self._finished is not None:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            try:
                await self._process_once(key)
            finally:
                self._in_flight[key] -= 1
                if not self._in_flight[key]:
                    del self._in_flight[key]
                async with self._finished:
                    self._finished.notify_all()
            return
        await self._process_once(key)

    async def _process_once(self, key: K) -> None:
        self._active.inc()
        t0 = time.monotonic()
        try:
            result = await self.reconcile(key)
        except Exception:
            self.log.exception("reconcile of %r failed; retrying with backoff", key)
            self._errors.inc()
            self._total["error"].inc()
            self.queue.add_rate_limited(key)
        else:
            if result is not None and result.requeue_after is not None and result.requeue_after > 0:
                self.queue.forget(key)
                self.queue.add_after(key, result.requeue_after)
                self._total["requeue_after"].inc()
            elif result is not None and result.requeue:
                self.queue.add_rate_limited(key)
                self._total["requeue"].inc()
            else:
                self.queue.forget(key)
                self._total["success"].inc()
        finally:
            self._time.observe(time.monotonic() - t0)
            self._active.dec()
            self.queue.done(key)

    async def _resync(self) -> None:
        assert self.resync_period and self.keys is not None
        while True:
            await asyncio.sleep(self.resync_period)
            if not self.leader.is_leading():
                continue
            try:
                keys = list(self.keys())
            except Exception:
                self.log.exception("listing keys for resync failed")
                continue
            for key in keys:
                self.queue.add(key)
            self.log.debug("resync enqueued %d keys", len(keys))
