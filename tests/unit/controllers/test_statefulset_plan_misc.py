"""Planner: status (§1.3), lifecycle hooks (§1.6), claims (§1.7), revisions (§2.8), pod adoption and
release (§1.8 step 2), and a set being deleted (P29)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kruise_py.controllers.statefulset import plan as planner
from kruise_py.core import lifecycle as lc
from kruise_py.core.revisions import REVISION_LABEL

from .builders import (
    NOW,
    OLD_IMAGE,
    SET_UID,
    World,
    make_pod,
    make_sts,
    pname,
    revision_of,
    rname,
    rolling_world,
    ts,
    update_deletes,
    with_image,
)

# --------------------------------------------------------------------------------------------------
# status (§1.3)


def test_status_counts_every_field() -> None:
    w, old, new = rolling_world(7, parallel=True, partition=7, min_ready=30, updated={5, 6})
    w.sts["metadata"]["generation"] = 4
    pods = w.pods
    pods["web-0"]["status"]["phase"] = ""  # not yet seen by the kubelet: not counted in replicas
    pods["web-1"]["status"] = {**pods["web-1"]["status"], "phase": "Pending"}
    pods["web-1"]["status"]["conditions"][1]["status"] = "False"
    pods["web-2"]["metadata"]["deletionTimestamp"] = ts(NOW)  # terminating: ready, not current
    pods["web-3"]["status"]["conditions"][1]["lastTransitionTime"] = ts(
        NOW - timedelta(seconds=5)
    )  # not available
    pods["web-4"]["metadata"]["labels"][lc.STATE_LABEL] = lc.PREPARING_DELETE  # ready, not available
    pods["web-6"]["status"]["conditions"][1]["lastTransitionTime"] = ts(NOW - timedelta(seconds=5))
    p = w.plan()
    st = p.status
    assert st is not None
    # Recount by hand, pod by pod:
    #   web-0: no phase           -> not in replicas; not Running -> not ready; current
    #   web-1: Pending, not Ready -> replicas; current
    #   web-2: terminating, Ready -> replicas, ready, available; NOT current (terminating)
    #   web-3: Ready 5s < 30s     -> replicas, ready, not available; current
    #   web-4: PreparingDelete    -> replicas, ready, not available; current
    #   web-5: updated, Ready 1h  -> replicas, ready, available; updated
    #   web-6: updated, Ready 5s  -> replicas, ready, not available; updated
    assert st["observedGeneration"] == 4
    assert st["replicas"] == 6
    assert st["readyReplicas"] == 5
    assert st["availableReplicas"] == 2
    assert st["currentReplicas"] == 4
    assert st["updatedReplicas"] == 2
    assert st["updatedReadyReplicas"] == 2
    assert st["updatedAvailableReplicas"] == 1
    assert st["currentRevision"] == rname(old) and st["updateRevision"] == rname(new)
    assert st["collisionCount"] == 0
    assert st["labelSelector"] == "app=web"


def test_status_label_selector_string() -> None:
    sts = make_sts(1)
    sts["spec"]["selector"] = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]}],
    }
    sts["spec"]["template"]["metadata"]["labels"] = {"a": "1", "b": "2", "c": "x"}
    st = World(sts).plan().status
    assert st is not None and st["labelSelector"] == "a=1,b=2,c in (x,y)"


def test_completion_switches_current_revision() -> None:
    w, _old, new = rolling_world(3, updated={0, 1, 2})
    p = w.plan()
    assert p.status is not None
    assert p.status["currentRevision"] == rname(new) == p.status["updateRevision"]
    assert p.status["currentReplicas"] == 3 == p.status["updatedReplicas"]


@pytest.mark.parametrize(
    ("mutate", "complete"),
    [
        ("none", True),
        ("one_old", False),
        ("one_unready", False),
        ("on_delete", False),
    ],
)
def test_completion_conditions(mutate: str, complete: bool) -> None:
    kw: dict[str, Any] = {"on_delete": True} if mutate == "on_delete" else {}
    w, _old, new = rolling_world(
        3,
        parallel=True,
        partition=3,
        updated={0, 1} if mutate == "one_old" else {0, 1, 2},
        ready={2: mutate != "one_unready"},
        **kw,
    )
    st = w.plan().status
    assert st is not None
    assert (st["currentRevision"] == rname(new)) is complete


def test_status_none_when_unchanged() -> None:
    w, _, _ = rolling_world(3, partition=3)
    first = w.step()
    assert first.status is not None
    again = w.plan()
    assert again.status is None
    # a new generation is a change
    w.sts["metadata"]["generation"] = 2
    assert w.plan().status is not None


def test_status_written_when_a_counter_changes() -> None:
    w, _, _ = rolling_world(3, partition=3)
    w.step()
    w.pods["web-1"]["status"]["conditions"][1]["status"] = "False"
    st = w.plan().status
    assert st is not None and st["readyReplicas"] == 2


def test_status_first_reconcile_current_is_update_revision() -> None:
    sts = make_sts(2)
    w = World(sts)
    p = w.plan()
    assert p.revision_create is not None
    assert p.current_revision == p.update_revision == rname(p.revision_create)
    assert p.status is not None and p.status["currentRevision"] == p.update_revision


# --------------------------------------------------------------------------------------------------
# lifecycle (§1.6)

PRE_DELETE = {"preDelete": {"labelsHandler": {"hold": "true"}}}
IN_PLACE_HOOK = {"inPlaceUpdate": {"labelsHandler": {"ipu": "true"}}}


@pytest.mark.parametrize("parallel", [False, True])
def test_pre_delete_hook_holds_scale_down(parallel: bool) -> None:
    sts = make_sts(2, parallel=parallel, lifecycle=PRE_DELETE)
    rev = revision_of(sts, 1)
    sts["status"] = {"currentRevision": rname(rev), "collisionCount": 0}
    w = World(sts, revisions=[rev]).add(
        make_pod(sts, 0, rev), make_pod(sts, 1, rev), make_pod(sts, 2, rev, labels={"hold": "true"})
    )
    p = w.step()
    assert not p.deletes
    writes = [x for x in p.pod_writes if x.reason == "lifecycle"]
    assert [pname(x.pod) for x in writes] == ["web-2"]
    md = writes[0].writes[0].metadata_patch
    assert md is not None and md["metadata"]["labels"][lc.STATE_LABEL] == lc.PREPARING_DELETE
    # still hooked: no second write, no delete
    p = w.step()
    assert not p.deletes and not [x for x in p.pod_writes if x.reason == "lifecycle"]
    # the user removes the hook: deleted
    del w.pods["web-2"]["metadata"]["labels"]["hold"]
    p = w.step()
    assert [(pname(d.pod), d.reason) for d in p.deletes] == [("web-2", "scale-down")]


def test_pre_delete_hook_holds_recreate_update() -> None:
    w, _, _ = rolling_world(3, parallel=True, lifecycle=PRE_DELETE)
    w.pods["web-2"]["metadata"]["labels"]["hold"] = "true"
    p = w.plan()
    assert not p.deletes
    assert [pname(x.pod) for x in p.pod_writes if x.reason == "lifecycle"] == ["web-2"]
    assert p.pod_plan["web-2"] == "blocked: preDelete hook"
    # the held pod counts against maxUnavailable: web-1 is not touched
    assert p.pod_plan["web-1"].startswith("blocked: maxUnavailable")


def test_pre_delete_hook_by_finalizer() -> None:
    w, _, _ = rolling_world(
        3, parallel=True, lifecycle={"preDelete": {"finalizersHandler": ["example.com/hold"]}}
    )
    w.pods["web-2"]["metadata"]["finalizers"] = ["example.com/hold"]
    p = w.plan()
    assert not p.deletes and [pname(x.pod) for x in p.pod_writes if x.reason == "lifecycle"] == ["web-2"]


def test_pre_delete_hook_holds_specified_delete() -> None:
    w, _, _ = rolling_world(3, partition=3, lifecycle=PRE_DELETE)
    w.pods["web-1"]["metadata"]["labels"].update({"hold": "true", "apps.kruise.io/specified-delete": "x"})
    p = w.plan()
    assert not p.deletes
    assert [pname(x.pod) for x in p.pod_writes if x.reason == "lifecycle"] == ["web-1"]


def test_in_place_update_hook_prepares_then_proceeds() -> None:
    w, _, new = rolling_world(3, parallel=True, update_policy="InPlaceIfPossible", lifecycle=IN_PLACE_HOOK)
    w.pods["web-2"]["metadata"]["labels"]["ipu"] = "true"
    p = w.step()
    assert not [x for x in p.pod_writes if x.reason == "inplace"] and not p.deletes
    writes = [x for x in p.pod_writes if x.reason == "lifecycle"]
    assert [pname(x.pod) for x in writes] == ["web-2"]
    assert w.pods["web-2"]["metadata"]["labels"][lc.STATE_LABEL] == lc.PREPARING_UPDATE
    assert p.pod_plan["web-2"] == "blocked: inPlaceUpdate hook (PreparingUpdate)"
    # still hooked: waits, no further write; the pod holds the budget
    p = w.step()
    assert not p.pod_writes and not p.deletes
    # unhooked: patched in place, state Updating
    del w.pods["web-2"]["metadata"]["labels"]["ipu"]
    p = w.step()
    assert [pname(x.pod) for x in p.pod_writes if x.reason == "inplace"] == ["web-2"]
    labels = w.pods["web-2"]["metadata"]["labels"]
    assert labels[lc.STATE_LABEL] == lc.UPDATING and labels[REVISION_LABEL] == rname(new)


def test_pre_normal_hook_new_pod_preparing_normal() -> None:
    sts = make_sts(2, parallel=True, lifecycle={"preNormal": {"labelsHandler": {"warm": "true"}}})
    p = World(sts).plan()
    assert {c.pod["metadata"]["labels"][lc.STATE_LABEL] for c in p.creates} == {lc.PREPARING_NORMAL}
    assert all(lc.TIMESTAMP_ANNOTATION in c.pod["metadata"]["annotations"] for c in p.creates)
    # the template already carries the hook label: all hooked -> Normal at once
    sts["spec"]["template"]["metadata"]["labels"]["warm"] = "true"
    p = World(sts).plan()
    assert {c.pod["metadata"]["labels"][lc.STATE_LABEL] for c in p.creates} == {lc.NORMAL}


def test_pre_normal_becomes_normal_once_all_hooked() -> None:
    sts = make_sts(1, parallel=True, lifecycle={"preNormal": {"labelsHandler": {"warm": "true"}}})
    rev = revision_of(sts, 1)
    w = World(sts, revisions=[rev]).add(make_pod(sts, 0, rev, state=lc.PREPARING_NORMAL))
    assert not [x for x in w.plan().pod_writes if x.reason == "refresh"]
    w.pods["web-0"]["metadata"]["labels"]["warm"] = "true"
    writes = [x for x in w.plan().pod_writes if x.reason == "refresh"]
    assert len(writes) == 1
    md = writes[0].writes[-1].metadata_patch
    assert md is not None and md["metadata"]["labels"][lc.STATE_LABEL] == lc.NORMAL


# --------------------------------------------------------------------------------------------------
# pods the controller creates (§1.5) and claims (§1.7)


def test_new_pod_shape() -> None:
    sts = make_sts(1, claims=["data"])
    sts["spec"]["template"]["spec"]["volumes"] = [
        {"name": "data", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]
    p = World(sts).plan()
    (c,) = p.creates
    pod = c.pod
    md = pod["metadata"]
    assert md["name"] == "web-0" and md["namespace"] == "default"
    assert md["labels"] == {
        "app": "web",
        REVISION_LABEL: p.update_revision,
        "statefulset.kubernetes.io/pod-name": "web-0",
        "apps.kubernetes.io/pod-index": "0",
        lc.STATE_LABEL: lc.NORMAL,
    }
    assert md["ownerReferences"] == [
        {
            "apiVersion": "apps.kruise.io/v1beta1",
            "kind": "StatefulSet",
            "name": "web",
            "uid": SET_UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert pod["spec"]["hostname"] == "web-0" and pod["spec"]["subdomain"] == "web-svc"
    assert pod["spec"]["volumes"] == [
        {"name": "tmp", "emptyDir": {}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
    ]


def test_claims_named_and_labelled_selector_wins() -> None:
    sts = make_sts(2, parallel=True, claims=["data", "logs"], claim_labels={"app": "other", "tier": "db"})
    p = World(sts).plan()
    names = {c.ordinal: [cl["metadata"]["name"] for cl in c.claims] for c in p.creates}
    assert names == {0: ["data-web-0", "logs-web-0"], 1: ["data-web-1", "logs-web-1"]}
    labels = p.creates[0].claims[0]["metadata"]["labels"]
    assert labels == {"app": "web", "tier": "db"}


def test_existing_claim_not_recreated() -> None:
    sts = make_sts(1, claims=["data"])
    w = World(sts, claims={"data-web-0": {"metadata": {"name": "data-web-0"}}})
    (c,) = w.plan().creates
    assert c.claims == []


def test_terminating_claim_blocks_pod_creation() -> None:
    sts = make_sts(2, parallel=True, claims=["data"])
    w = World(sts, claims={"data-web-0": {"metadata": {"name": "data-web-0", "deletionTimestamp": ts(NOW)}}})
    p = w.plan()
    assert [c.ordinal for c in p.creates] == [1]
    assert any(e[1] == "FailedCreate" and "data-web-0 is being deleted" in e[2] for e in p.events)


SET_REF = {
    "apiVersion": "apps.kruise.io/v1beta1",
    "kind": "StatefulSet",
    "name": "web",
    "uid": SET_UID,
    "controller": False,
    "blockOwnerDeletion": True,
}


def pod_ref(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": name,
        "uid": f"uid-{name}",
        "controller": False,
        "blockOwnerDeletion": False,
    }


@pytest.mark.parametrize(
    ("when_scaled", "when_deleted", "in_range", "condemned"),
    [
        # spec §1.7 table
        ("Retain", "Retain", [], []),
        ("Retain", "Delete", [SET_REF], [SET_REF]),
        ("Delete", "Retain", [], [pod_ref("web-2")]),
        ("Delete", "Delete", [SET_REF], [pod_ref("web-2")]),
    ],
)
def test_claim_owner_refs_retention_table(
    when_scaled: str, when_deleted: str, in_range: list[Any], condemned: list[Any]
) -> None:
    sts = make_sts(2, parallel=True, claims=["data"], retention=(when_scaled, when_deleted))
    rev = revision_of(sts, 1)
    sts["status"] = {"currentRevision": rname(rev), "collisionCount": 0}
    # a new pod's claim
    (c,) = World(sts, revisions=[rev]).add(make_pod(sts, 0, rev)).plan().creates
    assert c.claims[0]["metadata"].get("ownerReferences", []) == in_range
    # scaled 3 -> 2: pod-2 is condemned; its claim was made while in range
    w = World(sts, revisions=[rev]).add(*(make_pod(sts, o, rev) for o in range(3)))
    for o in range(3):
        w.claims[f"data-web-{o}"] = {"metadata": {"name": f"data-web-{o}", "ownerReferences": list(in_range)}}
    p = w.plan()
    patches = {cp.name: cp.owner_references for cp in p.claim_patches}
    if condemned == in_range:
        assert patches == {}
    else:
        assert patches == {"data-web-2": condemned}
    assert [pname(d.pod) for d in p.deletes] == ["web-2"]
    assert planner.claim_owner_refs(sts, w.claims["data-web-0"], w.pods["web-0"], condemned=False) == in_range


def test_claim_owner_refs_keep_foreign_refs() -> None:
    sts = make_sts(1, claims=["data"], retention=("Delete", "Delete"))
    pod = make_pod(sts, 1, revision_of(sts, 1))
    foreign = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u-x"}
    claim = {"metadata": {"name": "data-web-1", "ownerReferences": [foreign, SET_REF]}}
    assert planner.claim_owner_refs(sts, claim, pod, condemned=True) == [foreign, pod_ref("web-1")]


# --------------------------------------------------------------------------------------------------
# revisions (§2.8)


def test_rollback_bumps_old_revision() -> None:
    """Template back to nginx:1 while revisions 1 (nginx:1) and 2 (nginx:2) exist: revision 1 is
    reused with .revision = 3, the name unchanged."""
    w, old, _new = rolling_world(3, updated={2})
    w.sts = with_image(w.sts, OLD_IMAGE)
    p = w.plan()
    assert p.revision_create is None
    assert p.revision_bump is not None
    assert rname(p.revision_bump) == rname(old) and p.revision_bump["revision"] == 3
    assert p.update_revision == rname(old)
    assert update_deletes(p) == ["web-2"]


def test_unchanged_template_reuses_latest_revision() -> None:
    w, _, new = rolling_world(3)
    p = w.plan()
    assert p.revision_create is None and p.revision_bump is None and p.update_revision == rname(new)


def test_history_truncation_keeps_live_revisions() -> None:
    base = make_sts(2)
    revs = [revision_of(with_image(base, f"nginx:{i}"), i) for i in range(1, 7)]  # 1..6
    sts = with_image(base, "nginx:6")
    sts["spec"]["revisionHistoryLimit"] = 1
    sts["status"] = {"currentRevision": rname(revs[3]), "collisionCount": 0}  # revision 4
    w = World(sts, revisions=revs)
    w.add(make_pod(sts, 0, revs[0]), make_pod(sts, 1, revs[5]))  # pods at revisions 1 and 6
    p = w.plan()
    assert p.update_revision == rname(revs[5])
    # live: 1 (pod), 4 (current), 6 (update, pod); history 2, 3, 5 -> keep the newest one (5)
    assert p.revisions_delete == [rname(revs[1]), rname(revs[2])]


def test_history_truncation_limit_zero() -> None:
    base = make_sts(1)
    revs = [revision_of(with_image(base, f"nginx:{i}"), i) for i in range(1, 4)]
    sts = with_image(base, "nginx:3")
    sts["spec"]["revisionHistoryLimit"] = 0
    sts["status"] = {"currentRevision": rname(revs[2]), "collisionCount": 0}
    w = World(sts, revisions=revs).add(make_pod(sts, 0, revs[2]))
    assert w.plan().revisions_delete == [rname(revs[0]), rname(revs[1])]


# --------------------------------------------------------------------------------------------------
# adoption and release (§1.8 step 2)


def test_orphan_matching_selector_is_adopted() -> None:
    w, _old, _ = rolling_world(3, partition=3)
    orphan = w.pods["web-1"]
    orphan["metadata"]["ownerReferences"] = []
    p = w.plan()
    adopts = [x for x in p.pod_writes if x.reason == "adopt"]
    assert [pname(x.pod) for x in adopts] == ["web-1"]
    md = adopts[0].writes[0].metadata_patch
    assert md is not None
    refs = md["metadata"]["ownerReferences"] if "metadata" in md else md["ownerReferences"]
    assert [r["uid"] for r in refs if r.get("controller")] == [SET_UID]
    # adopted pods count and are not recreated
    assert not p.creates and p.status is not None and p.status["replicas"] == 3


def test_orphan_not_matching_is_ignored_and_recreated_slot() -> None:
    w, _, _ = rolling_world(2, parallel=True, partition=2)
    w.pods["web-1"]["metadata"]["ownerReferences"] = []
    w.pods["web-1"]["metadata"]["labels"]["app"] = "other"
    p = w.plan()
    assert not [x for x in p.pod_writes if x.reason in ("adopt", "release")]
    assert [c.ordinal for c in p.creates] == [1]


def test_orphan_of_other_set_or_controller_is_ignored() -> None:
    w, _, _ = rolling_world(2, partition=2)
    w.pods["web-1"]["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "other", "controller": True}
    ]
    other = make_pod(w.sts, 0, revision_of(w.sts, 1), name="db-0", owned=False)
    w.add(other)
    p = w.plan()
    assert not [x for x in p.pod_writes if x.reason in ("adopt", "release")]
    assert p.status is not None and p.status["replicas"] == 1


def test_owned_pod_not_matching_is_released() -> None:
    w, _, _ = rolling_world(3, partition=3)
    w.pods["web-2"]["metadata"]["labels"]["app"] = "other"
    foreign = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u-x"}
    w.pods["web-2"]["metadata"]["ownerReferences"].append(foreign)
    p = w.plan()
    rel = [x for x in p.pod_writes if x.reason == "release"]
    assert [pname(x.pod) for x in rel] == ["web-2"]
    md = rel[0].writes[0].metadata_patch
    assert md is not None
    refs = md["metadata"]["ownerReferences"] if "metadata" in md else md["ownerReferences"]
    assert refs == [foreign]
    # released pods no longer count; OrderedReady creates the slot again
    assert p.status is not None and p.status["replicas"] == 2
    assert [c.ordinal for c in p.creates] == [2]


def test_terminating_orphan_is_not_adopted() -> None:
    w, _, _ = rolling_world(2, partition=2)
    w.pods["web-1"]["metadata"]["ownerReferences"] = []
    w.pods["web-1"]["metadata"]["deletionTimestamp"] = ts(NOW)
    p = w.plan()
    assert not [x for x in p.pod_writes if x.reason == "adopt"]


# --------------------------------------------------------------------------------------------------
# a set being deleted (P29)


def test_deleting_set_only_gets_status() -> None:
    w, old, _new = rolling_world(
        4, parallel=True, deleting=True, missing={1}, claims=["data"], retention=("Delete", "Delete")
    )
    w.sts["spec"]["replicas"] = 2  # web-3, web-2 condemned, web-1 missing, all outdated
    w.claims["data-web-3"] = {"metadata": {"name": "data-web-3", "ownerReferences": [SET_REF]}}
    w.add(make_pod(w.sts, 9, old, name="web-7", owned=False))  # an orphan: not adopted
    w.pods["web-0"]["status"]["phase"] = "Failed"
    p = w.plan()
    assert not p.creates and not p.deletes and not p.pod_writes and not p.claim_patches
    assert p.error is None
    assert p.status is not None and p.status["replicas"] == 3
