"""OpenKruise's admission validation (spec §6), returning every violation with its field path.

Entry points work on plain dicts (what an admission request carries):

- ``validate_statefulset(new, old=None)``
- ``validate_statefulset_deletion(obj)``
- ``validate_broadcastjob(new, old=None)``
- ``validate_sidecarset(new, old=None, others=(), revision_exists=None, ...)``

By default the objects are defaulted first (validation runs on the defaulted object, as after the
mutating webhook); pass ``apply_defaults=False`` to validate an object exactly as given.
Deliberate differences from OpenKruise are marked "Beyond OpenKruise" and listed in docs/sdk.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from . import broadcastjob as bcj
from . import resource_expr
from . import sidecarset as scs
from . import statefulset as sts
from .common import (
    LabelSelector,
    get_path,
    int_or_percent,
    is_selector_empty,
    is_selector_overlapping,
    label_selector_matches,
    priority_strategy_error,
    validate_label_selector,
    validate_positive_int_or_percent,
)
from .conversion import ConversionError, to_storage_version
from .defaults import default_broadcastjob, default_sidecarset, default_statefulset
from .errors import FORBIDDEN, NOT_SUPPORTED, REQUIRED, FieldError
from .naming import (
    is_qualified_name,
    max_len_error,
    name_is_dns_subdomain,
    regex_error,
    validate_annotations,
    validate_object_meta,
)
from .podtemplate import (
    supported_values,
    validate_containers,
    validate_pod_template,
    validate_volumes,
    volume_names,
)
from .quantity import parse_quantity

M = TypeVar("M", bound=BaseModel)


def _loc_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _parse(cls: type[M], obj: Mapping[str, Any]) -> tuple[M | None, list[FieldError]]:
    """Parse into the model; type errors (e.g. ``replicas: "x"``) become FieldErrors."""
    try:
        return cls.model_validate(obj), []
    except ValidationError as e:
        return None, [FieldError(_loc_path(err["loc"]), err["msg"]) for err in e.errors()]


def _kruise_name_validator(message: str) -> Callable[[str, bool], list[str]]:
    """The BroadcastJob / SidecarSet name rule: ``^[a-zA-Z0-9\\-]+$`` and at most 63 characters."""
    fmt = r"^[a-zA-Z0-9\-]+$"
    pattern = re.compile(fmt)

    def validate(name: str, prefix: bool) -> list[str]:
        errs: list[str] = []
        if not pattern.match(name):
            errs.append(regex_error(message, fmt, "example-com"))
        if len(name) > 63:
            errs.append(max_len_error(63))
        return errs

    return validate


def _non_negative(value: int | None, path: str) -> list[FieldError]:
    if value is not None and value < 0:
        return [FieldError(path, "must be greater than or equal to 0")]
    return []


def _strip_empty(value: Any) -> Any:
    """Drop None, "", [] and {} recursively: Go treats absent and zero values alike when it compares."""
    if isinstance(value, Mapping):
        out = {k: _strip_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_strip_empty(v) for v in value]
    return value


# ==================================================================================================
# StatefulSet (spec §6.1)

_RESERVE_RANGE_RE = re.compile(r"^\d+-\d+$")

# Spec fields an update may change (ValidateStatefulSetUpdate).
STATEFULSET_MUTABLE_SPEC_FIELDS = (
    "replicas",
    "ordinals",
    "template",
    "reserveOrdinals",
    "lifecycle",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "volumeClaimTemplates",
    "volumeClaimUpdateStrategy",
    "updateStrategy",
    "scaleStrategy",
)
_STATEFULSET_FORBIDDEN_UPDATE = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'reserveOrdinals', 'lifecycle', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy', "
    "`volumeClaimTemplates`, `VolumeClaimUpdateStrategy` and 'updateStrategy' are forbidden"
)


def _validate_max_unavailable(
    value: int | str, path: str, pod_management_policy: str | None, *, require_parallel: bool
) -> list[FieldError]:
    errs = validate_positive_int_or_percent(value, path)
    try:
        if int_or_percent(value, 1, True) < 1:
            errs.append(FieldError(path, "should not be less than 1"))
    except ValueError as e:
        errs.append(FieldError(path, f"getValueFromIntOrPercent error: {e}"))
    # Beyond OpenKruise: for the rolling update (require_parallel=False) any maxUnavailable is
    # allowed with OrderedReady too (KEP-961). The scale budget still requires Parallel.
    if require_parallel and pod_management_policy != sts.POD_MANAGEMENT_PARALLEL and value != 1:
        errs.append(FieldError(path, "can only work with Parallel PodManagementPolicyType"))
    return errs


def _validate_statefulset_spec(spec: sts.StatefulSetSpec, raw_spec: Mapping[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    pmp = spec.pod_management_policy
    if not pmp:
        errs.append(FieldError("spec.podManagementPolicy", "Required value", REQUIRED))
    elif pmp not in (sts.POD_MANAGEMENT_ORDERED_READY, sts.POD_MANAGEMENT_PARALLEL):
        errs.append(FieldError("spec.podManagementPolicy", "must be 'OrderedReady' or 'Parallel'"))
    # Beyond OpenKruise (reliability tier, bad input): a negative history limit has no meaning.
    errs.extend(_non_negative(spec.revision_history_limit, "spec.revisionHistoryLimit"))

    for i, item in enumerate(spec.reserve_ordinals or []):
        p = f"spec.reserveOrdinals[{i}]"
        if isinstance(item, str):
            if not _RESERVE_RANGE_RE.match(item):
                errs.append(FieldError(p, f"{i} th reserve ordinal is not a valid range: {item}"))
            else:
                try:
                    sts.parse_range(item)
                except ValueError as e:
                    errs.append(FieldError(p, f"{i} th reserve ordinal is invalid: {item}, err = {e}"))
        elif item < 0:
            errs.append(FieldError(p, f"{i} th reserve ordinal is negative: {item}"))

    if spec.scale_strategy is not None and spec.scale_strategy.max_unavailable is not None:
        errs.extend(
            _validate_max_unavailable(
                spec.scale_strategy.max_unavailable,
                "spec.scaleStrategy.maxUnavailable",
                pmp,
                require_parallel=True,
            )
        )

    errs.extend(_validate_update_strategy(spec))

    policy = spec.persistent_volume_claim_retention_policy
    if policy is not None:
        allowed = (sts.PVC_RETENTION_RETAIN, sts.PVC_RETENTION_DELETE)
        for name, value in (("whenDeleted", policy.when_deleted), ("whenScaled", policy.when_scaled)):
            if value not in allowed:
                errs.append(
                    FieldError(
                        f"spec.persistentVolumeClaimRetentionPolicy.{name}",
                        supported_values(allowed),
                        NOT_SUPPORTED,
                    )
                )

    errs.extend(_non_negative(spec.replicas, "spec.replicas"))
    errs.extend(_validate_statefulset_selector_and_template(spec, raw_spec))

    # Beyond OpenKruise (which accepts any string here and treats unknown ones as OnDelete).
    vcus = spec.volume_claim_update_strategy
    if vcus is not None and vcus.type not in (None, "", *sts.VOLUME_CLAIM_UPDATE_TYPES):
        errs.append(
            FieldError(
                "spec.volumeClaimUpdateStrategy.type",
                supported_values(sts.VOLUME_CLAIM_UPDATE_TYPES),
                NOT_SUPPORTED,
            )
        )
    return errs


def _validate_update_strategy(spec: sts.StatefulSetSpec) -> list[FieldError]:
    errs: list[FieldError] = []
    strategy = spec.update_strategy or sts.StatefulSetUpdateStrategy()
    rolling = strategy.rolling_update
    if not strategy.type:
        errs.append(FieldError("spec.updateStrategy", "Required value", REQUIRED))
    elif strategy.type == sts.UPDATE_STRATEGY_ON_DELETE:
        if rolling is not None:
            errs.append(
                FieldError(
                    "spec.updateStrategy.rollingUpdate", "only allowed for updateStrategy 'RollingUpdate'"
                )
            )
    elif strategy.type != sts.UPDATE_STRATEGY_ROLLING_UPDATE:
        errs.append(FieldError("spec.updateStrategy", "must be 'RollingUpdate' or 'OnDelete'"))
    elif rolling is not None:
        p = "spec.updateStrategy.rollingUpdate"
        errs.extend(_non_negative(rolling.partition, f"{p}.partition"))
        errs.extend(_non_negative(rolling.min_ready_seconds, f"{p}.minReadySeconds"))
        if rolling.min_ready_seconds is not None and rolling.min_ready_seconds > sts.MAX_MIN_READY_SECONDS:
            errs.append(FieldError(f"{p}.minReadySeconds", "must be no more than 300 seconds"))
        if rolling.max_unavailable is None:
            errs.append(FieldError(f"{p}.maxUnavailable", "Required value", REQUIRED))
        else:
            errs.extend(
                _validate_max_unavailable(
                    rolling.max_unavailable,
                    f"{p}.maxUnavailable",
                    spec.pod_management_policy,
                    require_parallel=False,
                )
            )
        policy = rolling.pod_update_policy
        if not policy:
            errs.append(FieldError(f"{p}.podUpdatePolicy", "Required value", REQUIRED))
        elif policy in (sts.POD_UPDATE_IN_PLACE_IF_POSSIBLE, sts.POD_UPDATE_IN_PLACE_ONLY):
            gates = get_path(spec.template, "spec", "readinessGates") or []
            if not any(
                isinstance(g, Mapping) and g.get("conditionType") == sts.IN_PLACE_UPDATE_READY for g in gates
            ):
                errs.append(
                    FieldError(
                        "spec.template.spec.readinessGates",
                        f"must contains {sts.IN_PLACE_UPDATE_READY} when podUpdatePolicy is {policy}",
                    )
                )
        elif policy != sts.POD_UPDATE_RECREATE:
            errs.append(
                FieldError(f"{p}.podUpdatePolicy", "must be 'ReCreate', InPlaceIfPossible or 'InPlaceOnly'")
            )
        if rolling.unordered_update is not None:
            if spec.pod_management_policy != sts.POD_MANAGEMENT_PARALLEL:
                errs.append(
                    FieldError(
                        f"{p}.unorderedUpdate",
                        "unorderedUpdate can only work with Parallel PodManagementPolicyType",
                        REQUIRED,
                    )
                )
            msg = priority_strategy_error(rolling.unordered_update.priority_strategy)
            if msg:
                errs.append(FieldError(f"{p}.unorderedUpdate.priorityStrategy", msg, REQUIRED))
    return errs


def _validate_statefulset_selector_and_template(
    spec: sts.StatefulSetSpec, raw_spec: Mapping[str, Any]
) -> list[FieldError]:
    errs: list[FieldError] = []
    selector_ok = False
    if spec.selector is None:
        errs.append(FieldError("spec.selector", "Required value", REQUIRED))
    else:
        sel_errs = validate_label_selector(spec.selector, "spec.selector")
        errs.extend(sel_errs)
        if is_selector_empty(spec.selector):
            errs.append(FieldError("spec.selector", "empty selector is invalid for statefulset"))
        else:
            selector_ok = not any(e.path.endswith(".operator") for e in sel_errs)

    template = raw_spec.get("template")
    if template is None:
        errs.append(FieldError("spec.template", "Required value", REQUIRED))
        return errs
    labels = get_path(template, "metadata", "labels")
    if selector_ok and not label_selector_matches(
        spec.selector, labels if isinstance(labels, Mapping) else {}
    ):
        errs.append(
            FieldError("spec.template.metadata.labels", "`selector` does not match template `labels`")
        )
    # Beyond OpenKruise: Kubernetes skips pod-spec validation for StatefulSet templates (a TODO
    # there); we check a pragmatic subset, counting volumeClaimTemplates as volumes.
    claims = {
        str(get_path(c, "metadata", "name"))
        for c in raw_spec.get("volumeClaimTemplates") or []
        if get_path(c, "metadata", "name")
    }
    errs.extend(
        validate_pod_template(template, "spec.template", extra_volumes=claims, check_restart_policy=False)
    )

    restart = get_path(template, "spec", "restartPolicy")
    if restart not in (None, "", "Always"):
        errs.append(
            FieldError("spec.template.spec.restartPolicy", supported_values(["Always"]), NOT_SUPPORTED)
        )
    if get_path(template, "spec", "activeDeadlineSeconds") is not None:
        errs.append(
            FieldError(
                "spec.template.spec.activeDeadlineSeconds",
                "activeDeadlineSeconds in StatefulSet is not Supported",
                FORBIDDEN,
            )
        )
    return errs


def _json_pointer(path: str, key: str | int) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _json_diff(old: Any, new: Any, path: str = "") -> list[tuple[str, str]]:
    """A JSON-patch-like list of (op, path) turning ``old`` into ``new``."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        ops: list[tuple[str, str]] = []
        for k in old:
            if k not in new:
                ops.append(("remove", _json_pointer(path, k)))
        for k in new:
            if k not in old:
                ops.append(("add", _json_pointer(path, k)))
            else:
                ops.extend(_json_diff(old[k], new[k], _json_pointer(path, k)))
        return ops
    if isinstance(old, list) and isinstance(new, list):
        ops = []
        for i in range(min(len(old), len(new))):
            ops.extend(_json_diff(old[i], new[i], _json_pointer(path, i)))
        ops.extend(("add", _json_pointer(path, i)) for i in range(len(old), len(new)))
        ops.extend(("remove", _json_pointer(path, i)) for i in range(len(new), len(old)))
        return ops
    return [] if old == new else [("replace", path)]


