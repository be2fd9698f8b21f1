"""SidecarSet upgrade planner (spec §5.4, P14-P16, P28): the unit examples table, selection, ordering,
status counting, the one patch per upgraded pod and the SidecarSetUpgradable condition."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kruise_py.api.defaults import default_sidecarset
from kruise_py.api.sidecarset import (
    SIDECARSET_HASH_ANNOTATION as HASH,
)
from kruise_py.api.sidecarset import (
    SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION as HASH_WO,
)
from kruise_py.api.sidecarset import (
    SIDECARSET_INJECTED_LIST_ANNOTATION as INJECTED,
)
from kruise_py.api.sidecarset import (
    SIDECARSET_INPLACE_UPDATE_STATE_ANNOTATION as STATE,
)
from kruise_py.controllers.sidecarset import plan as planner
from kruise_py.controllers.sidecarset import revisions as ssrev

from .ss_builders import REVISION_NAMESPACE, snapshot

Obj = dict[str, Any]

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
STAMP = "2025-01-01T12:00:00Z"
SS = "test-sidecarset"
SIDECAR = "test-sidecar"
V1, V2 = "test-image:v1", "test-image:v2"
V1_ID = "docker-pullable://test-image@sha256:" + "1" * 64
V2_ID = "docker-pullable://test-image@sha256:" + "2" * 64
NGINX_ID = "docker-pullable://nginx@sha256:" + "a" * 64
REV = f"{SS}-rev"


# --------------------------------------------------------------------------------------------------
# Builders (the OpenKruise sidecarset_strategy_test.go factories, as dicts)


def make_ss(
    *,
    hash_: str = "bbb",
    without: str = "without-aaa",
    max_unavailable: int | str | None = None,
    partition: int | str | None = None,
    selector: Obj | None = None,
    **strategy: Any,
) -> Obj:
    upd: Obj = dict(strategy)
    if max_unavailable is not None:
        upd["maxUnavailable"] = max_unavailable
    if partition is not None:
        upd["partition"] = partition
    if selector is not None:
        upd["selector"] = selector
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {
            "name": SS,
            "uid": "uid-ss",
            "generation": 1,
            "annotations": {HASH: hash_, HASH_WO: without},
        },
        "spec": {
            "selector": {"matchLabels": {"app": "sidecar"}},
            "containers": [{"name": SIDECAR, "image": V2}],
            "updateStrategy": upd,
            "revisionHistoryLimit": 10,
        },
    }


def make_pod(i: int, *, namespace: str = "default", labels: Obj | None = None) -> Obj:
    return {
        "metadata": {
            "name": f"pod-{i}",
            "namespace": namespace,
            "uid": f"uid-{i}",
            "labels": {"app": "sidecar", **(labels or {})},
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "annotations": {
                HASH: json.dumps({SS: {"hash": "aaa", "sidecarList": [SIDECAR]}}),
                HASH_WO: json.dumps({SS: {"hash": "without-aaa", "sidecarList": [SIDECAR]}}),
                INJECTED: SS,
            },
        },
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.15.1"}, {"name": SIDECAR, "image": V1}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "nginx", "image": "nginx:1.15.1", "imageID": NGINX_ID, "ready": True},
                {"name": SIDECAR, "image": V1, "imageID": V1_ID, "ready": True},
            ],
        },
    }


def apply_patch(pod: Obj, patch: Obj) -> Obj:
    """What the API server does with PodUpgrade.patch (strategic merge: annotations, images by name)."""
    out = copy.deepcopy(pod)
    assert patch["metadata"]["uid"] == pod["metadata"]["uid"]
    ann = out["metadata"].setdefault("annotations", {})
    for k, v in patch["metadata"].get("annotations", {}).items():
        if v is None:
            ann.pop(k, None)
        else:
            ann[k] = v
    for key in ("containers", "initContainers"):
        for item in patch.get("spec", {}).get(key, []):
            for c in out["spec"][key]:
                if c["name"] == item["name"]:
                    c["image"] = item["image"]
    return out


def apply_status_patch(pod: Obj, patch: Obj) -> Obj:
    """pods/status: annotations and conditions (merged by type); the spec is not touched."""
    out = apply_patch(pod, {"metadata": patch["metadata"]})
    conds = out.setdefault("status", {}).setdefault("conditions", [])
    for c in patch.get("status", {}).get("conditions", []):
        conds[:] = [x for x in conds if x["type"] != c["type"]] + [c]
    return out


def apply_upgrade(pod: Obj, u: planner.PodUpgrade) -> Obj:
    """Every write of one PodUpgrade, in order."""
    if u.patch is not None:
        pod = apply_patch(pod, u.patch)
    if u.status_patch is not None:
        pod = apply_status_patch(pod, u.status_patch)
    return pod


def kubelet_restart(pod: Obj, name: str = SIDECAR, image_id: str = V2_ID) -> Obj:
    out = copy.deepcopy(pod)
    image = next(c["image"] for c in out["spec"]["containers"] if c["name"] == name)
    for cs in out["status"]["containerStatuses"]:
        if cs["name"] == name:
            cs["image"], cs["imageID"] = image, image_id
    return out


def factory_pods(count: int, upgraded: int, upgraded_ready: int, ss: Obj | None = None) -> list[Obj]:
    """factoryPods: ``upgraded`` pods got the new image (through our own patch), of which
    ``upgraded_ready`` have been restarted by the kubelet; the others still run v1 (inconsistent)."""
    pods = [make_pod(i) for i in range(count)]
    upgrade_to = ss or make_ss()
    for i in range(upgraded):
        patch, _ = planner.upgrade_patch(pods[i], upgrade_to, REV, NOW)
        pods[i] = apply_patch(pods[i], patch)
    for i in range(upgraded_ready):
        pods[i] = kubelet_restart(pods[i])
    return pods


def shuffled(pods: list[Obj], seed: int = 7) -> list[Obj]:
    out = list(pods)
    random.Random(seed).shuffle(out)
    return out


def plan_of(ss: Obj, pods: list[Obj], *, latest: str = REV, now: datetime = NOW) -> planner.Plan:
    return planner.plan(snapshot(ss, pods, now, latest))


def names(p: planner.Plan) -> list[str]:
    return [u.pod["metadata"]["name"] for u in p.upgrades]


def hash_entry(pod: Obj, key: str = HASH) -> Obj:
    entry: Obj = json.loads(pod["metadata"]["annotations"][key])[SS]
    return entry


# --------------------------------------------------------------------------------------------------
# The unit examples table of spec §5.4 (sidecarset_strategy_test.go), plus two more Go rows


TABLE = [
    # (matched, upgraded, upgraded and ready, maxUnavailable, partition, pods upgraded)
    (100, 30, 26, 10, None, 6),
    (1000, 300, 260, "10%", None, 60),
    (1000, 300, 250, "5%", None, 0),
    (1000, 800, 760, 100, 180, 20),
    (1000, 800, 760, 100, "18%", 20),
    (1000, 800, 760, 100, "10%", 60),
    (5, 0, 0, "5%", None, 1),
    (5, 0, 0, 5, "99%", 1),
    (5, 0, 0, 5, "1%", 4),
    # Go-only rows: maxUnavailable 100 with 3 busy; an int partition of 100.
    (100, 30, 27, 100, None, 70),
    (1000, 800, 760, 100, 100, 60),
]


@pytest.mark.parametrize(("count", "upgraded", "ready", "max_u", "partition", "expected"), TABLE)
def test_unit_examples_table(
    count: int, upgraded: int, ready: int, max_u: int | str, partition: int | str | None, expected: int
) -> None:
    ss = make_ss(max_unavailable=max_u, partition=partition)
    pods = shuffled(factory_pods(count, upgraded, ready))
    p = plan_of(ss, pods)
    assert len(p.upgrades) == expected
    assert p.not_upgradable == [] and p.events == []
    # Only pods still at the old hash are chosen.
    assert all(not planner.is_updated(u.pod, ss) for u in p.upgrades)
    assert p.status is not None
    assert (p.status["matchedPods"], p.status["updatedPods"]) == (count, upgraded)
    assert p.status["readyPods"] == count - (upgraded - ready)
    assert p.status["updatedReadyPods"] == ready


def test_selector_alone_upgrades_only_the_selected_pods() -> None:
    pods = factory_pods(1000, 0, 0)
    for pod in pods[:30]:
        pod["metadata"]["labels"]["app"] = "test"
    ss = make_ss(max_unavailable=100, selector={"matchLabels": {"app": "test"}})
    # The SidecarSet selects app in (sidecar, test); the update selector only app=test.
    ss["spec"]["selector"] = {
        "matchExpressions": [{"key": "app", "operator": "In", "values": ["sidecar", "test"]}]
    }
    p = plan_of(ss, shuffled(pods))
    assert len(p.upgrades) == 30
    assert {u.pod["metadata"]["labels"]["app"] for u in p.upgrades} == {"test"}
    assert sum(1 for v in p.pod_plan.values() if v == "not-selected") == 970


def test_not_upgradable_pods_get_the_condition_and_one_event() -> None:
    ss = make_ss(without="without-bbb", max_unavailable=100)
    p = plan_of(ss, shuffled(factory_pods(100, 0, 0)))
    assert p.upgrades == []
    assert len(p.not_upgradable) == 100
    _pod, cond = p.not_upgradable[0]
    assert cond == {
        "type": "SidecarSetUpgradable",
        "status": "False",
        "reason": "UpdateImmutableField",
        "message": '{"test-sidecarset":false}',
        "lastTransitionTime": STAMP,
    }
    assert p.events == [
        (
            "Normal",
            "NotUpgradablePods",
            "SidecarSet in-place update detected 100 not upgradable pod(s) in this round, will skip them.",
        )
    ]


def test_not_upgradable_condition_is_written_only_when_it_changes() -> None:
    ss = make_ss(without="without-bbb")
    pods = factory_pods(3, 0, 0)
    pods[0]["status"]["conditions"].append(
        {
            "type": "SidecarSetUpgradable",
            "status": "False",
            "reason": "UpdateImmutableField",
            "message": '{"test-sidecarset":false}',
            "lastTransitionTime": "2024-12-31T00:00:00Z",
        }
    )
    # Another SidecarSet recorded true: ours is added, the status flips to False.
    pods[1]["status"]["conditions"].append(
        {
            "type": "SidecarSetUpgradable",
            "status": "True",
            "reason": "AllSidecarsetUpgradable",
            "message": '{"other":true}',
            "lastTransitionTime": "2024-12-31T00:00:00Z",
        }
    )
    p = plan_of(ss, pods)
    written = {pod["metadata"]["name"]: cond for pod, cond in p.not_upgradable}
    assert set(written) == {"pod-1", "pod-2"}
    assert written["pod-1"]["message"] == '{"other":true,"test-sidecarset":false}'
    assert written["pod-1"]["status"] == "False"
    assert "3 not upgradable" in p.events[0][2]


@pytest.mark.parametrize("strategy", [{"type": "NotUpdate"}, {"paused": True}])
def test_not_update_and_paused_stop_after_the_status(strategy: Obj) -> None:
    ss = make_ss(max_unavailable=100, **strategy)
    ss["metadata"]["annotations"][HASH_WO] = "without-bbb"  # not even conditions are written
    p = plan_of(ss, factory_pods(10, 0, 0))
    assert p.upgrades == [] and p.not_upgradable == [] and p.events == []
    assert p.status is not None and p.status["matchedPods"] == 10
    assert p.notes


def test_everything_updated_stops() -> None:
    ss = make_ss(without="without-bbb")  # would be not upgradable, but nothing is waiting
    pods = factory_pods(4, 4, 4)
    p = plan_of(ss, pods)
    assert p.upgrades == [] and p.not_upgradable == [] and p.events == []
    assert "all 4 matched pods are updated" in p.notes


def test_hot_upgrade_pods_need_the_pair_and_the_working_annotation() -> None:
    ss = make_ss()
    ss["spec"]["containers"][0]["upgradeStrategy"] = {
        "upgradeType": "HotUpgrade",
        "hotUpgradeEmptyImage": "empty",
    }
    p = plan_of(ss, factory_pods(3, 0, 0))
    assert p.upgrades == []
    assert p.status is not None and p.status["matchedPods"] == 0  # no containers


# --------------------------------------------------------------------------------------------------
# Matching and status (P14, P16)


def test_matched_requires_injection_activity_and_every_sidecar() -> None:
    ss = make_ss()
    pods = factory_pods(7, 0, 0)
    del pods[0]["metadata"]["annotations"][INJECTED]  # existed before the SidecarSet (P14)
    pods[1]["metadata"]["annotations"][INJECTED] = "other,another"
    pods[2]["metadata"]["deletionTimestamp"] = STAMP
    pods[3]["status"]["phase"] = "Succeeded"
    pods[4]["spec"]["containers"] = pods[4]["spec"]["containers"][:1]  # sidecar missing
    pods[5]["metadata"]["labels"]["app"] = "other"  # not selected
    pods[6]["metadata"]["annotations"][INJECTED] = f"other,{SS}"
    assert [planner.matched(p, ss) for p in pods] == [False] * 6 + [True]
    p = plan_of(ss, pods)
    assert p.status is not None and p.status["matchedPods"] == 1
    assert [x["metadata"]["name"] for x in p.matched_pods] == ["pod-6"]


def test_v1alpha1_namespace_field_limits_matching() -> None:
    ss = make_ss()
    ss["spec"]["namespace"] = "prod"
    assert not planner.matched(make_pod(0), ss)
    assert planner.matched(make_pod(0, namespace="prod"), ss)


def test_ready_requires_consistency_and_every_container_status() -> None:
    ss = make_ss()
    pods = factory_pods(5, 3, 1)
    # pod-0: updated and restarted -> ready. pod-1/2: updated, kubelet not done -> not ready.
    # pod-3: old, fine -> ready. pod-4: old, but one container status missing -> not ready (P16).
    pods[4]["status"]["containerStatuses"] = pods[4]["status"]["containerStatuses"][:1]
    assert [planner.is_ready(p, ss) for p in pods] == [True, False, False, True, False]
    assert [planner.is_consistent(p, ss) for p in pods] == [True, False, False, True, False]
    p = plan_of(ss, pods)
    assert p.status == {
        "observedGeneration": 1,
        "matchedPods": 5,
        "updatedPods": 3,
        "readyPods": 2,
        "updatedReadyPods": 1,
        "latestRevision": REV,
        "collisionCount": 0,
    }


def test_status_is_none_when_unchanged_and_written_for_a_new_generation() -> None:
    ss = make_ss()
    pods = factory_pods(3, 3, 3)
    first = plan_of(ss, pods).status
    assert first is not None
    ss["status"] = dict(first)
    assert plan_of(ss, pods).status is None
    ss["metadata"]["generation"] = 2
    again = plan_of(ss, pods).status
    assert again is not None and again["observedGeneration"] == 2
    ss["status"] = dict(again)
    # A revision squats on the name of the current sidecars' revision with other data: a collision.
    squatter = ssrev.new_revision(ss, REVISION_NAMESPACE, 1, 0)
    squatter["data"] = {"spec": {"$patch": "replace", "containers": None}}
    snap = planner.Snapshot(ss, pods, [squatter], REVISION_NAMESPACE, NOW)
    p = planner.plan(snap)
    assert p.status is not None and p.status["collisionCount"] == 1
    assert p.revision_create is not None and p.latest_revision == p.status["latestRevision"]
    assert p.latest_revision != squatter["metadata"]["name"]


def test_consistency_with_normalised_and_digest_images() -> None:
    ss = make_ss()
    pod = factory_pods(1, 1, 0)[0]
    # The kubelet reports the fully qualified name of the new image but the old imageID: still running v1.
    pod["status"]["containerStatuses"][1]["image"] = "docker.io/library/test-image:v2"
    assert planner.is_consistent(pod, ss)  # status image equals spec image (normalised)
    pod["status"]["containerStatuses"][1]["image"] = "docker.io/library/test-image:v1"
    assert not planner.is_consistent(pod, ss)
    # Digest images: only the digests count, the state annotation is not consulted.
    digest = "test-image@sha256:" + "3" * 64
    pod["spec"]["containers"][1]["image"] = digest
    assert not planner.is_consistent(pod, ss)
    pod["status"]["containerStatuses"][1]["imageID"] = (
        "docker-pullable://docker.io/test-image@sha256:" + "3" * 64
    )
    assert planner.is_consistent(pod, ss)


def test_an_unparsable_state_annotation_is_inconsistent_and_none_is_consistent() -> None:
    ss = make_ss()
    pod = make_pod(0)
    assert planner.is_consistent(pod, ss)
    pod["metadata"]["annotations"][STATE] = "{not json"
    assert not planner.is_consistent(pod, ss)


def test_legacy_hash_annotation_shape_is_read() -> None:
    ss = make_ss()
    pod = make_pod(0)
    pod["metadata"]["annotations"][HASH] = json.dumps({SS: "bbb", "other": "x"})
    pod["metadata"]["annotations"][HASH_WO] = json.dumps({SS: "without-aaa"})
    assert planner.is_updated(pod, ss) and planner.is_upgradable(pod, ss)
    assert planner.read_hash_annotation(pod)["other"]["hash"] == "x"


# --------------------------------------------------------------------------------------------------
# Picking pods: mid-upgrade, not-ready pods, ordering, scatter


def test_mid_upgrade_pods_wait_silently() -> None:
    ss = make_ss(hash_="ccc", max_unavailable=10)
    pods = factory_pods(3, 1, 0)  # pod-0 was upgraded to "bbb" and is still restarting
    p = plan_of(ss, pods)
    assert p.pod_plan["default/pod-0"] == "mid-upgrade"
    assert sorted(names(p)) == ["pod-1", "pod-2"]
    assert p.not_upgradable == [] and p.events == []


def test_not_ready_waiting_pods_are_taken_without_budget_and_first() -> None:
    ss = make_ss(max_unavailable=1)
    pods = factory_pods(6, 0, 0)
    for pod in pods[3:]:
        pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    p = plan_of(ss, pods)
    # The three not-ready pods sort first and are free; then one ready pod fills maxUnavailable=1.
    assert names(p)[:3] == ["pod-3", "pod-4", "pod-5"]
    assert len(p.upgrades) == 4
    assert sum(1 for v in p.pod_plan.values() if v == "budget") == 2


def test_active_pods_order() -> None:
    t0 = NOW - timedelta(hours=1)

    def pod(
        i: int,
        *,
        node: str = "n1",
        phase: str = "Running",
        ready: bool = True,
        ready_since: datetime | None = t0,
        restarts: int = 0,
        created: datetime | None = t0,
    ) -> Obj:
        p = make_pod(i)
        p["spec"]["nodeName"] = node
        p["status"]["phase"] = phase
        cond: Obj = {"type": "Ready", "status": "True" if ready else "False"}
        if ready_since is not None:
            cond["lastTransitionTime"] = ready_since.strftime("%Y-%m-%dT%H:%M:%SZ")
        p["status"]["conditions"] = [cond]
        p["status"]["containerStatuses"][0]["restartCount"] = restarts
        if created is None:
            del p["metadata"]["creationTimestamp"]
        else:
            p["metadata"]["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        return p

    pods = [
        pod(0),  # ready a long time
        pod(1, node=""),  # unassigned
        pod(2, phase="Pending", ready=False),  # pending
        pod(3, ready=False),  # running, not ready
        pod(4, ready_since=NOW),  # ready for a shorter time
        pod(5, restarts=3),  # more restarts
        pod(6, created=NOW),  # newer
        pod(7, ready_since=None),  # ready, zero ready time
    ]
    ordered = sorted(pods, key=planner.active_pods_key)
    assert [p["metadata"]["name"] for p in ordered] == [
        "pod-1",
        "pod-2",
        "pod-3",
        "pod-7",
        "pod-4",
        "pod-5",
        "pod-6",
        "pod-0",
    ]


def test_weight_priority_goes_first() -> None:
    ss = make_ss(
        max_unavailable=2,
        priorityStrategy={
            "weightPriority": [{"weight": 50, "matchSelector": {"matchLabels": {"tier": "canary"}}}]
        },
    )
    pods = factory_pods(6, 0, 0)
    pods[4]["metadata"]["labels"]["tier"] = "canary"
    pods[5]["metadata"]["labels"]["tier"] = "canary"
    assert sorted(names(plan_of(ss, shuffled(pods)))) == ["pod-4", "pod-5"]


def test_order_priority_larger_suffix_first() -> None:
    ss = make_ss(max_unavailable=1, priorityStrategy={"orderPriority": [{"orderedKey": "rank"}]})
    pods = factory_pods(4, 0, 0)
    for i, pod in enumerate(pods):
        pod["metadata"]["labels"]["rank"] = f"r-{i}"
    assert names(plan_of(ss, shuffled(pods))) == ["pod-3"]


def test_partition_keeps_the_end_of_the_order() -> None:
    ss = make_ss(
        max_unavailable=10, partition=2, priorityStrategy={"orderPriority": [{"orderedKey": "rank"}]}
    )
    pods = factory_pods(5, 0, 0)
    for i, pod in enumerate(pods):
        pod["metadata"]["labels"]["rank"] = f"r-{i}"
    p = plan_of(ss, pods)
    assert names(p) == ["pod-4", "pod-3", "pod-2"]
    assert p.pod_plan["default/pod-1"] == p.pod_plan["default/pod-0"] == "partition"


def test_scatter_spreads_a_label_across_the_order() -> None:
    ss = make_ss(max_unavailable=100, scatterStrategy=[{"key": "zone", "value": "a"}])
    pods = factory_pods(6, 0, 0)
    pods[4]["metadata"]["labels"]["zone"] = "a"
    pods[5]["metadata"]["labels"]["zone"] = "a"
    # "even scattered pods + even ordinary pods": [4, 0, 1, 2, 3, 5]
    assert names(plan_of(ss, shuffled(pods))) == ["pod-4", "pod-0", "pod-1", "pod-2", "pod-3", "pod-5"]


def test_scatter_star_expands_to_every_value() -> None:
    pods = [make_pod(i) for i in range(8)]
    for i, v in [(0, "v0"), (1, "v1"), (2, "v2"), (3, "v"), (4, "v"), (5, "v")]:
        pods[i]["metadata"]["labels"]["key-4"] = v
    strategy = [
        {"key": "key-1", "value": "value-1"},
        {"key": "key-4", "value": "*"},
        {"key": "key-1", "value": "value-1"},
    ]
    assert planner.scatter_terms(strategy, pods) == [
        ("key-1", "value-1"),
        ("key-4", "v0"),
        ("key-4", "v1"),
        ("key-4", "v2"),
        ("key-4", "v"),
    ]


def _labelled(specs: list[str]) -> list[Obj]:
    out = []
    for i, spec in enumerate(specs):
        labels = dict(kv.split("=", 1) for kv in spec.split(",") if "=" in kv)
        out.append({"metadata": {"name": str(i), "labels": labels}})
    return out


# scatter_sort_test.go TestScatterPodsByRule (term labelA=AAA; pods: the first len(expected)), from the
# version of the test that matches the scatter_sort.go ported here.
BY_RULE = [
    ([""], [0]),
    (["labelA=AAA"], [0]),
    (["labelA=AAA", "bbb"], [0, 1]),
    (["", "", "", "", "labelA=AAA", "labelA=AAA"], [4, 0, 1, 2, 3, 5]),
    (["", "", "", "labelA=AAA", "labelA=AAA", "labelA=AAA"], [3, 0, 1, 4, 2, 5]),
    (["", "", "", "labelA=AAA", "", "", "labelA=AAA"], [3, 0, 1, 2, 4, 5, 6]),
    (["", "", "", "", "", "", "labelA=AAA", "labelA=AAA", "labelA=AAA"], [6, 0, 1, 2, 7, 3, 4, 5, 8]),
    (["", "", "labelA=AAA", "labelA=AAA", "labelA=AAA", "labelA=AAA"], [2, 3, 0, 4, 1, 5]),
    (["", "", "", "labelA=AAA", "labelA=AAA", "labelA=AAA"], [3, 0, 1, 4, 2, 5]),
    (
        ["", "", "labelA=AAA", "", "labelA=AAA", "labelA=AAA", "labelA=AAA", "labelA=AAA", "labelA=AAA"],
        [2, 4, 0, 5, 6, 1, 7, 3, 8],
    ),
    (
        ["", "labelA=AAA", "", "labelA=AAA", "", "", "labelA=AAA", "labelA=AAA", "labelA=AAA"],
        [1, 0, 3, 2, 6, 4, 7, 5, 8],
    ),
    (
        ["", "", "", "", "ee", "a", "", "labelA=AAA", "labelA=AAA", "labelA=AAA,labelB=BBB"],
        [7, 0, 1, 2, 3, 8, 4, 5, 6, 9],
    ),
]


@pytest.mark.parametrize(("labels", "expected"), BY_RULE)
def test_scatter_by_rule_matches_openkruise(labels: list[str], expected: list[int]) -> None:
    pods = _labelled(labels[: len(expected)])
    assert planner.scatter_sort([("labelA", "AAA")], pods, list(range(len(pods)))) == expected


A, B, C = ("labelA", "AAA"), ("labelB", "BBB"), ("labelC", "CCC")
# scatter_sort_test.go TestSort: (pod labels, terms, expected); waiting = the first len(expected) pods.
SORT = [
    ([{"labelA": "AAA", "labelB": "BBB"}], [A], [0]),
    ([{}] * 6, [], [0, 1, 2, 3, 4, 5]),
    ([{}, {}, {}, {}, {"labelA": "AAA"}, {"labelA": "AAA"}], [A], [4, 0, 1, 2, 3, 5]),
    (
        [
            {},
            {},
            {},
            {},
            {"sdfb": "eee"},
            {"dsf": "same"},
            {"labelB": "BBB"},
            {"labelA": "AAA"},
            {"labelA": "AAA"},
            {"labelA": "AAA", "labelB": "BBB"},
        ],
        [B],
        [6, 0, 1, 2, 3, 4, 5, 7, 8, 9],
    ),
    (
        [{"labelB": "BBB"}, {"labelB": "BBB"}, {}, {}, {"labelA": "AAA"}, {"labelA": "AAA"}],
        [A, B],
        [0, 4, 2, 3, 5, 1],
    ),
    (
        [{}, {}, {}, {"labelB": "BBB"}, {"labelA": "AAA", "labelB": "BBB"}, {"labelA": "AAA"}],
        [A, B],
        [4, 0, 1, 2, 5, 3],
    ),
    (
        [
            {},
            {},
            {},
            {},
            {"sdfb": "eee"},
            {"dsf": "same"},
            {"labelB": "BBB"},
            {"labelA": "AAA"},
            {"labelA": "AAA"},
            {"labelB": "BBB"},
        ],
        [B, A],
        [7, 6, 0, 1, 2, 3, 4, 5, 9, 8],
    ),
    (
        [
            {},
            {},
            {},
            {},
            {"sdfb": "eee"},
            {"dsf": "same"},
            {"labelB": "BBB"},
            {"labelA": "AAA"},
            {"labelA": "AAA"},
            {"labelB": "BBB"},
        ],
        [A, B],
        [6, 7, 0, 1, 2, 3, 4, 5, 8, 9],
    ),
    (
        [
            {},
            {},
            {},
            {"labelA": "AAA"},
            {"sdfb": "eee"},
            {"dsf": "same"},
            {"labelA": "AAA", "labelB": "BBB"},
            {},
            {},
            {},
        ],
        [A, B],
        [3, 0, 1, 2, 4, 5, 7, 6],
    ),
    (
        [
            {},
            {"labelA": "AAA"},
            {"labelA": "AAA"},
            {"labelB": "BBB"},
            {"labelB": "BBB"},
            {"labelC": "CCC"},
            {"labelC": "CCC"},
            {"labelC": "CCC"},
            {"labelC": "CCC"},
            {"labelC": "CCC"},
        ],
        [A, B, C],
        [3, 1, 5, 0, 6, 7, 8, 9, 2, 4],
    ),
    (
        [
            {},
            {"labelA": "AAA"},
            {"labelA": "AAA", "labelC": "CCC"},
            {"labelB": "BBB", "labelC": "CCC"},
            {"labelB": "BBB"},
            {},
            {},
            {"labelC": "CCC"},
            {"labelC": "CCC"},
            {"labelC": "CCC"},
        ],
        [A, B, C],
        [3, 2, 0, 7, 8, 5, 6, 9, 1, 4],
    ),
    ([{}, {}, {}, {}, {"labelA": "AAA"}, {"labelA": "AAA"}, {"labelA": "AAA"}], [A], [0, 1, 4, 2, 3, 5]),
    (
        [{"labelA": "AAA"}, {"labelA": "AAA"}, {}, {}, {}, {}, {}, {}, {}, {"labelA": "AAA"}],
        [A],
        [2, 0, 3, 4, 5, 6, 1],
    ),
]


@pytest.mark.parametrize(("labels", "terms", "expected"), SORT)
def test_scatter_sort_matches_openkruise(
    labels: list[Obj], terms: list[tuple[str, str]], expected: list[int]
) -> None:
    pods = [{"metadata": {"name": str(i), "labels": dict(lb)}} for i, lb in enumerate(labels)]
    assert planner.scatter_sort(terms, pods, list(range(len(expected)))) == expected


# --------------------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize(
    ("partition", "matched", "expected"),
    [
        (None, 10, 0),
        (3, 10, 3),
        (30, 10, 10),
        ("18%", 1000, 180),
        ("10%", 5, 1),
        ("99%", 5, 4),
        ("1%", 5, 1),
        ("100%", 5, 5),
        ("99%", 1, 1),
        ("50%", 0, 0),
        ("bad", 5, 0),
        (-1, 5, 0),
    ],
)
def test_partition_replicas(partition: int | str | None, matched: int, expected: int) -> None:
    assert planner.partition_replicas(partition, matched) == expected


@pytest.mark.parametrize(
    ("value", "matched", "expected"),
    [
        (None, 10, 1),
        (10, 100, 10),
        ("10%", 1000, 100),
        ("5%", 5, 1),
        ("1%", 101, 2),
        ("x", 5, 0),
    ],
)
def test_max_unavailable(value: int | str | None, matched: int, expected: int) -> None:
    assert planner.max_unavailable(value, matched) == expected


# --------------------------------------------------------------------------------------------------
# The write: one patch per pod (design §3), the condition only when it changes


def real_ss(**spec: Any) -> Obj:
    ss = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {"name": SS, "uid": "uid-ss", "generation": 3},
        "spec": {
            "selector": {"matchLabels": {"app": "sidecar"}},
            "containers": [{"name": SIDECAR, "image": V1}],
            **spec,
        },
    }
    return default_sidecarset(ss)


def injected_pod(ss: Obj, i: int = 0) -> Obj:
    pod = make_pod(i)
    ann = pod["metadata"]["annotations"]
    ann[HASH] = json.dumps(
        {
            SS: {
                "updateTimestamp": "2024-12-31T00:00:00Z",
                "hash": ss["metadata"]["annotations"][HASH],
                "sidecarSetName": SS,
                "sidecarList": [SIDECAR],
                "controllerRevision": "old-rev",
            },
            "other": {"hash": "o", "sidecarSetName": "other"},
        }
    )
    ann[HASH_WO] = json.dumps(
        {SS: {"hash": ss["metadata"]["annotations"][HASH_WO], "sidecarList": [SIDECAR]}}
    )
    return pod


def with_image(ss: Obj, image: str, **spec: Any) -> Obj:
    new = copy.deepcopy(ss)
    new["spec"]["containers"][0]["image"] = image
    new["spec"].update(spec)
    return default_sidecarset(new)


def test_one_patch_with_images_hash_state_then_the_condition() -> None:
    ss1 = real_ss()
    pod = injected_pod(ss1)
    ss2 = with_image(ss1, V2)
    p = plan_of(ss2, [pod])
    assert len(p.upgrades) == 1
    up = p.upgrades[0]
    # OpenKruise sets SidecarSetUpgradable=True after the upgrade; the pod has none yet: pods/status.
    cond = {
        "type": "SidecarSetUpgradable",
        "status": "True",
        "reason": "AllSidecarsetUpgradable",
        "message": f'{{"{SS}":true}}',
        "lastTransitionTime": STAMP,
    }
    assert up.condition == cond and up.writes == 2
    assert up.status_patch == {"metadata": {"uid": "uid-0"}, "status": {"conditions": [cond]}}
    assert up.containers == [SIDECAR]
    patch = up.patch
    assert set(patch) == {"metadata", "spec"}
    assert patch["spec"] == {"containers": [{"name": SIDECAR, "image": V2}]}
    assert patch["metadata"]["uid"] == "uid-0"
    ann = patch["metadata"]["annotations"]
    assert set(ann) == {HASH, STATE}  # the without-image hash is left as is
    hashes = json.loads(ann[HASH])
    assert list(hashes) == ["other", SS]  # Go map order; the other SidecarSet's entry is kept
    # Re-marshalled like Go's SidecarSetUpgradeSpec struct (zero time and nil list are null).
    assert hashes["other"] == {
        "updateTimestamp": None,
        "hash": "o",
        "sidecarSetName": "other",
        "sidecarList": None,
    }
    assert ann[HASH].endswith(
        f'"{SS}":{{"updateTimestamp":"{STAMP}","hash":"{ss2["metadata"]["annotations"][HASH]}",'
        f'"sidecarSetName":"{SS}","sidecarList":["{SIDECAR}"],"controllerRevision":"{REV}"}}}}'
    )
    assert json.loads(ann[STATE]) == {
        SS: {
            "revision": ss2["metadata"]["annotations"][HASH],
            "updateTimestamp": STAMP,
            "lastContainerStatuses": {SIDECAR: {"imageID": V1_ID}},
        }
    }
    # Applying it makes the pod updated, and then inconsistent until the kubelet restarts the sidecar.
    after = apply_patch(pod, patch)
    assert planner.is_updated(after, ss2) and not planner.is_consistent(after, ss2)
    assert planner.is_consistent(kubelet_restart(after), ss2)


def test_condition_written_only_when_it_changes() -> None:
    ss1 = real_ss()
    ss2 = with_image(ss1, V2)
    pods = [injected_pod(ss1, i) for i in range(3)]
    pods[0]["status"]["conditions"].append(
        {
            "type": "SidecarSetUpgradable",
            "status": "True",
            "reason": "AllSidecarsetUpgradable",
            "message": f'{{"{SS}":true}}',
            "lastTransitionTime": "2024-12-31T00:00:00Z",
        }
    )
    pods[1]["status"]["conditions"].append(  # we were not upgradable before (a change that was reverted)
        {
            "type": "SidecarSetUpgradable",
            "status": "False",
            "reason": "UpdateImmutableField",
            "message": f'{{"{SS}":false}}',
            "lastTransitionTime": "2024-12-31T00:00:00Z",
        }
    )
    pods[2]["status"]["conditions"].append(  # another SidecarSet is not upgradable
        {
            "type": "SidecarSetUpgradable",
            "status": "False",
            "reason": "UpdateImmutableField",
            "message": '{"other":false}',
            "lastTransitionTime": "2024-12-31T00:00:00Z",
        }
    )
    ss2["spec"]["updateStrategy"]["maxUnavailable"] = 3
    p = plan_of(ss2, pods)
    conds = {u.pod["metadata"]["name"]: u.condition for u in p.upgrades}
    assert conds["pod-0"] is None
    assert [u.writes for u in p.upgrades if u.pod["metadata"]["name"] == "pod-0"] == [1]
    assert conds["pod-1"] == {
        "type": "SidecarSetUpgradable",
        "status": "True",
        "reason": "AllSidecarsetUpgradable",
        "message": f'{{"{SS}":true}}',
        "lastTransitionTime": STAMP,
    }
    assert conds["pod-2"] == {
        "type": "SidecarSetUpgradable",
        "status": "False",
        "reason": "UpdateImmutableField",
        "message": f'{{"other":false,"{SS}":true}}',
        "lastTransitionTime": "2024-12-31T00:00:00Z",
    }


def test_state_entry_is_reused_across_upgrades() -> None:
    """P28: revision and updateTimestamp stay from the first upgrade; lastContainerStatuses is overwritten."""
    ss1 = real_ss()
    ss2 = with_image(ss1, V2)
    pod = kubelet_restart(apply_patch(injected_pod(ss1), plan_of(ss2, [injected_pod(ss1)]).upgrades[0].patch))
    ss3 = with_image(ss1, "test-image:v3")
    later = NOW + timedelta(hours=1)
    up = plan_of(ss3, [pod], now=later).upgrades[0]
    state = json.loads(up.patch["metadata"]["annotations"][STATE])[SS]
    assert state == {
        "revision": ss2["metadata"]["annotations"][HASH],
        "updateTimestamp": STAMP,
        "lastContainerStatuses": {SIDECAR: {"imageID": V2_ID}},
    }
    assert hash_entry(apply_patch(pod, up.patch))["updateTimestamp"] == "2025-01-01T13:00:00Z"


def test_patch_pod_metadata_policies_on_upgrade() -> None:
    ss1 = real_ss()
    pod = injected_pod(ss1)
    ann = pod["metadata"]["annotations"]
    ann.update({"keep": "old", "over": "old", "merge": '{"a":1,"b":{"c":1}}'})
    ss2 = with_image(
        ss1,
        V2,
        patchPodMetadata=[
            {"annotations": {"keep": "new", "fresh": "yes"}, "patchPolicy": "Retain"},
            {"annotations": {"over": "new"}, "patchPolicy": "Overwrite"},
            {
                "annotations": {"merge": '{"b":{"d":2},"a":null}', "merge-new": '{"x":1}'},
                "patchPolicy": "MergePatchJson",
            },
        ],
    )
    patch_ann = plan_of(ss2, [pod]).upgrades[0].patch["metadata"]["annotations"]
    assert "keep" not in patch_ann  # Retain never changes an existing value
    assert patch_ann["fresh"] == "yes"
    assert patch_ann["over"] == "new"
    assert patch_ann["merge"] == '{"b":{"c":1,"d":2}}'
    assert patch_ann["merge-new"] == '{"x":1}'


def test_injected_list_written_if_missing() -> None:
    ss1 = real_ss()
    pod = injected_pod(ss1)
    ss2 = with_image(ss1, V2)
    pod["metadata"]["annotations"][INJECTED] = ""
    patch, _ = planner.upgrade_patch(pod, ss2, REV, NOW)
    assert patch["metadata"]["annotations"][INJECTED] == SS


def test_native_sidecar_init_containers_are_upgraded_in_place_too() -> None:
    init = {"name": "log-init", "image": "log:v1", "restartPolicy": "Always"}
    ss1 = real_ss(initContainers=[init])
    pod = injected_pod(ss1)
    pod["metadata"]["annotations"][HASH] = json.dumps(
        {SS: {"hash": ss1["metadata"]["annotations"][HASH], "sidecarList": ["log-init", SIDECAR]}}
    )
    pod["spec"]["initContainers"] = [{"name": "log-init", "image": "log:v1", "restartPolicy": "Always"}]
    pod["status"]["initContainerStatuses"] = [
        {
            "name": "log-init",
            "image": "log:v1",
            "imageID": "docker-pullable://log@sha256:" + "4" * 64,
            "ready": True,
        }
    ]
    ss2 = copy.deepcopy(ss1)
    ss2["spec"]["initContainers"][0]["image"] = "log:v2"
    ss2 = default_sidecarset(ss2)
    assert ss2["metadata"]["annotations"][HASH_WO] == ss1["metadata"]["annotations"][HASH_WO]
    up = plan_of(ss2, [pod]).upgrades[0]
    assert up.patch["spec"] == {"initContainers": [{"name": "log-init", "image": "log:v2"}]}
    ann = up.patch["metadata"]["annotations"]
    assert json.loads(ann[HASH])[SS]["sidecarList"] == ["log-init", SIDECAR]
    assert json.loads(ann[STATE])[SS]["lastContainerStatuses"] == {
        "log-init": {"imageID": "docker-pullable://log@sha256:" + "4" * 64}
    }
    after = apply_patch(pod, up.patch)
    assert not planner.is_consistent(after, ss2)  # the init container still runs v1
    after["status"]["initContainerStatuses"][0].update(
        image="log:v2", imageID="docker-pullable://log@sha256:" + "5" * 64
    )
    assert planner.is_consistent(after, ss2)


def test_a_non_image_change_makes_pods_not_upgradable() -> None:
    ss1 = real_ss()
    ss2 = copy.deepcopy(ss1)
    ss2["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    ss2 = default_sidecarset(ss2)
    p = plan_of(ss2, [injected_pod(ss1)])
    assert p.upgrades == [] and len(p.not_upgradable) == 1


# --------------------------------------------------------------------------------------------------
# Invariant: ready pods made busy never exceed maxUnavailable


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(1, 40),
    upgraded=st.integers(0, 40),
    ready_frac=st.floats(0, 1),
    not_ready=st.integers(0, 40),
    max_u=st.one_of(st.integers(0, 20), st.sampled_from(["0%", "5%", "25%", "50%", "100%"])),
    partition=st.one_of(st.none(), st.integers(0, 40), st.sampled_from(["0%", "10%", "50%", "99%", "100%"])),
    seed=st.integers(0, 1000),
)
def test_budget_invariant(
    count: int,
    upgraded: int,
    ready_frac: float,
    not_ready: int,
    max_u: int | str,
    partition: int | str | None,
    seed: int,
) -> None:
    upgraded = min(upgraded, count)
    ready = int(upgraded * ready_frac)
    pods = factory_pods(count, upgraded, ready)
    for pod in pods[count - min(not_ready, count - upgraded) :]:
        pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    ss = make_ss(max_unavailable=max_u, partition=partition)
    p = plan_of(ss, shuffled(pods, seed))
    busy = upgraded - ready
    limit = planner.max_unavailable(max_u, count)
    ready_taken = sum(1 for u in p.upgrades if planner.is_running_ready(u.pod, ss))
    assert ready_taken <= max(0, limit - busy)
    waiting = count - upgraded
    assert len(p.upgrades) <= max(0, waiting - planner.partition_replicas(partition, count))
    assert len({u.pod["metadata"]["name"] for u in p.upgrades}) == len(p.upgrades)


def test_merge_patch_json_on_a_non_json_value_leaves_it_with_a_note() -> None:
    ss1 = real_ss()
    pod = injected_pod(ss1)
    pod["metadata"]["annotations"]["merge"] = "not json"
    ss2 = with_image(
        ss1,
        V2,
        patchPodMetadata=[
            {"annotations": {"merge": '{"a":1}', "ok": '{"b":1}'}, "patchPolicy": "MergePatchJson"}
        ],
    )
    p = plan_of(ss2, [pod])
    ann = p.upgrades[0].patch["metadata"]["annotations"]
    assert "merge" not in ann and ann["ok"] == '{"b":1}'
    assert any("merge" in n for n in p.notes)


# --------------------------------------------------------------------------------------------------
# FactsMemo: reusing the pod facts of the previous plan changes the work, never the plan


def _comparable(p: planner.Plan) -> Obj:
    return {
        "status": p.status,
        "pod_plan": p.pod_plan,
        "events": p.events,
        "notes": p.notes,
        "upgrades": [(u.pod["metadata"]["name"], u.patch, u.status_patch) for u in p.upgrades],
        "not_upgradable": [(pod["metadata"]["name"], c) for pod, c in p.not_upgradable],
        "matched": [pod["metadata"]["name"] for pod in p.matched_pods],
    }


def _with_rv(pod: Obj, rv: int) -> Obj:
    out = copy.deepcopy(pod)
    out["metadata"]["resourceVersion"] = str(rv)
    return out


def test_facts_memo_plans_equal_fresh_plans_through_a_rollout() -> None:
    ss = make_ss(max_unavailable=2)
    pods = [_with_rv(p, 1) for p in factory_pods(6, 0, 0)]
    pods.append(_with_rv(make_pod(99, labels={"app": "other"}), 1))  # not selected: never matched
    memo: planner.Memo | None = None
    rv, rounds = 1, 0
    while True:
        rounds += 1
        assert rounds < 20, "the rollout does not finish"
        given = memo
        with_memo = planner.plan(snapshot(ss, shuffled(pods, rounds), NOW, REV), memo)
        assert memo is given and (memo is None or memo == given)  # the input memo is not changed
        memo = with_memo.memo
        assert _comparable(with_memo) == _comparable(plan_of(ss, pods))
        if not with_memo.upgrades:
            break
        # The API server bumps the resourceVersion of every pod it writes; the kubelet then restarts.
        for u in with_memo.upgrades:
            i = pods.index(u.pod)
            rv += 1
            pods[i] = _with_rv(kubelet_restart(apply_upgrade(u.pod, u)), rv)
        if rounds == 2:  # a new spec mid-rollout: the memo must not answer for the old one
            ss = make_ss(hash_="ccc", max_unavailable=2)
    final = plan_of(ss, pods).status or {}
    assert final.get("updatedPods") == final.get("matchedPods") == 6
    assert memo is not None and len(memo.facts.facts) == 7  # the last plan's pods only


def test_facts_memo_reevaluates_a_pod_whose_resource_version_changed() -> None:
    ss = make_ss()
    pod = _with_rv(make_pod(1), 5)
    first = planner.plan(snapshot(ss, [pod], NOW, REV))
    assert first.status is not None and first.status["readyPods"] == 1
    not_ready = _with_rv(pod, 6)
    not_ready["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    second = planner.plan(snapshot(ss, [not_ready], NOW, REV), first.memo)
    assert second.status is not None and second.status["readyPods"] == 0
    # Same resourceVersion, same answer (the memo trusts it: cache objects are never mutated).
    third = planner.plan(snapshot(ss, [_with_rv(not_ready, 6)], NOW, REV), second.memo)
    assert third.status == second.status
    # The memo trusts only what it was given: the first plan's memo still answers for rv 5.
    stale = planner.plan(snapshot(ss, [_with_rv(pod, 5)], NOW, REV), first.memo)
    assert stale.status is not None and stale.status["readyPods"] == 1


def test_memo_tells_whether_pods_were_left_to_upgrade() -> None:
    """The reconciler batches pod events by it: promptly while pods wait, in 1 s windows after."""
    assert planner.Memo().upgrading  # nothing known yet: prompt
    ss = make_ss(max_unavailable=1)
    waiting = plan_of(ss, factory_pods(3, 1, 0))  # one upgraded not ready: the budget holds two
    assert waiting.upgrades == [] and waiting.memo.upgrading
    mid = plan_of(ss, factory_pods(3, 0, 0))
    assert len(mid.upgrades) == 1 and mid.memo.upgrading
    done = plan_of(ss, factory_pods(3, 3, 3))
    assert set(done.pod_plan.values()) == {"updated"} and not done.memo.upgrading
    paused = plan_of(make_ss(paused=True), factory_pods(3, 0, 0))
    assert paused.upgrades == [] and not paused.memo.upgrading  # no pod is planned: nothing to hurry
    assert not plan_of(ss, []).memo.upgrading


# --------------------------------------------------------------------------------------------------
# SidecarSetUpgradable: True written at upgrade (processor.updatePodSidecarAndHash), never for
# pods the controller does not touch, and folded into the only write where the API allows it


TRUE_COND = {
    "type": "SidecarSetUpgradable",
    "status": "True",
    "reason": "AllSidecarsetUpgradable",
    "message": f'{{"{SS}":true}}',
    "lastTransitionTime": "2024-12-31T00:00:00Z",
}


def test_pods_not_upgraded_this_round_get_no_condition_write() -> None:
    ss1 = real_ss()
    pods = [injected_pod(ss1, i) for i in range(4)]
    ss2 = with_image(ss1, V2)
    ss2["spec"]["updateStrategy"].update(maxUnavailable=1, partition=2)
    p = plan_of(ss2, pods)
    assert len(p.upgrades) == 1 and p.not_upgradable == []
    assert sorted(p.pod_plan.values()) == ["budget", "partition", "partition", "upgrade"]


def test_annotation_only_upgrade_is_one_status_patch_with_the_condition() -> None:
    """The pod already runs the new image (someone set it): no spec change. pods/status keeps the
    stored spec and ownerReferences only, so annotations and condition travel together."""
    ss1 = real_ss()
    pod = injected_pod(ss1)
    pod["spec"]["containers"][1]["image"] = V2
    ss2 = with_image(ss1, V2)
    [up] = plan_of(ss2, [pod]).upgrades
    assert up.patch is None and up.writes == 1 and up.containers == []
    assert up.status_patch is not None
    assert set(up.status_patch) == {"metadata", "status"}
    assert up.status_patch["metadata"]["uid"] == "uid-0"
    assert (
        hash_entry(apply_status_patch(pod, up.status_patch))["hash"] == ss2["metadata"]["annotations"][HASH]
    )
    assert up.status_patch["status"]["conditions"][0]["status"] == "True"


def test_annotation_only_upgrade_with_the_condition_already_true_is_one_pods_patch() -> None:
    ss1 = real_ss()
    pod = injected_pod(ss1)
    pod["spec"]["containers"][1]["image"] = V2
    pod["status"]["conditions"].append(copy.deepcopy(TRUE_COND))
    [up] = plan_of(with_image(ss1, V2), [pod]).upgrades
    assert up.writes == 1 and up.status_patch is None and up.condition is None
    assert up.patch is not None and "spec" not in up.patch


def test_second_upgrade_of_a_pod_is_one_write() -> None:
    ss1 = real_ss()
    ss2 = with_image(ss1, V2)
    [first] = plan_of(ss2, [injected_pod(ss1)]).upgrades
    assert first.writes == 2
    pod = kubelet_restart(apply_upgrade(injected_pod(ss1), first))
    [second] = plan_of(with_image(ss1, "test-image:v3"), [pod]).upgrades
    assert second.writes == 1 and second.condition is None
