"""ControllerRevisions of a SidecarSet (spec §5.3, P26), pure.

OpenKruise: pkg/control/sidecarcontrol/history_control.go (``NewRevision``, ``getPatch``),
pkg/controller/sidecarset/sidecarset_processor.go (``registerLatestRevision``, ``truncateHistory``,
``filterActiveRevisions``, ``updateCustomVersionLabel``), k8s.io/kubernetes/pkg/controller/history.

SidecarSets are cluster-scoped, so their revisions live in the operator's namespace and are found by
the label ``kruise.io/sidecarset-name``. Data, hash and name are OpenKruise 1.9's for the same spec
(the recorded fields Go-shaped, ``core.goshape``; FNV-1 over those bytes, ``<name>-<hash>``), and
revisions are compared by content, so OpenKruise's revisions and older kruise-py ones are reused.

The planner (``plan.plan``) decides, per reconcile, and the reconciler writes what it decided:

1. ``action, revision, collisions = decide_revision_full(sidecarset, revisions, namespace)``: create
   (``Plan.revision_create``) or update (bump, ``Plan.revision_bump``) the revision (``reuse``:
   nothing); ``collisions`` is the value for ``status.collisionCount``. A create that answers
   AlreadyExists (a revision the cache has not shown yet) counts as done.
2. ``custom_version_patch(sidecarset, revision)``: patch the latest revision's custom-version label
   when the SidecarSet's label changed (only needed for ``reuse``; new and bumped revisions carry
   it; ``Plan.revision_label_patch``).
3. ``revisions_to_delete(sidecarset, apply_decision(revisions, action, revision), pods)``: delete them
   (``Plan.revisions_delete``) once the round's other writes succeeded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ...api import sidecarset as scs
from ...api.common import copy_json
from ...core import goshape
from ...core import revisions as rev
from ...core.obj import as_map as _m
from ...core.obj import meta as _meta
from ...core.obj import name as _name
from ...core.obj import spec as _spec

Obj = dict[str, Any]
Action = Literal["reuse", "bump", "create"]

# The fields a revision records (copySidecarSetSpecRevision), in Go's sorted-map order, with their
# Go types in OpenKruise 1.9's v1beta1 SidecarSetSpec (all ``omitempty``).
REVISION_FIELDS = ("containers", "imagePullSecrets", "initContainers", "patchPodMetadata", "volumes")
REVISION_FIELD_TYPES = {
    "containers": "[]kruise/v1beta1.SidecarContainer",
    "imagePullSecrets": "[]core/v1.LocalObjectReference",
    "initContainers": "[]kruise/v1beta1.SidecarContainer",
    "patchPodMetadata": "[]kruise/v1beta1.SidecarSetPatchPodMetadata",
    "volumes": "[]core/v1.Volume",
}
DEFAULT_REVISION_HISTORY_LIMIT = 10
HISTORY_HASH_LABEL = (
    rev.HISTORY_HASH_LABEL
)  # controller.kubernetes.io/hash, set by history.NewControllerRevision


def _str_map(v: Any) -> dict[str, str]:
    return {str(k): str(x) for k, x in _m(v).items()}


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _revision_data_of_spec(spec: Mapping[str, Any]) -> Obj:
    out: Obj = {"$patch": "replace"}
    for key in REVISION_FIELDS:
        shaped = goshape.go_shape(spec.get(key), REVISION_FIELD_TYPES[key])
        out[key] = goshape.via_map(shaped) if shaped else None  # omitempty: an empty list is absent
    return {"spec": out}


def revision_data(sidecarset: Mapping[str, Any]) -> Obj:
    """OpenKruise's getPatch: ``{"spec":{"$patch":"replace","containers":..,"imagePullSecrets":..,
    "initContainers":..,"patchPodMetadata":..,"volumes":..}}`` (spec §5.3), every key present (null
    when unset), the values Go-shaped (``core.goshape``) from the typed v1beta1 SidecarSet, so the
    bytes, hash and name are OpenKruise's. Any change to these fields is a new revision, even when the
    SidecarSet hash is unchanged."""
    return _revision_data_of_spec(_spec(sidecarset))


def revision_spec(revision: Mapping[str, Any]) -> Obj:
    """The recorded spec fields of a revision (``$patch`` removed); {} if malformed."""
    data = _m(rev.revision_data_of(revision))
    out = {k: copy_json(v) for k, v in _m(data.get("spec")).items() if k != "$patch"}
    return out


def _content(revision: Mapping[str, Any]) -> bytes:
    data = _m(rev.revision_data_of(revision))
    spec = data.get("spec")
    if list(data) != ["spec"] or not isinstance(spec, Mapping) or set(spec) - {"$patch", *REVISION_FIELDS}:
        return rev.go_json(data).encode("utf-8")  # not getPatch's shape: compared as it is
    return rev.revision_bytes(_revision_data_of_spec(spec))


def revision_content(revision: Mapping[str, Any]) -> bytes:
    """What a revision records, in OpenKruise's bytes, however it was written: by OpenKruise, by an
    older kruise-py (present fields only, as stored) or as a new candidate."""
    return rev.memoized_content(revision, "sidecarset", _content)


def equal_revision(lhs: Mapping[str, Any], rhs: Mapping[str, Any]) -> bool:
    """history.EqualRevision by content (:func:`revision_content`)."""
    return revision_content(lhs) == revision_content(rhs)


def owner_ref(sidecarset: Mapping[str, Any]) -> Obj:
    """A cluster-scoped owner may own namespaced dependents: the revisions go with the SidecarSet."""
    meta = _meta(sidecarset)
    return {
        "apiVersion": scs.API_VERSION,
        "kind": scs.KIND,
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def new_revision(sidecarset: Mapping[str, Any], namespace: str, number: int, collision_count: int) -> Obj:
    """An apps/v1 ControllerRevision of the SidecarSet's current spec (Kruise ``NewRevision``).

    Labels: the SidecarSet's labels, the custom-version label from ``spec.customVersion``,
    ``kruise.io/sidecarset-name`` and ``controller.kubernetes.io/hash``. Annotations: the
    SidecarSet's, including both hashes.
    """
    meta = _meta(sidecarset)
    name = str(meta.get("name") or "")
    data = revision_data(sidecarset)
    h = rev.hash_revision(data, collision_count)
    labels = _str_map(meta.get("labels"))
    if cv := _custom_version(sidecarset):
        labels[scs.SIDECARSET_CUSTOM_VERSION_LABEL] = cv
    labels[scs.SIDECARSET_NAME_LABEL] = name
    labels[HISTORY_HASH_LABEL] = h
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": rev.revision_name(name, h),
            "namespace": namespace,
            "labels": labels,
            "annotations": _str_map(meta.get("annotations")),
            "ownerReferences": [owner_ref(sidecarset)],
        },
        "data": data,
        "revision": int(number),
    }


def own_revisions(sidecarset: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]]) -> list[Obj]:
    """The revisions labelled with this SidecarSet's name, sorted (by .revision, time, name)."""
    name = _name(sidecarset)
    mine = [r for r in revisions if _str_map(_meta(r).get("labels")).get(scs.SIDECARSET_NAME_LABEL) == name]
    return rev.sort_revisions(mine)