_IN_PLACE_ONLY_PATH_RE = re.compile(r"^/containers/[0-9]+/image$")


def in_place_only_violation(old_template: Any, new_template: Any) -> str | None:
    """First template.spec change other than a container image, as "op path", or None."""
    old_spec = _strip_empty(get_path(old_template, "spec") or {})
    new_spec = _strip_empty(get_path(new_template, "spec") or {})
    for op, path in _json_diff(old_spec, new_spec):
        # OpenKruise's regex is unanchored (it would also let /containers/0/imagePullPolicy through).
        if op != "replace" or not _IN_PLACE_ONLY_PATH_RE.match(path):
            return f"{op} {path}"
    return None


def _validate_statefulset_update(
    new: Mapping[str, Any], old: Mapping[str, Any], new_spec: sts.StatefulSetSpec
) -> list[FieldError]:
    errs: list[FieldError] = []
    for field in ("name", "namespace"):
        if get_path(old, "metadata", field) != get_path(new, "metadata", field):
            errs.append(FieldError(f"metadata.{field}", "field is immutable"))

    def frozen(obj: Mapping[str, Any]) -> Any:
        spec = dict(obj.get("spec") or {})
        for f in STATEFULSET_MUTABLE_SPEC_FIELDS:
            spec.pop(f, None)
        return _strip_empty(spec)

    if frozen(new) != frozen(old):
        errs.append(FieldError("spec", _STATEFULSET_FORBIDDEN_UPDATE, FORBIDDEN))

    rolling = new_spec.update_strategy.rolling_update if new_spec.update_strategy else None
    if rolling is not None and rolling.pod_update_policy == sts.POD_UPDATE_IN_PLACE_ONLY:
        violation = in_place_only_violation(
            get_path(old, "spec", "template"), get_path(new, "spec", "template")
        )
        if violation:
            errs.append(
                FieldError(
                    "spec.template",
                    f"invalid template modified with InPlaceOnly strategy: {violation}, "
                    "currently only image update is allowed for InPlaceOnly",
                )
            )
    return errs


