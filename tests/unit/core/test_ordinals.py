"""core.ordinals: reserveOrdinals, replica range, pod split (spec §1.4, §9 P1)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.api.statefulset import parse_reserve_ordinals
from kruise_py.core.ordinals import (
    START_ORDINAL_GATE_DEFAULT,
    Reserved,
    get_start_ordinal,
    parse_ordinal,
    replica_range,
    slot_index,
    slots,
    split_pods,
)


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}}


def names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


# --------------------------------------------------------------------------------------------------
# Reserved


@pytest.mark.parametrize(
    ("items", "members", "non_members", "valid"),
    [
        (None, [], [0, 1], True),
        ([], [], [0], True),
        ([1, 3], [1, 3], [0, 2, 4], True),
        ([0, "2-5"], [0, 2, 3, 4, 5], [1, 6], True),  # §1.4 e2e example
        (["7-7"], [7], [6, 8], True),
        ([1, 1, "0-1"], [0, 1], [2], True),
        (["3-5", "4-9", 10], [3, 9, 10], [2, 11], True),  # overlapping and adjacent merge
        # one bad range empties the whole set (Kruise GetReserveOrdinalIntSet returns nil)
        ([1, "5-3"], [], [1, 5], False),
        ([1, "a-b"], [], [1], False),
        ([1, "-1-3"], [], [1], False),
        ([1, "5"], [], [1, 5], False),
        ([1, "1-99999999999999999999"], [], [1], False),  # Go Atoi overflows
        ([1, "\u0661-\u0663"], [], [1], False),  # non-ASCII digits are not Go digits
        ([1, 2.5], [], [1], False),
        ([True], [], [1], False),
    ],
)
def test_reserved_parse(items: Any, members: list[int], non_members: list[int], valid: bool) -> None:
    r = Reserved.parse(items)
    assert r.valid is valid
    for m in members:
        assert m in r
    for m in non_members:
        assert m not in r


def test_reserved_huge_range_is_lazy() -> None:
    r = Reserved.parse(["0-1000000000", 2000000000])
    assert 0 in r and 1000000000 in r and 1000000001 not in r and 2000000000 in r
    assert len(r) == 1000000002
    assert r.count_below(10) == 10
    assert r.count_below(1500000000) == 1000000001
    assert r.count_below(3000000000) == 1000000002
    assert "1" not in r  # only ints are members


@pytest.mark.parametrize(
    ("items", "n", "expected"),
    [
        ([1, 3], 0, 0),
        ([1, 3], 1, 0),
        ([1, 3], 2, 1),
        ([1, 3], 4, 2),
        (["2-5"], 4, 2),
        (["2-5"], 6, 4),
        ([-3, 0], 1, 2),  # negative ints count too (they never matter for ordinals >= 0)
    ],
)
def test_count_below(items: list[int | str], n: int, expected: int) -> None:
    assert Reserved.parse(items).count_below(n) == expected


@given(st.lists(st.one_of(st.integers(0, 60), st.tuples(st.integers(0, 60), st.integers(0, 8))), max_size=6))
def test_reserved_matches_eager_parse(raw: list[Any]) -> None:
    items: list[int | str] = [f"{x[0]}-{x[0] + x[1]}" if isinstance(x, tuple) else x for x in raw]
    eager = parse_reserve_ordinals(items)
    r = Reserved.parse(items)
    assert len(r) == len(eager)
    for n in range(-2, 75):
        assert (n in r) == (n in eager)
        assert r.count_below(n) == len([x for x in eager if x < n])


# --------------------------------------------------------------------------------------------------
# Replica range and slots


@pytest.mark.parametrize(
    ("replicas", "start", "reserve", "end", "expected_slots"),
    [
        (4, 2, [1, 3], 7, [2, 4, 5, 6]),  # §1.4 example (and the Kruise code comment)
        (3, 0, [0, "2-5"], 8, [1, 6, 7]),  # §1.4 e2e example
        (3, 0, [1], 4, [0, 2, 3]),  # field comment: pod-1 deleted, pod-3 created
        (2, 0, [1], 3, [0, 2]),  # field comment, replicas=2: only pod-1 goes
        (3, 0, [], 3, [0, 1, 2]),
        (0, 0, [0, 1], 0, []),
        (0, 5, [], 5, []),
        (2, 0, ["0-9"], 12, [10, 11]),
        (2, 3, ["0-4"], 7, [5, 6]),  # interval straddling start
        (3, 0, [5], 3, [0, 1, 2]),  # ineffective reservation
        (3, 0, ["bad"], 3, [0, 1, 2]),  # invalid -> nothing reserved
    ],
)
def test_replica_range_examples(
    replicas: int, start: int, reserve: list[int | str], end: int, expected_slots: list[int]
) -> None:
    r = Reserved.parse(reserve)
    assert replica_range(replicas, start, r) == (start, end)
    assert slots(replicas, start, r) == expected_slots


def test_replica_range_huge_reservation_is_fast() -> None:
    r = Reserved.parse(["0-1000000000", "1000000002-1999999999"])
    t0 = time.perf_counter()
    assert replica_range(3, 0, r) == (0, 2000000002)
    assert slots(3, 0, r) == [1000000001, 2000000000, 2000000001]
    assert slot_index(2000000001, 0, r) == 2
    assert time.perf_counter() - t0 < 0.1


@given(
    replicas=st.integers(0, 30),
    start=st.integers(0, 20),
    raw=st.lists(st.one_of(st.integers(0, 60), st.tuples(st.integers(0, 60), st.integers(0, 8))), max_size=6),
)
def test_replica_range_matches_naive_walk(replicas: int, start: int, raw: list[Any]) -> None:
    items: list[int | str] = [f"{x[0]}-{x[0] + x[1]}" if isinstance(x, tuple) else x for x in raw]
    eager = parse_reserve_ordinals(items)
    # Kruise getStatefulSetReplicasRange, literally
    end, count = start, 0
    while count < replicas:
        if end not in eager:
            count += 1
        end += 1
    r = Reserved.parse(items)
    assert replica_range(replicas, start, r) == (start, end)
    got = slots(replicas, start, r)
    assert got == [o for o in range(start, end) if o not in eager]
    assert len(got) == replicas
    # positions count non-reserved slots only (P1: partition counts pods, not ordinals)
    assert [slot_index(o, start, r) for o in got] == list(range(replicas))


# --------------------------------------------------------------------------------------------------
# Pod names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("web-0", ("web", 0)),
        ("web-12", ("web", 12)),
        ("my-web-3", ("my-web", 3)),
        ("web-01", ("web", 1)),
        ("web", None),
        ("web-", None),
        ("web-a", None),
        ("web-1a", None),
        ("-5", ("", 5)),
        ("web-2147483647", ("web", 2147483647)),
        ("web-2147483648", None),  # Kruise ParseInt(_, 10, 32) fails -> not a member
        ("web-1\n", None),
    ],
)
def test_parse_ordinal(name: str, expected: tuple[str, int] | None) -> None:
    assert parse_ordinal(name) == expected


def test_split_pods_range_reserved_and_condemned() -> None:
    # replicas=3, pods [0,1,2], reserve=[1] -> pod-1 condemned, pod-3 missing (created by the caller)
    r = Reserved.parse([1])
    start, end = replica_range(3, 0, r)
    pods = [pod("web-0"), pod("web-1"), pod("web-2"), pod("other-0"), pod("web"), pod("web-x")]
    replicas, condemned = split_pods("web", pods, start, end, r)
    assert sorted(replicas) == [0, 2]
    assert names(condemned) == ["web-1"]


def test_split_pods_condemned_highest_first() -> None:
    r = Reserved.parse([])
    pods = [pod(f"web-{i}") for i in (3, 0, 7, 5, 1)]
    replicas, condemned = split_pods("web", pods, 0, 2, r)
    assert sorted(replicas) == [0, 1]
    assert names(condemned) == ["web-7", "web-5", "web-3"]


def test_split_pods_below_start_is_condemned() -> None:
    r = Reserved.parse([])
    replicas, condemned = split_pods("web", [pod("web-0"), pod("web-2"), pod("web-3")], 2, 4, r)
    assert sorted(replicas) == [2, 3]
    assert names(condemned) == ["web-0"]


def test_split_pods_prefers_canonical_name_on_duplicate_ordinal() -> None:
    r = Reserved.parse([])
    for order in ([pod("web-01"), pod("web-1")], [pod("web-1"), pod("web-01")]):
        replicas, condemned = split_pods("web", order, 0, 2, r)
        assert replicas[1]["metadata"]["name"] == "web-1"
        assert condemned == []
    replicas, _ = split_pods("web", [pod("web-01")], 0, 2, r)
    assert replicas[1]["metadata"]["name"] == "web-01"


def test_split_pods_set_name_with_dash() -> None:
    r = Reserved.parse([])
    replicas, condemned = split_pods("a-b", [pod("a-b-0"), pod("a-0"), pod("a-b-c-0")], 0, 1, r)
    assert list(replicas) == [0]
    assert condemned == []


@given(
    replicas=st.integers(0, 12),
    raw=st.lists(st.integers(0, 20), max_size=5),
    existing=st.sets(st.integers(0, 25), max_size=15),
)
def test_split_pods_partitions_members(replicas: int, raw: list[int], existing: set[int]) -> None:
    r = Reserved.parse(list(raw))
    start, end = replica_range(replicas, 0, r)
    replicas_by_ord, condemned = split_pods("s", [pod(f"s-{o}") for o in existing], start, end, r)
    cond = [parse_ordinal(p["metadata"]["name"]) for p in condemned]
    cond_ords = [c[1] for c in cond if c is not None]
    assert set(replicas_by_ord) | set(cond_ords) == existing
    assert not set(replicas_by_ord) & set(cond_ords)
    assert set(replicas_by_ord) <= set(slots(replicas, start, r))
    assert cond_ords == sorted(cond_ords, reverse=True)


# --------------------------------------------------------------------------------------------------
# ordinals.start


@pytest.mark.parametrize(
    ("sts", "gate", "expected"),
    [
        ({"spec": {"ordinals": {"start": 5}}}, True, 5),
        ({"spec": {"ordinals": {"start": 5}}}, False, 0),
        ({"spec": {"ordinals": {}}}, True, 0),
        ({"spec": {}}, True, 0),
        ({}, True, 0),
    ],
)
def test_get_start_ordinal(sts: dict[str, Any], gate: bool, expected: int) -> None:
    assert get_start_ordinal(sts, gate) == expected


def test_start_ordinal_gate_defaults_on() -> None:
    assert START_ORDINAL_GATE_DEFAULT is True
    assert get_start_ordinal({"spec": {"ordinals": {"start": 2}}}) == 2
