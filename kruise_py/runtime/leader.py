"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics.

kopf has no leader election (peering only pauses lower-priority copies), so two replicas would both
reconcile. One elector per process keeps a :class:`LeaderFlag` set while this process holds the
Lease; controllers only take keys while it is set, webhooks are served by every replica.

client-go rules kept here: the holder renews every ``retry_period``; it gives up leading if it
could not renew within ``renew_deadline``; another candidate takes over only after it has seen the
Lease record unchanged for ``lease_duration`` *on its own clock* (never comparing clocks across
machines); a graceful stop releases the Lease so a successor need not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from prometheus_client import Gauge

from .client import ApiError, KubeClient, path_for
from .controller import LeaderFlag

log = logging.getLogger(__name__)

LEADER = Gauge("leader_election_master_status", "1 while this process leads, 0 otherwise.", ["name"])


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _micro(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Observed:
    """The last Lease record we saw and when (our monotonic clock) it last changed."""

    record: tuple[Any, ...] | None = None
    since: float = 0.0


Action = Literal["create", "renew", "acquire", "wait"]


def decide(
    lease: dict[str, Any] | None, me: str, observed: Observed, now_mono: float, lease_duration: float
) -> Action:
    """What to do with the Lease this round (pure; ``observed`` is updated by the caller)."""
    if lease is None:
        return "create"
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    if holder == me:
        return "renew"
    if not holder:
        return "acquire"  # released
    if observed.record is None or now_mono - observed.since < lease_duration:
        return "wait"
    return "acquire"  # unchanged for a whole lease duration on our clock: the holder is gone


def record_of(lease: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if lease is None:
        return None
    s = lease.get("spec") or {}
    return (s.get("holderIdentity"), s.get("renewTime"), s.get("leaseTransitions"), s.get("acquireTime"))


class LeaseElector:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        *,
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        flag: LeaderFlag | None = None,
    ) -> None:
        self.client, self.namespace, self.lease_name = client, namespace, name
        self.identity = identity or default_identity()
        self.lease_duration, self.renew_deadline, self.retry_period = (
            lease_duration,
            renew_deadline,
            retry_period,
        )
        self.flag = flag or LeaderFlag()
        self.name = f"leader-election:{name}"
        self._observed = Observed()
        self._last_renew = 0.0
        self._task: asyncio.Task[None] | None = None
        self._gauge = LEADER.labels(name)
        self._gauge.set(0)

    @property
    def path(self) -> str:
        return path_for("coordination.k8s.io/v1", "leases", self.namespace, self.lease_name)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.flag.is_leading():
            await self.release()

    async def run(self) -> None:
        while True:
            try:
                await self.try_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # apiserver away, conflicts: try again next period
                log.warning("leader election: %s", e)
            if self.flag.is_leading() and time.monotonic() - self._last_renew > self.renew_deadline:
                log.error(
                    "leader election: could not renew the lease within %.0fs; no longer leading",
                    self.renew_deadline,
                )
                self._lead(False)
            await asyncio.sleep(self.retry_period)

    async def try_once(self) -> None:
        lease = await self.client.get_or_none(self.path)
        now_mono = time.monotonic()
        rec = record_of(lease)
        if rec != self._observed.record:
            self._observed = Observed(rec, now_mono)
        action = decide(lease, self.identity, self._observed, now_mono, self.lease_duration)
        if action == "wait":
            self._lead(False)
            return
        now = datetime.now(UTC)
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "renewTime": _micro(now),
        }
        try:
            if action == "create":
                spec.update(acquireTime=_micro(now), leaseTransitions=0)
                await self.client.create(
                    path_for("coordination.k8s.io/v1", "leases", self.namespace),
                    {
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": self.lease_name, "namespace": self.namespace},
                        "spec": spec,
                    },
                )
            else:
                assert lease is not None
                old = lease.get("spec") or {}
                if action == "acquire":
                    spec.update(
                        acquireTime=_micro(now), leaseTransitions=int(old.get("leaseTransitions") or 0) + 1
                    )
                else:
                    spec.update(
                        acquireTime=old.get("acquireTime"), leaseTransitions=old.get("leaseTransitions", 0)
                    )
                # PUT with the resourceVersion we read: two candidates cannot both win.
                await self.client.replace(self.path, {**lease, "spec": {**old, **spec}})
        except ApiError as e:
            if e.conflict or e.already_exists:
                return  # someone else wrote first; look again next period
            raise
        self._last_renew = time.monotonic()
        if not self.flag.is_leading():
            log.info(
                "leader election: %s now leads %s/%s (%s)",
                self.identity,
                self.namespace,
                self.lease_name,
                action,
            )
        self._lead(True)

    async def release(self) -> None:
        """Give the Lease up on a graceful stop, so a successor need not wait a lease duration."""
        self._lead(False)
        with contextlib.suppress(ApiError):
            lease = await self.client.get_or_none(self.path)
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                spec = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
                await self.client.replace(self.path, {**lease, "spec": spec})

    def _lead(self, leading: bool) -> None:
        if leading:
            self.flag.set()
        else:
            self.flag.clear()
        self._gauge.set(1 if leading else 0)