def _v1beta1(obj: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A v1alpha1 object as v1beta1 (what the webhooks see); anything else (no or an unknown
    apiVersion: left for the model to reject) as it is."""
    if obj is None:
        return None
    try:
        return to_storage_version(obj) if str(obj.get("apiVersion", "")).endswith("/v1alpha1") else dict(obj)
    except ConversionError:
        return dict(obj)


# A StorageClass by name (None: the cluster's default class), or None when there is none.
StorageClassLookup = Callable[[str | None], Mapping[str, Any] | None]

# Claim template fields that never reach existing claims, so they may change freely.
_CLAIM_SPEC_DEFAULTS = {"volumeMode": "Filesystem"}


def _storage(resources: Any, kind: str) -> Any:
    return get_path(resources, kind, "storage") if isinstance(resources, Mapping) else None


def validate_volume_claim_templates_update(
    new_spec: Mapping[str, Any], old_spec: Mapping[str, Any], storage_class: StorageClassLookup | None = None
) -> list[FieldError]:
    """ValidateVolumeClaimTemplateUpdate: with ``volumeClaimUpdateStrategy: OnPodRollingUpdate``
    existing claims follow their templates, and the only change a bound claim can follow is a
    larger storage request. OpenKruise checks the number and names of the templates, their class
    and access modes, and the class's allowVolumeExpansion (``storage_class``; skipped without a
    lookup: the apiserver still refuses the claim resize, and the controller reports it).

    Beyond OpenKruise: a smaller request (OpenKruise accepts it and leaves the claims as they are),
    a changed storage limit (OpenKruise accepts it, then fails to patch the claim) and changes to
    any other spec field (selector, volumeMode, dataSource...: OpenKruise applies them to new claims
    only) are rejected too, with the field's path."""
    if (
        get_path(new_spec, "volumeClaimUpdateStrategy", "type") or ""
    ) != sts.VOLUME_CLAIM_UPDATE_ON_POD_ROLLING_UPDATE:
        return []
    new_vcts = [t for t in new_spec.get("volumeClaimTemplates") or [] if isinstance(t, Mapping)]
    old_vcts = [t for t in old_spec.get("volumeClaimTemplates") or [] if isinstance(t, Mapping)]
    if len(new_vcts) != len(old_vcts):
        return [
            FieldError(
                "spec.volumeClaimTemplates",
                "volumeClaimTemplate can not be added or deleted when OnRollingUpdate",
            )
        ]
    old_by_name = {get_path(t, "metadata", "name"): t for t in old_vcts}
    errs: list[FieldError] = []
    for tmpl in new_vcts:
        name = get_path(tmpl, "metadata", "name")
        p = f"spec.volumeClaimTemplates[{name}]"
        old = old_by_name.get(name)
        if old is None:
            errs.append(FieldError(f"{p}.name", "volumeClaimTemplate name can not be modified", FORBIDDEN))
            continue
        spec_new, spec_old = tmpl.get("spec") or {}, old.get("spec") or {}
        sc_new, sc_old = spec_new.get("storageClassName"), spec_old.get("storageClassName")
        changed = [f for f in ("accessModes",) if list(spec_new.get(f) or []) != list(spec_old.get(f) or [])]
        if sc_new is not None and sc_old is not None and sc_new != sc_old:
            changed.insert(0, "storageClassName")
        if changed:
            errs.append(
                FieldError(
                    p, f"volumeClaimTemplate can not be modified when OnRollingUpdate ({', '.join(changed)})"
                )
            )
            continue
        for f in sorted(set(spec_new) | set(spec_old)):
            if f in ("resources", "storageClassName", "accessModes"):
                continue
            default = _CLAIM_SPEC_DEFAULTS.get(f)
            if _strip_empty(spec_new.get(f, default)) != _strip_empty(spec_old.get(f, default)):
                errs.append(
                    FieldError(
                        f"{p}.spec.{f}",
                        "can not be changed when volumeClaimUpdateStrategy is "
                        "OnPodRollingUpdate: existing claims only follow a larger storage request",
                        FORBIDDEN,
                    )
                )
        errs.extend(_validate_claim_resources(p, spec_new, spec_old, storage_class))
    return errs


