from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest
from prometheus_client import REGISTRY

from kruise_py.runtime.controller import AlwaysLeader, Controller, LeaderFlag, Result
from kruise_py.runtime.workqueue import WorkQueue

from .helpers import sample, unique, until


def total(c: Controller[str], result: str) -> float:
    return sample("controller_runtime_reconcile_total", controller=c.name, result=result)


def test_reconciles_enqueued_keys_and_records_success() -> None:
    seen: list[str] = []

    async def reconcile(key: str) -> Result:
        seen.append(key)
        return Result()

    async def main() -> None:
        c = Controller(unique("ok"), reconcile, workers=2)
        c.start()
        assert sample("controller_runtime_max_concurrent_reconciles", controller=c.name) == 2
        # Every result label exists from the start, as in controller-runtime.
        assert all(total(c, r) == 0 for r in ("success", "error", "requeue", "requeue_after"))
        assert (
            REGISTRY.get_sample_value(
                "controller_runtime_reconcile_total", {"controller": c.name, "result": "error"}
            )
            == 0
        )
        for k in ["a", "b", "c"]:
            c.enqueue(k)
        await until(lambda: len(seen) == 3)
        await c.stop()
        assert sorted(seen) == ["a", "b", "c"]
        assert total(c, "success") == 3
        assert total(c, "error") == 0
        assert sample("controller_runtime_reconcile_time_seconds_count", controller=c.name) == 3

    asyncio.run(main())


def test_none_result_is_success() -> None:
    async def reconcile(key: str) -> None:
        return None

    async def main() -> None:
        c = Controller(unique("none"), reconcile)
        c.start()
        c.enqueue("a")
        await until(lambda: total(c, "success") == 1)
        await c.stop()

    asyncio.run(main())


def test_error_is_logged_retried_with_backoff_and_does_not_stall_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: Counter[str] = Counter()

    async def reconcile(key: str) -> Result:
        calls[key] += 1
        if key == "bad":
            raise RuntimeError("boom")
        if key == "flaky" and calls[key] < 3:
            raise ValueError("not yet")
        return Result()

    async def main() -> None:
        q: WorkQueue[str] = WorkQueue(unique("err"), base_delay=0.001, max_delay=0.005)
        c = Controller(q.name, reconcile, workers=1, queue=q)
        c.start()
        c.enqueue("bad")
        c.enqueue("flaky")
        await until(lambda: calls["flaky"] == 3)
        # Many goods while "bad" keeps failing: each is reconciled once, promptly.
        for i in range(20):
            c.enqueue(f"good-{i}")
        await until(lambda: all(calls[f"good-{i}"] == 1 for i in range(20)))
        await until(lambda: calls["bad"] >= 5)
        assert q.num_requeues("flaky") == 0  # forgotten after its success
        assert q.num_requeues("bad") >= 4
        await c.stop()
        errors = sample("controller_runtime_reconcile_errors_total", controller=c.name)
        assert errors == total(c, "error") == calls["bad"] + 2
        assert total(c, "success") == 21

    with caplog.at_level(logging.ERROR, logger="kruise_py.controller"):
        asyncio.run(main())
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failures and all(r.exc_info is not None for r in failures)
    assert any("boom" in str(r.exc_info[1]) for r in failures if r.exc_info)


def test_requeue_after_reruns_key_and_resets_backoff() -> None:
    runs: list[str] = []

    async def reconcile(key: str) -> Result:
        runs.append(key)
        return Result(requeue_after=0.02) if len(runs) < 3 else Result()

    async def main() -> None:
        c = Controller(unique("after"), reconcile)
        c.queue.limiter.when("k")  # pretend an earlier failure
        c.start()
        c.enqueue("k")
        await until(lambda: len(runs) == 3)
        assert c.queue.num_requeues("k") == 0
        await c.stop()
        assert total(c, "requeue_after") == 2
        assert total(c, "success") == 1

    asyncio.run(main())


