from __future__ import annotations

import asyncio
import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kruise_py.runtime.workqueue import ExponentialBackoff, ShutDown, WorkQueue

from .helpers import sample, unique, until


def wq(**kw: float) -> WorkQueue[str]:
    return WorkQueue(unique("wq"), **kw)


def labels(q: WorkQueue[str]) -> dict[str, str]:
    return {"name": q.name, "controller": q.name}


# -- basic queue semantics ----------------------------------------------------------------------


def test_fifo_and_dedup() -> None:
    async def main() -> None:
        q = wq()
        for k in ["a", "b", "a", "c", "b"]:
            q.add(k)
        assert len(q) == 3
        assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
        assert len(q) == 0

    asyncio.run(main())


def test_readd_while_processing_runs_once_more_after_done() -> None:
    async def main() -> None:
        q = wq()
        q.add("a")
        assert await q.get() == "a"
        q.add("a")
        q.add("a")
        # Not handed out while it is being processed.
        assert len(q) == 0
        q.done("a")
        assert len(q) == 1
        assert await q.get() == "a"
        q.done("a")
        assert q.is_idle()

    asyncio.run(main())


def test_done_without_readd_does_not_requeue() -> None:
    async def main() -> None:
        q = wq()
        q.add("a")
        await q.get()
        q.done("a")
        assert len(q) == 0 and q.processing == 0
        q.done("unknown")  # ignored, like client-go
        assert q.is_idle()

    asyncio.run(main())


def test_get_waits_for_add() -> None:
    async def main() -> None:
        q = wq()
        getter = asyncio.create_task(q.get())
        await asyncio.sleep(0)  # one loop step (not a timed wait): the getter runs up to its wait
        assert not getter.done() and len(q._getters) == 1
        q.add("x")
        assert await asyncio.wait_for(getter, 2) == "x"

    asyncio.run(main())


def test_cancelled_getter_does_not_swallow_a_wakeup() -> None:
    async def main() -> None:
        q = wq()
        g1 = asyncio.create_task(q.get())
        g2 = asyncio.create_task(q.get())
        await asyncio.sleep(0)  # one loop step: both getters run up to their wait
        assert len(q._getters) == 2
        q.add("k")  # wakes g1 ...
        g1.cancel()  # ... which is cancelled before it runs: g2 must get the key
        assert await asyncio.wait_for(g2, 2) == "k"
        with pytest.raises(asyncio.CancelledError):
            await g1

    asyncio.run(main())


def test_cancelled_waiting_getter_is_removed() -> None:
    async def main() -> None:
        q = wq()
        g1 = asyncio.create_task(q.get())
        await asyncio.sleep(0)  # one loop step: g1 waits
        assert len(q._getters) == 1
        g1.cancel()
        with pytest.raises(asyncio.CancelledError):
            await g1
        assert not q._getters
        q.add("k")
        assert await asyncio.wait_for(q.get(), 2) == "k"

    asyncio.run(main())


def test_shutdown() -> None:
    async def main() -> None:
        q = wq()
        waiting = asyncio.create_task(q.get())
        await asyncio.sleep(0)  # one loop step: the getter waits
        assert len(q._getters) == 1
        q.add("busy")
        assert await waiting == "busy"
        waiting = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        assert len(q._getters) == 1
        q.add("queued")  # wakes the getter, which has not run yet when we shut down
        q.add("queued2")
        q.add_after("later", 10)
        q.shutdown()
        assert q.shutting_down
        # No new work after shutdown, even for a getter that was already woken.
        with pytest.raises(ShutDown):
            await waiting
        with pytest.raises(ShutDown):
            await q.get()
        q.add("new")
        q.add_after("new", 0.01)
        q.add_rate_limited("new")
        assert len(q) == 0 and q.delayed == 0
        q.done("busy")  # in-flight work may still finish
        assert q.processing == 0
        assert sample("workqueue_depth", **labels(q)) == 0

    asyncio.run(main())


# -- delaying -----------------------------------------------------------------------------------