def _same_quantity(a: Any, b: Any) -> bool:
    try:
        return a is not None and b is not None and parse_quantity(a) == parse_quantity(b)
    except ValueError:
        return False


def _validate_claim_resources(
    p: str, spec_new: Mapping[str, Any], spec_old: Mapping[str, Any], storage_class: StorageClassLookup | None
) -> list[FieldError]:
    req_path, lim_path = f"{p}.spec.resources.requests.storage", f"{p}.spec.resources.limits.storage"
    values = []
    for raw in (
        _storage(spec_new.get("resources"), "requests"),
        _storage(spec_old.get("resources"), "requests"),
    ):
        try:
            values.append(parse_quantity(raw if raw is not None else 0))
        except ValueError:
            return [FieldError(req_path, f"invalid quantity {raw!r}")]
    new_q, old_q = values
    lim_new, lim_old = (
        _storage(spec_new.get("resources"), "limits"),
        _storage(spec_old.get("resources"), "limits"),
    )
    errs: list[FieldError] = []
    if lim_new != lim_old and not _same_quantity(lim_new, lim_old):
        errs.append(
            FieldError(
                lim_path,
                "can not be changed when volumeClaimUpdateStrategy is OnPodRollingUpdate: "
                "the limits of a bound claim are immutable",
                FORBIDDEN,
            )
        )
    if new_q < old_q:
        errs.append(
            FieldError(
                req_path,
                "can not be decreased when volumeClaimUpdateStrategy is OnPodRollingUpdate "
                f"(was {_storage(spec_old.get('resources'), 'requests')}): claims can only grow",
                FORBIDDEN,
            )
        )
    elif new_q > old_q and storage_class is not None:
        sc_name = spec_new.get("storageClassName")
        sc = storage_class(sc_name)
        if sc is None and sc_name is not None:
            errs.append(FieldError(f"{p}.spec.storageClassName", "can not get sc"))
        elif sc is not None and sc.get("allowVolumeExpansion") is False:
            # As OpenKruise: only an explicit false. Unset, the apiserver refuses the resize later and
            # the controller reports it on the set (condition FailedUpdatePVC, event FailedResize).
            errs.append(
                FieldError(
                    req_path,
                    f"storage class {get_path(sc, 'metadata', 'name')} does not support volume expansion",
                    FORBIDDEN,
                )
            )
    return errs


def validate_statefulset(
    new: Mapping[str, Any],
    old: Mapping[str, Any] | None = None,
    *,
    apply_defaults: bool = True,
    storage_class: StorageClassLookup | None = None,
) -> list[FieldError]:
    """Validate an ASTS create (``old=None``) or update. v1alpha1 objects are converted to v1beta1.
    ``storage_class`` lets an update that grows a claim template check the class can expand."""
    new = sts.to_v1beta1(new) if new.get("apiVersion") == sts.API_VERSION_V1ALPHA1 else dict(new)
    if old is not None and old.get("apiVersion") == sts.API_VERSION_V1ALPHA1:
        old = sts.to_v1beta1(old)
    if apply_defaults:
        new = default_statefulset(new)
        old = default_statefulset(old) if old is not None else None
    model, errs = _parse(sts.StatefulSet, new)
    if model is None:
        return errs
    errs.extend(validate_object_meta(new.get("metadata"), name_is_dns_subdomain, namespaced=True))
    spec = model.spec or sts.StatefulSetSpec()
    raw_spec = new.get("spec") or {}
    errs.extend(_validate_statefulset_spec(spec, raw_spec))
    if old is not None:
        errs.extend(_validate_statefulset_update(new, old, spec))
        errs.extend(validate_volume_claim_templates_update(raw_spec, old.get("spec") or {}, storage_class))
    return errs


def validate_statefulset_deletion(obj: Mapping[str, Any]) -> list[FieldError]:
    """Deletion protection (gate ResourcesDeletionProtection, off by default in OpenKruise).

    Label ``policy.kruise.io/delete-protection``: ``Always`` forbids deletion, ``Cascading``
    forbids it while ``spec.replicas > 0``.
    """
    if get_path(obj, "metadata", "deletionTimestamp"):
        return []
    labels = get_path(obj, "metadata", "labels") or {}
    value = labels.get(sts.DELETE_PROTECTION_LABEL) if isinstance(labels, Mapping) else None
    key = sts.DELETE_PROTECTION_LABEL
    if value == "Always":
        return [
            FieldError(
                "metadata.labels", f"forbidden by ResourcesProtectionDeletion for {key}={value}", FORBIDDEN
            )
        ]
    replicas = get_path(obj, "spec", "replicas")
    if value == "Cascading" and isinstance(replicas, int) and replicas > 0:
        return [
            FieldError(
                "metadata.labels",
                f"forbidden by ResourcesProtectionDeletion for {key}={value} and replicas {replicas}>0",
                FORBIDDEN,
            )
        ]
    return []


# ==================================================================================================
# BroadcastJob (spec §6.2)

_bcj_name = _kruise_name_validator("BroadcastJob name must consist of alphanumeric characters or '-'")


