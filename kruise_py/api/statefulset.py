"""Advanced StatefulSet (apps.kruise.io StatefulSet): v1beta1 (storage) and v1alpha1 (subset).

The pod template and volumeClaimTemplates stay plain dicts: the CRD carries the apiserver's own
pod schema, and modelling it here would only lose fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .common import (
    GROUP,
    Condition,
    InPlaceUpdateStrategy,
    IntOrString,
    KubeModel,
    LabelSelector,
    Lifecycle,
    ObjectMeta,
    UpdatePriorityStrategy,
    copy_object,
)

KIND = "StatefulSet"
API_VERSION_V1BETA1 = f"{GROUP}/v1beta1"
API_VERSION_V1ALPHA1 = f"{GROUP}/v1alpha1"

POD_MANAGEMENT_ORDERED_READY = "OrderedReady"
POD_MANAGEMENT_PARALLEL = "Parallel"

UPDATE_STRATEGY_ROLLING_UPDATE = "RollingUpdate"
UPDATE_STRATEGY_ON_DELETE = "OnDelete"

POD_UPDATE_RECREATE = "ReCreate"
POD_UPDATE_IN_PLACE_IF_POSSIBLE = "InPlaceIfPossible"
POD_UPDATE_IN_PLACE_ONLY = "InPlaceOnly"

PVC_RETENTION_RETAIN = "Retain"
PVC_RETENTION_DELETE = "Delete"

VOLUME_CLAIM_UPDATE_ON_DELETE = "OnDelete"
VOLUME_CLAIM_UPDATE_ON_POD_ROLLING_UPDATE = "OnPodRollingUpdate"
VOLUME_CLAIM_UPDATE_TYPES = (VOLUME_CLAIM_UPDATE_ON_DELETE, VOLUME_CLAIM_UPDATE_ON_POD_ROLLING_UPDATE)

# Readiness gate / pod condition the in-place policies require (apis/apps/pub).
IN_PLACE_UPDATE_READY = "InPlaceUpdateReady"
MAX_MIN_READY_SECONDS = 300

# Pod labels and annotations used by the controller.
CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
SPECIFIED_DELETE_LABEL = "apps.kruise.io/specified-delete"
INPLACE_UPDATE_STATE_ANNOTATION = "apps.kruise.io/inplace-update-state"
INPLACE_UPDATE_GRACE_ANNOTATION = "apps.kruise.io/inplace-update-grace"
DELETE_PROTECTION_LABEL = "policy.kruise.io/delete-protection"

STATUS_CONDITION_FAILED_CREATE_POD = "FailedCreatePod"
STATUS_CONDITION_FAILED_UPDATE_POD = "FailedUpdatePod"


# --------------------------------------------------------------------------------------------------
# Spec


class UnorderedUpdateStrategy(KubeModel):
    priority_strategy: UpdatePriorityStrategy | None = None


class RollingUpdateStatefulSetStrategy(KubeModel):
    partition: int | None = None
    max_unavailable: IntOrString | None = None
    pod_update_policy: str | None = None
    paused: bool | None = None
    unordered_update: UnorderedUpdateStrategy | None = None
    in_place_update_strategy: InPlaceUpdateStrategy | None = None
    min_ready_seconds: int | None = None


class StatefulSetUpdateStrategy(KubeModel):
    type: str | None = None
    rolling_update: RollingUpdateStatefulSetStrategy | None = None


class StatefulSetScaleStrategy(KubeModel):
    max_unavailable: IntOrString | None = None


class PersistentVolumeClaimRetentionPolicy(KubeModel):
    when_deleted: str | None = None
    when_scaled: str | None = None


class StatefulSetOrdinals(KubeModel):
    start: int | None = None


class VolumeClaimUpdateStrategy(KubeModel):
    type: str | None = None


class StatefulSetSpecV1alpha1(KubeModel):
    """v1alpha1 spec: the subset of spec §1.9."""

    replicas: int | None = None
    selector: LabelSelector | None = None
    template: dict[str, Any] | None = None
    volume_claim_templates: list[dict[str, Any]] | None = None
    service_name: str | None = None
    pod_management_policy: str | None = None
    update_strategy: StatefulSetUpdateStrategy | None = None
    revision_history_limit: int | None = None


class StatefulSetSpec(StatefulSetSpecV1alpha1):
    """v1beta1 spec."""

    volume_claim_update_strategy: VolumeClaimUpdateStrategy | None = None
    reserve_ordinals: list[IntOrString] | None = None
    lifecycle: Lifecycle | None = None
    scale_strategy: StatefulSetScaleStrategy | None = None
    persistent_volume_claim_retention_policy: PersistentVolumeClaimRetentionPolicy | None = None
    ordinals: StatefulSetOrdinals | None = None


# --------------------------------------------------------------------------------------------------
# Status


class VolumeClaimStatus(KubeModel):
    volume_claim_name: str | None = None
    compatible_replicas: int | None = None
    compatible_ready_replicas: int | None = None


class StatefulSetStatusV1alpha1(KubeModel):
    observed_generation: int | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    current_replicas: int | None = None
    updated_replicas: int | None = None
    current_revision: str | None = None
    update_revision: str | None = None
    collision_count: int | None = None
    conditions: list[Condition] | None = None
    label_selector: str | None = None


class StatefulSetStatus(StatefulSetStatusV1alpha1):
    updated_ready_replicas: int | None = None
    updated_available_replicas: int | None = None
    volume_claims: list[VolumeClaimStatus] | None = None


# --------------------------------------------------------------------------------------------------
# Objects


class StatefulSet(KubeModel):
    """apps.kruise.io/v1beta1 StatefulSet (the storage version)."""

    api_version: str | None = API_VERSION_V1BETA1
    kind: str | None = KIND
    metadata: ObjectMeta | None = None
    spec: StatefulSetSpec | None = None
    status: StatefulSetStatus | None = None


class StatefulSetV1alpha1(KubeModel):
    """apps.kruise.io/v1alpha1 StatefulSet."""

    api_version: str | None = API_VERSION_V1ALPHA1
    kind: str | None = KIND
    metadata: ObjectMeta | None = None
    spec: StatefulSetSpecV1alpha1 | None = None
    status: StatefulSetStatusV1alpha1 | None = None


# Fields that exist only in v1beta1 (spec §1.9).
V1BETA1_ONLY_SPEC_FIELDS = (
    "reserveOrdinals",
    "lifecycle",
    "scaleStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "ordinals",
    "volumeClaimUpdateStrategy",
)
V1BETA1_ONLY_STATUS_FIELDS = ("updatedReadyReplicas", "updatedAvailableReplicas", "volumeClaims")


def to_v1beta1(obj: Mapping[str, Any]) -> dict[str, Any]:
    """v1alpha1 -> v1beta1 dict: the v1beta1 schema is a superset, so only apiVersion changes."""
    out = copy_object(obj)
    out["apiVersion"] = API_VERSION_V1BETA1
    return out


def to_v1alpha1(obj: Mapping[str, Any]) -> dict[str, Any]:
    """v1beta1 -> v1alpha1 dict: drops the fields v1alpha1 does not have (as the apiserver prunes)."""
    out = copy_object(obj)
    out["apiVersion"] = API_VERSION_V1ALPHA1
    spec = out.get("spec")
    if isinstance(spec, dict):
        for f in V1BETA1_ONLY_SPEC_FIELDS:
            spec.pop(f, None)
    status = out.get("status")
    if isinstance(status, dict):
        for f in V1BETA1_ONLY_STATUS_FIELDS:
            status.pop(f, None)
    return out


# --------------------------------------------------------------------------------------------------
# reserveOrdinals

_RANGE_RE = re.compile(r"^(\d+)-(\d+)$")


def parse_range(value: str) -> tuple[int, int]:
    """Parse a reserveOrdinals range ``"a-b"`` (inclusive, a <= b). Raises ValueError."""
    m = _RANGE_RE.match(value)
    if not m:
        raise ValueError(f"invalid range {value}")
    start, end = int(m.group(1)), int(m.group(2))
    if start > end:
        raise ValueError(f"invalid range {value}")
    return start, end


def parse_reserve_ordinals(items: Iterable[int | str] | None) -> set[int]:
    """The set of reserved ordinals: ints as they are, ``"a-b"`` strings expanded inclusively.

    Like Kruise's GetReserveOrdinalIntSet, one unparsable range makes the whole result empty
    (the controller then reserves nothing; validation rejects such values up front).
    """
    result: set[int] = set()
    for item in items or ():
        if isinstance(item, int) and not isinstance(item, bool):
            result.add(item)
            continue
        try:
            start, end = parse_range(str(item))
        except ValueError:
            return set()
        result.update(range(start, end + 1))
    return result
