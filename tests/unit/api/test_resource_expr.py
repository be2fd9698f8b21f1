"""resourcesPolicy expressions and quantities, against OpenKruise's calculator and apimachinery."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest

from kruise_py.api import resource_expr as rx
from kruise_py.api.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    FORMAT_WRONG,
    SUFFIX_WRONG,
    Quantity,
    QuantityError,
    parse,
)

VECTORS = json.loads((Path(__file__).parent / "data" / "resource_expr_vectors.json").read_text())["vectors"]


def _variable(val: str) -> rx.Value:
    if val.startswith("num:"):
        return rx.Value(number=float(val[4:]))
    if val == "":
        return rx.Value(quantity=Quantity(Fraction(0), ""))  # Go's zero Quantity{}
    return rx.Value(quantity=parse(val))


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{i}:{v['expr'][:40]}" for i, v in enumerate(VECTORS)])
def test_evaluation_matches_openkruise_calculator(vector: dict[str, str]) -> None:
    """hack/resource_expr_vectors.py recorded these answers from OpenKruise v1.9's calculator."""
    try:
        got = rx.evaluate(vector["expr"], {vector["var"]: _variable(vector["val"])})
    except rx.ExpressionError as e:
        assert "err" in vector, f"OpenKruise evaluates it: {vector}"
        assert str(e) == vector["err"]
        return
    assert "err" not in vector, f"OpenKruise fails with {vector['err']!r}, we got {got}"
    if "quantity" in vector:
        assert got.quantity is not None and str(got.quantity) == vector["quantity"]
    else:
        assert got.quantity is None and got.number == float(vector["number"])


def test_the_vectors_cover_each_kind_of_answer() -> None:
    kinds = {k for v in VECTORS for k in ("quantity", "number", "err") if k in v}
    assert kinds == {"quantity", "number", "err"}
    errors = {v["err"].split(":")[0] for v in VECTORS if "err" in v}
    for expected in (
        "parse error",
        "undefined variable",
        "unknown function",
        "division by zero",
        "multiplication of two quantities",
        "calculation result is negative",
    ):
        assert expected in errors


# (text, String(), Format, MilliValue()) as apimachinery v0.32 prints them.
QUANTITIES = [
    ("0", "0", DECIMAL_SI, 0),
    ("1", "1", DECIMAL_SI, 1000),
    ("100m", "100m", DECIMAL_SI, 100),
    ("0.1", "100m", DECIMAL_SI, 100),
    ("1.5", "1500m", DECIMAL_SI, 1500),
    ("1000", "1k", DECIMAL_SI, 1000000),
    ("1000000", "1M", DECIMAL_SI, 1000000000),
    ("1e3", "1e3", DECIMAL_EXPONENT, 1000000),
    ("1e-3", "1e-3", DECIMAL_EXPONENT, 1),
    ("1.5e3", "1500", DECIMAL_EXPONENT, 1500000),
    ("512Mi", "512Mi", BINARY_SI, 536870912000),
    ("1024", "1024", DECIMAL_SI, 1024000),
    ("1023Ki", "1023Ki", BINARY_SI, 1047552000),
    ("1.5Gi", "1536Mi", BINARY_SI, 1610612736000),
    ("0.5Ki", "512", BINARY_SI, 512000),
    ("1536", "1536", DECIMAL_SI, 1536000),
    ("1.0001", "1000100u", DECIMAL_SI, 1001),
    ("0.0000000001", "1n", DECIMAL_SI, 1),
    ("-1.5Gi", "-1536Mi", BINARY_SI, -1610612736000),
    (".5", "500m", DECIMAL_SI, 500),
    ("0.000000001Ki", "1024n", DECIMAL_SI, 1),
    ("100Ti", "100Ti", BINARY_SI, 109951162777600000),
]


@pytest.mark.parametrize(("text", "canonical", "fmt", "milli"), QUANTITIES)
def test_quantities_parse_and_print_as_apimachinery(text: str, canonical: str, fmt: str, milli: int) -> None:
    q = parse(text)
    assert (str(q), q.format, q.milli_value()) == (canonical, fmt, milli)


@pytest.mark.parametrize(
    ("text", "message"),
    [("1K", SUFFIX_WRONG), ("abc", FORMAT_WRONG), ("", FORMAT_WRONG), ("1.2.3", FORMAT_WRONG)],
)
def test_invalid_quantities(text: str, message: str) -> None:
    with pytest.raises(QuantityError, match="^" + re.escape(message) + "$"):
        parse(text)


def test_adding_to_zero_takes_the_other_format() -> None:
    zero = Quantity(Fraction(0), DECIMAL_SI)
    total = zero.add(parse("1Gi")).add(parse("512Mi"))
    assert str(total) == "1536Mi"
    assert str(parse("1G").add(parse("1Gi"))) == "2073741824"


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.5, "0.5"),
        (-1.0, "-1"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.30000000000000004, "0.30000000000000004"),
        (-1e21, "-1e+21"),
    ],
)
def test_go_g_format(x: float, text: str) -> None:
    assert rx.go_format_g(x) == text


@pytest.mark.parametrize(
    ("expr", "variable", "error"),
    [
        ("cpu*50%", "cpu", None),
        ("max(memory*50%, 100Mi)", "memory", None),
        ("memory*2", "cpu", "invalid expression: undefined variable: memory"),
        ("cpu - 2", "cpu", "invalid expression: calculation result is negative: -1"),  # cpu is the number 1
        ("cpu*", "cpu", "invalid expression: parse error: syntax error at line 1, col 5"),
        ("+cpu", "cpu", "invalid expression: parse error: syntax error at line 1, col 2"),
        ("cpu*cpu", "cpu", None),  # a number then; fails at injection, where cpu is a quantity
        ("", "cpu", None),
    ],
)
def test_validation_evaluates_with_the_variable_at_one(expr: str, variable: str, error: str | None) -> None:
    assert rx.validation_error(expr, variable) == error


@pytest.mark.parametrize(
    ("expr", "aggregated", "is_limit", "want"),
    [
        ("cpu*50%", "2", True, "1"),
        ("max(cpu*50%, 50m)", "60m", False, "50m"),
        ("memory*50%", "1Gi", True, "512Mi"),
        ("memory/3", "1Gi", False, "357913941333m"),  # milli-units of memory, as OpenKruise computes them
        ("0.25", "1", True, "250m"),  # a plain number is millicores for cpu...
        ("1024", "1Gi", True, "1024"),
        ("memory*0 + 1000", "1Gi", False, "1k"),  # ...and whole units when the word memory appears
        ("", "1", True, None),  # an empty limit is unlimited
        ("", "1", False, "0"),  # an empty request is 0
    ],
)
def test_evaluate_resource(expr: str, aggregated: str, is_limit: bool, want: str | None) -> None:
    got = rx.evaluate_resource(expr, parse(aggregated), is_limit)
    assert (None if got is None else str(got)) == want


def test_evaluate_resource_errors_name_the_expression() -> None:
    with pytest.raises(rx.ExpressionError, match=r'^failed to parse expression "cpu\*cpu": multiplication'):
        rx.evaluate_resource("cpu*cpu", parse("1"), True)
