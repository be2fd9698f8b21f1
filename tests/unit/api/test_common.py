"""IntOrString, label selectors, priority strategy, FieldError."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.api import (
    FieldError,
    LabelSelector,
    LabelSelectorRequirement,
    int_or_percent,
    is_selector_overlapping,
    label_selector_matches,
    parse_int_or_percent,
    selector_to_string,
)
from kruise_py.api.common import (
    UpdatePriorityStrategy,
    priority_strategy_error,
    validate_label_selector,
    validate_positive_int_or_percent,
)
from kruise_py.api.errors import aggregate

# --------------------------------------------------------------------------------------------------
# int_or_percent


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        (3, 10, True, 3),
        (3, 10, False, 3),
        (0, 10, True, 0),
        ("50%", 10, True, 5),
        ("50%", 10, False, 5),
        ("25%", 10, True, 3),  # 2.5 up
        ("25%", 10, False, 2),  # 2.5 down
        ("5%", 5, True, 1),  # SidecarSet: 0.25 rounds up to 1 (spec §5.4 table)
        ("5%", 5, False, 0),  # ASTS rounds down (the floor of 1 is applied by the caller)
        ("40%", 5, True, 2),  # BCJ: 40% of 5 desired -> 2 (spec §4.6)
        ("10%", 1000, True, 100),
        ("100%", 7, False, 7),
        ("0%", 100, True, 0),
        ("150%", 10, False, 15),
        ("-10%", 10, False, -1),  # Atoi accepts a sign; validation rejects it
        ("+10%", 10, False, 1),
    ],
)
def test_int_or_percent(value: int | str, total: int, round_up: bool, expected: int) -> None:
    assert int_or_percent(value, total, round_up) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5", "string is not a percentage"),
        ("abc", "string is not a percentage"),
        ("a%", 'invalid value "a%"'),
        ("1.5%", 'invalid value "1.5%"'),
        ("%", 'invalid value "%"'),
        (True, "neither int nor percentage"),
        (1.5, "neither int nor percentage"),
    ],
)
def test_int_or_percent_invalid(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match="invalid value for IntOrString") as exc:
        int_or_percent(value, 10, True)
    assert message in str(exc.value)


def test_parse_int_or_percent() -> None:
    assert parse_int_or_percent(7) == (7, False)
    assert parse_int_or_percent("7%") == (7, True)


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=0, max_value=100000))
def test_percent_rounding_properties(pct: int, total: int) -> None:
    up = int_or_percent(f"{pct}%", total, True)
    down = int_or_percent(f"{pct}%", total, False)
    exact = pct * total / 100
    assert down <= exact <= up
    assert up - down in (0, 1)
    assert (up == down) == (pct * total % 100 == 0)


@given(
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.integers(min_value=0, max_value=10**6),
    st.booleans(),
)
def test_int_is_returned_unchanged(value: int, total: int, round_up: bool) -> None:
    assert int_or_percent(value, total, round_up) == value


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (0, True),
        (5, True),
        ("0%", True),
        ("10%", True),
        (-1, False),
        ("10", False),
        ("x%", False),
        (1.5, False),
    ],
)
def test_validate_positive_int_or_percent(value: Any, ok: bool) -> None:
    errs = validate_positive_int_or_percent(value, "spec.x")
    assert (errs == []) is ok
    assert all(e.path == "spec.x" for e in errs)


# --------------------------------------------------------------------------------------------------
# label selectors

LABELS = {"app": "web", "tier": "front", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (None, LABELS, False),  # nil selector matches nothing
        ({}, LABELS, True),  # empty selector matches everything
        ({"matchLabels": {"app": "web"}}, LABELS, True),
        ({"matchLabels": {"app": "db"}}, LABELS, False),
        ({"matchLabels": {"app": "web", "tier": "front"}}, LABELS, True),
        ({"matchLabels": {"missing": "x"}}, LABELS, False),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "qa"]}]}, LABELS, True),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["qa"]}]}, LABELS, False),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["qa"]}]}, LABELS, True),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, LABELS, False),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, LABELS, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, LABELS, True),
        ({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, LABELS, False),
        ({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, LABELS, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, LABELS, False),
        ({"matchExpressions": [{"key": "app", "operator": "Bogus", "values": ["web"]}]}, LABELS, False),
        ({"matchLabels": {"app": "web"}}, None, False),
        ({}, None, True),
    ],
)
def test_label_selector_matches(selector: Any, labels: Any, expected: bool) -> None:
    assert label_selector_matches(selector, labels) is expected


def test_label_selector_matches_accepts_models() -> None:
    sel = LabelSelector(
        match_labels={"app": "web"},
        match_expressions=[LabelSelectorRequirement(key="env", operator="In", values=["prod"])],
    )
    assert label_selector_matches(sel, LABELS)
    assert not label_selector_matches(sel, {"app": "web"})


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"app": "foo"}}, "app=foo"),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchLabels": {"app": "foo"},
                "matchExpressions": [{"key": "k", "operator": "In", "values": ["b", "a"]}],
            },
            "app=foo,k in (a,b)",
        ),
        ({"matchExpressions": [{"key": "k", "operator": "NotIn", "values": ["x"]}]}, "k notin (x)"),
        ({"matchExpressions": [{"key": "k", "operator": "Exists"}]}, "k"),
        ({"matchExpressions": [{"key": "k", "operator": "DoesNotExist"}]}, "!k"),
        ({}, ""),
        (None, ""),
    ],
)
def test_selector_to_string(selector: Any, expected: str) -> None:
    assert selector_to_string(selector) == expected


@pytest.mark.parametrize(
    ("s1", "s2", "expected"),
    [
        ({"matchLabels": {"a": "b"}}, {"matchLabels": {"a": "c"}}, False),
        ({"matchLabels": {"a": "h"}}, {"matchLabels": {"b": "i"}}, True),  # spec §6.3: counts as overlapping
        ({"matchLabels": {"a": "b"}}, {"matchLabels": {"a": "b"}}, True),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["b", "c"]}]},
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["b", "c"]}]},
            False,
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["b", "c"]}]},
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["c", "d"]}]},
            True,
        ),
        ({"matchLabels": {"a": "b"}}, {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, True),
        (
            {"matchLabels": {"a": "b"}},
            {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]},
            False,
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
            {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]},
            False,
        ),
        (
            {"matchLabels": {"a": "b", "c": "d", "e": "f"}},
            {"matchLabels": {"a": "x", "c": "d", "e": "f"}},
            False,
        ),
        ({"matchLabels": {"a": "b"}}, None, True),
    ],
)
def test_is_selector_overlapping(s1: Any, s2: Any, expected: bool) -> None:
    assert is_selector_overlapping(s1, s2) is expected
    assert is_selector_overlapping(s2, s1) is expected  # symmetric


@pytest.mark.parametrize(
    ("selector", "path", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "s.matchExpressions[0].values",
            "must be specified",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "s.matchExpressions[0].values",
            "may not be specified",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Foo"}]},
            "s.matchExpressions[0].operator",
            "not a valid",
        ),
        ({"matchLabels": {"bad key": "x"}}, "s.matchLabels", "name part must consist"),
        ({"matchLabels": {"k": "bad value!"}}, "s.matchLabels", "a valid label must be"),
    ],
)
def test_validate_label_selector(selector: Any, path: str, message: str) -> None:
    errs = validate_label_selector(selector, "s")
    assert any(e.path == path and message in e.message for e in errs), errs
    assert validate_label_selector({"matchLabels": {"app": "x"}}, "s") == []


# --------------------------------------------------------------------------------------------------
# UpdatePriorityStrategy


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (None, None),
        ({"weightPriority": [{"weight": 50, "matchSelector": {"matchLabels": {"k": "v"}}}]}, None),
        ({"weightPriority": [{"weight": 0, "matchSelector": {"matchLabels": {"k": "v"}}}]}, None),  # P19
        ({"orderPriority": [{"orderedKey": "k"}]}, None),
        (
            {
                "weightPriority": [{"weight": 50, "matchSelector": {"matchLabels": {"k": "v"}}}],
                "orderPriority": [{"orderedKey": "k"}],
            },
            "only one of weightPriority and orderPriority can be used",
        ),
        (
            {"weightPriority": [{"weight": 101, "matchSelector": {"matchLabels": {"k": "v"}}}]},
            "weight must be valid number in the range 1-100",
        ),
        (
            {"weightPriority": [{"weight": -1, "matchSelector": {"matchLabels": {"k": "v"}}}]},
            "weight must be valid number in the range 1-100",
        ),
        ({"weightPriority": [{"weight": 10, "matchSelector": {}}]}, "selector can not be empty"),
        ({"orderPriority": [{"orderedKey": ""}]}, "order key can not be empty"),
    ],
)
def test_priority_strategy_error(strategy: Any, message: str | None) -> None:
    model = UpdatePriorityStrategy.model_validate(strategy) if strategy is not None else None
    assert priority_strategy_error(model) == message


# --------------------------------------------------------------------------------------------------
# FieldError


def test_field_error_str_and_aggregate() -> None:
    e1 = FieldError("spec.replicas", "must be greater than or equal to 0")
    e2 = FieldError("spec.selector", "Required value", "Required")
    assert str(e1) == "spec.replicas: Invalid value: must be greater than or equal to 0"
    assert str(e2) == "spec.selector: Required value"
    assert aggregate([e1]) == str(e1)
    assert aggregate([e1, e2]) == f"[{e1}, {e2}]"
