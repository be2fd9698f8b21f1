"""SidecarSet injection into a pod at creation (spec §5.2), as pure functions.

OpenKruise's ``pkg/webhook/pod/mutating/sidecarset.go`` and ``pkg/control/sidecarcontrol/util.go``:

- ``matching_sidecarsets(pod, namespace_labels, sidecarsets)``: steps 1-3 and 5 — which SidecarSets
  apply to a new pod (active pod, not paused, namespace / namespaceSelector / selector, canaries
  shadow their base), in injection order (``injection_order``).
- ``inject(pod, sidecarsets, now, revisions=...)``: steps 4 and 6-9 for the matched SidecarSets —
  pick the latest or a historical revision, patch pod annotations, build and merge init containers,
  containers, volumes and pull secrets, and write the three ``kruise.io/sidecarset-*`` annotations.
  Returns a new pod; the input is never modified.
- ``read_hash_annotation(pod, key)`` / ``injected_sidecarsets(pod)``: readers of what inject wrote
  (both value shapes of the hash annotations, spec §9 P30).

Decisions where we differ from, or pin down, OpenKruise:

- ``injectionStrategy.revision.policy: Partial`` with a percentage ``updateStrategy.partition``:
  OpenKruise draws ``rand.Float64() <= partition%``. We draw ``u < partition%`` where ``u`` in
  [0, 1) comes from SHA-256 of the pod name (see ``partial_picks_historical``), so the same pod
  always gets the same answer and tests are stable; 0% never and 100% always picks the historical
  revision. A pod without a name yet (``generateName`` only) hashes ``generateName`` plus ``now``,
  so the pods of one ReplicaSet still spread.
- A historical revision that cannot be found (revisionName not in ``revisions``, or no revision of
  this SidecarSet carries the custom version) falls back to the latest SidecarSet, as the spec says;
  OpenKruise rejects the pod in that case.
- Revision data with ``"$patch": "replace"`` replaces the whole spec by the recorded fields, as the
  strategic merge does. Older data without the directive replaces each recorded field wholesale
  (a strategic merge would merge container lists by name; those revisions record every field).
- Injection order across SidecarSets: OpenKruise lists the SidecarSets pinned to the pod's
  namespace (v1alpha1 ``namespace``, or a namespaceSelector on ``kubernetes.io/metadata.name``)
  before the cluster-wide ones, each group in informer-cache order, which is a Go map's (random);
  we keep the two groups and sort each by name. Containers follow in that order, each SidecarSet's
  in spec order (Before ones ahead of the pod's, After ones behind). ``sort_by_name`` is the gate
  EnableSortSidecarContainerByName (default off): all injected containers sorted by name (stable)
  before the merge. Init containers are always sorted by name.
- HotUpgrade (spec §5.6): container ``X`` becomes ``X-1`` (its image, working) and ``X-2``
  (``hotUpgradeEmptyImage``), both with env SIDECARSET_VERSION / SIDECARSET_VERSION_ALT from
  fieldRefs on the ``version[alt].sidecarset.kruise.io/X-n`` annotations ("1"/"0" and "0"/"1"),
  and ``kruise.io/sidecarset-working-hotupgrade-container`` records ``{"X": "X-1"}``;
  ``sidecarList`` names ``X``. A native-sidecar init container with HotUpgrade is expanded the same
  way (as OpenKruise does; it is never upgraded).
- ``resourcesPolicy`` (v1.9) computes the sidecar's resources from the pod's containers
  (resources.py); where OpenKruise rejects the pod (no target container, an expression that fails)
  ``InjectionError`` is raised.
- ``shareVolumeDevicePolicy`` follows ``shareVolumePolicy``: every volumeDevice of the pod's
  non-sidecar containers whose devicePath the sidecar does not use. Sources are the pod's
  ``containers`` (not its init containers), those carrying ``IS_INJECTED=true`` excluded.
- Volumes are collected from the injected containers' own volumeMounts *and* volumeDevices (the
  spec's wording; OpenKruise looks at mounts only). Pod-spec volume defaults are left to the API
  server, which applies them to the mutated object.
- Errors OpenKruise turns into a rejected pod raise ``InjectionError``: a MergePatchJson patch or
  existing annotation that is not valid JSON, or an unparsable existing hash annotation on the pod.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...api.common import copy_json, copy_object, is_selector_empty, label_selector_matches
from ...api.naming import is_qualified_name
from ...api.sidecarset import (
    INJECT_REVISION_PARTIAL,
    IS_INJECTED_ENV,
    PATCH_POLICY_MERGE_PATCH_JSON,
    PATCH_POLICY_OVERWRITE,
    PATCH_POLICY_RETAIN,
    POD_INJECT_AFTER_APP,
    POD_INJECT_BEFORE_APP,
    SHARE_VOLUME_ENABLED,
    SIDECARSET_CUSTOM_VERSION_LABEL,
    SIDECARSET_HASH_ANNOTATION,
    SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION,
    SIDECARSET_INJECTED_LIST_ANNOTATION,
    SIDECARSET_NAME_LABEL,
    SIDECARSET_WORKING_HOTUPGRADE_CONTAINER_ANNOTATION,
    UPGRADE_HOT,
    go_json_marshal,
    is_native_sidecar,
    sidecarset_hash,
    sidecarset_hash_without_image,
)
from ...core.obj import format_time as _rfc3339
from ...core.obj import meta as _meta
from ...core.obj import name as _name
from ...core.obj import spec as _spec
from .resources import ResourcesPolicyError, policy_resources

Obj = dict[str, Any]

# HotUpgrade (util_hotupgrade.go): env vars of the two containers and the annotations behind them.
SIDECARSET_VERSION_ENV = "SIDECARSET_VERSION"
SIDECARSET_VERSION_ALT_ENV = "SIDECARSET_VERSION_ALT"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def version_annotation(container: str) -> str:
    return f"version.sidecarset.kruise.io/{container}"


def version_alt_annotation(container: str) -> str:
    return f"versionalt.sidecarset.kruise.io/{container}"


def hot_upgrade_names(name: str) -> tuple[str, str]:
    return f"{name}-1", f"{name}-2"


def is_hot_upgrade(container: Mapping[str, Any]) -> bool:
    strategy = container.get("upgradeStrategy")
    return isinstance(strategy, Mapping) and strategy.get("upgradeType") == UPGRADE_HOT


def working_hot_containers(annotations: Mapping[str, str]) -> dict[str, str]:
    """``kruise.io/sidecarset-working-hotupgrade-container``: sidecar name -> working container
    (``{"mesh": "mesh-2"}``); unparsable reads as empty, as OpenKruise."""
    raw = annotations.get(SIDECARSET_WORKING_HOTUPGRADE_CONTAINER_ANNOTATION)
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(parsed, Mapping):
        return {}
    return {str(k): str(v) for k, v in parsed.items() if isinstance(v, str)}


# v1beta1 canary SidecarSets (spec §5.1): a canary takes priority over its base at injection.
SIDECARSET_CANARY_ANNOTATION = "apps.kruise.io/sidecarset-canary"
SIDECARSET_BASE_ANNOTATION = "apps.kruise.io/sidecarset-base"

# SidecarContainer fields that are not core Container fields: dropped from the injected container.
SIDECAR_ONLY_FIELDS = (
    "podInjectPolicy",
    "upgradeStrategy",
    "shareVolumePolicy",
    "shareVolumeDevicePolicy",
    "transferEnv",
    "resourcesPolicy",
)
# SidecarSet spec fields recorded in a ControllerRevision (spec §5.3).
REVISION_SPEC_FIELDS = ("volumes", "containers", "initContainers", "imagePullSecrets", "patchPodMetadata")

# sidecarcontrol.SubPathExprEnvReg: $(VAR) references in volumeMounts[].subPathExpr.
_SUBPATH_EXPR_ENV_RE = re.compile(r"\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


class InjectionError(ValueError):
    """The pod cannot be admitted (OpenKruise's webhook returns an error and the pod is rejected)."""


@dataclass
class InjectionResult:
    pod: Obj  # the mutated pod: a new dict, the input is untouched
    injected: list[str] = field(default_factory=list)  # SidecarSets whose containers were injected
    changed: bool = False  # pod differs from the input (annotations patched and/or sidecars injected)


# --------------------------------------------------------------------------------------------------
# Small accessors


def _sub(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    return value if isinstance(value, list) else []


def _dicts(obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [x for x in _list(obj, key) if isinstance(x, Mapping)]


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return _str_map(_meta(obj).get("annotations"))


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return _str_map(_meta(obj).get("labels"))


def pod_namespace(pod: Mapping[str, Any]) -> str:
    """The pod's namespace; an empty one is ``default`` (the request had none yet)."""
    return str(_meta(pod).get("namespace") or "default")


def is_active_pod(pod: Mapping[str, Any]) -> bool:
    """controller.IsPodActive: not Succeeded/Failed and not being deleted."""
    phase = _sub(pod, "status").get("phase")
    return phase not in ("Succeeded", "Failed") and not _meta(pod).get("deletionTimestamp")


def canary_base(sidecarset: Mapping[str, Any]) -> str | None:
    """The base SidecarSet's name if this one is a canary (``sidecarset-canary: "true"``)."""
    annotations = _annotations(sidecarset)
    if annotations.get(SIDECARSET_CANARY_ANNOTATION) != "true":
        return None
    return annotations.get(SIDECARSET_BASE_ANNOTATION) or None


# --------------------------------------------------------------------------------------------------
# Steps 1-3 and 5: which SidecarSets apply


def sidecarset_matches_pod(
    sidecarset: Mapping[str, Any], pod: Mapping[str, Any], namespace_labels: Mapping[str, str]
) -> bool:
    """sidecarcontrol.PodMatchedSidecarSet: namespace, namespaceSelector and a non-empty selector."""
    spec = _spec(sidecarset)
    namespace = pod_namespace(pod)
    if spec.get("namespace") and spec.get("namespace") != namespace:
        return False
    ns_selector = spec.get("namespaceSelector")
    if ns_selector is not None and not label_selector_matches(ns_selector, namespace_labels):
        return False
    selector = spec.get("selector")
    if selector is None or is_selector_empty(selector):
        return False
    return label_selector_matches(selector, _labels(pod))


def matching_sidecarsets(
    pod: Mapping[str, Any], namespace_labels: Mapping[str, str], sidecarsets: Sequence[Mapping[str, Any]]
) -> list[Obj]:
    """The SidecarSets to inject into ``pod`` at creation (spec §5.2 steps 1-3 and 5), by name.

    ``namespace_labels`` are the labels of the pod's namespace (for ``namespaceSelector``). An
    inactive pod matches nothing. Paused injection (``injectionStrategy.paused``) is skipped. A base
    SidecarSet is dropped when one of its canaries also matches. Returned as copies.
    """
    if not is_active_pod(pod):
        return []
    matched = [
        s
        for s in sidecarsets
        if not _sub(_spec(s), "injectionStrategy").get("paused")
        and sidecarset_matches_pod(s, pod, namespace_labels)
    ]
    shadowed = {base for s in matched if (base := canary_base(s)) is not None and base != _name(s)}
    ordered = injection_order(matched, pod_namespace(pod))
    return [copy_object(s) for s in ordered if _name(s) not in shadowed]


def namespace_index(sidecarset: Mapping[str, Any]) -> list[str] | None:
    """fieldindex.IndexSidecarSet[V1Beta1]: the namespaces a SidecarSet is pinned to (v1alpha1
    ``namespace``; a namespaceSelector's ``kubernetes.io/metadata.name`` label or ``In``
    expression), None for a cluster-wide one."""
    spec = _spec(sidecarset)
    if spec.get("namespace"):
        return [str(spec["namespace"])]
    selector = spec.get("namespaceSelector")
    if isinstance(selector, Mapping):
        labels = selector.get("matchLabels")
        if isinstance(labels, Mapping) and NAMESPACE_NAME_LABEL in labels:
            return [str(labels[NAMESPACE_NAME_LABEL])]
        for expr in _dicts(selector, "matchExpressions"):
            if expr.get("key") == NAMESPACE_NAME_LABEL and expr.get("operator") == "In":
                return [str(v) for v in _list(expr, "values")]
    return None


def injection_order(sidecarsets: Sequence[Mapping[str, Any]], namespace: str) -> list[Mapping[str, Any]]:
    """OpenKruise's webhook lists the SidecarSets indexed under the pod's namespace, then the
    cluster-wide ones: that order, each group by name (OpenKruise's order within a group is a Go
    map's)."""

    def key(s: Mapping[str, Any]) -> tuple[int, str]:
        pinned = namespace_index(s)
        return (0 if pinned is not None and namespace in pinned else 1, _name(s))

    return sorted(sidecarsets, key=key)


# --------------------------------------------------------------------------------------------------
# Step 4: which version of a SidecarSet to inject


def _revision_number(revision: Mapping[str, Any]) -> int:
    value = revision.get("revision")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def find_revision(
    sidecarset: Mapping[str, Any], revisions: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The ControllerRevision named by ``injectionStrategy.revision``, or None.

    ``revisionName`` is looked up by name; otherwise ``customVersion`` picks, among this SidecarSet's
    revisions (label ``kruise.io/sidecarset-name``) carrying that custom-version label, the one
    with the highest ``.revision`` (ties: creationTimestamp, then name, as SortControllerRevisions).
    """
    info = _sub(_sub(_spec(sidecarset), "injectionStrategy"), "revision")
    revision_name = info.get("revisionName")
    custom_version = info.get("customVersion")
    if revision_name:
        return revisions.get(str(revision_name))
    if custom_version:
        name = _name(sidecarset)
        candidates = [
            r
            for r in revisions.values()
            if _labels(r).get(SIDECARSET_NAME_LABEL) == name
            and _labels(r).get(SIDECARSET_CUSTOM_VERSION_LABEL) == str(custom_version)
        ]
        if candidates:
            return max(
                candidates,
                key=lambda r: (_revision_number(r), str(_meta(r).get("creationTimestamp") or ""), _name(r)),
            )
    return None


def apply_revision(sidecarset: Mapping[str, Any], revision: Mapping[str, Any]) -> Obj:
    """GetHistorySidecarSet: the SidecarSet as recorded in ``revision``.

    The recorded spec fields (``data.spec``) are applied; the hash annotations come from the
    revision (computed from the restored spec when it has none) and ``status.latestRevision``
    becomes the revision's name.
    """
    out = copy_object(sidecarset)
    data: Any = revision.get("data")
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    patch = _sub(data if isinstance(data, Mapping) else {}, "spec")
    spec = out.get("spec")
    if patch.get("$patch") == "replace" or not isinstance(spec, dict):
        spec = {}
    for key, value in patch.items():
        if key == "$patch":
            continue
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = copy_json(value)
    out["spec"] = spec
    meta = out.get("metadata")
    meta = dict(meta) if isinstance(meta, Mapping) else {}
    annotations = _str_map(meta.get("annotations"))
    rev_annotations = _annotations(revision)
    annotations[SIDECARSET_HASH_ANNOTATION] = rev_annotations.get(
        SIDECARSET_HASH_ANNOTATION
    ) or sidecarset_hash(out)
    annotations[SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION] = rev_annotations.get(
        SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION
    ) or sidecarset_hash_without_image(out)
    meta["annotations"] = annotations
    out["metadata"] = meta
    status = out.get("status")
    status = dict(status) if isinstance(status, Mapping) else {}
    status["latestRevision"] = _name(revision)
    out["status"] = status
    return out


def _unit_interval(key: str) -> float:
    """A number in [0, 1) from SHA-256 of ``key`` (its first 64 bits)."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:16], 16) / 2**64


def _percentage(value: str) -> float | None:
    """util.ParsePercentageAsFloat64: "30%" -> 0.3; None when unparsable."""
    try:
        return float(value.strip().removesuffix("%")) / 100
    except ValueError:
        return None


def partial_picks_historical(pod: Mapping[str, Any], partition: Any, now: datetime) -> bool:
    """Policy Partial for a pod selected for update: historical with probability partition%.

    An int or unset partition always gives the latest (as OpenKruise). For a percentage the draw
    is deterministic: ``u < partition%`` with ``u`` from SHA-256 of the pod name, or of
    ``generateName`` + ``now`` (ISO format) when the pod has no name yet.
    """
    if not isinstance(partition, str):
        return False
    probability = _percentage(partition)
    if probability is None:
        return False
    meta = _meta(pod)
    name = str(meta.get("name") or "")
    key = name or f"{meta.get('generateName') or ''}{now.isoformat()}"
    return _unit_interval(key) < probability


def suitable_sidecarset(
    sidecarset: Mapping[str, Any],
    pod: Mapping[str, Any],
    now: datetime,
    revisions: Mapping[str, Mapping[str, Any]] | None = None,
) -> Obj:
    """getSuitableRevisionSidecarSet on CREATE (spec §5.2 step 4): latest or historical version."""
    info = _sub(_sub(_spec(sidecarset), "injectionStrategy"), "revision")
    if not info.get("revisionName") and not info.get("customVersion"):
        return copy_object(sidecarset)
    revision = find_revision(sidecarset, revisions or {})
    historical = apply_revision(sidecarset, revision) if revision is not None else copy_object(sidecarset)
    strategy = _sub(_spec(sidecarset), "updateStrategy")
    if strategy.get("paused"):
        return historical
    if info.get("policy") == INJECT_REVISION_PARTIAL:
        selector = strategy.get("selector")
        if selector is not None and not label_selector_matches(selector, _labels(pod)):
            return historical  # pods outside the update selector always get the pinned revision
        if partial_picks_historical(pod, strategy.get("partition"), now):
            return historical
        return copy_object(sidecarset)
    return historical  # Always (the default)


# --------------------------------------------------------------------------------------------------
# Step 6: patchPodMetadata


def _prune_nulls(value: Any) -> Any:
    """json-patch pruneNulls: drop null members of objects (recursively); objects get sorted keys."""
    if isinstance(value, Mapping):
        return {k: _prune_nulls(value[k]) for k in sorted(value) if value[k] is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def _merge_objects(doc: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge_objects(out[key], value)
        else:
            out[key] = _prune_nulls(value)
    return {k: out[k] for k in sorted(out)}  # Go re-marshals merged objects: sorted keys


def _loads(text: str, what: str) -> Any:
    def bad_constant(c: str) -> Any:
        raise ValueError(f"invalid JSON constant {c}")

    try:
        return json.loads(text, parse_constant=bad_constant)
    except ValueError as e:
        raise InjectionError(f"{what} is not valid JSON: {e}") from None


def json_merge_patch(original: str, patch: str) -> str:
    """RFC 7386 JSON merge patch of two JSON texts (evanphx/json-patch ``MergePatch``).

    Output is compact; objects touched by the merge have sorted keys, untouched values keep theirs.
    A syntax error, a ``null`` document or a scalar/null patch raise ``InjectionError``.
    """
    doc = _loads(original, "annotation value")
    p = _loads(patch, "merge patch")
    if doc is None:
        raise InjectionError("annotation value is not a JSON document")
    if isinstance(p, Mapping):
        result: Any = _merge_objects(doc, p) if isinstance(doc, Mapping) else _prune_nulls(p)
    elif isinstance(p, list):
        result = _prune_nulls(p)
    else:
        raise InjectionError("merge patch must be a JSON object or array")
    return go_json_marshal(result)


def patch_pod_annotations(annotations: Mapping[str, str], patches: Iterable[Any]) -> dict[str, str]:
    """PatchPodMetadata for one SidecarSet: the new annotations (input untouched).

    Retain (or unset): set if absent. Overwrite: always set. MergePatchJson: RFC 7386 merge into a
    non-empty existing value, else set.
    """
    out = dict(annotations)
    for patch in patches:
        if not isinstance(patch, Mapping):
            continue
        policy = patch.get("patchPolicy") or PATCH_POLICY_RETAIN
        for key, value in _str_map(patch.get("annotations")).items():
            if policy == PATCH_POLICY_RETAIN:
                out.setdefault(key, value)
            elif policy == PATCH_POLICY_OVERWRITE:
                out[key] = value
            elif policy == PATCH_POLICY_MERGE_PATCH_JSON:
                out[key] = json_merge_patch(out[key], value) if out.get(key) else value
    return out


# --------------------------------------------------------------------------------------------------
# Step 7: building the sidecars


def _env_of(container: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for env in _dicts(container, "env"):
        if env.get("name") == name:
            return env
    return None


def _is_injected_container(container: Mapping[str, Any]) -> bool:
    env = _env_of(container, IS_INJECTED_ENV)
    return env is not None and env.get("value") == "true"


def _split_subscripted_path(field_path: str) -> tuple[str, str] | None:
    """fieldpath.SplitMaybeSubscriptedPath: ``metadata.labels['k']`` -> ("metadata.labels", "k")."""
    if not field_path.endswith("']"):
        return None
    head, sep, subscript = field_path[:-2].partition("['")
    if not sep or not head:
        return None
    return head, subscript


def container_name_from_field_ref(field_ref: Mapping[str, Any], pod: Mapping[str, Any]) -> str | None:
    """ExtractContainerNameFromFieldPath: the value of the pod label/annotation the fieldRef names.

    None when the fieldPath is not ``metadata.labels['k']`` / ``metadata.annotations['k']`` with a
    qualified key; "" when the pod has no such label/annotation.
    """
    split = _split_subscripted_path(str(field_ref.get("fieldPath") or ""))
    if split is None:
        return None
    path, key = split
    if path == "metadata.annotations" and not is_qualified_name(key.lower()):
        return _annotations(pod).get(key, "")
    if path == "metadata.labels" and not is_qualified_name(key):
        return _labels(pod).get(key, "")
    return None


def transfer_envs(container: Mapping[str, Any], pod: Mapping[str, Any]) -> list[Obj]:
    """GetSidecarTransferEnvs: env vars copied from the pod's containers by ``transferEnv``.

    The source container is ``sourceContainerName``, or the one named by the pod label/annotation
    of ``sourceContainerNameFrom.fieldRef`` (which wins). ``envName`` and ``envNames`` are taken
    together, in name order. Missing containers or envs are skipped.
    """
    envs_in_pod: dict[tuple[str, str], Mapping[str, Any]] = {}
    for c in _dicts(_spec(pod), "containers"):
        for env in _dicts(c, "env"):
            envs_in_pod[(str(c.get("name") or ""), str(env.get("name") or ""))] = env
    out: list[Obj] = []
    for transfer in _dicts(container, "transferEnv"):
        names = {str(n) for n in _list(transfer, "envNames") if n}
        if transfer.get("envName"):
            names.add(str(transfer["envName"]))
        source = str(transfer.get("sourceContainerName") or "")
        field_ref = _sub(transfer, "sourceContainerNameFrom").get("fieldRef")
        if isinstance(field_ref, Mapping):
            from_ref = container_name_from_field_ref(field_ref, pod)
            if from_ref is None:
                continue
            source = from_ref
        for name in sorted(names):
            found = envs_in_pod.get((source, name))
            if found is not None:
                out.append(copy_object(found))
    return out


def _app_containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The pod's containers that are not injected sidecars (no ``IS_INJECTED=true``)."""
    return [c for c in _dicts(_spec(pod), "containers") if not _is_injected_container(c)]


def _policy_enabled(container: Mapping[str, Any], key: str) -> bool:
    return _sub(container, key).get("type") == SHARE_VOLUME_ENABLED


def shared_volume_mounts_and_envs(
    container: Mapping[str, Any], pod: Mapping[str, Any]
) -> tuple[list[Obj], list[Obj]]:
    """GetInjectedVolumeMountsAndEnvs: with ``shareVolumePolicy.type: enabled``, every volumeMount of
    the pod's non-sidecar containers, plus the envs their ``subPathExpr`` reference as ``$(VAR)``."""
    if not _policy_enabled(container, "shareVolumePolicy"):
        return [], []
    mounts: list[Obj] = []
    envs: list[Obj] = []
    for app in _app_containers(pod):
        for mount in _dicts(app, "volumeMounts"):
            mounts.append(copy_object(mount))
            for var in _SUBPATH_EXPR_ENV_RE.findall(str(mount.get("subPathExpr") or "")):
                env = _env_of(app, var)
                if env is not None:
                    envs.append(copy_object(env))
    return mounts, envs


def shared_volume_devices(container: Mapping[str, Any], pod: Mapping[str, Any]) -> list[Obj]:
    """With ``shareVolumeDevicePolicy.type: enabled``, every volumeDevice of the pod's non-sidecar
    containers."""
    if not _policy_enabled(container, "shareVolumeDevicePolicy"):
        return []
    return [copy_object(d) for app in _app_containers(pod) for d in _dicts(app, "volumeDevices")]


def merge_by_key(original: list[Any], additional: Iterable[Any], key: str) -> list[Any]:
    """util.MergeEnvVar / MergeVolumeMounts / MergeVolumes: append the additional items whose
    ``key`` is not used yet; the original items (and earlier additional ones) win."""
    seen = {item.get(key) for item in original if isinstance(item, Mapping)}
    out = list(original)
    for item in additional:
        k = item.get(key) if isinstance(item, Mapping) else None
        if k in seen:
            continue
        out.append(item)
        seen.add(k)
    return out


@dataclass
class _Sidecar:
    container: Obj  # the core container to put in the pod
    policy: str  # BeforeAppContainer | AfterAppContainer


def build_sidecar(
    sidecar: Mapping[str, Any],
    pod: Mapping[str, Any],
    volumes: Mapping[str, Mapping[str, Any]],
    default_policy: str,
) -> tuple[_Sidecar, list[Obj]]:
    """One SidecarContainer made ready for the pod, with the SidecarSet volumes it references.

    Shared mounts/devices are added unless the sidecar already uses the path; ``IS_INJECTED=true``
    is appended to its env, then transferEnv and subPathExpr envs the sidecar does not define.
    """
    container = {k: copy_json(v) for k, v in sidecar.items() if k not in SIDECAR_ONLY_FIELDS}
    used: list[Obj] = []
    for ref in [*_dicts(sidecar, "volumeMounts"), *_dicts(sidecar, "volumeDevices")]:
        volume = volumes.get(str(ref.get("name") or ""))
        if volume is not None:
            used.append(copy_object(volume))
    shared_mounts, subpath_envs = shared_volume_mounts_and_envs(sidecar, pod)
    if shared_mounts:
        container["volumeMounts"] = merge_by_key(_list(container, "volumeMounts"), shared_mounts, "mountPath")
    shared_devices = shared_volume_devices(sidecar, pod)
    if shared_devices:
        container["volumeDevices"] = merge_by_key(
            _list(container, "volumeDevices"), shared_devices, "devicePath"
        )
    extra_envs = merge_by_key(transfer_envs(sidecar, pod), subpath_envs, "name")
    env = [*_list(container, "env"), {"name": IS_INJECTED_ENV, "value": "true"}]
    container["env"] = merge_by_key(env, extra_envs, "name")
    policy = sidecar.get("podInjectPolicy")
    if policy not in (POD_INJECT_BEFORE_APP, POD_INJECT_AFTER_APP):
        policy = default_policy
    return _Sidecar(container, str(policy)), used


def _version_env(name: str, annotation: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{annotation}']"}}}


def hot_upgrade_pair(
    built: _Sidecar, sidecar: Mapping[str, Any], working: dict[str, str], annotations: dict[str, str]
) -> list[_Sidecar]:
    """injectHotUpgradeContainers: ``X-1`` (working, the real image) and ``X-2`` (the empty image),
    their version env vars and annotations; ``working`` gains ``X: X-1``."""
    name = str(sidecar.get("name") or "")
    first, second = hot_upgrade_names(name)
    empty = str(_sub(sidecar, "upgradeStrategy").get("hotUpgradeEmptyImage") or "")
    out: list[_Sidecar] = []
    for cname, image in ((first, built.container.get("image")), (second, empty)):
        container = copy_object(built.container)
        container["name"] = cname
        container["image"] = image
        # Appended, not merged: the sidecar's own env of that name stays too (as OpenKruise).
        container["env"] = [
            *_list(container, "env"),
            _version_env(SIDECARSET_VERSION_ENV, version_annotation(cname)),
            _version_env(SIDECARSET_VERSION_ALT_ENV, version_alt_annotation(cname)),
        ]
        out.append(_Sidecar(container, built.policy))
    annotations[version_annotation(first)] = "1"
    annotations[version_alt_annotation(first)] = "0"
    annotations[version_annotation(second)] = "0"
    annotations[version_alt_annotation(second)] = "1"
    working[name] = first
    annotations[SIDECARSET_WORKING_HOTUPGRADE_CONTAINER_ANNOTATION] = go_json_marshal(working, sort_keys=True)
    return out


def merge_sidecar_containers(origins: list[Any], sidecars: list[_Sidecar]) -> list[Any]:
    """mergeSidecarContainers: a sidecar named like an existing container replaces it in place;
    the others go in front (BeforeAppContainer) or behind (AfterAppContainer), in order."""
    out = list(origins)
    index = {c.get("name"): i for i, c in enumerate(out) if isinstance(c, Mapping)}
    before: list[Obj] = []
    after: list[Obj] = []
    for sidecar in sidecars:
        name = sidecar.container.get("name")
        if name in index:
            out[index[name]] = sidecar.container
        elif sidecar.policy == POD_INJECT_AFTER_APP:
            after.append(sidecar.container)
        else:
            before.append(sidecar.container)
    return [*before, *out, *after]


# --------------------------------------------------------------------------------------------------
# Step 9: pod annotations

_UPGRADE_SPEC_STR_FIELDS = ("updateTimestamp", "hash", "sidecarSetName", "controllerRevision")


def _parse_hash_annotation(value: str) -> dict[str, Obj] | None:
    """Both shapes of ``kruise.io/sidecarset-hash[-without-image]``; None if unparsable.

    New: ``{name: {updateTimestamp, hash, sidecarSetName, sidecarList, controllerRevision?}}``.
    Legacy: ``{name: hash}``. Entries are normalised to the new shape as Go's struct would hold
    them (missing timestamp/list: None, unknown fields dropped).
    """
    if not value:
        return {}
    try:
        raw = json.loads(value)
    except ValueError:
        return None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return None
    if all(isinstance(v, str) for v in raw.values()):
        return {
            str(k): {"updateTimestamp": None, "hash": v, "sidecarSetName": str(k), "sidecarList": None}
            for k, v in raw.items()
        }
    out: dict[str, Obj] = {}
    for k, v in raw.items():
        entry = v if isinstance(v, dict) else {} if v is None else None
        if entry is None:
            return None
        if any(
            entry.get(f) is not None and not isinstance(entry.get(f), str) for f in _UPGRADE_SPEC_STR_FIELDS
        ):
            return None
        sidecars = entry.get("sidecarList")
        if sidecars is not None and not (
            isinstance(sidecars, list) and all(isinstance(s, str) for s in sidecars)
        ):
            return None
        spec: Obj = {
            "updateTimestamp": entry.get("updateTimestamp"),
            "hash": entry.get("hash") or "",
            "sidecarSetName": entry.get("sidecarSetName") or "",
            "sidecarList": list(sidecars) if sidecars is not None else None,
        }
        if entry.get("controllerRevision"):
            spec["controllerRevision"] = entry["controllerRevision"]
        out[str(k)] = spec
    return out


def read_hash_annotation(pod: Mapping[str, Any], key: str) -> dict[str, Obj]:
    """Parse ``kruise.io/sidecarset-hash`` or ``-without-image`` on ``pod``: SidecarSet name ->
    ``{updateTimestamp, hash, sidecarSetName, sidecarList[, controllerRevision]}``.

    Accepts the legacy ``{name: hash}`` shape (entries then have only hash and sidecarSetName set).
    An absent or unparsable annotation gives ``{}``.
    """
    return _parse_hash_annotation(_annotations(pod).get(key, "")) or {}


def injected_sidecarsets(pod: Mapping[str, Any]) -> set[str]:
    """The SidecarSet names in ``kruise.io/sidecarset-injected-list`` (never raises: it also indexes
    the pods cache, on every pod event)."""
    annotations = _meta(pod).get("annotations")
    value = annotations.get(SIDECARSET_INJECTED_LIST_ANNOTATION) if isinstance(annotations, Mapping) else None
    return set() if value is None else {n for n in str(value).split(",") if n}


def _existing_hashes(annotations: Mapping[str, str], key: str) -> dict[str, Obj]:
    parsed = _parse_hash_annotation(annotations.get(key, ""))
    if parsed is None:
        raise InjectionError(f"invalid pod annotation {key}: {annotations.get(key)!r}")
    return parsed


def _hash_of(sidecarset: Mapping[str, Any], key: str) -> str:
    value = _annotations(sidecarset).get(key)
    if value:
        return value
    if key == SIDECARSET_HASH_ANNOTATION:
        return sidecarset_hash(sidecarset)
    return sidecarset_hash_without_image(sidecarset)


def _marshal_hashes(hashes: Mapping[str, Obj]) -> str:
    out: dict[str, Obj] = {}
    for name in sorted(hashes):
        entry = hashes[name]
        spec: Obj = {
            "updateTimestamp": entry.get("updateTimestamp"),
            "hash": entry.get("hash") or "",
            "sidecarSetName": entry.get("sidecarSetName") or "",
            "sidecarList": entry.get("sidecarList"),
        }
        if entry.get("controllerRevision"):
            spec["controllerRevision"] = entry["controllerRevision"]
        out[name] = spec
    return go_json_marshal(out)


def _apply_resources_policy(
    built: _Sidecar,
    sidecar: Mapping[str, Any],
    pod: Mapping[str, Any],
    sidecarsets: Sequence[Mapping[str, Any]],
) -> None:
    """resourcesPolicy: the computed resources replace the sidecar's (OpenKruise writes them even
    when empty)."""
    try:
        resources = policy_resources(sidecar, pod, sidecarsets)
    except ResourcesPolicyError as e:
        raise InjectionError(str(e)) from None
    if resources is None:
        return
    if resources:
        built.container["resources"] = resources
    else:
        built.container.pop("resources", None)


# --------------------------------------------------------------------------------------------------
# inject


def inject(
    pod: Mapping[str, Any],
    sidecarsets: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    revisions: Mapping[str, Mapping[str, Any]] | None = None,
    sort_by_name: bool = False,
) -> InjectionResult:
    """Inject the already-matched ``sidecarsets`` (see ``matching_sidecarsets``, whose order is the
    injection order) into ``pod``.

    Spec §5.2 steps 4 and 6-9. ``revisions`` maps ControllerRevision name -> revision, for
    ``injectionStrategy.revision``. ``now`` stamps ``updateTimestamp``. ``sort_by_name`` is the gate
    EnableSortSidecarContainerByName. Returns a new pod.
    """
    out = copy_object(pod)
    chosen = [suitable_sidecarset(s, pod, now, revisions) for s in sidecarsets]

    # Step 6: patchPodMetadata, in SidecarSet order.
    meta = out.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    annotations = _str_map(meta.get("annotations"))
    for s in chosen:
        annotations = patch_pod_annotations(annotations, _list(_spec(s), "patchPodMetadata"))
    if annotations != _str_map(meta.get("annotations")):
        meta["annotations"] = annotations
        out["metadata"] = meta

    # Step 7: build the sidecars (the pod as it is now: patched annotations, original containers).
    hashes = _existing_hashes(annotations, SIDECARSET_HASH_ANNOTATION)
    hashes_without_image = _existing_hashes(annotations, SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION)
    names = injected_sidecarsets(out)
    working = working_hot_containers(annotations)
    hot_annotations: dict[str, str] = {}
    stamp = _rfc3339(now)
    init_sidecars: list[_Sidecar] = []
    sidecars: list[_Sidecar] = []
    secrets: list[Any] = []
    volumes: list[Obj] = []
    injected: list[str] = []
    for s in chosen:
        name = _name(s)
        names.add(name)
        spec = _spec(s)
        volume_map = {str(v.get("name") or ""): v for v in _dicts(spec, "volumes")}
        sidecar_list: set[str] = set()
        injecting = False
        for init in _dicts(spec, "initContainers"):
            if is_native_sidecar(init):
                sidecar_list.add(str(init.get("name") or ""))
            built, used = build_sidecar(init, out, volume_map, POD_INJECT_AFTER_APP)
            _apply_resources_policy(built, init, out, chosen)
            if is_native_sidecar(init) and is_hot_upgrade(init):
                init_sidecars.extend(hot_upgrade_pair(built, init, working, hot_annotations))
            else:
                init_sidecars.append(built)
            volumes.extend(used)
            injecting = True
        secrets.extend(_list(spec, "imagePullSecrets"))
        for container in _dicts(spec, "containers"):
            sidecar_list.add(str(container.get("name") or ""))
            built, used = build_sidecar(container, out, volume_map, POD_INJECT_BEFORE_APP)
            _apply_resources_policy(built, container, out, chosen)
            if is_hot_upgrade(container):
                sidecars.extend(hot_upgrade_pair(built, container, working, hot_annotations))
            else:
                sidecars.append(built)
            volumes.extend(used)
            injecting = True
        if not injecting:
            continue
        injected.append(name)
        entry: Obj = {
            "updateTimestamp": stamp,
            "hash": _hash_of(s, SIDECARSET_HASH_ANNOTATION),
            "sidecarSetName": name,
            "sidecarList": sorted(sidecar_list),
        }
        hashes_without_image[name] = {**entry, "hash": _hash_of(s, SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION)}
        revision = _sub(s, "status").get("latestRevision")
        if revision:
            entry["controllerRevision"] = str(revision)
        hashes[name] = entry

    if not init_sidecars and not sidecars:
        return InjectionResult(pod=out, injected=[], changed=out != pod)

    # Step 8: merge into the pod.
    pod_spec = out.get("spec")
    pod_spec = pod_spec if isinstance(pod_spec, dict) else {}
    out["spec"] = pod_spec
    if init_sidecars:
        ordered = sorted(init_sidecars, key=lambda sc: str(sc.container.get("name") or ""))
        pod_spec["initContainers"] = merge_sidecar_containers(_list(pod_spec, "initContainers"), ordered)
    if sidecars:
        if sort_by_name:
            sidecars = sorted(sidecars, key=lambda sc: str(sc.container.get("name") or ""))
        pod_spec["containers"] = merge_sidecar_containers(_list(pod_spec, "containers"), sidecars)
    merged_volumes = merge_by_key(_list(pod_spec, "volumes"), volumes, "name")
    if merged_volumes or "volumes" in pod_spec:
        pod_spec["volumes"] = merged_volumes
    merged_secrets = merge_by_key([], [*_list(pod_spec, "imagePullSecrets"), *secrets], "name")
    if merged_secrets or "imagePullSecrets" in pod_spec:
        pod_spec["imagePullSecrets"] = merged_secrets

    # Step 9: annotations.
    annotations[SIDECARSET_HASH_ANNOTATION] = _marshal_hashes(hashes)
    annotations[SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION] = _marshal_hashes(hashes_without_image)
    annotations[SIDECARSET_INJECTED_LIST_ANNOTATION] = ",".join(sorted(names))
    annotations.update(hot_annotations)
    meta["annotations"] = annotations
    out["metadata"] = meta
    return InjectionResult(pod=out, injected=injected, changed=out != pod)
