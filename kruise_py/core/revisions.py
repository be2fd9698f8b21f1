"""ControllerRevisions of an Advanced StatefulSet (spec §2.8).

Semantics follow k8s.io/kubernetes/pkg/controller/history (``NewControllerRevision``,
``HashControllerRevision``, ``ControllerRevisionName``, ``EqualRevision``) and Kruise's
stateful_set_utils.go ``getPatch``/``newRevision`` and stateful_set_control.go
``getStatefulSetRevisions``/``truncateHistory``.

Only the pod template is versioned. Revisions are plain apps/v1 ControllerRevision dicts.

Revision data is OpenKruise 1.9's byte for byte: the template in its Go shape (``core.goshape``: the
typed round trip through k8s.io/api structs adds ``"metadata":{"creationTimestamp":null}`` and
``"resources":{}``, canonicalizes quantities, drops unknown fields ...), so hash and name equal the
ones OpenKruise computes for the same template. Revisions are compared by content (both sides'
templates Go-shaped): an OpenKruise revision, one written by an older kruise-py (the template as
stored, not Go-shaped) and a new candidate for the same template are equal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kruise_py.api.common import copy_json
from kruise_py.api.sidecarset import go_json_marshal, safe_encode_string

from . import goshape

REVISION_LABEL = "controller-revision-hash"  # apps.ControllerRevisionHashLabelKey (pods)
HISTORY_HASH_LABEL = "controller.kubernetes.io/hash"  # history.ControllerRevisionHashLabel (revisions)
OWNER_API_VERSION = "apps.kruise.io/v1beta1"
OWNER_KIND = "StatefulSet"
MAX_NAME_PREFIX = 223  # ControllerRevisionName: prefix truncated so that the name fits 253 bytes

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def _fnv1_32(data: bytes, h: int = _FNV32_OFFSET) -> int:
    """FNV-1 (multiply, then xor; *not* FNV-1a) 32-bit, as Go's ``hash/fnv.New32``."""
    for byte in data:
        h = ((h * _FNV32_PRIME) & 0xFFFFFFFF) ^ byte
    return h


TEMPLATE_TYPE = "core/v1.PodTemplateSpec"


def go_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """The pod template as OpenKruise's getPatch writes it: Go-shaped, then through a
    ``map[string]interface{}`` (numbers as float64)."""
    shaped = goshape.via_map(goshape.go_shape(template, TEMPLATE_TYPE))
    return shaped if isinstance(shaped, dict) else {}


def revision_data(template: Mapping[str, Any]) -> dict[str, Any]:
    """The revision data (Kruise ``getPatch``): ``{"spec":{"template":<Go-shaped template +
    "$patch":"replace">}}``; :func:`revision_bytes` of it are OpenKruise's bytes."""
    tpl = go_template(template)
    tpl["$patch"] = "replace"
    return {"spec": {"template": tpl}}


def go_json(obj: Any) -> str:
    """JSON exactly as Go's encoding/json writes a map: sorted keys, no whitespace, UTF-8, and
    ``<``, ``>``, ``&``, U+2028, U+2029 escaped.

    A ControllerRevision's ``data`` is stored as the raw bytes it was sent with; when anything
    patches the revision (the garbage collector orphaning it, for one), the apiserver re-encodes
    ``data`` with Go and rejects the change as "field is immutable" unless the bytes are identical.
    """
    return go_json_marshal(obj, sort_keys=True)


def revision_bytes(data: Mapping[str, Any]) -> bytes:
    """JSON of revision data as Go's json.Marshal of a map writes it: sorted keys, no whitespace,
    UTF-8, ``<>&`` escaped. For :func:`revision_data` these are the bytes OpenKruise stores and
    hashes; the reconciler sends the revision through :func:`go_json`, so the apiserver stores them
    too."""
    return go_json(data).encode("utf-8")


def hash_revision(data: Mapping[str, Any], collision_count: int | None) -> str:
    """history.HashControllerRevision: FNV-1 32 over the data bytes, then (if a collision count is
    given) over its decimal string (``strconv.FormatInt(int64(*probe), 10)``), then
    ``rand.SafeEncodeString(fmt.Sprint(sum32))``."""
    h = _fnv1_32(revision_bytes(data))
    if collision_count is not None:
        h = _fnv1_32(str(int(collision_count)).encode("ascii"), h)
    return safe_encode_string(str(h))


def revision_name(set_name: str, h: str) -> str:
    """history.ControllerRevisionName: ``<prefix>-<hash>``, prefix truncated to 223 bytes."""
    prefix = set_name
    if len(prefix.encode("utf-8")) > MAX_NAME_PREFIX:
        prefix = prefix.encode("utf-8")[:MAX_NAME_PREFIX].decode("utf-8", errors="ignore")
    return f"{prefix}-{h}"


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _template(sts: Mapping[str, Any]) -> dict[str, Any]:
    spec = sts.get("spec")
    tpl = spec.get("template") if isinstance(spec, Mapping) else None
    return dict(tpl) if isinstance(tpl, Mapping) else {}


