"""SidecarSet upgrade controller: every decision of one reconcile, as a pure function.

``plan(snapshot, memo) -> Plan``: given the SidecarSet (defaulted, with its hash annotations), the
candidate pods (selected by its selector, in its namespaces), the ControllerRevisions of the
revision namespace and the time, compute the revision to create, bump or relabel
(``revisions.decide_revision``) and the ones to delete (``revisions.revisions_to_delete``), the
status, the pods to upgrade in place with the one patch each needs, the pods that cannot be upgraded
and the events — following OpenKruise's ``sidecarset_processor.go`` ``UpdateSidecarSet``,
``sidecarset_strategy.go`` and ``sidecarset_hotupgrade.go`` (spec §5.4, §5.6) steps 1 and 3-7.
Step 2 (expectations) belongs to reconcile.py. No I/O here.

``memo`` is the previous plan's ``Plan.memo`` for the same SidecarSet (None the first time): the
pod facts it can reuse (:class:`FactsMemo`, which changes the work, never the plan) and whether pods
were left to upgrade (the reconciler batches pod events by it). The plan returns the next one.

HotUpgrade (§5.6): the upgrade gives the new image to the empty (else the not-ready, else the
older) container of the ``X-1``/``X-2`` pair, makes it the working one and sets its version
annotations to the SidecarSet's resourceVersion; once the pod is consistent and ready again, a
second write (``Plan.flips``) resets the other container to ``hotUpgradeEmptyImage``. A round
that has pods to reset does nothing else, as OpenKruise.

Decisions beyond a literal port:

- Writes per upgraded pod (design §3): OpenKruise GETs and UPDATEs the whole pod, then patches the
  ``SidecarSetUpgradable`` condition. Here the images and every annotation travel in ONE strategic
  merge patch (``PodUpgrade.patch``, with ``metadata.uid`` as a precondition). The condition goes
  to pods/status (the pods endpoint drops status) and only when it changes, i.e. the first time a
  pod is upgraded (absent -> True) or when it comes back from False: a second write then, never
  later. An upgrade that changes no image (the pod already runs it) is ONE pods/status patch with
  the annotations and the condition, which that endpoint accepts (it keeps only spec and
  ownerReferences from the stored pod).
- Native-sidecar init containers (``restartPolicy: Always``) are upgraded in place too, through the
  same patch on ``spec.initContainers`` (the apiserver allows init container image changes); they are
  in ``sidecarList``, and their statuses (``initContainerStatuses``) count for consistency.
- Consistency compares spec and status images normalised (``core.inplace.normalize_image``: ``nginx``
  = ``docker.io/library/nginx:latest``); for digest images only the digests are compared.
- Sorting is stable and deterministic: pods are first ordered by namespace/name, then by k8s
  ActivePods, then (stably) by priorityStrategy, then scatterStrategy. OpenKruise's sorts are unstable
  and its priority tie-break is the position in the informer's list.
- A ``SidecarSetUpgradable`` message that is not JSON counts as empty (OpenKruise aborts the round);
  an invalid partition/maxUnavailable counts as 0, as OpenKruise (which ignores the error).
- HotUpgrade pods: two writes per upgrade (the upgrade, then the reset), as OpenKruise.
- OpenKruise leaves a ``False`` it wrote for a pod that later becomes updated without an upgrade
  (the SidecarSet was changed back): so do we (no write for a pod the controller does not touch).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any, TypedDict

from ...api import sidecarset as scs
from ...api.common import int_or_percent, label_selector_matches
from ...core import availability as av
from ...core.inplace import format_time, normalize_image
from ...core.obj import as_list as _l
from ...core.obj import as_map as _m
from ...core.obj import meta as _meta
from ...core.obj import name as _name
from ...core.obj import spec as _spec
from ...core.obj import status as _status
from ...core.priority import priority_sort
from . import inject
from . import revisions as ssrev

Obj = dict[str, Any]

EVENT_NOT_UPGRADABLE = "NotUpgradablePods"
REASON_ALL_UPGRADABLE = "AllSidecarsetUpgradable"
REASON_IMMUTABLE_FIELD = "UpdateImmutableField"
HASH = scs.SIDECARSET_HASH_ANNOTATION
HASH_WITHOUT_IMAGE = scs.SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION
INJECTED_LIST = scs.SIDECARSET_INJECTED_LIST_ANNOTATION
STATE = scs.SIDECARSET_INPLACE_UPDATE_STATE_ANNOTATION
WORKING_HOT = scs.SIDECARSET_WORKING_HOTUPGRADE_CONTAINER_ANNOTATION
UPGRADABLE = scs.SIDECARSET_UPGRADABLE_CONDITION


class Status(TypedDict):
    """The SidecarSet status the controller writes (calculateStatus), every field."""

    observedGeneration: int
    matchedPods: int
    updatedPods: int
    readyPods: int
    updatedReadyPods: int
    latestRevision: str
    collisionCount: int


@dataclass(frozen=True)
class Snapshot:
    sidecarset: Obj  # defaulted, with both hash annotations
    pods: list[Obj]  # candidates: selected by spec.selector, in the allowed namespaces
    # The ControllerRevisions of revision_namespace (the plan keeps this SidecarSet's, by label).
    revisions: list[Obj]
    revision_namespace: str  # where the SidecarSet's revisions live (spec §9 P26)
    now: datetime


@dataclass
class PodUpgrade:
    pod: Obj
    # The pods PATCH (strategic merge): {"metadata":{"uid","annotations"}, "spec":{"containers"/
    # "initContainers": [{"name","image"}]}} — the sidecar images, hash, in-place state, injected list,
    # patchPodMetadata, HotUpgrade annotations. None when the annotations go in ``status_patch``.
    patch: Obj | None
    # The pods/status PATCH (strategic merge), after ``patch``: the SidecarSetUpgradable condition when
    # it changes, and the annotations when no image changes ({"metadata":{"uid","annotations"}}).
    status_patch: Obj | None = None
    condition: Obj | None = None  # the condition written by status_patch (None: unchanged)
    containers: list[str] = field(default_factory=list)  # sidecars whose image changes

    @property
    def writes(self) -> int:
        return (self.patch is not None) + (self.status_patch is not None)


@dataclass
class PodFlip:
    """HotUpgrade reset: the non-working container of each pair back to the empty image."""

    pod: Obj
    patch: Obj  # pods PATCH: {"metadata":{"uid","annotations"}, "spec":{"containers":[{"name","image"}]}}
    containers: list[str] = field(default_factory=list)


@dataclass
class Plan:
    # The latest ControllerRevision (status.latestRevision, the pods' controllerRevision) and its
    # write, at most one of: create it, bump its .revision (a rollback), or put the custom-version
    # label on it (a merge patch; spec.customVersion changed alone).
    latest_revision: str = ""
    revision_create: Obj | None = None
    revision_bump: Obj | None = None
    revision_label_patch: Obj | None = None
    # Old revisions to delete, oldest first (truncateHistory), once the round's writes succeeded.
    revisions_delete: list[str] = field(default_factory=list)
    upgrades: list[PodUpgrade] = field(default_factory=list)
    flips: list[PodFlip] = field(
        default_factory=list
    )  # HotUpgrade resets (a round with flips upgrades nothing)
    # (pod, condition SidecarSetUpgradable=False): only the pods whose condition changes.
    not_upgradable: list[tuple[Obj, Obj]] = field(default_factory=list)
    status: Status | None = None  # the full new status; None: unchanged, do not write
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    requeue_after: float | None = None
    notes: list[str] = field(default_factory=list)
    matched_pods: list[Obj] = field(default_factory=list)  # for expectations and history truncation
    # "namespace/name" -> updated | upgrade | reset | reset-wait | not-upgradable | mid-upgrade |
    # not-selected | partition | budget (for `kruise-py plan` and logs)
    pod_plan: dict[str, str] = field(default_factory=dict)
    memo: Memo = field(default_factory=lambda: Memo())  # what the next plan of this SidecarSet gets

    def requeue(self, seconds: float) -> None:
        if seconds > 0 and (self.requeue_after is None or seconds < self.requeue_after):
            self.requeue_after = seconds


# -- small helpers ------------------------------------------------------------------------------
def _annotations(o: Mapping[str, Any]) -> Mapping[str, Any]:
    return _m(_meta(o).get("annotations"))


def _labels(o: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in _m(_meta(o).get("labels")).items()}


def pod_key(pod: Mapping[str, Any]) -> str:
    return f"{_meta(pod).get('namespace') or ''}/{_name(pod)}"


def _go_json(obj: Any) -> str:
    return scs.go_json_marshal(obj)


def _sorted_map(d: Mapping[str, Any]) -> dict[str, Any]:
    """A Go map marshals with sorted keys."""
    return {k: d[k] for k in sorted(d)}


def _update_strategy(ss: Mapping[str, Any]) -> Mapping[str, Any]:
    return _m(_spec(ss).get("updateStrategy"))


def _ss_containers(ss: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in _l(_spec(ss).get("containers")) if isinstance(c, Mapping)]


def _native_inits(ss: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        c for c in _l(_spec(ss).get("initContainers")) if isinstance(c, Mapping) and scs.is_native_sidecar(c)
    ]


def _empty_image(container: Mapping[str, Any]) -> str:
    return str(_m(container.get("upgradeStrategy")).get("hotUpgradeEmptyImage") or "")


def hot_containers(pod: Mapping[str, Any], name: str) -> tuple[str, str]:
    """GetPodHotUpgradeContainers: (working, other) of sidecar ``name`` per the working annotation
    (``X-2`` is working unless the annotation says ``X-1``)."""
    one, two = inject.hot_upgrade_names(name)
    return (one, two) if _hot_working(pod).get(name) == one else (two, one)


def _pod_containers(pod: Mapping[str, Any], key: str = "containers") -> dict[str, Mapping[str, Any]]:
    return {str(c.get("name") or ""): c for c in _l(_spec(pod).get(key)) if isinstance(c, Mapping)}


def _container_statuses(pod: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Statuses of containers and init containers by name (names are unique across both)."""
    out: dict[str, Mapping[str, Any]] = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in _l(_status(pod).get(key)):
            if isinstance(cs, Mapping):
                out[str(cs.get("name") or "")] = cs
    return out


