"""Types and pure helpers shared by the three kinds.

- ``KubeModel``: base of every model (camelCase aliases, unknown fields kept, ``to_dict``).
- IntOrString: ``int_or_percent`` with explicit rounding (the three controllers round differently).
- LabelSelector: model, ``label_selector_matches``, ``selector_to_string``, ``is_selector_overlapping``.
- UpdatePriorityStrategy, lifecycle hooks, ObjectMeta, conditions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, PlainValidator
from pydantic.alias_generators import to_camel

from .errors import FORBIDDEN, REQUIRED, FieldError
from .naming import is_qualified_name, is_valid_label_value, validate_labels

GROUP = "apps.kruise.io"

# --------------------------------------------------------------------------------------------------
# Base model


class KubeModel(BaseModel):
    """Base for all API models.

    Python attribute names are snake_case; the Kubernetes camelCase names are the aliases.
    ``extra="allow"`` keeps unknown or newer fields so that parse -> dump loses nothing, and every
    field defaults to None so that dumping with ``exclude_none`` gives back exactly what was parsed.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as the Kubernetes API would return it (camelCase keys, unset fields omitted)."""
        return self.model_dump(by_alias=True, exclude_none=True)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Self:
        return cls.model_validate(obj)


def _int_or_string(value: Any) -> int | str:
    # bool is an int subclass; Kubernetes has no such IntOrString. Nothing is coerced.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be an integer or a string (e.g. 3 or '25%')")
    return value


# A Kubernetes IntOrString: an int or a string such as "25%", kept exactly as given.
IntOrString = Annotated[int | str, PlainValidator(_int_or_string)]


# --------------------------------------------------------------------------------------------------
# IntOrString helpers (k8s.io/apimachinery/pkg/util/intstr)

_INT_RE = re.compile(r"^[+-]?[0-9]+$")


def parse_int_or_percent(value: int | str) -> tuple[int, bool]:
    """Return ``(number, is_percent)``. Raises ValueError like intstr's getIntOrPercentValueSafely."""
    if isinstance(value, bool):  # bool is an int subclass; Kubernetes has no such IntOrString
        raise ValueError("invalid type: neither int nor percentage")
    if isinstance(value, int):
        return value, False
    if isinstance(value, str):
        if not value.endswith("%"):
            raise ValueError("invalid type: string is not a percentage")
        digits = value[:-1]
        if not _INT_RE.match(digits):
            raise ValueError(f'invalid value "{value}": strconv.Atoi: parsing "{digits}": invalid syntax')
        return int(digits), True
    raise ValueError("invalid type: neither int nor percentage")


