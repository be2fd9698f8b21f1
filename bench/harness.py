"""Shared bench harness: a fresh control plane, the node simulator with chosen delays, the operator,
kubectl, a synchronous handle on our API client, process RSS/CPU probes, and API-write counting
from the apiserver audit log (by user agent and resource)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kruise_py.runtime.client import ClientOptions, KubeClient
from kruise_py.sandbox import binaries, openkruise
from kruise_py.sandbox.controlplane import ControlPlane, free_port
from kruise_py.sandbox.sandbox import REPO_ROOT, apply_crds, wait_http_ok, wait_nodes_ready

# The operator as the runtime image runs it: the bench extra's kubernetes_asyncio (and the sync
# `kubernetes`) made unimportable, because kopf imports them when present (+49 MiB RSS).
OPERATOR_LAUNCHER = (
    "import runpy, sys; sys.modules['kubernetes_asyncio'] = None; sys.modules['kubernetes'] = None; "
    "sys.argv[0] = 'kruise_py'; runpy.run_module('kruise_py', run_name='__main__', alter_sys=True)"
)
# BENCH_TRACEMALLOC=1: the operator traces allocations, and SIGUSR2 writes the biggest allocation
# sites to /tmp/tracemalloc-<pid>.txt (see :meth:`Ground.heap_top`).
TRACEMALLOC_PRELUDE = (
    "import os, signal, tracemalloc; tracemalloc.start(8)\n"
    "def _dump(*_):\n"
    "    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])\n"
    "    with open(f'/tmp/tracemalloc-{os.getpid()}.txt', 'w') as f:\n"
    "        f.write(f'traced {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MiB\\n')\n"
    "        for st in snap.statistics('traceback')[:25]:\n"
    "            f.write(f'{st.size / 2**20:.1f} MiB {st.count} blocks\\n  ' + '\\n  '.join(st.traceback.format()[-8:]) + '\\n')\n"
    "signal.signal(signal.SIGUSR2, _dump)\n"
)


# `python -m bench ... --against openkruise`: scenarios that OpenKruise can run also run it, on the
# same control plane in the same run (set by bench.__main__).
AGAINST: str | None = None
# Client limits. Defaults: kruise-py's `run --qps/--burst`, OpenKruise 1.9's `--rest-config-qps`
# / `--rest-config-burst` (main.go). "equal" gives both the same, high enough that neither
# rollout nor restart is bound by it on this machine (set by `--equal-qps/--equal-burst`).
DEFAULT_LIMITS = {"kruise_py": (50.0, 100), "openkruise": (30.0, 50)}
EQUAL_LIMITS: tuple[float, int] = (1000.0, 2000)
UA_PREFIX = {"kruise_py": "kruise-py", "openkruise": openkruise.USER_AGENT_PREFIX}


def limit_args(kind: str, limits: str) -> tuple[str, ...]:
    """Operator flags for a client-limit setting: "default", "equal" or "off" (kruise-py only)."""
    if limits == "off":
        return ("--qps", "0")
    qps, burst = DEFAULT_LIMITS[kind] if limits == "default" else EQUAL_LIMITS
    if kind == "kruise_py":
        return ("--qps", f"{qps:g}", "--burst", str(burst))
    return (f"--rest-config-qps={qps:g}", f"--rest-config-burst={burst}")


def limits_used(limits: str) -> dict[str, list[float]]:
    if limits == "equal":
        return {k: list(EQUAL_LIMITS) for k in DEFAULT_LIMITS}
    return {k: list(v) for k, v in DEFAULT_LIMITS.items()}


class Api:
    """Our KubeClient on its own event-loop thread, for synchronous bench code (cheaper than
    spawning kubectl several times a second on a 2-core machine)."""

    def __init__(self, kubeconfig: Path, user_agent: str = "bench", connections: int = 64) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="bench-api")
        self.thread.start()
        opts = ClientOptions(qps=0, connections=connections, user_agent=user_agent)
        self.client = self.run(self._connect(str(kubeconfig), opts))

    @staticmethod
    async def _connect(kubeconfig: str, opts: ClientOptions) -> KubeClient:
        return KubeClient.connect(kubeconfig, opts)

    def run(self, coro: Any, timeout: float = 600) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.client.close(), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def proc_status(pid: int, field_name: str) -> int:
    """A ``/proc/<pid>/status`` size field (VmRSS, VmHWM) in bytes; 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class RssSampler:
    """Samples a process's VmRSS every ``interval`` s on a thread; :meth:`peak_since` gives the
    highest sample after a mark (``VmHWM`` only knows the peak since the process started)."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True, name="rss-sampler")
        self._t.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), proc_status(self.pid, "VmRSS")))
            self._stop.wait(self.interval)

    def peak_since(self, t0: float) -> int:
        return max((r for t, r in self.samples if t >= t0), default=0)

    def stop(self) -> None:
        self._stop.set()
        self._t.join(5)


@dataclass
class Ground:
    cp: ControlPlane
    kubectl_bin: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    metrics_port: int = 0
    nodes: int = 0
    operator_argv: list[str] = field(default_factory=list)
    # The operator's argv without the scenario's flags (client limits differ between phases).
    operator_base_argv: list[str] = field(default_factory=list)
    # OpenKruise's manager on the same control plane (`--against openkruise`), stopped unless a
    # phase runs it; its CRDs and namespace are installed, its webhooks only while it runs.
    ok: openkruise.OpenKruiseManager | None = None
    _api: Api | None = None

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(self.kubeconfig)
        return self._api

    @property
    def operator_pid(self) -> int:
        return self.procs["operator"].pid

    def start_operator(self, wait_ready: bool = True, args: tuple[str, ...] | None = None) -> float:
        """Start (or start again) the operator, with other flags than the scenario's if ``args``
        is given; returns the monotonic time of the spawn."""
        t0 = time.monotonic()
        argv = self.operator_argv if args is None else [*self.operator_base_argv, *args]
        self.spawn("operator", argv)
        if wait_ready:
            wait_http_ok(f"http://127.0.0.1:{self.metrics_port}/readyz", 120, self.cp.logs / "operator.log")
        return t0

    def stop_operator(self) -> None:
        p = self.procs.pop("operator")
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def start_openkruise(self, args: tuple[str, ...] = (), wait_ready: bool = True) -> float:
        """Start OpenKruise's manager (its webhooks registered first); the spawn's monotonic time."""
        if self.ok is None:
            raise RuntimeError("this ground has no OpenKruise (ground(against='openkruise'))")
        self.ok.extra_args = args
        self.ok.register_webhooks()
        t0 = time.monotonic()
        self.ok.start(wait=wait_ready)
        return t0

    def stop_openkruise(self) -> None:
        if self.ok is not None:
            self.ok.stop()

    # -- either operator, by kind ("kruise_py" or "openkruise") ------------------------------
    def start_kind(self, kind: str, limits: str, wait_ready: bool = True) -> float:
        if kind == "openkruise":
            return self.start_openkruise(limit_args(kind, limits), wait_ready)
        return self.start_operator(wait_ready, args=limit_args(kind, limits))

    def wait_kind_ready(self, kind: str, timeout: float = 300) -> None:
        if kind == "openkruise":
            assert self.ok is not None
            self.ok.wait_ready(timeout)
        else:
            wait_http_ok(
                f"http://127.0.0.1:{self.metrics_port}/readyz", timeout, self.cp.logs / "operator.log"
            )

    def stop_kind(self, kind: str) -> None:
        if kind == "openkruise":
            self.stop_openkruise()
        elif "operator" in self.procs:
            self.stop_operator()

    def pid_of(self, kind: str) -> int:
        if kind == "openkruise":
            assert self.ok is not None and self.ok.proc is not None
            return self.ok.proc.pid
        return self.operator_pid

    @contextlib.contextmanager
    def running(self, kind: str, limits: str) -> Iterator[int]:
        """``kind`` with ``limits`` in place of the scenario's operator for a block (the scenario's
        kruise-py is started again after, with its own flags); yields the operator's pid. A few
        seconds are left after readiness for its caches to settle on what the last one left."""
        was = "operator" in self.procs
        if was:
            self.stop_operator()
        self.start_kind(kind, limits)
        time.sleep(3)
        try:
            yield self.pid_of(kind)
        finally:
            self.stop_kind(kind)
            if was:
                self.start_operator()

    def heap_top(self, timeout: float = 60) -> str | None:
        """With BENCH_TRACEMALLOC=1: the operator's biggest allocation sites now (None otherwise)."""
        if not os.environ.get("BENCH_TRACEMALLOC"):
            return None
        import signal

        out = Path(f"/tmp/tracemalloc-{self.operator_pid}.txt")
        out.unlink(missing_ok=True)
        os.kill(self.operator_pid, signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if out.exists() and out.stat().st_size and time.monotonic():
                time.sleep(1)  # let it finish writing
                text = out.read_text()
                out.unlink()
                return text
            time.sleep(0.5)
        return None

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=30) as r:
            return str(r.read().decode())

    @property
    def kubeconfig(self) -> Path:
        return self.cp.kubeconfig

    def kubectl(self, *args: str, input: str | None = None) -> str:
        r = subprocess.run(
            [str(self.kubectl_bin), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=300,
        )
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
        cwd = REPO_ROOT
        if name.startswith("operator") and os.environ.get("BENCH_OPERATOR_TREE"):
            # Before/after numbers for a fix: the operator from another source tree (for example
            # `git archive <commit> | tar -x -C /tmp/before`), everything else from this one.
            cwd = Path(os.environ["BENCH_OPERATOR_TREE"])
            env["PYTHONPATH"] = str(cwd)
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)

    def audit_mark(self) -> int:
        """A position in the audit log; writes after it are counted by :meth:`writes_since`."""
        return self.cp.audit_log.stat().st_size if self.cp.audit_log.exists() else 0

    def writes_since(
        self, mark: int, *, user_agent_prefix: str, namespace: str | None = None
    ) -> Counter[str]:
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
                    res = ref.get("resource", "?") + (
                        "/" + ref["subresource"] if ref.get("subresource") else ""
                    )
                    counts[f"{e['verb']} {res}"] += 1
        return counts