def _stored_collision_count(sidecarset: Mapping[str, Any]) -> int:
    return _int(_m(sidecarset.get("status")).get("collisionCount")) or 0


def decide_revision_full(
    sidecarset: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]], namespace: str
) -> tuple[Action, Obj, int]:
    """``decide_revision`` plus the collision count to store in ``status.collisionCount``."""
    ordered = own_revisions(sidecarset, revisions)
    collision_count = _stored_collision_count(sidecarset)
    number = rev.next_revision_number(ordered)
    candidate = new_revision(sidecarset, namespace, number, collision_count)
    # Equal by content: an equal revision is reused (or bumped) under its own name, whoever wrote it.
    want = rev.revision_bytes(candidate["data"])
    contents = [revision_content(r) for r in ordered]
    equal = [i for i, c in enumerate(contents) if c == want]
    if equal:
        if contents[-1] == contents[equal[-1]]:
            return "reuse", ordered[-1], collision_count
        bumped = copy_json(ordered[equal[-1]])
        assert isinstance(bumped, dict)
        bumped["revision"] = number
        _set_custom_version(sidecarset, bumped)
        return "bump", bumped, collision_count
    names = {_name(r) for r in ordered}
    while _name(candidate) in names:  # same name, different data: a hash collision
        collision_count += 1
        candidate = new_revision(sidecarset, namespace, number, collision_count)
    return "create", candidate, collision_count


def decide_revision(
    sidecarset: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]], namespace: str
) -> tuple[Action, Obj]:
    """registerLatestRevision without I/O, like the ASTS (§2.8):

    - ``reuse``: the latest revision already has this data; it is the latest revision;
    - ``bump``: an older revision has this data (a rollback): it comes back with ``.revision`` set to
      the next number — UPDATE it;
    - ``create``: a new revision — CREATE it.
    """
    action, revision, _ = decide_revision_full(sidecarset, revisions, namespace)
    return action, revision


