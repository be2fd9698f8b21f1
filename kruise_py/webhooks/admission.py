"""Admission decisions for our kinds: defaulting (mutating) and validation, on plain dicts.

The rules themselves live in ``kruise_py.api``; this module only picks the rule set for a kind
and turns violations into one message that names every field path, like the apiserver does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import Counter, Histogram

from ..api import defaults as api_defaults
from ..api import schema_types
from ..api import validation as api_validation

Obj = dict[str, Any]

ADMISSION_LATENCY = Histogram(
    "kruise_py_webhook_admission_duration_seconds",
    "Time spent deciding an admission request, by webhook.",
    ["webhook"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
ADMISSION_TOTAL = Counter(
    "controller_runtime_webhook_requests_total",
    "Total number of admission requests by webhook and HTTP-like result code.",
    ["webhook", "code"],
)

DEFAULTERS: dict[str, Callable[[Obj], Obj]] = {
    "statefulsets": api_defaults.default_statefulset,
    "broadcastjobs": api_defaults.default_broadcastjob,
    "sidecarsets": api_defaults.default_sidecarset,
}
KINDS = {"statefulsets": "StatefulSet", "broadcastjobs": "BroadcastJob", "sidecarsets": "SidecarSet"}


class Denied(Exception):
    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


def format_errors(kind: str, name: str, errors: Iterable[Any]) -> str:
    """``StatefulSet.apps.kruise.io "web" is invalid: [spec.x: msg, spec.y: msg]`` (apiserver style)."""
    parts = [f"{e.path}: {e.message}" for e in errors]
    body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return f'{kind}.apps.kruise.io "{name}" is invalid: {body}'


def check_types(plural: str, obj: Obj, crd: Obj | None) -> None:
    """Raise :class:`Denied` naming every field whose JSON type the CRD's schema does not allow
    (nothing to check without the CRD: the apiserver's schema validation still answers)."""
    errs = schema_types.object_type_errors(obj, crd) if crd else []
    if errs:
        ADMISSION_TOTAL.labels(f"mutate-{plural}", "422").inc()
        raise Denied(format_errors(KINDS[plural], obj.get("metadata", {}).get("name", ""), errs))


def default(plural: str, obj: Obj) -> Obj:
    """Apply OpenKruise's defaults in place (the caller diffs to build the JSON patch)."""
    with ADMISSION_LATENCY.labels(f"mutate-{plural}").time():
        out = DEFAULTERS[plural](obj)
    if out is not obj:  # defaulters may return a new dict; keep the caller's object authoritative
        obj.clear()
        obj.update(out)
    ADMISSION_TOTAL.labels(f"mutate-{plural}", "200").inc()
    return obj


def validate(
    plural: str,
    new: Obj,
    old: Obj | None,
    *,
    others: list[Obj] | None = None,
    revision_exists: Callable[[str], bool] | None = None,
    storage_class: api_validation.StorageClassLookup | None = None,
) -> None:
    """Raise :class:`Denied` naming every violated rule with its field path."""
    t0 = time.perf_counter()
    if plural == "statefulsets":
        errs = api_validation.validate_statefulset(new, old, storage_class=storage_class)
    elif plural == "broadcastjobs":
        errs = api_validation.validate_broadcastjob(new, old)
    elif plural == "sidecarsets":
        errs = api_validation.validate_sidecarset(
            new, old, others=others or [], revision_exists=revision_exists
        )
    else:
        raise Denied(f"kruise-py does not validate {plural}", 400)
    ADMISSION_LATENCY.labels(f"validate-{plural}").observe(time.perf_counter() - t0)
    if errs:
        ADMISSION_TOTAL.labels(f"validate-{plural}", "422").inc()
        raise Denied(format_errors(KINDS[plural], new.get("metadata", {}).get("name", ""), errs))
    ADMISSION_TOTAL.labels(f"validate-{plural}", "200").inc()
