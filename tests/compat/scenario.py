"""The takeover scenario, shared by the compat tier (against OpenKruise's real manager) and the
replay test in tests/integration (against what that manager once wrote, recorded as fixtures).

Objects of all three kinds in both versions, as an OpenKruise 1.9 user has them: a 20-pod in-place
Advanced StatefulSet rolled once, a partitioned canary rolled once (current != update revision), a
v1alpha1 set; BroadcastJobs completed, running and `Never`; a v1alpha1 SidecarSet (namespace, custom
version label) and a v1beta1 one, both injected into the 20 pods and upgraded once.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.integration.conftest import audit_writes

Obj = dict[str, Any]
NS = "takeover"
REVISION_NS = "kruise-system"  # where OpenKruise keeps SidecarSet revisions
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "openkruise-1.9.0" / "takeover.yaml"
SIM_RUN_SECONDS = "sim.kruise-py.io/run-seconds"

SIDECARSETS = f"""
apiVersion: apps.kruise.io/v1alpha1
kind: SidecarSet
metadata:
  name: log-agent
  labels: {{apps.kruise.io/sidecarset-custom-version: "v1"}}
spec:
  namespace: {NS}
  selector: {{matchLabels: {{app: web}}}}
  containers:
  - name: log-agent
    image: busybox:1.36
    command: ["sh", "-c", "sleep 1000000"]
    volumeMounts: [{{name: logs, mountPath: /var/log/app}}]
  volumes: [{{name: logs, emptyDir: {{}}}}]
  updateStrategy: {{type: RollingUpdate, maxUnavailable: 5}}
---
apiVersion: apps.kruise.io/v1beta1
kind: SidecarSet
metadata: {{name: mesh}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {NS}}}}}
  containers:
  - name: mesh-proxy
    image: envoyproxy/envoy:v1.30.0
    podInjectPolicy: BeforeAppContainer
  updateStrategy: {{type: RollingUpdate, maxUnavailable: 4}}
"""

WORKLOADS = f"""
apiVersion: apps.kruise.io/v1beta1
kind: StatefulSet
metadata: {{name: web, namespace: {NS}}}
spec:
  replicas: 20
  serviceName: web
  podManagementPolicy: Parallel
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      readinessGates: [{{conditionType: InPlaceUpdateReady}}]
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{{containerPort: 80}}]
        resources: {{requests: {{cpu: "0.1", memory: 64Mi}}}}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {{podUpdatePolicy: InPlaceIfPossible, maxUnavailable: 5}}
---
apiVersion: apps.kruise.io/v1beta1
kind: StatefulSet
metadata: {{name: canary, namespace: {NS}}}
spec:
  replicas: 4
  podManagementPolicy: Parallel
  selector: {{matchLabels: {{app: canary}}}}
  template:
    metadata: {{labels: {{app: canary}}}}
    spec:
      readinessGates: [{{conditionType: InPlaceUpdateReady}}]
      containers: [{{name: app, image: "registry.example/app:1"}}]
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {{podUpdatePolicy: InPlaceIfPossible, maxUnavailable: 2, partition: 2}}
---
apiVersion: apps.kruise.io/v1alpha1
kind: StatefulSet
metadata: {{name: legacy, namespace: {NS}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: legacy}}}}
  template:
    metadata: {{labels: {{app: legacy}}}}
    spec:
      containers: [{{name: c, image: "busybox:1.36", command: ["sleep", "1000000"]}}]
---
apiVersion: apps.kruise.io/v1alpha1
kind: BroadcastJob
metadata: {{name: once, namespace: {NS}}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: "busybox:1.36", command: ["true"]}}]
  completionPolicy: {{type: Always}}
---
apiVersion: apps.kruise.io/v1beta1
kind: BroadcastJob
metadata: {{name: long, namespace: {NS}}}
spec:
  template:
    metadata: {{annotations: {{{SIM_RUN_SECONDS}: "1000000"}}}}
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: "busybox:1.36", command: ["sleep", "1000000"]}}]
  completionPolicy: {{type: Always}}
