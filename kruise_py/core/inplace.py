"""The in-place update mechanism (spec §2), pure: plain dicts in, plain data out, no I/O.

OpenKruise: pkg/util/inplaceupdate/inplace_update.go, inplace_update_defaults.go,
inplace_update_vertical.go, apis/apps/pub/inplace_update.go. Used by the Advanced StatefulSet
controller and (later) the SidecarSet controller.

The flow, per pod:

1. :func:`calculate_update_spec` decides from the pod's old ControllerRevision and the new one whether
   the pod can be updated in place, and what to change (:class:`UpdateSpec`; ``None`` = recreate).
2. :func:`start_update` returns the ordered writes that start the update (:class:`PodWrites`):
   the ``InPlaceUpdateReady`` gate False (a pods/status write, only for pods with the gate), then ONE
   pod patch carrying the revision label, the state annotation, the template's metadata changes and
   the new images (or, with a grace period, the deferred spec in the grace annotation, which then
   rides on the gate-False status write).
3. :func:`refresh`, called on every live pod each reconcile, finishes a grace period, waits while the
   kubelet has not finished (:func:`check_completed`), then sets the gate True.

Write budget (design §3): an image update on a gated pod costs exactly three API writes: gate False,
the pod patch, and later gate True. OpenKruise does a GET+UPDATE per step and re-reads the pod;
here the metadata and the ``spec.containers`` changes travel in a single strategic merge patch
(``PodWrites.pod_patch()``), which the API server applies atomically. Label and annotation
changes that must happen with a status write (a grace period's metadata with gate False; the
caller's lifecycle state with gate True) travel in it (``PodWrites.status_metadata``).

Decisions beyond OpenKruise (reported to docs/decisions.md by the caller):

- Resize (``allow_resize``): cpu/memory value changes of existing requests/limits keys go to
  :attr:`UpdateSpec.container_resources` when the template QoS class is unchanged, and are applied
  through the pod ``resize`` subresource (``PodWrites.resize_patch``). Adding or removing a resource
  key is not in-place (as OpenKruise, which only accepts JSON-patch ``replace`` ops). The state keeps
  each resized container's previous cpu/memory in ``lastContainerStatuses[c].resources`` and
  completion waits until the spec differs from it and ``containerStatuses[].resources`` matches spec.
- Image comparison in :func:`check_completed` normalises both references (``:latest`` for untagged
  names, digests and registry ports respected, Docker Hub's ``docker.io/library/`` prefix) instead of
  OpenKruise's ``strings.Split(image, ":")`` test, which misreads ``host:5000/img``.
- kruise-daemon's ``runtime-containers-meta`` hashes are not checked: nothing in kruise-py writes
  them, so an env-from-metadata update is complete by the image rule alone.
- Container launch priorities (``nextContainer*`` batches) are not produced: every changed container
  is updated in one batch. A state written by OpenKruise with pending batches reads as not completed.
- A template label/annotation map that appears (absent → present) still triggers env-from-metadata;
  OpenKruise skips it because its JSON patch then has one ``add`` of the whole map.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Literal, cast

from kruise_py.api import views
from kruise_py.api.quantity import parse_quantity
from kruise_py.api.statefulset import (
    CONTROLLER_REVISION_HASH_LABEL,
    IN_PLACE_UPDATE_READY,
    INPLACE_UPDATE_GRACE_ANNOTATION,
    INPLACE_UPDATE_STATE_ANNOTATION,
)

from . import revisions as rev
from .obj import format_time

# Pods and the state annotation are read through typed views: a misspelled field is a mypy error.
Pod = views.Pod
State = views.InPlaceUpdateState
or_empty, each = views.or_empty, views.each

__all__ = [
    "GRACE_ANNOTATION",
    "INPLACE_UPDATE_READY",
    "LEGACY_GRACE_ANNOTATION",
    "LEGACY_STATE_ANNOTATION",
    "REVISION_LABEL",
    "RUNTIME_CONTAINERS_META_ANNOTATION",
    "STATE_ANNOTATION",
    "PodWrites",
    "UpdateSpec",
    "calculate_update_spec",
    "check_completed",
    "format_time",
    "gate_condition",
    "grace_spec",
    "has_gate",
    "normalize_image",
    "parse_quantity",
    "qos_class",
    "read_state",
    "refresh",
    "start_update",
    "update_in_progress",
]

INPLACE_UPDATE_READY = IN_PLACE_UPDATE_READY
STATE_ANNOTATION = INPLACE_UPDATE_STATE_ANNOTATION
GRACE_ANNOTATION = INPLACE_UPDATE_GRACE_ANNOTATION
LEGACY_STATE_ANNOTATION = "inplace-update-state"
LEGACY_GRACE_ANNOTATION = "inplace-update-grace"
REVISION_LABEL = CONTROLLER_REVISION_HASH_LABEL
RUNTIME_CONTAINERS_META_ANNOTATION = "apps.kruise.io/runtime-containers-meta"

START_REASON = "StartInPlaceUpdate"
READINESS_GATES_NOT_READY = "ReadinessGatesNotReady"

# Resources the resize subresource may change (OpenKruise allowedResizeResourceKey).
RESIZABLE_RESOURCES = ("cpu", "memory")
# Env vars that never count as env-from-metadata (containermeta excludeEnvs).
_EXCLUDED_ENVS = frozenset({"SIDECARSET_VERSION", "SIDECARSET_VERSION_ALT"})

_MISSING: Any = object()

JSON = dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Small helpers


def _parse_time(s: Any) -> datetime | None:
    if not isinstance(s, str) or not s:
        return None
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _go_json(obj: Any) -> str:
    """encoding/json.Marshal's bytes: compact, UTF-8, HTML characters escaped. Dict order is kept,
    so callers build struct fields in declaration order and sort map keys themselves."""
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return (
        s.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _same(a: Any, b: Any) -> bool:
    """JSON equality (Python's == would call True equal to 1)."""
    if a is _MISSING or b is _MISSING:
        return a is b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _get(obj: Mapping[str, Any] | None, *path: str) -> Any:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _dict(v: Any) -> dict[str, Any]:
    return dict(v) if isinstance(v, Mapping) else {}


def _list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, list) else []


