"""SidecarSet (cluster-scoped) models and the SidecarSet hash.

Served as ``apps.kruise.io/v1beta1`` (the storage version since OpenKruise 1.9) and ``v1alpha1``.
The schemas differ in two fields (api/conversion.py converts): v1alpha1 ``spec.namespace`` becomes a
v1beta1 ``namespaceSelector`` on ``kubernetes.io/metadata.name``, and the v1alpha1 label
``apps.kruise.io/sidecarset-custom-version`` is v1beta1's ``spec.customVersion``.

The hash (annotations ``kruise.io/sidecarset-hash`` and ``-without-image``) is OpenKruise's:
SafeEncodeString(hex(sha256(json.Marshal({"containers": ..., ["initContainers": ...]})))) over the
typed containers. ``core.goshape`` writes them as Go does (struct fields in declaration order,
``omitempty`` zero values dropped, non-pointer structs always written, so ``"resources":{}``
appears even when unset, quantities canonical, unknown fields dropped); see docs/sdk.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..core.goshape import go_shape
from .common import (
    GROUP,
    IntOrString,
    KubeModel,
    LabelSelector,
    ObjectMeta,
    UpdatePriorityStrategy,
    copy_object,
)

KIND = "SidecarSet"
API_VERSION_V1BETA1 = f"{GROUP}/v1beta1"
API_VERSION_V1ALPHA1 = f"{GROUP}/v1alpha1"
API_VERSION = API_VERSION_V1BETA1  # the storage version, which the controllers and webhooks work on
API_VERSIONS = (API_VERSION_V1ALPHA1, API_VERSION_V1BETA1)

# Annotations on the SidecarSet (and, as JSON maps keyed by SidecarSet name, on pods).
SIDECARSET_HASH_ANNOTATION = "kruise.io/sidecarset-hash"
SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION = "kruise.io/sidecarset-hash-without-image"
# Pod annotations.
SIDECARSET_INJECTED_LIST_ANNOTATION = "kruise.io/sidecarset-injected-list"
SIDECARSET_INPLACE_UPDATE_STATE_ANNOTATION = "kruise.io/sidecarset-inplace-update-state"
SIDECARSET_WORKING_HOTUPGRADE_CONTAINER_ANNOTATION = "kruise.io/sidecarset-working-hotupgrade-container"
# ControllerRevision label; SidecarSet label copied to revisions.
SIDECARSET_NAME_LABEL = "kruise.io/sidecarset-name"
SIDECARSET_CUSTOM_VERSION_LABEL = "apps.kruise.io/sidecarset-custom-version"
SIDECARSET_UPGRADABLE_CONDITION = "SidecarSetUpgradable"
IS_INJECTED_ENV = "IS_INJECTED"

POD_INJECT_BEFORE_APP = "BeforeAppContainer"
POD_INJECT_AFTER_APP = "AfterAppContainer"
SHARE_VOLUME_ENABLED = "enabled"
SHARE_VOLUME_DISABLED = "disabled"
UPGRADE_COLD = "ColdUpgrade"
UPGRADE_HOT = "HotUpgrade"
UPDATE_STRATEGY_ROLLING_UPDATE = "RollingUpdate"
UPDATE_STRATEGY_NOT_UPDATE = "NotUpdate"
INJECT_REVISION_ALWAYS = "Always"
INJECT_REVISION_PARTIAL = "Partial"
PATCH_POLICY_RETAIN = "Retain"
PATCH_POLICY_OVERWRITE = "Overwrite"
PATCH_POLICY_MERGE_PATCH_JSON = "MergePatchJson"
TARGET_CONTAINER_MODE_SUM = "sum"
TARGET_CONTAINER_MODE_MAX = "max"


# --------------------------------------------------------------------------------------------------
# Models


class ObjectFieldSelector(KubeModel):
    api_version: str | None = None
    field_path: str | None = None


class SourceContainerNameSource(KubeModel):
    field_ref: ObjectFieldSelector | None = None


class TransferEnvVar(KubeModel):
    source_container_name: str | None = None
    source_container_name_from: SourceContainerNameSource | None = None
    env_name: str | None = None
    env_names: list[str] | None = None


class SidecarContainerUpgradeStrategy(KubeModel):
    upgrade_type: str | None = None
    hot_upgrade_empty_image: str | None = None


class ShareVolumePolicy(KubeModel):
    type: str | None = None


class ResourceExprValues(KubeModel):
    cpu: str | None = None
    memory: str | None = None


class ResourceExpr(KubeModel):
    limits: ResourceExprValues | None = None
    requests: ResourceExprValues | None = None


class ResourcesPolicy(KubeModel):
    """v1.9 ``resourcesPolicy``: the JSON names are ``targetContainersMode`` and ``resourcesExpr``."""

    target_containers_mode: str | None = None
    target_containers_name_regex: str | None = None
    resources_expr: ResourceExpr | None = None


class SidecarContainer(KubeModel):
    """A core Container (kept as extra fields) plus the kruise-specific fields.

    ``name``, ``image`` and ``restartPolicy`` are typed for convenience; every other core
    container field round-trips untouched.
    """

    name: str | None = None
    image: str | None = None
    restart_policy: str | None = None
    pod_inject_policy: str | None = None
    upgrade_strategy: SidecarContainerUpgradeStrategy | None = None
    share_volume_policy: ShareVolumePolicy | None = None
    share_volume_device_policy: ShareVolumePolicy | None = None
    transfer_env: list[TransferEnvVar] | None = None
    resources_policy: ResourcesPolicy | None = None


class UpdateScatterTerm(KubeModel):
    key: str | None = None
    value: str | None = None


class SidecarSetUpdateStrategy(KubeModel):
    type: str | None = None
    paused: bool | None = None
    selector: LabelSelector | None = None
    partition: IntOrString | None = None
    max_unavailable: IntOrString | None = None
    priority_strategy: UpdatePriorityStrategy | None = None
    scatter_strategy: list[UpdateScatterTerm] | None = None


class SidecarSetInjectRevision(KubeModel):
    custom_version: str | None = None
    revision_name: str | None = None
    policy: str | None = None


class SidecarSetInjectionStrategy(KubeModel):
    paused: bool | None = None
    revision: SidecarSetInjectRevision | None = None


class SidecarSetPatchPodMetadata(KubeModel):
    annotations: dict[str, str] | None = None
    patch_policy: str | None = None


class SidecarSetSpecCommon(KubeModel):
    """The spec fields both versions have."""

    selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    init_containers: list[SidecarContainer] | None = None
    containers: list[SidecarContainer] | None = None
    volumes: list[dict[str, Any]] | None = None
    update_strategy: SidecarSetUpdateStrategy | None = None
    injection_strategy: SidecarSetInjectionStrategy | None = None
    image_pull_secrets: list[dict[str, Any]] | None = None
    revision_history_limit: int | None = None
    patch_pod_metadata: list[SidecarSetPatchPodMetadata] | None = None


class SidecarSetSpec(SidecarSetSpecCommon):
    """v1beta1: the custom version is a spec field (v1alpha1 keeps it in a label)."""

    custom_version: str | None = None


class SidecarSetSpecV1alpha1(SidecarSetSpecCommon):
    """v1alpha1: ``namespace`` (v1beta1 expresses it as a namespaceSelector)."""

    namespace: str | None = None


class SidecarSetStatus(KubeModel):
    observed_generation: int | None = None
    matched_pods: int | None = None
    updated_pods: int | None = None
    ready_pods: int | None = None
    updated_ready_pods: int | None = None
    latest_revision: str | None = None
    collision_count: int | None = None


class SidecarSet(KubeModel):
    """apps.kruise.io/v1beta1 SidecarSet (the storage version)."""

    api_version: str | None = API_VERSION
    kind: str | None = KIND
    metadata: ObjectMeta | None = None
    spec: SidecarSetSpec | None = None
    status: SidecarSetStatus | None = None


class SidecarSetV1alpha1(KubeModel):
    """apps.kruise.io/v1alpha1 SidecarSet."""

    api_version: str | None = API_VERSION_V1ALPHA1
    kind: str | None = KIND
    metadata: ObjectMeta | None = None
    spec: SidecarSetSpecV1alpha1 | None = None
    status: SidecarSetStatus | None = None


def is_native_sidecar(container: Mapping[str, Any]) -> bool:
    """An init container with ``restartPolicy: Always`` (Kubernetes 1.28+ native sidecar)."""
    return container.get("restartPolicy") == "Always"


# --------------------------------------------------------------------------------------------------
# Hash

# k8s.io/apimachinery/pkg/util/rand: the alphabet without vowels and easily confused characters.
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode_string(s: str) -> str:
    """rand.SafeEncodeString: each character mapped to ``alphanums[ord(c) % 27]``."""
    return "".join(_SAFE_ALPHANUMS[ord(c) % len(_SAFE_ALPHANUMS)] for c in s)


# OpenKruise 1.9's v1beta1 SidecarContainer (corev1.Container inlined plus the kruise fields), as
# described by the generated Go field table (core/gotypes.json, hack/gotypes).
SIDECAR_CONTAINERS_TYPE = "[]kruise/v1beta1.SidecarContainer"


def go_json_marshal(value: Any, *, sort_keys: bool = False) -> str:
    """JSON text as Go's encoding/json would write it (compact, HTML-safe escapes).

    ``sort_keys``: how Go writes a map; without it, key order is kept (how Go writes a struct).
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _containers_of(spec: Mapping[str, Any], key: str) -> Any:
    """The containers as json.Marshal writes the typed list (struct fields in Go order)."""
    return go_shape(spec.get(key), SIDECAR_CONTAINERS_TYPE)


