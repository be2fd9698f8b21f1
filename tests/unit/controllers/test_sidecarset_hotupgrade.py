"""SidecarSet HotUpgrade (spec §5.6; OpenKruise sidecarset_hotupgrade.go, util_hotupgrade.go and the
e2e "sidecarSet upgrade hot sidecar container image" / "... failed image"): injection by inject.py,
then upgrade, reset and status by the planner, with a hand-played kubelet."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kruise_py.api.defaults import default_sidecarset
from kruise_py.controllers.sidecarset import inject as inj
from kruise_py.controllers.sidecarset import plan as planner

from .ss_builders import snapshot

Obj = dict[str, Any]
NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
SS = "mesh-sc"
EMPTY = "hotupgrade:empty"
WORKING = "kruise.io/sidecarset-working-hotupgrade-container"
STATE = "kruise.io/sidecarset-inplace-update-state"
REV = "mesh-sc-rev"


def hot_ss(image: str, rv: str, **strategy: Any) -> Obj:
    obj = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {"name": SS, "uid": "uid-ss", "generation": 1, "resourceVersion": rv},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": {"type": "RollingUpdate", **strategy},
            "containers": [
                {
                    "name": "mesh",
                    "image": image,
                    "upgradeStrategy": {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": EMPTY},
                }
            ],
        },
    }
    return default_sidecarset(obj)


def image_id(image: str) -> str:
    return f"docker-pullable://{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def running(pod: Obj, not_ready: tuple[str, ...] = ()) -> Obj:
    """The kubelet has (re)started every container with its spec image; ``not_ready`` are not ready."""
    out = copy.deepcopy(pod)
    statuses = []
    for c in out["spec"]["containers"]:
        statuses.append(
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": image_id(c["image"]),
                "ready": c["name"] not in not_ready,
            }
        )
    out["status"] = {
        "phase": "Running",
        "containerStatuses": statuses,
        "conditions": [{"type": "Ready", "status": "False" if not_ready else "True"}],
    }
    return out


def injected(ss: Obj) -> Obj:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "default", "uid": "uid-0", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    }
    out = inj.inject(pod, [ss], NOW).pod
    return running(out)


def apply(pod: Obj, patch: Obj) -> Obj:
    out = copy.deepcopy(pod)
    assert patch["metadata"]["uid"] == pod["metadata"]["uid"]
    out["metadata"]["annotations"].update(patch["metadata"].get("annotations", {}))
    for item in patch.get("spec", {}).get("containers", []):
        next(c for c in out["spec"]["containers"] if c["name"] == item["name"])["image"] = item["image"]
    for c in patch.get("status", {}).get("conditions", []):
        conds = out["status"].setdefault("conditions", [])
        conds[:] = [x for x in conds if x["type"] != c["type"]] + [c]
    return out


def apply_upgrade(pod: Obj, u: planner.PodUpgrade) -> Obj:
    for patch in (u.patch, u.status_patch):
        if patch is not None:
            pod = apply(pod, patch)
    return pod


def plan_of(ss: Obj, pods: list[Obj]) -> planner.Plan:
    return planner.plan(snapshot(ss, pods, NOW, REV))


def images(pod: Obj) -> dict[str, str]:
    return {c["name"]: c["image"] for c in pod["spec"]["containers"]}


def ann(pod: Obj) -> dict[str, str]:
    return dict(pod["metadata"]["annotations"])


def versions(pod: Obj) -> dict[str, tuple[str, str]]:
    a = ann(pod)
    return {
        n: (a[f"version.sidecarset.kruise.io/{n}"], a[f"versionalt.sidecarset.kruise.io/{n}"])
        for n in ("mesh-1", "mesh-2")
    }


def test_injected_pair_counts_as_matched_updated_and_ready() -> None:
    ss = hot_ss("mesh:1", "100")
    pod = injected(ss)
    assert images(pod) == {"mesh-1": "mesh:1", "mesh-2": EMPTY, "app": "app:1"}
    p = plan_of(ss, [pod])
    assert p.status is not None
    assert {k: p.status[k] for k in ("matchedPods", "updatedPods", "readyPods")} == {
        "matchedPods": 1,
        "updatedPods": 1,
        "readyPods": 1,
    }
    assert p.upgrades == [] and p.flips == []


def test_upgrade_then_reset_then_upgrade_again() -> None:
    """e2e: the new image goes to the empty container, which becomes the working one; once it runs,
    the old one is reset to the empty image; the next upgrade goes back to the first container."""
    pod = injected(hot_ss("mesh:1", "100"))
    ss2 = hot_ss("mesh:2", "200")

    [up] = plan_of(ss2, [pod]).upgrades
    assert up.patch is not None and up.patch["spec"] == {
        "containers": [{"name": "mesh-2", "image": "mesh:2"}]
    }
    assert up.containers == ["mesh-2"]
    pod = apply_upgrade(pod, up)
    assert json.loads(ann(pod)[WORKING]) == {"mesh": "mesh-2"}
    # version <- the SidecarSet's resourceVersion; versionalt of the new one <- the old one's version.
    assert versions(pod) == {"mesh-1": ("1", "200"), "mesh-2": ("200", "1")}
    assert json.loads(ann(pod)[STATE])[SS]["lastContainerStatuses"] == {
        "mesh-2": {"imageID": image_id(EMPTY)}
    }

    # Written, not yet restarted by the kubelet: inconsistent, no reset; updated but not ready.
    p = plan_of(ss2, [pod])
    assert p.flips == [] and p.upgrades == []
    assert p.pod_plan == {"default/web-0": "reset-wait"}  # keeps the controller on fast pod events
    assert p.status is not None and (p.status["updatedPods"], p.status["readyPods"]) == (1, 0)

    # The kubelet runs mesh-2 with the new image: reset mesh-1, and nothing else this round.
    pod = running(pod)
    p = plan_of(ss2, [pod])
    assert [f.containers for f in p.flips] == [["mesh-1"]] and p.upgrades == []
    assert p.pod_plan == {"default/web-0": "reset"}
    flip = p.flips[0].patch
    assert flip["spec"] == {"containers": [{"name": "mesh-1", "image": EMPTY}]}
    pod = apply(pod, flip)
    assert versions(pod) == {"mesh-1": ("0", "200"), "mesh-2": ("200", "0")}
    assert json.loads(ann(pod)[STATE])[SS]["lastContainerStatuses"] == {
        "mesh-1": {"imageID": image_id("mesh:1")},
        "mesh-2": {"imageID": image_id(EMPTY)},
    }
    assert plan_of(ss2, [pod]).flips == []  # already reset, the kubelet has not restarted it yet

    pod = running(pod)
    p = plan_of(ss2, [pod])
    assert p.flips == [] and p.upgrades == []
    assert p.status is not None and (p.status["updatedPods"], p.status["readyPods"]) == (1, 1)
    assert images(pod) == {"mesh-1": EMPTY, "mesh-2": "mesh:2", "app": "app:1"}

    ss3 = hot_ss("mesh:3", "300")
    [up] = plan_of(ss3, [pod]).upgrades
    pod = running(apply_upgrade(pod, up))
    assert json.loads(ann(pod)[WORKING]) == {"mesh": "mesh-1"}
    assert versions(pod) == {"mesh-1": ("300", "200"), "mesh-2": ("200", "300")}
    [flip] = plan_of(ss3, [pod]).flips
    pod = running(apply(pod, flip.patch))
    assert images(pod) == {"mesh-1": "mesh:3", "mesh-2": EMPTY, "app": "app:1"}


def test_a_failed_image_is_replaced_in_the_same_container() -> None:
    """e2e "upgrade hot sidecar container failed image": the broken container is not ready, so the
    next image goes to it again (the ready old one keeps working); then the reset happens."""
    pod = injected(hot_ss("mesh:1", "100"))
    bad = hot_ss("registry.invalid/mesh:broken", "200")
    pod = apply_upgrade(pod, plan_of(bad, [pod]).upgrades[0])
    pod = running(pod, not_ready=("mesh-2",))
    p = plan_of(bad, [pod])
    assert p.flips == [] and p.upgrades == []
    assert p.status is not None and (p.status["updatedPods"], p.status["readyPods"]) == (1, 0)

    good = hot_ss("mesh:2", "300")
    [up] = plan_of(good, [pod]).upgrades
    assert up.patch is not None and up.patch["spec"] == {
        "containers": [{"name": "mesh-2", "image": "mesh:2"}]
    }
    pod = running(apply_upgrade(pod, up))
    [flip] = plan_of(good, [pod]).flips
    pod = running(apply(pod, flip.patch))
    assert json.loads(ann(pod)[WORKING]) == {"mesh": "mesh-2"}
    assert images(pod) == {"mesh-1": EMPTY, "mesh-2": "mesh:2", "app": "app:1"}


@pytest.mark.parametrize(
    ("desc", "one", "two", "not_ready", "working", "expected"),
    [
        ("the empty one first", "mesh:1", EMPTY, (), "mesh-1", ("mesh-2", "mesh-1")),
        ("the empty one, even if it is -1", EMPTY, "mesh:1", (), "mesh-2", ("mesh-1", "mesh-2")),
        ("then the not-ready one", "mesh:1", "mesh:2", ("mesh-2",), "mesh-1", ("mesh-2", "mesh-1")),
        (
            "the not-ready one even if it works",
            "mesh:1",
            "mesh:2",
            ("mesh-1",),
            "mesh-1",
            ("mesh-1", "mesh-2"),
        ),
        ("else the older (non-working) one", "mesh:1", "mesh:2", (), "mesh-2", ("mesh-1", "mesh-2")),
        (
            "both not ready: the older one",
            "mesh:1",
            "mesh:2",
            ("mesh-1", "mesh-2"),
            "mesh-1",
            ("mesh-2", "mesh-1"),
        ),
    ],
)
def test_container_to_hot_upgrade(
    desc: str, one: str, two: str, not_ready: tuple[str, ...], working: str, expected: tuple[str, str]
) -> None:
    ss = hot_ss("mesh:3", "300")
    pod = injected(hot_ss("mesh:1", "100"))
    pod["spec"]["containers"][0]["image"], pod["spec"]["containers"][1]["image"] = one, two
    pod["metadata"]["annotations"][WORKING] = json.dumps({"mesh": working})
    pod = running(pod, not_ready=not_ready)
    assert planner.container_to_hot_upgrade(ss["spec"]["containers"][0], pod, ss) == expected, desc


def test_no_upgrade_when_the_working_container_runs_the_image() -> None:
    """UpgradeSidecarContainer returns nil when the other (working) container has the image: only the
    annotations change, and with a condition to write that is one pods/status patch."""
    ss1 = hot_ss("mesh:1", "100")
    pod = injected(ss1)
    ss2 = copy.deepcopy(ss1)
    ss2["metadata"]["annotations"]["kruise.io/sidecarset-hash"] = "another-hash"  # same images, new hash
    [up] = plan_of(ss2, [pod]).upgrades
    assert up.patch is None and up.containers == [] and up.writes == 1
    assert up.status_patch is not None and "spec" not in up.status_patch
    assert up.status_patch["status"]["conditions"][0]["status"] == "True"
    assert WORKING not in up.status_patch["metadata"]["annotations"]


def test_reset_waits_for_the_new_container_to_be_ready() -> None:
    pod = injected(hot_ss("mesh:1", "100"))
    ss2 = hot_ss("mesh:2", "200")
    pod = apply_upgrade(pod, plan_of(ss2, [pod]).upgrades[0])
    assert plan_of(ss2, [running(pod, not_ready=("mesh-2",))]).flips == []
    # The pod is not Ready (the old one restarted, say), but every container except it is: reset.
    assert len(plan_of(ss2, [running(pod, not_ready=("mesh-1",))]).flips) == 1


def test_paused_or_not_update_resets_nothing() -> None:
    pod = injected(hot_ss("mesh:1", "100"))
    pod = running(apply_upgrade(pod, plan_of(hot_ss("mesh:2", "200"), [pod]).upgrades[0]))
    assert plan_of(hot_ss("mesh:2", "200", paused=True), [pod]).flips == []
    not_update = hot_ss("mesh:2", "200")
    not_update["spec"]["updateStrategy"]["type"] = "NotUpdate"
    assert plan_of(not_update, [pod]).flips == []


def test_pods_waiting_for_a_reset_use_the_budget() -> None:
    """A pod between upgrade and reset is updated but not ready (its empty container is not empty):
    with maxUnavailable 1 no other ready pod is upgraded until it is reset and ready."""
    ss1 = hot_ss("mesh:1", "100")
    pods = []
    for i in range(3):
        p = injected(ss1)
        p["metadata"]["name"], p["metadata"]["uid"] = f"web-{i}", f"uid-{i}"
        pods.append(p)
    ss2 = hot_ss("mesh:2", "200", maxUnavailable=1)
    [up] = plan_of(ss2, pods).upgrades
    i = next(n for n, p in enumerate(pods) if p["metadata"]["name"] == up.pod["metadata"]["name"])
    pods[i] = apply_upgrade(pods[i], up)
    assert plan_of(ss2, pods).upgrades == []  # written, not restarted: busy
    pods[i] = running(pods[i])
    p = plan_of(ss2, pods)
    assert len(p.flips) == 1 and p.upgrades == []
    pods[i] = running(apply(pods[i], p.flips[0].patch))
    assert len(plan_of(ss2, pods).upgrades) == 1
