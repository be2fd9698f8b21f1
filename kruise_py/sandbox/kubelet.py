"""The node simulator's kubelet, as a pure state machine (no I/O, no clock, no asyncio).

:func:`step` takes a pod (plain dict as read from the API), the simulator's remembered state of that
pod, the :class:`SimConfig` and ``now`` (epoch seconds), and returns a :class:`Decision`: the new
state, the status patch to write (or None), whether to confirm a deletion, and when to be called
again. :func:`node_actions` does the same for Nodes.

What it models, copied from the v1.36 kubelet (pkg/kubelet/kubelet_pods.go ``getPhase`` and
``convertToAPIContainerStatuses``, pkg/kubelet/status/generate.go, pkg/api/v1/pod/util.go
``ContainerShouldRestart``):
- a container is created ``start_delay`` after it may start, is ready ``ready_delay`` after it started;
- regular init containers run one after another (``init_run_seconds`` each, exit 0) before the main
  containers start; native sidecars (init containers with restartPolicy Always) only need to have
  started, keep running and are restarted in place like main containers;
- an in-place image change kills the container ``stop_delay`` after it is seen and starts the new
  image ``start_delay`` later (new containerID and imageID, restartCount + 1);
- an in-place resize is allocated at once (``allocatedResources``, condition PodResizeInProgress)
  and actuated after ``resize_delay`` (``containerStatuses[].resources``), without a restart unless
  the container's resizePolicy says RestartContainer;
- images matching ``unpullable_pattern`` never start (ErrImagePull, then ImagePullBackOff);
- run-to-completion: containers exit after a configurable time with a configurable exit code (pod
  annotations), and are restarted or not per the pod's / container's restart policy and rules;
- pod phase, the Initialized / ContainersReady / Ready (honouring readinessGates) /
  PodReadyToStartContainers / PodScheduled conditions, qosClass, pod and host IPs, startTime;
- activeDeadlineSeconds (phase Failed, reason DeadlineExceeded);
- deletion: confirmed ``delete_delay`` after the deletionTimestamp is seen.

Timestamps of transitions are the times they were *scheduled* for, not the time ``step`` happened
to run, so the result does not depend on how late the simulator's timer fired.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SIM_LABEL = "kruise-py.io/simulated"
ANN_RUN_SECONDS = "sim.kruise-py.io/run-seconds"
ANN_EXIT_CODE = "sim.kruise-py.io/exit-code"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
DEFAULT_UNPULLABLE = r"(?i)(^|/)(invalid|unpullable|does-not-exist)[^/]*$|:unpullable$"

# Condition types the kubelet owns (pkg/kubelet/types PodConditionByKubelet); all others
# (readiness gates, DisruptionTarget, …) belong to someone else and are never written here.
KUBELET_CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
    "PodResizeInProgress",
)

# Container phases of the simulated runtime.
PENDING = "pending"  # may not start yet (init containers before it are not done)
CREATING = "creating"  # being pulled/created, starts at since + start_delay
PULLFAIL = "pullfail"  # image cannot be pulled; stays until the spec image changes
RUNNING = "running"
EXITED = "exited"  # terminated; restart_at set if the kubelet will restart it

# A zero-delay crash loop would otherwise spin forever inside one step.
MAX_EVENTS_PER_STEP = 500


@dataclass
class SimConfig:
    """Every delay of the simulated kubelet, in seconds (all may be 0)."""

    start_delay: float = 0.3  # pull + create + start of a container
    ready_delay: float = 0.2  # started -> ready (stands in for readiness probes)
    stop_delay: float = 0.2  # in-place restart: change seen -> old container killed
    restart_delay: float = 0.5  # crashed container -> restarted (CrashLoopBackOff back-off)
    resize_delay: float = 0.2  # in-place resize: allocated -> actuated
    delete_delay: float = 0.2  # deletionTimestamp seen -> DELETE with grace 0
    pull_backoff_delay: float = 0.5  # ErrImagePull -> ImagePullBackOff
    init_run_seconds: float = 0.2  # how long a regular init container runs (exit 0)
    complete_after: float = 1.0  # run time of Never/OnFailure containers (annotation overrides)
    # The sandbox storage driver (kruise_py.sandbox.storage), for classes of its provisioner:
    provision_delay: float = 0.2  # Pending claim seen -> PersistentVolume created
    expand_delay: float = 0.3  # larger request seen -> volume grown (FileSystemResizePending)
    fs_resize_delay: float = 0.3  # a pod mounts a FileSystemResizePending claim -> capacity grown
    deprovision_delay: float = 0.1  # Released volume seen -> deleted (reclaim policy Delete)
    unpullable_pattern: str = DEFAULT_UNPULLABLE
    node_capacity: dict[str, str] = field(
        default_factory=lambda: {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    )
    node_labels: dict[str, str] = field(default_factory=dict)
    pod_cidr: str = "10.244.0.0/16"
    kubelet_version: str = "v1.36.2"
    write_concurrency: int = 64

    def __post_init__(self) -> None:
        self._unpullable = re.compile(self.unpullable_pattern) if self.unpullable_pattern else None

    def unpullable(self, image: str) -> bool:
        return bool(self._unpullable and self._unpullable.search(image))


# -- small helpers -------------------------------------------------------------------------------
def fmt_time(t: float) -> str:
    """RFC 3339 at second precision, as metav1.Time serializes."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str | None) -> float | None:
    if not s:
        return None
    try:
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def image_id(image: str) -> str:
    """Deterministic imageID as containerd's CRI reports a pulled image: its repo digest,
    ``<repo>@sha256:<hex>`` (no ``docker-pullable://``, which only dockershim wrote). A digest image
    keeps its digest (SidecarSet compares them)."""
    if "@" in image:
        return image
    last = image.rsplit("/", 1)
    repo = image.rsplit(":", 1)[0] if ":" in last[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def container_id(uid: str, name: str, instance: int) -> str:
    # The runtime's name as the node reports it (containerRuntimeVersion containerd://…).
    return "containerd://" + hashlib.sha256(f"{uid}/{name}/{instance}".encode()).hexdigest()


def _go_list(names: Iterable[str]) -> str:
    """How Go's %s prints a []string, which the kubelet uses in condition messages."""
    return "[" + " ".join(names) + "]"


def _prune(v: Any) -> Any:
    """Drop None, "", {} and [] recursively: the shape-insensitive form used to compare statuses."""
    if isinstance(v, dict):
        out = {k: _prune(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, "", {}, [])}
    if isinstance(v, list):
        return [_prune(x) for x in v]
    return v


def is_sidecar(c: Mapping[str, Any]) -> bool:
    return c.get("restartPolicy") == "Always"


def spec_resources(c: Mapping[str, Any]) -> dict[str, Any]:
    res = c.get("resources") or {}
    return {k: dict(res[k]) for k in ("requests", "limits") if res.get(k)}


def container_should_restart(c: Mapping[str, Any], pod_spec: Mapping[str, Any], exit_code: int) -> bool:
    """pkg/api/v1/pod/util.go ContainerShouldRestart (ContainerRestartRules is beta, on, in 1.36)."""
    policy = c.get("restartPolicy")
    if policy:
        for rule in c.get("restartPolicyRules") or []:
            codes = rule.get("exitCodes") or {}
            values = set(codes.get("values") or [])
            op = codes.get("operator")
            if (op == "In" and exit_code in values) or (op == "NotIn" and exit_code not in values):
                if rule.get("action") in ("Restart", "RestartAllContainers"):
                    return True
                break
        if policy == "Always":
            return True
        if policy == "OnFailure":
            return exit_code != 0
        if policy == "Never":
            return False
    pod_policy = pod_spec.get("restartPolicy") or "Always"
    if pod_policy == "OnFailure":
        return exit_code != 0
    return pod_policy != "Never"


def qos_class(pod: Mapping[str, Any]) -> str:
    """pkg/apis/core/helper/qos ComputePodQOS, for cpu and memory."""
    spec = pod.get("spec") or {}
    guaranteed, any_set = True, False
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        res = c.get("resources") or {}
        req = {
            k: v for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory") and str(v) != "0"
        }
        lim = {k: v for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory") and str(v) != "0"}
        any_set = any_set or bool(req) or bool(lim)
        if set(lim) != {"cpu", "memory"} or any(req.get(k, lim[k]) != lim[k] for k in lim):
            guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class IPPool:
    """Unique pod IPs out of one CIDR (the network and broadcast addresses are never handed out)."""

    def __init__(self, cidr: str = "10.244.0.0/16") -> None:
        self.net = ipaddress.ip_network(cidr)
        self._first = int(self.net.network_address) + 1
        self._size = self.net.num_addresses - 2
        self._next = 0
        self.used: set[str] = set()

    def allocate(self) -> str:
        for _ in range(self._size):
            ip = str(ipaddress.ip_address(self._first + self._next))
            self._next = (self._next + 1) % self._size
            if ip not in self.used:
                self.used.add(ip)
                return ip
        raise RuntimeError(f"pod CIDR {self.net} exhausted")

    def reserve(self, ip: str) -> None:
        self.used.add(ip)

    def release(self, ip: str) -> None:
        self.used.discard(ip)


def node_ip(name: str) -> str:
    """A stable 127.x.y.z per node name, so a restarted simulator writes the same address."""
    d = hashlib.sha256(name.encode()).digest()
    return f"127.{1 + d[0] % 254}.{d[1]}.{1 + d[2] % 254}"


# -- remembered state --------------------------------------------------------------------------
@dataclass
class CState:
    """One container slot as the simulated runtime sees it."""

    name: str
    kind: str  # "init" | "sidecar" | "main"
    phase: str = PENDING
    since: float = 0.0  # when the current phase began
    image: str = ""  # image being created / last attempted
    run_image: str = ""  # image of the latest created instance
    instances: int = 0  # instances created so far; restartCount = instances - 1
    cid: str = ""  # containerID of the latest instance
    started_at: float = 0.0
    ever_started: bool = False
    ready: bool = False
    ready_at: float | None = None
    exit_at: float | None = None
    kill_at: float | None = None
    restart_at: float | None = None
    resize_at: float | None = None
    final: bool = False  # exited and will not run again
    exit_code: int = 0
    waiting_reason: str = ""
    term: dict[str, Any] | None = None  # latest terminated instance
    prev_term: dict[str, Any] | None = None  # the one before (lastState while term is the state)
    resources: dict[str, Any] | None = None  # actuated (status.resources)
    allocated: dict[str, Any] | None = None  # allocatedResources

    @property
    def restart_count(self) -> int:
        return max(0, self.instances - 1)


@dataclass
class PodState:
    uid: str
    pod_ip: str
    host_ip: str
    start_time: float
    init: list[CState] = field(default_factory=list)
    main: list[CState] = field(default_factory=list)
    terminal: str = ""  # "", "Succeeded" or "Failed"
    # The kubelet's status manager keeps the phase non-terminal until the pod worker has finished
    # terminating the pod; the terminal phase is written from here on.
    terminal_at: float | None = None
    reason: str = ""
    message: str = ""
    deletion_seen: float | None = None
    delete_sent: bool = False
    # Signature of the last status we wrote: never write the same one twice, even if the server
    # shows something different (e.g. it dropped a field) — that would be a write storm...
    last_written: str | None = None
    # ...unless someone else wrote the status since (signature of the status our write's response
    # showed): e.g. a controller set Ready False with its readiness gate, and Ready True is then
    # ours to write again, as the kubelet's status manager reconciles a status that differs.
    written_result: str | None = None

    def copy(self) -> PodState:
        return dataclasses.replace(
            self,
            init=[dataclasses.replace(c) for c in self.init],
            main=[dataclasses.replace(c) for c in self.main],
        )

    def containers(self) -> list[CState]:
        return [*self.init, *self.main]


@dataclass
class Decision:
    state: PodState
    patch: dict[str, Any] | None = None  # strategic merge patch for pods/<name>/status
    signature: str | None = None  # of the status in the patch; set as last_written on success
    delete: bool = False  # confirm the deletion (DELETE grace 0, uid precondition)
    wake: float | None = None  # call step again at this time (if nothing happens before)


# Container fields the state machine reads; everything else (env, probes, mounts…) is dropped from
# the simulator's cache, which holds every bound pod of the cluster.
_CONTAINER_KEYS = (
    "name",
    "image",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "restartPolicyRules",
    "readinessProbe",
    "volumeMounts",
)
_SPEC_KEYS = ("nodeName", "restartPolicy", "readinessGates", "activeDeadlineSeconds", "hostNetwork")
_META_KEYS = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def slim_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a pod :func:`step` needs (a few hundred bytes instead of tens of KiB)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    out_meta = {k: meta[k] for k in _META_KEYS if k in meta}
    ann = {k: v for k, v in (meta.get("annotations") or {}).items() if k in (ANN_RUN_SECONDS, ANN_EXIT_CODE)}
    if ann:
        out_meta["annotations"] = ann
    out_spec: dict[str, Any] = {k: spec[k] for k in _SPEC_KEYS if k in spec}
    for key in ("initContainers", "containers"):
        if spec.get(key):
            out_spec[key] = [{k: c[k] for k in _CONTAINER_KEYS if k in c} for c in spec[key]]
    # The claims it mounts, for the storage driver's file-system expansion.
    claims = [
        {"persistentVolumeClaim": {"claimName": v["persistentVolumeClaim"].get("claimName")}}
        for v in spec.get("volumes") or []
        if isinstance(v, Mapping) and isinstance(v.get("persistentVolumeClaim"), Mapping)
    ]
    if claims:
        out_spec["volumes"] = claims
    return {"metadata": out_meta, "spec": out_spec, "status": pod.get("status") or {}}


# -- pod state machine ---------------------------------------------------------------------------
def _specs(pod: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    spec = pod.get("spec") or {}
    return list(spec.get("initContainers") or []), list(spec.get("containers") or [])


def new_pod_state(pod: Mapping[str, Any], pod_ip: str, host_ip: str, now: float) -> PodState:
    """State for a pod first seen now; adopts what an earlier simulator already wrote in its status."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    init_specs, main_specs = _specs(pod)
    if (pod.get("spec") or {}).get("hostNetwork"):
        pod_ip = host_ip
    st = PodState(
        uid=meta.get("uid", ""),
        pod_ip=status.get("podIP") or pod_ip,
        host_ip=host_ip,
        start_time=parse_time(status.get("startTime")) or now,
        init=[
            CState(
                c["name"],
                "sidecar" if is_sidecar(c) else "init",
                image=c.get("image", ""),
                allocated=spec_resources(c).get("requests"),
            )
            for c in init_specs
        ],
        main=[
            CState(c["name"], "main", image=c.get("image", ""), allocated=spec_resources(c).get("requests"))
            for c in main_specs
        ],
    )
    if status.get("phase") in ("Succeeded", "Failed"):
        st.terminal, st.terminal_at = status["phase"], now
        st.reason, st.message = status.get("reason", ""), status.get("message", "")
    old = {
        cs.get("name"): cs
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    }
    if st.terminal or any(old.get(c.name, {}).get("containerID") for c in st.containers()):
        for c in st.containers():
            _adopt(c, old.get(c.name), now, bool(st.terminal))
    return st


def _adopt(c: CState, cs: Mapping[str, Any] | None, now: float, terminal: bool) -> None:
    """Rebuild one container from a status written before (simulator restart)."""
    if not cs or not cs.get("containerID"):
        if terminal:
            c.phase, c.final = EXITED, True
        return
    state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated")
    c.instances = int(cs.get("restartCount") or 0) + 1
    c.cid, c.run_image, c.image = cs["containerID"], cs.get("image", c.image), cs.get("image", c.image)
    c.resources = cs.get("resources") or None
    c.allocated = cs.get("allocatedResources") or c.allocated
    c.ever_started = True
    c.term = last
    if "running" in state:
        c.phase, c.since = RUNNING, now
        c.started_at = parse_time(state["running"].get("startedAt")) or now
        c.ready = bool(cs.get("ready"))
        c.ready_at = None if c.ready else now
    elif "terminated" in state:
        c.phase, c.since, c.final = EXITED, now, True
        c.term, c.prev_term = dict(state["terminated"]), last
        c.exit_code = int(state["terminated"].get("exitCode") or 0)
        c.ready = bool(cs.get("ready"))
    else:
        # Waiting after a run: restart now (the back-off we were in is forgotten).
        c.phase, c.since, c.waiting_reason = CREATING, now, "ContainerCreating"
    if terminal:
        c.final = True
        if c.phase != EXITED:
            c.phase = EXITED


def _run_plan(pod: Mapping[str, Any], cfg: SimConfig) -> tuple[float | None, int]:
    """(seconds a main container runs before it exits, or None for forever; its exit code)."""
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    code = 0
    with contextlib.suppress(TypeError, ValueError):
        code = int(ann.get(ANN_EXIT_CODE, 0))
    run: float | None = None
    if ANN_RUN_SECONDS in ann:
        try:
            run = max(0.0, float(ann[ANN_RUN_SECONDS]))
        except (TypeError, ValueError):
            run = None
    if run is None and (policy != "Always" or (ANN_EXIT_CODE in ann and code != 0)):
        run = cfg.complete_after
    return run, code


def _terminate(c: CState, t: float, code: int, reason: str) -> None:
    c.prev_term, c.term = (
        c.term,
        {
            "exitCode": code,
            "reason": reason,
            "startedAt": fmt_time(c.started_at),
            "finishedAt": fmt_time(t),
            "containerID": c.cid,
        },
    )
    c.phase, c.since, c.exit_code = EXITED, t, code
    c.ready = False
    c.ready_at = c.exit_at = c.kill_at = c.resize_at = c.restart_at = None


def _begin_create(c: CState, t: float, image: str, reason: str) -> None:
    c.phase, c.since, c.image, c.waiting_reason = CREATING, t, image, reason
    c.restart_at = None


def _default_waiting(pod: Mapping[str, Any]) -> str:
    return "PodInitializing" if (pod.get("spec") or {}).get("initContainers") else "ContainerCreating"


class _Sim:
    """One step's working context: the pod, its specs by name and the config."""

    def __init__(self, pod: Mapping[str, Any], st: PodState, cfg: SimConfig) -> None:
        self.pod, self.st, self.cfg = pod, st, cfg
        init_specs, main_specs = _specs(pod)
        self.spec = pod.get("spec") or {}
        self.by_name = {c["name"]: c for c in [*init_specs, *main_specs]}
        self.run_for, self.exit_code = _run_plan(pod, cfg)

    def image_of(self, c: CState) -> str:
        return str(self.by_name.get(c.name, {}).get("image", c.image))

    # -- events ----------------------------------------------------------------------------
    def events(self, c: CState) -> list[tuple[float, str]]:
        ev: list[tuple[float, str]] = []
        if c.phase == CREATING:
            ev.append((c.since + self.cfg.start_delay, "start"))
        elif c.phase == PULLFAIL and c.waiting_reason == "ErrImagePull":
            ev.append((c.since + self.cfg.pull_backoff_delay, "backoff"))
        elif c.phase == RUNNING:
            for t, name in (
                (c.ready_at, "ready"),
                (c.kill_at, "kill"),
                (c.exit_at, "exit"),
                (c.resize_at, "resize"),
            ):
                if t is not None:
                    ev.append((t, name))
        elif c.phase == EXITED and c.restart_at is not None:
            ev.append((c.restart_at, "restart"))
        return ev

    def next_event(self) -> tuple[float, str, CState | None] | None:
        best: tuple[float, str, CState | None] | None = None
        if self.st.terminal:
            return None
        ads = self.spec.get("activeDeadlineSeconds")
        if ads is not None:
            best = (self.st.start_time + float(ads), "deadline", None)
        for c in self.st.containers():
            for t, name in self.events(c):
                if best is None or t < best[0]:
                    best = (t, name, c)
        return best

    def fire(self, t: float, name: str, c: CState | None) -> None:
        cfg = self.cfg
        if name == "deadline" or c is None:
            self.st.terminal, self.st.reason = "Failed", "DeadlineExceeded"
            self.st.terminal_at = t + cfg.stop_delay
            self.st.message = "Pod was active on the node longer than the specified deadline"
            self.stop_all(t, 137, "Error")
            return
        if name == "start":
            if cfg.unpullable(c.image):
                c.phase, c.since, c.waiting_reason = PULLFAIL, t, "ErrImagePull"
                return
            c.instances += 1
            c.phase, c.since, c.started_at, c.ever_started = RUNNING, t, t, True
            c.run_image, c.cid = c.image, container_id(self.st.uid, c.name, c.instances)
            # Without a readiness probe the kubelet reports a running container ready at once;
            # ready_delay stands for the probe's first success.
            probe = self.by_name.get(c.name, {}).get("readinessProbe")
            c.ready, c.ready_at = (
                False,
                (None if c.kind == "init" else t + (cfg.ready_delay if probe else 0.0)),
            )
            c.waiting_reason, c.kill_at, c.resize_at = "", None, None
            res = spec_resources(self.by_name.get(c.name, {}))
            c.resources, c.allocated = res, res.get("requests")
            if c.kind == "init":
                c.exit_at = t + cfg.init_run_seconds
            elif c.kind == "main" and self.run_for is not None:
                c.exit_at = t + self.run_for
            else:
                c.exit_at = None
        elif name == "backoff":
            c.waiting_reason = "ImagePullBackOff"
        elif name == "ready":
            c.ready, c.ready_at = True, None
        elif name == "resize":
            res = spec_resources(self.by_name.get(c.name, {}))
            c.resources, c.allocated, c.resize_at = res, res.get("requests"), None
        elif name == "kill":
            # In-place restart (spec changed): the kubelet restarts regardless of restartPolicy.
            # One pod sync kills the old container and starts the new one: no status shows the
            # container waiting in between (start_delay was spent before the kill, see sync_spec).
            _terminate(c, t, 0, "Completed")
            _begin_create(c, t - cfg.start_delay, self.image_of(c), "ContainerCreating")
        elif name == "exit":
            code = 0 if c.kind == "init" else self.exit_code
            _terminate(c, t, code, "Completed" if code == 0 else "Error")
            if c.kind == "main" and container_should_restart(self.by_name.get(c.name, {}), self.spec, code):
                c.restart_at = t + cfg.restart_delay
            else:
                c.final = True
        elif name == "restart":
            _begin_create(c, t, self.image_of(c), "CrashLoopBackOff")
        self.unblock(t)
        self.check_terminal(t)

    def unblock(self, t: float) -> None:
        """Init containers one at a time; main containers once every init container is done."""
        for c in self.st.init:
            done = (c.final and c.exit_code == 0) if c.kind == "init" else c.ever_started
            if done:
                continue
            if c.phase == PENDING:
                _begin_create(c, t, self.image_of(c), _default_waiting(self.pod))
            return
        for c in self.st.main:
            if c.phase == PENDING:
                _begin_create(c, t, self.image_of(c), _default_waiting(self.pod))

    def check_terminal(self, t: float) -> None:
        if self.st.terminal or not self.st.main or not all(c.final for c in self.st.main):
            return
        failed = any(c.exit_code != 0 for c in self.st.main)
        self.st.terminal = "Failed" if failed else "Succeeded"
        self.st.terminal_at = t + self.cfg.stop_delay
        # The pod is done: the kubelet stops the sidecars (and anything not finished).
        self.stop_all(t, 0, "Completed")

    def stop_all(self, t: float, code: int, reason: str) -> None:
        for c in self.st.containers():
            if c.phase == RUNNING:
                _terminate(c, t, code, reason)
            elif c.instances == 0 and not c.final:
                c.prev_term, c.term = (
                    c.term,
                    {
                        "exitCode": 137,
                        "reason": "ContainerStatusUnknown",
                        "message": "The container could not be located when the pod was terminated",
                    },
                )
            c.phase, c.final = EXITED, True
            c.restart_at = c.ready_at = c.exit_at = c.kill_at = c.resize_at = None

    # -- spec changes ------------------------------------------------------------------------
    def sync_spec(self, now: float) -> None:
        """React to what changed in the spec since the last step: images and resources."""
        for c in self.st.containers():
            spec_c = self.by_name.get(c.name)
            if spec_c is None:
                continue
            img = spec_c.get("image", "")
            if c.phase == PENDING:
                c.image = img
                continue
            if c.kind == "init":
                continue  # a regular init container that ran is not run again
            want = spec_resources(spec_c)
            if c.phase == RUNNING and c.kind == "main" and c.exit_at is None and self.run_for is not None:
                # Annotated after the start, or adopted from an earlier simulator: run from startedAt.
                c.exit_at = c.started_at + self.run_for
            if c.phase == RUNNING:
                restart = img != c.run_image or self._resize_needs_restart(spec_c, c.resources or {}, want)
                if restart:
                    if c.kill_at is None:
                        c.kill_at = now + self.cfg.stop_delay + self.cfg.start_delay
                    continue
                c.kill_at = None
                if _prune(want) != _prune(c.resources or {}):
                    c.allocated = want.get("requests")
                    if c.resize_at is None:
                        c.resize_at = now + self.cfg.resize_delay
                else:
                    c.resize_at = None
            elif c.phase in (CREATING, PULLFAIL):
                c.allocated = want.get("requests")
                if img != c.image:
                    _begin_create(c, now, img, "ContainerCreating")

    @staticmethod
    def _resize_needs_restart(
        spec_c: Mapping[str, Any], have: Mapping[str, Any], want: Mapping[str, Any]
    ) -> bool:
        policies = {p.get("resourceName"): p.get("restartPolicy") for p in spec_c.get("resizePolicy") or []}
        for res_name in ("cpu", "memory"):
            if policies.get(res_name) != "RestartContainer":
                continue
            for kind in ("requests", "limits"):
                if (have.get(kind) or {}).get(res_name) != (want.get(kind) or {}).get(res_name):
                    return True
        return False

    def advance(self, now: float) -> bool:
        """Fire every event due by now, in time order. False if the loop guard tripped."""
        self.unblock(self.st.start_time)
        for _ in range(MAX_EVENTS_PER_STEP):
            ev = self.next_event()
            if ev is None or ev[0] > now:
                return True
            self.fire(*ev)
        return False


def step(pod: Mapping[str, Any], state: PodState, cfg: SimConfig, now: float) -> Decision:
    """Advance the simulated kubelet for one pod to ``now`` (see the module docstring)."""
    st = state.copy()
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        # The kubelet stops the containers and confirms; status is not worth a write here.
        if st.deletion_seen is None:
            st.deletion_seen = now
        due = st.deletion_seen + cfg.delete_delay
        if st.delete_sent:
            return Decision(st)
        if now >= due:
            return Decision(st, delete=True)
        return Decision(st, wake=due)

    sim = _Sim(pod, st, cfg)
    finished = sim.advance(now)
    sim.sync_spec(now)
    finished = sim.advance(now) and finished

    status = render_status(pod, st, cfg, now)
    sig = status_signature(status)
    patch = None
    current = pod.get("status") or {}
    # A terminal pod's status is final (the kubelet refuses to move it, and so do we).
    if (
        current.get("phase") not in ("Succeeded", "Failed")
        and (sig != st.last_written or status_signature(current) != st.written_result)
        and status_differs(status, current)
    ):
        patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": status}
    if not finished:
        wake: float | None = now + 0.05
    else:
        ev = sim.next_event()
        wake = ev[0] if ev else None
        if st.terminal_at is not None and st.terminal_at > now:
            wake = st.terminal_at
    return Decision(st, patch=patch, signature=sig if patch else None, wake=wake)


# -- rendering -----------------------------------------------------------------------------------
def volume_mount_statuses(spec_c: Mapping[str, Any]) -> list[dict[str, Any]]:
    """containerStatuses[].volumeMounts (RecursiveReadOnlyMounts, GA): one per mount of the spec,
    recursiveReadOnly only on read-only mounts ("Enabled" when asked for and the runtime can)."""
    out = []
    for m in spec_c.get("volumeMounts") or []:
        ms: dict[str, Any] = {"name": m.get("name"), "mountPath": m.get("mountPath")}
        if m.get("readOnly"):
            ms["readOnly"] = True
            ms["recursiveReadOnly"] = (
                "Enabled" if m.get("recursiveReadOnly") in ("Enabled", "IfPossible") else "Disabled"
            )
        out.append(ms)
    return out


def _container_status(
    c: CState, pod: Mapping[str, Any], spec_image: str, spec_c: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    state: dict[str, Any]
    last: dict[str, Any] = {"terminated": c.term} if c.term else {}
    if c.phase == RUNNING:
        state = {"running": {"startedAt": fmt_time(c.started_at)}}
    elif c.phase == EXITED and c.restart_at is None:
        state = {"terminated": c.term or {"exitCode": 0, "reason": "Completed"}}
        last = {"terminated": c.prev_term} if c.prev_term else {}
    elif c.phase == EXITED:
        state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off restarting failed container={c.name} pod="
                f"{(pod.get('metadata') or {}).get('name')}_{(pod.get('metadata') or {}).get('namespace')}"
                f"({(pod.get('metadata') or {}).get('uid')})",
            }
        }
    elif c.phase == PULLFAIL:
        msg = (
            f'Back-off pulling image "{c.image}"'
            if c.waiting_reason == "ImagePullBackOff"
            else f'failed to pull and unpack image "{c.image}": not found'
        )
        state = {"waiting": {"reason": c.waiting_reason, "message": msg}}
    else:
        state = {"waiting": {"reason": c.waiting_reason or _default_waiting(pod)}}
    cs: dict[str, Any] = {
        "name": c.name,
        # A container that never ran shows the spec image; otherwise the image of its latest instance.
        "image": c.run_image if c.instances else spec_image,
        "imageID": image_id(c.run_image) if c.instances else "",
        "ready": c.ready if c.kind != "init" else bool(c.final and c.exit_code == 0),
        "started": c.phase == RUNNING,
        "restartCount": c.restart_count,
        "state": state,
        "lastState": last,
    }
    if c.instances:
        cs["containerID"] = c.cid
        # Every container the runtime knows gets resources, {} when it declares none.
        cs["resources"] = c.resources or {}
    if c.allocated:
        cs["allocatedResources"] = c.allocated
    mounts = volume_mount_statuses(spec_c or {})
    if mounts:
        cs["volumeMounts"] = mounts
    return cs


def _observed(s: Mapping[str, Any] | None) -> tuple[str, int]:
    """How getPhase reads a container status: (unknown|running|terminated|restarting|waiting|"", exit code).

    ``restarting`` is waiting after a termination (exit code from lastState); ``""`` is no state at all.
    """
    if s is None:
        return "unknown", 0
    state, last = s["state"], (s.get("lastState") or {}).get("terminated")
    if "running" in state:
        return "running", 0
    if "terminated" in state:
        return "terminated", int(state["terminated"].get("exitCode", 0))
    if "waiting" in state:
        return ("restarting", int(last.get("exitCode", 0))) if last else ("waiting", 0)
    return "", 0


def get_phase(pod: Mapping[str, Any], statuses: list[dict[str, Any]], has_initialized: bool) -> str:
    """kubelet_pods.go getPhase for a pod that is not terminal (ContainerRestartRules on)."""
    spec = pod.get("spec") or {}
    by_name = {s["name"]: s for s in statuses}
    pending_regular = pending_sidecar = failed_not_restartable = 0
    unknown = running = waiting = stopped = stopped_not_restartable = succeeded = 0
    for c in spec.get("initContainers") or []:
        s = by_name.get(c["name"])
        seen, code = _observed(s)
        if not is_sidecar(c):
            if seen in ("terminated", "restarting"):
                if code != 0 and not container_should_restart(c, spec, code):
                    failed_not_restartable += 1
            else:
                pending_regular += 1
        elif seen == "unknown":
            unknown += 1
        elif seen == "running":
            if not (s or {}).get("started"):
                pending_sidecar += 1
            running += 1
        elif seen == "waiting":
            pending_sidecar += 1
            waiting += 1
    for c in spec.get("containers") or []:
        seen, code = _observed(by_name.get(c["name"]))
        if seen == "unknown":
            unknown += 1
        elif seen == "running":
            running += 1
        elif seen in ("terminated", "restarting"):
            stopped += 1
            if not container_should_restart(c, spec, code):
                stopped_not_restartable += 1
            if seen == "terminated" and code == 0:
                succeeded += 1
        else:
            waiting += 1
    if failed_not_restartable:
        return "Failed"
    if pending_regular or (pending_sidecar and not has_initialized) or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if stopped != stopped_not_restartable:
            return "Running"
        return "Succeeded" if stopped == succeeded else "Failed"
    return "Pending"


def _conditions(
    pod: Mapping[str, Any], st: PodState, statuses: list[dict[str, Any]], phase: str, now: float
) -> list[dict[str, Any]]:
    """generate.go: PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled."""
    spec = pod.get("spec") or {}
    by_name = {s["name"]: s for s in statuses}
    existing = {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or []}

    def cond(ctype: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
        status = "True" if ok else "False"
        old = existing.get(ctype)
        ltt = old.get("lastTransitionTime") if old and old.get("status") == status else None
        c: dict[str, Any] = {
            "type": ctype,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": ltt or fmt_time(now),
            # null deletes a stale reason/message under a strategic merge patch.
            "reason": reason or None,
            "message": message or None,
        }
        gen = (pod.get("metadata") or {}).get("generation")
        if gen is not None:
            c["observedGeneration"] = gen
        return c

    # Initialized
    incomplete = []
    for c in spec.get("initContainers") or []:
        s = by_name.get(c["name"], {})
        ok = s.get("started") if is_sidecar(c) else s.get("ready")
        if not ok:
            incomplete.append(c["name"])
    main_started = any(c.ever_started for c in st.main)
    if phase == "Succeeded":
        initialized = cond("Initialized", True, "PodCompleted")
    elif main_started or not incomplete:
        initialized = cond("Initialized", True)
    else:
        initialized = cond(
            "Initialized",
            False,
            "ContainersNotInitialized",
            f"containers with incomplete status: {_go_list(incomplete)}",
        )
    # ContainersReady
    unready = [
        c["name"]
        for c in spec.get("initContainers") or []
        if is_sidecar(c) and not by_name.get(c["name"], {}).get("ready")
    ]
    unready += [
        c["name"] for c in spec.get("containers") or [] if not by_name.get(c["name"], {}).get("ready")
    ]
    if phase in ("Succeeded", "Failed"):
        creason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        containers_ready = cond("ContainersReady", False, creason)
    elif unready:
        containers_ready = cond(
            "ContainersReady",
            False,
            "ContainersNotReady",
            f"containers with unready status: {_go_list(unready)}",
        )
    else:
        containers_ready = cond("ContainersReady", True)
    # Ready = ContainersReady and every readiness gate True (gates are written by controllers).
    if containers_ready["status"] != "True":
        ready = cond("Ready", False, containers_ready["reason"] or "", containers_ready["message"] or "")
    else:
        msgs = []
        for gate in spec.get("readinessGates") or []:
            gtype = gate.get("conditionType")
            gc = existing.get(gtype)
            if gc is None:
                msgs.append(f'corresponding condition of pod readiness gate "{gtype}" does not exist.')
            elif gc.get("status") != "True":
                msgs.append(
                    f'the status of pod readiness gate "{gtype}" is not "True", but {gc.get("status")}'
                )
        ready = (
            cond("Ready", False, "ReadinessGatesNotReady", ", ".join(msgs)) if msgs else cond("Ready", True)
        )
    out = [
        cond("PodReadyToStartContainers", not st.terminal),
        initialized,
        ready,
        containers_ready,
        cond("PodScheduled", True),
    ]
    if not st.terminal and any(c.resize_at is not None for c in st.containers()):
        out.append(cond("PodResizeInProgress", True))
    elif "PodResizeInProgress" in existing:
        out.append({"type": "PodResizeInProgress", "$patch": "delete"})
    return out


def render_status(pod: Mapping[str, Any], st: PodState, cfg: SimConfig, now: float) -> dict[str, Any]:
    """The pod status the kubelet would report for this state."""
    init_specs, main_specs = _specs(pod)
    by_name = {c["name"]: c for c in [*init_specs, *main_specs]}
    images = {n: c.get("image", "") for n, c in by_name.items()}
    init_statuses = [
        _container_status(c, pod, images.get(c.name, c.image), by_name.get(c.name)) for c in st.init
    ]
    # The kubelet sorts regular container statuses by name (SortedContainerStatuses).
    main_statuses = sorted(
        (_container_status(c, pod, images.get(c.name, c.image), by_name.get(c.name)) for c in st.main),
        key=lambda s: s["name"],
    )
    all_statuses = [*init_statuses, *main_statuses]
    if st.terminal:
        phase = st.terminal
        # Conditions already say PodCompleted/PodFailed; the phase follows once terminated.
        shown_phase = phase if st.terminal_at is None or now >= st.terminal_at else "Running"
    else:
        phase = get_phase(pod, all_statuses, any(c.ever_started for c in st.main))
        if phase in ("Succeeded", "Failed"):
            # Only the state machine knows a restart is pending (in-place kill window).
            phase = "Running"
        shown_phase = phase
    status: dict[str, Any] = {
        "phase": shown_phase,
        "conditions": _conditions(pod, st, all_statuses, phase, now),
        "hostIP": st.host_ip,
        "hostIPs": [{"ip": st.host_ip}],
        "podIP": st.pod_ip,
        "podIPs": [{"ip": st.pod_ip}],
        "startTime": fmt_time(st.start_time),
        "qosClass": (pod.get("status") or {}).get("qosClass") or qos_class(pod),
        "containerStatuses": main_statuses,
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    # InPlacePodLevelResourcesVerticalScaling (beta, on in 1.36): the pod's aggregate requests
    # and limits; the real node reads them back from the pod cgroup (see pod_resources).
    status["allocatedResources"] = pod_requests(pod, {c.name: c.allocated for c in st.containers()}) or None
    status["resources"] = {k: v for k, v in pod_resources(pod, st).items() if v}
    if st.reason:
        status["reason"], status["message"] = st.reason, st.message
    gen = (pod.get("metadata") or {}).get("generation")
    if gen is not None:
        status["observedGeneration"] = gen
    return status


_QTY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def _parse_qty(q: Any) -> float | None:
    m = _QTY.match(str(q))
    if not m or m.group(2) not in _SUFFIX:
        return None
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def _fmt_qty(name: str, v: float, like: list[str]) -> str:
    """A sum back as a quantity: millicores for cpu, else the binary suffix the inputs used."""
    if name == "cpu":
        milli = round(v * 1000)
        return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"
    # Binary quantities print with the largest suffix that divides them (Go's canonical form).
    if any(str(q).endswith(("Ki", "Mi", "Gi", "Ti")) for q in like):
        for suffix in ("Ti", "Gi", "Mi", "Ki"):
            if v % _SUFFIX[suffix] == 0:
                return f"{int(v // _SUFFIX[suffix])}{suffix}"
    return str(int(v))


def _aggregate(pod: Mapping[str, Any], lists: Mapping[str, Mapping[str, Any] | None]) -> dict[str, str]:
    """resourcehelper's aggregation: regular containers and sidecars add up; a regular init
    container counts with the sidecars started before it; the pod needs the maximum."""
    init_specs, main_specs = _specs(pod)
    raw: dict[str, list[str]] = {}
    total: dict[str, float] = {}
    for c in main_specs:
        for k, q in (lists.get(c["name"]) or {}).items():
            if (v := _parse_qty(q)) is not None:
                total[k] = total.get(k, 0.0) + v
                raw.setdefault(k, []).append(q)
    sidecars: dict[str, float] = {}
    init_max: dict[str, float] = {}
    for c in init_specs:
        own = {k: v for k, q in (lists.get(c["name"]) or {}).items() if (v := _parse_qty(q)) is not None}
        for k, q in (lists.get(c["name"]) or {}).items():
            raw.setdefault(k, []).append(q)
        if is_sidecar(c):
            for k, v in own.items():
                total[k] = total.get(k, 0.0) + v
                sidecars[k] = sidecars.get(k, 0.0) + v
            need = dict(sidecars)
        else:
            need = {k: own.get(k, 0.0) + sidecars.get(k, 0.0) for k in {*own, *sidecars}}
        for k, v in need.items():
            init_max[k] = max(init_max.get(k, 0.0), v)
    for k, v in init_max.items():
        total[k] = max(total.get(k, 0.0), v)
    return {k: _fmt_qty(k, v, raw.get(k, [])) for k, v in sorted(total.items())}


def pod_requests(pod: Mapping[str, Any], allocated: Mapping[str, Mapping[str, Any] | None]) -> dict[str, str]:
    """status.allocatedResources of the pod: the aggregate of the containers' allocated requests."""
    return _aggregate(pod, allocated)


def pod_resources(pod: Mapping[str, Any], st: PodState) -> dict[str, dict[str, str]]:
    """status.resources of the pod: aggregate requests and limits of what each container runs with
    (actuated resources once started, the spec before). A real cgroup v1 node reports an
    unlimited pod memory cgroup as 9007199254740988Ki where containers lack a memory limit; a
    cgroup v2 node, which this models, keeps the declared aggregate."""
    init_specs, main_specs = _specs(pod)
    spec_by_name = {c["name"]: spec_resources(c) for c in [*init_specs, *main_specs]}
    actual = {
        c.name: (c.resources if c.instances and c.resources is not None else spec_by_name.get(c.name, {}))
        for c in st.containers()
    }
    return {
        "requests": _aggregate(pod, {n: (r or {}).get("requests") for n, r in actual.items()}),
        "limits": _aggregate(pod, {n: (r or {}).get("limits") for n, r in actual.items()}),
    }


def status_signature(status: Mapping[str, Any]) -> str:
    conds = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []
    ]
    text = json.dumps(_prune({**status, "conditions": conds}), sort_keys=True)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def status_differs(desired: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Would writing ``desired`` change anything the kubelet owns in ``current``?"""
    for key, want in desired.items():
        if key == "conditions":
            have = {c.get("type"): c for c in current.get("conditions") or []}
            for c in want:
                old = have.get(c["type"])
                if c.get("$patch") == "delete":
                    if old is not None:
                        return True
                    continue
                if old is None:
                    return True
                for k in ("status", "reason", "message", "observedGeneration"):
                    if (c.get(k) or None) != (old.get(k) or None):
                        return True
        elif _prune(want) != _prune(current.get(key)):
            return True
    return False


# -- nodes ---------------------------------------------------------------------------------------
NODE_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def new_node(
    name: str,
    cfg: SimConfig,
    labels: Mapping[str, str] | None = None,
    capacity: Mapping[str, str] | None = None,
    now: float = 0.0,
) -> dict[str, Any]:
    """The Node object the simulator registers (as a kubelet would, status included)."""
    lbl = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **cfg.node_labels,
        **(labels or {}),
        SIM_LABEL: "true",
    }
    cap = dict(capacity or cfg.node_capacity)
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": lbl},
        "status": {"capacity": cap, "allocatable": dict(cap)},
    }
    # The whole status goes in the create (the apiserver keeps it, as for a kubelet registering):
    # one write less per node than create-then-patch.
    node["status"] = desired_node_status(node, cfg, now)
    return node


def desired_node_status(node: Mapping[str, Any], cfg: SimConfig, now: float) -> dict[str, Any]:
    name = (node.get("metadata") or {}).get("name", "")
    status = node.get("status") or {}
    existing = {c.get("type"): c for c in status.get("conditions") or []}
    conds = []
    for ctype, cstatus, reason, message in NODE_CONDITIONS:
        old = existing.get(ctype)
        keep = old is not None and old.get("status") == cstatus
        conds.append(
            {
                "type": ctype,
                "status": cstatus,
                "reason": reason,
                "message": message,
                # No node-lifecycle controller runs: no heartbeats needed, so never bump these.
                "lastHeartbeatTime": (old or {}).get("lastHeartbeatTime") if keep else fmt_time(now),
                "lastTransitionTime": (old or {}).get("lastTransitionTime") if keep else fmt_time(now),
            }
        )
    # Honour a capacity the creator put in the status (tests may want a small node).
    cap = status.get("capacity") or dict(cfg.node_capacity)
    alloc = status.get("allocatable") or dict(cap)
    ip = next(
        (a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None
    ) or node_ip(name)
    ident = hashlib.sha256(name.encode()).hexdigest()
    return {
        "conditions": conds,
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
        "capacity": cap,
        "allocatable": alloc,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": ident[:32],
            "systemUUID": ident[32:64],
            "bootID": ident[:32],
            "kernelVersion": "6.1.0-kruise-py-sim",
            "osImage": "kruise-py simulated node",
            "containerRuntimeVersion": "containerd://2.1.0-sim",
            "kubeletVersion": cfg.kubelet_version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def node_internal_ip(node: Mapping[str, Any]) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP" and a.get("address"):
            return str(a["address"])
    return node_ip((node.get("metadata") or {}).get("name", ""))


def node_actions(
    node: Mapping[str, Any], cfg: SimConfig, now: float
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(strategic merge patch for nodes/<n>/status or None, merge patch for the Node or None).

    The status patch marks the node Ready; the spec patch removes the not-ready taint that
    admission adds to every new Node (nothing else would: the node-lifecycle controller is off).
    Both carry the resourceVersion (optimistic lock), and are None when nothing would change.
    """
    meta = node.get("metadata") or {}
    rv = meta.get("resourceVersion")
    desired = desired_node_status(node, cfg, now)
    current = node.get("status") or {}
    status_patch = None
    if any(
        _prune(v) != _prune(current.get(k)) for k, v in desired.items() if k != "conditions"
    ) or _node_conditions_differ(desired["conditions"], current.get("conditions") or []):
        status_patch = {"metadata": {"resourceVersion": rv}, "status": desired}
    taints = (node.get("spec") or {}).get("taints") or []
    keep = [t for t in taints if t.get("key") != NOT_READY_TAINT]
    spec_patch = None
    if len(keep) != len(taints):
        spec_patch = {"metadata": {"resourceVersion": rv}, "spec": {"taints": keep or None}}
    return status_patch, spec_patch


def _node_conditions_differ(want: list[dict[str, Any]], have: list[dict[str, Any]]) -> bool:
    by_type = {c.get("type"): c for c in have}
    for c in want:
        old = by_type.get(c["type"])
        if old is None or any(old.get(k) != c[k] for k in ("status", "reason", "message")):
            return True
    return False
