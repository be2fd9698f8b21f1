"""SidecarSet ControllerRevisions (spec §5.3, P26): data, naming, reuse/bump/create, truncation."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from kruise_py.api import convert
from kruise_py.api.defaults import default_sidecarset
from kruise_py.api.sidecarset import (
    SIDECARSET_CUSTOM_VERSION_LABEL as CUSTOM,
)
from kruise_py.api.sidecarset import (
    SIDECARSET_HASH_ANNOTATION as HASH,
)
from kruise_py.api.sidecarset import (
    SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION as HASH_WO,
)
from kruise_py.api.sidecarset import (
    SIDECARSET_NAME_LABEL as NAME_LABEL,
)
from kruise_py.controllers.sidecarset import plan as planner
from kruise_py.controllers.sidecarset import revisions as revs
from kruise_py.core import revisions as core_rev

Obj = dict[str, Any]
NS = "kruise-system"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def make_ss(image: str = "log:1", *, name: str = "log-sc", labels: Obj | None = None, **spec: Any) -> Obj:
    """A defaulted v1beta1 SidecarSet, written as v1alpha1 (the custom version as a label)."""
    ss = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {
            "name": name,
            "uid": "uid-1",
            "labels": dict(labels or {}),
            "annotations": {"team": "a"},
        },
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "containers": [{"name": "log", "image": image}],
            **spec,
        },
    }
    return default_sidecarset(convert(ss, "apps.kruise.io/v1beta1"))


def numbers(revisions: list[Obj]) -> list[int]:
    return [r["revision"] for r in core_rev.sort_revisions(revisions)]


def plan_of(ss: Obj, revisions: list[Obj], pods: list[Obj] | None = None) -> planner.Plan:
    return planner.plan(planner.Snapshot(ss, pods or [], revisions, NS, NOW))


def step(ss: Obj, revisions: list[Obj], pods: list[Obj] | None = None) -> tuple[str, Obj, list[Obj]]:
    """One round: the plan's revision actions, then the revisions the cluster has after them."""
    p = plan_of(ss, revisions, pods)
    written = p.revision_create or p.revision_bump
    # Same decision as revisions.decide_revision, which the plan is made of.
    action, revision = revs.decide_revision(ss, revisions, NS)
    assert (action, revision) == (
        "create" if p.revision_create else "bump" if p.revision_bump else "reuse",
        written or next(r for r in revisions if r["metadata"]["name"] == p.latest_revision),
    )
    assert p.latest_revision == revision["metadata"]["name"]
    after = revs.apply_decision(revisions, action, revision)
    assert p.revisions_delete == revs.revisions_to_delete(ss, after, p.matched_pods)
    gone = set(p.revisions_delete)
    return action, revision, [r for r in after if r["metadata"]["name"] not in gone]


def test_revision_data_records_the_five_fields_go_shaped() -> None:
    ss = make_ss(volumes=[{"name": "v", "emptyDir": {}}], imagePullSecrets=[{"name": "s"}])
    data = revs.revision_data(ss)
    assert list(data) == ["spec"]
    assert set(data["spec"]) == {"$patch", *revs.REVISION_FIELDS}  # every key, null when unset
    assert data["spec"]["initContainers"] is None and data["spec"]["patchPodMetadata"] is None
    assert data["spec"]["imagePullSecrets"] == [{"name": "s"}]
    assert data["spec"]["volumes"] == [{"name": "v", "emptyDir": {}}]
    (c,) = data["spec"]["containers"]
    assert c["resources"] == {} and c["name"] == "log"  # the typed SidecarContainer writes resources
    assert data["spec"]["containers"] is not ss["spec"]["containers"]  # a copy
    assert revs.revision_spec({"data": data})["volumes"] == [{"name": "v", "emptyDir": {}}]
    # empty lists are omitempty-absent, as in OpenKruise
    assert revs.revision_data(make_ss(volumes=[]))["spec"]["volumes"] is None


def test_revision_written_by_an_older_kruise_py_is_reused_under_its_name() -> None:
    """Older kruise-py stored only the present fields, as given; same content -> same revision."""
    ss = make_ss(volumes=[{"name": "v", "emptyDir": {}}])
    old = revs.new_revision(ss, NS, 1, 0)
    old["data"] = {
        "spec": {
            "$patch": "replace",
            "containers": copy.deepcopy(ss["spec"]["containers"]),
            "volumes": [{"name": "v", "emptyDir": {}}],
        }
    }
    old["metadata"]["name"] = "log-sc-olderhash"
    action, revision = revs.decide_revision(ss, [old], NS)
    assert (action, revision["metadata"]["name"]) == ("reuse", "log-sc-olderhash")
    assert revs.equal_revision(old, revs.new_revision(ss, NS, 2, 0))
    changed = make_ss("log:2", volumes=[{"name": "v", "emptyDir": {}}])
    assert revs.decide_revision(changed, [old], NS)[0] == "create"


