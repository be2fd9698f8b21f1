"""The Lease elector's decisions (pure), client-go's rules."""

from __future__ import annotations

from kruise_py.runtime.leader import Observed, decide, record_of


def lease(holder: str, renew: str = "t1", transitions: int = 0) -> dict:  # type: ignore[type-arg]
    return {"spec": {"holderIdentity": holder, "renewTime": renew, "leaseTransitions": transitions}}


def test_no_lease_is_created() -> None:
    assert decide(None, "me", Observed(), 0.0, 15) == "create"


def test_the_holder_renews() -> None:
    assert decide(lease("me"), "me", Observed(record_of(lease("me")), 0.0), 100.0, 15) == "renew"


def test_a_released_lease_is_acquired_at_once() -> None:
    assert decide(lease(""), "me", Observed(record_of(lease("")), 10.0), 10.0, 15) == "acquire"


def test_another_holder_is_waited_for_until_unchanged_for_a_lease_duration_on_our_clock() -> None:
    other = lease("them")
    seen = Observed(record_of(other), since=100.0)
    assert decide(other, "me", seen, 110.0, 15) == "wait"
    assert decide(other, "me", seen, 115.0, 15) == "acquire"


def test_a_renewing_holder_is_never_taken_over() -> None:
    # The record changes every renewal; the caller resets `since` when it does.
    first, renewed = lease("them", "t1"), lease("them", "t2")
    seen = Observed(record_of(first), since=0.0)
    assert record_of(renewed) != seen.record  # the caller would start a new observation here
    assert decide(renewed, "me", Observed(record_of(renewed), since=14.0), 20.0, 15) == "wait"
