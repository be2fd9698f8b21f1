"""Typed read views of the Kubernetes objects the plans read.

The plans get objects as the apiserver serves them: JSON, ``dict[str, Any]``. Reading them
through these TypedDicts (all ``total=False``: any field may be absent) makes a misspelled field
name a mypy error, in ``o["field"]`` and, with hack/mypy_typeddict_get.py, in ``o.get("field")``.

A view is the same object, not a copy: ``pod(o)`` only tells mypy what ``o`` holds. Nothing checks
that at run time; the apiserver's schema (and our CRDs') does. Fields the plans copy without
reading into (affinity, volumes, probes, hooks) stay free-form, as ``Obj``. Only fields that some
reader uses are listed; add one where a plan starts reading it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, TypeVar, cast

Obj = dict[str, Any]
# A resource list (requests, limits): quantities as written, "500m", "1Gi", 2.
Resources = dict[str, str | int | float]


# -- metadata -----------------------------------------------------------------------------------
class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    finalizers: list[str]


class LabelSelector(TypedDict, total=False):
    matchLabels: dict[str, str]
    matchExpressions: list[Obj]


# -- pods ---------------------------------------------------------------------------------------
class ResourceRequirements(TypedDict, total=False):
    requests: Resources
    limits: Resources


class Container(TypedDict, total=False):
    name: str
    image: str
    env: list[Obj]
    resources: ResourceRequirements
    resizePolicy: list[ResizePolicy]
    restartPolicy: str  # "Always": a native sidecar (init container)


class PodSpec(TypedDict, total=False):
    containers: list[Container]
    initContainers: list[Container]
    nodeName: str
    restartPolicy: str
    readinessGates: list[ReadinessGate]
    hostname: str
    subdomain: str
    volumes: list[Obj]
    affinity: Obj


class PodCondition(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str
    lastTransitionTime: str
    lastProbeTime: str


class ContainerStatus(TypedDict, total=False):
    name: str
    image: str
    imageID: str
    containerID: str
    ready: bool
    started: bool
    restartCount: int
    state: Obj
    lastState: Obj
    resources: ResourceRequirements
    allocatedResources: Resources


class PodStatus(TypedDict, total=False):
    phase: str
    conditions: list[PodCondition]
    containerStatuses: list[ContainerStatus]
    initContainerStatuses: list[ContainerStatus]
    startTime: str
    qosClass: str
    resize: str


class ReadinessGate(TypedDict, total=False):
    conditionType: str


class ResizePolicy(TypedDict, total=False):
    resourceName: str  # cpu | memory
    restartPolicy: str  # NotRequired | RestartContainer


class Pod(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus


class PodTemplate(TypedDict, total=False):
    metadata: ObjectMeta
    spec: PodSpec


# -- in-place update state (annotation apps.kruise.io/inplace-update-state, JSON) ------------------
class LastContainerStatus(TypedDict, total=False):
    imageID: str
    resources: Obj  # {requests, limits} before the resize


class InPlaceUpdateState(TypedDict, total=False):
    revision: str
    updateTimestamp: str
    lastContainerStatuses: dict[str, LastContainerStatus]
    updateEnvFromMetadata: bool
    updateResources: bool
    updateImages: bool
    nextContainerImages: dict[str, str]
    nextContainerRefMetadata: dict[str, Obj]
    nextContainerResources: dict[str, Obj]
    preCheckBeforeNext: Obj
    containerBatchesRecord: list[Obj]


# -- Advanced StatefulSet (apps.kruise.io/v1beta1) ------------------------------------------------
class InPlaceUpdateStrategy(TypedDict, total=False):
    gracePeriodSeconds: int


class UnorderedUpdate(TypedDict, total=False):
    priorityStrategy: Obj


class RollingUpdate(TypedDict, total=False):
    partition: int
    maxUnavailable: int | str
    podUpdatePolicy: str  # ReCreate | InPlaceIfPossible | InPlaceOnly
    paused: bool
    inPlaceUpdateStrategy: InPlaceUpdateStrategy
    minReadySeconds: int
    unorderedUpdate: UnorderedUpdate


class UpdateStrategy(TypedDict, total=False):
    type: str  # RollingUpdate | OnDelete
    rollingUpdate: RollingUpdate


class ScaleStrategy(TypedDict, total=False):
    maxUnavailable: int | str


class RetentionPolicy(TypedDict, total=False):
    whenDeleted: str  # Retain | Delete
    whenScaled: str


class VolumeClaimUpdateStrategy(TypedDict, total=False):
    type: str  # OnDelete | OnPodRollingUpdate


class ClaimTemplate(TypedDict, total=False):
    metadata: ObjectMeta
    spec: Obj


class Ordinals(TypedDict, total=False):
    start: int


class StatefulSetSpec(TypedDict, total=False):
    replicas: int
    selector: LabelSelector
    template: PodTemplate
    serviceName: str
    podManagementPolicy: str  # OrderedReady | Parallel
    updateStrategy: UpdateStrategy
    scaleStrategy: ScaleStrategy
    revisionHistoryLimit: int
    reserveOrdinals: list[int | str]
    ordinals: Ordinals
    lifecycle: Obj
    volumeClaimTemplates: list[ClaimTemplate]
    persistentVolumeClaimRetentionPolicy: RetentionPolicy
    volumeClaimUpdateStrategy: VolumeClaimUpdateStrategy


class StatefulSet(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: StatefulSetSpec
    status: Obj  # written by the plan, compared whole


# -- BroadcastJob (apps.kruise.io/v1alpha1) ----------------------------------------------------------
class CompletionPolicy(TypedDict, total=False):
    type: str  # Always | Never
    activeDeadlineSeconds: int
    ttlSecondsAfterFinished: int


class FailurePolicy(TypedDict, total=False):
    type: str  # FailFast | Continue | Pause
    restartLimit: int


class BroadcastJobSpec(TypedDict, total=False):
    parallelism: int | str
    template: PodTemplate
    completionPolicy: CompletionPolicy
    failurePolicy: FailurePolicy
    paused: bool


class JobCondition(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str
    lastProbeTime: str
    lastTransitionTime: str


class BroadcastJobStatus(TypedDict, total=False):
    phase: str
    conditions: list[JobCondition]
    startTime: str
    completionTime: str
    active: int
    succeeded: int
    failed: int
    desired: int


class BroadcastJob(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: BroadcastJobSpec
    status: BroadcastJobStatus


# -- views: the one place raw JSON is taken to have these shapes -------------------------------
V = TypeVar("V", bound=Mapping[str, Any])


def or_empty(v: V | None) -> V:
    """``v``, or an empty view if it is absent or not an object: a malformed field reads as empty
    (as core.obj.as_map), so one odd object cannot crash a planner. Every view is total=False, so
    ``{}`` is a value of each."""
    # `type(v) is dict` first: the ABC check costs ~3% of a restart's samples at 50,000 pods.
    return v if type(v) is dict or isinstance(v, Mapping) else cast(V, {})


def each(v: list[V] | None) -> list[V]:
    """The objects of list ``v``: [] if it is absent or not a list, a non-object item reads as empty."""
    return [or_empty(x) for x in v] if isinstance(v, list) else []


def meta(o: Mapping[str, Any]) -> ObjectMeta:
    """``o``'s metadata (empty if absent or malformed)."""
    m = o.get("metadata")
    return cast(ObjectMeta, m) if type(m) is dict or isinstance(m, Mapping) else {}


def pod(o: Mapping[str, Any]) -> Pod:
    return cast(Pod, o)


def statefulset(o: Mapping[str, Any]) -> StatefulSet:
    return cast(StatefulSet, o)


def broadcastjob(o: Mapping[str, Any]) -> BroadcastJob:
    return cast(BroadcastJob, o)
