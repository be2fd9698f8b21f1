"""Kubernetes ``resource.Quantity`` with its format, as apimachinery parses and prints it.

What SidecarSet ``resourcesPolicy`` needs (k8s.io/apimachinery/pkg/api/resource): ``parse``
(``ParseQuantity``: a value rounded up to nano units, and the format its suffix implies), the
canonical string (``String``/``CanonicalizeBytes``: the suffix follows the format, a BinarySI
value that is not a whole multiple of a power of 1024 or below 1024 prints in DecimalSI), ``Add``
(a zero left operand takes the right one's format), ``MilliValue`` (rounded away from zero),
``SetMilli`` (keeps the format) and comparisons. Values are exact fractions, so the int64/big.Dec
split of Go does not matter; results that Go would overflow are out of scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {v: k for k, v in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {v: k for k, v in _BINARY_SUFFIXES.items()}
_EXPONENT_SUFFIX = re.compile(r"^[eE][+-]?[0-9]+$")
_NANO = Fraction(1, 10**9)


class QuantityError(ValueError):
    """Not a quantity (apimachinery's ErrFormatWrong / ErrSuffix, with their messages)."""


FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
SUFFIX_WRONG = "unable to parse quantity's suffix"


@dataclass(frozen=True)
class Quantity:
    value: Fraction
    format: str = DECIMAL_SI  # "" is Go's zero Quantity{}: prints "0", or DecimalExponent if non-zero

    # -- arithmetic as apimachinery does it -------------------------------------------------------
    def add(self, other: Quantity) -> Quantity:
        """``q.Add(y)``: a zero receiver takes y's format."""
        fmt = other.format if self.value == 0 else self.format
        return Quantity(self.value + other.value, fmt)

    def neg(self) -> Quantity:
        return Quantity(-self.value, self.format)

    def milli_value(self) -> int:
        """``MilliValue``: q * 1000 rounded away from zero."""
        scaled = self.value * 1000
        whole = int(scaled)  # toward zero
        if scaled != whole:
            whole += 1 if scaled > 0 else -1
        return whole

    def with_milli(self, milli: int) -> Quantity:
        """``SetMilli``: the value milli/1000, the format kept."""
        return Quantity(Fraction(milli, 1000), self.format)

    def sign(self) -> int:
        return (self.value > 0) - (self.value < 0)

    def __str__(self) -> str:
        return canonical(self)


def new_milli_quantity(milli: int, fmt: str = DECIMAL_SI) -> Quantity:
    return Quantity(Fraction(milli, 1000), fmt)


def new_quantity(value: int, fmt: str = DECIMAL_SI) -> Quantity:
    return Quantity(Fraction(value), fmt)


# -- parsing ----------------------------------------------------------------------------------------
def _split(text: str) -> tuple[bool, str, str, str]:
    """parseQuantityString: (positive, numerator digits, denominator digits, suffix)."""
    positive, pos, end = True, 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] != "-"
        pos += 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "", ""
    start = pos
    while pos < end and "0" <= text[pos] <= "9":
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and "0" <= text[pos] <= "9":
            pos += 1
        denom = text[start:pos]
    suffix_start = pos
    while pos < end and text[pos] in "eEinumkKMGTP":
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and "0" <= text[pos] <= "9":
        pos += 1
    if pos < end:
        raise QuantityError(FORMAT_WRONG)
    return positive, num, denom, text[suffix_start:]


def parse(text: str) -> Quantity:
    """``resource.ParseQuantity``: QuantityError when ``text`` is not a quantity."""
    if not text:
        raise QuantityError(FORMAT_WRONG)
    if text == "0":
        return Quantity(Fraction(0), DECIMAL_SI)
    positive, num, denom, suffix = _split(text)
    amount = Fraction(int(num + denom), 10 ** len(denom))
    if suffix in _DECIMAL_SUFFIXES:
        amount *= Fraction(10) ** _DECIMAL_SUFFIXES[suffix]
        fmt = DECIMAL_SI
    elif suffix in _BINARY_SUFFIXES:
        amount *= 2 ** _BINARY_SUFFIXES[suffix]
        fmt = BINARY_SI
    elif _EXPONENT_SUFFIX.match(suffix):
        amount *= Fraction(10) ** int(suffix[1:])
        fmt = DECIMAL_EXPONENT
    else:
        raise QuantityError(SUFFIX_WRONG)
    # Non-zero values are rounded up to the nano unit ("if you want some, you get some").
    if amount and amount % _NANO:
        amount = (amount // _NANO + 1) * _NANO
    if fmt == BINARY_SI:
        amount = min(amount, Fraction(2**63 - 1))  # "a simple cap"
        if 0 < amount < 1:
            fmt = DECIMAL_SI
    return Quantity(amount if positive else -amount, fmt)


# -- printing ---------------------------------------------------------------------------------------
def _decimal_mantissa(value: Fraction) -> tuple[int, int]:
    """value = mantissa * 10**exponent, the exponent a multiple of 3 and as large as possible."""
    exponent = 0
    while value.denominator != 1:
        value *= 10
        exponent -= 1
    mantissa = int(value)
    while mantissa and mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    return mantissa, exponent


def canonical(q: Quantity) -> str:
    """``Quantity.String()`` (CanonicalizeBytes)."""
    if q.value == 0:
        return "0"
    fmt = q.format
    if fmt == BINARY_SI:
        if -1024 < q.value < 1024 or q.value.denominator != 1:
            fmt = DECIMAL_SI
    elif fmt not in (DECIMAL_SI, DECIMAL_EXPONENT):
        fmt = DECIMAL_EXPONENT
    if fmt == BINARY_SI:
        amount, times = abs(int(q.value)), 0
        while amount >= 1024 and amount % 1024 == 0:
            amount //= 1024
            times += 1
        number = -amount if q.value < 0 else amount
        return f"{number}{_BINARY_BY_EXPONENT.get(times * 10, '')}"
    mantissa, exponent = _decimal_mantissa(q.value)
    if fmt == DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return f"{mantissa}{_DECIMAL_BY_EXPONENT.get(exponent, '')}"


def parse_quantity(v: Any) -> Fraction:
    """The value of a quantity as written in an object ("500m", "1Gi", "1e3", or a JSON number such
    as 2 or 0.5), exactly; ValueError (QuantityError) if it is none."""
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise QuantityError(f"invalid quantity {v!r}")
    return parse(str(v).strip()).value
