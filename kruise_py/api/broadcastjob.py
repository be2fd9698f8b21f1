"""BroadcastJob: one pod per eligible node.

Served as ``apps.kruise.io/v1beta1`` (the storage version since OpenKruise 1.9) and ``v1alpha1``;
the two schemas are identical field by field (docs/decisions.md), so one model serves both.
"""

from __future__ import annotations

from typing import Any

from .common import GROUP, Condition, IntOrString, KubeModel, ObjectMeta

KIND = "BroadcastJob"
API_VERSION_V1BETA1 = f"{GROUP}/v1beta1"
API_VERSION_V1ALPHA1 = f"{GROUP}/v1alpha1"
API_VERSION = API_VERSION_V1BETA1  # the storage version, which the controller and webhooks work on
API_VERSIONS = (API_VERSION_V1ALPHA1, API_VERSION_V1BETA1)

# Labels the controller puts on its pods; users may not preset them in the template.
JOB_NAME_LABEL = "broadcastjob-name"
CONTROLLER_UID_LABEL = "broadcastjob-controller-uid"

COMPLETION_ALWAYS = "Always"
COMPLETION_NEVER = "Never"

FAILURE_CONTINUE = "Continue"
FAILURE_FAIL_FAST = "FailFast"
FAILURE_PAUSE = "Pause"

PHASE_RUNNING = "running"
PHASE_PAUSED = "paused"
PHASE_COMPLETED = "completed"
PHASE_FAILED = "failed"

CONDITION_COMPLETE = "Complete"
CONDITION_FAILED = "Failed"

# Default parallelism: int32 max, i.e. "no limit" (apis/apps/defaults SetDefaultsBroadcastJob).
DEFAULT_PARALLELISM = 2**31 - 1


class CompletionPolicy(KubeModel):
    type: str | None = None
    active_deadline_seconds: int | None = None
    ttl_seconds_after_finished: int | None = None


class FailurePolicy(KubeModel):
    type: str | None = None
    restart_limit: int | None = None


class BroadcastJobSpec(KubeModel):
    parallelism: IntOrString | None = None
    template: dict[str, Any] | None = None
    completion_policy: CompletionPolicy | None = None
    paused: bool | None = None
    failure_policy: FailurePolicy | None = None


class BroadcastJobStatus(KubeModel):
    conditions: list[Condition] | None = None
    start_time: str | None = None
    completion_time: str | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    desired: int | None = None
    phase: str | None = None


class BroadcastJob(KubeModel):
    """apps.kruise.io/v1beta1 BroadcastJob (the storage version)."""

    api_version: str | None = API_VERSION
    kind: str | None = KIND
    metadata: ObjectMeta | None = None
    spec: BroadcastJobSpec | None = None
    status: BroadcastJobStatus | None = None


class BroadcastJobV1alpha1(BroadcastJob):
    """apps.kruise.io/v1alpha1 BroadcastJob: the same fields as v1beta1."""

    api_version: str | None = API_VERSION_V1ALPHA1