def new_revision(
    sts: Mapping[str, Any],
    template: Mapping[str, Any],
    revision_number: int,
    collision_count: int | None,
) -> dict[str, Any]:
    """A complete apps/v1 ControllerRevision for ``template`` (Kruise ``newRevision``).

    Labels are the template's labels plus ``controller.kubernetes.io/hash`` (added by
    history.NewControllerRevision), annotations the set's annotations, and the controller ownerRef
    points to the apps.kruise.io/v1beta1 StatefulSet.
    """
    meta = _meta(sts)
    set_name = str(meta.get("name") or "")
    data = revision_data(template)
    h = hash_revision(data, collision_count)
    labels = _str_map(_meta(template).get("labels"))
    labels[HISTORY_HASH_LABEL] = h
    out_meta: dict[str, Any] = {
        "name": revision_name(set_name, h),
        "labels": labels,
        "annotations": _str_map(meta.get("annotations")),
        "ownerReferences": [
            {
                "apiVersion": OWNER_API_VERSION,
                "kind": OWNER_KIND,
                "name": set_name,
                "uid": meta.get("uid"),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if meta.get("namespace"):
        out_meta["namespace"] = meta["namespace"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": out_meta,
        "data": data,
        "revision": int(revision_number),
    }


def revision_template(revision: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod template stored in a revision (the inverse of revision_data), or None if malformed.

    Kruise ``ApplyRevision`` strategic-merge-patches the data onto the set; since the template carries
    ``"$patch":"replace"``, the result is exactly this template.
    """
    data = revision_data_of(revision)
    spec = data.get("spec") if isinstance(data, Mapping) else None
    tpl = spec.get("template") if isinstance(spec, Mapping) else None
    if not isinstance(tpl, Mapping):
        return None
    out = copy_json(dict(tpl))
    out.pop("$patch", None)
    assert isinstance(out, dict)
    return out


def _number(revision: Mapping[str, Any]) -> int:
    n = revision.get("revision")
    return n if isinstance(n, int) and not isinstance(n, bool) else 0


def sort_revisions(revisions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """history.SortControllerRevisions: by .revision, then creationTimestamp, then name (stable)."""

    def key(r: Mapping[str, Any]) -> tuple[int, str, str]:
        meta = _meta(r)
        # RFC3339 timestamps in UTC ("...Z") sort lexicographically.
        return _number(r), str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")

    return [dict(r) for r in sorted(revisions, key=key)]


def next_revision_number(revisions: Iterable[Mapping[str, Any]]) -> int:
    """One more than the largest .revision, 1 if there are none."""
    numbers = [_number(r) for r in revisions]
    return max(numbers) + 1 if numbers else 1


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name") or "")


# Go-shaped contents of stored revisions, by (kind, uid, resourceVersion, name): revision data is
# immutable, and every reconcile compares each revision of its owner with the candidate.
_CONTENT_MEMO: dict[tuple[str, str, str, str], bytes] = {}
_CONTENT_MEMO_SIZE = 4096


def memoized_content(
    revision: Mapping[str, Any], kind: str, compute: Callable[[Mapping[str, Any]], bytes]
) -> bytes:
    """``compute(revision)``, remembered for stored revisions (those with a uid and resourceVersion)."""
    meta = _meta(revision)
    uid, rv = meta.get("uid"), meta.get("resourceVersion")
    if not uid or not rv:
        return compute(revision)
    key = (kind, str(uid), str(rv), _name(revision))
    hit = _CONTENT_MEMO.get(key)
    if hit is None:
        hit = compute(revision)
        if len(_CONTENT_MEMO) >= _CONTENT_MEMO_SIZE:
            _CONTENT_MEMO.clear()
        _CONTENT_MEMO[key] = hit
    return hit


def revision_data_of(revision: Mapping[str, Any]) -> Any:
    """A revision's data as JSON (a client may hand it over as text)."""
    data = revision.get("data")
    if isinstance(data, str | bytes):
        try:
            return json.loads(data)
        except ValueError:
            return None
    return data


def _content(revision: Mapping[str, Any]) -> bytes:
    data = revision_data_of(revision)
    spec = data.get("spec") if isinstance(data, Mapping) else None
    tpl = revision_template(revision)
    if tpl is None or len(data) != 1 or not isinstance(spec, Mapping) or len(spec) != 1:
        return go_json(data).encode("utf-8")  # not getPatch's shape: compared as it is
    return revision_bytes(revision_data(tpl))


def revision_content(revision: Mapping[str, Any]) -> bytes:
    """What a revision records, in OpenKruise's bytes: :func:`revision_bytes` of the revision data
    rebuilt from its template, so the same for an OpenKruise revision, one written by an older
    kruise-py (the template as stored) and a new candidate. Without a template: its data as is."""
    return memoized_content(revision, "asts", _content)


def equal_revision(lhs: Mapping[str, Any], rhs: Mapping[str, Any]) -> bool:
    """history.EqualRevision by content: the two revisions record the same template once both are
    Go-shaped (:func:`revision_content`); names and hash labels do not matter."""
    return revision_content(lhs) == revision_content(rhs)


@dataclass
class UpdateRevisionDecision:
    """What getStatefulSetRevisions does to obtain the update revision.

    - ``reuse``: ``revision`` is the latest existing revision; nothing to write.
    - ``bump``: ``revision`` is an older existing revision (a rollback) with .revision already set to
      the next number; write it (update).
    - ``create``: ``revision`` is new; create it.

    ``collision_count`` is the value to store in status.collisionCount.
    """

    action: Literal["reuse", "bump", "create"]
    revision: dict[str, Any]
    collision_count: int


def _collision_count(sts: Mapping[str, Any]) -> int:
    status = sts.get("status")
    cc = status.get("collisionCount") if isinstance(status, Mapping) else None
    return cc if isinstance(cc, int) and not isinstance(cc, bool) else 0


def decide_update_revision(
    sts: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]]
) -> UpdateRevisionDecision:
    """Kruise getStatefulSetRevisions + history CreateControllerRevision, without I/O.

    ``revisions`` are the set's ControllerRevisions. A name collision is detected only against
    them; if the API server still answers AlreadyExists on create (a revision owned by something
    else), the caller should store ``collision_count + 1`` in status and retry next reconcile.
    """
    ordered = sort_revisions(revisions)
    collision_count = _collision_count(sts)
    template = _template(sts)
    number = next_revision_number(ordered)
    candidate = new_revision(sts, template, number, collision_count)

    # FindEqualRevisions, by content: an equal revision is reused (or bumped) under its own name,
    # whoever wrote it.
    want = revision_bytes(candidate["data"])
    contents = [revision_content(r) for r in ordered]
    equal = [i for i, c in enumerate(contents) if c == want]
    if equal:
        if contents[-1] == contents[equal[-1]]:
            return UpdateRevisionDecision("reuse", ordered[-1], collision_count)
        bumped = copy_json(ordered[equal[-1]])
        assert isinstance(bumped, dict)
        bumped["revision"] = number
        return UpdateRevisionDecision("bump", bumped, collision_count)

    by_name = {_name(r): r for r in ordered}
    while True:
        existing = by_name.get(_name(candidate))
        if existing is None:
            return UpdateRevisionDecision("create", candidate, collision_count)
        # Same name, different data (equal data was handled above): a hash collision.
        collision_count += 1
        candidate = new_revision(sts, template, number, collision_count)


def current_revision_name(
    sts: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]], update_revision_name: str
) -> str:
    """status.currentRevision if that revision exists, else the update revision (a new set)."""
    status = sts.get("status")
    current = status.get("currentRevision") if isinstance(status, Mapping) else None
    if isinstance(current, str) and current and any(_name(r) == current for r in revisions):
        return current
    return update_revision_name


