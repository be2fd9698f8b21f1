"""Builders for BroadcastJob planner tests: jobs, nodes, pods and a tiny world applying a plan.

Everything is a plain dict, as the planner sees it. ``World.step()`` runs one reconcile and applies
its effects as the API server, scheduler and kubelet would (created pods are bound to their node,
deleted pods disappear, status and ``spec.paused`` are written), so multi-pass scenarios can be
replayed without a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kruise_py.api.defaults import default_broadcastjob
from kruise_py.controllers.broadcastjob import fit
from kruise_py.controllers.broadcastjob import plan as planner

Obj = dict[str, Any]

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
NS = "default"
JOB = "bcj"
JOB_UID = "uid-bcj"
# The e2e's fake node: cpu 4, memory 8Gi, pods 16 (P11).
ALLOCATABLE = {"cpu": "4", "memory": "8Gi", "pods": "16"}


def ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_job(
    *,
    name: str = JOB,
    uid: str = JOB_UID,
    parallelism: int | str | None = None,
    paused: bool = False,
    completion: str | None = None,
    deadline: int | None = None,
    ttl: int | None = None,
    failure: str | None = None,
    restart_limit: int | None = None,
    restart_policy: str = "Never",
    spec: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    status: Obj | None = None,
    deleting: bool = False,
) -> Obj:
    """A defaulted BroadcastJob (``default_broadcastjob``). ``spec`` adds to the pod template spec."""
    pod_spec: Obj = {"restartPolicy": restart_policy, "containers": [{"name": "main", "image": "busybox"}]}
    pod_spec.update(copy.deepcopy(dict(spec or {})))
    tmeta: Obj = {"labels": dict(labels if labels is not None else {"app": "bcj"})}
    if annotations:
        tmeta["annotations"] = dict(annotations)
    job_spec: Obj = {"template": {"metadata": tmeta, "spec": pod_spec}}
    if parallelism is not None:
        job_spec["parallelism"] = parallelism
    if paused:
        job_spec["paused"] = True
    cp: Obj = {}
    if completion:
        cp["type"] = completion
    if deadline is not None:
        cp["activeDeadlineSeconds"] = deadline
    if ttl is not None:
        cp["ttlSecondsAfterFinished"] = ttl
    if cp:
        job_spec["completionPolicy"] = cp
    fp: Obj = {}
    if failure:
        fp["type"] = failure
    if restart_limit is not None:
        fp["restartLimit"] = restart_limit
    if fp:
        job_spec["failurePolicy"] = fp
    meta: Obj = {"name": name, "namespace": NS, "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = ts(NOW)
    job: Obj = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "BroadcastJob",
        "metadata": meta,
        "spec": job_spec,
    }
    if status is not None:
        job["status"] = status
    return default_broadcastjob(job)


def make_node(
    name: str,
    *,
    labels: Mapping[str, str] | None = None,
    taints: list[Obj] | None = None,
    unschedulable: bool = False,
    allocatable: Mapping[str, str] | None = None,
    ready: bool = True,
) -> Obj:
    spec: Obj = {}
    if taints:
        spec["taints"] = copy.deepcopy(taints)
    if unschedulable:
        spec["unschedulable"] = True
    alloc = dict(ALLOCATABLE if allocatable is None else allocatable)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "resourceVersion": "1",
            "labels": {"kubernetes.io/hostname": name, **dict(labels or {})},
        },
        "spec": spec,
        "status": {
            "capacity": dict(alloc),
            "allocatable": alloc,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastHeartbeatTime": ts(NOW),
                    "lastTransitionTime": ts(NOW),
                },
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "lastHeartbeatTime": ts(NOW),
                    "lastTransitionTime": ts(NOW),
                },
            ],
        },
    }


def nodes(n: int, **kw: Any) -> list[Obj]:
    return [make_node(f"node-{i}", **kw) for i in range(n)]


def make_pod(
    job: Obj,
    node: str,
    phase: str = "Running",
    *,
    name: str | None = None,
    restarts: int = 0,
    init_restarts: int = 0,
    deleting: bool = False,
    scheduled: bool = True,
) -> Obj:
    """A pod of ``job`` on ``node`` as the controller created it (``planner.new_pod``) and the
    scheduler bound it (``spec.nodeName``), with the given phase."""
    pod = planner.new_pod(job, node)
    pname = name or f"{job['metadata']['name']}-{node}"
    pod["metadata"].pop("generateName", None)
    pod["metadata"].update({"name": pname, "uid": f"uid-{pname}", "resourceVersion": "1"})
    if deleting:
        pod["metadata"]["deletionTimestamp"] = ts(NOW)
    if scheduled:
        pod["spec"]["nodeName"] = node
    status: Obj = {"phase": phase}
    if restarts or init_restarts:
        status["containerStatuses"] = [{"name": "main", "restartCount": restarts}]
        if init_restarts:
            status["initContainerStatuses"] = [{"name": "init", "restartCount": init_restarts}]
    pod["status"] = status
    return pod


def names(pods: list[Obj]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def created_nodes(p: planner.Plan) -> list[str | None]:
    return [fit.assigned_node(pod) for pod in p.creates]


def deleted(p: planner.Plan) -> list[tuple[str, str]]:
    return [(pod["metadata"]["name"], reason) for pod, reason in p.deletes]


def reasons(p: planner.Plan) -> list[str]:
    return [r for _, r, _ in p.events]


def plan_of(job: Obj, pods: list[Obj], node_list: list[Obj], now: datetime = NOW) -> planner.Plan:
    return planner.plan(planner.Snapshot(job=job, pods=pods, nodes=node_list, now=now))


@dataclass
class World:
    job: Obj
    nodes: list[Obj]
    pods: dict[str, Obj] = field(default_factory=dict)
    now: datetime = NOW
    job_deleted: bool = False
    seq: int = 0
    plans: list[planner.Plan] = field(default_factory=list)

    def add(self, pod: Obj) -> Obj:
        self.pods[pod["metadata"]["name"]] = pod
        return pod

    def pod_on(self, node: str) -> Obj:
        return next(p for p in self.pods.values() if p["spec"].get("nodeName") == node)

    def set_phase(self, node: str, phase: str) -> None:
        self.pod_on(node)["status"]["phase"] = phase

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def node(self, name: str) -> Obj:
        return next(n for n in self.nodes if n["metadata"]["name"] == name)

    @property
    def status(self) -> Obj:
        st: Obj = self.job.get("status") or {}
        return st

    def step(self) -> planner.Plan:
        """One reconcile; creates are bound to their node at once (phase Pending)."""
        p = planner.plan(
            planner.Snapshot(
                job=copy.deepcopy(self.job),
                pods=list(self.pods.values()),
                nodes=copy.deepcopy(self.nodes),
                now=self.now,
            )
        )
        self.plans.append(p)
        if p.delete_job:
            self.job_deleted = True
            return p
        for pod, _ in p.deletes:
            self.pods.pop(pod["metadata"]["name"], None)
        for body in p.creates:
            self.seq += 1
            pod = copy.deepcopy(body)
            pname = f"{pod['metadata']['generateName']}{self.seq:05d}"
            pod["metadata"].update({"name": pname, "uid": f"uid-{pname}"})
            pod["spec"]["nodeName"] = fit.assigned_node(pod)
            pod["status"] = {"phase": "Pending"}
            self.pods[pname] = pod
        if p.paused_spec:
            self.job["spec"]["paused"] = True
        if p.status is not None:
            self.job["status"] = copy.deepcopy(p.status)
        return p
