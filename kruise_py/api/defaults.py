"""OpenKruise's defaults (apis/apps/defaults), on plain dicts, for the mutating webhook.

Each function returns a new dict (the input is not modified) and is idempotent.
Pod-spec defaults inside templates (imagePullPolicy, dnsPolicy, ... see spec §9 P20) are NOT
injected: the template is left exactly as the user wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import broadcastjob as bcj
from . import sidecarset as scs
from . import statefulset as sts
from .common import copy_object


def _obj(obj: Mapping[str, Any]) -> dict[str, Any]:
    out = copy_object(obj)
    if not isinstance(out.get("spec"), dict):
        out["spec"] = {}
    return out


def _sub(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """parent[key] as a dict, created when missing (like Go's non-pointer struct fields)."""
    value = parent.get(key)
    if value is None:
        value = {}
        parent[key] = value
    elif not isinstance(value, dict):
        # A value of the wrong type stays for validation to reject; defaulting must not replace
        # it (the mutating webhook runs first and would make bad input pass unnoticed).
        return {}
    return value


def _items(parent: Mapping[str, Any], key: str) -> list[Any]:
    """parent[key] when it is a list, else [] (a wrong type is validation's to reject)."""
    value = parent.get(key)
    return value if isinstance(value, list) else []


def _field(parent: Any, key: str) -> Any:
    return parent.get(key) if isinstance(parent, Mapping) else None


def _default(d: dict[str, Any], key: str, value: Any) -> None:
    # Go's "if x == nil / == ''": a missing, null or empty-string value gets the default.
    if d.get(key) is None or d.get(key) == "":
        d[key] = value


def default_statefulset(obj: Mapping[str, Any], *, clear_status: bool = False) -> dict[str, Any]:
    """SetDefaultsStatefulSet (v1beta1; for a v1alpha1 object only the v1alpha1 fields).

    ``clear_status=True`` also drops ``status``, as the webhook does on create and update.
    """
    out = _obj(obj)
    spec = out["spec"]
    v1beta1 = out.get("apiVersion") != sts.API_VERSION_V1ALPHA1

    _default(spec, "podManagementPolicy", sts.POD_MANAGEMENT_ORDERED_READY)
    strategy = _sub(spec, "updateStrategy")
    _default(strategy, "type", sts.UPDATE_STRATEGY_ROLLING_UPDATE)
    if strategy["type"] == sts.UPDATE_STRATEGY_ROLLING_UPDATE:
        rolling = _sub(strategy, "rollingUpdate")
        _default(rolling, "partition", 0)
        _default(rolling, "maxUnavailable", 1)
        _default(rolling, "podUpdatePolicy", sts.POD_UPDATE_RECREATE)
        _default(rolling, "minReadySeconds", 0)

    if v1beta1:
        # Gate StatefulSetAutoDeletePVC is on by default in OpenKruise.
        policy = _sub(spec, "persistentVolumeClaimRetentionPolicy")
        _default(policy, "whenDeleted", sts.PVC_RETENTION_RETAIN)
        _default(policy, "whenScaled", sts.PVC_RETENTION_RETAIN)
        # volumeClaimUpdateStrategy is only defaulted under the (off) StatefulSetAutoResizePVCGate:
        # not here either; empty means OnDelete, and OnPodRollingUpdate works without a gate.

    _default(spec, "replicas", 1)
    _default(spec, "revisionHistoryLimit", 10)
    if clear_status:
        out.pop("status", None)
    return out


def default_broadcastjob(obj: Mapping[str, Any]) -> dict[str, Any]:
    """SetDefaultsBroadcastJob. ``restartPolicy`` is not defaulted (OpenKruise v1.9 removed it)."""
    out = _obj(obj)
    spec = out["spec"]
    _default(_sub(spec, "completionPolicy"), "type", bcj.COMPLETION_ALWAYS)
    _default(spec, "parallelism", bcj.DEFAULT_PARALLELISM)
    _default(_sub(spec, "failurePolicy"), "type", bcj.FAILURE_FAIL_FAST)
    return out


def _default_sidecar_container(container: Any, inject_policy: str) -> None:
    if not isinstance(container, dict):
        return
    _default(container, "podInjectPolicy", inject_policy)
    _default(_sub(container, "upgradeStrategy"), "upgradeType", scs.UPGRADE_COLD)
    _default(_sub(container, "shareVolumePolicy"), "type", scs.SHARE_VOLUME_DISABLED)
    # SetDefaults_ObjectFieldSelector: fieldRef.apiVersion defaults to "v1". Kept because the
    # validation of transferEnv requires an apiVersion.
    for env in _items(container, "transferEnv"):
        field_ref = _field(_field(env, "sourceContainerNameFrom"), "fieldRef")
        if isinstance(field_ref, dict):
            _default(field_ref, "apiVersion", "v1")


def default_sidecarset(obj: Mapping[str, Any], *, set_hash: bool = True) -> dict[str, Any]:
    """SetDefaultsSidecarSet, then (``set_hash``) the two hash annotations, like the webhook.

    Core container defaults (imagePullPolicy, terminationMessagePath, ...) and volume defaults
    are not injected; see docs/sdk.md.
    """
    out = _obj(obj)
    spec = out["spec"]
    strategy = _sub(spec, "updateStrategy")
    _default(strategy, "type", scs.UPDATE_STRATEGY_ROLLING_UPDATE)
    _default(strategy, "maxUnavailable", 1)
    _default(strategy, "partition", 0)
    for c in _items(spec, "initContainers"):
        _default_sidecar_container(c, scs.POD_INJECT_AFTER_APP)
    for c in _items(spec, "containers"):
        _default_sidecar_container(c, scs.POD_INJECT_BEFORE_APP)
    _default(spec, "revisionHistoryLimit", 10)
    for patch in _items(spec, "patchPodMetadata"):
        if isinstance(patch, dict):
            _default(patch, "patchPolicy", scs.PATCH_POLICY_RETAIN)
    revision = _field(spec.get("injectionStrategy"), "revision")
    if isinstance(revision, dict):
        _default(revision, "policy", scs.INJECT_REVISION_ALWAYS)
    # Hashing needs container lists; with a wrong type there the object is invalid anyway.
    if set_hash and all(isinstance(spec.get(k), list | None) for k in ("containers", "initContainers")):
        out = scs.set_sidecarset_hash_annotations(out)
    return out
