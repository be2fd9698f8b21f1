"""reserveOrdinals parsing, v1alpha1 <-> v1beta1 conversion, package purity."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.api import StatefulSetV1alpha1, from_dict, parse_reserve_ordinals
from kruise_py.api.statefulset import parse_range, to_v1alpha1, to_v1beta1

from .examples import ASTS_V1ALPHA1, ASTS_V1BETA1, load


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (None, set()),
        ([], set()),
        ([1, 3], {1, 3}),
        ([0, "2-5"], {0, 2, 3, 4, 5}),  # spec §1.4 e2e example
        (["7-7"], {7}),
        ([1, 1, "0-1"], {0, 1}),
        # one bad range empties the whole set, as Kruise's GetReserveOrdinalIntSet does
        ([1, "5-3"], set()),
        ([1, "a-b"], set()),
        ([1, "-1-3"], set()),
    ],
)
def test_parse_reserve_ordinals(items: Any, expected: set[int]) -> None:
    assert parse_reserve_ordinals(items) == expected


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 10)), max_size=5))
def test_parse_reserve_ordinals_ranges_property(ranges: list[tuple[int, int]]) -> None:
    items: list[int | str] = [f"{a}-{a + n}" for a, n in ranges]
    expected = {x for a, n in ranges for x in range(a, a + n + 1)}
    assert parse_reserve_ordinals(items) == expected


@pytest.mark.parametrize(("text", "expected"), [("0-0", (0, 0)), ("2-10", (2, 10))])
def test_parse_range(text: str, expected: tuple[int, int]) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize("text", ["3-1", "1", "1-2-3", "a-b", " 1-2", "1 - 2", "+1-2"])
def test_parse_range_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid range"):
        parse_range(text)


def test_conversion() -> None:
    beta = load(ASTS_V1BETA1)
    alpha = to_v1alpha1(beta)
    assert alpha["apiVersion"] == "apps.kruise.io/v1alpha1"
    for field in (
        "reserveOrdinals",
        "lifecycle",
        "scaleStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "ordinals",
    ):
        assert field not in alpha["spec"]
    assert "updatedReadyReplicas" not in alpha["status"]
    assert alpha["spec"]["updateStrategy"] == beta["spec"]["updateStrategy"]
    assert isinstance(from_dict(alpha), StatefulSetV1alpha1)
    assert beta["apiVersion"] == "apps.kruise.io/v1beta1"  # input untouched

    original = load(ASTS_V1ALPHA1)
    back = to_v1alpha1(to_v1beta1(original))
    assert back == original


def test_api_package_stays_pure() -> None:
    """kruise_py.api must not pull in kopf, kubernetes clients, aiohttp or our I/O layers."""
    code = (
        "import sys, kruise_py.api\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('kopf','kubernetes','kubernetes_asyncio','lightkube','aiohttp') "
        "or m.startswith(('kruise_py.runtime','kruise_py.operator','kruise_py.sandbox'))]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