---
apiVersion: apps.kruise.io/v1beta1
kind: BroadcastJob
metadata: {{name: forever, namespace: {NS}}}
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{{name: c, image: "busybox:1.36", command: ["true"]}}]
  completionPolicy: {{type: Never}}
"""

# The one change each of them has seen under OpenKruise (after the first settle).
ROLL_ONCE = [
    (
        "asts",
        "web",
        NS,
        [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27"}],
    ),
    (
        "asts",
        "canary",
        NS,
        [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": "registry.example/app:2",
            }
        ],
    ),
    (
        "sidecarset",
        "log-agent",
        None,
        [{"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:1.37"}],
    ),
    (
        "sidecarset",
        "mesh",
        None,
        [{"op": "replace", "path": "/spec/containers/0/image", "value": "envoyproxy/envoy:v1.31.0"}],
    ),
]
SETS = {"web": 20, "canary": 4, "legacy": 2}
PARTITION = {"canary": 2}


# ------------------------------------------------------------------------------------------------
# Waiting for a settled state (whoever the controller is)


def _get(kubectl: Any, *args: str) -> Any:
    return kubectl.json("get", *args)


def settled(kubectl: Any, rolled: bool) -> str | None:
    """None when everything is where the scenario expects it; else what is still moving."""
    for name, n in SETS.items():
        s = _get(kubectl, "asts", name, "-n", NS)
        st = s.get("status") or {}
        if st.get("observedGeneration") != s["metadata"]["generation"]:
            return f"asts {name}: generation {s['metadata']['generation']} not observed"
        want_updated = n - PARTITION.get(name, 0) if rolled else n
        if (st.get("readyReplicas"), st.get("replicas")) != (n, n) or st.get(
            "updatedReplicas"
        ) != want_updated:
            return f"asts {name}: {st}"
    for name in ("log-agent", "mesh"):
        st = _get(kubectl, "sidecarset", name).get("status") or {}
        if not (st.get("matchedPods") == st.get("updatedPods") == st.get("readyPods") == SETS["web"]):
            return f"sidecarset {name}: {st}"
    jobs = {j["metadata"]["name"]: j.get("status") or {} for j in _get(kubectl, "bcj", "-n", NS)["items"]}
    if jobs.get("once", {}).get("phase") != "completed":
        return f"bcj once: {jobs.get('once')}"
    if jobs.get("long", {}).get("active") != jobs.get("long", {}).get("desired") or not jobs.get(
        "long", {}
    ).get("desired"):
        return f"bcj long: {jobs.get('long')}"
    if not jobs.get("forever", {}).get("succeeded"):
        return f"bcj forever: {jobs.get('forever')}"
    pods = _get(kubectl, "pods", "-n", NS)["items"]
    for p in pods:
        if p["metadata"].get("deletionTimestamp"):
            return f"pod {p['metadata']['name']} terminating"
    return None


def wait_settled(kubectl: Any, rolled: bool, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    last: str | None = "not checked"
    while time.monotonic() < deadline:
        last = settled(kubectl, rolled)
        if last is None:
            return
        time.sleep(1)
    raise AssertionError(f"scenario not settled after {timeout}s: {last}")


def apply_scenario(kubectl: Any) -> None:
    """Create it and wait until settled, then roll once and wait again."""
    kubectl("create", "namespace", NS)
    kubectl.apply(SIDECARSETS)
    kubectl.apply(WORKLOADS)
    wait_settled(kubectl, rolled=False)
    for kind, name, ns, patch in ROLL_ONCE:
        kubectl("patch", kind, name, *(["-n", ns] if ns else []), "--type=json", "-p", json.dumps(patch))
    wait_settled(kubectl, rolled=True)


# ------------------------------------------------------------------------------------------------
# What a user would compare: pods, revisions, statuses


def pod_state(kubectl: Any) -> dict[str, Obj]:
    """Per pod: what a restart, recreation or in-place patch would change."""
    out = {}
    for p in _get(kubectl, "pods", "-n", NS)["items"]:
        st = p.get("status") or {}
        out[p["metadata"]["name"]] = {
            "uid": p["metadata"]["uid"],
            "images": [c["image"] for c in p["spec"]["containers"]],
            "restarts": {c["name"]: c.get("restartCount", 0) for c in st.get("containerStatuses") or []},
            "revision": (p["metadata"].get("labels") or {}).get("controller-revision-hash"),
            "sidecarset-hash": (p["metadata"].get("annotations") or {}).get("kruise.io/sidecarset-hash"),
            "phase": st.get("phase"),
        }
    return out


def revisions(kubectl: Any) -> dict[str, Obj]:
    out = {}
    for ns in (NS, REVISION_NS):
        for r in _get(kubectl, "controllerrevisions", "-n", ns)["items"]:
            out[f"{ns}/{r['metadata']['name']}"] = {"revision": r["revision"], "data": r["data"]}
    return out


def statuses(kubectl: Any) -> dict[str, Obj]:
    out: dict[str, Obj] = {}
    for s in _get(kubectl, "asts", "-n", NS)["items"]:
        st = s.get("status") or {}
        out[f"asts/{s['metadata']['name']}"] = {k: st.get(k) for k in ("currentRevision", "updateRevision")}
    for ss in _get(kubectl, "sidecarset")["items"]:
        st = ss.get("status") or {}
        out[f"sidecarset/{ss['metadata']['name']}"] = {
            k: st.get(k) for k in ("latestRevision", "matchedPods", "updatedPods", "readyPods")
        }
    for j in _get(kubectl, "bcj", "-n", NS)["items"]:
        st = j.get("status") or {}
        out[f"bcj/{j['metadata']['name']}"] = {
            k: st.get(k) for k in ("phase", "completionTime", "desired", "succeeded", "failed")
        }
    return out


def diff(before: dict[str, Obj], after: dict[str, Obj]) -> list[str]:
    out = []
    for k in sorted(set(before) | set(after)):
        if before.get(k) != after.get(k):
            out.append(f"{k}: {before.get(k)} -> {after.get(k)}")
    return out


def writes_by(cp: Any, since: int, user_agent_prefix: str) -> list[Obj]:
    """Completed writes of one client since the audit log's byte offset ``since``
    (``cp.audit_log.stat().st_size`` marks a moment)."""
    return [e for e in audit_writes(cp, since) if str(e.get("userAgent", "")).startswith(user_agent_prefix)]


def pod_writes(events: Iterable[Obj]) -> list[str]:
    return [
        f"{e['verb']} {e['objectRef'].get('name')}{'/' + e['objectRef']['subresource'] if e['objectRef'].get('subresource') else ''}"
        for e in events
        if e["objectRef"].get("resource") == "pods"
    ]


def creates(events: Iterable[Obj], resource: str) -> list[str]:
    return [
        f"{e['objectRef'].get('namespace')}/{e['objectRef'].get('name')}"
        for e in events
        if e["verb"] == "create"
        and e["objectRef"].get("resource") == resource
        and e["responseStatus"]["code"] < 300
    ]


def wait_quiet(metrics: Callable[[], str], controllers: Iterable[str], timeout: float = 90) -> None:
    """Until every controller has reconciled and its queue stayed empty for 3 s (controller-runtime
    metric names, which both operators export)."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        text = metrics()
        done = all(_sample(text, "controller_runtime_reconcile_total", c) > 0 for c in controllers)
        idle = all(_sample(text, "workqueue_depth", c, label="name") == 0 for c in controllers)
        if done and idle:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 3:
                return
        else:
            quiet_since = None
        time.sleep(0.5)
    raise AssertionError(f"controllers {list(controllers)} not quiet after {timeout}s")