def test_new_revision_shape() -> None:
    ss = make_ss(labels={CUSTOM: "v1", "team": "a"})
    r = revs.new_revision(ss, NS, 3, 0)
    h = core_rev.hash_revision(revs.revision_data(ss), 0)
    assert r["apiVersion"] == "apps/v1" and r["kind"] == "ControllerRevision"
    assert r["revision"] == 3
    assert r["data"] == revs.revision_data(ss)
    meta = r["metadata"]
    assert meta["name"] == f"log-sc-{h}"
    assert meta["namespace"] == NS
    assert meta["labels"] == {
        CUSTOM: "v1",
        "team": "a",
        NAME_LABEL: "log-sc",
        "controller.kubernetes.io/hash": h,
    }
    assert meta["annotations"][HASH] == ss["metadata"]["annotations"][HASH]
    assert meta["annotations"][HASH_WO] == ss["metadata"]["annotations"][HASH_WO]
    assert meta["annotations"]["team"] == "a"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "apps.kruise.io/v1beta1",
            "kind": "SidecarSet",
            "name": "log-sc",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert revs.new_revision(ss, NS, 3, 1)["metadata"]["name"] != meta["name"]


def test_create_then_reuse_then_create() -> None:
    ss = make_ss()
    action, r1, revisions = step(ss, [])
    assert action == "create" and r1["revision"] == 1
    action, again, revisions = step(ss, revisions)
    assert action == "reuse" and again["metadata"]["name"] == r1["metadata"]["name"]
    # An unrelated change (labels) is not a new revision; a changed volume is, although the hash is not.
    relabelled = copy.deepcopy(ss)
    relabelled["metadata"]["labels"]["x"] = "y"
    assert step(relabelled, revisions)[0] == "reuse"
    with_volume = make_ss(volumes=[{"name": "v", "emptyDir": {}}])
    assert with_volume["metadata"]["annotations"][HASH] == ss["metadata"]["annotations"][HASH]
    action, r2, revisions = step(with_volume, revisions)
    assert action == "create" and r2["revision"] == 2


def test_other_sidecarsets_revisions_are_ignored() -> None:
    other = revs.new_revision(make_ss(name="other"), NS, 7, 0)
    action, r, _ = step(make_ss(), [other])
    assert action == "create" and r["revision"] == 1


def test_hash_collision_bumps_the_collision_count() -> None:
    ss = make_ss()
    squatter = revs.new_revision(make_ss("log:other"), NS, 1, 0)
    squatter["metadata"]["name"] = revs.new_revision(ss, NS, 2, 0)["metadata"]["name"]
    action, r, cc = revs.decide_revision_full(ss, [squatter], NS)
    assert action == "create" and cc == 1
    assert r["metadata"]["name"] == revs.new_revision(ss, NS, 2, 1)["metadata"]["name"]
    assert revs.collision_count(ss, [squatter], NS) == 1


def test_fifteen_changes_keep_ten_and_reapplying_twelve_renumbers_it() -> None:
    """The e2e example of spec §5.3."""
    revisions: list[Obj] = []
    for i in range(1, 16):
        action, _, revisions = step(make_ss(f"log:{i}"), revisions)
        assert action == "create"
    assert numbers(revisions) == list(range(6, 16))
    action, bumped, revisions = step(make_ss("log:12"), revisions)
    assert action == "bump" and bumped["revision"] == 16
    assert numbers(revisions) == [6, 7, 8, 9, 10, 11, 13, 14, 15, 16]
    images = {r["revision"]: revs.revision_spec(r)["containers"][0]["image"] for r in revisions}
    assert images[16] == "log:12"


def test_truncation_keeps_active_revisions() -> None:
    revisions: list[Obj] = []
    for i in range(1, 6):
        _, _, revisions = step(make_ss(f"log:{i}", revisionHistoryLimit=10), revisions)
    by_number = {r["revision"]: r["metadata"]["name"] for r in revisions}
    for r in revisions:
        if r["revision"] == 4:
            r["metadata"]["labels"][CUSTOM] = "v4"
    pod = {
        "metadata": {
            "annotations": {
                HASH: json.dumps(
                    {"log-sc": {"hash": "x", "controllerRevision": by_number[1]}, "other": {"hash": "y"}}
                )
            }
        }
    }
    ss = make_ss(
        "log:5",
        revisionHistoryLimit=1,
        injectionStrategy={"revision": {"revisionName": by_number[2], "customVersion": "v4"}},
    )
    # Keep: 1 (a pod), 2 (revisionName), 4 (newest with the custom version), 5 (latest). Delete: 3.
    assert revs.revisions_to_delete(ss, revisions, [pod]) == [by_number[3]]
    # Limit 0 means 1: the latest always stays.
    plain = make_ss("log:5", revisionHistoryLimit=0)
    assert revs.history_limit(plain) == 1
    assert revs.revisions_to_delete(plain, revisions, []) == [by_number[n] for n in (1, 2, 3, 4)]
    assert revs.revisions_to_delete(make_ss("log:5"), revisions, []) == []


