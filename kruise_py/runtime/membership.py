"""Shard membership: one coordination.k8s.io/v1 Lease per replica, carrying the buckets it claims.

Each round a member lists its group's Leases (one LIST, label-selected), judges the others alive
by client-go's rule (a Lease unchanged for its duration *on our clock* is dead; a released one at
once), asks :func:`sharding.step` what to do, drains the buckets it gives up (``on_stop``), renews
its own Lease with its new claims and, only once that write succeeded, starts the buckets it won
(``on_start``). If it cannot renew within ``renew_deadline`` it stops everything and forgets its
claims: the others take its buckets once its Lease has expired on their clocks
(``lease_duration`` > ``renew_deadline``, the same margin leader election relies on). A graceful
stop drains and then releases the Lease, so the others need not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Gauge

from . import sharding as sh
from .client import ApiError, KubeClient, path_for
from .controller import Controller
from .leader import default_identity

log = logging.getLogger(__name__)

BUCKETS_HELD = Gauge("shard_buckets_held", "Buckets this member acts on.", ["group", "member"])
MEMBERS = Gauge("shard_members", "Live members this member sees, itself included.", ["group", "member"])

Callback = Callable[[frozenset[int]], Coroutine[Any, Any, None]]
_LEASES = ("coordination.k8s.io/v1", "leases")
#: A Lease unchanged for this many of its durations is deleted (its claims stopped counting long ago).
GONE_AFTER = 4


async def _nothing(_: frozenset[int]) -> None:
    return None


def lease_name(group: str, identity: str) -> str:
    """A valid object name for a member's Lease (identities may hold ``_`` or capitals)."""
    raw = re.sub(r"[^a-z0-9.-]+", "-", f"{group}-{identity}".lower()).strip("-.")
    if len(raw) > 63:
        raw = f"{raw[:50]}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"
    return raw


