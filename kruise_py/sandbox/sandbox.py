"""`kruise-py sandbox up|down|status`: control plane + node simulator + operator + CRDs, no Docker.

The simulator and the operator run as background processes whose pids live in
``<workdir>/sandbox.json``, so ``up`` can return while they keep running and ``down`` can stop them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import binaries
from .controlplane import ControlPlane, _pid_alive, default_workdir, free_port
from .realnode import RealNode

REPO_ROOT = Path(__file__).resolve().parents[2]


def crd_dir() -> Path:
    return REPO_ROOT / "crds"


def load_crds(directory: Path | None = None) -> list[dict[str, Any]]:
    d = directory or crd_dir()
    return [yaml.safe_load(p.read_text()) for p in sorted(d.glob("*.yaml"))]


@dataclass
class SandboxOptions:
    nodes: int = 3
    operator: bool = True
    sim_args: list[str] = field(default_factory=list)
    operator_args: list[str] = field(default_factory=list)
    real_node: bool = False  # also one real kubelet + containerd node (realnode.py)


class Sandbox:
    def __init__(self, workdir: Path | None = None) -> None:
        self.workdir = workdir or default_workdir()
        # No kube-proxy here: with aggregator routing the apiserver reaches webhook Services (the
        # Helm chart's) through their endpoints instead of an unroutable ClusterIP.
        self.cp = ControlPlane(
            workdir=self.workdir, extra_apiserver_flags=("--enable-aggregator-routing=true",)
        )
        self.state_file = self.workdir / "sandbox.json"

    # -- state ---------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def _save(self, st: dict[str, Any]) -> None:
        self.state_file.write_text(json.dumps(st, indent=1))

    @property
    def kubeconfig(self) -> Path:
        return self.cp.kubeconfig

    def env_lines(self) -> list[str]:
        bindir = binaries.k8s_dir()
        return [f"export KUBECONFIG={self.kubeconfig}", f'export PATH="{bindir}:$PATH"']

    # -- lifecycle -----------------------------------------------------------------------------
    def up(self, opts: SandboxOptions) -> dict[str, Any]:
        t0 = time.monotonic()
        self.cp.start()
        apply_crds(self.kubeconfig)
        st = self._state()
        procs = st.get("procs", {})
        if not _alive(procs.get("simulator")):
            procs["simulator"] = self._spawn(
                "simulator",
                [
                    sys.executable,
                    "-m",
                    "kruise_py.sandbox.simulator",
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--nodes",
                    str(opts.nodes),
                    "--storage-classes",
                    *opts.sim_args,
                ],
            )
        if opts.operator and not _alive(procs.get("operator")):
            metrics_port = free_port()
            procs["operator"] = self._spawn(
                "operator",
                [
                    sys.executable,
                    "-m",
                    "kruise_py",
                    "run",
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--webhook-mode",
                    "local",
                    "--metrics-port",
                    str(metrics_port),
                    "--cert-dir",
                    str(self.workdir / "webhook-certs"),
                    *opts.operator_args,
                ],
            )
            procs["operator"]["metrics_port"] = metrics_port
        st["procs"] = procs
        self._save(st)
        if opts.real_node:
            rn = self.real_node().start()
            st["real_node"] = {
                "name": rn.name,
                "node_ip": rn.state["node_ip"],
                "ready_s": rn.state.get("ready_s"),
            }
            self._save(st)
        wait_nodes_ready(self.kubeconfig, opts.nodes)
        if opts.operator:
            wait_http_ok(
                f"http://127.0.0.1:{procs['operator']['metrics_port']}/readyz",
                60,
                self.workdir / "logs" / "operator.log",
            )
        st["up_s"] = round(time.monotonic() - t0, 2)
        self._save(st)
        return st

    def real_node(self) -> RealNode:
        return RealNode(self.workdir / "realnode", self.workdir / "pki", self.cp.server, self.kubeconfig)

    def down(self, purge: bool = False) -> None:
        st = self._state()
        if (self.workdir / "realnode" / "realnode.json").exists():
            # Its containers die with it; the Node object stays (NotReady) until the next up.
            self.cp.load_state()
            RealNode(self.workdir / "realnode", self.workdir / "pki", "", self.kubeconfig).stop()
        for p in st.get("procs", {}).values():
            _kill(p)
        st["procs"] = {}
        self._save(st)
        self.cp.stop()
        if purge:
            import shutil

            shutil.rmtree(self.workdir, ignore_errors=True)

    def status(self) -> dict[str, Any]:
        st = self._state()
        cp = self.cp.load_state()
        return {
            "workdir": str(self.workdir),
            "kubeconfig": str(self.kubeconfig),
            "control_plane": "running" if self.cp.running() else "stopped",
            "apiserver": self.cp.server if cp.get("ports") else None,
            "components": {c: _pid_alive(pid) for c, pid in cp.get("pids", {}).items()},
            "processes": {name: _alive(p) for name, p in st.get("procs", {}).items()},
        }

    def _spawn(self, name: str, argv: list[str]) -> dict[str, Any]:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=REPO_ROOT,
        )
        log.close()
        return {"pid": proc.pid, "argv": argv}


def _alive(p: dict[str, Any] | None) -> bool:
    return p is not None and bool(p) and _pid_alive(int(p["pid"]))


def _kill(p: dict[str, Any]) -> None:
    pid = int(p["pid"])
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def kubectl(kubeconfig: Path, *args: str, input: str | None = None, check: bool = True) -> str:
    bins = binaries.find(build=False)
    res = subprocess.run(
        [str(bins.kubectl), f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and res.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout


def apply_crds(kubeconfig: Path, directory: Path | None = None, timeout: float = 60) -> None:
    """Apply the CRDs and wait until they are Established.

    Server-side: the CRDs carry the full pod schema, too large for client-side apply's
    last-applied annotation (256 KiB). Established is polled because `kubectl wait` errors out on
    a CRD that has no conditions yet. Finally kubectl's discovery cache is refreshed, or
    `kubectl explain asts` right after would say the resource type does not exist.
    """
    d = directory or crd_dir()
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(d))
    names = {c["metadata"]["name"] for c in load_crds(d)}
    deadline = time.monotonic() + timeout
    while True:
        items = json.loads(kubectl(kubeconfig, "get", "crd", "-o", "json")).get("items", [])
        established = {
            i["metadata"]["name"]
            for i in items
            if any(
                c["type"] == "Established" and c["status"] == "True"
                for c in i.get("status", {}).get("conditions", [])
            )
        }
        if names <= established:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not Established within {timeout}s: {sorted(names - established)}")
        time.sleep(0.2)
    kubectl(kubeconfig, "api-resources", "--api-group=apps.kruise.io")


def wait_nodes_ready(kubeconfig: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = kubectl(
            kubeconfig, "get", "nodes", "-l", "kruise-py.io/simulated=true", "-o", "json", check=False
        )
        with contextlib.suppress(ValueError):
            items = json.loads(out).get("items", [])
            ready = [
                i
                for i in items
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in i.get("status", {}).get("conditions", [])
                )
            ]
            if len(ready) >= n:
                return
        time.sleep(0.3)
    raise TimeoutError(f"{n} simulated nodes did not become Ready within {timeout}s")


def wait_http_ok(url: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception as e:
            last = e
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise TimeoutError(f"{url} not ready within {timeout}s ({last}); log tail:\n{tail}")