def test_add_after_orders_by_due_time() -> None:
    async def main() -> None:
        q = wq()
        q.add_after("late", 0.15)
        q.add_after("early", 0.01)
        assert q.delayed == 2 and len(q) == 0
        first = await asyncio.wait_for(q.get(), 5)
        second = await asyncio.wait_for(q.get(), 5)
        assert (first, second) == ("early", "late")

    asyncio.run(main())


def test_add_after_keeps_earliest_time() -> None:
    async def main() -> None:
        q = wq()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        q.add_after("k", 30)
        q.add_after("k", 0.01)  # earlier: replaces
        q.add_after("k", 60)  # later: ignored
        assert q.delayed == 1
        assert await asyncio.wait_for(q.get(), 5) == "k"
        assert loop.time() - t0 < 5
        assert q.delayed == 0  # the 30 s / 60 s timers are gone, so no second run
        q.done("k")
        assert q.is_idle()

    asyncio.run(main())


def test_add_after_non_positive_is_immediate() -> None:
    async def main() -> None:
        q = wq()
        q.add_after("a", 0)
        q.add_after("b", -1)
        assert len(q) == 2 and q.delayed == 0

    asyncio.run(main())


def test_delayed_add_of_a_key_being_processed_runs_after_done() -> None:
    async def main() -> None:
        q = wq()
        q.add("k")
        await q.get()
        q.add_after("k", 0.01)
        await until(lambda: q.delayed == 0)
        assert len(q) == 0  # dirty, not handed out while processing
        q.done("k")
        assert await asyncio.wait_for(q.get(), 2) == "k"

    asyncio.run(main())


# -- rate limiting ------------------------------------------------------------------------------


def test_exponential_backoff_sequence_and_cap() -> None:
    b: ExponentialBackoff[str] = ExponentialBackoff()
    delays = [b.when("k") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    assert delays[-1] == 1000.0
    assert b.num_requeues("k") == 20
    # Independent per key.
    assert b.when("other") == pytest.approx(0.005)
    b.forget("k")
    assert b.num_requeues("k") == 0
    assert b.when("k") == pytest.approx(0.005)


def test_backoff_does_not_overflow() -> None:
    b: ExponentialBackoff[str] = ExponentialBackoff()
    for _ in range(5000):
        d = b.when("k")
    assert d == 1000.0


def test_add_rate_limited_requeues_with_backoff_and_counts_retries() -> None:
    async def main() -> None:
        q = wq(base_delay=0.001, max_delay=0.01)
        before = sample("workqueue_retries_total", **labels(q))
        q.add_rate_limited("k")
        q.add_rate_limited("k")
        assert q.num_requeues("k") == 2
        assert sample("workqueue_retries_total", **labels(q)) == before + 2
        assert await asyncio.wait_for(q.get(), 2) == "k"
        q.done("k")
        q.forget("k")
        assert q.num_requeues("k") == 0

    asyncio.run(main())


# -- metrics ------------------------------------------------------------------------------------


def test_metrics() -> None:
    async def main() -> None:
        q = wq()
        lb = labels(q)
        q.add("a")
        q.add("a")  # deduplicated: not an add
        q.add("b")
        assert sample("workqueue_adds_total", **lb) == 2
        assert sample("workqueue_depth", **lb) == 2
        await q.get()
        assert sample("workqueue_depth", **lb) == 1
        assert sample("workqueue_queue_duration_seconds_count", **lb) == 1
        q.add("a")  # dirty while processing: counted in depth, like client-go
        assert sample("workqueue_depth", **lb) == 2
        await asyncio.sleep(0.02)  # time passing is what these gauges measure
        assert sample("workqueue_unfinished_work_seconds", **lb) > 0.01
        assert sample("workqueue_longest_running_processor_seconds", **lb) > 0.01
        q.done("a")
        assert sample("workqueue_work_duration_seconds_count", **lb) == 1
        assert sample("workqueue_work_duration_seconds_sum", **lb) > 0.01
        assert sample("workqueue_unfinished_work_seconds", **lb) == 0
        assert sample("workqueue_longest_running_processor_seconds", **lb) == 0
        for _ in range(2):
            q.done(await q.get())
        assert sample("workqueue_depth", **lb) == 0
        assert sample("workqueue_queue_duration_seconds_count", **lb) == 3

    asyncio.run(main())


def test_ten_thousand_keys() -> None:
    async def main() -> None:
        q: WorkQueue[tuple[str, str]] = WorkQueue(unique("big"))
        keys = [("ns", f"obj-{i}") for i in range(10_000)]
        for k in keys + keys:
            q.add(k)
        assert len(q) == 10_000
        got = []
        while len(q):
            k = await q.get()
            got.append(k)
            q.done(k)
        assert got == keys
        for i, k in enumerate(keys):
            q.add_after(k, 100 + i)
        assert q.delayed == 10_000
        q.shutdown()
        assert q.delayed == 0

    asyncio.run(main())


# -- properties ---------------------------------------------------------------------------------

KEYS = st.sampled_from("abcde")
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS),
        st.tuples(st.just("get"), st.just("")),
        st.tuples(st.just("done"), st.integers(0, 10)),
    ),
    max_size=60,
)


