"""Pod lifecycle hooks and states (spec §1.6).

[kruise apis/apps/pub/lifecycle.go, pkg/util/lifecycle/lifecycle_utils.go; the ASTS uses them in
stateful_set_control.go ``processReplica`` (creation), ``refreshPodState``, ``inPlaceUpdatePod`` and
``deletePod``.]

A ``lifecycle`` is the set's ``spec.lifecycle`` dict ``{preDelete, inPlaceUpdate, preNormal}``; each
hook is ``{labelsHandler: {k: v}, finalizersHandler: [..], markPodNotReady: bool}``. Like Kruise,
"lifecycle is set" means the field is present (even as ``{}``), which matters for the Updated state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from .obj import format_time
from .revisions import revision_of_pod

STATE_LABEL = "lifecycle.apps.kruise.io/state"
TIMESTAMP_ANNOTATION = "lifecycle.apps.kruise.io/timestamp"

PREPARING_NORMAL = "PreparingNormal"
NORMAL = "Normal"
PREPARING_UPDATE = "PreparingUpdate"
UPDATING = "Updating"
UPDATED = "Updated"
PREPARING_DELETE = "PreparingDelete"
STATES = (PREPARING_NORMAL, NORMAL, PREPARING_UPDATE, UPDATING, UPDATED, PREPARING_DELETE)

InPlaceGate = Literal["proceed", "wait", "refuse"]


# --------------------------------------------------------------------------------------------------
# Accessors


def _meta(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = pod.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _labels(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    labels = _meta(pod).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def _finalizers(pod: Mapping[str, Any]) -> list[str]:
    fins = _meta(pod).get("finalizers")
    return [f for f in fins if isinstance(f, str)] if isinstance(fins, list) else []


def get_state(pod: Mapping[str, Any]) -> str:
    """The pod's lifecycle state label, "" if absent."""
    value = _labels(pod).get(STATE_LABEL)
    return value if isinstance(value, str) else ""


def hook(lifecycle: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    """``lifecycle[name]`` (``preDelete``, ``inPlaceUpdate`` or ``preNormal``) or None."""
    if not isinstance(lifecycle, Mapping):
        return None
    h = lifecycle.get(name)
    return h if isinstance(h, Mapping) else None


def _hook_labels(h: Mapping[str, Any]) -> dict[str, str]:
    labels = h.get("labelsHandler")
    if not isinstance(labels, Mapping):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in labels.items()}


def _hook_finalizers(h: Mapping[str, Any]) -> list[str]:
    fins = h.get("finalizersHandler")
    return [str(f) for f in fins] if isinstance(fins, list) else []


def mark_pod_not_ready(h: Mapping[str, Any] | None) -> bool:
    return bool(h.get("markPodNotReady")) if isinstance(h, Mapping) else False


# --------------------------------------------------------------------------------------------------
# Hooked tests (lifecycle_utils.go IsPodHooked / IsPodAllHooked)


def is_hooked(pod: Mapping[str, Any], hook: Mapping[str, Any] | None) -> bool:
    """ANY hook finalizer present or ANY hook label with the configured value. A nil hook: False.

    As in Go (``pod.Labels[k] == v`` on a map), a missing label reads as "", so a hook label whose
    configured value is "" counts as present even when the pod lacks it.
    """
    if not isinstance(hook, Mapping):
        return False
    pod_fins = set(_finalizers(pod))
    if any(f in pod_fins for f in _hook_finalizers(hook)):
        return True
    labels = _labels(pod)
    return any(labels.get(k, "") == v for k, v in _hook_labels(hook).items())


def is_all_hooked(pod: Mapping[str, Any], hook: Mapping[str, Any] | None) -> bool:
    """EVERY hook finalizer present and EVERY hook label with its value. A nil hook: False
    (a hook with no labels or finalizers: True)."""
    if not isinstance(hook, Mapping):
        return False
    pod_fins = set(_finalizers(pod))
    if any(f not in pod_fins for f in _hook_finalizers(hook)):
        return False
    labels = _labels(pod)
    return all(labels.get(k, "") == v for k, v in _hook_labels(hook).items())


