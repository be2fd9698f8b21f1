"""SidecarSet (cluster-scoped) models and the SidecarSet hash.

Served as ``apps.kruise.io/v1beta1`` (the storage version since OpenKruise 1.9) and ``v1alpha1``.
The schemas differ in two fields (api/conversion.py converts): v1alpha1 ``spec.namespace`` becomes a
v1beta1 ``namespaceSelector`` on ``kubernetes.io/metadata.name``, and the v1alpha1 label
``apps.kruise.io/sidecarset-custom-version`` is v1beta1's ``spec.customVersion``.

The hash (annotations ``kruise.io/sidecarset-hash`` and ``-without-image``) is OpenKruise's:
SafeEncodeString(hex(sha256(json.Marshal({"containers": ..., ["initContainers": ...]})))).
Go's json.Marshal writes struct fields in declaration order, drops ``omitempty`` zero values and
always writes non-pointer struct fields (so ``"resources":{}`` appears even when unset). We
replicate that for the container types below; see docs/sdk.md for the limits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

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


# Go struct layouts: (json name, kind, nested schema, zero value). Kinds:
#   req    - no omitempty: always written (zero value when absent)
#   omit   - omitempty: dropped when absent or zero ("", 0, false, empty list/map)
#   ptr    - pointer/omitempty: dropped only when absent (a present false/0/{} is written)
#   struct - non-pointer struct: always written, {} when absent (omitempty has no effect on structs)
#   map    - map with omitempty: dropped when empty, keys sorted
_Field = tuple[str, str, str | None, Any]


def _f(name: str, kind: str, sub: str | None = None, zero: Any = None) -> _Field:
    return (name, kind, sub, zero)


_SCHEMAS: dict[str, list[_Field]] = {
    "Container": [
        _f("name", "req", zero=""),
        _f("image", "omit"),
        _f("command", "omit"),
        _f("args", "omit"),
        _f("workingDir", "omit"),
        _f("ports", "omit", "ContainerPort"),
        _f("envFrom", "omit", "EnvFromSource"),
        _f("env", "omit", "EnvVar"),
        _f("resources", "struct", "ResourceRequirements"),
        _f("resizePolicy", "omit", "ContainerResizePolicy"),
        _f("restartPolicy", "ptr"),
        _f("restartPolicyRules", "omit"),
        _f("volumeMounts", "omit", "VolumeMount"),
        _f("volumeDevices", "omit", "VolumeDevice"),
        _f("livenessProbe", "ptr", "Probe"),
        _f("readinessProbe", "ptr", "Probe"),
        _f("startupProbe", "ptr", "Probe"),
        _f("lifecycle", "ptr", "Lifecycle"),
        _f("terminationMessagePath", "omit"),
        _f("terminationMessagePolicy", "omit"),
        _f("imagePullPolicy", "omit"),
        _f("securityContext", "ptr", "SecurityContext"),
        _f("stdin", "omit"),
        _f("stdinOnce", "omit"),
        _f("tty", "omit"),
    ],
    "ContainerPort": [
        _f("name", "omit"),
        _f("hostPort", "omit"),
        _f("containerPort", "req", zero=0),
        _f("protocol", "omit"),
        _f("hostIP", "omit"),
    ],
    "EnvFromSource": [
        _f("prefix", "omit"),
        _f("configMapRef", "ptr", "LocalRefOptional"),
        _f("secretRef", "ptr", "LocalRefOptional"),
    ],
    "LocalRefOptional": [_f("name", "omit"), _f("optional", "ptr")],
    "EnvVar": [_f("name", "req", zero=""), _f("value", "omit"), _f("valueFrom", "ptr", "EnvVarSource")],
    "EnvVarSource": [
        _f("fieldRef", "ptr", "ObjectFieldSelector"),
        _f("resourceFieldRef", "ptr", "ResourceFieldSelector"),
        _f("configMapKeyRef", "ptr", "KeySelector"),
        _f("secretKeyRef", "ptr", "KeySelector"),
        _f("fileKeyRef", "ptr"),
    ],
    "ObjectFieldSelector": [_f("apiVersion", "omit"), _f("fieldPath", "req", zero="")],
    "ResourceFieldSelector": [
        _f("containerName", "omit"),
        _f("resource", "req", zero=""),
        _f("divisor", "req", zero="0"),  # resource.Quantity is a struct: always written
    ],
    "KeySelector": [_f("name", "omit"), _f("key", "req", zero=""), _f("optional", "ptr")],
    "ResourceRequirements": [
        _f("limits", "map"),
        _f("requests", "map"),
        _f("claims", "omit", "ResourceClaim"),
    ],
    "ResourceClaim": [_f("name", "req", zero=""), _f("request", "omit")],
    "ContainerResizePolicy": [_f("resourceName", "req", zero=""), _f("restartPolicy", "req", zero="")],
    "VolumeMount": [
        _f("name", "req", zero=""),
        _f("readOnly", "omit"),
        _f("recursiveReadOnly", "ptr"),
        _f("mountPath", "req", zero=""),
        _f("subPath", "omit"),
        _f("mountPropagation", "ptr"),
        _f("subPathExpr", "omit"),
    ],
    "VolumeDevice": [_f("name", "req", zero=""), _f("devicePath", "req", zero="")],
    "Probe": [
        _f("exec", "ptr", "ExecAction"),
        _f("httpGet", "ptr", "HTTPGetAction"),
        _f("tcpSocket", "ptr", "TCPSocketAction"),
        _f("grpc", "ptr", "GRPCAction"),
        _f("initialDelaySeconds", "omit"),
        _f("timeoutSeconds", "omit"),
        _f("periodSeconds", "omit"),
        _f("successThreshold", "omit"),
        _f("failureThreshold", "omit"),
        _f("terminationGracePeriodSeconds", "ptr"),
    ],
    "ExecAction": [_f("command", "omit")],
    "HTTPGetAction": [
        _f("path", "omit"),
        _f("port", "req", zero=0),
        _f("host", "omit"),
        _f("scheme", "omit"),
        _f("httpHeaders", "omit", "HTTPHeader"),
    ],
    "HTTPHeader": [_f("name", "req", zero=""), _f("value", "req", zero="")],
    "TCPSocketAction": [_f("port", "req", zero=0), _f("host", "omit")],
    "GRPCAction": [_f("port", "req", zero=0), _f("service", "ptr")],
    "Lifecycle": [
        _f("postStart", "ptr", "LifecycleHandler"),
        _f("preStop", "ptr", "LifecycleHandler"),
        _f("stopSignal", "ptr"),
    ],
    "LifecycleHandler": [
        _f("exec", "ptr", "ExecAction"),
        _f("httpGet", "ptr", "HTTPGetAction"),
        _f("tcpSocket", "ptr", "TCPSocketAction"),
        _f("sleep", "ptr", "SleepAction"),
    ],
    "SleepAction": [_f("seconds", "req", zero=0)],
    "SecurityContext": [
        _f("capabilities", "ptr", "Capabilities"),
        _f("privileged", "ptr"),
        _f("seLinuxOptions", "ptr", "SELinuxOptions"),
        _f("windowsOptions", "ptr", "WindowsOptions"),
        _f("runAsUser", "ptr"),
        _f("runAsGroup", "ptr"),
        _f("runAsNonRoot", "ptr"),
        _f("readOnlyRootFilesystem", "ptr"),
        _f("allowPrivilegeEscalation", "ptr"),
        _f("procMount", "ptr"),
        _f("seccompProfile", "ptr", "ProfileRef"),
        _f("appArmorProfile", "ptr", "ProfileRef"),
    ],
    "Capabilities": [_f("add", "omit"), _f("drop", "omit")],
    "SELinuxOptions": [_f("user", "omit"), _f("role", "omit"), _f("type", "omit"), _f("level", "omit")],
    "WindowsOptions": [
        _f("gmsaCredentialSpecName", "ptr"),
        _f("gmsaCredentialSpec", "ptr"),
        _f("runAsUserName", "ptr"),
        _f("hostProcess", "ptr"),
    ],
    "ProfileRef": [_f("type", "req", zero=""), _f("localhostProfile", "ptr")],
    # kruise SidecarContainer = inline Container + these, in declaration order.
    "SidecarContainerExtra": [
        _f("podInjectPolicy", "omit"),
        _f("upgradeStrategy", "struct", "SidecarContainerUpgradeStrategy"),
        _f("shareVolumePolicy", "struct", "ShareVolumePolicy"),
        _f("shareVolumeDevicePolicy", "ptr", "ShareVolumePolicy"),
        _f("transferEnv", "omit", "TransferEnvVar"),
        _f("resourcesPolicy", "ptr", "ResourcesPolicy"),
    ],
    "SidecarContainerUpgradeStrategy": [_f("upgradeType", "omit"), _f("hotUpgradeEmptyImage", "omit")],
    "ShareVolumePolicy": [_f("type", "omit")],
    "TransferEnvVar": [
        _f("sourceContainerName", "omit"),
        _f("sourceContainerNameFrom", "ptr", "SourceContainerNameSource"),
        _f("envName", "omit"),
        _f("envNames", "omit"),
    ],
    "SourceContainerNameSource": [_f("fieldRef", "ptr", "ObjectFieldSelector")],
    "ResourcesPolicy": [
        _f("targetContainersMode", "req", zero=""),
        _f("targetContainersNameRegex", "omit"),
        _f("resourcesExpr", "struct", "ResourceExpr"),
    ],
    "ResourceExpr": [_f("limits", "ptr", "ResourceExprValues"), _f("requests", "ptr", "ResourceExprValues")],
    "ResourceExprValues": [_f("cpu", "omit"), _f("memory", "omit")],
}
_SCHEMAS["SidecarContainer"] = _SCHEMAS["Container"] + _SCHEMAS["SidecarContainerExtra"]


def _is_zero(v: Any) -> bool:
    return v is None or v is False or v == 0 or v == "" or v == [] or v == {}


def _go_value(value: Any, schema: str | None) -> Any:
    if isinstance(value, Mapping):
        if schema is not None:
            return _go_struct(value, schema)
        return {k: _go_value(value[k], None) for k in sorted(value)}  # a Go map: sorted keys
    if isinstance(value, list):
        return [_go_value(v, schema) for v in value]
    return value


def _go_struct(value: Mapping[str, Any], schema: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fields = _SCHEMAS[schema]
    for name, kind, sub, zero in fields:
        v = value.get(name)
        if kind == "req":
            out[name] = _go_value(zero if v is None else v, sub)
        elif kind == "struct":
            out[name] = _go_struct(v if isinstance(v, Mapping) else {}, sub or "")
        elif kind == "ptr":
            if v is not None:
                out[name] = _go_value(v, sub)
        elif kind in ("omit", "map") and not _is_zero(v):
            out[name] = _go_value(v, sub)
    # Fields Go does not know would be dropped by its decoder; we keep them (sorted, at the end)
    # so that they still count as a change.
    known = {f[0] for f in fields}
    for k in sorted(value):
        if k not in known and value[k] is not None:
            out[k] = _go_value(value[k], None)
    return out


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


def _containers_of(spec: Mapping[str, Any], key: str) -> list[Any] | None:
    containers = spec.get(key)
    if containers is None:
        return None
    return [_go_struct(c, "SidecarContainer") if isinstance(c, Mapping) else c for c in containers]


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
