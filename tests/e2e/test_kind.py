"""kind end-to-end tests: for users with Docker. `make e2e-kind` runs them (KIND_E2E=1).

On machines without a Docker engine (this project's CI) they skip and say why; everything they
check is also checked in tests/integration against a real control plane.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _docker_engine() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    r = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=20)
    return None if r.returncode == 0 else "the docker client answers but no Docker engine is running"


pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def kind_cluster() -> str:
    if os.environ.get("KIND_E2E") != "1":
        pytest.skip("kind e2e runs only with KIND_E2E=1 (`make e2e-kind`); integration tests cover the same on a real control plane")
    why = _docker_engine()
    if why:
        pytest.skip(f"kind e2e needs a Docker engine: {why}")
    if shutil.which("kind") is None:
        pytest.skip("kind e2e needs the `kind` binary on PATH (https://kind.sigs.k8s.io)")
    name = "kruise-py-e2e"
    subprocess.run(["kind", "create", "cluster", "--name", name, "--wait", "120s"], check=True)
    return name


def test_kind_cluster_has_nodes(kind_cluster: str) -> None:
    out = subprocess.run(["kubectl", "--context", f"kind-{kind_cluster}", "get", "nodes", "-o", "name"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip(), "kind cluster has no nodes"