def sidecarset_hash(ss: Mapping[str, Any]) -> str:
    return str(_annotations(ss).get(HASH) or "")


def sidecarset_hash_without_image(ss: Mapping[str, Any]) -> str:
    return str(_annotations(ss).get(HASH_WITHOUT_IMAGE) or "")


def sidecar_list(ss: Mapping[str, Any]) -> list[str]:
    """listSidecarNameInSidecarSet: sorted names of the containers and native-sidecar init containers."""
    names = {str(c.get("name") or "") for c in _ss_containers(ss)}
    names |= {str(c.get("name") or "") for c in _native_inits(ss)}
    return sorted(names)


def sidecar_container_names(ss: Mapping[str, Any]) -> set[str]:
    """GetSidecarContainersInPod (HotUpgrade ``X`` is ``X-1`` and ``X-2``) plus native-sidecar inits."""
    names: set[str] = set()
    for c in _ss_containers(ss):
        name = str(c.get("name") or "")
        if inject.is_hot_upgrade(c):
            names.update(inject.hot_upgrade_names(name))
        else:
            names.add(name)
    names |= {str(c.get("name") or "") for c in _native_inits(ss)}
    return names


# -- pod annotations ----------------------------------------------------------------------------
def read_hash_annotation(pod: Mapping[str, Any], key: str = HASH) -> dict[str, dict[str, Any]]:
    """The ``kruise.io/sidecarset-hash`` (or ``-without-image``) map: SidecarSet name -> entry, both
    value shapes (``inject.read_hash_annotation``); an unparsable value reads as empty."""
    return inject.read_hash_annotation(pod, key)


def _pod_hash(pod: Mapping[str, Any], ss_name: str, key: str) -> str:
    value = read_hash_annotation(pod, key).get(ss_name, {}).get("hash")
    return value if isinstance(value, str) else ""


def _hot_working(pod: Mapping[str, Any]) -> dict[str, str]:
    raw = _annotations(pod).get(WORKING_HOT)
    try:
        parsed = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in _m(parsed).items()}


# -- predicates (spec §5.4 definitions) --------------------------------------------------------
def is_active(pod: Mapping[str, Any]) -> bool:
    """kubecontroller.IsPodActive: not terminating, phase neither Succeeded nor Failed."""
    return not av.is_terminating(pod) and not av.is_failed_or_succeeded(pod)