def int_or_percent(value: int | str, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int is returned as is, "N%" is N% of ``total``.

    Rounding is explicit because it differs: ASTS rounds down, SidecarSet and BroadcastJob round up.
    Integer arithmetic, so no float error. Raises ValueError on an invalid value.
    """
    try:
        number, is_percent = parse_int_or_percent(value)
    except ValueError as e:
        raise ValueError(f"invalid value for IntOrString: {e}") from None
    if not is_percent:
        return number
    scaled = number * total
    return -(-scaled // 100) if round_up else scaled // 100


_PERCENT_RE = re.compile(r"^[0-9]+%$")


def validate_positive_int_or_percent(value: Any, path: str) -> list[FieldError]:
    """apps validation ValidatePositiveIntOrPercent: an int >= 0 or a string "N%"."""
    if isinstance(value, str):
        if not _PERCENT_RE.match(value):
            return [
                FieldError(
                    path,
                    "a valid percent string must be a numeric string followed by an ending '%' "
                    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                )
            ]
        return []
    if isinstance(value, int) and not isinstance(value, bool):
        return [] if value >= 0 else [FieldError(path, "must be greater than or equal to 0")]
    return [FieldError(path, "must be an integer or percentage (e.g '5%')")]


# --------------------------------------------------------------------------------------------------
# Label selectors

OP_IN = "In"
OP_NOT_IN = "NotIn"
OP_EXISTS = "Exists"
OP_DOES_NOT_EXIST = "DoesNotExist"
SELECTOR_OPERATORS = (OP_IN, OP_NOT_IN, OP_EXISTS, OP_DOES_NOT_EXIST)


class LabelSelectorRequirement(KubeModel):
    key: str | None = None
    operator: str | None = None
    values: list[str] | None = None


class LabelSelector(KubeModel):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


SelectorLike = LabelSelector | Mapping[str, Any] | None


def _selector_dict(selector: SelectorLike) -> dict[str, Any] | None:
    if selector is None:
        return None
    if isinstance(selector, LabelSelector):
        return selector.to_dict()
    return dict(selector)


def _requirements(selector: Mapping[str, Any]) -> list[tuple[str, str, list[str]]] | None:
    """(key, op, values) for matchLabels (as "=") and matchExpressions; None if malformed."""
    reqs: list[tuple[str, str, list[str]]] = []
    match_labels = selector.get("matchLabels") or {}
    match_expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(match_expressions, list):
        return None
    for k, v in match_labels.items():
        reqs.append((str(k), "=", [str(v)]))
    for expr in match_expressions:
        if not isinstance(expr, Mapping):
            return None
        op = expr.get("operator")
        values = expr.get("values") or []
        if op not in SELECTOR_OPERATORS or not isinstance(values, list):
            return None
        reqs.append((str(expr.get("key") or ""), str(op), [str(x) for x in values]))
    return reqs


def label_selector_matches(selector: SelectorLike, labels: Mapping[str, str] | None) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels).

    A nil selector matches nothing, an empty one matches everything. A malformed selector (unknown
    operator) matches nothing: controllers skip objects whose selector cannot be parsed.
    """
    sel = _selector_dict(selector)
    if sel is None:
        return False
    reqs = _requirements(sel)
    if reqs is None:
        return False
    labels = labels or {}
    for key, op, values in reqs:
        present = key in labels
        if op in ("=", OP_IN):
            if not present or labels[key] not in values:
                return False
        elif op == OP_NOT_IN:
            if present and labels[key] in values:
                return False
        elif op == OP_EXISTS:
            if not present:
                return False
        elif op == OP_DOES_NOT_EXIST and present:
            return False
    return True


def selector_to_string(selector: SelectorLike) -> str:
    """labels.Selector.String(): requirements sorted by key, e.g. ``app=foo,k in (a,b)``.

    This is the form stored in ASTS ``status.labelSelector`` (used by the scale subresource / HPA).
    """
    sel = _selector_dict(selector)
    if sel is None:
        return ""
    reqs = _requirements(sel)
    if reqs is None:
        return ""
    parts: list[tuple[str, str]] = []
    for key, op, values in reqs:
        vals = ",".join(sorted(values))
        if op == "=":
            text = f"{key}={values[0]}"
        elif op == OP_IN:
            text = f"{key} in ({vals})"
        elif op == OP_NOT_IN:
            text = f"{key} notin ({vals})"
        elif op == OP_EXISTS:
            text = key
        else:
            text = f"!{key}"
        parts.append((key, text))
    parts.sort(key=lambda p: p[0])
    return ",".join(text for _, text in parts)


def is_selector_empty(selector: SelectorLike) -> bool:
    sel = _selector_dict(selector)
    if sel is None:
        return True
    return not sel.get("matchLabels") and not sel.get("matchExpressions")


def validate_label_selector(selector: SelectorLike, path: str) -> list[FieldError]:
    """metav1 validation ValidateLabelSelector (keys, values, operators)."""
    sel = _selector_dict(selector)
    if sel is None:
        return []
    errs = validate_labels(sel.get("matchLabels"), f"{path}.matchLabels")
    exprs = sel.get("matchExpressions") or []
    if not isinstance(exprs, list):
        return [*errs, FieldError(f"{path}.matchExpressions", "must be a list")]
    for i, expr in enumerate(exprs):
        p = f"{path}.matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            errs.append(FieldError(p, "must be an object"))
            continue
        op = expr.get("operator")
        values = expr.get("values") or []
        if op in (OP_IN, OP_NOT_IN):
            if not values:
                errs.append(
                    FieldError(
                        f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'", REQUIRED
                    )
                )
        elif op in (OP_EXISTS, OP_DOES_NOT_EXIST):
            if values:
                errs.append(
                    FieldError(
                        f"{p}.values",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                        FORBIDDEN,
                    )
                )
        else:
            errs.append(FieldError(f"{p}.operator", "not a valid selector operator"))
        errs.extend(FieldError(f"{p}.key", m) for m in is_qualified_name(str(expr.get("key") or "")))
        for j, v in enumerate(values if isinstance(values, list) else []):
            errs.extend(FieldError(f"{p}.values[{j}]", m) for m in is_valid_label_value(str(v)))
    return errs


Requirement = tuple[str, str, list[str]]


def _is_disjoint(r1: list[Requirement], r2: list[Requirement]) -> bool:
    # Port of kruise pkg/util/selector.go isDisjoint: key -> candidate values of selector1,
    # with "ALL" standing for "any value" (Exists). matchLabels entries have op "=".
    matched: dict[str, list[str]] = {}
    for key, op, values in r1:
        if op == "=":
            matched[key] = list(values)
    for key, op, values in r1:
        if op == OP_IN:
            matched.setdefault(key, []).extend(values)
        elif op == OP_EXISTS:
            matched[key] = ["ALL"]
    for key, op, values in r2:
        have = matched.get(key)
        if op == "=":
            if have is not None and "ALL" not in have and values[0] not in have:
                return True
        elif op == OP_IN:
            if have is not None and "ALL" not in have and not set(have) & set(values):
                return True
        elif op == OP_NOT_IN:
            if have is not None and set(have) <= set(values):
                return True
        elif op == OP_EXISTS:
            if have is None:
                return True
        elif op == OP_DOES_NOT_EXIST and have is not None:
            return True
    return False


def is_selector_overlapping(selector1: SelectorLike, selector2: SelectorLike) -> bool:
    """kruise util.IsSelectorOverlapping: could one pod match both? ``{a:h}`` vs ``{b:i}`` overlaps.

    Used for SidecarSet conflict checks. A nil selector is treated as empty (overlaps everything);
    a malformed one is treated as overlapping (conservative: report the possible conflict).
    """
    r1 = _requirements(_selector_dict(selector1) or {})
    r2 = _requirements(_selector_dict(selector2) or {})
    if r1 is None or r2 is None:
        return True
    return not (_is_disjoint(r1, r2) or _is_disjoint(r2, r1))


# --------------------------------------------------------------------------------------------------
# UpdatePriorityStrategy (apis/apps/pub/update_priority.go)


class UpdatePriorityOrderTerm(KubeModel):
    ordered_key: str | None = None


class UpdatePriorityWeightTerm(KubeModel):
    weight: int | None = None
    match_selector: LabelSelector | None = None


class UpdatePriorityStrategy(KubeModel):
    order_priority: list[UpdatePriorityOrderTerm] | None = None
    weight_priority: list[UpdatePriorityWeightTerm] | None = None


def priority_strategy_error(strategy: UpdatePriorityStrategy | None) -> str | None:
    """UpdatePriorityStrategy.FieldsValidation: the first problem, or None. Weight 0 passes (P19)."""
    if strategy is None:
        return None
    weights = strategy.weight_priority or []
    orders = strategy.order_priority or []
    if weights and orders:
        return "only one of weightPriority and orderPriority can be used"
    for w in weights:
        weight = w.weight or 0
        if weight < 0 or weight > 100:
            return "weight must be valid number in the range 1-100"
        if is_selector_empty(w.match_selector):
            return "selector can not be empty"
        sel = _selector_dict(w.match_selector) or {}
        if _requirements(sel) is None:
            return "invalid selector: not a valid selector operator"
    for o in orders:
        if not o.ordered_key:
            return "order key can not be empty"
    return None


# --------------------------------------------------------------------------------------------------
# Lifecycle hooks (apis/apps/pub/lifecycle.go)

LIFECYCLE_STATE_KEY = "lifecycle.apps.kruise.io/state"
LIFECYCLE_TIMESTAMP_KEY = "lifecycle.apps.kruise.io/timestamp"
LIFECYCLE_STATE_PREPARING_NORMAL = "PreparingNormal"
LIFECYCLE_STATE_NORMAL = "Normal"
LIFECYCLE_STATE_PREPARING_UPDATE = "PreparingUpdate"
LIFECYCLE_STATE_UPDATING = "Updating"
LIFECYCLE_STATE_UPDATED = "Updated"
LIFECYCLE_STATE_PREPARING_DELETE = "PreparingDelete"


class LifecycleHook(KubeModel):
    labels_handler: dict[str, str] | None = None
    finalizers_handler: list[str] | None = None
    mark_pod_not_ready: bool | None = None


class Lifecycle(KubeModel):
    pre_delete: LifecycleHook | None = None
    in_place_update: LifecycleHook | None = None
    pre_normal: LifecycleHook | None = None


class InPlaceUpdateStrategy(KubeModel):
    """apis/apps/pub InPlaceUpdateStrategy; image pre-download fields are kept as extras."""

    grace_period_seconds: int | None = None


# --------------------------------------------------------------------------------------------------
# Metadata and conditions


class ObjectMeta(KubeModel):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[dict[str, Any]] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[dict[str, Any]] | None = None


class Condition(KubeModel):
    """A status condition (StatefulSetCondition, JobCondition). Times are RFC3339 strings."""

    type: str | None = None
    status: str | None = None
    last_probe_time: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


def copy_json(value: Any) -> Any:
    """Deep copy of JSON-like data. Unlike copy.deepcopy it does not preserve aliasing, so a dict
    that appears twice in the input (easy to do when building objects in Python) becomes two
    independent dicts and defaulting one cannot change the other."""
    if isinstance(value, Mapping):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [copy_json(v) for v in value]
    return value


def copy_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """copy_json for a top-level object."""
    return {k: copy_json(v) for k, v in obj.items()}


def get_path(obj: Any, *keys: str | int) -> Any:
    """obj[k1][k2]... or None when any step is missing or of the wrong type (for untrusted dicts)."""
    cur = obj
    for k in keys:
        if isinstance(k, int):
            if not isinstance(cur, Sequence) or isinstance(cur, str) or not -len(cur) <= k < len(cur):
                return None
            cur = cur[k]
        else:
            if not isinstance(cur, Mapping):
                return None
            cur = cur.get(k)
    return cur