def _sample(text: str, metric: str, controller: str, label: str = "controller") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(metric + "{") and f'{label}="{controller}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


# ------------------------------------------------------------------------------------------------
# Fixtures: what OpenKruise wrote, recorded by the compat tier and replayed without it

_DROP_META = ("managedFields", "resourceVersion", "selfLink", "generation")


def _clean(obj: Obj) -> Obj:
    obj = copy.deepcopy(obj)
    md = obj["metadata"]
    for k in _DROP_META:
        md.pop(k, None)
    return obj


def record(kubectl: Any, path: Path = FIXTURE) -> dict[str, int]:
    """Write the scenario's objects as OpenKruise left them (kept: uids, for owner references)."""
    docs: list[Obj] = []
    for args in (
        ("sidecarsets",),
        ("controllerrevisions", "-n", REVISION_NS, "-l", "kruise.io/sidecarset-name"),
        ("statefulsets.v1beta1.apps.kruise.io", "-n", NS),
        ("broadcastjobs.v1beta1.apps.kruise.io", "-n", NS),
        ("controllerrevisions", "-n", NS),
        ("pods", "-n", NS),
    ):
        docs.extend(_clean(o) for o in _get(kubectl, *args)["items"])
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Recorded by tests/compat (KRUISE_COMPAT_RECORD=1): the takeover scenario as OpenKruise 1.9.0's\n"
        "# manager left it on our control plane. Replayed by tests/integration/test_takeover_replay.py.\n"
    )
    path.write_text(header + yaml.safe_dump_all(docs, sort_keys=True, width=200))
    counts: dict[str, int] = {}
    for d in docs:
        counts[d["kind"]] = counts.get(d["kind"], 0) + 1
    return counts