def matched(pod: Mapping[str, Any], ss: Mapping[str, Any]) -> bool:
    """A pod the SidecarSet manages: active, its injected list names the SidecarSet, and it has every
    sidecar container of the current spec (HotUpgrade: the working-container entry, ``X-1`` and
    ``X-2``). The label selector and the v1alpha1 ``namespace`` are checked again here; the
    namespaceSelector is the caller's (it needs the namespaces' labels)."""
    spec = _spec(ss)
    selector = spec.get("selector")
    if not isinstance(selector, Mapping) or not label_selector_matches(selector, _labels(pod)):
        return False
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return False  # an empty selector matches nothing for a SidecarSet
    namespace = spec.get("namespace")
    if isinstance(namespace, str) and namespace and namespace != (_meta(pod).get("namespace") or "default"):
        return False
    if not is_active(pod) or _name(ss) not in inject.injected_sidecarsets(pod):
        return False
    containers = _pod_containers(pod)
    working = _hot_working(pod)
    for c in _ss_containers(ss):
        name = str(c.get("name") or "")
        if inject.is_hot_upgrade(c):
            one, two = inject.hot_upgrade_names(name)
            if name not in working or one not in containers or two not in containers:
                return False
        elif name not in containers:
            return False
    return True


def candidate_pods(
    ss: Mapping[str, Any], pods: Iterable[Obj], namespace_labels: Callable[[str], Mapping[str, str]]
) -> list[Obj]:
    """Of ``pods`` (those whose injected list names the SidecarSet), the ones it selects, in the
    namespaces it admits (``namespace_labels(ns)``: the labels of a namespace); plan() checks the
    rest (matched)."""
    spec = _m(ss.get("spec"))
    ns_sel, only_ns = spec.get("namespaceSelector"), spec.get("namespace")
    ns_ok: dict[str, bool] = {}
    out = []
    for pod in pods:
        ns = _meta(pod).get("namespace", "")
        if only_ns and ns != only_ns:
            continue
        if ns_sel:
            if ns not in ns_ok:
                ns_ok[ns] = label_selector_matches(ns_sel, dict(namespace_labels(ns)))
            if not ns_ok[ns]:
                continue
        if label_selector_matches(_m(spec.get("selector")), dict(_m(_meta(pod).get("labels")))):
            out.append(pod)
    return out


def is_updated(pod: Mapping[str, Any], ss: Mapping[str, Any]) -> bool:
    """The pod's hash entry for this SidecarSet equals the SidecarSet's ``kruise.io/sidecarset-hash``."""
    return _pod_hash(pod, _name(ss), HASH) == sidecarset_hash(ss)


def is_upgradable(pod: Mapping[str, Any], ss: Mapping[str, Any]) -> bool:
    """Only images changed: the pod's without-image hash equals the SidecarSet's (P15)."""
    return _pod_hash(pod, _name(ss), HASH_WITHOUT_IMAGE) == sidecarset_hash_without_image(ss)


def _digest(ref: str) -> str:
    """The digest of an image reference or imageID (``…@sha256:x`` or ``sha256:x``), "" if none."""
    if "@" in ref:
        return ref.rsplit("@", 1)[1]
    ref = ref.split("://", 1)[-1]
    return ref if ref.startswith("sha256:") else ""


def _images_equal(spec_image: str, status_image: str) -> bool:
    return spec_image == status_image or normalize_image(spec_image) == normalize_image(status_image)


def _last_container_statuses(pod: Mapping[str, Any], ss_name: str) -> dict[str, Mapping[str, Any]] | None:
    """lastContainerStatuses of this SidecarSet's in-place state; {} without a state; None if unparsable."""
    raw = _annotations(pod).get(STATE)
    if raw is None:
        return {}
    try:
        states = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    if not isinstance(states, Mapping):
        return None
    last = _m(_m(states.get(ss_name)).get("lastContainerStatuses"))
    return {str(k): _m(v) for k, v in last.items()}


def is_consistent(
    pod: Mapping[str, Any], ss: Mapping[str, Any], containers: Iterable[str] | None = None
) -> bool:
    """IsPodStateConsistent (P16): the pod's containers all have a status, and the kubelet has applied
    the sidecar images (``containers``: only these sidecars; default all of them).

    - If every sidecar image is a digest, each must equal its status imageID's digest.
    - Otherwise the in-place state annotation decides: a recorded container whose imageID has not
      changed while the status image differs from the spec image is inconsistent. No state
      annotation: consistent; an unparsable one: inconsistent."""
    if len(_l(_spec(pod).get("containers"))) != len(_l(_status(pod).get("containerStatuses"))):
        return False
    names = set(containers) if containers is not None else sidecar_container_names(ss)
    if not names:
        names = sidecar_container_names(ss)
    statuses = _container_statuses(pod)
    spec_containers = {**_pod_containers(pod, "initContainers"), **_pod_containers(pod)}
    sidecars = [
        c
        for c in [*_l(_spec(pod).get("initContainers")), *_l(_spec(pod).get("containers"))]
        if isinstance(c, Mapping) and c.get("name") in names
    ]
    all_digest = True
    for c in sidecars:
        image = str(c.get("image") or "")
        if "@" not in image:
            all_digest = False
            break
        cs = statuses.get(str(c.get("name")))
        if cs is None or _digest(image) != _digest(str(cs.get("imageID") or "")):
            return False
    if all_digest:
        return True
    last = _last_container_statuses(pod, _name(ss))
    if last is None:
        return False
    for cname, cs in statuses.items():
        if cname not in names or cname not in last:
            continue
        spec_image = str(spec_containers.get(cname, {}).get("image") or "")
        if str(last[cname].get("imageID") or "") == str(cs.get("imageID") or "") and not _images_equal(
            spec_image, str(cs.get("image") or "")
        ):
            return False
    return True


def is_running_ready(pod: Mapping[str, Any], ss: Mapping[str, Any]) -> bool:
    """commonControl.IsPodReady: Running with Ready=True, and every HotUpgrade "empty" container runs
    its ``hotUpgradeEmptyImage`` (consistency not included)."""
    containers = _pod_containers(pod)
    for c in _ss_containers(ss):
        empty_image = _empty_image(c)
        if not inject.is_hot_upgrade(c) or not empty_image:
            continue
        _, empty = hot_containers(pod, str(c.get("name") or ""))
        if empty in containers and containers[empty].get("image") != empty_image:
            return False
    return av.is_running_ready(pod)


