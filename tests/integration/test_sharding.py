"""Shard membership against the real apiserver: members agree on the ring through their Leases,
no bucket is ever acted on by two members at once (checked on every start), a joiner gets its
share only after the holders drained it, and a stopped member's buckets move only after its Lease
expired on the others' clocks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from kruise_py.runtime import sharding as sh
from kruise_py.runtime.client import KubeClient, path_for
from kruise_py.runtime.membership import Callback, ShardMember

from .conftest import Kubectl

DURATION, RENEW, RETRY = 3.0, 2.0, 0.3


class Acting:
    """Who acts on which bucket, updated by the members' callbacks; a double start fails."""

    def __init__(self) -> None:
        self.by_bucket: dict[int, str] = {}
        self.starts: list[tuple[float, str, frozenset[int]]] = []
        self.violations: list[str] = []

    def hooks(self, who: str) -> tuple[Callback, Callback]:
        async def on_start(buckets: frozenset[int]) -> None:
            for b in buckets:
                other = self.by_bucket.get(b)
                if other is not None:
                    self.violations.append(f"{who} started bucket {b} held by {other}")
                self.by_bucket[b] = who
            self.starts.append((time.monotonic(), who, buckets))

        async def on_stop(buckets: frozenset[int]) -> None:
            await asyncio.sleep(0.05)  # a drain takes time: in-flight reconciles finish
            for b in buckets:
                if self.by_bucket.get(b) == who:
                    del self.by_bucket[b]

        return on_start, on_stop


async def _until(cond: object, within: float, what: str) -> None:
    assert callable(cond)
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def _agreed(members: list[ShardMember]) -> bool:
    ring = sh.assign([m.identity for m in members])
    return all(m.held == ring[m.identity] for m in members)


def test_members_agree_hand_over_on_join_and_take_over_after_expiry(
    kubeconfig: Path, kubectl: Kubectl, ns: str
) -> None:
    async def scenario() -> None:
        client = KubeClient.connect(str(kubeconfig))
        acting = Acting()

        members: list[ShardMember] = []

        def member(name: str) -> ShardMember:
            on_start, on_stop = acting.hooks(name)
            m = ShardMember(
                client,
                ns,
                "shard-test",
                identity=name,
                lease_duration=DURATION,
                renew_deadline=RENEW,
                retry_period=RETRY,
                on_start=on_start,
                on_stop=on_stop,
            )
            members.append(m)
            m.start()
            return m

        a, b = member("member-a"), member("member-b")
        try:
            await _until(lambda: _agreed([a, b]), 60, "two members agree on the ring")
            assert set(acting.by_bucket) == set(range(sh.BUCKETS))

            # A joiner: buckets move from a and b to c, each drained before c starts it.
            c = member("member-c")
            await _until(lambda: _agreed([a, b, c]), 60, "three members agree on the ring")
            assert c.held and set(acting.by_bucket) == set(range(sh.BUCKETS))
            leases = await client.list(path_for("coordination.k8s.io/v1", "leases", ns))
            claims = {
                i["spec"]["holderIdentity"]: sh.decode(i["metadata"]["annotations"][sh.CLAIMS_ANNOTATION])
                for i in leases["items"]
            }
            assert claims == {m.identity: m.held for m in (a, b, c)}

            # b stops without releasing (as a crash would): its buckets wait for its Lease to expire.
            b_buckets = b.held
            await b.stop(release=False)
            b_last_renew = b._last_write
            await _until(lambda: _agreed([a, c]), 60, "the survivors take b's buckets")
            taken = [
                (t, who, bs & b_buckets)
                for t, who, bs in acting.starts
                if t > b_last_renew and bs & b_buckets
            ]
            assert {bk for _, _, bs in taken for bk in bs} == b_buckets
            # The safety rule, not a speed: nobody started one of b's buckets before b's Lease,
            # last renewed at b_last_renew, had gone unchanged for a whole lease duration.
            first = min(t for t, _, _ in taken)
            print(
                f"b's buckets ({len(b_buckets)}) first restarted {first - b_last_renew:.1f}s after its last renewal"
            )
            assert first - b_last_renew >= DURATION, (first - b_last_renew, DURATION)

            # a stops gracefully: drains, releases, and c ends with every bucket.
            await a.stop()
            await _until(lambda: c.held == frozenset(range(sh.BUCKETS)), 60, "c holds everything")
            assert acting.violations == []
            assert set(acting.by_bucket.values()) == {"member-c"}
            await c.stop()
            lease = await client.get(path_for("coordination.k8s.io/v1", "leases", ns, c.lease_name))
            assert lease["spec"]["holderIdentity"] == ""
            assert lease["metadata"]["annotations"][sh.CLAIMS_ANNOTATION] == ""
        finally:
            for m in members:
                await m.stop()
            await client.close()

    asyncio.run(scenario())


