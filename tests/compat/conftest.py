"""The compat tier: kruise-py against the real OpenKruise 1.9 manager, on a control plane of its own.

It runs when ``OPENKRUISE_MANAGER_BIN`` points at a manager built from OpenKruise's source
(docs/migrate.md, "Testing against OpenKruise"; the source tree is found beside the binary or at
``OPENKRUISE_SRC``) and skips, saying so, otherwise: OpenKruise is not on the package registries
our CI installs from. ``KRUISE_COMPAT_RECORD=1`` also rewrites the fixtures that
tests/integration/test_takeover_replay.py replays without OpenKruise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox import binaries, openkruise
from kruise_py.sandbox.controlplane import ControlPlane
from tests.integration.conftest import (  # noqa: F401 - fixtures, reused as they are
    bins,
    kubeconfig,
    kubectl,
    simulator,
)

FIGURES: dict[str, Any] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.compat)


@pytest.fixture(scope="session")
def openkruise_dist() -> openkruise.OpenKruiseDist:
    try:
        return openkruise.find()
    except openkruise.OpenKruiseMissing as e:
        pytest.skip(f"compat tier needs OpenKruise's manager: {e}")


@pytest.fixture(scope="session")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory,
    bins: binaries.Binaries,  # noqa: F811
    openkruise_dist: openkruise.OpenKruiseDist,
) -> Iterator[ControlPlane]:
    cp = ControlPlane(workdir=tmp_path_factory.mktemp("compat-controlplane"), bins=bins)
    cp.start()
    yield cp
    cp.stop()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    return FIGURES.setdefault(request.node.name, {})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    out = Path(str(terminalreporter.config._tmp_path_factory.getbasetemp())) / "compat-figures.json"
    out.write_text(json.dumps(FIGURES, indent=1, sort_keys=True))
    terminalreporter.section("compat figures")
    for name, figs in FIGURES.items():
        terminalreporter.write_line(f"{name}: {json.dumps(figs, sort_keys=True)}")
