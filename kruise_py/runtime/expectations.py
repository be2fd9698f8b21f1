"""OpenKruise-style expectations: what a reconcile wrote but the cache has not shown yet.

Caches lag our own writes. A reconcile that created pod ``web-3`` must not create it again (or
count it missing) before the watch delivers it. So, per owner key, we remember the creations,
deletions and in-place updates we issued and the resourceVersions we wrote, and the reconcile
does not act on that owner until :meth:`Expectations.satisfied` says the cache caught up
(OpenKruise ``pkg/util/expectations``: ScaleExpectations, UpdateExpectations,
ResourceVersionExpectation).

Usage rules (same as OpenKruise):
- call ``expect_*`` *before* the API call, because its watch event may arrive before the call
  returns; if the call fails, call the matching ``observe_*`` so the expectation does not wait
  for the timeout;
- call ``observe_*`` from the cache's change hook when the object shows up / goes away / shows
  the update.

Each pending entry times out after ``timeout`` seconds (OpenKruise's ExpectationTimeout, 5 min):
:meth:`Expectations.satisfied` then drops it, logs a warning and counts it in
``kruise_py_expectation_timeouts_total{controller}``, so a lost event delays an owner but never
wedges it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from prometheus_client import Counter

Owner = TypeVar("Owner", bound=Hashable)
Kind = Literal["create", "delete", "update", "rv"]

EXPECTATION_TIMEOUTS = Counter(
    "kruise_py_expectation_timeouts",
    "Expectations dropped because the cache did not observe them in time",
    ["controller"],
)
DEFAULT_TIMEOUT = 300.0

log = logging.getLogger(__name__)


def rv_at_least(seen: str | None, expected: str) -> bool:
    """Whether resourceVersion ``seen`` is at least ``expected``.

    resourceVersions are opaque by contract, but etcd-backed ones are integers: compare them as
    integers when both parse, otherwise only equality counts.
    """
    if seen is None:
        return False
    if seen.isdigit() and expected.isdigit():
        return int(seen) >= int(expected)
    return seen == expected


@dataclass
class _Entry:
    since: float
    rv: str = ""


class Expectations(Generic[Owner]):
    """Pending creations / deletions / in-place updates / resourceVersions, per owner key.

    ``rv_lookup(name)`` (optional) returns the resourceVersion the cache currently holds for an
    object; with it, an rv expectation is also satisfied when the watch event arrived before
    :meth:`expect_rv` was called.
    """

    def __init__(
        self,
        controller: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        rv_lookup: Callable[[str], str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.controller = controller
        self.timeout = timeout
        self.rv_lookup = rv_lookup
        self.clock = clock
        self._pending: dict[Owner, dict[tuple[Kind, str], _Entry]] = {}
        self._timeouts = EXPECTATION_TIMEOUTS.labels(controller)

    # -- expecting ----------------------------------------------------------------------------
    def _expect(self, owner: Owner, kind: Kind, name: str) -> None:
        self._pending.setdefault(owner, {}).setdefault((kind, name), _Entry(self.clock()))

    def expect_create(self, owner: Owner, name: str) -> None:
        self._expect(owner, "create", name)

    def expect_delete(self, owner: Owner, name: str) -> None:
        self._expect(owner, "delete", name)

    def expect_update(self, owner: Owner, name: str) -> None:
        """An in-place update of ``name`` (observe it when the cache shows the updated object)."""
        self._expect(owner, "update", name)

    def expect_rv(self, owner: Owner, name: str, rv: str) -> None:
        """Wait until the cache holds ``name`` at resourceVersion ``rv`` or newer."""
        entries = self._pending.setdefault(owner, {})
        old = entries.get(("rv", name))
        if old is not None and rv_at_least(old.rv, rv):
            return
        entries[("rv", name)] = _Entry(self.clock(), rv)

    # -- observing ----------------------------------------------------------------------------
    def _observe(self, owner: Owner, kind: Kind, name: str) -> None:
        entries = self._pending.get(owner)
        if entries is None:
            return
        entries.pop((kind, name), None)
        if not entries:
            del self._pending[owner]

    def observe_create(self, owner: Owner, name: str) -> None:
        self._observe(owner, "create", name)

    def observe_delete(self, owner: Owner, name: str) -> None:
        self._observe(owner, "delete", name)

    def observe_update(self, owner: Owner, name: str) -> None:
        self._observe(owner, "update", name)

    def observe_rv(self, owner: Owner, name: str, rv: str) -> None:
        """The cache now holds ``name`` at ``rv``: drops the rv expectation if that is new enough."""
        entries = self._pending.get(owner)
        if entries is None:
            return
        entry = entries.get(("rv", name))
        if entry is not None and rv_at_least(rv, entry.rv):
            self._observe(owner, "rv", name)

    def observe_gone(self, owner: Owner, name: str) -> None:
        """The object is gone from the cache: nothing about it can be observed any more."""
        kinds: tuple[Kind, ...] = ("create", "delete", "update", "rv")
        for kind in kinds:
            self._observe(owner, kind, name)

    # -- checking -----------------------------------------------------------------------------
    def satisfied(self, owner: Owner) -> bool:
        """True when nothing is pending for ``owner``; expired entries are dropped (and counted)."""
        entries = self._pending.get(owner)
        if entries is None:
            return True
        now = self.clock()
        for (kind, name), entry in list(entries.items()):
            if kind == "rv" and self.rv_lookup is not None and rv_at_least(self.rv_lookup(name), entry.rv):
                del entries[(kind, name)]
            elif now - entry.since >= self.timeout:
                del entries[(kind, name)]
                self._timeouts.inc()
                log.warning(
                    "%s: expectation %s %s of %r not observed in %.0fs; dropping it",
                    self.controller,
                    kind,
                    name,
                    owner,
                    now - entry.since,
                )
        if entries:
            return False
        del self._pending[owner]
        return True

    def pending(self, owner: Owner) -> dict[str, list[str]]:
        """Pending names per kind (for logs and status messages)."""
        out: dict[str, list[str]] = {}
        for kind, name in self._pending.get(owner, {}):
            out.setdefault(kind, []).append(name)
        return out

    def time_to_timeout(self, owner: Owner) -> float | None:
        """Seconds until the oldest pending entry of ``owner`` expires (None if nothing pending).

        A reconcile that waits on expectations can requeue after this, so a lost event costs at
        most one timeout.
        """
        entries = self._pending.get(owner)
        if not entries:
            return None
        oldest = min(e.since for e in entries.values())
        return max(0.0, oldest + self.timeout - self.clock())

    def delete(self, owner: Owner) -> None:
        """Forget everything about ``owner`` (call when the owner is deleted)."""
        self._pending.pop(owner, None)

    def owners(self) -> list[Owner]:
        """The owners with pending expectations."""
        return list(self._pending)

    def __len__(self) -> int:
        """Number of owners with pending expectations."""
        return len(self._pending)
