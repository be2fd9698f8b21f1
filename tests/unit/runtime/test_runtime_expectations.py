from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kruise_py.runtime.expectations import DEFAULT_TIMEOUT, Expectations, rv_at_least

from .helpers import sample, unique


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kw: object) -> tuple[Expectations[str], Clock]:
    clock = Clock()
    return Expectations(unique("exp"), clock=clock, **kw), clock  # type: ignore[arg-type]


def timeouts(e: Expectations[str]) -> float:
    return sample("kruise_py_expectation_timeouts_total", controller=e.controller)


def test_default_timeout_is_openkruise_five_minutes() -> None:
    assert DEFAULT_TIMEOUT == 300.0
    assert Expectations("x").timeout == 300.0


def test_create_then_observe() -> None:
    e, _ = make()
    assert e.satisfied("ns/web")
    e.expect_create("ns/web", "web-0")
    e.expect_create("ns/web", "web-1")
    assert not e.satisfied("ns/web")
    e.observe_create("ns/web", "web-0")
    assert not e.satisfied("ns/web")
    assert e.pending("ns/web") == {"create": ["web-1"]}
    e.observe_create("ns/web", "web-1")
    assert e.satisfied("ns/web")
    assert len(e) == 0  # nothing kept for a satisfied owner


def test_kinds_and_owners_are_independent() -> None:
    e, _ = make()
    e.expect_create("a", "p")
    e.expect_delete("a", "q")
    e.expect_update("b", "p")
    e.observe_delete("a", "p")  # wrong kind for "p"
    e.observe_create("b", "p")  # wrong owner
    assert not e.satisfied("a") and not e.satisfied("b")
    assert e.pending("a") == {"create": ["p"], "delete": ["q"]}
    e.observe_create("a", "p")
    e.observe_delete("a", "q")
    assert e.satisfied("a")
    assert not e.satisfied("b")
    e.observe_update("b", "p")
    assert e.satisfied("b")


def test_observe_unknown_is_noop() -> None:
    e, _ = make()
    e.observe_create("nobody", "x")
    e.observe_rv("nobody", "x", "5")
    assert e.satisfied("nobody") and len(e) == 0


def test_delete_owner_forgets_everything() -> None:
    e, _ = make()
    e.expect_create("a", "p")
    e.expect_rv("a", "p", "3")
    e.delete("a")
    assert e.satisfied("a")
    assert e.time_to_timeout("a") is None


def test_timeout_drops_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    e, clock = make()
    e.expect_create("a", "p0")
    e.expect_delete("a", "p1")
    clock.now += 299
    assert not e.satisfied("a")
    assert timeouts(e) == 0
    with caplog.at_level(logging.WARNING):
        clock.now += 1
        assert e.satisfied("a")
    assert timeouts(e) == 2  # one per dropped entry
    assert "p0" in caplog.text and "p1" in caplog.text


def test_timeout_is_per_entry() -> None:
    e, clock = make(timeout=300.0)
    e.expect_create("a", "old")
    clock.now += 200
    e.expect_create("a", "new")
    assert e.time_to_timeout("a") == pytest.approx(100)
    clock.now += 100
    assert not e.satisfied("a")  # "old" dropped, "new" still within its time
    assert e.pending("a") == {"create": ["new"]}
    assert e.time_to_timeout("a") == pytest.approx(200)
    assert timeouts(e) == 1


def test_expecting_again_keeps_first_time() -> None:
    e, clock = make(timeout=10.0)
    e.expect_create("a", "p")
    clock.now += 6
    e.expect_create("a", "p")
    clock.now += 5
    assert e.satisfied("a")


@pytest.mark.parametrize(
    ("seen", "expected", "ok"),
    [
        ("5", "5", True),
        ("6", "5", True),
        ("4", "5", False),
        ("10", "9", True),  # numeric, not lexicographic
        ("9", "10", False),
        (None, "1", False),
        ("abc", "abc", True),
        ("abd", "abc", False),
        ("12", "abc", False),
    ],
)
def test_rv_at_least(seen: str | None, expected: str, ok: bool) -> None:
    assert rv_at_least(seen, expected) is ok


def test_rv_expectation_via_observe() -> None:
    e, _ = make()
    e.expect_rv("a", "ns/p", "10")
    e.observe_rv("a", "ns/p", "9")
    assert not e.satisfied("a")
    e.observe_rv("a", "ns/other", "99")
    assert not e.satisfied("a")
    e.observe_rv("a", "ns/p", "11")
    assert e.satisfied("a")


def test_rv_expectation_keeps_the_newest() -> None:
    e, _ = make()
    e.expect_rv("a", "p", "10")
    e.expect_rv("a", "p", "12")
    e.expect_rv("a", "p", "11")  # older than what we already wait for: ignored
    e.observe_rv("a", "p", "11")
    assert not e.satisfied("a")
    e.observe_rv("a", "p", "12")
    assert e.satisfied("a")


def test_rv_lookup_covers_event_seen_before_expect() -> None:
    cache = {"p": "7"}
    e, _ = make(rv_lookup=cache.get)
    # The watch event (rv 7) arrived before the write returned and expect_rv was called.
    e.expect_rv("a", "p", "7")
    assert e.satisfied("a")
    e.expect_rv("a", "p", "8")
    assert not e.satisfied("a")
    cache["p"] = "8"
    assert e.satisfied("a")
    e.expect_rv("a", "gone", "1")
    assert not e.satisfied("a")  # lookup returns None: not seen


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["expect", "observe"]),
            st.sampled_from(["create", "delete", "update"]),
            st.sampled_from(["o1", "o2"]),
            st.sampled_from(["p0", "p1", "p2"]),
        ),
        max_size=50,
    )
)
@settings(max_examples=200, deadline=None)
def test_satisfied_iff_nothing_unobserved(ops: list[tuple[str, str, str, str]]) -> None:
    e, _ = make()
    model: set[tuple[str, str, str]] = set()
    for action, kind, owner, name in ops:
        getattr(e, f"{action}_{kind}")(owner, name)
        if action == "expect":
            model.add((kind, owner, name))
        else:
            model.discard((kind, owner, name))
        for o in ("o1", "o2"):
            assert e.satisfied(o) == (not any(m[1] == o for m in model))
    assert len(e) == len({m[1] for m in model})