def load(path: Path = FIXTURE) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def replay(kubectl: Any, docs: list[Obj]) -> dict[str, str]:
    """Create the recorded objects with their status, owners first, rewriting the owner uids
    (and the BroadcastJob uid label) to the new objects'. Returns old uid -> new uid."""
    uids: dict[str, str] = {}
    order = ["SidecarSet", "StatefulSet", "BroadcastJob", "ControllerRevision", "Pod"]
    kubectl("create", "namespace", NS)
    kubectl.run("create", "namespace", REVISION_NS, check=False)

    def remap(obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        md = obj["metadata"]
        old_uid = md.pop("uid", None)
        md.pop("creationTimestamp", None)
        for ref in md.get("ownerReferences") or []:
            ref["uid"] = uids.get(ref["uid"], ref["uid"])
        labels = md.get("labels") or {}
        if "broadcastjob-controller-uid" in labels:
            labels["broadcastjob-controller-uid"] = uids.get(
                labels["broadcastjob-controller-uid"], labels["broadcastjob-controller-uid"]
            )
        obj["metadata"]["annotations"] = md.get("annotations") or {}
        obj["_old_uid"] = old_uid
        return obj

    for kind in order:
        for doc in (d for d in docs if d["kind"] == kind):
            obj = remap(doc)
            old_uid = obj.pop("_old_uid")
            status = obj.pop("status", None)
            ns = obj["metadata"].get("namespace")
            created = json.loads(kubectl("create", "-o", "json", "-f", "-", input=json.dumps(obj)))
            if old_uid:
                uids[old_uid] = created["metadata"]["uid"]
            if status and kind != "ControllerRevision":
                resource = {
                    "SidecarSet": "sidecarset",
                    "StatefulSet": "asts",
                    "BroadcastJob": "bcj",
                    "Pod": "pod",
                }[kind]
                kubectl(
                    "patch",
                    resource,
                    obj["metadata"]["name"],
                    *(["-n", ns] if ns else []),
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    json.dumps({"status": status}),
                )
    return uids