def validate_broadcastjob(
    new: Mapping[str, Any], old: Mapping[str, Any] | None = None, *, apply_defaults: bool = True
) -> list[FieldError]:
    """Validate a BroadcastJob create or update, either version (OpenKruise has no update-only rules)."""
    del old  # no immutability rules
    new = _v1beta1(new) or {}
    if apply_defaults:
        new = default_broadcastjob(new)
    model, errs = _parse(bcj.BroadcastJob, new)
    if model is None:
        return errs
    errs.extend(validate_object_meta(new.get("metadata"), _bcj_name, namespaced=True))
    spec = model.spec or bcj.BroadcastJobSpec()
    cp = spec.completion_policy
    if cp is not None and cp.type == bcj.COMPLETION_NEVER:
        if cp.ttl_seconds_after_finished is not None:
            errs.append(
                FieldError(
                    "spec.completionPolicy.ttlSecondsAfterFinished",
                    "ttlSecondsAfterFinished can just work with Always CompletionPolicyType",
                )
            )
        if cp.active_deadline_seconds is not None:
            errs.append(
                FieldError(
                    "spec.completionPolicy.activeDeadlineSeconds",
                    "activeDeadlineSeconds can just work with Always CompletionPolicyType",
                )
            )
    # Beyond OpenKruise (found by the reliability tier's bad-input scenario): policy values the
    # controller cannot act on are rejected, not silently read as the default.
    if cp is not None:
        if cp.type not in (None, "", bcj.COMPLETION_ALWAYS, bcj.COMPLETION_NEVER):
            errs.append(
                FieldError(
                    "spec.completionPolicy.type",
                    f'Unsupported value: "{cp.type}": supported values: "Always", "Never"',
                    NOT_SUPPORTED,
                )
            )
        errs.extend(_non_negative(cp.active_deadline_seconds, "spec.completionPolicy.activeDeadlineSeconds"))
        errs.extend(
            _non_negative(cp.ttl_seconds_after_finished, "spec.completionPolicy.ttlSecondsAfterFinished")
        )
    fp = spec.failure_policy
    if fp is not None:
        if fp.type not in (None, "", bcj.FAILURE_CONTINUE, bcj.FAILURE_FAIL_FAST, bcj.FAILURE_PAUSE):
            errs.append(
                FieldError(
                    "spec.failurePolicy.type",
                    f'Unsupported value: "{fp.type}": supported values: "Continue", "FailFast", "Pause"',
                    NOT_SUPPORTED,
                )
            )
        errs.extend(_non_negative(fp.restart_limit, "spec.failurePolicy.restartLimit"))
    # Beyond OpenKruise: reject a parallelism the controller could not resolve (e.g. "abc").
    if spec.parallelism is not None:
        errs.extend(validate_positive_int_or_percent(spec.parallelism, "spec.parallelism"))

    template = spec.template
    if template is None:
        errs.append(FieldError("spec.template", "Required value", REQUIRED))
        return errs
    if get_path(template, "spec", "restartPolicy") not in ("Never", "OnFailure"):
        errs.append(
            FieldError("spec.template.spec.restartPolicy", "pod restartPolicy can only be Never or OnFailure")
        )
    labels = get_path(template, "metadata", "labels")
    if isinstance(labels, Mapping) and (
        labels.get(bcj.JOB_NAME_LABEL) or labels.get(bcj.CONTROLLER_UID_LABEL)
    ):
        errs.append(
            FieldError(
                "spec.template.metadata.labels",
                f'"{bcj.JOB_NAME_LABEL}" and "{bcj.CONTROLLER_UID_LABEL}" are not allowed to preset in pod labels',
            )
        )
    errs.extend(validate_pod_template(template, "spec.template"))
    return errs


# ==================================================================================================
# SidecarSet (spec §6.3)

_sidecarset_name = _kruise_name_validator("sidecarset name must consist of alphanumeric characters or '-'")
_DOWNWARD_API_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name")
# ConvertDownwardAPIFieldLabel (v1): the field paths a fieldRef may name at all.
_DOWNWARD_API_KNOWN = {
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
}
_SUBSCRIPT_RE = re.compile(r"^(metadata\.(?:annotations|labels))\['(.*)'\]$")


def _validate_sidecarset_selector(selector: LabelSelector, path: str) -> list[FieldError]:
    errs = validate_label_selector(selector, path)
    if is_selector_empty(selector):
        errs.append(FieldError(path, "empty selector is not valid for sidecarset."))
    return errs


def _validate_field_ref(field_ref: scs.ObjectFieldSelector, path: str) -> list[FieldError]:
    if not field_ref.api_version:
        return [FieldError(f"{path}.apiVersion", "Required value", REQUIRED)]
    if not field_ref.field_path:
        return [FieldError(f"{path}.fieldPath", "Required value", REQUIRED)]
    if field_ref.api_version != "v1":
        return [
            FieldError(
                f"{path}.fieldPath",
                f"error converting fieldPath: unsupported pod version: {field_ref.api_version}",
            )
        ]
    field_path = field_ref.field_path
    m = _SUBSCRIPT_RE.match(field_path)
    if m:
        base, key = m.group(1), m.group(2)
        check = key.lower() if base == "metadata.annotations" else key
        return [FieldError(path, msg) for msg in is_qualified_name(check)]
    if "[" in field_path:
        base = field_path.split("[", 1)[0]
        if base in _DOWNWARD_API_KNOWN:
            return [FieldError(path, "does not support subscript")]
        return [
            FieldError(f"{path}.fieldPath", f"error converting fieldPath: field label not supported: {base}")
        ]
    if field_path not in _DOWNWARD_API_KNOWN:
        return [
            FieldError(
                f"{path}.fieldPath", f"error converting fieldPath: field label not supported: {field_path}"
            )
        ]
    if field_path not in _DOWNWARD_API_PATHS:
        return [FieldError(f"{path}.fieldPath", supported_values(sorted(_DOWNWARD_API_PATHS)), NOT_SUPPORTED)]
    return []


# Python-only regular expression syntax that Go's RE2 (OpenKruise matches container names with it)
# rejects: lookaround, backreferences, atomic groups and possessive quantifiers, conditionals.
_NOT_RE2 = re.compile(r"\(\?(?:[=!]|<[=!]|P=|>|\()|\\[1-9]|\\g<|(?<!\\)[*+?}]\+")


def go_regexp_error(pattern: str) -> str | None:
    """Why Go's ``regexp.Compile`` would reject ``pattern`` (approximated: Python's parser plus the
    constructs RE2 lacks), or None."""
    try:
        re.compile(pattern)
    except re.error as e:
        return str(e)
    m = _NOT_RE2.search(pattern)
    if m:
        return f"invalid or unsupported Perl syntax: `{m.group(0)}`"
    return None