def against_runs() -> list[tuple[str, str]]:
    """(operator, limits) pairs an `--against openkruise` scenario runs, alternating operators."""
    if AGAINST != "openkruise":
        return []
    return [(k, lim) for lim in ("equal", "default") for k in ("kruise_py", "openkruise")]


def against_ratios(runs: dict[str, dict[str, Any]], figure: str) -> dict[str, float]:
    """kruise-py / OpenKruise of ``figure`` per limits setting, from ``runs["<kind>_<limits>"]``."""
    out = {}
    for lim in ("equal", "default"):
        k, o = runs.get(f"kruise_py_{lim}"), runs.get(f"openkruise_{lim}")
        if k and o and o.get(figure):
            out[lim] = round(k[figure] / o[figure], 2)
    return out


@contextlib.contextmanager
def ground(
    nodes: int = 4,
    sim_args: tuple[str, ...] = (),
    operator: bool = True,
    operator_args: tuple[str, ...] = (),
    pods: int | None = None,
    against: str | None = None,
) -> Iterator[Ground]:
    """A fresh control plane, ``nodes`` simulated nodes and (unless ``operator=False``) the operator
    with the given extra flags; everything is stopped on exit, by PID. ``pods``: size the control
    plane for that many (``ControlPlane.for_pods``). ``against="openkruise"``: also install
    OpenKruise's CRDs (ours applied over them, as after a takeover) for ``g.start_openkruise()``."""
    bins = binaries.find(build=True)
    dist = openkruise.find() if against == "openkruise" else None
    with tempfile.TemporaryDirectory(prefix="kruise-py-bench-") as d:
        cp = (
            ControlPlane.for_pods(pods, workdir=Path(d), bins=bins)
            if pods
            else ControlPlane(workdir=Path(d), bins=bins)
        )
        cp.start()
        g = Ground(cp, bins.kubectl, nodes=nodes)
        try:
            if dist is not None:
                g.ok = openkruise.OpenKruiseManager(dist, cp.kubeconfig, Path(d), bins.kubectl)
                g.ok.install()
                g.ok.stop()  # its pod webhook fails closed: registered only while it runs
            apply_crds(cp.kubeconfig)
            g.spawn(
                "simulator",
                [
                    sys.executable,
                    "-m",
                    "kruise_py.sandbox.simulator",
                    "--kubeconfig",
                    str(cp.kubeconfig),
                    "--nodes",
                    str(nodes),
                    *sim_args,
                ],
            )
            wait_nodes_ready(cp.kubeconfig, nodes, timeout=max(120, nodes))
            g.metrics_port = free_port()
            launcher = (
                TRACEMALLOC_PRELUDE if os.environ.get("BENCH_TRACEMALLOC") else ""
            ) + OPERATOR_LAUNCHER
            g.operator_base_argv = [
                sys.executable,
                "-c",
                launcher,
                "run",
                "--kubeconfig",
                str(cp.kubeconfig),
                "--metrics-host",
                "127.0.0.1",
                "--metrics-port",
                str(g.metrics_port),
                "--webhook-mode",
                "local",
                "--webhook-port",
                str(free_port()),
                "--cert-dir",
                str(Path(d) / "certs"),
            ]
            g.operator_argv = [*g.operator_base_argv, *operator_args]
            if operator:
                g.start_operator()
            yield g
        finally:
            with contextlib.suppress(Exception):
                g.stop_openkruise()
            if g._api is not None:
                g._api.close()
            for p in g.procs.values():
                p.terminate()
            for p in g.procs.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(15)
                if p.poll() is None:
                    p.kill()
            cp.stop()


_shared: Ground | None = None


@contextlib.contextmanager
def shared_ground(g: Ground) -> Iterator[Ground]:
    """Within this block every scenario runs on ``g`` instead of its own sandbox (smoke runs: one
    control plane start instead of five; the scenarios use their own namespaces)."""
    global _shared
    _shared = g
    try:
        yield g
    finally:
        _shared = None


@contextlib.contextmanager
def scenario_ground(
    nodes: int, sim_args: tuple[str, ...] = (), operator_args: tuple[str, ...] = ()
) -> Iterator[Ground]:
    """The scenario's own sandbox, or the shared one (see :func:`shared_ground`)."""
    if _shared is not None:
        yield _shared
        return
    with ground(nodes=nodes, sim_args=sim_args, operator_args=operator_args, against=AGAINST) as g:
        yield g


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
