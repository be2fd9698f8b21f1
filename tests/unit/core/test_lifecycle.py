"""core.lifecycle: hooks and the state machine, one case per sentence of spec §1.6."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.core.availability import available, is_healthy
from kruise_py.core.lifecycle import (
    NORMAL,
    PREPARING_DELETE,
    PREPARING_NORMAL,
    PREPARING_UPDATE,
    STATE_LABEL,
    STATES,
    TIMESTAMP_ANNOTATION,
    UPDATED,
    UPDATING,
    after_inplace_update_state,
    delete_blocked,
    get_state,
    initial_state,
    inplace_gate,
    is_all_hooked,
    is_hooked,
    mark_pod_not_ready,
    next_state,
    refresh_state,
    state_patch,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
FIN_A, FIN_B = "example.com/a", "example.com/b"
HOOK = {"labelsHandler": {"hold": "true"}, "finalizersHandler": [FIN_A]}
HOOK2 = {"labelsHandler": {"hold": "true", "drain": "yes"}, "finalizersHandler": [FIN_A, FIN_B]}


def pod(
    state: str | None = None,
    labels: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
    rev: str = "r0",
) -> dict[str, Any]:
    lbl = {"controller-revision-hash": rev, **(labels or {})}
    if state is not None:
        lbl[STATE_LABEL] = state
    meta: dict[str, Any] = {"name": "web-0", "labels": lbl, "resourceVersion": "42"}
    if finalizers is not None:
        meta["finalizers"] = finalizers
    return {
        "metadata": meta,
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


HOOKED_LABEL = {"hold": "true"}


# --------------------------------------------------------------------------------------------------
# "A pod is hooked if any hook finalizer is present or any hook label has the configured value.
#  It is all hooked if every finalizer and every label matches."


@pytest.mark.parametrize(
    ("p", "hook", "hooked", "all_hooked"),
    [
        (pod(), None, False, False),  # nil hook
        (pod(labels=HOOKED_LABEL), None, False, False),
        (pod(), {}, False, True),  # empty hook: nothing to match, all (vacuously) matched
        (pod(), HOOK, False, False),
        (pod(labels=HOOKED_LABEL), HOOK, True, False),
        (pod(finalizers=[FIN_A]), HOOK, True, False),
        (pod(labels=HOOKED_LABEL, finalizers=[FIN_A]), HOOK, True, True),
        (pod(labels={"hold": "false"}, finalizers=["other"]), HOOK, False, False),
        (pod(labels=HOOKED_LABEL, finalizers=[FIN_A]), HOOK2, True, False),
        (pod(labels={"hold": "true", "drain": "yes"}, finalizers=[FIN_B, FIN_A]), HOOK2, True, True),
        (pod(finalizers=[FIN_B]), HOOK2, True, False),
        # Go map semantics: a missing label reads as "", so a hook label with value "" matches
        (pod(), {"labelsHandler": {"gone": ""}}, True, True),
    ],
)
def test_hooked(p: dict[str, Any], hook: dict[str, Any] | None, hooked: bool, all_hooked: bool) -> None:
    assert is_hooked(p, hook) is hooked
    assert is_all_hooked(p, hook) is all_hooked


# --------------------------------------------------------------------------------------------------
# "The state lives in pod label lifecycle.apps.kruise.io/state ... Annotation
#  lifecycle.apps.kruise.io/timestamp records when it last changed."


def test_states_and_keys() -> None:
    assert STATE_LABEL == "lifecycle.apps.kruise.io/state"
    assert TIMESTAMP_ANNOTATION == "lifecycle.apps.kruise.io/timestamp"
    assert STATES == (
        "PreparingNormal",
        "Normal",
        "PreparingUpdate",
        "Updating",
        "Updated",
        "PreparingDelete",
    )
    assert get_state(pod()) == ""
    assert get_state(pod(UPDATED)) == UPDATED


def test_state_patch() -> None:
    assert state_patch(PREPARING_DELETE, NOW) == {
        "metadata": {
            "labels": {STATE_LABEL: PREPARING_DELETE},
            "annotations": {TIMESTAMP_ANNOTATION: "2024-05-01T12:00:00Z"},
        }
    }
    # timestamps are written in UTC, RFC3339 to the second
    tz = timezone(timedelta(hours=2))
    local = datetime(2024, 5, 1, 14, 0, 0, 999, tzinfo=tz)
    assert (
        state_patch(NORMAL, local)["metadata"]["annotations"][TIMESTAMP_ANNOTATION] == "2024-05-01T12:00:00Z"
    )


# "Hook labels and finalizers are checked against the pod; the controller never removes them."
def test_state_patch_never_removes_hook_labels_or_finalizers() -> None:
    p = pod(UPDATED, labels={"hold": "false"}, finalizers=["keep"])
    patch = state_patch(PREPARING_UPDATE, NOW, pod=p, readd_hook=HOOK2)
    meta = patch["metadata"]
    assert meta["labels"] == {STATE_LABEL: PREPARING_UPDATE, "hold": "true", "drain": "yes"}
    assert meta["finalizers"] == ["keep", FIN_A, FIN_B]  # pod's first, then the missing hook ones
    assert meta["resourceVersion"] == "42"  # a racing finalizer change fails instead of being lost
    assert all(v is not None for v in meta["labels"].values())
    for plain in (state_patch(NORMAL, NOW), state_patch(UPDATED, NOW)):
        assert "finalizers" not in plain["metadata"]


def test_state_patch_readd_hook_already_present() -> None:
    p = pod(UPDATED, finalizers=[FIN_A])
    meta = state_patch(PREPARING_UPDATE, NOW, pod=p, readd_hook=HOOK)["metadata"]
    assert "finalizers" not in meta and "resourceVersion" not in meta
    with pytest.raises(ValueError):
        state_patch(PREPARING_UPDATE, NOW, readd_hook=HOOK)


# "With markPodNotReady=true, a not-ready key is first added to the KruisePodReady condition."
def test_mark_pod_not_ready() -> None:
    assert mark_pod_not_ready({**HOOK, "markPodNotReady": True})
    assert not mark_pod_not_ready(HOOK)
    assert not mark_pod_not_ready(None)


# "Any state other than "" or Normal makes the pod unhealthy and unavailable."
@pytest.mark.parametrize("state", [None, "", *STATES])
def test_non_normal_states_unhealthy(state: str | None) -> None:
    p = pod(state)
    ok = state in (None, "", NORMAL)
    assert is_healthy(p) is ok
    assert available(p, 0, NOW)[0] is ok


# --------------------------------------------------------------------------------------------------
# preNormal: "A new pod starts as PreparingNormal until it is all-hooked, then becomes Normal."


@pytest.mark.parametrize(
    ("p", "lifecycle", "expected"),
    [
        (pod(), None, NORMAL),
        (pod(), {}, NORMAL),
        (pod(), {"preDelete": HOOK}, NORMAL),
        (pod(), {"preNormal": HOOK}, PREPARING_NORMAL),
        (pod(labels=HOOKED_LABEL), {"preNormal": HOOK}, PREPARING_NORMAL),  # hooked, not all-hooked
        (pod(labels=HOOKED_LABEL, finalizers=[FIN_A]), {"preNormal": HOOK}, NORMAL),  # template carries it
    ],
)
def test_initial_state(p: dict[str, Any], lifecycle: dict[str, Any] | None, expected: str) -> None:
    assert initial_state(p, lifecycle) == expected


@pytest.mark.parametrize(
    ("p", "lifecycle", "expected"),
    [
        (pod(PREPARING_NORMAL), {"preNormal": HOOK}, None),
        (pod(PREPARING_NORMAL, labels=HOOKED_LABEL), {"preNormal": HOOK}, None),
        (pod(PREPARING_NORMAL, labels=HOOKED_LABEL, finalizers=[FIN_A]), {"preNormal": HOOK}, NORMAL),
        (pod(PREPARING_NORMAL), {}, NORMAL),  # preNormal removed from the set
        (pod(PREPARING_NORMAL), None, NORMAL),  # lifecycle removed
    ],
)
def test_prenormal_to_normal(
    p: dict[str, Any], lifecycle: dict[str, Any] | None, expected: str | None
) -> None:
    assert next_state(p, lifecycle) == expected
    assert refresh_state(p, lifecycle) == expected


# --------------------------------------------------------------------------------------------------
# preDelete: "Applies to every deletion ... If the pod is hooked, it moves to PreparingDelete and is
# not deleted. Once the user removes the hook so the pod is no longer hooked, a later reconcile
# deletes it."

PRE_DELETE = {"preDelete": HOOK}


@pytest.mark.parametrize("state", [None, PREPARING_NORMAL, NORMAL, PREPARING_UPDATE, UPDATING, UPDATED])
def test_predelete_hooked_moves_to_preparing_delete(state: str | None) -> None:
    p = pod(state, labels=HOOKED_LABEL)
    assert delete_blocked(p, PRE_DELETE)
    assert next_state(p, PRE_DELETE, wants_delete=True) == PREPARING_DELETE


@pytest.mark.parametrize(
    ("p", "lifecycle", "blocked", "expected"),
    [
        (pod(PREPARING_DELETE, labels=HOOKED_LABEL), PRE_DELETE, True, None),  # still hooked: wait
        (pod(PREPARING_DELETE, finalizers=[FIN_A]), PRE_DELETE, True, None),  # any hook keeps it
        (pod(PREPARING_DELETE), PRE_DELETE, False, None),  # hook removed: caller deletes now
        (pod(NORMAL), PRE_DELETE, False, None),  # never hooked: plain delete
        (pod(NORMAL, labels=HOOKED_LABEL), None, False, None),  # no lifecycle
        (pod(NORMAL, labels=HOOKED_LABEL), {"inPlaceUpdate": HOOK}, False, None),  # other hook only
        # deletion takes precedence over refresh transitions (a PreparingNormal pod scaled away)
        (
            pod(PREPARING_NORMAL, labels=HOOKED_LABEL),
            {**PRE_DELETE, "preNormal": HOOK},
            True,
            PREPARING_DELETE,
        ),
    ],
)
def test_predelete_wait_then_delete(
    p: dict[str, Any], lifecycle: dict[str, Any] | None, blocked: bool, expected: str | None
) -> None:
    assert delete_blocked(p, lifecycle) is blocked
    assert next_state(p, lifecycle, wants_delete=True) == expected


def test_preparing_delete_without_delete_stays() -> None:
    p = pod(PREPARING_DELETE, labels=HOOKED_LABEL)
    assert next_state(p, PRE_DELETE) is None
    assert inplace_gate(p, {"inPlaceUpdate": HOOK}) == "refuse"  # Kruise errors on in-place here
    assert next_state(p, {"inPlaceUpdate": HOOK}, wants_inplace=True) is None


# --------------------------------------------------------------------------------------------------
# inPlaceUpdate: "From "", PreparingNormal or Normal: if hooked -> PreparingUpdate, and the controller
# waits. While it stays hooked the pod still counts as in progress."

IN_PLACE = {"inPlaceUpdate": HOOK}


@pytest.mark.parametrize("state", [None, PREPARING_NORMAL, NORMAL])
def test_inplace_hooked_goes_to_preparing_update(state: str | None) -> None:
    p = pod(state, labels=HOOKED_LABEL)
    lifecycle = {**IN_PLACE, "preNormal": HOOK}  # PreparingNormal pod all-hooked? no: lacks FIN_A
    assert inplace_gate(p, lifecycle) == "wait"
    assert next_state(p, lifecycle, wants_inplace=True, update_revision="r1") == PREPARING_UPDATE


def test_inplace_preparing_update_still_hooked_waits() -> None:
    p = pod(PREPARING_UPDATE, finalizers=[FIN_A])
    assert inplace_gate(p, IN_PLACE) == "wait"
    assert next_state(p, IN_PLACE, wants_inplace=True, update_revision="r1") is None


# "When no longer hooked -> the image is patched and the state moves to Updating."
@pytest.mark.parametrize(
    ("state", "lifecycle", "expected"),
    [
        (PREPARING_UPDATE, IN_PLACE, UPDATING),
        (NORMAL, IN_PLACE, UPDATING),  # never hooked
        (PREPARING_NORMAL, {**IN_PLACE, "preNormal": HOOK}, UPDATING),  # preNormal not done yet
        (NORMAL, None, UPDATING),
        (None, None, None),  # a pod without a state label keeps none (Kruise: state "" -> no label)
        (None, IN_PLACE, None),
        (UPDATING, IN_PLACE, None),  # already Updating: proceed, no label change
    ],
)
def test_inplace_unhooked_proceeds_to_updating(
    state: str | None, lifecycle: dict[str, Any] | None, expected: str | None
) -> None:
    p = pod(state)
    assert inplace_gate(p, lifecycle) == "proceed"
    assert next_state(p, lifecycle, wants_inplace=True, update_revision="r1") == expected


# "After completion: if lifecycle is set and the pod is not all-hooked for inPlaceUpdate -> Updated,
#  otherwise Normal. Note that lifecycle set with inPlaceUpdate nil still passes through Updated."
@pytest.mark.parametrize(
    ("p", "lifecycle", "expected"),
    [
        (pod(UPDATING), IN_PLACE, UPDATED),
        (pod(UPDATING, labels=HOOKED_LABEL), IN_PLACE, UPDATED),  # hooked but not all-hooked
        (pod(UPDATING, labels=HOOKED_LABEL, finalizers=[FIN_A]), IN_PLACE, NORMAL),
        (pod(UPDATING), None, NORMAL),
        (pod(UPDATING), {}, UPDATED),  # lifecycle set, inPlaceUpdate nil: Updated for one cycle
        (pod(UPDATING), PRE_DELETE, UPDATED),
    ],
)
def test_after_inplace_update(p: dict[str, Any], lifecycle: dict[str, Any] | None, expected: str) -> None:
    assert after_inplace_update_state(p, lifecycle) == expected
    assert next_state(p, lifecycle, inplace_completed=True) == expected
    assert next_state(p, lifecycle, inplace_completed=False) is None  # not complete yet: stays Updating


def test_lifecycle_without_inplace_hook_passes_through_updated_once() -> None:
    p = pod(UPDATING)
    assert next_state(p, {}, inplace_completed=True) == UPDATED
    assert next_state(pod(UPDATED), {}) == NORMAL  # the next refresh: hook nil -> Normal


# "Updated -> Normal once the pod is all-hooked again, or if the hook is nil."
@pytest.mark.parametrize(
    ("p", "lifecycle", "expected"),
    [
        (pod(UPDATED), IN_PLACE, None),
        (pod(UPDATED, labels=HOOKED_LABEL), IN_PLACE, None),
        (pod(UPDATED, labels=HOOKED_LABEL, finalizers=[FIN_A]), IN_PLACE, NORMAL),
        (pod(UPDATED), None, NORMAL),
        (pod(UPDATED), PRE_DELETE, NORMAL),
    ],
)
def test_updated_to_normal(p: dict[str, Any], lifecycle: dict[str, Any] | None, expected: str | None) -> None:
    assert next_state(p, lifecycle) == expected


# "A pod in Updated that needs another update goes back to PreparingUpdate, and the hook labels and
#  finalizers are re-added."
def test_updated_needing_update_goes_back_to_preparing_update() -> None:
    p = pod(UPDATED, rev="r1")
    assert inplace_gate(p, IN_PLACE) == "wait"
    assert next_state(p, IN_PLACE, wants_inplace=True, update_revision="r2") == PREPARING_UPDATE
    meta = state_patch(PREPARING_UPDATE, NOW, pod=p, readd_hook=IN_PLACE["inPlaceUpdate"])["metadata"]
    assert meta["labels"]["hold"] == "true" and FIN_A in meta["finalizers"]
    # an Updated pod that is all-hooked again first refreshes to Normal (Kruise refreshes first)
    all_hooked = pod(UPDATED, labels=HOOKED_LABEL, finalizers=[FIN_A], rev="r1")
    assert next_state(all_hooked, IN_PLACE, wants_inplace=True, update_revision="r2") == NORMAL


# "A pod in PreparingUpdate whose revision already equals updateRevision (the template was rolled
#  back) moves straight to Updated or Normal (issue #1156)."
@pytest.mark.parametrize(
    ("p", "lifecycle", "update_revision", "expected"),
    [
        (pod(PREPARING_UPDATE, labels=HOOKED_LABEL, rev="r0"), IN_PLACE, "r0", UPDATED),
        (pod(PREPARING_UPDATE, labels=HOOKED_LABEL, finalizers=[FIN_A], rev="r0"), IN_PLACE, "r0", NORMAL),
        (pod(PREPARING_UPDATE, rev="r0"), None, "r0", NORMAL),
        (pod(PREPARING_UPDATE, labels=HOOKED_LABEL, rev="r0"), IN_PLACE, "r1", None),  # still outdated
        (pod(PREPARING_UPDATE, labels=HOOKED_LABEL, rev="r0"), IN_PLACE, None, None),  # unknown
    ],
)
def test_preparing_update_rolled_back(
    p: dict[str, Any], lifecycle: dict[str, Any] | None, update_revision: str | None, expected: str | None
) -> None:
    assert next_state(p, lifecycle, update_revision=update_revision) == expected
    assert next_state(p, lifecycle, wants_inplace=False, update_revision=update_revision) == expected


# --------------------------------------------------------------------------------------------------
# Invariants


@given(
    state=st.sampled_from([None, *STATES]),
    hold=st.booleans(),
    fin=st.booleans(),
    lifecycle=st.sampled_from(
        [None, {}, IN_PLACE, PRE_DELETE, {"preNormal": HOOK}, {**IN_PLACE, **PRE_DELETE}]
    ),
    wants_delete=st.booleans(),
    wants_inplace=st.booleans(),
    completed=st.booleans(),
    at_update=st.booleans(),
)
def test_next_state_invariants(
    state: str | None,
    hold: bool,
    fin: bool,
    lifecycle: dict[str, Any] | None,
    wants_delete: bool,
    wants_inplace: bool,
    completed: bool,
    at_update: bool,
) -> None:
    p = pod(state, labels=HOOKED_LABEL if hold else None, finalizers=[FIN_A] if fin else None, rev="r0")
    got = next_state(
        p,
        lifecycle,
        wants_delete=wants_delete,
        wants_inplace=wants_inplace,
        update_revision="r0" if at_update else "r1",
        inplace_completed=completed,
    )
    assert got is None or got in STATES
    assert got != (state or "")  # a returned state is always a change
    if got == PREPARING_DELETE:
        assert wants_delete and delete_blocked(p, lifecycle)
    if wants_delete:
        assert got in (None, PREPARING_DELETE)
    if lifecycle is None:
        # without hooks a pod only ever heads back to Normal (or Updating while being patched)
        assert got in (None, NORMAL, UPDATING)
    # refresh transitions alone (no delete, no update wanted) converge: no oscillation
    cur, steps = state, 0
    while True:
        q = pod(cur, labels=HOOKED_LABEL if hold else None, finalizers=[FIN_A] if fin else None, rev="r0")
        nxt = next_state(
            q, lifecycle, update_revision="r0" if at_update else "r1", inplace_completed=completed
        )
        if nxt is None:
            break
        cur, steps = nxt, steps + 1
        assert steps <= 2
