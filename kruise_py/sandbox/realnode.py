"""One real node beside the simulated ones: the v1.36.2 kubelet, containerd, runc (or crun) and
Debian's CNI plugins, all on this machine and all from package registries (docs/realnode.md).

What it sets up, per node (everything named after a short id of the work folder, so two sandboxes
on one machine do not collide):
- a Linux bridge ``kpy-<id>`` holding the gateway address of a /24 from 10.88.0.0/16; that address
  is the node's InternalIP (the kubelet refuses a loopback node IP) and pods get the others
  through the ``bridge`` + ``host-local`` CNI plugins;
- containerd with its own root, state, socket and runc root, started in a private mount namespace
  (``unshare --mount``) so its overlay, netns and volume mounts vanish when it stops; the kubelet
  joins that namespace (``nsenter``), since it mounts the volumes that containerd bind-mounts;
- the locally built OCI images of :mod:`kruise_py.sandbox.images`, imported with
  ``ctr -n k8s.io images import``; the pause image is containerd's ``sandbox_image``;
- the kubelet, with ``failCgroupV1: false`` (these machines have cgroup v1, which 1.36 refuses by
  default) and the ``cgroupfs`` driver (no systemd here; containerd 1.6 does not answer the
  RuntimeConfig call, so the kubelet takes the driver from its own config), pods under the cgroup
  ``/kruise-py-<id>``, a client certificate for ``system:node:<name>`` (group ``system:nodes``,
  bound to the ``system:node`` ClusterRole: the control plane runs RBAC without the Node
  authorizer).

The node carries the label and NoSchedule taint ``kruise-py.io/real-node=true``, so workloads meant
for simulated nodes never land on it; pods for it tolerate the taint and select the label.

The kube-controller-manager runs without the node lifecycle controller (it would fight the
simulator), so the not-ready taint the apiserver puts on a new node is removed here once the node
is Ready, as that controller would.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runtime import pki
from . import binaries, images
from .controlplane import _pid_alive, free_port, kubeconfig_yaml

REAL_LABEL = "kruise-py.io/real-node"
REAL_TAINT = {"key": REAL_LABEL, "value": "true", "effect": "NoSchedule"}
# What a pod needs to land on the real node.
TOLERATION = {"key": REAL_LABEL, "operator": "Exists", "effect": "NoSchedule"}
NODE_SELECTOR = {REAL_LABEL: "true"}
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
CNI_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"))
RUNTIMES = {"runc": ("/usr/sbin/runc", "/usr/bin/runc"), "crun": ("/usr/bin/crun",)}
# cgroup v1 hierarchies the pods' cgroup root is created in (those that exist on this machine).
CGROUP_V1_CONTROLLERS = (
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "pids",
    "blkio",
    "devices",
    "freezer",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "systemd",
    "unified",
)
CGROUP_FS = Path("/sys/fs/cgroup")
RBAC_BINDING = "kruise-py:real-nodes"
SUBNET_BASE = ipaddress.IPv4Network("10.88.0.0/16")
APT_PACKAGES = ("containerd", "runc", "containernetworking-plugins", "busybox-static", "iptables")


class RealNodeUnavailable(RuntimeError):
    """The real node cannot run here; the message says what is missing and how to get it."""


@dataclass(frozen=True)
class Tools:
    containerd: Path
    ctr: Path
    runtime: Path
    cni_dir: Path
    kubelet: Path
    unshare: Path
    nsenter: Path
    ip: Path


def cgroup_version(root: Path = CGROUP_FS) -> int:
    """2 when ``root`` is the unified hierarchy (cgroup2fs), else 1 (what libcontainer checks)."""
    return 2 if (root / "cgroup.controllers").exists() else 1


def _which(*candidates: str) -> Path | None:
    for c in candidates:
        found = shutil.which(c) if "/" not in c else (c if os.access(c, os.X_OK) else None)
        if found:
            return Path(found)
    return None


def preflight(runtime: str = "runc", build: bool = True) -> Tools:
    """Every tool the real node needs, or :class:`RealNodeUnavailable` listing all that is missing."""
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("not root: containerd, runc and the kubelet need root (mounts, cgroups, netns)")
    if not (CGROUP_FS / "cpu").is_dir() and cgroup_version() == 1:
        problems.append(f"no cgroup hierarchy under {CGROUP_FS}")
    found = {n: _which(n) for n in ("containerd", "ctr", "unshare", "nsenter", "ip")}
    rt = _which(*RUNTIMES.get(runtime, (runtime,)), runtime)
    cni = next((d for d in CNI_DIRS if all((d / p).exists() for p in CNI_PLUGINS)), None)
    missing_pkgs = [
        pkg
        for pkg, ok in (
            ("containerd", found["containerd"] and found["ctr"]),
            (runtime, rt),
            ("containernetworking-plugins", cni),
            ("busybox-static", _static(images.BUSYBOX_BIN)),
        )
        if not ok
    ]
    if missing_pkgs:
        problems.append(
            f"missing Debian packages: {' '.join(missing_pkgs)} "
            f"(`apt-get install -y {' '.join(missing_pkgs)}`)"
        )
    for tool in ("unshare", "nsenter", "ip"):
        if found[tool] is None:
            problems.append(f"`{tool}` not on PATH (util-linux / iproute2)")
    kubelet: Path | None = None
    try:
        kubelet = binaries.kubelet(build=build)
    except binaries.BinariesMissing as e:
        problems.append(str(e))
    if problems:
        raise RealNodeUnavailable("the real node cannot start: " + "; ".join(problems))
    assert rt and cni and kubelet
    have = {k: v for k, v in found.items() if v is not None}  # every one was found (problems is empty)
    return Tools(
        containerd=have["containerd"],
        ctr=have["ctr"],
        runtime=rt,
        cni_dir=cni,
        kubelet=kubelet,
        unshare=have["unshare"],
        nsenter=have["nsenter"],
        ip=have["ip"],
    )


def _static(path: Path) -> bool:
    """A statically linked executable (the images have no libc): no ELF interpreter in it."""
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return False
    return head.startswith(b"\x7fELF") and b"/ld-linux" not in head and b"ld-musl" not in head


# -- configuration files (pure) --------------------------------------------------------------------
def short_id(workdir: Path) -> str:
    return hashlib.sha1(str(workdir.resolve()).encode()).hexdigest()[:6]


def pick_subnet(node_id: str, used: set[str]) -> ipaddress.IPv4Network:
    """A /24 of 10.88.0.0/16 derived from the node id, skipping those already on this machine."""
    # 10.88.0.0/24 is containerd's own default network.
    subnets: list[ipaddress.IPv4Network] = list(SUBNET_BASE.subnets(new_prefix=24))[1:]
    start = int(node_id, 16) % len(subnets)
    for i in range(len(subnets)):
        net = subnets[(start + i) % len(subnets)]
        if str(net) not in used:
            return net
    raise RealNodeUnavailable("every /24 of 10.88.0.0/16 is in use on this machine")


def containerd_config(
    *,
    root: Path,
    state: Path,
    socket: Path,
    runc_root: Path,
    runtime: Path,
    cni_bin: Path,
    cni_conf: Path,
    opt: Path,
) -> str:
    """containerd 1.6's config (version 2). ``restrict_oom_score_adj``: the sandbox container's
    oom_score_adj is -998, and lowering it needs CAP_SYS_RESOURCE, which these machines do not
    grant even to root (runc fails with "failed to update /proc/self/oom_score_adj: Permission
    denied"); with it the value is clamped to the current one, as for rootless containerd."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
[{cri}]
  sandbox_image = "{images.PAUSE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{runtime}"
        Root = "{runc_root}"
  [{cri}.cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
"""


def cni_config(name: str, bridge: str, subnet: ipaddress.IPv4Network, ipam_dir: Path) -> dict[str, Any]:
    """bridge + host-local (+ portmap, loopback). No masquerade: pods talk only to this machine."""
    return {
        "cniVersion": "1.0.0",
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(subnet), "gateway": str(subnet[1])}]],
                    "dataDir": str(ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }


def kubelet_config(
    *,
    socket: Path,
    cgroup_root: str,
    address: str,
    port: int,
    healthz_port: int,
    ca: Path,
    pod_logs: Path,
    max_pods: int = 30,
) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # cgroup v1: kubelet 1.35+ refuses to start on it unless told (pkg/kubelet/apis/config/
        # validation/validation_linux.go); containerd 1.6 does not report a driver: cgroupfs.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "containerRuntimeEndpoint": f"unix://{socket}",
        # The apiserver reaches the kubelet (logs, exec) at the node's InternalIP.
        "address": address,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "podLogsDir": str(pod_logs),
        "failSwapOn": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        # A shared build machine: never evict test pods, never collect the imported images.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "registerWithTaints": [REAL_TAINT],
        "maxPods": max_pods,
        "serializeImagePulls": False,
        "resolvConf": "/etc/resolv.conf",
        # Status reports as fast as the kubelet goes: the tests wait on them.
        "nodeStatusUpdateFrequency": "10s",
    }


# -- the node ------------------------------------------------------------------------------------
class RealNode:
    """Start/stop one real node for the control plane whose PKI folder and server URL are given."""

    def __init__(
        self,
        workdir: Path,
        pki_dir: Path,
        server: str,
        admin_kubeconfig: Path,
        name: str = "real-node-0",
        runtime: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.pki_dir, self.server, self.admin_kubeconfig = pki_dir, server, admin_kubeconfig
        self.name = name
        self.runtime = runtime or os.environ.get("KRUISE_PY_REAL_NODE_RUNTIME", "runc")
        self.id = short_id(workdir)
        # Unix sockets must stay under 108 bytes: a short folder in /run, not the work folder.
        self.run_dir = Path("/run/kruise-py") / self.id
        self.bridge = f"kpy-{self.id}"
        self.cgroup_root = f"/kruise-py-{self.id}"
        self.state_file = workdir / "realnode.json"
        self.logs = workdir / "logs"
        self.state: dict[str, Any] = {}

    @property
    def socket(self) -> Path:
        return self.run_dir / "containerd.sock"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0, build: bool = True) -> RealNode:
        tools = preflight(self.runtime, build=build)
        if self.running():
            return self
        self.stop()
        t0 = time.monotonic()
        for d in (self.workdir, self.logs, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        subnet = pick_subnet(self.id, _used_subnets(tools.ip))
        node_ip = str(subnet[1])
        self.state = {
            "id": self.id,
            "name": self.name,
            "bridge": self.bridge,
            "subnet": str(subnet),
            "node_ip": node_ip,
            "cgroup_root": self.cgroup_root,
            "run_dir": str(self.run_dir),
            "runtime": str(tools.runtime),
            "pids": {},
        }
        self._save()
        self._bridge_up(tools.ip, subnet)
        self._cgroups_up()
        cni_conf = self.workdir / "cni" / "net.d"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-kruise-py.conflist").write_text(
            json.dumps(
                cni_config(f"kruise-py-{self.id}", self.bridge, subnet, self.workdir / "cni" / "ipam"),
                indent=1,
            )
        )
        ctd = self.workdir / "containerd"
        ctd.mkdir(exist_ok=True)
        (ctd / "config.toml").write_text(
            containerd_config(
                root=ctd / "root",
                state=self.run_dir / "state",
                socket=self.socket,
                runc_root=self.run_dir / "runc",
                runtime=tools.runtime,
                cni_bin=tools.cni_dir,
                cni_conf=cni_conf,
                opt=ctd / "opt",
            )
        )
        # A private mount namespace whose mounts stay out of the host's (propagation slave).
        self._spawn(
            "containerd",
            [
                str(tools.unshare),
                "--mount",
                "--propagation",
                "slave",
                str(tools.containerd),
                "--config",
                str(ctd / "config.toml"),
            ],
        )
        self._wait(lambda: self._ctr(tools, "version").returncode == 0, 30, "containerd's socket")
        self._import_images(tools)
        self.state["images_s"] = round(time.monotonic() - t0, 2)
        self._kubelet_files()
        self._ensure_rbac()
        kubelet_argv = [
            str(tools.nsenter),
            f"--mount=/proc/{self.state['pids']['containerd']}/ns/mnt",
            str(tools.kubelet),
            "--config",
            str(self.workdir / "kubelet" / "config.json"),
            "--kubeconfig",
            str(self.workdir / "kubelet" / "kubeconfig"),
            "--root-dir",
            str(self.workdir / "kubelet" / "root"),
            "--hostname-override",
            self.name,
            "--node-ip",
            node_ip,
            "--node-labels",
            f"{REAL_LABEL}=true",
            "-v=2",
        ]
        self._spawn("kubelet", kubelet_argv)
        self._wait(self._node_ready, timeout, f"node {self.name} Ready")
        self._untaint_not_ready()
        self.state["ready_s"] = round(time.monotonic() - t0, 2)
        self._save()
        return self

    def running(self) -> bool:
        st = self._load()
        pids = st.get("pids", {})
        return bool(pids) and all(_pid_alive(int(p)) for p in pids.values()) and self._node_ready()

    def stop(self) -> None:
        """Kubelet first (so it restarts nothing), then every process in the pods' cgroups, the
        shims and containerd; then the netns files, cgroups, bridge and folders it made."""
        st = self._load()
        pids = st.get("pids", {})
        netns = (
            _netns_of(int(pids["containerd"]))
            if "containerd" in pids and _pid_alive(int(pids["containerd"]))
            else []
        )
        if "kubelet" in pids:
            _terminate(int(pids["kubelet"]))
        root = st.get("cgroup_root", self.cgroup_root)
        _kill_cgroup(root)
        run_dir = Path(st.get("run_dir", self.run_dir))
        for pid in _pids_with_arg(str(run_dir / "containerd.sock")):
            if pid != pids.get("containerd"):
                _terminate(pid, grace=2)
        if "containerd" in pids:
            _terminate(int(pids["containerd"]))
        for path in netns:
            with contextlib.suppress(OSError):
                os.unlink(path)
        _remove_cgroup(root)
        ip = shutil.which("ip")
        if ip and st.get("bridge"):
            subprocess.run([ip, "link", "del", st["bridge"]], capture_output=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        if st:
            st["pids"] = {}
            self.state = st
            self._save()

    # -- steps -----------------------------------------------------------------------------------
    def _bridge_up(self, ip: Path, subnet: ipaddress.IPv4Network) -> None:
        gw = f"{subnet[1]}/{subnet.prefixlen}"
        subprocess.run([str(ip), "link", "del", self.bridge], capture_output=True)
        for argv in (
            ["link", "add", self.bridge, "type", "bridge"],
            ["addr", "add", gw, "dev", self.bridge],
            ["link", "set", self.bridge, "up"],
        ):
            res = subprocess.run([str(ip), *argv], capture_output=True, text=True)
            if res.returncode != 0:
                raise RealNodeUnavailable(f"`ip {' '.join(argv)}` failed: {res.stderr.strip()}")

    def _cgroups_up(self) -> None:
        if cgroup_version() == 2:
            (CGROUP_FS / self.cgroup_root.lstrip("/")).mkdir(exist_ok=True)
            return
        for c in CGROUP_V1_CONTROLLERS:
            if (CGROUP_FS / c).is_dir() and not (CGROUP_FS / c).is_symlink():
                (CGROUP_FS / c / self.cgroup_root.lstrip("/")).mkdir(exist_ok=True)

    def _import_images(self, tools: Tools) -> None:
        archives = images.write_archives(self.workdir / "images")
        for ref, path in archives.items():
            res = self._ctr(tools, "-n", "k8s.io", "images", "import", str(path))
            if res.returncode != 0:
                raise RealNodeUnavailable(f"`ctr images import {path}` ({ref}) failed: {res.stderr.strip()}")

    def _kubelet_files(self) -> None:
        d = self.workdir / "kubelet"
        d.mkdir(parents=True, exist_ok=True)
        ca = pki.KeyPair((self.pki_dir / "ca.crt").read_bytes(), (self.pki_dir / "ca.key").read_bytes())
        kp = pki.issue(ca, f"system:node:{self.name}", orgs=("system:nodes",), client=True)
        (d / "kubeconfig").write_text(
            kubeconfig_yaml(
                self.server, ca.cert_pem, cert=kp.cert_pem, key=kp.key_pem, user=f"system:node:{self.name}"
            )
        )
        (d / "kubeconfig").chmod(0o600)
        cfg = kubelet_config(
            socket=self.socket,
            cgroup_root=self.cgroup_root,
            address=self.state["node_ip"],
            port=free_port(),
            healthz_port=free_port(),
            ca=self.pki_dir / "ca.crt",
            pod_logs=self.workdir / "pod-logs",
        )
        (d / "config.json").write_text(json.dumps(cfg, indent=1))

    def _ensure_rbac(self) -> None:
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": RBAC_BINDING},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:node",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}],
        }
        self._kubectl("apply", "-f", "-", input=json.dumps(binding))

    def _node(self) -> dict[str, Any] | None:
        res = self._kubectl("get", "node", self.name, "-o", "json", check=False)
        return json.loads(res.stdout) if res.returncode == 0 else None

    def _node_ready(self) -> bool:
        node = self._node()
        return bool(node) and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (node or {}).get("status", {}).get("conditions", [])
        )

    def _untaint_not_ready(self) -> None:
        node = self._node() or {}
        if any(t.get("key") == NOT_READY_TAINT for t in node.get("spec", {}).get("taints") or []):
            self._kubectl("taint", "node", self.name, f"{NOT_READY_TAINT}:NoSchedule-", check=False)

    # -- helpers ---------------------------------------------------------------------------------
    def _ctr(self, tools: Tools, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(tools.ctr), "--address", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def _kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        kubectl = binaries.find(build=False).kubectl
        res = subprocess.run(
            [str(kubectl), f"--kubeconfig={self.admin_kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and res.returncode != 0:
            raise RealNodeUnavailable(f"kubectl {' '.join(args)} failed: {res.stderr.strip()}")
        return res

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
        self._save()

    def _wait(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            for comp, pid in self.state.get("pids", {}).items():
                if not _pid_alive(int(pid)):
                    raise RealNodeUnavailable(
                        f"{comp} exited while waiting for {what}; log tail:\n{self.log_tail(comp)}"
                    )
            time.sleep(0.3)
        raise RealNodeUnavailable(
            f"timed out after {timeout}s waiting for {what}; kubelet log tail:\n{self.log_tail('kubelet')}"
        )

    def log_tail(self, comp: str, n: int = 3000) -> str:
        p = self.logs / f"{comp}.log"
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    def _save(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(self.state, indent=1))

    def _load(self) -> dict[str, Any]:
        if self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())
        return self.state


# -- process and cgroup housekeeping ----------------------------------------------------------------
def _terminate(pid: int, grace: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _pids_with_arg(arg: str) -> list[int]:
    """Processes whose command line has ``arg`` (our containerd's socket: its shims)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if arg.encode() in (d / "cmdline").read_bytes().split(b"\0"):
                    out.append(int(d.name))
    return out


def _netns_of(pid: int) -> list[str]:
    """Network-namespace files mounted in the mount namespace of ``pid`` (CNI's cni-<uuid>)."""
    with contextlib.suppress(OSError):
        lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        return sorted({ln.split()[4] for ln in lines if "/netns/cni-" in ln.split()[4]})
    return []


def _cgroup_dirs(root: str) -> list[Path]:
    base = [CGROUP_FS] if cgroup_version() == 2 else [CGROUP_FS / c for c in CGROUP_V1_CONTROLLERS]
    return [b / root.lstrip("/") for b in base if (b / root.lstrip("/")).is_dir()]


def _kill_cgroup(root: str) -> None:
    """SIGKILL every process in the pods' cgroup tree (containers and pause processes)."""
    for _ in range(20):
        pids: set[int] = set()
        for d in _cgroup_dirs(root):
            for procs in d.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids |= {int(x) for x in procs.read_text().split()}
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _remove_cgroup(root: str) -> None:
    for d in _cgroup_dirs(root):
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                sub.rmdir()
        with contextlib.suppress(OSError):
            d.rmdir()


def _used_subnets(ip: Path) -> set[str]:
    """The /24 around every IPv4 address on this machine (another sandbox's bridge, say)."""
    res = subprocess.run([str(ip), "-4", "-o", "addr"], capture_output=True, text=True)
    used = set()
    for line in res.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            with contextlib.suppress(ValueError, IndexError):
                addr = parts[parts.index("inet") + 1].split("/")[0]
                used.add(str(ipaddress.ip_network(f"{addr}/24", strict=False)))
    return used