@given(OPS)
@settings(max_examples=200, deadline=None)
def test_matches_client_go_model(ops: list[tuple[str, object]]) -> None:
    """Any sequence of add/get/done behaves like client-go's queue (FIFO list, dirty, processing)."""

    async def main() -> None:
        q = wq()
        queue: list[str] = []
        dirty: set[str] = set()
        processing: list[str] = []
        for op, arg in ops:
            if op == "add":
                assert isinstance(arg, str)
                q.add(arg)
                if arg not in dirty:
                    dirty.add(arg)
                    if arg not in processing:
                        queue.append(arg)
            elif op == "get" and queue:
                expected = queue.pop(0)
                dirty.discard(expected)
                processing.append(expected)
                assert await q.get() == expected
            elif op == "done" and processing:
                assert isinstance(arg, int)
                key = processing.pop(arg % len(processing))
                q.done(key)
                if key in dirty:
                    queue.append(key)
            assert len(q) == len(queue)
            assert q.processing == len(processing)
            assert not set(queue) & set(processing)
            assert len(queue) == len(set(queue))

    asyncio.run(main())


@given(
    workers=st.integers(1, 5),
    adds=st.lists(st.tuples(KEYS, st.integers(0, 3)), min_size=1, max_size=40),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_concurrent_workers_invariants(workers: int, adds: list[tuple[str, int]], seed: int) -> None:
    """With workers interleaving arbitrarily with producers:
    - no key is processed by two workers at once;
    - every add is followed by a processing run that starts after it (nothing is lost);
    - a key never runs more often than it was added (dedup)."""
    rnd = random.Random(seed)

    async def main() -> None:
        q = wq()
        clock = 0
        active: set[str] = set()
        added: dict[str, list[int]] = {}
        started: dict[str, list[int]] = {}

        async def worker() -> None:
            nonlocal clock
            while True:
                try:
                    key = await q.get()
                except ShutDown:
                    return
                assert key not in active, f"{key} processed twice at once"
                active.add(key)
                clock += 1
                started.setdefault(key, []).append(clock)
                for _ in range(rnd.randint(0, 3)):
                    await asyncio.sleep(0)  # random interleavings (loop steps) are what is tested
                active.discard(key)
                q.done(key)

        tasks = [asyncio.create_task(worker()) for _ in range(workers)]
        for key, pause in adds:
            clock += 1
            added.setdefault(key, []).append(clock)
            q.add(key)
            for _ in range(pause):
                await asyncio.sleep(0)  # so are the pauses between adds
        await until(q.is_idle)
        q.shutdown()
        await asyncio.gather(*tasks)

        for key, times in added.items():
            runs = started.get(key, [])
            assert runs and max(runs) > max(times), f"last add of {key} was never processed"
            assert len(runs) <= len(times)
        assert set(started) <= set(added)

    asyncio.run(main())