def test_requeue_uses_rate_limiter() -> None:
    runs: list[str] = []

    async def reconcile(key: str) -> Result:
        runs.append(key)
        return Result(requeue=True) if len(runs) < 4 else Result()

    async def main() -> None:
        q: WorkQueue[str] = WorkQueue(unique("requeue"), base_delay=0.001)
        c = Controller(q.name, reconcile, queue=q)
        c.start()
        c.enqueue("k")
        await until(lambda: len(runs) == 4)
        await c.stop()
        assert total(c, "requeue") == 3
        assert sample("workqueue_retries_total", name=q.name, controller=q.name) == 3

    asyncio.run(main())


def test_never_two_reconciles_of_one_key_and_readd_runs_once_more() -> None:
    active: set[str] = set()
    runs: Counter[str] = Counter()
    overlap: list[str] = []

    async def main() -> None:
        release = asyncio.Event()

        async def reconcile(key: str) -> None:
            if key in active:
                overlap.append(key)
            active.add(key)
            runs[key] += 1
            if runs[key] == 1:
                await release.wait()
            active.discard(key)

        c = Controller(unique("once"), reconcile, workers=4)
        c.start()
        c.enqueue("k")
        await until(lambda: runs["k"] == 1)
        for _ in range(10):  # re-added while running: one more run, not ten
            c.enqueue("k")
        # Marked for one more run, but not handed out while it runs: no idle worker can take it.
        assert len(c.queue) == 0 and c.queue.processing == 1
        assert runs["k"] == 1
        release.set()
        await until(lambda: runs["k"] == 2 and c.queue.is_idle())
        await c.stop()  # nothing was left to run: a third run could only have come before
        assert runs["k"] == 2
        assert not overlap

    asyncio.run(main())


def test_workers_bound_concurrency_and_active_workers_gauge() -> None:
    async def main() -> None:
        release = asyncio.Event()
        running = 0
        peak = 0

        async def reconcile(key: str) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

        c = Controller(unique("conc"), reconcile, workers=3)
        c.start()
        for i in range(8):
            c.enqueue(f"k{i}")
        await until(lambda: running == 3)
        assert len(c.queue) == 5  # the rest wait: no fourth worker takes one
        assert sample("controller_runtime_active_workers", controller=c.name) == 3
        release.set()
        await until(lambda: c.queue.is_idle())
        assert sample("controller_runtime_active_workers", controller=c.name) == 0
        await c.stop()
        assert peak == 3  # never more than three at once, over the whole run
        assert total(c, "success") == 8

    asyncio.run(main())


def test_resync_enqueues_all_keys_periodically(caplog: pytest.LogCaptureFixture) -> None:
    runs: Counter[str] = Counter()
    listings = 0

    async def reconcile(key: str) -> None:
        runs[key] += 1

    def keys() -> list[str]:
        nonlocal listings
        listings += 1
        if listings == 2:
            raise RuntimeError("cache not ready")
        return ["a", "b"]

    async def main() -> None:
        c = Controller(unique("resync"), reconcile, resync_period=0.01, keys=keys)
        c.start()
        await until(lambda: runs["a"] >= 2 and runs["b"] >= 2)
        await c.stop()

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
    assert any("resync" in r.getMessage() for r in caplog.records)


def test_stop_waits_for_in_flight_and_starts_nothing_new() -> None:
    async def main() -> None:
        release = asyncio.Event()
        started: list[str] = []
        finished: list[str] = []

        async def reconcile(key: str) -> None:
            started.append(key)
            await release.wait()
            finished.append(key)

        c = Controller(unique("stop"), reconcile, workers=1)
        c.start()
        c.enqueue("first")
        c.enqueue("second")
        await until(lambda: started == ["first"])
        stopping = asyncio.create_task(c.stop())
        await until(lambda: c.queue.shutting_down)  # stop() is under way ...
        assert not stopping.done()  # ... and waits for "first" (which finishing proves below)
        release.set()
        await asyncio.wait_for(stopping, 2)
        assert finished == ["first"]
        assert started == ["first"]  # "second" never started
        assert not c.running

    asyncio.run(main())


