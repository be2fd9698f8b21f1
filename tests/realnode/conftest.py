"""The real-node tier: the same scenarios against the real kubelet (containerd + runc) and against
the node simulator, on one control plane, so every difference between them shows.

Each scenario test is parametrized over a :class:`Target`: ``real`` (the node :class:`RealNode`
starts: kubelet v1.36.2, containerd, runc, CNI bridge; skipped, with the exact reason, when it
cannot start here) and ``sim`` (a simulated node). Both must pass the same assertions, which are
the real kubelet's behaviour; each also records the shape of the pod statuses it ended with, and
``test_zz_differences.py`` compares the two shapes field by field.

``KRUISE_PY_REAL_NODE=0`` skips the real node; ``=require`` turns its skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox import images
from kruise_py.sandbox.controlplane import ControlPlane
from kruise_py.sandbox.realnode import TOLERATION, RealNode, RealNodeUnavailable
from tests.integration import conftest as _integration
from tests.integration.conftest import Kubectl, OperatorProcess, wait_for

# The integration tier's fixtures, registered for this tier too (own control plane, simulator
# with 3 nodes, operator, per-test namespace).
bins = _integration.bins
control_plane = _integration.control_plane
kubeconfig = _integration.kubeconfig
kubectl = _integration.kubectl
simulator = _integration.simulator
crds = _integration.crds
operator = _integration.operator
ns = _integration.ns
sidecarsets = _integration.sidecarsets
__all__ = ["Kubectl", "OperatorProcess", "wait_for"]

APP_V1, APP_V2 = images.APP_V1, images.APP_V2
# A container that stops at once on TERM (the images' httpd script does too).
SLEEP = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]


@dataclass
class Target:
    kind: str  # "real" | "sim"
    node: str

    def place(self, pod_spec: dict[str, Any]) -> dict[str, Any]:
        """Pin a pod spec to this node (the real one is tainted NoSchedule)."""
        pod_spec["nodeSelector"] = {**pod_spec.get("nodeSelector", {}), "kubernetes.io/hostname": self.node}
        pod_spec["tolerations"] = [*pod_spec.get("tolerations", []), dict(TOLERATION)]
        return pod_spec


@dataclass
class Shapes:
    """Per scenario and target kind: the normalised pod statuses a scenario ended with."""

    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    timelines: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, scenario: str, target: Target, shape: Any, timeline: Any = None) -> None:
        self.final.setdefault(scenario, {})[target.kind] = shape
        if timeline is not None:
            self.timelines.setdefault(scenario, {})[target.kind] = timeline


_SHAPES = Shapes()


@pytest.fixture(scope="session")
def shapes() -> Shapes:
    return _SHAPES


@pytest.fixture(scope="session")
def real_node(
    control_plane: ControlPlane, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealNode | str]:
    """The started real node, or the reason it could not start (a string)."""
    mode = os.environ.get("KRUISE_PY_REAL_NODE", "1")
    if mode == "0":
        yield "KRUISE_PY_REAL_NODE=0"
        return
    rn = RealNode(
        tmp_path_factory.mktemp("realnode"),
        control_plane.workdir / "pki",
        control_plane.server,
        control_plane.kubeconfig,
    )
    try:
        rn.start(build=False)
    except RealNodeUnavailable as e:
        rn.stop()
        if mode == "require":
            pytest.fail(f"KRUISE_PY_REAL_NODE=require and {e}", pytrace=False)
        yield str(e)
        return
    yield rn
    # Pods first, through the kubelet (as a user's delete goes), then the node's processes.
    kubectl.run(
        "delete",
        "pods",
        "-A",
        "--field-selector",
        f"spec.nodeName={rn.name}",
        "--wait=true",
        "--timeout=60s",
        check=False,
    )
    rn.stop()
    kubectl.run("delete", "node", rn.name, check=False)


def _sim_node(kubectl: Kubectl) -> str:
    names = kubectl(
        "get", "nodes", "-l", "kruise-py.io/simulated=true", "-o", "jsonpath={.items[*].metadata.name}"
    )
    return sorted(names.split())[0]


@pytest.fixture(params=["real", "sim"])
def target(request: pytest.FixtureRequest, operator: OperatorProcess, kubectl: Kubectl) -> Target:
    if request.param == "sim":
        return Target("sim", _sim_node(kubectl))
    rn = request.getfixturevalue("real_node")
    if isinstance(rn, str):
        pytest.skip(f"real node unavailable: {rn}")
    return Target("real", rn.name)


@pytest.fixture
def real_node_dir(real_node: RealNode | str) -> Path | None:
    return real_node.workdir if isinstance(real_node, RealNode) else None
