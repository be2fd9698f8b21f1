"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler — the envtest idea, plus the controllers and scheduler so pods get placed and
garbage-collected as in a real cluster. No kubelet: the node simulator plays it.

Everything lives in one work directory: ``pki/``, ``etcd/``, ``logs/*.log``, ``kubeconfig``
(admin, cluster-admin via system:masters), ``state.json`` (pids and ports). ``start()`` is
idempotent: a healthy running plane is reused; ``stop()`` terminates every process group.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..runtime import pki
from . import binaries

# Controllers that would fight the node simulator (no kubelet heartbeats, no cloud).
DISABLED_CONTROLLERS = (
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "device-taint-eviction-controller",
    "cloud-node-lifecycle-controller",
    "node-ipam-controller",
    "node-route-controller",
    "service-lb-controller",
)
SERVICE_CIDR = "10.96.0.0/16"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")

# Audit only writes, at Metadata level: cheap, and lets tests and benchmarks count API writes
# per object and check for "forbidden" answers.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
- level: None
  resources: [{group: "", resources: ["events"]}]
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's listeners do
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def default_workdir() -> Path:
    return binaries.cache_root() / "sandbox"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie child still answers kill(0); treat it as dead.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


@dataclass
class ControlPlane:
    workdir: Path = field(default_factory=default_workdir)
    bins: binaries.Binaries | None = None
    audit: bool = True
    extra_apiserver_flags: tuple[str, ...] = ()
    # Scale options (bench scale): the defaults suit tests; `for_pods()` sizes them for a rung.
    etcd_quota_bytes: int = 4 * 1024**3
    max_requests_inflight: int = 800
    max_mutating_requests_inflight: int = 400
    scheduler_qps: int = 200
    audit_log_max_mb: int = 500
    state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_pods(cls, pods: int, **kw: Any) -> ControlPlane:
        """A control plane sized to hold ``pods`` pods on a small machine: etcd's quota at 160 KiB
        per pod (its revisions until the apiserver's 5-minute compaction; 4 GiB at least), more requests in
        flight for the operators' initial lists, a faster scheduler client, and an audit log that
        does not rotate under a bench's offsets (writes are counted from one file)."""
        quota = max(4 * 1024**3, min(16 * 1024**3, pods * 160 * 1024))
        return cls(
            etcd_quota_bytes=quota,
            max_requests_inflight=max(800, min(3000, pods // 20)),
            max_mutating_requests_inflight=max(400, min(1500, pods // 40)),
            scheduler_qps=max(200, min(1000, pods // 50)),
            audit_log_max_mb=max(500, min(20000, pods // 5)),
            **kw,
        )

    # -- paths -------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit.log"

    @property
    def state_file(self) -> Path:
        return self.workdir / "state.json"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.state['ports']['apiserver']}"

    # -- lifecycle ---------------------------------------------------------------------------
    def load_state(self) -> dict[str, Any]:
        if self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())
        return self.state

    def running(self) -> bool:
        st = self.load_state()
        pids = st.get("pids", {})
        return bool(pids) and all(_pid_alive(pids[c]) for c in COMPONENTS if c in pids) and self.healthy()

    def healthy(self) -> bool:
        try:
            return self._get("/readyz", timeout=2) == "ok"
        except (OSError, urllib.error.URLError, KeyError):
            return False

    def start(self, timeout: float = 90.0) -> Path:
        """Start (or reuse) the control plane and return the admin kubeconfig path."""
        if self.running():
            return self.kubeconfig
        self.stop()
        bins = self.bins or binaries.find(build=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        ports = {
            "etcd": free_port(),
            "etcd_peer": free_port(),
            "apiserver": free_port(),
            "controller_manager": free_port(),
            "scheduler": free_port(),
        }
        self.state = {"ports": ports, "pids": {}, "started": time.time()}
        self._write_pki()
        self._write_kubeconfigs(ports["apiserver"])
        self._write_state()
        t0 = time.monotonic()
        self._spawn(
            "etcd",
            [
                str(bins.etcd),
                "--data-dir",
                str(self.workdir / "etcd"),
                "--name",
                "kruise-py",
                "--listen-client-urls",
                f"http://127.0.0.1:{ports['etcd']}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{ports['etcd']}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{ports['etcd_peer']}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{ports['etcd_peer']}",
                "--initial-cluster",
                f"kruise-py=http://127.0.0.1:{ports['etcd_peer']}",
                "--unsafe-no-fsync",
                "--quota-backend-bytes",
                str(self.etcd_quota_bytes),
            ],
        )
        p = self.workdir / "pki"
        apiserver = [
            str(bins.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            # Without a requestheader CA the apiserver logs a stream of "missing content for CA bundle".
            f"--requestheader-client-ca-file={p / 'ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            # Default plugins already include MutatingAdmissionWebhook and ValidatingAdmissionWebhook.
            "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={p / 'admin.crt'}",
            f"--kubelet-client-key={p / 'admin.key'}",
            "--profiling=false",
            f"--max-requests-inflight={self.max_requests_inflight}",
            f"--max-mutating-requests-inflight={self.max_mutating_requests_inflight}",
        ]
        if self.audit:
            (self.workdir / "audit-policy.yaml").write_text(AUDIT_POLICY)
            apiserver += [
                f"--audit-policy-file={self.workdir / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                f"--audit-log-maxsize={self.audit_log_max_mb}",
            ]
        apiserver += list(self.extra_apiserver_flags)
        self._spawn("kube-apiserver", apiserver)
        self._wait(lambda: self.healthy(), timeout, "kube-apiserver /readyz")
        self.state["apiserver_ready_s"] = round(time.monotonic() - t0, 2)
        controllers = ",".join(["*"] + [f"-{c}" for c in DISABLED_CONTROLLERS])
        self._spawn(
            "kube-controller-manager",
            [
                str(bins.kube_controller_manager),
                f"--kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={self.workdir / 'controller-manager.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['controller_manager']}",
                "--leader-elect=false",
                f"--controllers={controllers}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={p / 'sa.key'}",
                f"--root-ca-file={p / 'ca.crt'}",
                f"--cluster-signing-cert-file={p / 'ca.crt'}",
                f"--cluster-signing-key-file={p / 'ca.key'}",
                # Upstream defaults (20/30) would make the upstream StatefulSet baseline client-bound.
                "--kube-api-qps=100",
                "--kube-api-burst=200",
                "--concurrent-statefulset-syncs=5",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(bins.kube_scheduler),
                f"--kubeconfig={self.workdir / 'scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={self.workdir / 'scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={self.workdir / 'scheduler.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['scheduler']}",
                "--leader-elect=false",
                f"--kube-api-qps={self.scheduler_qps}",
                f"--kube-api-burst={2 * self.scheduler_qps}",
            ],
        )
        # Pod admission needs the "default" ServiceAccount, which the controller-manager creates.
        self._wait(
            lambda: self._exists("/api/v1/namespaces/default/serviceaccounts/default"),
            timeout,
            "the default ServiceAccount",
        )
        self.state["ready_s"] = round(time.monotonic() - t0, 2)
        self._write_state()
        return self.kubeconfig

    def stop(self) -> None:
        st = self.load_state()
        pids = st.get("pids", {})
        # One at a time, controllers first and etcd last: signalled together, etcd dies under the
        # apiserver, which then hangs until it is killed (10 s instead of ~2 s in all).
        for comp in reversed(list(pids)):
            pid = pids[comp]
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        if pids:
            self.state["pids"] = {}
            self._write_state()

    def restart_component(self, component: str, timeout: float = 60.0) -> None:
        """Kill and start one component again with the same flags (used by reliability tests)."""
        st = self.load_state()
        pid, argv = st["pids"][component], st["argv"][component]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while _pid_alive(pid):
            time.sleep(0.05)
        if component == "kube-apiserver":
            # The group leader shows as a zombie while its other threads still hold the listening
            # socket: wait for the port, or the new apiserver dies with "address already in use".
            deadline = time.monotonic() + timeout
            while not _port_free(st["ports"]["apiserver"]) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._spawn(component, argv)
        if component == "kube-apiserver":
            self._wait(lambda: self.healthy(), timeout, "kube-apiserver /readyz")

    # -- helpers -----------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.workdir,
        )
        log.close()
        self.state.setdefault("pids", {})[name] = proc.pid
        self.state.setdefault("argv", {})[name] = argv
        self._write_state()

    def _write_state(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=1))

    def _wait(self, cond: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            for comp, pid in self.state.get("pids", {}).items():
                if not _pid_alive(pid):
                    tail = (self.logs / f"{comp}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{comp} exited while waiting for {what}; log tail:\n{tail}")
            time.sleep(0.1)
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}; logs in {self.logs}")

    def _ssl(self) -> ssl.SSLContext:
        p = self.workdir / "pki"
        ctx = ssl.create_default_context(cafile=str(p / "ca.crt"))
        ctx.load_cert_chain(p / "admin.crt", p / "admin.key")
        return ctx

    def _get(self, path: str, timeout: float = 5) -> str:
        with urllib.request.urlopen(self.server + path, context=self._ssl(), timeout=timeout) as r:
            return str(r.read().decode())

    def _exists(self, path: str) -> bool:
        try:
            self._get(path)
            return True
        except urllib.error.HTTPError:
            return False
        except (OSError, urllib.error.URLError):
            return False

    def _write_pki(self) -> None:
        p = self.workdir / "pki"
        if (p / "ca.crt").exists() and (p / "sa.key").exists():
            return
        ca = pki.make_ca()
        ca.write(p, "ca")
        pki.issue(
            ca,
            "kube-apiserver",
            server=True,
            dns=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ips=("127.0.0.1", "10.96.0.1"),
        ).write(p, "apiserver")
        pki.issue(ca, "kruise-py-admin", orgs=("system:masters",), client=True).write(p, "admin")
        pki.issue(ca, "system:kube-controller-manager", client=True).write(p, "controller-manager")
        pki.issue(ca, "system:kube-scheduler", client=True).write(p, "scheduler")
        key, pub = pki.make_signing_key()
        (p / "sa.key").write_bytes(key)
        (p / "sa.pub").write_bytes(pub)

    def _write_kubeconfigs(self, port: int) -> None:
        p = self.workdir / "pki"
        for user, fname in (
            ("admin", "kubeconfig"),
            ("controller-manager", "controller-manager.kubeconfig"),
            ("scheduler", "scheduler.kubeconfig"),
        ):
            (self.workdir / fname).write_text(
                kubeconfig_yaml(
                    f"https://127.0.0.1:{port}",
                    (p / "ca.crt").read_bytes(),
                    cert=(p / f"{user}.crt").read_bytes(),
                    key=(p / f"{user}.key").read_bytes(),
                    user=user,
                )
            )
            (self.workdir / fname).chmod(0o600)


def kubeconfig_yaml(
    server: str,
    ca: bytes,
    *,
    cert: bytes | None = None,
    key: bytes | None = None,
    token: str | None = None,
    user: str = "admin",
    namespace: str | None = None,
) -> str:
    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()

    u: dict[str, Any] = {}
    if cert and key:
        u = {"client-certificate-data": b64(cert), "client-key-data": b64(key)}
    if token:
        u["token"] = token
    ctx: dict[str, Any] = {"cluster": "kruise-py", "user": user}
    if namespace:
        ctx["namespace"] = namespace
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "kruise-py",
        "clusters": [
            {"name": "kruise-py", "cluster": {"server": server, "certificate-authority-data": b64(ca)}}
        ],
        "users": [{"name": user, "user": u}],
        "contexts": [{"name": "kruise-py", "context": ctx}],
    }
    return yaml.safe_dump(cfg, sort_keys=False)