def collision_count(
    sidecarset: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]], namespace: str
) -> int:
    """The ``status.collisionCount`` after :func:`decide_revision`."""
    return decide_revision_full(sidecarset, revisions, namespace)[2]


def _custom_version(sidecarset: Mapping[str, Any]) -> str:
    """v1beta1 ``spec.customVersion`` (the v1alpha1 label, converted; OpenKruise 1.9 NewRevision)."""
    value = _spec(sidecarset).get("customVersion")
    return value if isinstance(value, str) else ""


def _set_custom_version(sidecarset: Mapping[str, Any], revision: Obj) -> None:
    cv = _custom_version(sidecarset)
    if cv:
        meta = revision.setdefault("metadata", {})
        labels = meta.get("labels")
        if not isinstance(labels, dict):
            labels = meta["labels"] = {}
        labels[scs.SIDECARSET_CUSTOM_VERSION_LABEL] = cv


def custom_version_patch(sidecarset: Mapping[str, Any], revision: Mapping[str, Any]) -> Obj | None:
    """updateCustomVersionLabel: a patch putting the SidecarSet's custom-version label on the latest
    revision when it differs (an empty label is never written); None when nothing to do."""
    cv = _custom_version(sidecarset)
    if not cv or _str_map(_meta(revision).get("labels")).get(scs.SIDECARSET_CUSTOM_VERSION_LABEL) == cv:
        return None
    return {"metadata": {"labels": {scs.SIDECARSET_CUSTOM_VERSION_LABEL: cv}}}


def apply_decision(
    revisions: Iterable[Mapping[str, Any]], action: Action, revision: Mapping[str, Any]
) -> list[Obj]:
    """The revision list after the decision was written (a bumped revision replaces its old copy)."""
    name = _name(revision)
    out = [dict(r) for r in revisions if action == "reuse" or _name(r) != name]
    if action != "reuse":
        out.append(dict(revision))
    return rev.sort_revisions(out)


def _pod_controller_revision(pod: Mapping[str, Any], sidecarset_name: str) -> str:
    raw = _m(_meta(pod).get("annotations")).get(scs.SIDECARSET_HASH_ANNOTATION)
    if not isinstance(raw, str) or not raw:
        return ""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return ""
    entry = _m(parsed).get(sidecarset_name) if isinstance(parsed, Mapping) else None
    value = _m(entry).get("controllerRevision")
    return value if isinstance(value, str) else ""


def active_revisions(
    sidecarset: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
) -> set[str]:
    """filterActiveRevisions: revisions referenced by a pod's ``controllerRevision``, the
    ``injectionStrategy.revision.revisionName`` and the newest revision carrying the
    ``injectionStrategy.revision.customVersion`` label."""
    name = _name(sidecarset)
    active = {r for r in (_pod_controller_revision(p, name) for p in pods) if r}
    inject_rev = _m(_m(_spec(sidecarset).get("injectionStrategy")).get("revision"))
    revision_name = inject_rev.get("revisionName")
    if isinstance(revision_name, str):
        active.add(revision_name)
    custom = inject_rev.get("customVersion")
    if isinstance(custom, str):
        matching = [
            r
            for r in revisions
            if _str_map(_meta(r).get("labels")).get(scs.SIDECARSET_CUSTOM_VERSION_LABEL) == custom
        ]
        if matching:
            active.add(_name(rev.sort_revisions(matching)[-1]))
    return active


def history_limit(sidecarset: Mapping[str, Any]) -> int:
    limit = _int(_spec(sidecarset).get("revisionHistoryLimit"))
    return max(1, DEFAULT_REVISION_HISTORY_LIMIT if limit is None else limit)


def revisions_to_delete(
    sidecarset: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
) -> list[str]:
    """truncateHistory: names to delete, oldest first, so that at most ``max(1, revisionHistoryLimit)``
    (default 10) revisions remain. Never the latest revision (pass the list after the decision, see
    :func:`apply_decision`) nor an active one (:func:`active_revisions`); when those keep more than the
    limit, fewer are deleted (OpenKruise then logs an error)."""
    ordered = own_revisions(sidecarset, revisions)
    limit = history_limit(sidecarset)
    excess = len(ordered) - limit
    if excess <= 0:
        return []
    active = active_revisions(sidecarset, ordered, pods)
    out: list[str] = []
    for r in ordered[:-1]:
        if excess <= 0:
            break
        if _name(r) not in active:
            out.append(_name(r))
            excess -= 1
    return out
