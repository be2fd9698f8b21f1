"""Sharding's decisions, pure: an owner's bucket, the ring, and the hand-over of buckets.

Owners are hashed into a fixed number of buckets (:data:`BUCKETS`) from ``namespace/name`` (known
at admission, when the apiserver has not assigned a uid yet); the bucket is the value of the shard
label on the owner and its pods. The live members' Leases form the ring: rendezvous hashing maps
each bucket to one member, so a join or a leave moves only the buckets that must move.

Hand-over (docs/decisions.md, "Sharding"): every member writes the buckets it claims into its own
Lease. A member *starts* a bucket only when a claim it wrote (in this period of being alive) is
followed by a fresh read in which no other live member claims it — write-then-read on both sides,
so of two competing members at least one sees the other (and withdraws). A started bucket is given
up only when the ring moves it away: the member drains its work first and then writes its Lease
without it. A dead member's claims count until its Lease expires on the reader's clock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Fixed for the life of a cluster: changing it would relabel every owner and pod.
BUCKETS = 256
#: On owners and their pods; the value is the bucket number in decimal.
SHARD_LABEL = "sharding.kruise-py.io/bucket"
#: On the member Leases: which group (operator installation) they belong to.
GROUP_LABEL = "sharding.kruise-py.io/group"
#: On a member Lease: the buckets it claims, as ranges ("0-15,40,42-43").
CLAIMS_ANNOTATION = "sharding.kruise-py.io/claims"


def _h64(text: str) -> int:
    # Stable across processes and Python versions (hash() is salted per process).
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def bucket_of(namespace: str, name: str, buckets: int = BUCKETS) -> int:
    return _h64(f"{namespace}/{name}") % buckets


def bucket_label(obj: Mapping[str, Any]) -> int | None:
    """The bucket an object's shard label names, or None when absent or malformed."""
    value = ((obj.get("metadata") or {}).get("labels") or {}).get(SHARD_LABEL)
    if not isinstance(value, str) or not value.isdigit():
        return None
    return int(value)


def assign(members: Iterable[str], buckets: int = BUCKETS) -> dict[str, frozenset[int]]:
    """Rendezvous (highest random weight) hashing: each bucket goes to the member scoring highest.

    A member's score for a bucket does not depend on the other members, so adding a member moves
    only the buckets it now wins and removing one moves only its own: the least movement possible.
    """
    names = sorted(set(members))
    out: dict[str, set[int]] = {m: set() for m in names}
    for b in range(buckets):
        if names:
            out[max(names, key=lambda m: (_h64(f"{m}\x00{b}"), m))].add(b)
    return {m: frozenset(s) for m, s in out.items()}


def moved(before: Mapping[str, Collection[int]], after: Mapping[str, Collection[int]]) -> set[int]:
    """Buckets whose member differs between two assignments."""
    owner_a = {b: m for m, bs in before.items() for b in bs}
    owner_b = {b: m for m, bs in after.items() for b in bs}
    return {b for b in owner_a.keys() | owner_b.keys() if owner_a.get(b) != owner_b.get(b)}


def label_selector(buckets: Collection[int], total: int = BUCKETS) -> str | None:
    """Server-side selector for the objects of these buckets; None means every object.

    No buckets selects nothing: ``in ()`` is not a valid selector, "has the label and has it not"
    is, and the apiserver answers it with an empty list."""
    if len(buckets) >= total:
        return None
    if not buckets:
        return f"{SHARD_LABEL},!{SHARD_LABEL}"
    return f"{SHARD_LABEL} in ({','.join(str(b) for b in sorted(buckets))})"


def owner_bucket_label(namespace: str, name: str) -> dict[str, str]:
    """The shard label an owner and each of its pods carry."""
    return {SHARD_LABEL: str(bucket_of(namespace, name))}


def encode(buckets: Collection[int]) -> str:
    parts: list[str] = []
    run: list[int] = []
    for b in sorted(buckets):
        if run and b == run[-1] + 1:
            run.append(b)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [b]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def decode(text: str | None, total: int = BUCKETS) -> frozenset[int]:
    """Claims from an annotation; unreadable parts claim *every* bucket.

    A member we cannot read is treated as claiming everything: waiting is safe, guessing is not.
    """
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        m = _RANGE.match(part)
        if m is None:
            return frozenset(range(total))
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        out.update(range(lo, min(hi, total - 1) + 1))
    return frozenset(out)


# --- liveness, client-go's rule: a Lease is dead once unchanged for its duration on our clock ---


@dataclass(frozen=True)
class Seen:
    """A member Lease's record as we last saw it, and when (our monotonic clock) it last changed."""

    record: tuple[Any, ...]
    since: float
    duration: float
    holder: str
    claims: frozenset[int]