# --------------------------------------------------------------------------------------------------
# Quantities and QoS


def _effective_resources(resources: Any) -> dict[str, dict[str, Any]]:
    """cpu/memory requests and limits, requests defaulted from limits as the API server does for pods."""
    res = _dict(resources)
    limits = {k: v for k, v in _dict(res.get("limits")).items() if k in RESIZABLE_RESOURCES}
    requests = {k: v for k, v in _dict(res.get("requests")).items() if k in RESIZABLE_RESOURCES}
    for k, v in limits.items():
        requests.setdefault(k, v)
    out: dict[str, dict[str, Any]] = {}
    if limits:
        out["limits"] = {k: limits[k] for k in sorted(limits)}
    if requests:
        out["requests"] = {k: requests[k] for k in sorted(requests)}
    return out


def _resources_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Quantity-wise equality of two {requests, limits} maps (cpu/memory only)."""
    for kind in ("requests", "limits"):
        ma, mb = _dict(a.get(kind)), _dict(b.get(kind))
        if set(ma) != set(mb):
            return False
        for k in ma:
            try:
                if parse_quantity(ma[k]) != parse_quantity(mb[k]):
                    return False
            except ValueError:
                if not _same(ma[k], mb[k]):
                    return False
    return True


def qos_class(pod_spec: Mapping[str, Any]) -> str:
    """k8s ComputePodQOS over a pod (or template) spec: Guaranteed, Burstable or BestEffort.

    Requests missing for a limited resource default to the limit (pod defaulting); pod-level
    ``spec.resources`` wins when it sets cpu or memory."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True

    def add(res: Any, whole: bool) -> None:
        nonlocal guaranteed
        eff = _effective_resources(res)
        found: set[str] = set()
        for kind, acc in (("requests", requests), ("limits", limits)):
            for name, raw in _dict(eff.get(kind)).items():
                try:
                    q = parse_quantity(raw)
                except ValueError:
                    continue
                if q > 0:
                    acc[name] = acc.get(name, Fraction(0)) + q
                    if kind == "limits":
                        found.add(name)
        if whole and not found >= set(RESIZABLE_RESOURCES):
            guaranteed = False

    pod_level = _effective_resources(pod_spec.get("resources"))
    if pod_level:
        add(pod_spec.get("resources"), True)
    else:
        for c in [*_list(pod_spec.get("containers")), *_list(pod_spec.get("initContainers"))]:
            add(_dict(c).get("resources"), True)
    if not requests and not limits:
        return "BestEffort"
    if guaranteed:
        for name, req in requests.items():
            if limits.get(name) != req:
                guaranteed = False
                break
    if guaranteed and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


# --------------------------------------------------------------------------------------------------
# Images

_DIGEST = re.compile(r"@[A-Za-z0-9_+.-]+:[0-9A-Fa-f]{32,}$")


def normalize_image(ref: str) -> str:
    """Fully qualified image reference: default registry docker.io (with ``library/`` for one-part
    names) and tag ``latest`` unless the reference has a tag or a digest. A ``host:port`` registry
    is not a tag: only a ``:`` after the last ``/`` is."""
    ref = ref.strip()
    name, digest = ref, ""
    at = ref.find("@")
    if at >= 0:
        name, digest = ref[:at], ref[at:]
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon:]
    parts = name.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if len(parts) == 1:
            parts = ["library", *parts]
        parts = ["docker.io", *parts]
    if parts[0] == "index.docker.io":
        parts[0] = "docker.io"
    if not tag and not digest:
        tag = ":latest"
    return "/".join(parts) + tag + digest


def _images_match(spec_image: str, status_image: str) -> bool:
    if spec_image == status_image:
        return True
    return normalize_image(spec_image) == normalize_image(status_image)


# --------------------------------------------------------------------------------------------------
# UpdateSpec


