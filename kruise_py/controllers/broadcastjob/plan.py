"""BroadcastJob: every decision of one reconcile, as a pure function.

``plan(snapshot) -> Plan``: given the job (defaulted), its pods, all nodes and the time, decide which
pods to create and delete, the new status, the events and the timed requeue, following OpenKruise's
``broadcastjob_controller.go`` ``Reconcile`` step by step (spec §4.6). reconcile.py only executes
the plan (slow-start batches, expectations, SuccessfulCreate/SuccessfulDelete events). No I/O here.

Decisions beyond a literal port:
- failurePolicy ``Pause`` persists ``spec.paused=true`` (``Plan.paused_spec``) instead of flipping it
  in memory (P9): the job then stays ``paused`` without a Continue/Paused event on every reconcile.
- Deadline and TTL are timed requeues computed from the stored ``startTime``/``completionTime``,
  on every reconcile, so they fire with no other event (OpenKruise issue #1409).
- Status is only written when it differs from the stored one.
- A pod deleted because its node no longer fits it counts as failed, not active, from that round
  for as long as it terminates (OpenKruise: in the deleting round, and then by the Failed phase a
  kubelet gives it), is never counted twice (OpenKruise adds a deleted finished pod to failed again
  and takes it off active), does not trigger the failure policy, and its node is not desired
  (OpenKruise counts the node again while the pod terminates).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ...api import broadcastjob as bcj
from ...api import views
from ...api.common import copy_json, int_or_percent
from ...api.views import BroadcastJob, BroadcastJobSpec, CompletionPolicy, or_empty
from ...core import availability as av
from ...core.obj import as_map as _m
from ...core.obj import format_time
from ...core.obj import spec as _spec
from . import fit

Obj = dict[str, Any]


# Deletion reasons (``Plan.deletes``).
DELETE_FAILFAST = "failfast"
DELETE_DEADLINE = "deadline"
DELETE_NODE_UNFIT = "node-unfit"

# Event reasons (spec §7). SuccessfulCreate/FailedCreate/SuccessfulDelete come from the executor.
EVENT_CONTINUE = "Continue"
EVENT_PAUSED = "Paused"
EVENT_FAILFAST = "failed pod is found"  # sic: OpenKruise's reason has spaces
EVENT_DEADLINE = "DeadlineExceeded"
EVENT_COMPLETE = "JobComplete"
EVENT_TOO_MANY_ACTIVE = "TooManyActivePods"
EVENT_DUPLICATE = "DuplicatePodCreatedOnSameNode"

FAILFAST_MESSAGE = "failure policy is FailurePolicyTypeFailFast and failed pod is found"
TAINT_UNSCHEDULABLE = fit.TAINT_UNSCHEDULABLE


@dataclass(frozen=True)
class Snapshot:
    job: Obj  # defaulted (api.defaults.default_broadcastjob)
    pods: list[Obj]  # pods whose controller ownerRef is the job, terminating ones included
    nodes: list[Obj]  # every node of the cluster, in the order pods are placed
    now: datetime


@dataclass
class Plan:
    # Full pod bodies to POST, in node order, already limited by parallelism. The executor creates
    # them in slow-start batches (1, 2, 4, …) and stops at the first failing batch.
    creates: list[Obj] = field(default_factory=list)
    deletes: list[tuple[Obj, str]] = field(default_factory=list)  # (pod, "failfast"|"deadline"|"node-unfit")
    status: Obj | None = None  # the full new status; None: unchanged, do not write
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    requeue_after: float | None = None
    delete_job: bool = False  # TTL after finishing has passed
    paused_spec: bool = False  # patch spec.paused=true (failurePolicy Pause, P9)
    notes: list[str] = field(default_factory=list)
    # For `kruise-py plan` and logs: the desired nodes and those still needing a pod (node order).
    desired_nodes: list[str] = field(default_factory=list)
    nodes_needing_pod: list[str] = field(default_factory=list)

    def requeue(self, seconds: float) -> None:
        if seconds > 0 and (self.requeue_after is None or seconds < self.requeue_after):
            self.requeue_after = seconds


# -- small helpers ------------------------------------------------------------------------------


def _parse(s: Any) -> datetime | None:
    if not isinstance(s, str) or not s:
        return None
    try:
        return av.parse_time(s)
    except ValueError:
        return None


def _int(v: Any, default: int | None = None) -> int | None:
    if isinstance(v, bool) or v is None:
        return default
    if isinstance(v, int):
        return v
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


_meta = views.meta


def _job_spec(job: BroadcastJob) -> BroadcastJobSpec:
    return or_empty(job.get("spec"))


def _completion(job: BroadcastJob) -> CompletionPolicy:
    return or_empty(_job_spec(job).get("completionPolicy"))


def completion_type(job: BroadcastJob) -> str:
    return str(_completion(job).get("type") or bcj.COMPLETION_ALWAYS)


def failure_policy_type(job: BroadcastJob) -> str:
    return str(or_empty(_job_spec(job).get("failurePolicy")).get("type") or bcj.FAILURE_FAIL_FAST)


def job_labels(job: Mapping[str, Any]) -> dict[str, str]:
    """The two labels of every pod of the job (``labelsAsMap``)."""
    return {
        bcj.JOB_NAME_LABEL: str(_meta(job).get("name") or ""),
        bcj.CONTROLLER_UID_LABEL: str(_meta(job).get("uid") or ""),
    }


def owner_ref(job: Mapping[str, Any]) -> Obj:
    return {
        "apiVersion": bcj.API_VERSION,
        "kind": bcj.KIND,
        "name": _meta(job).get("name"),
        "uid": _meta(job).get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_finished(job: BroadcastJob) -> bool:
    """``IsJobFinished``: a Complete or Failed condition is True (never for completion type Never)."""
    if completion_type(job) == bcj.COMPLETION_NEVER:
        return False
    for cond in or_empty(job.get("status")).get("conditions") or []:
        c = or_empty(cond)
        if c.get("type") in (bcj.CONDITION_COMPLETE, bcj.CONDITION_FAILED) and c.get("status") == "True":
            return True
    return False


def _owned(job: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """Listed by the two job labels, and the controller reference is this job."""
    labels = _m(_meta(pod).get("labels"))
    if any(labels.get(k) != v for k, v in job_labels(job).items()):
        return False
    for r in _meta(pod).get("ownerReferences") or []:
        ref = _m(r)
        if ref.get("controller"):
            return ref.get("kind") == bcj.KIND and ref.get("uid") == _meta(job).get("uid")
    return False


def _phase(pod: Mapping[str, Any]) -> str:
    return str(or_empty(views.pod(pod).get("status")).get("phase") or "")


def over_restart_limit(pod: Mapping[str, Any], restart_limit: int) -> bool:
    """``isPodFailed``: restartPolicy OnFailure and init+main restartCounts sum to more than the limit."""
    v = views.pod(pod)
    if or_empty(v.get("spec")).get("restartPolicy") != "OnFailure":
        return False
    status = or_empty(v.get("status"))
    total = 0
    for statuses in (status.get("initContainerStatuses"), status.get("containerStatuses")):
        for cs in statuses or []:
            total += _int(or_empty(cs).get("restartCount"), 0) or 0
    return total > restart_limit


def classify(pods: list[Obj], restart_limit: int) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """``filterPods``: (active, failed, succeeded). Terminating pods that are neither Succeeded nor
    Failed are ignored."""
    active: list[Obj] = []
    failed: list[Obj] = []
    succeeded: list[Obj] = []
    for p in pods:
        phase = _phase(p)
        if phase == "Succeeded":
            succeeded.append(p)
        elif phase == "Failed":
            failed.append(p)
        elif not av.is_terminating(p):
            (failed if over_restart_limit(p, restart_limit) else active).append(p)
    return active, failed, succeeded


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """k8s ``IsPodActive``: not Succeeded, not Failed, not terminating."""
    return _phase(pod) not in ("Succeeded", "Failed") and not av.is_terminating(pod)


def resolve_parallelism(job: BroadcastJob, desired: int) -> int:
    """``spec.parallelism`` (default int32 max); a percentage is of ``desired``, rounded up.
    Raises ValueError on an invalid value."""
    value = _job_spec(job).get("parallelism")
    if value is None or value == "":
        return bcj.DEFAULT_PARALLELISM
    if not isinstance(value, int | str) or isinstance(value, bool):
        raise ValueError(f"invalid parallelism {value!r}")
    return int_or_percent(value, desired, round_up=True)


def new_pod(job: BroadcastJob, node_name: str) -> Obj:
    """The pod for ``node_name`` (spec §4.5): the template with the job labels and ownerRef, bound to
    the node by a single required ``matchFields metadata.name In [node]`` term (replacing any user
    required terms; preferred terms and other affinity are kept). ``generateName: <job>-``."""
    template = or_empty(_job_spec(job).get("template"))
    tmeta = or_empty(template.get("metadata"))
    # The pod's spec is the template's, copied whole: a plain dict from here on.
    spec: Obj = copy.deepcopy(dict(_m(template.get("spec"))))
    labels = {**dict(_m(tmeta.get("labels"))), **job_labels(job)}
    meta: Obj = {
        "generateName": f"{_meta(job).get('name')}-",
        "namespace": _meta(job).get("namespace"),
        "labels": labels,
    }
    if tmeta.get("annotations"):
        meta["annotations"] = dict(_m(tmeta.get("annotations")))
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    meta["ownerReferences"] = [owner_ref(job)]
    # daemonsetutil.ReplaceDaemonSetPodNodeNameNodeAffinity
    affinity = spec.get("affinity")
    if not isinstance(affinity, dict):
        affinity = spec["affinity"] = {}
    node_affinity = affinity.get("nodeAffinity")
    if not isinstance(node_affinity, dict):
        node_affinity = affinity["nodeAffinity"] = {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        required = node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {}
    required["nodeSelectorTerms"] = [
        {"matchFields": [{"key": fit.OBJECT_NAME_FIELD, "operator": "In", "values": [node_name]}]}
    ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def _condition(ctype: str, message: str, now: str) -> Obj:
    return {
        "type": ctype,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": ctype,
        "message": message,
    }


# -- the plan -------------------------------------------------------------------------------------
def plan(snap: Snapshot) -> Plan:
    """One reconcile, in the order of spec §4.6."""
    job, now = views.broadcastjob(snap.job), snap.now
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    meta, spec = _meta(job), _job_spec(job)
    ns, name = meta.get("namespace", ""), meta.get("name", "")
    out = Plan()
    always = completion_type(job) != bcj.COMPLETION_NEVER
    deadline = _int(_completion(job).get("activeDeadlineSeconds"))
    ttl = _int(_completion(job).get("ttlSecondsAfterFinished"))
    old_status = or_empty(job.get("status"))

    # 1. A finished job: only TTL. Status is frozen.
    if is_finished(job):
        finished_at = _parse(old_status.get("completionTime"))
        if ttl is not None and finished_at is not None:
            left = ttl - (now - finished_at).total_seconds()
            if left <= 0:
                out.delete_job = True
                out.notes.append(f"finished and ttlSecondsAfterFinished={ttl} passed: deleting the job")
            else:
                out.requeue(left)
                out.notes.append(f"finished; deleted in {left:.1f}s (ttlSecondsAfterFinished={ttl})")
        else:
            out.notes.append("finished: status is frozen")
        return out

    status: Obj = copy_json(dict(old_status))
    now_s = format_time(now)

    # 2. startTime and phase. Times are stored to the second; compute from the stored value.
    start = _parse(status.get("startTime"))
    if start is None:
        status["startTime"] = now_s
        start = _parse(now_s)
    assert start is not None
    if not status.get("phase"):
        status["phase"] = bcj.PHASE_RUNNING

    def deadline_left() -> float | None:
        if not always or deadline is None:
            return None
        return deadline - (now - start).total_seconds()

    def finish() -> Plan:
        # Timed requeue for the deadline while the job can still fail by it (issue #1409).
        remaining = deadline_left()
        if remaining is not None and status.get("phase") not in (bcj.PHASE_FAILED, bcj.PHASE_COMPLETED):
            out.requeue(remaining)
        out.status = status if status != old_status else None
        return out

    # 3. The job's pods.
    pods = [p for p in snap.pods if _owned(job, p)]
    node_to_pod: dict[str, Obj] = {}
    for p in pods:
        assigned = fit.assigned_node(p)
        if not assigned:
            continue
        if assigned in node_to_pod:
            pod_name = _meta(p).get("name")
            out.events.append(
                ("Warning", EVENT_DUPLICATE, f"Duplicated pod {pod_name} found on same node {assigned}")
            )
        node_to_pod[assigned] = p

    # 4. Classify.
    restart_limit = _int(or_empty(spec.get("failurePolicy")).get("restartLimit"), 0) or 0
    active_pods, failed_pods, succeeded_pods = classify(pods, restart_limit)
    active, failed, succeeded = len(active_pods), len(failed_pods), len(succeeded_pods)

    # Desired nodes (spec §4.4): existing pods are re-checked on their real spec.
    desired_nodes: dict[str, Obj | None] = {}
    rest_nodes: list[str] = []
    pods_to_delete: list[Obj] = []
    removed: list[Obj] = []  # terminating pods whose node no longer fits them: removed by the job
    for node in snap.nodes:
        node_name = str(_meta(node).get("name") or "")
        pod = node_to_pod.get(node_name)
        if pod is not None:
            fits, reason = fit.node_fits(_spec(pod), node)
            if not fits:
                if not av.is_terminating(pod):
                    pods_to_delete.append(pod)
                    out.notes.append(
                        f"pod {_meta(pod).get('name')} no longer fits node {node_name}: {reason}"
                    )
                elif _phase(pod) != "Succeeded":
                    removed.append(pod)
                continue
            desired_nodes[node_name] = pod
        else:
            fits, reason = fit.node_fits(fit.mock_pod_spec(job, node_name), node)
            if not fits:
                continue
            rest_nodes.append(node_name)
            desired_nodes[node_name] = None
    desired = len(desired_nodes)
    out.desired_nodes = list(desired_nodes)
    out.nodes_needing_pod = list(rest_nodes)

    # A pod deleted because its node stopped fitting keeps counting as failed while it terminates
    # (OpenKruise counts it in the round that deletes it, and a kubelet then reports it Failed),
    # but only pods that failed on their own trigger the failure policy.
    failed_pods = [p for p in failed_pods if all(p is not r for r in removed)]
    failed = len(failed_pods)
    failed_total = failed + len(removed)

    # 5. Counts.
    status.update({"active": active, "succeeded": succeeded, "failed": failed_total, "desired": desired})

    # 6. A failed job (a Never job failed by FailFast) only refreshes its counts.
    if status["phase"] == bcj.PHASE_FAILED:
        out.notes.append("job failed: counts only")
        return finish()

    # 7. Paused.
    paused = bool(spec.get("paused"))
    if paused and status["phase"] in (bcj.PHASE_RUNNING, bcj.PHASE_PAUSED):
        status["phase"] = bcj.PHASE_PAUSED
        out.notes.append("spec.paused: no creation, deadline or completion check")
        return finish()
    if not paused and status["phase"] == bcj.PHASE_PAUSED:
        status["phase"] = bcj.PHASE_RUNNING
        out.events.append(("Normal", EVENT_CONTINUE, "continue to process job"))

    # 8. Failure policy.
    job_failed = False
    failure_reason = failure_message = delete_reason = ""
    if failed > 0:
        policy = failure_policy_type(job)
        if policy == bcj.FAILURE_PAUSE:
            out.events.append(("Warning", EVENT_PAUSED, "job is paused, due to failed pod"))
            status["phase"] = bcj.PHASE_PAUSED
            out.paused_spec = True
            out.notes.append(f"{failed} failed pod(s), failurePolicy Pause: pausing the job")
            return finish()
        if policy == bcj.FAILURE_FAIL_FAST:
            job_failed, failure_reason, failure_message = True, EVENT_FAILFAST, FAILFAST_MESSAGE
            delete_reason = DELETE_FAILFAST

    # 9. Deadline (completion type Always only).
    remaining = deadline_left()
    if not job_failed and remaining is not None and remaining <= 0:
        job_failed, failure_reason, delete_reason = True, EVENT_DEADLINE, DELETE_DEADLINE
        failure_message = f"Job {ns}/{name} was active longer than specified deadline"

    if job_failed:
        # 10. Failed: delete every active pod; each deletion counts as a failure (P10).
        for p in active_pods:
            out.deletes.append((p, delete_reason))
        failed_total += len(active_pods)
        active -= len(active_pods)
        status["phase"] = bcj.PHASE_FAILED
        _finish(status, bcj.CONDITION_FAILED, failure_message, now_s, out, ttl if always else None)
        out.events.append(
            (
                "Warning",
                failure_reason,
                f"{failure_message}: {succeeded} pods succeeded, {failed_total} pods failed",
            )
        )
    else:
        # 11. Still running: remove pods that no longer fit, place pods, check completion. A
        # deleted active pod moves from active to failed (P10); a finished one keeps the count
        # its phase gives it (OpenKruise would count it twice, and take it off active).
        for p in pods_to_delete:
            out.deletes.append((p, DELETE_NODE_UNFIT))
            if any(p is a for a in active_pods):
                failed_total += 1
                active -= 1

        if meta.get("deletionTimestamp"):
            if rest_nodes:
                out.notes.append("job is being deleted: no pod creation")
        elif rest_nodes:
            try:
                parallelism = resolve_parallelism(job, desired)
            except ValueError as e:
                parallelism = None
                out.notes.append(f"invalid parallelism: {e}")
            if parallelism is not None:
                if active > parallelism:
                    out.events.append(
                        ("Warning", EVENT_TOO_MANY_ACTIVE, "Number of active pods exceed parallelism limit")
                    )
                    out.notes.append(f"active {active} > parallelism {parallelism}")
                elif active < parallelism:
                    diff = min(parallelism - active, len(rest_nodes))
                    out.creates = [new_pod(job, n) for n in rest_nodes[:diff]]
                    active += diff
                    if diff < len(rest_nodes):
                        out.notes.append(f"parallelism {parallelism}: {len(rest_nodes) - diff} node(s) wait")
                else:
                    out.notes.append(f"parallelism {parallelism} reached: {len(rest_nodes)} node(s) wait")

        if (
            always
            and desired > 0
            and all(p is not None and not is_pod_active(p) for p in desired_nodes.values())
        ):
            status["phase"] = bcj.PHASE_COMPLETED
            message = f"Job completed, {succeeded} pods succeeded, {failed_total} pods failed"
            _finish(status, bcj.CONDITION_COMPLETE, message, now_s, out, ttl)
            out.events.append(
                (
                    "Normal",
                    EVENT_COMPLETE,
                    f"Job {ns}/{name} is completed, {succeeded} pods succeeded, {failed_total} pods failed",
                )
            )
        elif always and desired == 0:
            out.notes.append("no desired node: the job cannot complete (P13)")

    # 12. Status.
    status["failed"] = failed_total
    status["active"] = active
    return finish()


def _finish(status: Obj, ctype: str, message: str, now_s: str, out: Plan, ttl: int | None) -> None:
    """``finishJob``: append the condition, set completionTime, requeue for the TTL (+1 s)."""
    conditions = status.get("conditions")
    status["conditions"] = [
        *(conditions if isinstance(conditions, list) else []),
        _condition(ctype, message, now_s),
    ]
    status["completionTime"] = now_s
    if ttl is not None:
        out.requeue(ttl + 1)