def _micro(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ShardMember:
    name = "shard-member"

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        group: str,
        *,
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_start: Callback = _nothing,
        on_stop: Callback = _nothing,
        buckets: int = sh.BUCKETS,
    ) -> None:
        self.client, self.namespace, self.group = client, namespace, group
        self.identity = identity or default_identity()
        self.lease_name = lease_name(group, self.identity)
        self.lease_duration, self.renew_deadline, self.retry_period = (
            lease_duration,
            renew_deadline,
            retry_period,
        )
        self.on_start, self.on_stop, self.buckets = on_start, on_stop, buckets
        self.state = sh.State()
        self.members: tuple[str, ...] = ()
        self._seen: dict[str, sh.Seen] = {}
        self._last_write = 0.0
        self._task: asyncio.Task[None] | None = None
        # Drains and starts run beside the loop, so renewals never wait for a slow reconcile to
        # finish or for a start's LIST (at 50,000 pods one replica's takes longer than the renew
        # deadline: awaited in the loop, its Lease would expire meanwhile).
        self._drains: dict[asyncio.Task[None], frozenset[int]] = {}
        self._starts: dict[asyncio.Task[None], frozenset[int]] = {}
        self._held_gauge = BUCKETS_HELD.labels(group, self.identity)
        self._members_gauge = MEMBERS.labels(group, self.identity)

    @property
    def held(self) -> frozenset[int]:
        """The buckets this member may act on now."""
        return self.state.held

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name=f"shard-member:{self.group}")

    async def stop(self, release: bool = True) -> None:
        """Stop the loop; drain every held bucket; release the Lease (unless ``release=False``,
        which leaves it to expire, as a crash would)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in self._starts:  # exiting: a start's LIST is not worth waiting for
            task.cancel()
        await self._drop_all()
        if release:
            await self.release()

    async def run(self) -> None:
        while True:
            try:
                await self.try_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # apiserver away, conflicts: try again next period
                log.warning("shard membership: %s", e)
            await self._check_deadline()
            await asyncio.sleep(self.retry_period)

    async def _check_deadline(self) -> None:
        if self.state != sh.State() and time.monotonic() - self._last_write > self.renew_deadline:
            log.error(
                "shard membership: could not renew within %.0fs; stopping %d buckets",
                self.renew_deadline,
                len(self.state.held),
            )
            await self._drop_all()

    async def _drop_all(self) -> None:
        """Stop everything and wait until no work is in flight. After a missed renew deadline
        this must finish within ``lease_duration - renew_deadline`` (others may start our buckets
        then); a process that cannot promise that should exit, as client-go's users do."""
        if self._starts:  # a start still running would make its buckets active after the stop
            await asyncio.gather(*self._starts, return_exceptions=True)
            self._starts.clear()
        if self.state.held:
            await self.on_stop(self.state.held)
        if self._drains:
            await asyncio.gather(*self._drains, return_exceptions=True)
            self._drains.clear()
        self.state = sh.lost_liveness()
        self._held_gauge.set(0)

    def _begin_drain(self, buckets: frozenset[int]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
            self.on_stop(buckets), name="shard-drain"
        )
        self._drains[task] = buckets

    def _reap_drains(self) -> None:
        for task, buckets in list(self._drains.items()):
            if not task.done():
                continue
            del self._drains[task]
            if task.cancelled() or task.exception() is not None:
                # Unknown whether work is still in flight: keep claiming, drain again.
                log.error("shard membership: draining %s failed: %r", sh.encode(buckets), task)
                self._begin_drain(buckets)
            else:
                self.state = self.state.drained(buckets)

    def _begin_start(self, buckets: frozenset[int]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
            self.on_start(buckets), name="shard-start"
        )
        self._starts[task] = buckets

    def _reap_starts(self) -> None:
        for task, buckets in list(self._starts.items()):
            if not task.done():
                continue
            del self._starts[task]
            if task.cancelled() or task.exception() is not None:
                # Held but not acted on: start again what is still held (a stop may have come).
                log.error("shard membership: starting %s failed: %r", sh.encode(buckets), task)
                if again := buckets & self.state.held:
                    self._begin_start(frozenset(again))

    async def try_once(self) -> None:
        await self._check_deadline()
        self._reap_drains()
        self._reap_starts()
        t0 = time.monotonic()
        # An apiserver that hangs must not keep us acting past the renew deadline.
        limit = self.renew_deadline - (t0 - self._last_write) if self.state != sh.State() else None
        async with asyncio.timeout(max(limit, self.retry_period) if limit is not None else None):
            start = await self._round(t0)
        if start:
            self._begin_start(start)

    async def _round(self, t0: float) -> frozenset[int]:
        """Read, decide, begin drains, renew; returns the buckets won (held from now on)."""
        items, _ = await self.client.list_all(
            path_for(*_LEASES, self.namespace), labelSelector=f"{sh.GROUP_LABEL}={self.group}"
        )
        self._seen = sh.observe(self._seen, items, t0, self.lease_duration, self.buckets)
        await self._collect(items, t0)
        mine = next((i for i in items if i["metadata"]["name"] == self.lease_name), None)
        others: dict[str, frozenset[int]] = {}
        for name, seen in self._seen.items():
            if name != self.lease_name and sh.live(seen, t0):
                others[seen.holder] = others.get(seen.holder, frozenset()) | seen.claims
        plan = sh.step(self.identity, self.state, others, self.buckets)
        if plan.members != self.members:
            log.info("shard membership: %s sees members %s", self.identity, ", ".join(plan.members))
            self.members = plan.members
            self._members_gauge.set(len(plan.members))
        if plan.stop:
            # Taken off at once, claimed until drained: the claim is dropped only after the
            # owners' work has stopped (a later round, once the drain task has finished).
            self._begin_drain(plan.stop)
            self.state = plan.stopping(self.state)
            self._held_gauge.set(len(self.state.held))
        try:
            await self._write(mine, plan.claims)
        except ApiError as e:
            if e.conflict or e.already_exists:
                return frozenset()  # our Lease changed under us (a restarted namesake?): read again
            raise
        self._last_write = t0
        self.state = plan.after(self.state)
        self._held_gauge.set(len(self.state.held))
        return plan.start

    async def _collect(self, items: list[dict[str, Any]], now: float) -> None:
        """Delete Leases of members gone for a while (each restart makes a new identity). The
        resourceVersion precondition keeps a Lease that was renewed after we read it."""
        for item in items:
            name = item["metadata"]["name"]
            seen = self._seen.get(name)
            if name == self.lease_name or seen is None or now - seen.since < GONE_AFTER * seen.duration:
                continue
            with contextlib.suppress(ApiError):
                await self.client.delete(
                    path_for(*_LEASES, self.namespace, name),
                    resource_version=item["metadata"].get("resourceVersion"),
                )
                log.info("shard membership: removed the Lease of gone member %s", seen.holder or name)

    async def _write(self, mine: dict[str, Any] | None, claims: frozenset[int]) -> None:
        now = _micro(datetime.now(UTC))
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "renewTime": now,
        }
        ann = {sh.CLAIMS_ANNOTATION: sh.encode(claims)}
        if mine is None:
            await self.client.create(
                path_for(*_LEASES, self.namespace),
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": self.lease_name,
                        "namespace": self.namespace,
                        "labels": {sh.GROUP_LABEL: self.group},
                        "annotations": ann,
                    },
                    "spec": {**spec, "acquireTime": now, "leaseTransitions": 0},
                },
            )
            return
        meta = mine["metadata"]
        old = mine.get("spec") or {}
        if old.get("holderIdentity") != self.identity:
            spec.update(acquireTime=now, leaseTransitions=int(old.get("leaseTransitions") or 0) + 1)
        body = {
            **mine,
            "metadata": {**meta, "annotations": {**(meta.get("annotations") or {}), **ann}},
            "spec": {**old, **spec},
        }
        # PUT with the resourceVersion we read: a write we did not see fails instead of being lost.
        await self.client.replace(path_for(*_LEASES, self.namespace, self.lease_name), body)

    async def release(self) -> None:
        """Hand everything over at once: no holder, no claims (call only after draining)."""
        with contextlib.suppress(ApiError):
            lease = await self.client.get_or_none(path_for(*_LEASES, self.namespace, self.lease_name))
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                meta = lease["metadata"]
                anns = {**(meta.get("annotations") or {}), sh.CLAIMS_ANNOTATION: ""}
                spec = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
                await self.client.replace(
                    path_for(*_LEASES, self.namespace, self.lease_name),
                    {**lease, "metadata": {**meta, "annotations": anns}, "spec": spec},
                )


