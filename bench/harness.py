"""Shared bench harness: a fresh control plane, the node simulator with chosen delays, the operator,
kubectl, and API-write counting from the apiserver audit log (by user agent and resource)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kruise_py.sandbox import binaries
from kruise_py.sandbox.controlplane import ControlPlane, free_port
from kruise_py.sandbox.sandbox import REPO_ROOT, apply_crds, wait_http_ok, wait_nodes_ready


@dataclass
class Ground:
    cp: ControlPlane
    kubectl_bin: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    metrics_port: int = 0

    @property
    def kubeconfig(self) -> Path:
        return self.cp.kubeconfig

    def kubectl(self, *args: str, input: str | None = None) -> str:
        r = subprocess.run([str(self.kubectl_bin), f"--kubeconfig={self.kubeconfig}", *args], input=input,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {r.stderr}")
        return r.stdout

    def apply(self, obj: dict[str, Any], namespace: str) -> None:
        self.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.cp.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), PYTHONUNBUFFERED="1")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)

    def audit_mark(self) -> int:
        """A position in the audit log; writes after it are counted by :meth:`writes_since`."""
        return self.cp.audit_log.stat().st_size if self.cp.audit_log.exists() else 0

    def writes_since(self, mark: int, *, user_agent_prefix: str, namespace: str | None = None) -> Counter[str]:
        """Writes by clients whose user agent starts with the prefix, by resource[/subresource] and verb."""
        counts: Counter[str] = Counter()
        with open(self.cp.audit_log, "rb") as f:
            f.seek(mark)
            for line in f:
                with contextlib.suppress(ValueError):
                    e = json.loads(line)
                    if e.get("stage") != "ResponseComplete":
                        continue
                    if not str(e.get("userAgent", "")).startswith(user_agent_prefix):
                        continue
                    ref = e.get("objectRef") or {}
                    if namespace and ref.get("namespace") != namespace:
                        continue
                    res = ref.get("resource", "?") + ("/" + ref["subresource"] if ref.get("subresource") else "")
                    counts[f"{e['verb']} {res}"] += 1
        return counts


@contextlib.contextmanager
def ground(nodes: int = 4, sim_args: tuple[str, ...] = (), operator: bool = True,
           operator_args: tuple[str, ...] = ()) -> Iterator[Ground]:
    bins = binaries.find(build=True)
    with tempfile.TemporaryDirectory(prefix="kruise-py-bench-") as d:
        cp = ControlPlane(workdir=Path(d), bins=bins)
        cp.start()
        g = Ground(cp, bins.kubectl)
        try:
            apply_crds(cp.kubeconfig)
            g.spawn("simulator", [sys.executable, "-m", "kruise_py.sandbox.simulator", "--kubeconfig",
                                  str(cp.kubeconfig), "--nodes", str(nodes), *sim_args])
            wait_nodes_ready(cp.kubeconfig, nodes, timeout=120)
            if operator:
                g.metrics_port = free_port()
                g.spawn("operator", [sys.executable, "-m", "kruise_py", "run", "--kubeconfig", str(cp.kubeconfig),
                                     "--metrics-host", "127.0.0.1", "--metrics-port", str(g.metrics_port),
                                     "--webhook-mode", "local", "--webhook-port", str(free_port()),
                                     "--cert-dir", str(Path(d) / "certs"), *operator_args])
                wait_http_ok(f"http://127.0.0.1:{g.metrics_port}/readyz", 120, cp.logs / "operator.log")
            yield g
        finally:
            for p in g.procs.values():
                p.terminate()
            for p in g.procs.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(15)
                if p.poll() is None:
                    p.kill()
            cp.stop()


def wait(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = cond()
        if r:
            return r
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s: {what}")


def write_result(name: str, result: dict[str, Any]) -> Path:
    out = Path(__file__).resolve().parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return out