def resource_expression_error(expr: str, variable: str) -> str | None:
    """Why ``expr`` is not a valid resourcesPolicy expression over ``variable``, or None.

    As OpenKruise's webhook: the expression is evaluated with ``variable`` bound to the number 1
    (resource_expr.validation_error), so syntax errors, unknown names and negative results fail.
    """
    reason = resource_expr.validation_error(expr, variable)
    return None if reason is None else reason.removeprefix("invalid expression: ")


def _validate_hot_upgrade(spec: scs.SidecarSetSpec) -> list[FieldError]:
    """Beyond OpenKruise (which checks nothing for HotUpgrade): a HotUpgrade container needs its
    empty image, different from its image, and its ``X-1``/``X-2`` names must be free; otherwise
    every pod it selects would be rejected or never upgrade."""
    errs: list[FieldError] = []
    for key, containers in (
        ("containers", spec.containers or []),
        ("initContainers", spec.init_containers or []),
    ):
        names = {c.name for c in [*(spec.containers or []), *(spec.init_containers or [])] if c.name}
        for i, c in enumerate(containers):
            strategy = c.upgrade_strategy
            if strategy is None or strategy.upgrade_type != scs.UPGRADE_HOT:
                continue
            if key == "initContainers" and c.restart_policy != "Always":
                continue  # only native sidecars are expanded
            p = f"spec.{key}[{i}].upgradeStrategy.hotUpgradeEmptyImage"
            if not strategy.hot_upgrade_empty_image:
                errs.append(FieldError(p, "HotUpgrade needs hotUpgradeEmptyImage", REQUIRED))
            elif strategy.hot_upgrade_empty_image == c.image:
                errs.append(FieldError(p, "hotUpgradeEmptyImage must differ from the container's image"))
            for suffix in ("-1", "-2"):
                if f"{c.name}{suffix}" in names:
                    errs.append(
                        FieldError(
                            f"spec.{key}[{i}].name",
                            f"HotUpgrade injects {c.name}{suffix}, which another container is named",
                        )
                    )
    return errs


def _validate_resources_policy(
    container: scs.SidecarContainer, raw: Mapping[str, Any], path: str, *, init: bool
) -> list[FieldError]:
    rp = container.resources_policy
    if rp is None:
        return []
    p = f"{path}.resourcesPolicy"
    errs: list[FieldError] = []
    if init and not scs.is_native_sidecar(raw):
        errs.append(
            FieldError(
                p, "resourcesPolicy can only be set on native sidecar init containers (restartPolicy: Always)"
            )
        )
    resources = raw.get("resources") or {}
    if isinstance(resources, Mapping) and (resources.get("limits") or resources.get("requests")):
        errs.append(FieldError(p, "resourcesPolicy and resources cannot be configured together"))
    modes = (scs.TARGET_CONTAINER_MODE_SUM, scs.TARGET_CONTAINER_MODE_MAX)
    if rp.target_containers_mode not in modes:
        errs.append(FieldError(f"{p}.targetContainersMode", supported_values(modes), NOT_SUPPORTED))
    if not rp.target_containers_name_regex:
        errs.append(
            FieldError(
                f"{p}.targetContainersNameRegex", "targetContainersNameRegex can not be empty", REQUIRED
            )
        )
    else:
        reason = go_regexp_error(rp.target_containers_name_regex)
        if reason:
            errs.append(FieldError(f"{p}.targetContainersNameRegex", f"invalid regex pattern: {reason}"))
    expr = rp.resources_expr or scs.ResourceExpr()
    if expr.limits is None and expr.requests is None:
        errs.append(FieldError(f"{p}.resourcesExpr", "at least one of limits or requests must be configured"))
    for part, values in (("limits", expr.limits), ("requests", expr.requests)):
        if values is None:
            continue
        for variable, text in (("cpu", values.cpu), ("memory", values.memory)):
            if text:
                reason = resource_expression_error(text, variable)
                if reason:
                    errs.append(
                        FieldError(
                            f"{p}.resourcesExpr.{part}.{variable}", f"invalid expression {text!r}: {reason}"
                        )
                    )
    return errs


def _whitelist_rules(whitelist: Mapping[str, Any] | Sequence[Any]) -> list[Any]:
    if isinstance(whitelist, Mapping):
        rules = whitelist.get("rules") or []
        return list(rules) if isinstance(rules, list) else []
    return list(whitelist)


def _validate_patch_whitelist(
    sidecarset: Mapping[str, Any],
    patches: list[scs.SidecarSetPatchPodMetadata],
    whitelist: Mapping[str, Any] | Sequence[Any],
) -> list[FieldError]:
    labels = get_path(sidecarset, "metadata", "labels") or {}
    regs: list[re.Pattern[str]] = []
    for rule in _whitelist_rules(whitelist):
        if not isinstance(rule, Mapping):
            continue
        selector = rule.get("selector")
        if selector is not None and not label_selector_matches(selector, labels):
            continue
        for expr in rule.get("allowedAnnotationKeyExprs") or []:
            try:
                regs.append(re.compile(str(expr)))
            except re.error as e:
                return [
                    FieldError(
                        "spec.patchPodMetadata", f"invalid whitelist expression {expr!r}: {e}", REQUIRED
                    )
                ]
    if not regs:
        return [
            FieldError(
                "spec.patchPodMetadata", "sidecarSet patch metadata annotation is not allowed", REQUIRED
            )
        ]
    errs: list[FieldError] = []
    for patch in patches:
        for key in patch.annotations or {}:
            if not any(r.search(key) for r in regs):  # Go's MatchString is a search, not a full match
                errs.append(
                    FieldError(
                        "spec.patchPodMetadata",
                        f"sidecarSet patch metadata annotation({key}) is not allowed",
                        REQUIRED,
                    )
                )
    return errs


def _namespaces_overlap(a: scs.SidecarSetSpec, b: scs.SidecarSetSpec) -> bool:
    """isSidecarSetNamespaceOverlapping (v1beta1, where a v1alpha1 ``namespace`` is a selector on
    ``kubernetes.io/metadata.name``): disjoint only when both selectors are set and cannot overlap."""
    return not (
        a.namespace_selector is not None
        and b.namespace_selector is not None
        and not is_selector_overlapping(a.namespace_selector, b.namespace_selector)
    )