class ShardGate:
    """Joins a :class:`ShardMember` to the controllers: ``owns`` for their ``owns=`` gate,
    ``on_stop``/``on_start`` for the member's callbacks.

    Keys are ``(namespace, name)`` of owners; their bucket is computed, not read from a label, so
    the gate holds for owners whose label is missing or stale. On stop the buckets leave the active
    set *before* the drain, so no reconcile of theirs starts while it waits; on start every known
    owner of the new buckets is enqueued (its controller listed nothing about it before).
    """

    def __init__(self, buckets: int = sh.BUCKETS) -> None:
        self.buckets = buckets
        self.active: set[int] = set()
        self._controllers: list[
            tuple[Controller[tuple[str, str]], Callable[[], Iterable[tuple[str, str]]]]
        ] = []

    def bucket(self, key: tuple[str, str]) -> int:
        return sh.bucket_of(key[0], key[1], self.buckets)

    def owns(self, key: tuple[str, str]) -> bool:
        return self.bucket(key) in self.active

    def add(
        self, controller: Controller[tuple[str, str]], keys: Callable[[], Iterable[tuple[str, str]]]
    ) -> None:
        """A controller made with ``owns=gate.owns``, and how to list every owner key it knows."""
        self._controllers.append((controller, keys))

    async def on_stop(self, buckets: frozenset[int]) -> None:
        self.active -= buckets
        for controller, _ in self._controllers:
            await controller.drain(lambda k: self.bucket(k) in buckets)

    async def on_start(self, buckets: frozenset[int]) -> None:
        self.active |= buckets
        for controller, keys in self._controllers:
            for key in keys():
                if self.bucket(key) in buckets:
                    controller.enqueue(key)