def revisions_to_delete(
    revisions: Iterable[Mapping[str, Any]], live: Collection[str], limit: int
) -> list[str]:
    """truncateHistory: names of the oldest non-live revisions beyond ``limit`` non-live ones.

    ``live`` = current revision, update revision and every pod's ``controller-revision-hash`` label.
    """
    history = [_name(r) for r in sort_revisions(revisions) if _name(r) not in live]
    excess = len(history) - max(0, limit)
    return history[:excess] if excess > 0 else []


def revision_of_pod(pod: Mapping[str, Any]) -> str:
    """The pod's ``controller-revision-hash`` label ("" if absent)."""
    labels = _meta(pod).get("labels")
    value = labels.get(REVISION_LABEL) if isinstance(labels, Mapping) else None
    return value if isinstance(value, str) else ""


def pod_at_revision(pod: Mapping[str, Any], name: str) -> bool:
    """Exact match of the revision label (what the ASTS update loop and status use)."""
    return revision_of_pod(pod) == name


def _short_hash(name: str) -> str:
    return name.rsplit("-", 1)[-1]


def pod_updated_loose(pod: Mapping[str, Any], name: str) -> bool:
    """Kruise revision.IsPodUpdate (gate PreparingUpdateAsUpdate off): exact match, or the same part
    after the last ``-``. Only the unordered update sort uses this (spec §2.8)."""
    own = revision_of_pod(pod)
    return own == name or _short_hash(own) == _short_hash(name)
