"""The reliability tier: faults, conflicts and bad input against the real control plane.

The integration fixtures are reused as they are (imported below), with one difference: this tier
gets its own ControlPlane. Its scenarios SIGKILL the operator and restart kube-apiserver, and a
session shared with tests/integration would see those faults; here they stay inside the tier.

Scale: ``KRUISE_RELIABILITY_SCALE`` (default 1) multiplies every count (pods, kills, invalid
objects) for longer local soak runs; ``KRUISE_RELIABILITY_SEED`` fixes the random fault moments.
The figures of a run (faults injected, violations, recovery times) are printed at the end of the
session and written to ``reliability-figures.json`` in the pytest base temp folder.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox import binaries
from kruise_py.sandbox.controlplane import ControlPlane
from tests.integration.conftest import (  # noqa: F401 - fixtures, reused as they are
    bins,
    crds,
    kubeconfig,
    kubectl,
    ns,
    operator,
    sidecarsets,
    simulator,
)

SCALE = float(os.environ.get("KRUISE_RELIABILITY_SCALE", "1"))
SEED = int(os.environ.get("KRUISE_RELIABILITY_SEED", str(random.SystemRandom().randrange(1 << 30))))
FIGURES: dict[str, dict[str, Any]] = {}


def scaled(n: int) -> int:
    return max(1, round(n * SCALE))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(scope="session")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory,
    bins: binaries.Binaries,  # noqa: F811 - the session fixture, imported above
) -> Iterator[ControlPlane]:
    cp = ControlPlane(workdir=tmp_path_factory.mktemp("reliability-controlplane"), bins=bins)
    cp.start()
    yield cp
    cp.stop()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    return random.Random(f"{SEED}-{request.node.name}")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The figures a scenario reports for docs/reliability.md."""
    return FIGURES.setdefault(request.node.name, {"scale": SCALE, "seed": SEED})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    out = Path(str(terminalreporter.config._tmp_path_factory.getbasetemp())) / "reliability-figures.json"
    out.write_text(json.dumps(FIGURES, indent=1, sort_keys=True))
    terminalreporter.section("reliability figures")
    for name, figs in FIGURES.items():
        terminalreporter.write_line(f"{name}: {json.dumps(figs, sort_keys=True)}")
    terminalreporter.write_line(f"(written to {out})")


# -- the audit log: who wrote what, when ---------------------------------------------------------------
def audit_writes(cp: ControlPlane, since: float = 0.0) -> list[dict[str, Any]]:
    """Write requests recorded by the apiserver (its audit policy logs only writes), oldest first."""
    out = []
    if not cp.audit_log.exists():
        return out
    for line in cp.audit_log.read_text(errors="replace").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("stage") != "ResponseComplete":
            continue
        t = datetime.fromisoformat(ev["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
        if t >= since:
            ev["t"] = t
            out.append(ev)
    return out
