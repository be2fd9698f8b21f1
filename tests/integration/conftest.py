"""The integration test ground: one real control plane per test session, one namespace per test.

Everything here is real: etcd, kube-apiserver (RBAC, admission chain with webhooks),
kube-controller-manager, kube-scheduler, the node simulator playing the kubelet, and the
operator started as users start it (`python -m kruise_py run`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox import binaries
from kruise_py.sandbox.controlplane import ControlPlane, free_port
from kruise_py.sandbox.sandbox import REPO_ROOT, apply_crds, wait_http_ok, wait_nodes_ready
from kruise_py.sandbox.storage import storage_objects

pytestmark = pytest.mark.integration
NODES = int(os.environ.get("KRUISE_PY_TEST_NODES", "3"))


@pytest.fixture(scope="session")
def bins() -> binaries.Binaries:
    try:
        return binaries.find(build=False)
    except binaries.BinariesMissing as e:
        pytest.fail(f"{e}\nRun `kruise-py binaries` (or `make test`, which does) first.", pytrace=False)


@pytest.fixture(scope="session")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory, bins: binaries.Binaries
) -> Iterator[ControlPlane]:
    cp = ControlPlane(workdir=tmp_path_factory.mktemp("controlplane"), bins=bins)
    cp.start()
    yield cp
    cp.stop()


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane) -> Path:
    return control_plane.kubeconfig


class Kubectl:
    """kubectl as a user runs it, against the test control plane."""

    def __init__(self, path: Path, kubeconfig: Path) -> None:
        self.path, self.kubeconfig = path, kubeconfig

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(self.path), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def __call__(self, *args: str, input: str | None = None) -> str:
        return self.run(*args, input=input).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def apply(
        self, manifest: dict[str, Any] | str, namespace: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        ns = ["-n", namespace] if namespace else []
        return self.run("apply", *ns, "-f", "-", input=text, check=check)


@pytest.fixture(scope="session")
def kubectl(bins: binaries.Binaries, kubeconfig: Path) -> Kubectl:
    return Kubectl(bins.kubectl, kubeconfig)


def _spawn(name: str, argv: list[str], logdir: Path, kubeconfig: Path) -> subprocess.Popen[bytes]:
    log = open(logdir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), PYTHONUNBUFFERED="1")
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def simulator(control_plane: ControlPlane, kubeconfig: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = _spawn(
        "simulator",
        [
            sys.executable,
            "-m",
            "kruise_py.sandbox.simulator",
            "--kubeconfig",
            str(kubeconfig),
            "--nodes",
            str(NODES),
        ],
        control_plane.logs,
        kubeconfig,
    )
    wait_nodes_ready(kubeconfig, NODES)
    yield proc
    _stop(proc)


@pytest.fixture(scope="session")
def crds(kubeconfig: Path) -> None:
    apply_crds(kubeconfig)


@pytest.fixture(scope="session")
def sandbox_storage(kubectl: Kubectl, simulator: Any) -> None:
    """The simulator's CSIDriver and StorageClasses (sandbox-expandable, sandbox-fixed), not the
    default class here: other tests' claims without a class stay Pending, as before."""
    for obj in storage_objects(default=False):
        kubectl.apply(obj)


class OperatorProcess:
    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        metrics_port: int,
        log: Path,
        argv: list[str] | None = None,
        kubeconfig: Path | None = None,
    ) -> None:
        self.proc, self.metrics_port, self.log = proc, metrics_port, log
        self.argv, self.kubeconfig = argv or [], kubeconfig

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def kill(self) -> None:
        """SIGKILL: an outage, not a shutdown (the webhook configurations stay registered)."""
        self.proc.kill()
        self.proc.wait()

    def start_again(self) -> None:
        assert self.kubeconfig is not None
        self.proc = _spawn("operator", self.argv, self.log.parent, self.kubeconfig)
        wait_http_ok(f"{self.url}/readyz", 90, self.log)


def local_operator_argv(
    kubeconfig: Path | str, metrics_port: int, cert_dir: Path | str, *extra: str
) -> list[str]:
    """`python -m kruise_py run` against ``kubeconfig``, webhooks in local mode on a free port."""
    return [
        sys.executable,
        "-m",
        "kruise_py",
        "run",
        "--kubeconfig",
        str(kubeconfig),
        "--metrics-host",
        "127.0.0.1",
        "--metrics-port",
        str(metrics_port),
        "--webhook-mode",
        "local",
        "--webhook-port",
        str(free_port()),
        "--cert-dir",
        str(cert_dir),
        *extra,
    ]


@pytest.fixture(scope="session")
def operator(
    control_plane: ControlPlane,
    kubeconfig: Path,
    crds: None,
    simulator: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator as users start it: `python -m kruise_py run`, webhooks in local mode."""
    port = free_port()
    argv = local_operator_argv(
        kubeconfig, port, tmp_path_factory.mktemp("webhook-certs"), "--log-level", "INFO"
    )
    proc = _spawn("operator", argv, control_plane.logs, kubeconfig)
    log = control_plane.logs / "operator.log"
    wait_http_ok(f"http://127.0.0.1:{port}/readyz", 90, log)
    op = OperatorProcess(proc, port, log, argv, kubeconfig)
    yield op
    _stop(op.proc)


@pytest.fixture
def ns(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"t-{request.node.name[:30].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:5]}"
    name = "".join(c for c in name if c.isalnum() or c == "-")
    kubectl("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def sidecarsets(kubectl: Kubectl) -> Iterator[list[str]]:
    """Names of cluster-scoped SidecarSets a test creates; deleted after it."""
    names: list[str] = []
    yield names
    if names:
        kubectl.run("delete", "sidecarset", *names, check=False)


def audit_writes(cp: ControlPlane, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
    """Completed write requests in the apiserver's audit log between two byte offsets
    (``cp.audit_log.stat().st_size`` marks a point in time)."""
    with cp.audit_log.open("rb") as f:
        f.seek(start)
        data = f.read() if end is None else f.read(end - start)
    return [
        e
        for line in data.decode().splitlines()
        if line.strip()
        if (e := json.loads(line)).get("stage") == "ResponseComplete"
    ]


def operator_pod_writes(entries: list[dict[str, Any]], ns: str) -> dict[str, Counter[str]]:
    """Per pod of ``ns``: a Counter of the operator's writes to it ("patch", "patch status", ...)."""
    out: dict[str, Counter[str]] = {}
    for e in entries:
        ref = e["objectRef"]
        if (
            ref.get("namespace") == ns
            and ref.get("resource") == "pods"
            and e.get("userAgent", "").startswith("kruise-py/")
        ):
            out.setdefault(ref["name"], Counter())[f"{e['verb']} {ref.get('subresource', '')}".strip()] += 1
    return out


def wait_for(
    cond: Callable[[], Any], timeout: float = 60, interval: float = 0.2, what: str = "condition"
) -> Any:
    """Poll until ``cond()`` is truthy and return it (no timing asserts: the timeout is generous)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except AssertionError as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