def test_reshard_relists_the_new_selection_and_deletes_what_left_it(kubeconfig: Path, ns: str) -> None:
    """Manager.reshard against the apiserver: objects of buckets given up leave the cache as
    DELETED, those of buckets taken arrive as ADDED, and the watch goes on with the new selector."""
    from kruise_py.runtime.manager import Manager, ManagerOptions, Resource

    cms = path_for("v1", "configmaps", ns)

    def cm(name: str, bucket: int) -> dict[str, object]:
        return {"metadata": {"name": name, "labels": {sh.SHARD_LABEL: str(bucket)}}, "data": {}}

    async def scenario() -> None:
        client = KubeClient.connect(str(kubeconfig))
        m = Manager(client, ManagerOptions(namespaces=(ns,), metrics_port=0, sharding=True))
        res = m.scoped(Resource("v1", "configmaps"))
        seen: list[tuple[str, str]] = []
        m.on_event(res, lambda t, o, n: seen.append((t, (n or o or {})["metadata"]["name"])))
        cache = m.cache(res)
        try:
            for name, b in (("one", 1), ("two", 2), ("three", 3)):
                await client.create(cms, cm(name, b))
            m.wire()
            for inf in m.informers[res.key]:
                inf.start()
                await inf.synced.wait()
            assert len(cache) == 0  # no buckets held: nothing selected

            await m.reshard(frozenset({1, 2}))
            assert sorted(n for _, n in cache.keys()) == ["one", "two"]  # noqa: SIM118
            await m.reshard(frozenset({2, 3}))
            assert sorted(n for _, n in cache.keys()) == ["three", "two"]  # noqa: SIM118
            assert ("DELETED", "one") in seen and ("ADDED", "three") in seen
            assert seen.count(("ADDED", "two")) == 1  # kept across the reshard: no second ADDED

            # The watch runs with the new selector: a new object of a held bucket arrives, one of
            # a bucket not held does not.
            await client.create(cms, cm("four", 3))
            await client.create(cms, cm("five", 1))
            await _until(lambda: cache.get(ns, "four") is not None, 30, "four in the cache")
            await asyncio.sleep(0.5)
            assert cache.get(ns, "five") is None
        finally:
            for infs in m.informers.values():
                for inf in infs:
                    await inf.stop()
            await client.close()

    asyncio.run(scenario())


def test_a_start_longer_than_the_renew_deadline_keeps_renewing(kubeconfig: Path, ns: str) -> None:
    """A start's LIST can take longer than the renew deadline (50,000 pods on one replica): it runs
    beside the renewals, so the member neither misses its deadline nor drops what it starts."""

    async def scenario() -> None:
        client = KubeClient.connect(str(kubeconfig))
        started: list[frozenset[int]] = []
        stopped: list[frozenset[int]] = []

        async def on_start(buckets: frozenset[int]) -> None:
            await asyncio.sleep(RENEW * 2.5)  # the slow LIST
            started.append(buckets)

        async def on_stop(buckets: frozenset[int]) -> None:
            stopped.append(buckets)

        m = ShardMember(
            client,
            ns,
            "slow-start",
            identity="slow",
            lease_duration=DURATION,
            renew_deadline=RENEW,
            retry_period=RETRY,
            on_start=on_start,
            on_stop=on_stop,
        )
        m.start()
        try:
            await _until(lambda: bool(started), 30, "the slow start to finish")
            assert started == [frozenset(range(sh.BUCKETS))]
            await asyncio.sleep(RENEW)
            assert stopped == [], "the member dropped its buckets: renewals waited for the start"
            assert m.held == frozenset(range(sh.BUCKETS))
            assert time.monotonic() - m._last_write < RENEW
        finally:
            await m.stop()
            await client.close()

    asyncio.run(scenario())