def record_of(lease: Mapping[str, Any]) -> tuple[Any, ...]:
    spec = lease.get("spec") or {}
    ann = (lease.get("metadata") or {}).get("annotations") or {}
    return (
        spec.get("holderIdentity"),
        spec.get("renewTime"),
        spec.get("leaseDurationSeconds"),
        ann.get(CLAIMS_ANNOTATION),
    )


def observe(
    prev: Mapping[str, Seen],
    leases: Iterable[Mapping[str, Any]],
    now: float,
    default_duration: float,
    total: int = BUCKETS,
) -> dict[str, Seen]:
    """The new observations, keyed by Lease name; a changed record restarts its clock."""
    out: dict[str, Seen] = {}
    for lease in leases:
        name = str((lease.get("metadata") or {}).get("name") or "")
        rec = record_of(lease)
        old = prev.get(name)
        since = old.since if old is not None and old.record == rec else now
        spec = lease.get("spec") or {}
        duration = float(spec.get("leaseDurationSeconds") or default_duration)
        ann = (lease.get("metadata") or {}).get("annotations") or {}
        out[name] = Seen(
            rec,
            since,
            duration,
            str(spec.get("holderIdentity") or ""),
            decode(ann.get(CLAIMS_ANNOTATION), total),
        )
    return out


def live(seen: Seen, now: float) -> bool:
    """A released Lease (no holder) is not live; any other until unchanged for its duration."""
    return bool(seen.holder) and now - seen.since < seen.duration


# --- the hand-over state machine ---


@dataclass(frozen=True)
class State:
    """A member's own side. ``claims`` is what its Lease says, as last written *while alive
    without a break* (reset to empty when the member misses its renew deadline); ``held`` are the
    buckets it acts on now; ``draining`` those it stopped taking work for but whose in-flight
    work has not finished. ``held`` and ``draining`` are disjoint subsets of ``claims``."""

    claims: frozenset[int] = frozenset()
    held: frozenset[int] = frozenset()
    draining: frozenset[int] = frozenset()

    def drained(self, buckets: Collection[int]) -> State:
        """A drain finished: the next round stops claiming those buckets (unless wanted again)."""
        return State(self.claims, self.held, self.draining - frozenset(buckets))


@dataclass(frozen=True)
class Step:
    """One round: begin draining ``stop`` (it stays claimed until drained; renewals never wait
    for a drain), write ``claims`` into the Lease, and only when that write succeeded start
    ``start``."""

    members: tuple[str, ...]
    desired: frozenset[int]
    stop: frozenset[int] = frozenset()
    start: frozenset[int] = frozenset()
    claims: frozenset[int] = frozenset()
    waiting: frozenset[int] = field(default=frozenset())  # desired but claimed by another live member

    def stopping(self, state: State) -> State:
        """The state as soon as the round's drains have begun (before the write)."""
        return State(state.claims, state.held - self.stop, state.draining | self.stop)

    def after(self, state: State) -> State:
        """The state once the round's Lease write succeeded, from the state as it is then: after
        :meth:`stopping`, and after any drain that finished meanwhile (which must stay finished)."""
        return State(claims=self.claims, held=(state.held - self.stop) | self.start, draining=state.draining)


def step(me: str, state: State, others: Mapping[str, frozenset[int]], total: int = BUCKETS) -> Step:
    """What a member does this round, given the claims of the *other live* members it just read.

    - held buckets the ring keeps: kept, whoever else claims them (a competitor withdraws);
    - held buckets the ring moved away: drained, and claimed until the drain has finished;
    - buckets claimed in an earlier round, not held or draining, and not claimed by anyone else
      now: started;
    - a competing claim on a bucket not yet started: ours is withdrawn;
    - desired buckets nobody else claims: claimed now, to be started next round.
    """
    members = tuple(sorted({me, *others}))
    desired = assign(members, total)[me]
    contested = frozenset().union(*others.values()) if others else frozenset()
    keep = state.held & desired
    stop = state.held - desired
    draining = state.draining | stop
    start = (state.claims - state.held - draining) & (desired - contested)
    pending = desired - keep - start - contested - draining
    return Step(
        members=members,
        desired=desired,
        stop=stop,
        start=start,
        claims=keep | start | pending | draining,
        waiting=(desired - keep - start - draining) & contested,
    )


def lost_liveness() -> State:
    """Missed the renew deadline (after everything was stopped and drained): forget our claims, so
    nothing is started again without a fresh claim-then-read (others may have taken our buckets
    after our Lease expired)."""
    return State()
