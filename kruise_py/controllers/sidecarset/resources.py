"""SidecarSet ``resourcesPolicy`` (OpenKruise v1.9): a sidecar's resources computed from the pod's
containers when the pod is created. Pure; called by inject.py.

OpenKruise's pkg/webhook/pod/mutating/sidecarset_resources.go ``applyResourcesPolicy``:

- target containers: the pod's native sidecars (init containers with ``restartPolicy: Always``),
  then its containers, whose name matches ``targetContainersNameRegex`` (Go regexp: unanchored
  search; empty matches all), excluding every container and init container name of the matched
  SidecarSets. None left: the pod is rejected;
- aggregation (``targetContainersMode``): ``sum`` adds up, ``max`` takes the largest. A limit only
  exists when every target has it (one unlimited target makes the aggregate unlimited); a request
  missing on a target counts as 0;
- ``resourcesExpr``: a limit expression is evaluated only when the aggregated limit exists, and a
  request expression always (over 0 when no target has the request); an empty expression sets
  nothing. The result replaces the sidecar's ``resources`` (validation forbids both).

The sidecar gets what OpenKruise's webhook writes, e.g. limits ``cpu: "cpu*50%"`` over targets of
1 and 500m gives ``750m``; ``memory*50%`` over 1Gi gives ``512Mi``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from ...api.quantity import DECIMAL_SI, Quantity, QuantityError, new_quantity, parse
from ...api.resource_expr import ExpressionError, evaluate_resource
from ...api.sidecarset import TARGET_CONTAINER_MODE_MAX, TARGET_CONTAINER_MODE_SUM, is_native_sidecar
from ...core.obj import as_list as _l
from ...core.obj import as_map as _m
from ...core.obj import spec as _spec

Obj = dict[str, Any]
RESOURCES = ("cpu", "memory")


class ResourcesPolicyError(ValueError):
    """The pod cannot be admitted: OpenKruise's webhook rejects it with this message."""


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def target_containers(
    pod: Mapping[str, Any], regex: str, sidecarsets: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """getTargetContainers: native sidecars first, then containers, minus the SidecarSets' names."""
    try:
        pattern = re.compile(regex)
    except re.error as e:
        raise ResourcesPolicyError(
            f"failed to get target containers: invalid regex pattern {_go_quote(regex)}: {e}"
        ) from None
    kruise: set[str] = set()
    for ss in sidecarsets:
        for key in ("initContainers", "containers"):
            kruise |= {str(_m(c).get("name") or "") for c in _l(_spec(ss).get(key))}
    out: list[Mapping[str, Any]] = []
    for key, native_only in (("initContainers", True), ("containers", False)):
        for c in _l(_spec(pod).get(key)):
            c = _m(c)
            name = str(c.get("name") or "")
            if name in kruise or (native_only and not is_native_sidecar(c)):
                continue
            if pattern.search(name):
                out.append(c)
    return out


def _quantity(c: Mapping[str, Any], part: str, resource: str) -> Quantity | None:
    raw = _m(_m(c.get("resources")).get(part)).get(resource)
    if raw is None:
        return None
    try:
        return parse(str(raw))
    except QuantityError as e:
        raise ResourcesPolicyError(f"container {c.get('name')}: resources.{part}.{resource}: {e}") from None


def aggregate(
    containers: Sequence[Mapping[str, Any]], mode: str
) -> tuple[dict[str, Quantity], dict[str, Quantity]]:
    """aggregateResources: (limits, requests) over ``containers``; an unknown mode gives nothing."""
    limits: dict[str, Quantity] = {}
    requests: dict[str, Quantity] = {}
    if mode not in (TARGET_CONTAINER_MODE_SUM, TARGET_CONTAINER_MODE_MAX):
        return limits, requests
    for resource in RESOURCES:
        limit_values = [_quantity(c, "limits", resource) for c in containers]
        request_values = [q for c in containers if (q := _quantity(c, "requests", resource)) is not None]
        if mode == TARGET_CONTAINER_MODE_SUM:
            total = new_quantity(0, DECIMAL_SI)
            for q in limit_values:
                if q is not None:
                    total = total.add(q)
            if all(q is not None for q in limit_values):
                limits[resource] = total
            req = new_quantity(0, DECIMAL_SI)
            for q in request_values:
                req = req.add(q)
            if req.value != 0:
                requests[resource] = req
        else:
            present = [q for q in limit_values if q is not None]
            if present and len(present) == len(limit_values):
                limits[resource] = _largest(present)
            if request_values:
                requests[resource] = _largest(request_values)
    return limits, requests


def _largest(values: Sequence[Quantity]) -> Quantity:
    """The first of the largest values (a later equal one does not replace it)."""
    best = values[0]
    for q in values[1:]:
        if q.value > best.value:
            best = q
    return best


_LABELS = {"cpu": "CPU", "memory": "memory"}


def policy_resources(
    sidecar: Mapping[str, Any], pod: Mapping[str, Any], sidecarsets: Sequence[Mapping[str, Any]]
) -> Obj | None:
    """The ``resources`` of ``sidecar`` under its resourcesPolicy (None without a policy).

    ``pod`` is the pod being created (its own containers), ``sidecarsets`` every SidecarSet injected
    into it. Raises ResourcesPolicyError where OpenKruise rejects the pod.
    """
    policy = sidecar.get("resourcesPolicy")
    if not isinstance(policy, Mapping):
        return None
    regex = str(policy.get("targetContainersNameRegex") or "")
    targets = target_containers(pod, regex, sidecarsets)
    if not targets:
        raise ResourcesPolicyError(f"no containers match the regex pattern {_go_quote(regex)}")
    limits, requests = aggregate(targets, str(policy.get("targetContainersMode") or ""))
    expr = _m(policy.get("resourcesExpr"))
    out: Obj = {}
    for part, aggregated, is_limit in (("limits", limits, True), ("requests", requests, False)):
        exprs = expr.get(part)
        if not isinstance(exprs, Mapping):
            continue
        values: Obj = {}
        for resource in RESOURCES:
            text = str(exprs.get(resource) or "")
            if not text or (is_limit and resource not in aggregated):
                continue  # no expression, or an unlimited aggregate: nothing set
            base = aggregated.get(resource, Quantity(Fraction(0), ""))
            try:
                q = evaluate_resource(text, base, is_limit)
            except ExpressionError as e:
                raise ResourcesPolicyError(
                    f"failed to evaluate {_LABELS[resource]} {part} expression: {e}"
                ) from None
            if q is not None:
                values[resource] = str(q)
        if values:
            out[part] = values
    return out