def is_ready(pod: Mapping[str, Any], ss: Mapping[str, Any]) -> bool:
    """**ready** of spec §5.4 (status.readyPods): consistent, and Running with Ready=True."""
    return is_consistent(pod, ss) and is_running_ready(pod, ss)


def is_mid_upgrade(pod: Mapping[str, Any], ss: Mapping[str, Any]) -> bool:
    """A sidecar container reports Ready but is not consistent: a previous upgrade is still running
    (IsSidecarSetUpgradable's ``consistent=false``); the pod waits for it."""
    statuses = _container_statuses(pod)
    for name in sorted(sidecar_container_names(ss)):
        if statuses.get(name, {}).get("ready") is True and not is_consistent(pod, ss, [name]):
            return True
    return False


# -- numbers ------------------------------------------------------------------------------------
def partition_replicas(partition: int | str | None, matched: int) -> int:
    """util.CalculatePartitionReplicas: a percentage of ``matched`` rounded up; a string other than
    "100%" that covers every pod of several leaves one to update; clamped to [0, matched]."""
    if partition is None:
        return 0
    try:
        p = int_or_percent(partition, matched, round_up=True)
    except ValueError:
        return 0
    if matched > 1 and p == matched and isinstance(partition, str) and partition != "100%":
        p = matched - 1
    return max(0, min(p, matched))


def max_unavailable(value: int | str | None, matched: int) -> int:
    """maxUnavailable over matched pods, a percentage rounded up; default 1; invalid: 0."""
    if value is None:
        return 1
    try:
        return int_or_percent(value, matched, round_up=True)
    except ValueError:
        return 0


# -- per-pod facts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PodFacts:
    """What the status needs of one pod: :func:`matched`, and (matched pods only) :func:`is_updated`
    and :func:`is_ready`. Each depends only on the pod and the SidecarSet's spec, name and hashes."""

    matched: bool
    updated: bool = False
    ready: bool = False


def pod_facts(pod: Mapping[str, Any], ss: Mapping[str, Any]) -> PodFacts:
    if not matched(pod, ss):
        return PodFacts(False)
    return PodFacts(True, is_updated(pod, ss), is_ready(pod, ss))