def _encode_sidecarset(sidecarset: Mapping[str, Any]) -> str:
    spec = sidecarset.get("spec") or {}
    # A Go map[string]interface{}: keys sorted, so "containers" comes before "initContainers".
    m: dict[str, Any] = {"containers": _containers_of(spec, "containers")}
    inits = spec.get("initContainers") or []
    if any(isinstance(c, Mapping) and is_native_sidecar(c) for c in inits):
        # With a native sidecar all init containers are hashed (they may now be upgraded).
        m["initContainers"] = _containers_of(spec, "initContainers")
    return go_json_marshal(m)


def _hash(data: str) -> str:
    return safe_encode_string(hashlib.sha256(data.encode("utf-8")).hexdigest())


def sidecarset_hash(sidecarset: Mapping[str, Any]) -> str:
    """Value of annotation ``kruise.io/sidecarset-hash`` for a (defaulted) SidecarSet dict."""
    return _hash(_encode_sidecarset(sidecarset))


def sidecarset_hash_without_image(sidecarset: Mapping[str, Any]) -> str:
    """Value of ``kruise.io/sidecarset-hash-without-image``: the same with every image blanked."""
    obj = copy_object(sidecarset)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or []:
                if isinstance(c, dict):
                    c["image"] = ""
    return _hash(_encode_sidecarset(obj))


def set_sidecarset_hash_annotations(sidecarset: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy with both hash annotations set (what the mutating webhook writes)."""
    obj = copy_object(sidecarset)
    meta = obj.setdefault("metadata", {})
    annotations = meta.get("annotations") or {}
    annotations[SIDECARSET_HASH_ANNOTATION] = sidecarset_hash(obj)
    annotations[SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION] = sidecarset_hash_without_image(obj)
    meta["annotations"] = annotations
    return obj
