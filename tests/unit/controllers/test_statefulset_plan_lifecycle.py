"""Planner: lifecycle states through in-place updates (spec §1.6, §2.3, §2.4) and the writes they
cost, replayed reconcile by reconcile with a kubelet that restarts containers and recomputes Ready
from the readiness gates (the controller, not the kubelet, sets InPlaceUpdateReady)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kruise_py.core import inplace
from kruise_py.core import lifecycle as lc
from kruise_py.core.revisions import REVISION_LABEL

from .builders import NEW_IMAGE, World, pname, restart_containers, rname, rolling_world, ts, update_deletes

PRE_DELETE = {"preDelete": {"labelsHandler": {"hold": "true"}}}
IN_PLACE_HOOK = {"inPlaceUpdate": {"labelsHandler": {"ipu": "true"}}}


def kubelet(w: World) -> None:
    """What the node does between two reconciles: restart containers whose spec image changed, and
    set Ready from the containers and every readiness gate, as the kubelet computes it."""
    for pod in w.pods.values():
        st = pod["status"]
        if any(
            cs["image"] != c["image"]
            for cs, c in zip(st["containerStatuses"], pod["spec"]["containers"], strict=True)
        ):
            restart_containers(pod)
        conds = {c["type"]: c for c in st["conditions"]}
        gates = [g["conditionType"] for g in pod["spec"].get("readinessGates") or []]
        ok = all((conds.get(g) or {}).get("status") == "True" for g in gates)
        if (conds["Ready"]["status"] == "True") != ok:
            conds["Ready"].update({"status": "True" if ok else "False", "lastTransitionTime": ts(w.now)})


def roll_one_pod(w: World, name: str, rounds: int = 12, advance: float = 1.0) -> tuple[list[str], int]:
    """Reconcile until ``name`` is updated and Normal again: (the states it went through, the API
    writes made to it)."""
    states = [w.pods[name]["metadata"]["labels"].get(lc.STATE_LABEL, "")]
    writes = 0
    for _ in range(rounds):
        p = w.step(advance=advance)
        writes += sum(
            step.write_count() for pw in p.pod_writes if pname(pw.pod) == name for step in pw.writes
        )
        kubelet(w)
        state = w.pods[name]["metadata"]["labels"].get(lc.STATE_LABEL, "")
        if state != states[-1]:
            states.append(state)
        pod = w.pods[name]
        if (
            state == lc.NORMAL
            and pod["status"]["containerStatuses"][0]["image"] == NEW_IMAGE
            and inplace.check_completed(pod)
        ):
            return states, writes
    raise AssertionError(f"{name} did not finish in {rounds} rounds: {states}")


@pytest.mark.parametrize(
    ("lifecycle", "gate", "grace", "states", "writes"),
    [
        # no spec.lifecycle: Normal -> Updating -> Normal, 3 writes (gate False, spec, gate True)
        (None, True, 0, ["Normal", "Updating", "Normal"], 3),
        # with a grace period the start rides on gate False: still 3 (start, deferred spec, gate True)
        (None, True, 10, ["Normal", "Updating", "Normal"], 3),
        # no gate: the spec patch, then the state on its own
        (None, False, 0, ["Normal", "Updating", "Normal"], 2),
        (None, False, 10, ["Normal", "Updating", "Normal"], 3),
        # spec.lifecycle without inPlaceUpdate: Updated for one round (refreshPodState), a 4th write
        (PRE_DELETE, True, 0, ["Normal", "Updating", "Updated", "Normal"], 4),
    ],
)
def test_in_place_update_states_and_writes(
    lifecycle: dict[str, Any] | None, gate: bool, grace: int, states: list[str], writes: int
) -> None:
    w, _, new = rolling_world(1, update_policy="InPlaceIfPossible", gate=gate, lifecycle=lifecycle)
    if grace:
        w.sts["spec"]["updateStrategy"]["rollingUpdate"]["inPlaceUpdateStrategy"] = {
            "gracePeriodSeconds": grace
        }
    seen, count = roll_one_pod(w, "web-0", rounds=30)
    assert seen == states
    assert count == writes
    assert w.pods["web-0"]["metadata"]["labels"][REVISION_LABEL] == rname(new)
    assert w.inplace == ["web-0"]


def test_updating_is_set_at_the_start_of_the_grace_period() -> None:
    """OpenKruise sets Updating in the update that writes the grace annotation (updatePodInPlace's
    AdditionalFuncs run before the grace branch), not when the grace period ends."""
    w, _, new = rolling_world(1, update_policy="InPlaceIfPossible")
    w.sts["spec"]["updateStrategy"]["rollingUpdate"]["inPlaceUpdateStrategy"] = {"gracePeriodSeconds": 10}
    w.step()
    labels = w.pods["web-0"]["metadata"]["labels"]
    annotations = w.pods["web-0"]["metadata"]["annotations"]
    assert labels[lc.STATE_LABEL] == lc.UPDATING and labels[REVISION_LABEL] == rname(new)
    assert inplace.GRACE_ANNOTATION in annotations
    assert w.pods["web-0"]["spec"]["containers"][0]["image"] != NEW_IMAGE


def test_a_pod_without_state_label_gets_none() -> None:
    """As OpenKruise (``if state != ""``): a pod that had no state label (adopted) keeps none."""
    w, _, _ = rolling_world(1, update_policy="InPlaceIfPossible")
    del w.pods["web-0"]["metadata"]["labels"][lc.STATE_LABEL]
    p = w.plan()
    (pw,) = [x for x in p.pod_writes if x.reason == "inplace"]
    body = pw.writes[-1].pod_patch()
    assert body is not None and lc.STATE_LABEL not in body["metadata"]["labels"]


# --------------------------------------------------------------------------------------------------
# Hook-held pods under OrderedReady


@pytest.mark.parametrize("release", ["relabel", "remove"])
@pytest.mark.parametrize("parallel", [False, True])
def test_preparing_update_pod_goes_on_once_released(parallel: bool, release: str) -> None:
    w, _, new = rolling_world(
        3, parallel=parallel, update_policy="InPlaceIfPossible", lifecycle=IN_PLACE_HOOK
    )
    for pod in w.pods.values():
        pod["metadata"]["labels"]["ipu"] = "true"
    w.step()
    assert w.pods["web-2"]["metadata"]["labels"][lc.STATE_LABEL] == lc.PREPARING_UPDATE
    # still hooked: nothing moves, and the held pod takes the whole budget
    p = w.step()
    assert not p.pod_writes and not p.deletes and not p.creates
    assert p.pod_plan["web-1"].startswith("blocked: maxUnavailable")
    if release == "relabel":
        w.pods["web-2"]["metadata"]["labels"]["ipu"] = "false"
    else:
        del w.pods["web-2"]["metadata"]["labels"]["ipu"]
    p = w.step()
    assert [pname(x.pod) for x in p.pod_writes if x.reason == "inplace"] == ["web-2"]
    labels = w.pods["web-2"]["metadata"]["labels"]
    assert labels[lc.STATE_LABEL] == lc.UPDATING and labels[REVISION_LABEL] == rname(new)


def test_ordered_ready_still_waits_for_a_held_pod_that_is_not_ready() -> None:
    w, _, _ = rolling_world(3, update_policy="InPlaceIfPossible", lifecycle=IN_PLACE_HOOK)
    pod = w.pods["web-1"]
    pod["metadata"]["labels"].update({lc.STATE_LABEL: lc.PREPARING_UPDATE, "ipu": "false"})
    for c in pod["status"]["conditions"]:
        c["status"] = "False"
    p = w.plan()
    assert not [x for x in p.pod_writes if x.reason == "inplace"]
    assert "OrderedReady: waiting for web-1 to be available" in p.notes


def test_ordered_ready_held_pod_waits_for_min_ready_seconds() -> None:
    w, _, _ = rolling_world(2, update_policy="InPlaceIfPossible", lifecycle=IN_PLACE_HOOK, min_ready=30)
    pod = w.pods["web-1"]
    pod["metadata"]["labels"][lc.STATE_LABEL] = lc.PREPARING_UPDATE
    for c in pod["status"]["conditions"]:
        c["lastTransitionTime"] = ts(w.now - timedelta(seconds=10))
    p = w.plan()
    assert not [x for x in p.pod_writes if x.reason == "inplace"]
    assert p.requeue_after == pytest.approx(20)


def test_ordered_ready_recreate_held_by_pre_delete_goes_on_once_released() -> None:
    w, _, _ = rolling_world(3, lifecycle=PRE_DELETE)
    w.pods["web-2"]["metadata"]["labels"]["hold"] = "true"
    w.step()
    assert w.pods["web-2"]["metadata"]["labels"][lc.STATE_LABEL] == lc.PREPARING_DELETE
    assert not update_deletes(w.step())
    w.pods["web-2"]["metadata"]["labels"]["hold"] = "false"
    assert update_deletes(w.step()) == ["web-2"]