def test_stop_cancels_stuck_reconcile_after_grace() -> None:
    async def main() -> None:
        cancelled = asyncio.Event()

        async def reconcile(key: str) -> None:
            try:
                await asyncio.sleep(3600)  # a reconcile that never returns: what stop() must cancel
            except asyncio.CancelledError:
                cancelled.set()
                raise

        c = Controller(unique("stuck"), reconcile)
        c.start()
        c.enqueue("k")
        await until(lambda: c.queue.processing == 1)
        await asyncio.wait_for(c.stop(grace=0.05), 2)
        assert cancelled.is_set()
        assert c.queue.processing == 0

    asyncio.run(main())


class _CountingLeader(LeaderFlag):
    """A LeaderFlag that counts the workers waiting at the gate (to wait for them, not sleep)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = 0

    async def wait_leading(self) -> None:
        self.waiting += 1
        try:
            await super().wait_leading()
        finally:
            self.waiting -= 1


def test_leader_gate() -> None:
    async def main() -> None:
        runs: list[str] = []

        async def reconcile(key: str) -> None:
            runs.append(key)

        leader = _CountingLeader()
        c = Controller(unique("leader"), reconcile, workers=2, leader=leader)
        c.start()
        c.enqueue("a")
        await until(lambda: leader.waiting == 2)  # both workers stopped at the gate
        assert runs == [] and len(c.queue) == 1  # not leading: nothing taken
        leader.set()
        await until(lambda: runs == ["a"])
        leader.clear()
        c.enqueue("b")
        await until(lambda: leader.waiting == 2)
        assert runs == ["a"]  # lost the lead: "b" waits ...
        assert len(c.queue) == 1
        leader.set()
        await until(lambda: runs == ["a", "b"])  # ... for the next term
        leader.clear()
        await asyncio.wait_for(c.stop(), 2)  # stops promptly while not leading

    asyncio.run(main())


def test_always_leader() -> None:
    async def main() -> None:
        gate = AlwaysLeader()
        assert gate.is_leading()
        await asyncio.wait_for(gate.wait_leading(), 1)

    asyncio.run(main())


def test_rejects_zero_workers() -> None:
    async def reconcile(key: str) -> None:
        return None

    with pytest.raises(ValueError):
        Controller("x", reconcile, workers=0)


def test_many_controllers_share_metric_singletons() -> None:
    async def reconcile(key: str) -> None:
        return None

    async def main() -> None:
        name = unique("twice")

        async def run_once(expected: int) -> None:
            c = Controller(name, reconcile)
            c.start()
            c.enqueue("k")
            await until(lambda: total(c, "success") == expected)
            await c.stop()

        # A second instance with the same name must not re-register metrics.
        await run_once(1)
        await run_once(2)
        assert sample("controller_runtime_reconcile_total", controller=name, result="success") == 2

    asyncio.run(main())


def test_owns_drops_keys_of_other_shards_and_drain_waits_for_in_flight() -> None:
    async def main() -> None:
        mine = {"a", "b"}
        runs: list[str] = []
        release = asyncio.Event()

        async def reconcile(key: str) -> None:
            runs.append(key)
            if key == "b":
                await release.wait()

        c = Controller(unique("owns"), reconcile, workers=2, owns=lambda k: k in mine)
        c.start()
        for k in ("a", "x", "b"):
            c.enqueue(k)
        await until(lambda: runs == ["a", "b"] and len(c.queue) == 0)
        assert "x" not in runs  # another shard's key: taken off the queue, not reconciled

        # Hand "b" over: stop owning it, then drain waits until its in-flight reconcile ends.
        mine.discard("b")
        drained = asyncio.create_task(c.drain(lambda k: k == "b"))
        await asyncio.sleep(0)
        await c.drain(lambda k: k == "a")  # "a" is not in flight: returns at once
        assert not drained.done()
        c.enqueue("b")  # re-added while in flight: dropped when taken again, not run twice
        release.set()
        await asyncio.wait_for(drained, 2)
        await until(lambda: len(c.queue) == 0 and c.queue.processing == 0)
        assert runs == ["a", "b"]
        await asyncio.wait_for(c.stop(), 2)

    asyncio.run(main())


def test_drain_needs_owns() -> None:
    async def main() -> None:
        async def reconcile(key: str) -> None:
            return None

        c = Controller(unique("no-owns"), reconcile)
        with pytest.raises(RuntimeError):
            await c.drain(lambda k: True)

    asyncio.run(main())
