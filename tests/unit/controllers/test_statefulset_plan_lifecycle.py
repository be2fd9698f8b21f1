"""Planner: lifecycle hooks holding pods in a rolling update (spec §1.6)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kruise_py.core import lifecycle as lc
from kruise_py.core.revisions import REVISION_LABEL

from .builders import pname, rname, rolling_world, ts, update_deletes

PRE_DELETE = {"preDelete": {"labelsHandler": {"hold": "true"}}}
IN_PLACE_HOOK = {"inPlaceUpdate": {"labelsHandler": {"ipu": "true"}}}


# --------------------------------------------------------------------------------------------------
# Hook-held pods under OrderedReady


@pytest.mark.parametrize("release", ["relabel", "remove"])
@pytest.mark.parametrize("parallel", [False, True])
def test_preparing_update_pod_goes_on_once_released(parallel: bool, release: str) -> None:
    w, _, new = rolling_world(3, parallel=parallel, update_policy="InPlaceIfPossible", lifecycle=IN_PLACE_HOOK)
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
