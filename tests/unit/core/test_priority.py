"""core.priority: UpdatePriorityStrategy sort (spec §1.2, §3.1, P19)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.core.priority import int_suffix, order_key, priority_sort, weight_score
from kruise_py.core.revisions import pod_updated_loose


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def weights(*terms: tuple[int, dict[str, str]]) -> dict[str, Any]:
    return {"weightPriority": [{"weight": w, "matchSelector": {"matchLabels": ml}} for w, ml in terms]}


def orders(*keys: str) -> dict[str, Any]:
    return {"orderPriority": [{"orderedKey": k} for k in keys]}


FOO_BAR = weights((20, {"key": "foo"}), (10, {"key": "bar"}))
THREE = weights((20, {"key1": "foo"}), (10, {"key2": "bar"}), (15, {"key3": "baz"}))
THREE_LOW = weights((20, {"key1": "foo"}), (10, {"key2": "bar"}), (5, {"key3": "baz"}))
K1_K2 = orders("key1", "key2")


# Kruise priority_sort_test.go TestCompare: "does I go before J" with the tie-break true; with a stable
# sort of [I, J] that is: I first unless J strictly outranks I.
@pytest.mark.parametrize(
    ("strategy", "labels_i", "labels_j", "i_first"),
    [
        (FOO_BAR, {}, {}, True),
        (FOO_BAR, {"key": "foo"}, {"key": "foo"}, True),
        (FOO_BAR, {"key": "bar"}, {"key": "foo"}, False),
        (FOO_BAR, {}, {"key": "bar"}, False),
        (FOO_BAR, {}, {"key": "foo"}, False),
        (THREE, {"key1": "foo"}, {"key2": "bar", "key3": "baz"}, False),  # 20 < 25
        (THREE_LOW, {"key2": "bar", "key3": "baz"}, {"key1": "foo"}, False),  # 15 < 20
        (K1_K2, {}, {}, True),
        (K1_K2, {"key1": "o-10"}, {"key1": "o-5"}, True),
        (K1_K2, {"key1": "o-10"}, {"key1": "o-10"}, True),
        (K1_K2, {"key1": "o-10"}, {"key1": "o-20"}, False),
        (K1_K2, {"key2": "o-20"}, {"key1": "o-10"}, False),  # key1 is the higher level
        (K1_K2, {"key2": "o-20"}, {"key2": "o-10"}, True),
    ],
)
def test_kruise_compare_cases(
    strategy: dict[str, Any], labels_i: dict[str, str], labels_j: dict[str, str], i_first: bool
) -> None:
    got = names(priority_sort([pod("i", **labels_i), pod("j", **labels_j)], strategy))
    assert got == (["i", "j"] if i_first else ["j", "i"])


def test_spec_example_sort_part() -> None:
    """§3.1 unit example (Kruise TestSortPodsToUpdate): N=10, P=6, weights k=v1:20, k=v2:10, pods 6
    and 7 already at r1 -> [7, 6, 9, 8]. No pod carries a k label, so every score is 0 and the stable
    sort keeps list B in its high-to-low walk order; A (already updated) goes first, cut to N-P."""
    replicas = [pod(str(i), **{"controller-revision-hash": "r1" if i in (6, 7) else "r0"}) for i in range(10)]
    walk = list(reversed(replicas))
    a = [p for p in walk if pod_updated_loose(p, "r1")]
    b = [p for p in walk if not pod_updated_loose(p, "r1")]
    strategy = weights((20, {"k": "v1"}), (10, {"k": "v2"}))
    assert names((a + priority_sort(b, strategy))[: 10 - 6]) == ["7", "6", "9", "8"]


def test_weights_reorder_high_to_low_walk() -> None:
    strategy = weights((20, {"k": "v1"}), (10, {"k": "v2"}))
    b = [pod("9"), pod("8", k="v2"), pod("5", k="v1"), pod("3", k="v2"), pod("0")]
    assert names(priority_sort(b, strategy)) == ["5", "8", "3", "9", "0"]


def test_order_priority_suffix_and_levels() -> None:
    pods = [
        pod("a", key2="sts-100"),
        pod("b", key1="sts-2"),
        pod("c", key1="sts-10"),
        pod("d", key1="no-digits"),
        pod("e", key2="x-7"),
    ]
    assert names(priority_sort(pods, K1_K2)) == ["c", "b", "d", "a", "e"]


def test_order_priority_p19_quirk_keyless_pods_first() -> None:
    """P19: pods with none of the ordered keys get level -1 and sort BEFORE keyed pods."""
    pods = [pod("keyed", key1="sts-5"), pod("none-1"), pod("other", key2="sts-1"), pod("none-2")]
    assert names(priority_sort(pods, K1_K2)) == ["none-1", "none-2", "keyed", "other"]
    assert order_key(pod("x"), K1_K2["orderPriority"]) == (-1, 0)


def test_no_strategy_keeps_order() -> None:
    pods = [pod("3"), pod("1"), pod("2")]
    assert names(priority_sort(pods, None)) == ["3", "1", "2"]
    assert names(priority_sort(pods, {})) == ["3", "1", "2"]
    assert names(priority_sort(pods, {"weightPriority": [], "orderPriority": []})) == ["3", "1", "2"]
    assert priority_sort(pods, None) is not pods


def test_weight_priority_wins_over_order_priority() -> None:
    strategy = {**FOO_BAR, **K1_K2}
    pods = [pod("a", key1="sts-9"), pod("b", key="foo")]
    assert names(priority_sort(pods, strategy)) == ["b", "a"]


def test_weight_selector_expressions_and_bad_selectors() -> None:
    terms: list[dict[str, Any]] = [
        {
            "weight": 5,
            "matchSelector": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
        },
        {"weight": 50, "matchSelector": {"matchExpressions": [{"key": "zone", "operator": "Bogus"}]}},
        {"weight": 7},  # nil matchSelector = Go zero value = empty selector = matches everything
        {"weight": 0, "matchSelector": {"matchLabels": {"zone": "a"}}},  # weight 0 passes validation (P19)
    ]
    assert weight_score(pod("p", zone="a"), terms) == 12
    assert weight_score(pod("p", zone="b"), terms) == 7


@pytest.mark.parametrize(
    ("value", "expected"),
    [("sts-10", 10), ("10", 10), ("abc", 0), ("", 0), ("a1b2", 2), ("x-007", 7), ("x-" + "9" * 30, 0)],
)
def test_int_suffix(value: str, expected: int) -> None:
    assert int_suffix(value) == expected


@given(
    st.lists(st.tuples(st.sampled_from(["", "v1", "v2", "v3"]), st.integers(0, 3)), max_size=12),
    st.lists(st.tuples(st.sampled_from(["v1", "v2", "v3"]), st.integers(0, 100)), max_size=3),
)
def test_weight_sort_is_stable_permutation(
    pods_spec: list[tuple[str, int]], terms: list[tuple[str, int]]
) -> None:
    pods = [pod(str(i), **({"k": v} if v else {})) for i, (v, _) in enumerate(pods_spec)]
    strategy = weights(*[(w, {"k": v}) for v, w in terms])
    out = priority_sort(pods, strategy)
    assert sorted(names(out), key=int) == names(pods)
    scores = [weight_score(p, strategy["weightPriority"]) for p in out]
    assert scores == sorted(scores, reverse=True)
    for a, b in itertools.pairwise(out):
        if weight_score(a, strategy["weightPriority"]) == weight_score(b, strategy["weightPriority"]):
            assert int(a["metadata"]["name"]) < int(b["metadata"]["name"])  # ties keep input order
