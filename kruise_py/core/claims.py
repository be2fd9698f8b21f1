"""PersistentVolumeClaims against their claim templates, as OpenKruise compares them for
``volumeClaimUpdateStrategy: OnPodRollingUpdate`` [pkg/util/pvc/pvc_compare_utils.go,
pkg/controller/statefulset/statefulset_resize_pvc.go].

Plain dicts in, plain answers out. A missing storage quantity counts as zero, like Go's
``ResourceList.Storage()``; an unparsable one too (the apiserver does not store those).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ..api.quantity import parse_quantity

FILE_SYSTEM_RESIZE_PENDING = "FileSystemResizePending"
RESIZING = "Resizing"
# The annotation OpenKruise puts on every claim it resizes: PVC events carrying it wake the set.
OWNED_BY_ASTS_ANNOTATION = "apps.kruise.io/owned-by-asts"


def _get(o: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(o, Mapping):
            return None
        o = o.get(key)
    return o


def quantity(value: Any) -> Fraction:
    if value is None:
        return Fraction(0)
    try:
        return parse_quantity(value)
    except ValueError:
        return Fraction(0)


def requested(claim: Mapping[str, Any]) -> Fraction:
    """``spec.resources.requests.storage`` of a claim or claim template."""
    return quantity(_get(claim, "spec", "resources", "requests", "storage"))


def capacity(claim: Mapping[str, Any]) -> Fraction:
    """``status.capacity.storage``: what the volume (and its file system) provides today."""
    return quantity(_get(claim, "status", "capacity", "storage"))


def compatible_without_size(claim: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """Same access modes (in order) and, when both name one, the same storage class
    (IsClaimCompatibleWithoutSize): the only differences a resize cannot fix."""
    sc_claim = _get(claim, "spec", "storageClassName")
    sc_tmpl = _get(template, "spec", "storageClassName")
    if sc_claim is not None and sc_tmpl is not None and sc_claim != sc_tmpl:
        return False
    return list(_get(claim, "spec", "accessModes") or []) == list(_get(template, "spec", "accessModes") or [])


def needs_expand(claim: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """The claim requests less storage than its template (IsPVCNeedExpand)."""
    return requested(claim) < requested(template)


def matches(claim: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """Nothing to do for this claim (CompareWithCheckFn(..., IsPVCNeedExpand) matched)."""
    return compatible_without_size(claim, template) and not needs_expand(claim, template)


def compatible_and_ready(claim: Mapping[str, Any], template: Mapping[str, Any]) -> tuple[bool, bool]:
    """(compatible: request ≥ template's, ready: capacity ≥ request) — IsPVCCompatibleAndReady.
    A claim whose class or access modes differ is neither."""
    if not compatible_without_size(claim, template):
        return False, False
    return requested(claim) >= requested(template), capacity(claim) >= requested(claim)


def condition_true(claim: Mapping[str, Any], ctype: str) -> bool:
    return any(
        isinstance(c, Mapping) and c.get("type") == ctype and c.get("status") == "True"
        for c in _get(claim, "status", "conditions") or []
    )


def resize_completed(claim: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """The controller side of a resize is done (IsPatchPVCCompleted): the capacity reached the
    request, or only the node's file-system resize is left (FileSystemResizePending), which the
    kubelet finishes while a pod uses the volume."""
    compatible, ready = compatible_and_ready(claim, template)
    return compatible and (ready or condition_true(claim, FILE_SYSTEM_RESIZE_PENDING))
