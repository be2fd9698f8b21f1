"""After the scenarios (this file sorts last): the real kubelet's and the simulator's final pod
statuses, field by field. Any difference is a simulator bug to fix (docs/realnode.md lists the
ones found so far); the intermediate views are printed for reading, not compared (they depend on
timing)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Shapes
from .observe import UNLIMITED_V1

pytestmark = pytest.mark.realnode


def _only_v1_unlimited(a: Any) -> bool:
    return a == UNLIMITED_V1 or (
        isinstance(a, dict) and bool(a) and all(_only_v1_unlimited(v) for v in a.values())
    )


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    if _only_v1_unlimited(a) and (b is None or not isinstance(b, dict)):
        return []  # a cgroup v1 reading of the real node; the simulator models cgroup v2
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in diff(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path or '.'}: real={json.dumps(a)} sim={json.dumps(b)}"]


def test_simulator_matches_the_real_kubelet(shapes: Shapes) -> None:
    both = {s: v for s, v in shapes.final.items() if {"real", "sim"} <= set(v)}
    if not both:
        pytest.skip("no scenario ran on both the real node and the simulator (see the real-node skips above)")
    for scenario, tl in shapes.timelines.items():
        for kind, views in tl.items():
            print(f"{scenario} [{kind}]:", *views, sep="\n  ")
    problems = [f"{s}: {d}" for s, v in sorted(both.items()) for d in diff(v["real"], v["sim"])]
    assert not problems, "simulator differs from the real kubelet:\n" + "\n".join(problems)
