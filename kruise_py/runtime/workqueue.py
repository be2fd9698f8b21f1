"""A deduplicating, rate-limited, delaying work queue with client-go's semantics, on asyncio.

Semantics (client-go ``workqueue.Type`` + ``DelayingInterface`` + ``RateLimitingInterface``):

- A key is queued at most once: adding a key that is already waiting is a no-op (dedup).
- A key is never handed to two workers at once: a key added while it is being processed is
  remembered ("dirty") and queued again when the worker calls :meth:`WorkQueue.done`, so it
  runs exactly once more after the current run.
- :meth:`WorkQueue.add_after` keeps only the earliest pending time per key.
- :meth:`WorkQueue.add_rate_limited` waits a per-key exponential backoff (5 ms doubling up to
  1000 s, client-go's ``ItemExponentialFailureRateLimiter``); :meth:`WorkQueue.forget` resets it.

One deliberate difference: after :meth:`WorkQueue.shutdown`, :meth:`WorkQueue.get` raises
:class:`ShutDown` at once instead of draining what is still queued. Our controllers are
level-triggered and resync on start, so a stopping operator only needs to finish in-flight work.

Every operation is O(1) except timed adds, which are O(log n) in the event loop's timer heap.
All methods must be called from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

K = TypeVar("K", bound=Hashable)

_LABELS = ["name", "controller"]
# controller-runtime's buckets: ExponentialBuckets(10e-9, 10, 12), i.e. 10 ns .. 1000 s.
_BUCKETS = tuple(10e-9 * 10**i for i in range(12))

DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", _LABELS)
ADDS = Counter("workqueue_adds", "Total number of adds handled by workqueue", _LABELS)
QUEUE_LATENCY = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    _LABELS,
    buckets=_BUCKETS,
)
WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes.",
    _LABELS,
    buckets=_BUCKETS,
)
UNFINISHED = Gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads.",
    _LABELS,
)
LONGEST = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    _LABELS,
)
RETRIES = Counter("workqueue_retries", "Total number of retries handled by workqueue", _LABELS)


class ShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down."""


class ExponentialBackoff(Generic[K]):
    """Per-key exponential backoff: ``base * 2**failures``, capped at ``cap`` seconds."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base, self.cap = base, cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """The delay for this failure of ``key``, and count the failure."""
        exp = self._failures.get(key, 0)
        self._failures[key] = exp + 1
        # Past 2**62 the delay is far above any sane cap; also keeps the float from overflowing.
        if exp > 62:
            return self.cap
        return min(self.cap, self.base * 2.0**exp)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)


class WorkQueue(Generic[K]):
    """client-go's rate-limiting work queue for asyncio. See the module docstring."""

    def __init__(self, name: str, *, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.name = name
        self.limiter: ExponentialBackoff[K] = ExponentialBackoff(base_delay, max_delay)
        self._queue: deque[K] = deque()
        # Keys that need processing: those in _queue plus those re-added while processing.
        self._dirty: set[K] = set()
        # Key -> monotonic start time of its current processing.
        self._processing: dict[K, float] = {}
        # Key -> monotonic time it became dirty (for queue latency).
        self._added_at: dict[K, float] = {}
        # Key -> (loop time it is due, timer handle): one pending timed add per key.
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False

        self._depth = DEPTH.labels(name, name)
        self._adds = ADDS.labels(name, name)
        self._latency = QUEUE_LATENCY.labels(name, name)
        self._work = WORK_DURATION.labels(name, name)
        self._retries = RETRIES.labels(name, name)
        # Computed on scrape, so no background loop is needed (client-go polls every 500 ms).
        UNFINISHED.labels(name, name).set_function(self._unfinished_seconds)
        LONGEST.labels(name, name).set_function(self._longest_seconds)

    # -- the basic queue -------------------------------------------------------------------
    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already waiting; if it is being processed, run it once more after."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._adds.inc()
        self._depth.inc()
        self._added_at.setdefault(key, time.monotonic())
        if key in self._processing:
            return
        self._queue.append(key)
        self._wake_one()

    async def get(self) -> K:
        """The next key, waiting for one; the caller must call :meth:`done` with it afterwards."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.cancelled():
                    # Removal is O(getters), but only on cancellation (i.e. when stopping).
                    with contextlib.suppress(ValueError):
                        self._getters.remove(fut)
                else:
                    # We were woken but will not take the key: pass the wake-up on.
                    self._wake_one()
                raise
        if self._shutting_down:
            raise ShutDown(self.name)
        key = self._queue.popleft()
        self._dirty.discard(key)
        now = time.monotonic()
        self._processing[key] = now
        self._depth.dec()
        added = self._added_at.pop(key, None)
        if added is not None:
            self._latency.observe(now - added)
        return key

    def done(self, key: K) -> None:
        """Mark ``key`` as processed; if it was re-added meanwhile, queue it again."""
        started = self._processing.pop(key, None)
        if started is None:
            return
        self._work.observe(time.monotonic() - started)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._wake_one()

    def shutdown(self) -> None:
        """Stop handing out keys: waiting and future :meth:`get` calls raise :class:`ShutDown`.

        Queued and delayed keys are dropped; keys being processed may still be marked done.
        """
        if self._shutting_down:
            return
        self._shutting_down = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._depth.dec(len(self._dirty))
        self._queue.clear()
        self._dirty.clear()
        self._added_at.clear()
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys ready to be handed out (not counting delayed or in-process ones)."""
        return len(self._queue)

    @property
    def processing(self) -> int:
        """Number of keys currently handed out and not yet done."""
        return len(self._processing)

    @property
    def delayed(self) -> int:
        """Number of keys waiting for a timed add."""
        return len(self._timers)

    def is_idle(self) -> bool:
        """Nothing queued, delayed, dirty or in process."""
        return not (self._queue or self._dirty or self._processing or self._timers)

    # -- delaying --------------------------------------------------------------------------
    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds; an earlier pending time for the key wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= due:
                return
            pending[1].cancel()
        self._timers[key] = (due, loop.call_at(due, self._fire, key))

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    # -- rate limiting ---------------------------------------------------------------------
    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after its per-key exponential backoff."""
        if self._shutting_down:
            return
        self._retries.inc()
        self.add_after(key, self.limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff (call after a successful run)."""
        self.limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.limiter.num_requeues(key)

    # -- internals -------------------------------------------------------------------------
    def _wake_one(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _unfinished_seconds(self) -> float:
        now = time.monotonic()
        return sum(now - t for t in self._processing.values())

    def _longest_seconds(self) -> float:
        if not self._processing:
            return 0.0
        return time.monotonic() - min(self._processing.values())