def test_custom_version_label() -> None:
    ss = make_ss(labels={CUSTOM: "v2"})
    r = revs.new_revision(make_ss(), NS, 1, 0)  # created before the label was set
    assert revs.custom_version_patch(ss, r) == {"metadata": {"labels": {CUSTOM: "v2"}}}
    assert revs.custom_version_patch(ss, revs.new_revision(ss, NS, 1, 0)) is None
    assert revs.custom_version_patch(make_ss(), r) is None
    # A rollback carries the current custom version.
    old = revs.new_revision(make_ss("log:0"), NS, 1, 0)
    newer = revs.new_revision(make_ss("log:1"), NS, 2, 0)
    action, bumped = revs.decide_revision(make_ss("log:0", labels={CUSTOM: "v9"}), [old, newer], NS)
    assert action == "bump" and bumped["metadata"]["labels"][CUSTOM] == "v9" and bumped["revision"] == 3
    assert old["metadata"]["labels"].get(CUSTOM) is None  # the input is not modified


# --------------------------------------------------------------------------------------------------
# The plan's revision actions (registerLatestRevision, updateCustomVersionLabel, truncateHistory)


def matched_pod(ss: Obj, controller_revision: str) -> Obj:
    """A pod the SidecarSet manages, injected at ``controller_revision``."""
    name = ss["metadata"]["name"]
    return {
        "metadata": {
            "name": "pod-0",
            "namespace": "default",
            "uid": "uid-pod-0",
            "labels": {"app": "x"},
            "annotations": {
                INJECTED_LIST: name,
                HASH: json.dumps({name: {"hash": "old", "controllerRevision": controller_revision}}),
            },
        },
        "spec": {"containers": [{"name": "log", "image": "log:1"}]},
        "status": {"phase": "Running"},
    }


def test_plan_creates_the_first_revision_and_names_it_latest() -> None:
    ss = make_ss()
    p = plan_of(ss, [])
    assert p.revision_create == revs.new_revision(ss, NS, 1, 0)
    assert p.revision_bump is None and p.revision_label_patch is None and p.revisions_delete == []
    assert p.latest_revision == p.revision_create["metadata"]["name"]
    assert p.status is not None and p.status["latestRevision"] == p.latest_revision


def test_plan_reuses_bumps_or_relabels_the_latest_revision() -> None:
    r1 = revs.new_revision(make_ss("log:1"), NS, 1, 0)
    r2 = revs.new_revision(make_ss("log:2"), NS, 2, 0)
    reuse = plan_of(make_ss("log:2"), [r1, r2])
    assert (reuse.revision_create, reuse.revision_bump, reuse.revision_label_patch) == (None, None, None)
    assert reuse.latest_revision == r2["metadata"]["name"]
    rollback = plan_of(make_ss("log:1"), [r1, r2])
    assert rollback.revision_create is None and rollback.revision_label_patch is None
    assert rollback.revision_bump is not None and rollback.revision_bump["revision"] == 3
    assert rollback.latest_revision == r1["metadata"]["name"] == rollback.revision_bump["metadata"]["name"]
    assert r1["revision"] == 1  # the snapshot's revision is not modified
    relabel = plan_of(make_ss("log:2", labels={CUSTOM: "v2"}), [r1, r2])
    assert relabel.revision_create is None and relabel.revision_bump is None
    assert relabel.revision_label_patch == {"metadata": {"labels": {CUSTOM: "v2"}}}
    assert relabel.latest_revision == r2["metadata"]["name"]


def test_plan_truncates_history_but_keeps_what_a_matched_pod_runs() -> None:
    revisions: list[Obj] = []
    for i in range(1, 5):
        _, _, revisions = step(make_ss(f"log:{i}"), revisions)
    by_number = {r["revision"]: r["metadata"]["name"] for r in revisions}
    ss = make_ss("log:4", revisionHistoryLimit=2)
    assert plan_of(ss, revisions).revisions_delete == [by_number[1], by_number[2]]
    p = plan_of(ss, revisions, [matched_pod(ss, by_number[1])])
    assert len(p.matched_pods) == 1
    assert p.revisions_delete == [by_number[2], by_number[3]]


def test_plan_writes_revisions_even_when_upgrades_are_paused() -> None:
    ss = make_ss("log:2", updateStrategy={"paused": True})
    r1 = revs.new_revision(make_ss("log:1"), NS, 1, 0)
    p = plan_of(ss, [r1], [matched_pod(ss, r1["metadata"]["name"])])
    assert "updateStrategy.paused: no upgrades" in p.notes and p.upgrades == []
    assert p.revision_create is not None and p.latest_revision == p.revision_create["metadata"]["name"]


INJECTED_LIST = "kruise.io/sidecarset-injected-list"
