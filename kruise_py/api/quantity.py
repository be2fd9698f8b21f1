"""Kubernetes resource quantities (resource.Quantity) as exact numbers."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

_QTY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$")
_SUFFIX: dict[str, Fraction] = {
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 10**3), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
}


def parse_quantity(v: Any) -> Fraction:
    """A Kubernetes resource.Quantity ("500m", "1Gi", "1e3", 2) as an exact number; ValueError if invalid."""
    if isinstance(v, bool):
        raise ValueError(f"invalid quantity {v!r}")
    if isinstance(v, int | float):
        return Fraction(str(v))
    if not isinstance(v, str):
        raise ValueError(f"invalid quantity {v!r}")
    m = _QTY.match(v.strip())
    if not m:
        raise ValueError(f"invalid quantity {v!r}")
    number, suffix, exponent = m.groups()
    value = Fraction(number)
    if exponent is not None:
        return value * Fraction(10) ** int(exponent)
    return value * _SUFFIX[suffix or ""]