@dataclass
class UpdateSpec:
    """What an in-place update changes (OpenKruise UpdateSpec)."""

    revision: str
    # container name -> new image
    container_images: dict[str, str] = field(default_factory=dict)
    # container name -> new {"requests": {...}, "limits": {...}} (cpu/memory, requests defaulted from
    # limits) — beyond OpenKruise's default: only with allow_resize, applied via the resize subresource
    container_resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    # container name -> {"labels": {...}, "annotations": {...}}: env-from-metadata keys it references
    container_ref_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    # merge patch on pod metadata ({"labels": {k: v | None}, "annotations": {...}, ...})
    metadata_patch: dict[str, Any] = field(default_factory=dict)
    update_env_from_metadata: bool = False
    grace_seconds: int = 0

    def is_vertical_only(self) -> bool:
        """Only resources change: OpenKruise then keeps the pod Ready (no gate False)."""
        return (
            bool(self.container_resources) and not self.container_images and not self.update_env_from_metadata
        )

    def to_json(self) -> str:
        """The grace-annotation JSON, byte-compatible with Go's json.Marshal(UpdateSpec)."""
        out: dict[str, Any] = {"revision": self.revision}
        if self.container_images:
            out["containerImages"] = {k: self.container_images[k] for k in sorted(self.container_images)}
        if self.container_ref_metadata:
            ref: dict[str, Any] = {}
            for name in sorted(self.container_ref_metadata):
                meta = self.container_ref_metadata[name]
                # metav1.ObjectMeta: zero creationTimestamp marshals as null; labels before annotations.
                m: dict[str, Any] = {"creationTimestamp": None}
                for key in ("labels", "annotations"):
                    vals = _dict(meta.get(key))
                    if vals:
                        m[key] = {k: vals[k] for k in sorted(vals)}
                ref[name] = m
            out["containerRefMetadata"] = ref
        if self.container_resources:
            res: dict[str, Any] = {}
            for name in sorted(self.container_resources):
                r = self.container_resources[name]
                rr: dict[str, Any] = {}
                for key in ("limits", "requests"):
                    vals = _dict(r.get(key))
                    if vals:
                        rr[key] = {k: vals[k] for k in sorted(vals)}
                res[name] = rr
            out["containerResources"] = res
        if self.metadata_patch:
            raw = json.dumps({"metadata": self.metadata_patch}, sort_keys=True, separators=(",", ":"))
            out["metaDataPatch"] = base64.b64encode(raw.encode()).decode()
        if self.update_env_from_metadata:
            out["updateEnvFromMetadata"] = True
        if self.grace_seconds:
            out["graceSeconds"] = self.grace_seconds
        return _go_json(out)

    @classmethod
    def from_json(cls, text: str | bytes) -> UpdateSpec:
        """Parse the grace-annotation JSON (ours or OpenKruise's); ValueError when malformed."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as e:
            raise ValueError(f"invalid in-place update spec: {e}") from e
        if not isinstance(data, dict):
            raise ValueError("invalid in-place update spec: not an object")
        patch: dict[str, Any] = {}
        raw_patch = data.get("metaDataPatch")
        if raw_patch:
            try:
                decoded = json.loads(base64.b64decode(raw_patch))
            except (TypeError, ValueError) as e:
                raise ValueError(f"invalid metaDataPatch: {e}") from e
            patch = _dict(_dict(decoded).get("metadata"))
        ref = {
            name: {
                k: dict(v)
                for k in ("labels", "annotations")
                if isinstance(v := _dict(meta).get(k), dict) and v
            }
            for name, meta in _dict(data.get("containerRefMetadata")).items()
        }
        resources = {
            name: {k: dict(v) for k in ("requests", "limits") if isinstance(v := _dict(r).get(k), dict) and v}
            for name, r in _dict(data.get("containerResources")).items()
        }
        return cls(
            revision=str(data.get("revision") or ""),
            container_images={str(k): str(v) for k, v in _dict(data.get("containerImages")).items()},
            container_resources=resources,
            container_ref_metadata=ref,
            metadata_patch=patch,
            update_env_from_metadata=bool(data.get("updateEnvFromMetadata")),
            grace_seconds=int(data.get("graceSeconds") or 0),
        )


# --------------------------------------------------------------------------------------------------
# calculate_update_spec (defaultCalculateInPlaceUpdateSpec[WithVerticalUpdate])


def _revision_data(revision: Mapping[str, Any]) -> dict[str, Any] | None:
    """The revision's data in its Go shape (``revisions.revision_content``): a revision OpenKruise
    wrote and one an older kruise-py wrote for the same template are then identical, so their diff
    is empty (OpenKruise's diff of the raw bytes would see ``resources: {}`` appear and recreate)."""
    if not isinstance(rev.revision_data_of(revision), Mapping):
        return None
    data = json.loads(rev.revision_content(revision))
    return data if isinstance(data, dict) else None


def _split_subscripted(field_path: str) -> tuple[str, str] | None:
    """k8s fieldpath.SplitMaybeSubscriptedPath: "metadata.labels['k']" -> ("metadata.labels", "k")."""
    if not field_path.endswith("']"):
        return None
    parts = field_path[:-2].split("['", 1)
    if len(parts) < 2 or not parts[0]:
        return None
    return parts[0], parts[1]


def _references_meta(container: Mapping[str, Any], path: str, key: str) -> bool:
    """containermeta.IsContainerReferenceToMeta."""
    for env in _list(container.get("env")):
        env = _dict(env)
        field_path = _get(env, "valueFrom", "fieldRef", "fieldPath")
        if env.get("value") or not isinstance(field_path, str) or env.get("name") in _EXCLUDED_ENVS:
            continue
        split = _split_subscripted(field_path)
        if split == (path, key):
            return True
    return False


def _diff_resources(old: Any, new: Any) -> dict[str, Any] | None:
    """The resize-able change between two container ``resources``: {} when equal, the new effective
    cpu/memory requests/limits when only their values changed, None when anything else changed."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return None  # resources added or removed as a whole
    o, n = dict(old), dict(new)
    changed = False
    for key in set(o) | set(n):
        ov, nv = o.get(key, _MISSING), n.get(key, _MISSING)
        if _same(ov, nv):
            continue
        if key not in ("requests", "limits") or ov is _MISSING or nv is _MISSING:
            return None
        om, nm = _dict(ov), _dict(nv)
        if not isinstance(ov, Mapping) or not isinstance(nv, Mapping) or set(om) != set(nm):
            return None  # a whole map or a key added/removed: not a "replace" op
        for name in om:
            if _same(om[name], nm[name]):
                continue
            if name not in RESIZABLE_RESOURCES:
                return None
            try:
                if parse_quantity(om[name]) != parse_quantity(nm[name]):
                    changed = True
            except ValueError:
                return None
    return _effective_resources(n) if changed else {}


def calculate_update_spec(
    old_revision: Mapping[str, Any] | None,
    new_revision: Mapping[str, Any],
    *,
    allow_resize: bool = False,
    env_from_metadata: bool = True,
    grace_seconds: int = 0,
) -> UpdateSpec | None:
    """Spec §2.2: the in-place update from ``old_revision`` (the pod's own revision) to ``new_revision``,
    or None when the pod must be recreated.

    Walks the two templates instead of building an RFC 6902 patch, with the same decision: template
    metadata may change freely; under ``spec`` only ``containers[i].image`` may change (container
    matched by index, named after the OLD template), plus — with ``allow_resize`` — cpu/memory values
    of existing ``containers[i].resources`` requests/limits keys if the QoS class stays the same."""
    if old_revision is None or new_revision is None:
        return None
    old_data, new_data = _revision_data(old_revision), _revision_data(new_revision)
    if old_data is None or new_data is None:
        return None
    # Anything outside spec.template differing is a patch op outside /spec/template -> not in place.
    for key in set(old_data) | set(new_data):
        if key == "spec":
            continue
        if not _same(old_data.get(key, _MISSING), new_data.get(key, _MISSING)):
            return None
    old_outer, new_outer = old_data.get("spec"), new_data.get("spec")
    if not isinstance(old_outer, Mapping) or not isinstance(new_outer, Mapping):
        return None
    for key in set(old_outer) | set(new_outer):
        if key != "template" and not _same(old_outer.get(key, _MISSING), new_outer.get(key, _MISSING)):
            return None
    old_t, new_t = old_outer.get("template"), new_outer.get("template")
    if not isinstance(old_t, Mapping) or not isinstance(new_t, Mapping):
        return None
    for key in set(old_t) | set(new_t):
        if key not in ("metadata", "spec") and not _same(old_t.get(key, _MISSING), new_t.get(key, _MISSING)):
            return None

    update = UpdateSpec(
        revision=str(_get(new_revision, "metadata", "name") or ""), grace_seconds=grace_seconds
    )

    # ---- spec: only images (and, with allow_resize, cpu/memory values)
    old_spec, new_spec = _dict(old_t.get("spec")), _dict(new_t.get("spec"))
    for key in set(old_spec) | set(new_spec):
        if key != "containers" and not _same(old_spec.get(key, _MISSING), new_spec.get(key, _MISSING)):
            return None
    old_cs, new_cs = old_spec.get("containers", _MISSING), new_spec.get("containers", _MISSING)
    if not _same(old_cs, new_cs):
        if not isinstance(old_cs, list) or not isinstance(new_cs, list) or len(old_cs) != len(new_cs):
            return None  # containers added or removed
        for oc_raw, nc_raw in zip(old_cs, new_cs, strict=True):
            oc, nc = _dict(oc_raw), _dict(nc_raw)
            name = str(oc.get("name") or "")
            for key in set(oc) | set(nc):
                ov, nv = oc.get(key, _MISSING), nc.get(key, _MISSING)
                if _same(ov, nv):
                    continue
                if key == "image" and isinstance(ov, str) and isinstance(nv, str):
                    update.container_images[name] = nv
                elif key == "resources" and allow_resize:
                    resized = _diff_resources(oc.get("resources"), nc.get("resources"))
                    if resized is None:
                        return None
                    if resized:
                        update.container_resources[name] = resized
                else:
                    return None
        if update.container_resources and qos_class(old_spec) != qos_class(new_spec):
            return None

    # ---- metadata: always allowed; env-from-metadata keys move to container_ref_metadata
    old_meta, new_meta = _dict(old_t.get("metadata")), _dict(new_t.get("metadata"))
    dropped: dict[str, set[str]] = {"labels": set(), "annotations": set()}
    if env_from_metadata:
        containers = [_dict(c) for c in _list(new_spec.get("containers"))]
        for kind in ("labels", "annotations"):
            old_map, new_map = _dict(old_meta.get(kind)), _dict(new_meta.get(kind))
            for key, value in new_map.items():
                if key in old_map and _same(old_map[key], value):
                    continue  # only "add" and "replace" ops count, not "remove"
                for c in containers:
                    if not _references_meta(c, f"metadata.{kind}", key):
                        continue
                    ref = update.container_ref_metadata.setdefault(str(c.get("name") or ""), {})
                    ref.setdefault(kind, {})[key] = value
                    dropped[kind].add(key)
                    update.update_env_from_metadata = True
    patch: dict[str, Any] = {}
    for key in set(old_meta) | set(new_meta):
        ov, nv = old_meta.get(key, _MISSING), new_meta.get(key, _MISSING)
        if key in ("labels", "annotations"):
            old_map, new_map = _dict(ov), _dict(nv)
            changes: dict[str, Any] = {}
            for k in sorted(set(old_map) | set(new_map)):
                if k in dropped[key]:
                    continue
                if k not in new_map:
                    changes[k] = None
                elif k not in old_map or not _same(old_map[k], new_map[k]):
                    changes[k] = new_map[k]
            if changes:
                patch[key] = changes
        elif not _same(ov, nv):
            patch[key] = None if nv is _MISSING else nv
    update.metadata_patch = {k: patch[k] for k in sorted(patch)}
    return update


# --------------------------------------------------------------------------------------------------
# Pod accessors


def _spec(pod: Pod) -> views.PodSpec:
    return or_empty(pod.get("spec"))


def _status(pod: Pod) -> views.PodStatus:
    return or_empty(pod.get("status"))


def _annotations(pod: Pod) -> dict[str, str]:
    return or_empty(views.meta(pod).get("annotations"))


def has_gate(pod: Pod) -> bool:
    """The pod lists InPlaceUpdateReady in spec.readinessGates."""
    return any(g.get("conditionType") == INPLACE_UPDATE_READY for g in each(_spec(pod).get("readinessGates")))


def _condition(pod: Pod, ctype: str) -> views.PodCondition | None:
    for c in each(_status(pod).get("conditions")):
        if c.get("type") == ctype:
            return c.copy()
    return None


def gate_condition(pod: Pod) -> views.PodCondition | None:
    """The pod's current InPlaceUpdateReady condition (a copy), if any."""
    return _condition(pod, INPLACE_UPDATE_READY)


def _annotation(pod: Pod, key: str, legacy: str) -> str | None:
    ann = _annotations(pod)
    if key in ann:
        return str(ann[key])
    if legacy in ann:
        return str(ann[legacy])
    return None


def read_state(pod: Pod) -> State | None:
    """The parsed state annotation (new key, else the legacy one); None when absent or unparsable."""
    raw = _annotation(pod, STATE_ANNOTATION, LEGACY_STATE_ANNOTATION)
    if raw is None:
        return None
    try:
        state = json.loads(raw)
    except ValueError:
        return None
    # Parsed JSON, taken to have the state's shape (its readers tolerate odd field values).
    return cast(State, state) if isinstance(state, dict) else None


def grace_spec(pod: Pod) -> UpdateSpec | None:
    """The UpdateSpec deferred in the grace annotation; None when absent or unparsable."""
    raw = _annotation(pod, GRACE_ANNOTATION, LEGACY_GRACE_ANNOTATION)
    if raw is None:
        return None
    try:
        return UpdateSpec.from_json(raw)
    except ValueError:
        return None


def _has_grace(pod: Pod) -> bool:
    return _annotation(pod, GRACE_ANNOTATION, LEGACY_GRACE_ANNOTATION) is not None


# --------------------------------------------------------------------------------------------------
# Writes


@dataclass
class PodWrites:
    """The API writes of one step, as plain data. Each non-None field is one write, except that
    ``metadata_patch`` and ``spec_patch`` are sent together as ONE pod patch (``pod_patch()``).

    - ``status_conditions``: whole conditions for the pods/status subresource (strategic merge by
      type: send ``status_patch()``; ``reason``/``message`` are always present, "" clearing them).
    - ``status_metadata``: ``{"labels": ..., "annotations": ...}`` sent in that same pods/status
      write: the apiserver's pod status strategy resets only spec, deletionTimestamp and
      ownerReferences, so labels and annotations change with the conditions at no extra write.
    - ``metadata_patch``: ``{"metadata": {"labels": {...}, "annotations": {...}}}`` (None deletes).
    - ``spec_patch``: ``{"spec": {"containers": [{"name": ..., "image": ...}]}}`` (merge by name).
    - ``resize_patch``: ``{"spec": {"containers": [{"name": ..., "resources": ...}]}}`` for the pod
      ``resize`` subresource (send it after the pod patch; completion waits for it either way).
    - ``requeue_after``: seconds after which the owner should be reconciled again.
    """

    status_conditions: list[views.PodCondition] | None = None
    status_metadata: dict[str, Any] | None = None
    metadata_patch: dict[str, Any] | None = None
    spec_patch: dict[str, Any] | None = None
    resize_patch: dict[str, Any] | None = None
    requeue_after: float | None = None

    def pod_patch(self) -> dict[str, Any] | None:
        """The single strategic merge patch for the pod: metadata and spec.containers together."""
        if self.metadata_patch is None and self.spec_patch is None:
            return None
        out: dict[str, Any] = {}
        out.update(self.metadata_patch or {})
        out.update(self.spec_patch or {})
        return out

    def status_patch(self) -> dict[str, Any] | None:
        """The strategic merge patch for pods/status (conditions merge by type)."""
        if not self.status_conditions:
            return None
        out: dict[str, Any] = {"status": {"conditions": list(self.status_conditions)}}
        if self.status_metadata:
            out = {"metadata": dict(self.status_metadata), **out}
        return out

    def carry_metadata(self, meta: Mapping[str, Any]) -> bool:
        """Add label/annotation changes (``{"labels": ..., "annotations": ...}``) to a write this step
        already makes (the status write, else the pod patch); False when it makes neither."""
        if self.status_conditions:
            target = self.status_metadata = dict(self.status_metadata or {})
        elif self.pod_patch() is not None:
            self.metadata_patch = dict(self.metadata_patch or {})
            target = self.metadata_patch["metadata"] = dict(self.metadata_patch.get("metadata") or {})
        else:
            return False
        for key in ("labels", "annotations"):
            if meta.get(key):
                target[key] = {**(target.get(key) or {}), **meta[key]}
        return True

    def write_count(self) -> int:
        """API writes this step costs (the pod patch counts once)."""
        return bool(self.status_conditions) + (self.pod_patch() is not None) + (self.resize_patch is not None)


def _ready_message(pod: Pod, override: views.PodCondition) -> str:
    """The kubelet's ReadinessGatesNotReady message (pkg/util/pods.go SetPodReadyCondition)."""
    msgs: list[str] = []
    for gate in each(_spec(pod).get("readinessGates")):
        gtype = gate.get("conditionType")
        cond = override if gtype == override.get("type") else _condition(pod, str(gtype))
        if cond is None:
            msgs.append(f'corresponding condition of pod readiness gate "{gtype}" does not exist.')
        elif cond.get("status") != "True":
            msgs.append(f'the status of pod readiness gate "{gtype}" is not "True", but {cond.get("status")}')
    return ", ".join(msgs)


def _gate_false_conditions(pod: Pod, now: datetime) -> list[views.PodCondition]:
    """Step 1 of §2.3: gate False (StartInPlaceUpdate) plus the recomputed Ready condition.

    Empty when the gate already says False/StartInPlaceUpdate with no message (hasEqualCondition)."""
    gate: views.PodCondition = {
        "type": INPLACE_UPDATE_READY,
        "status": "False",
        "reason": START_REASON,
        "message": "",
        "lastTransitionTime": format_time(now),
    }
    current = gate_condition(pod)
    if (
        current is not None
        and current.get("status") == "False"
        and (current.get("reason") or "") == START_REASON
        and not current.get("message")
    ):
        return []
    out = [gate]
    ready = _condition(pod, "Ready")
    containers_ready = _condition(pod, "ContainersReady")
    # SetPodReadyCondition only acts on a pod that has Ready and whose containers are ready; SetPodCondition
    # only replaces a condition whose status changes.
    if ready is not None and containers_ready is not None and containers_ready.get("status") == "True":
        message = _ready_message(pod, gate)
        if message and ready.get("status") != "False":
            out.append(
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": READINESS_GATES_NOT_READY,
                    "message": message,
                    "lastTransitionTime": format_time(now),
                }
            )
    return out


def _needs_unready(pod: Pod, spec: UpdateSpec) -> bool:
    """defaultCheckPodNeedsBeUnready: pods with the gate go NotReady, except for a resources-only update
    that restarts no container (no changed resource has resizePolicy RestartContainer)."""
    if not has_gate(pod):
        return False
    if not spec.is_vertical_only():
        return True
    for c in each(_spec(pod).get("containers")):
        target = spec.container_resources.get(str(c.get("name") or ""))
        if target is None:
            continue
        current = _effective_resources(c.get("resources"))
        changed = {
            res
            for kind in ("requests", "limits")
            for res in RESIZABLE_RESOURCES
            if not _resources_equal(
                {kind: {res: _dict(current.get(kind)).get(res)}},
                {kind: {res: _dict(target.get(kind)).get(res)}},
            )
        }
        for policy in each(c.get("resizePolicy")):
            if policy.get("restartPolicy") == "RestartContainer" and policy.get("resourceName") in changed:
                return True
    return False


def _container_status(pod: Pod, name: str) -> views.ContainerStatus | None:
    for cs in each(_status(pod).get("containerStatuses")):
        if cs.get("name") == name:
            return cs.copy()
    return None


_STATE_FLAGS: tuple[Literal["updateEnvFromMetadata", "updateResources", "updateImages"], ...] = (
    "updateEnvFromMetadata",
    "updateResources",
    "updateImages",
)
_STATE_NEXT: tuple[
    Literal["nextContainerImages", "nextContainerRefMetadata", "nextContainerResources"], ...
] = ("nextContainerImages", "nextContainerRefMetadata", "nextContainerResources")
_STATE_CARRIED: tuple[
    Literal[
        "nextContainerImages", "nextContainerRefMetadata", "nextContainerResources", "preCheckBeforeNext"
    ],
    ...,
] = (*_STATE_NEXT, "preCheckBeforeNext")


def _state_json(state: State) -> str:
    """InPlaceUpdateState in Go field order; empty maps, false flags and nils omitted."""
    out: dict[str, Any] = {
        "revision": state.get("revision", ""),
        "updateTimestamp": state.get("updateTimestamp"),
    }
    last = _dict(state.get("lastContainerStatuses"))
    if last:
        out["lastContainerStatuses"] = {k: last[k] for k in sorted(last)}
    for flag in _STATE_FLAGS:
        if state.get(flag):
            out[flag] = True
    for key in _STATE_CARRIED:
        if state.get(key):
            out[key] = state[key]
    batches = _list(state.get("containerBatchesRecord"))
    if batches:
        out["containerBatchesRecord"] = batches
    return _go_json(out)


def _apply_spec(
    pod: Pod,
    spec: UpdateSpec,
    state: State,
    now: datetime,
    labels: dict[str, Any],
    annotations: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """defaultPatchUpdateSpecToPod as patch fragments: fills ``labels``/``annotations`` and ``state``,
    returns (container image patches, container resize patches)."""
    for kind, target in (("labels", labels), ("annotations", annotations)):
        for k, v in _dict(spec.metadata_patch.get(kind)).items():
            target[k] = v
    # Other template metadata fields (rare) are carried as-is by the caller's metadata patch.

    pod_containers = each(_spec(pod).get("containers"))
    to_update: set[str] = set()
    for c in pod_containers:
        name = str(c.get("name") or "")
        if (
            name in spec.container_images
            or name in spec.container_ref_metadata
            or name in spec.container_resources
        ):
            to_update.add(name)

    images: list[dict[str, Any]] = []
    resizes: list[dict[str, Any]] = []
    image_changed: set[str] = set()
    last: dict[str, Any] = _dict(state.get("lastContainerStatuses"))
    for c in pod_containers:
        name = str(c.get("name") or "")
        if name not in to_update:
            continue
        if name in spec.container_images:
            images.append({"name": name, "image": spec.container_images[name]})
            image_changed.add(name)
        if name in spec.container_resources:
            resizes.append({"name": name, "resources": spec.container_resources[name]})
            entry = _dict(last.get(name))
            entry["resources"] = _effective_resources(c.get("resources"))
            last[name] = entry
    for cs in each(_status(pod).get("containerStatuses")):
        name = str(cs.get("name") or "")
        if name in image_changed:
            entry = _dict(last.get(name))
            entry.pop("imageID", None)
            record: dict[str, Any] = {"imageID": cs["imageID"]} if cs.get("imageID") else {}
            record.update(entry)
            last[name] = record
    if last:
        state["lastContainerStatuses"] = last

    for name in sorted(spec.container_ref_metadata):
        if name not in to_update:
            continue
        meta = spec.container_ref_metadata[name]
        labels.update(_dict(meta.get("labels")))
        annotations.update(_dict(meta.get("annotations")))

    state.pop("preCheckBeforeNext", None)
    for key in _STATE_NEXT:
        state.pop(key, None)
    batches = _list(state.get("containerBatchesRecord"))
    batches.append({"timestamp": format_time(now), "containers": sorted(to_update)})
    state["containerBatchesRecord"] = batches
    return images, resizes


def _other_metadata(spec: UpdateSpec) -> dict[str, Any]:
    return {k: v for k, v in spec.metadata_patch.items() if k not in ("labels", "annotations")}


def _pod_write(
    labels: dict[str, Any],
    annotations: dict[str, Any],
    images: list[dict[str, Any]],
    resizes: list[dict[str, Any]],
    other_meta: Mapping[str, Any] | None = None,
    requeue_after: float | None = None,
) -> PodWrites:
    meta: dict[str, Any] = dict(other_meta or {})
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return PodWrites(
        metadata_patch={"metadata": meta} if meta else None,
        spec_patch={"spec": {"containers": images}} if images else None,
        resize_patch={"spec": {"containers": resizes}} if resizes else None,
        requeue_after=requeue_after,
    )


def _drop_grace(pod: Pod, annotations: dict[str, Any]) -> None:
    present = _annotations(pod)
    for key in (GRACE_ANNOTATION, LEGACY_GRACE_ANNOTATION):
        if key in present:
            annotations[key] = None


def start_update(
    pod: Pod,
    spec: UpdateSpec,
    now: datetime,
    extra_labels: Mapping[str, str] | None = None,
    extra_annotations: Mapping[str, str] | None = None,
) -> list[PodWrites]:
    """Spec §2.3: the ordered writes that start an in-place update of ``pod`` (read it fresh).

    1. Pods with the gate (unless only resources change): one status write, gate False with reason
       StartInPlaceUpdate and the recomputed Ready False/ReadinessGatesNotReady. Skipped when the gate
       already says so (a retried update).
    2. ONE pod patch (metadata and spec together, see ``PodWrites.pod_patch``): revision label,
       ``extra_labels``/``extra_annotations`` (the ASTS passes its lifecycle state and timestamp), the
       state annotation, and either
       - ``grace_seconds <= 0``: the template metadata patch, the env-from-metadata labels/annotations,
         the new images (``spec_patch``), the resize (``resize_patch``, a separate subresource call);
       - ``grace_seconds > 0``: the UpdateSpec JSON in the grace annotation, images untouched, and
         ``requeue_after = grace_seconds``; :func:`refresh` applies it when the grace period ends.
         With no spec to change, these labels and annotations travel in step 1's status write
         (``status_metadata``) when there is one, instead of a pod patch of their own.

    So an image update costs 2 writes here and 1 more (gate True) from :func:`refresh` later; with a
    grace period 1 here, and 2 (the deferred spec patch, gate True) from :func:`refresh`."""
    now = _aware(now)
    writes: list[PodWrites] = []
    if _needs_unready(pod, spec):
        conditions = _gate_false_conditions(pod, now)
        if conditions:
            writes.append(PodWrites(status_conditions=conditions))

    labels: dict[str, Any] = {REVISION_LABEL: spec.revision}
    labels.update(extra_labels or {})
    annotations: dict[str, Any] = dict(extra_annotations or {})
    state: State = {
        "revision": spec.revision,
        "updateTimestamp": format_time(now),
        "updateEnvFromMetadata": spec.update_env_from_metadata,
        "updateResources": bool(spec.container_resources),
        "updateImages": bool(spec.container_images),
    }
    if LEGACY_STATE_ANNOTATION in _annotations(pod):
        annotations[LEGACY_STATE_ANNOTATION] = None

    if spec.grace_seconds <= 0:
        images, resizes = _apply_spec(pod, spec, state, now, labels, annotations)
        annotations[STATE_ANNOTATION] = _state_json(state)
        _drop_grace(pod, annotations)
        writes.append(_pod_write(labels, annotations, images, resizes, _other_metadata(spec)))
    else:
        annotations[STATE_ANNOTATION] = _state_json(state)
        annotations[GRACE_ANNOTATION] = spec.to_json()
        grace = _pod_write(labels, annotations, [], [], requeue_after=float(spec.grace_seconds))
        if writes and grace.metadata_patch is not None:
            # Metadata only (no spec yet): it rides on the gate-False status write, so a grace
            # period costs no extra write (3 in all: this, the deferred spec patch, gate True).
            writes[0].carry_metadata(grace.metadata_patch["metadata"])
            writes[0].requeue_after = grace.requeue_after
        else:
            writes.append(grace)
    return writes


# --------------------------------------------------------------------------------------------------
# Completion and refresh


def _state_completed(pod: Pod, state: State) -> bool:
    """defaultCheckContainersInPlaceUpdateCompleted (+ resize), without kruise-daemon hashes."""
    if (
        state.get("nextContainerImages")
        or state.get("nextContainerRefMetadata")
        or state.get("nextContainerResources")
    ):
        return False
    spec_containers = {str(c.get("name") or ""): c for c in each(_spec(pod).get("containers"))}
    for name, raw in or_empty(state.get("lastContainerStatuses")).items():
        last = or_empty(raw)
        cs = _container_status(pod, name)
        if cs is None:
            return False  # every recorded container must have a status
        container = spec_containers.get(name, {})
        # OpenKruise assumes a new image never has the old imageID: an unchanged imageID means
        # not restarted yet, unless the status already shows the spec image (same digest, new tag).
        if last.get("imageID", "") == (cs.get("imageID") or "") and not _images_match(
            str(container.get("image") or ""), str(cs.get("image") or "")
        ):
            return False
        if "resources" in last:
            want = _effective_resources(container.get("resources"))
            if _resources_equal(want, _dict(last.get("resources"))):
                return False  # the resize has not reached the pod spec yet
            have = (
                _effective_resources(cs.get("resources"))
                if isinstance(cs.get("resources"), Mapping)
                else None
            )
            if have is None:
                return False
            for kind in ("requests", "limits"):
                for res, q in _dict(want.get(kind)).items():
                    got = _dict(have.get(kind)).get(res)
                    try:
                        if got is None or parse_quantity(got) != parse_quantity(q):
                            return False
                    except ValueError:
                        return False
    return True


def check_completed(pod: Pod) -> bool:
    """Spec §2.5 (DefaultCheckInPlaceUpdateCompleted): has the kubelet finished the in-place update?

    No state annotation → True; grace annotation → False; unparsable state → False (as OpenKruise's
    error). For each container in ``lastContainerStatuses``: its status must exist, and if its imageID
    is unchanged the status image must equal the spec image (normalised, see :func:`normalize_image`);
    a resized container's ``containerStatuses[].resources`` must match its spec."""
    if _has_grace(pod):
        return False
    raw = _annotation(pod, STATE_ANNOTATION, LEGACY_STATE_ANNOTATION)
    if raw is None:
        return True
    state = read_state(pod)
    if state is None:
        return False
    return _state_completed(pod, state)


def update_in_progress(pod: Pod) -> bool:
    """An in-place update is pending or running (grace period, or state not completed): the pod
    counts as unavailable whatever its Ready condition says (spec §2.6, P6)."""
    return not check_completed(pod)


def refresh(pod: Pod, now: datetime) -> PodWrites | None:
    """Spec §2.4 (Refresh): call on every created, non-terminating pod each reconcile.

    - Grace annotation: revision label moved on → drop it; not yet due → ``requeue_after`` the rest
      (whole seconds, rounded up); due → one pod patch applying the stored spec (as ``start_update``'s
      step 2, keeping the state's revision and updateTimestamp) and removing the grace annotation.
    - State annotation not completed → None (wait; the pod's own events bring us back).
    - Pod with the gate whose condition is not already True (no reason, no message) → one status
      write, gate True. Ready is left to the kubelet (our node simulator), which recomputes it.
    - Otherwise None."""
    now = _aware(now)
    if _has_grace(pod):
        spec = grace_spec(pod)
        labels_now = or_empty(views.meta(pod).get("labels"))
        annotations: dict[str, Any] = {}
        if spec is None or labels_now.get(REVISION_LABEL) != spec.revision:
            _drop_grace(pod, annotations)
            return _pod_write({}, annotations, [], [])
        stored = read_state(pod)
        # OpenKruise errors out when the state is missing; here the grace period is then over.
        state: State = (
            stored if stored is not None else {"revision": spec.revision, "updateTimestamp": format_time(now)}
        )
        started = _parse_time(stored.get("updateTimestamp")) if stored is not None else None
        if started is not None:
            remaining = (started - now).total_seconds() + spec.grace_seconds
            if remaining > 0:
                return PodWrites(requeue_after=float(math.ceil(remaining - 1e-9)))
        labels: dict[str, Any] = {}
        images, resizes = _apply_spec(pod, spec, state, now, labels, annotations)
        annotations[STATE_ANNOTATION] = _state_json(state)
        if LEGACY_STATE_ANNOTATION in _annotations(pod):
            annotations[LEGACY_STATE_ANNOTATION] = None
        _drop_grace(pod, annotations)
        return _pod_write(labels, annotations, images, resizes, _other_metadata(spec))

    if _annotation(pod, STATE_ANNOTATION, LEGACY_STATE_ANNOTATION) is not None and not check_completed(pod):
        return None

    if not has_gate(pod):
        return None
    current = gate_condition(pod)
    if (
        current is not None
        and current.get("status") == "True"
        and not current.get("reason")
        and not current.get("message")
    ):
        return None
    # A strategic merge patch merges a condition's fields: clear reason and message explicitly, or
    # StartInPlaceUpdate would stay and every later refresh would write again.
    return PodWrites(
        status_conditions=[
            {
                "type": INPLACE_UPDATE_READY,
                "status": "True",
                "reason": "",
                "message": "",
                "lastTransitionTime": format_time(now),
            },
        ]
    )