# --------------------------------------------------------------------------------------------------
# Patches


def state_patch(
    state: str,
    now: datetime,
    *,
    pod: Mapping[str, Any] | None = None,
    readd_hook: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON merge patch setting the state label and the timestamp annotation.

    With ``readd_hook`` (Kruise UpdatePodLifecycleWithHandler: ``Updated`` -> ``PreparingUpdate``),
    the hook's labels are set too and its finalizers are added. A merge patch replaces the whole
    finalizer list, so ``pod`` (the current pod) is required then: the patch carries the pod's
    finalizers plus the missing hook ones, and the pod's resourceVersion, so a concurrent finalizer
    change makes the patch fail with 409 instead of being lost.
    """
    labels: dict[str, Any] = {STATE_LABEL: state}
    meta: dict[str, Any] = {
        "labels": labels,
        "annotations": {TIMESTAMP_ANNOTATION: format_timestamp(now)},
    }
    if isinstance(readd_hook, Mapping):
        for k, v in _hook_labels(readd_hook).items():
            if k != STATE_LABEL:
                labels[k] = v
        hook_fins = _hook_finalizers(readd_hook)
        current = _finalizers(pod) if pod is not None else []
        missing = [f for f in dict.fromkeys(hook_fins) if f not in current]
        if missing:
            if pod is None:
                raise ValueError("state_patch: pod is required to re-add hook finalizers")
            meta["finalizers"] = [*current, *missing]
            rv = _meta(pod).get("resourceVersion")
            if rv:
                meta["resourceVersion"] = rv
    return {"metadata": meta}


# --------------------------------------------------------------------------------------------------
# States


def initial_state(pod: Mapping[str, Any], lifecycle: Mapping[str, Any] | None) -> str:
    """State of a pod about to be created (processReplica), ``pod`` as built from the template:
    PreparingNormal if ``lifecycle.preNormal`` is set and the pod is not all-hooked for it, else Normal."""
    pre_normal = hook(lifecycle, "preNormal")
    if pre_normal is None or is_all_hooked(pod, pre_normal):
        return NORMAL
    return PREPARING_NORMAL


def after_inplace_update_state(pod: Mapping[str, Any], lifecycle: Mapping[str, Any] | None) -> str:
    """State once an in-place update finished (or a PreparingUpdate pod turned out to be at the update
    revision already): Updated if ``lifecycle`` is set and the pod is not all-hooked for inPlaceUpdate,
    else Normal. With lifecycle set but inPlaceUpdate nil this is Updated (for one refresh; §1.6)."""
    if lifecycle is not None and not is_all_hooked(pod, hook(lifecycle, "inPlaceUpdate")):
        return UPDATED
    return NORMAL


def delete_blocked(pod: Mapping[str, Any], lifecycle: Mapping[str, Any] | None) -> bool:
    """deletePod: True if the pod is hooked for preDelete, so it must be moved to PreparingDelete
    (next_state(..., wants_delete=True)) and NOT deleted. Applies to every deletion path."""
    return is_hooked(pod, hook(lifecycle, "preDelete"))


def inplace_gate(pod: Mapping[str, Any], lifecycle: Mapping[str, Any] | None) -> InPlaceGate:
    """inPlaceUpdatePod, for a pod that needs an update and can be updated in place:

    - ``wait``: do not patch the pod now; it goes to (or stays in) PreparingUpdate. Happens when the
      pod is hooked for inPlaceUpdate in "", PreparingNormal, Normal or PreparingUpdate, and always
      in Updated (which first goes back to PreparingUpdate, re-adding the hook). The pod still counts
      as being updated (unavailable) in this pass.
    - ``proceed``: patch the pod in place now; if its state is not "", set it to Updating alongside.
    - ``refuse``: the state does not allow an in-place update (PreparingDelete, unknown): Kruise
      returns an error for the set.
    """
    state = get_state(pod)
    in_place = hook(lifecycle, "inPlaceUpdate")
    if state in ("", PREPARING_NORMAL, NORMAL, PREPARING_UPDATE):
        return "wait" if lifecycle is not None and is_hooked(pod, in_place) else "proceed"
    if state == UPDATED:
        return "wait"
    if state == UPDATING:
        return "proceed"
    return "refuse"


def refresh_state(
    pod: Mapping[str, Any],
    lifecycle: Mapping[str, Any] | None,
    *,
    update_revision: str | None = None,
    inplace_completed: bool = False,
) -> str | None:
    """refreshPodState: the state the pod should move to on its own, or None.

    - PreparingNormal -> Normal when lifecycle or preNormal is nil, or the pod is all-hooked for it;
    - PreparingUpdate whose revision label already equals ``update_revision`` (rolled back while
      waiting, issue #1156) -> after_inplace_update_state;
    - Updating whose in-place update completed (``inplace_completed``) -> after_inplace_update_state;
    - Updated -> Normal when lifecycle or inPlaceUpdate is nil, or the pod is all-hooked again.
    """
    state = get_state(pod)
    new: str | None = None
    if state == PREPARING_NORMAL:
        pre_normal = hook(lifecycle, "preNormal")
        if pre_normal is None or is_all_hooked(pod, pre_normal):
            new = NORMAL
    elif state == PREPARING_UPDATE:
        if update_revision is not None and revision_of_pod(pod) == update_revision:
            new = after_inplace_update_state(pod, lifecycle)
    elif state == UPDATING:
        if inplace_completed:
            new = after_inplace_update_state(pod, lifecycle)
    elif state == UPDATED:
        in_place = hook(lifecycle, "inPlaceUpdate")
        if in_place is None or is_all_hooked(pod, in_place):
            new = NORMAL
    return new if new is not None and new != state else None


def next_state(
    pod: Mapping[str, Any],
    lifecycle: Mapping[str, Any] | None,
    *,
    wants_delete: bool = False,
    wants_inplace: bool = False,
    update_revision: str | None = None,
    inplace_completed: bool = False,
) -> str | None:
    """The lifecycle state to write on ``pod`` now, or None for no label change.

    Precedence, as the ASTS controller applies them:
    1. ``wants_delete`` (scale-down, recreate-update, specified delete, Failed/Succeeded pod): if the
       pod is hooked for preDelete -> PreparingDelete (and the caller must not delete; see
       delete_blocked). Otherwise None and the caller deletes.
    2. Refresh transitions (refresh_state), which Kruise runs for every pod before any update.
    3. ``wants_inplace`` (the pod needs an in-place update to ``update_revision``):
       wait in "", PreparingNormal, Normal -> PreparingUpdate; Updated -> PreparingUpdate (use
       ``state_patch(..., readd_hook=inPlaceUpdate)``); proceed from PreparingNormal, Normal or
       PreparingUpdate -> Updating (a pod without state keeps none); Updating stays.
    """
    state = get_state(pod)
    if wants_delete:
        if delete_blocked(pod, lifecycle) and state != PREPARING_DELETE:
            return PREPARING_DELETE
        return None
    refreshed = refresh_state(
        pod, lifecycle, update_revision=update_revision, inplace_completed=inplace_completed
    )
    if refreshed is not None:
        return refreshed
    if wants_inplace:
        gate = inplace_gate(pod, lifecycle)
        if gate == "wait":
            return PREPARING_UPDATE if state != PREPARING_UPDATE else None
        if gate == "proceed" and state not in ("", UPDATING):
            return UPDATING
    return None


# RFC3339 to the second, UTC (Go time.Now().Format(time.RFC3339), but always in UTC).
format_timestamp = format_time