def _fast_meta(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    """``_meta`` without the ABC isinstance check for the common case (cache objects are dicts)."""
    md = pod.get("metadata")
    return md if type(md) is dict else _meta(pod)


def _ns_name(md: Mapping[str, Any]) -> tuple[str, str]:
    return str(md.get("namespace") or ""), str(md.get("name") or "")


_FactsKey = tuple[str, str, str, str]
_Entry = tuple[Mapping[str, Any], PodFacts]


@dataclass(frozen=True)
class FactsMemo:
    """:class:`PodFacts` of one SidecarSet's pods in a plan, which the next plan reuses for the same
    pod object, or one with the same ``resourceVersion``, while the SidecarSet's spec, name and hashes
    did not change.

    Without it every plan parses every pod's annotations again (~90 µs a pod: 270 ms for 3000 pods,
    bench P5), although between two reconciles only the pods of the last events changed. Cache
    objects are replaced, never mutated, on every event, so a pod's resourceVersion stands for its
    content. The plan's result is the same with or without a memo (only the work differs): it stays
    a pure function of the snapshot. A plan never changes the memo it is given; the one it returns
    holds the pods of that plan only (deleted pods do not accumulate)."""

    ss_key: _FactsKey | None = None
    facts: Mapping[tuple[str, str], _Entry] = field(default_factory=dict)


def _facts_key(ss: Mapping[str, Any]) -> _FactsKey:
    return (
        _name(ss),
        sidecarset_hash(ss),
        sidecarset_hash_without_image(ss),
        json.dumps(_spec(ss), sort_keys=True, default=str),
    )


def facts_with(
    memo: FactsMemo | None, ss: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> tuple[dict[int, PodFacts], FactsMemo]:
    """Each pod's facts, by ``id(pod)``, reusing ``memo``'s where they still hold, and the memo of
    them for the next plan."""
    ss_key = _facts_key(ss)
    previous = memo.facts if memo is not None and memo.ss_key == ss_key else {}
    current: dict[tuple[str, str], _Entry] = {}
    by_id: dict[int, PodFacts] = {}
    for pod in pods:
        md = _fast_meta(pod)
        key = _ns_name(md)
        hit = current.get(key) or previous.get(key)
        f: PodFacts | None = None
        if hit is not None:
            rv = md.get("resourceVersion")
            if hit[0] is pod or (isinstance(rv, str) and rv and _meta(hit[0]).get("resourceVersion") == rv):
                f = hit[1]
        if f is None:
            f = pod_facts(pod, ss)
        current[key] = (pod, f)
        by_id[id(pod)] = f
    return by_id, FactsMemo(ss_key, current)


@dataclass(frozen=True)
class Memo:
    """What one plan of a SidecarSet hands to the next (``Plan.memo``): the reconciler keeps one per
    SidecarSet, as it is, and passes it to the next ``plan``."""

    facts: FactsMemo = field(default_factory=FactsMemo)
    # Pods were left to upgrade (waiting, held back or mid-upgrade): their events are worth a prompt
    # reconcile. True while nothing is known.
    upgrading: bool = True


# -- status -------------------------------------------------------------------------------------
def compute_status(
    ss: Mapping[str, Any],
    matched_pods: Sequence[Mapping[str, Any]],
    latest_revision: str,
    collision_count: int,
    facts: Callable[[Mapping[str, Any]], PodFacts] | None = None,
) -> Status:
    """calculateStatus: matched, updated, ready (consistent + Running/Ready), updated and ready."""
    updated = ready = updated_ready = 0
    for pod in matched_pods:
        if facts is not None:
            f = facts(pod)
            u, r = f.updated, f.ready
        else:
            u = is_updated(pod, ss)
            r = is_ready(pod, ss)
        updated += u
        ready += r
        updated_ready += u and r
    generation = _meta(ss).get("generation")
    return {
        "observedGeneration": generation if isinstance(generation, int) else 0,
        "matchedPods": len(matched_pods),
        "updatedPods": updated,
        "readyPods": ready,
        "updatedReadyPods": updated_ready,
        "latestRevision": latest_revision,
        "collisionCount": collision_count,
    }


def status_changed(old: Mapping[str, Any], new: Status) -> bool:
    """inconsistentStatus: a newer generation, or any counter, the revision or collisionCount differs."""
    old_gen = old.get("observedGeneration")
    if new["observedGeneration"] > (old_gen if isinstance(old_gen, int) else 0):
        return True
    counts = (
        ("matchedPods", new["matchedPods"]),
        ("updatedPods", new["updatedPods"]),
        ("readyPods", new["readyPods"]),
        ("updatedReadyPods", new["updatedReadyPods"]),
    )
    if any((old.get(k) or 0) != v for k, v in counts):
        return True
    return bool(
        (old.get("latestRevision") or "") != new["latestRevision"]
        or old.get("collisionCount") != new["collisionCount"]
    )


# -- ordering -----------------------------------------------------------------------------------
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _ts(v: Any) -> float | None:
    if not isinstance(v, str) or not v:
        return None
    try:
        return av.parse_time(v).timestamp()
    except ValueError:
        return None


def _zero_first_newer_first(t: float | None) -> tuple[int, float]:
    """afterOrZero as a sort key: a zero time first, then the later time first."""
    return (0, 0.0) if t is None else (1, -t)


def active_pods_key(pod: Mapping[str, Any]) -> tuple[Any, ...]:
    """k8s controller.ActivePods ``Less`` as a sort key: unassigned < assigned; Pending < Unknown <
    Running; not ready < ready; ready for a shorter time (zero first) < longer; more restarts < fewer;
    zero or newer creationTimestamp < older."""
    ready = av.is_ready(pod)
    since = av.ready_since(pod)
    ready_key = _zero_first_newer_first(since.timestamp() if since is not None else None)
    restarts = 0
    for cs in _l(_status(pod).get("containerStatuses")):
        rc = _m(cs).get("restartCount")
        if isinstance(rc, int) and rc > restarts:
            restarts = rc
    return (
        1 if _spec(pod).get("nodeName") else 0,
        _PHASE_ORDINAL.get(str(_status(pod).get("phase") or ""), 0),
        1 if ready else 0,
        ready_key if ready else (0, 0.0),
        -restarts,
        _zero_first_newer_first(_ts(_meta(pod).get("creationTimestamp"))),
    )


def scatter_terms(strategy: Any, pods: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """parseUpdateScatterTerms: the terms, de-duplicated, ``value: "*"`` expanded to every value the
    key has on the pods (in pod order)."""
    out: list[tuple[str, str]] = []

    def add(term: tuple[str, str]) -> None:
        if term not in out:
            out.append(term)

    for t in _l(strategy):
        key, value = str(_m(t).get("key") or ""), str(_m(t).get("value") or "")
        if value != "*":
            add((key, value))
            continue
        for pod in pods:
            labels = _labels(pod)
            if key in labels:
                add((key, labels[key]))
    return out


def _go_round(a: int, b: int) -> int:
    """math.Round(a/b) for a >= 0, b > 0 (half away from zero)."""
    return (2 * a + b) // (2 * b)


def _group(matched: int, unmatched: int) -> tuple[int, int, int]:
    """newScatterGroup: (groupNum, matchedGroupSize, unmatchedGroupSize)."""
    num = min(matched, unmatched)
    if num <= 0:
        return 0, 0, 0
    return num, _go_round(matched, num), _go_round(unmatched, num)


def _group_by_density(total_m: int, total_u: int, upd_m: int, upd_u: int) -> tuple[int, int, int, int]:
    """calculateGroupByDensity: (groupNum, matchedGroupSize, unmatchedGroupSize, unmatchedRemainder)."""
    upd = _group(upd_m, upd_u)
    if Fraction(total_u, total_m) >= Fraction(upd_u, upd_m):
        return (*upd, 0)
    _, m_size, u_size = _group(total_m, total_u)
    num = min(upd_m // m_size, upd_u // u_size)
    return num, m_size, u_size, upd_u - num * u_size


def _scatter_by_rule(
    term: tuple[str, str], pods: Sequence[Mapping[str, Any]], indexes: list[int]
) -> list[int]:
    """scatterPodsByRule: spread the pods carrying ``key=value`` evenly among the others."""
    key, value = term
    labels = [_labels(p) for p in pods]
    matched_idx = [i for i in indexes if labels[i].get(key, "") == value]
    unmatched_idx = [i for i in indexes if labels[i].get(key, "") != value]
    if len(matched_idx) <= 1 or len(unmatched_idx) <= 1:
        return indexes
    total_m = sum(1 for lb in labels if lb.get(key, "") == value)
    total_u = len(pods) - total_m
    last = matched_idx.pop()
    total_m -= 1
    num, m_size, u_size, remainder = _group_by_density(total_m, total_u, len(matched_idx), len(unmatched_idx))
    out: list[int] = []
    if remainder > 0:
        out += unmatched_idx[:remainder]
        unmatched_idx = unmatched_idx[remainder:]
    for _ in range(num):
        out += matched_idx[:m_size]
        matched_idx = matched_idx[m_size:]
        out += unmatched_idx[:u_size]
        unmatched_idx = unmatched_idx[u_size:]
    return [*out, *matched_idx, *unmatched_idx, last]


def scatter_sort(
    terms: Sequence[tuple[str, str]], pods: Sequence[Mapping[str, Any]], indexes: list[int]
) -> list[int]:
    """updatesort scatterSort: with several terms, those matching more waiting pods go first (terms
    matching none are dropped); each term in turn spreads its pods across the order. ``pods`` are
    all matched pods (the totals), ``indexes`` the waiting ones, in order."""
    if not terms or len(indexes) <= 1:
        return indexes
    ordered = list(terms)
    if len(ordered) > 1:
        counts: dict[tuple[str, str], int] = {}
        for t in ordered:
            for i in indexes:
                if _labels(pods[i]).get(t[0]) == t[1]:
                    counts[t] = counts.get(t, 0) + 1
        ordered = sorted((t for t in ordered if t in counts), key=lambda t: -counts[t])
    for t in ordered:
        indexes = _scatter_by_rule(t, pods, indexes)
    return indexes


def sort_waiting(ss: Mapping[str, Any], pods: Sequence[Obj], waiting: list[int]) -> list[int]:
    """SortUpdateIndexes: ActivePods order, then priorityStrategy, then scatterStrategy."""
    strategy = _update_strategy(ss)
    order = sorted(waiting, key=lambda i: active_pods_key(pods[i]))
    priority = strategy.get("priorityStrategy")
    if isinstance(priority, Mapping):
        position = {id(pods[i]): i for i in order}
        order = [position[id(p)] for p in priority_sort([pods[i] for i in order], priority)]
    terms = scatter_terms(strategy.get("scatterStrategy"), pods)
    return scatter_sort(terms, pods, order)


# -- writes -------------------------------------------------------------------------------------
def _condition(pod: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    for c in _l(_status(pod).get("conditions")):
        if isinstance(c, Mapping) and c.get("type") == ctype:
            return c
    return None


def upgradable_condition(pod: Mapping[str, Any], ss_name: str, upgradable: bool, now: datetime) -> Obj | None:
    """updatePodSidecarSetUpgradableCondition: record ``{ss_name: upgradable}`` in the condition's
    JSON message; True (AllSidecarsetUpgradable) only when no SidecarSet recorded false, else False
    (UpdateImmutableField). None when nothing changes (podutil.UpdatePodCondition's test: status,
    reason, message; the transition time moves only with the status)."""
    old = _condition(pod, UPGRADABLE)
    kv: dict[str, Any] = {}
    message = old.get("message") if old is not None else None
    if isinstance(message, str) and message:
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = {}
        kv = dict(parsed) if isinstance(parsed, Mapping) else {}
    kv[ss_name] = upgradable
    all_true = not any(v is False for v in kv.values())
    status = "True" if all_true else "False"
    reason = REASON_ALL_UPGRADABLE if all_true else REASON_IMMUTABLE_FIELD
    text = _go_json(_sorted_map(kv))
    ltt: Any
    if old is None:
        ltt = format_time(now)
    else:
        if old.get("status") == status and old.get("reason") == reason and old.get("message") == text:
            return None
        ltt = old.get("lastTransitionTime") if old.get("status") == status else format_time(now)
    out: Obj = {"type": UPGRADABLE, "status": status, "reason": reason, "message": text}
    if ltt:
        out["lastTransitionTime"] = ltt
    return out


def apply_patch_pod_metadata(
    annotations: dict[str, Any], patches: Any, notes: list[str] | None = None
) -> None:
    """PatchPodMetadata on an annotation map (in place), key by key with ``inject.patch_pod_annotations``:
    Retain sets only absent keys, Overwrite always sets, MergePatchJson merges the JSON value into a
    non-empty existing one (RFC 7386) or sets it. A value that is not JSON leaves that annotation
    unchanged, with a note (OpenKruise fails the pod's update and retries forever)."""
    for p in _l(patches):
        policy = _m(p).get("patchPolicy") or scs.PATCH_POLICY_RETAIN
        for key, value in _m(_m(p).get("annotations")).items():
            one = [{"annotations": {key: value}, "patchPolicy": policy}]
            try:
                annotations.update(
                    inject.patch_pod_annotations({k: str(v) for k, v in annotations.items()}, one)
                )
            except inject.InjectionError as e:
                if notes is not None:
                    notes.append(f"patchPodMetadata: annotation {key} left unchanged: {e}")


def _state_with(
    annotations: Mapping[str, Any],
    ss: Mapping[str, Any],
    changed: Iterable[str],
    statuses: Mapping[str, Mapping[str, Any]],
    stamp: str,
) -> str:
    """UpdatePodAnnotationsInUpgrade: ``kruise.io/sidecarset-inplace-update-state`` with this
    SidecarSet's entry (reused if present, P28) recording each changed container's current imageID."""
    states: dict[str, Any] = {}
    raw_state = annotations.get(STATE)
    if isinstance(raw_state, str) and raw_state:
        try:
            parsed = json.loads(raw_state)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping):
            states = dict(parsed)
    state = states.get(_name(ss))
    if isinstance(state, Mapping):
        state = dict(state)
    else:
        state = {"revision": sidecarset_hash(ss), "updateTimestamp": stamp}
    last = dict(_m(state.get("lastContainerStatuses")))
    for name in changed:
        last[name] = {"imageID": str(statuses.get(name, {}).get("imageID") or "")}
    state["lastContainerStatuses"] = _sorted_map(last)
    states[_name(ss)] = state
    return _go_json(_sorted_map(states))


def upgrade_patch(
    pod: Mapping[str, Any],
    ss: Mapping[str, Any],
    latest_revision: str,
    now: datetime,
    notes: list[str] | None = None,
) -> tuple[Obj, list[str]]:
    """The one strategic merge patch upgrading the pod's sidecars (spec §5.4 step 7) and the names of
    the containers whose image changes.

    - ``spec.containers`` / ``spec.initContainers`` (native sidecars): ``{name, image}`` of each sidecar
      whose image differs; nothing else of the container (transferEnv and shared mounts are never
      written back);
    - ``kruise.io/sidecarset-hash``: this SidecarSet's entry replaced (hash, sidecarList,
      controllerRevision, updateTimestamp), the others kept; the without-image hash is left as is;
    - ``kruise.io/sidecarset-inplace-update-state``: this SidecarSet's entry (reused if present, P28)
      gets each changed container's current imageID in ``lastContainerStatuses``;
    - ``kruise.io/sidecarset-injected-list`` if missing; patchPodMetadata applied again;
    - HotUpgrade ``X``: the container ``container_to_hot_upgrade`` picks gets the image (unless the
      working one already runs it) and becomes the working one in
      ``kruise.io/sidecarset-working-hotupgrade-container``; ``version.../<new>`` and
      ``versionalt.../<other>`` become the SidecarSet's resourceVersion, ``versionalt.../<new>`` the
      other's version.
    """
    ss_name = _name(ss)
    ss_hash = sidecarset_hash(ss)
    stamp = format_time(now)
    statuses = _container_statuses(pod)
    changed: list[str] = []
    spec_patch: Obj = {}
    hot: list[tuple[str, str, str]] = []  # (sidecar, upgraded container, other container)
    for key, sidecars in (("initContainers", _native_inits(ss)), ("containers", _ss_containers(ss))):
        in_pod = _pod_containers(pod, key)
        items: list[Obj] = []
        for c in sidecars:
            name = str(c.get("name") or "")
            image = c.get("image")
            if not isinstance(image, str) or not image:
                continue
            if inject.is_hot_upgrade(c):
                if key != "containers":
                    continue  # native-sidecar HotUpgrade pairs are injected, never upgraded (as OpenKruise)
                target, other = container_to_hot_upgrade(c, pod, ss)
                if target not in in_pod or in_pod.get(other, {}).get("image") == image:
                    continue  # the working container runs it already
                items.append({"name": target, "image": image})
                changed.append(target)
                hot.append((name, target, other))
                continue
            if name in in_pod and in_pod[name].get("image") != image:
                items.append({"name": name, "image": image})
                changed.append(name)
        if items:
            spec_patch[key] = items

    old = {str(k): v for k, v in _annotations(pod).items()}
    new = dict(old)
    if hot:
        working = _hot_working(pod)
        rv = str(_meta(ss).get("resourceVersion") or "")
        for name, target, other in hot:
            working[name] = target
            new[inject.version_annotation(target)] = rv
            new[inject.version_alt_annotation(target)] = str(old.get(inject.version_annotation(other)) or "")
            new[inject.version_alt_annotation(other)] = rv
        new[WORKING_HOT] = _go_json(_sorted_map(working))

    hashes = read_hash_annotation(pod, HASH)  # other SidecarSets' entries are kept (legacy ones re-shaped)
    entry: Obj = {
        "updateTimestamp": stamp,
        "hash": ss_hash,
        "sidecarSetName": ss_name,
        "sidecarList": sidecar_list(ss),
    }
    if latest_revision:
        entry["controllerRevision"] = latest_revision
    hashes[ss_name] = entry
    new[HASH] = _go_json(_sorted_map(hashes))

    new[STATE] = _state_with(old, ss, changed, statuses, stamp)

    if not old.get(INJECTED_LIST):
        new[INJECTED_LIST] = ss_name
    apply_patch_pod_metadata(new, _spec(ss).get("patchPodMetadata"), notes)

    changes = {k: v for k, v in new.items() if old.get(k) != v}
    patch: Obj = {"metadata": {"uid": _meta(pod).get("uid"), "annotations": changes}}
    if spec_patch:
        patch["spec"] = spec_patch
    return patch, changed


def container_to_hot_upgrade(
    c: Mapping[str, Any], pod: Mapping[str, Any], ss: Mapping[str, Any]
) -> tuple[str, str]:
    """findContainerToHotUpgrade: (container to upgrade, the other) for HotUpgrade sidecar ``c``:
    the one running the empty image; else the not-ready one (ready = status ready and consistent);
    else the older one, i.e. the non-working one."""
    name = str(c.get("name") or "")
    one, two = inject.hot_upgrade_names(name)
    containers = _pod_containers(pod)
    empty = _empty_image(c)
    if str(containers.get(one, {}).get("image") or "") == empty:
        return one, two
    if str(containers.get(two, {}).get("image") or "") == empty:
        return two, one
    statuses = _container_statuses(pod)

    def ready(cname: str) -> bool:
        return statuses.get(cname, {}).get("ready") is True and is_consistent(pod, ss, [cname])

    if ready(one) and not ready(two):
        return two, one
    if not ready(one) and ready(two):
        return one, two
    working, other = hot_containers(pod, name)
    return other, working


def _hot_upgrading(pod: Mapping[str, Any], ss: Mapping[str, Any]) -> bool:
    """isPodSidecarInHotUpgrading: some pair's non-working container does not run the empty image."""
    images = {n: c.get("image") for n, c in _pod_containers(pod).items()}
    return any(
        images.get(hot_containers(pod, str(c.get("name") or ""))[1]) != _empty_image(c)
        for c in _ss_containers(ss)
        if inject.is_hot_upgrade(c)
    )


def _hot_upgrading_ready(pod: Mapping[str, Any], ss: Mapping[str, Any], others: set[str]) -> bool:
    """isHotUpgradingReady: Running and Ready, or every container but the pairs' others ready."""
    if av.is_running_ready(pod):
        return True
    return all(
        _m(cs).get("ready") is True
        for cs in _l(_status(pod).get("containerStatuses"))
        if _m(cs).get("name") not in others
    )


def flip_patch(pod: Mapping[str, Any], ss: Mapping[str, Any], now: datetime) -> tuple[Obj, list[str]] | None:
    """The HotUpgrade reset of step 5, or None when the pod is not ready for it.

    For a pod in hot upgrading whose sidecars (the pairs' non-working ones aside) are consistent and
    ready: each non-working container gets ``hotUpgradeEmptyImage``, its ``version`` annotation and
    the working one's ``versionalt`` become "0", and the in-place state records the reset
    containers' imageIDs (flipPodSidecarContainerDo)."""
    hot = [c for c in _ss_containers(ss) if inject.is_hot_upgrade(c)]
    if not hot or not _hot_upgrading(pod, ss):
        return None
    others = {hot_containers(pod, str(c.get("name") or ""))[1] for c in hot}
    if not is_consistent(pod, ss, sidecar_container_names(ss) - others):
        return None
    if not _hot_upgrading_ready(pod, ss, others):
        return None
    containers = _pod_containers(pod)
    old = {str(k): v for k, v in _annotations(pod).items()}
    new = dict(old)
    items: list[Obj] = []
    for c in hot:
        working, empty = hot_containers(pod, str(c.get("name") or ""))
        if empty not in containers or containers[empty].get("image") == _empty_image(c):
            continue
        items.append({"name": empty, "image": _empty_image(c)})
        new[inject.version_annotation(empty)] = "0"
        new[inject.version_alt_annotation(working)] = "0"
    if not items:
        return None
    changed = [str(i["name"]) for i in items]
    new[STATE] = _state_with(old, ss, changed, _container_statuses(pod), format_time(now))
    changes = {k: v for k, v in new.items() if old.get(k) != v}
    return {
        "metadata": {"uid": _meta(pod).get("uid"), "annotations": changes},
        "spec": {"containers": items},
    }, changed


# -- the plan -----------------------------------------------------------------------------------
def plan(snap: Snapshot, memo: Memo | None = None) -> Plan:
    """The plan of one reconcile. ``memo``: the previous plan's ``Plan.memo`` (it saves
    re-evaluating unchanged pods and does not change the result); the plan's own is ``Plan.memo``."""
    ss = snap.sidecarset
    p = Plan()

    # registerLatestRevision: the latest revision, and at most one write to make it so.
    action, revision, cc = ssrev.decide_revision_full(ss, snap.revisions, snap.revision_namespace)
    p.latest_revision = _name(revision)
    if action == "create":
        p.revision_create = revision
    elif action == "bump":
        p.revision_bump = revision
    else:
        p.revision_label_patch = ssrev.custom_version_patch(ss, revision)

    pods = sorted(snap.pods, key=lambda o: _ns_name(_fast_meta(o)))
    # Each pod's facts once per plan, then by identity (pods are visited several times below).
    by_id, facts_memo = facts_with(memo.facts if memo is not None else None, ss, pods)

    def facts(pod: Mapping[str, Any]) -> PodFacts:
        return by_id[id(pod)]

    matched_pods = [pod for pod in pods if by_id[id(pod)].matched]
    p.matched_pods = matched_pods
    after = ssrev.apply_decision(snap.revisions, action, revision)
    p.revisions_delete = ssrev.revisions_to_delete(ss, after, matched_pods)

    # 1. status
    status = compute_status(ss, matched_pods, p.latest_revision, cc, facts)
    if status_changed(_status(ss), status):
        p.status = status
    for pod in matched_pods:
        if facts(pod).updated:
            p.pod_plan[pod_key(pod)] = "updated"

    _plan_upgrades(p, snap, matched_pods, status, facts)
    # Pods left to upgrade (waiting, held by the budget or mid-upgrade): keep pod events fast.
    p.memo = Memo(facts=facts_memo, upgrading=any(v != "updated" for v in p.pod_plan.values()))
    return p


def _plan_upgrades(
    p: Plan,
    snap: Snapshot,
    matched_pods: list[Obj],
    status: Status,
    facts: Callable[[Mapping[str, Any]], PodFacts],
) -> None:
    """Steps 3-7: the resets and upgrades of this round, into ``p``."""
    ss = snap.sidecarset
    ss_name = _name(ss)
    # 3. NotUpdate / paused
    strategy = _update_strategy(ss)
    if strategy.get("type") == scs.UPDATE_STRATEGY_NOT_UPDATE:
        p.notes.append("updateStrategy.type is NotUpdate: injection only")
        return
    if strategy.get("paused") is True:
        p.notes.append("updateStrategy.paused: no upgrades")
        return
    # 4. HotUpgrade: reset the old containers of pods whose new one is up; nothing else this round
    if any(inject.is_hot_upgrade(c) for c in _ss_containers(ss)):
        for pod in matched_pods:
            flip = flip_patch(pod, ss, snap.now)
            if flip is not None:
                p.flips.append(PodFlip(pod=pod, patch=flip[0], containers=flip[1]))
                p.pod_plan[pod_key(pod)] = "reset"
            elif _hot_upgrading(pod, ss):
                p.pod_plan[pod_key(pod)] = "reset-wait"  # the new container is not up yet
        if p.flips:
            p.notes.append(f"resetting {len(p.flips)} pod(s) to the HotUpgrade empty image; upgrades wait")
            return
    # 5. done?
    if status["updatedPods"] >= status["matchedPods"]:
        p.notes.append(f"all {status['matchedPods']} matched pods are updated")
        return

    # 6. pick pods
    selector = strategy.get("selector")
    waiting: list[int] = []
    not_upgradable: list[Obj] = []
    for i, pod in enumerate(matched_pods):
        if facts(pod).updated:
            continue
        key = pod_key(pod)
        if selector is not None and not label_selector_matches(selector, _labels(pod)):
            p.pod_plan[key] = "not-selected"
            continue
        if not is_upgradable(pod, ss):
            not_upgradable.append(pod)
            p.pod_plan[key] = "not-upgradable"
            continue
        if is_mid_upgrade(pod, ss):
            p.pod_plan[key] = "mid-upgrade"
            continue
        waiting.append(i)

    for pod in not_upgradable:
        cond = upgradable_condition(pod, ss_name, False, snap.now)
        if cond is not None:
            p.not_upgradable.append((pod, cond))
    if not_upgradable:
        p.events.append(
            (
                "Normal",
                EVENT_NOT_UPGRADABLE,
                f"SidecarSet in-place update detected {len(not_upgradable)} not upgradable pod(s) "
                "in this round, will skip them.",
            )
        )

    order = sort_waiting(ss, matched_pods, waiting)
    total = len(matched_pods)
    partition = partition_replicas(strategy.get("partition"), total)
    kept = order[len(order) - partition :] if partition > 0 else []
    for i in kept:
        p.pod_plan[pod_key(matched_pods[i])] = "partition"
    order = order[: max(0, len(order) - partition)]
    max_u = max_unavailable(strategy.get("maxUnavailable"), total)
    busy = sum(1 for pod in matched_pods if facts(pod).updated and not facts(pod).ready)
    chosen: list[int] = []
    for n, i in enumerate(order):
        if not is_running_ready(matched_pods[i], ss):
            chosen.append(i)
            continue
        if busy >= max_u:
            for j in order[n:]:
                p.pod_plan[pod_key(matched_pods[j])] = "budget"
            p.notes.append(f"maxUnavailable {max_u} reached ({busy} updated pods not ready or inconsistent)")
            break
        busy += 1
        chosen.append(i)
    if partition:
        p.notes.append(f"partition keeps {min(partition, len(waiting))} waiting pod(s) at the old version")

    # 7. upgrade
    for i in chosen:
        pod = matched_pods[i]
        patch, containers = upgrade_patch(pod, ss, p.latest_revision, snap.now, p.notes)
        cond = upgradable_condition(pod, ss_name, True, snap.now)
        p.upgrades.append(pod_upgrade(pod, patch, cond, containers))
        p.pod_plan[pod_key(pod)] = "upgrade"


def pod_upgrade(pod: Obj, patch: Obj, condition: Obj | None, containers: list[str]) -> PodUpgrade:
    """The writes of one upgrade: the pods patch, then the condition on pods/status if it changes;
    without an image to change, one pods/status patch carries the annotations and the condition."""
    status: Obj | None = None
    if condition is not None:
        status = {"metadata": {"uid": _meta(pod).get("uid")}, "status": {"conditions": [condition]}}
    if "spec" not in patch and status is not None:
        return PodUpgrade(
            pod=pod,
            patch=None,
            status_patch={**patch, "status": status["status"]},
            condition=condition,
            containers=containers,
        )
    return PodUpgrade(pod=pod, patch=patch, status_patch=status, condition=condition, containers=containers)