def _validate_sidecarset_conflicts(
    name: str | None,
    spec: scs.SidecarSetSpec,
    raw_spec: Mapping[str, Any],
    others: Iterable[Mapping[str, Any]],
) -> list[FieldError]:
    init_in_others: dict[str, str] = {}
    containers_in_others: dict[str, str] = {}
    volumes_in_others: dict[str, tuple[str, Any]] = {}
    annotations_in_others: dict[str, tuple[str, str]] = {}
    for other in others:
        other_model, parse_errs = _parse(scs.SidecarSet, other)
        if other_model is None or parse_errs:
            continue
        other_name = (other_model.metadata.name if other_model.metadata else None) or ""
        if other_name == name:
            continue
        ospec = other_model.spec or scs.SidecarSetSpec()
        if not (_namespaces_overlap(spec, ospec) and is_selector_overlapping(spec.selector, ospec.selector)):
            continue
        for c in ospec.init_containers or []:
            init_in_others[c.name or ""] = other_name
        for c in ospec.containers or []:
            containers_in_others[c.name or ""] = other_name
        for v in get_path(other, "spec", "volumes") or []:
            if isinstance(v, Mapping):
                volumes_in_others[str(v.get("name"))] = (other_name, v)
        for patch in ospec.patch_pod_metadata or []:
            if patch.patch_policy == scs.PATCH_POLICY_RETAIN:
                continue
            for key in patch.annotations or {}:
                annotations_in_others[key] = (other_name, patch.patch_policy or "")

    errs: list[FieldError] = []
    for i, c in enumerate(spec.init_containers or []):
        if (c.name or "") in init_in_others:
            errs.append(
                FieldError(
                    f"spec.initContainers[{i}].name",
                    f"container {c.name} already exist in {init_in_others[c.name or '']}",
                )
            )
    for i, c in enumerate(spec.containers or []):
        if (c.name or "") in containers_in_others:
            errs.append(
                FieldError(
                    f"spec.containers[{i}].name",
                    f"container {c.name} already exist in {containers_in_others[c.name or '']}",
                )
            )
    for i, v in enumerate(raw_spec.get("volumes") or []):
        if not isinstance(v, Mapping):
            continue
        hit = volumes_in_others.get(str(v.get("name")))
        if hit is not None and _strip_empty(hit[1]) != _strip_empty(v):
            errs.append(
                FieldError(
                    f"spec.volumes[{i}].name",
                    f"volume {v.get('name')} is in conflict with sidecarset {hit[0]}",
                )
            )
    for i, patch in enumerate(spec.patch_pod_metadata or []):
        if patch.patch_policy == scs.PATCH_POLICY_RETAIN:
            continue
        for key in patch.annotations or {}:
            other_hit = annotations_in_others.get(key)
            if other_hit is None:
                continue
            if scs.PATCH_POLICY_OVERWRITE in (patch.patch_policy, other_hit[1]):
                errs.append(
                    FieldError(
                        f"spec.patchPodMetadata[{i}].annotations",
                        f"annotation {key} is in conflict with sidecarset {other_hit[0]}",
                    )
                )
    return errs


def _validate_sidecarset_spec(
    obj: Mapping[str, Any],
    spec: scs.SidecarSetSpec,
    revision_exists: Callable[[str], bool] | None,
    patch_metadata_whitelist: Mapping[str, Any] | Sequence[Any] | None,
) -> list[FieldError]:
    errs: list[FieldError] = []
    raw_spec: Mapping[str, Any] = obj.get("spec") or {}
    # Beyond OpenKruise (reliability tier, bad input): a negative history limit has no meaning,
    # and an unknown update strategy type would silently act as RollingUpdate.
    errs.extend(_non_negative(spec.revision_history_limit, "spec.revisionHistoryLimit"))
    ust = spec.update_strategy.type if spec.update_strategy else None
    if ust not in (None, "", scs.UPDATE_STRATEGY_ROLLING_UPDATE, scs.UPDATE_STRATEGY_NOT_UPDATE):
        errs.append(
            FieldError(
                "spec.updateStrategy.type",
                f'Unsupported value: "{ust}": supported values: "NotUpdate", "RollingUpdate"',
                NOT_SUPPORTED,
            )
        )

    if spec.selector is None:
        errs.append(FieldError("spec.selector", "no selector defined for SidecarSet", REQUIRED))
    else:
        errs.extend(_validate_sidecarset_selector(spec.selector, "spec.selector"))
    if spec.namespace_selector is not None:
        errs.extend(_validate_sidecarset_selector(spec.namespace_selector, "spec.namespaceSelector"))

    revision = spec.injection_strategy.revision if spec.injection_strategy else None
    if revision is not None:
        p = "spec.injectionStrategy.revision"
        if revision.revision_name is None and revision.custom_version is None:
            errs.append(FieldError(p, "revisionName and customVersion cannot be empty simultaneously"))
        elif revision_exists is not None:
            key = revision.revision_name if revision.revision_name is not None else revision.custom_version
            if not revision_exists(key or ""):
                errs.append(FieldError(p, "Cannot find specific ControllerRevision"))
        if revision.policy not in (None, "", scs.INJECT_REVISION_ALWAYS, scs.INJECT_REVISION_PARTIAL):
            errs.append(
                FieldError(f"{p}.policy", f"Invalid policy {revision.policy}, supported: [Always, Partial]")
            )

    strategy = spec.update_strategy or scs.SidecarSetUpdateStrategy()
    if strategy.type == scs.UPDATE_STRATEGY_ROLLING_UPDATE:
        p = "spec.updateStrategy"
        partition_set = strategy.partition is not None and strategy.partition != 0
        if partition_set and strategy.selector is not None:
            errs.append(FieldError(p, "Partition and Selector cannot be used together"))
        if strategy.selector is not None:
            errs.extend(_validate_sidecarset_selector(strategy.selector, f"{p}.selector"))
        if strategy.partition is not None:
            errs.extend(validate_positive_int_or_percent(strategy.partition, f"{p}.partition"))
        if strategy.max_unavailable is not None:
            errs.extend(validate_positive_int_or_percent(strategy.max_unavailable, f"{p}.maxUnavailable"))
        msg = priority_strategy_error(strategy.priority_strategy)
        if msg:
            errs.append(FieldError(f"{p}.priorityStrategy", msg, REQUIRED))
        seen_terms: set[tuple[str, str]] = set()
        for term in strategy.scatter_strategy or []:
            if not term.key:
                errs.append(FieldError(f"{p}.scatterStrategy", "key should not be empty", REQUIRED))
                break
            ident = (term.key, term.value or "")
            if ident in seen_terms:
                errs.append(
                    FieldError(
                        f"{p}.scatterStrategy",
                        f"duplicated key={term.key} value={term.value or ''}",
                        REQUIRED,
                    )
                )
                break
            seen_terms.add(ident)
    # Beyond OpenKruise: native sidecar init containers (restartPolicy: Always) are allowed with
    # RollingUpdate; OpenKruise says "The initContainer in-place upgrade is not currently supported."

    errs.extend(validate_volumes(raw_spec.get("volumes"), "spec.volumes"))
    raw_inits = raw_spec.get("initContainers") or []
    raw_containers = raw_spec.get("containers") or []
    if not raw_inits and not raw_containers:
        errs.append(FieldError("spec", "no initContainer or container defined for SidecarSet", REQUIRED))
    else:
        for i, c in enumerate(spec.containers or []):
            p = f"spec.containers[{i}]"
            if c.pod_inject_policy not in (scs.POD_INJECT_BEFORE_APP, scs.POD_INJECT_AFTER_APP):
                errs.append(FieldError(f"{p}.podInjectPolicy", "unsupported pod inject policy"))
            share = c.share_volume_policy.type if c.share_volume_policy else None
            if share not in (scs.SHARE_VOLUME_ENABLED, scs.SHARE_VOLUME_DISABLED):
                errs.append(FieldError(f"{p}.shareVolumePolicy", "unsupported share volume policy"))
            for j, env in enumerate(c.transfer_env or []):
                ref = env.source_container_name_from.field_ref if env.source_container_name_from else None
                if ref is not None:
                    errs.extend(
                        _validate_field_ref(ref, f"{p}.transferEnv[{j}].sourceContainerNameFrom.fieldRef")
                    )
            errs.extend(_validate_resources_policy(c, raw_containers[i], p, init=False))
        for i, c in enumerate(spec.init_containers or []):
            errs.extend(_validate_resources_policy(c, raw_inits[i], f"spec.initContainers[{i}]", init=True))
        errs.extend(_validate_hot_upgrade(spec))
        volumes = volume_names(raw_spec.get("volumes"))
        names: set[str] = set()
        errs.extend(
            validate_containers(raw_inits, "spec.initContainers", volumes, init=True, seen_names=names)
        )
        errs.extend(validate_containers(raw_containers, "spec.containers", volumes, seen_names=names))

    patches = spec.patch_pod_metadata or []
    if patches and patch_metadata_whitelist is not None:
        errs.extend(_validate_patch_whitelist(obj, patches, patch_metadata_whitelist))
    seen_keys: set[str] = set()
    for i, patch in enumerate(patches):
        p = f"spec.patchPodMetadata[{i}]"
        if not patch.annotations:
            errs.append(FieldError(f"{p}.annotations", "no annotations defined for SidecarSet", REQUIRED))
        else:
            errs.extend(validate_annotations(patch.annotations, f"{p}.annotations"))
        if not patch.patch_policy:
            errs.append(
                FieldError(f"{p}.patchPolicy", "no patchPolicy defined for patchPodMetadata", REQUIRED)
            )
        for key in patch.annotations or {}:
            if key in seen_keys:
                errs.append(
                    FieldError(f"{p}.annotations", f"patch annotation[{key}] already exist", REQUIRED)
                )
            seen_keys.add(key)
    return errs


def validate_sidecarset(
    new: Mapping[str, Any],
    old: Mapping[str, Any] | None = None,
    others: Iterable[Mapping[str, Any]] = (),
    revision_exists: Callable[[str], bool] | None = None,
    *,
    patch_metadata_whitelist: Mapping[str, Any] | Sequence[Any] | None = None,
    apply_defaults: bool = True,
) -> list[FieldError]:
    """Validate a SidecarSet create (``old=None``) or update, in either version: v1alpha1 objects
    are converted to v1beta1 first, as OpenKruise's webhook sees them (field paths are v1beta1's).

    - ``others``: the other SidecarSets in the cluster (for the conflict rules); the object itself
      (same name) is skipped.
    - ``revision_exists(key)``: does the ControllerRevision of ``injectionStrategy.revision`` exist?
      Called with ``revisionName`` when set, else with ``customVersion``. None skips the check.
    - ``patch_metadata_whitelist``: the parsed ``SidecarSet_PatchPodMetadata_WhiteList`` value
      (``{"rules": [{"selector": ..., "allowedAnnotationKeyExprs": [...]}]}``) or its rule list.
      None allows every key (OpenKruise rejects all without a whitelist; see docs/sdk.md).
    """
    new = _v1beta1(new) or {}
    old = _v1beta1(old)
    others = [o for x in others if (o := _v1beta1(x)) is not None]
    if apply_defaults:
        new = default_sidecarset(new, set_hash=False)
        old = default_sidecarset(old, set_hash=False) if old is not None else None
        others = [default_sidecarset(o, set_hash=False) for o in others]
    model, errs = _parse(scs.SidecarSet, new)
    if model is None:
        return errs
    errs.extend(validate_object_meta(new.get("metadata"), _sidecarset_name, namespaced=False))
    spec = model.spec or scs.SidecarSetSpec()
    errs.extend(_validate_sidecarset_spec(new, spec, revision_exists, patch_metadata_whitelist))

    if old is not None:
        old_model, _ = _parse(scs.SidecarSet, old)
        old_spec = (old_model.spec if old_model else None) or scs.SidecarSetSpec()
        old_types = {
            c.name or "": (c.upgrade_strategy.upgrade_type if c.upgrade_strategy else None) or ""
            for c in old_spec.containers or []
        }
        for i, c in enumerate(spec.containers or []):
            name = c.name or ""
            if name not in old_types:
                errs.append(FieldError(f"spec.containers[{i}].name", f"container {name} is not found"))
                continue
            new_type = (c.upgrade_strategy.upgrade_type if c.upgrade_strategy else None) or ""
            if old_types[name] and new_type != old_types[name]:
                errs.append(
                    FieldError(
                        f"spec.containers[{i}].upgradeStrategy.upgradeType",
                        f"container {name} upgradeType is immutable",
                    )
                )

    own_name = model.metadata.name if model.metadata else None
    errs.extend(_validate_sidecarset_conflicts(own_name, spec, new.get("spec") or {}, others))
    return errs
