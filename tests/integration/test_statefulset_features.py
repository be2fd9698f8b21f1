"""Advanced StatefulSet features beyond the basic rollout, on the real control plane."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Kubectl, OperatorProcess, wait_for
from .monitor import PodMonitor
from .test_statefulset import asts, pods_of, set_image, status_of, wait_rolled_out


def patch(kubectl: Kubectl, ns: str, kind_name: str, body: dict) -> None:  # type: ignore[type-arg]
    kubectl("patch", *kind_name.split(), "-n", ns, "--type=merge", "-p", json.dumps(body))


def test_reserve_ordinals_skip_slots(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    obj = asts("res", 3, parallel=True)
    obj["spec"]["reserveOrdinals"] = [1]
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "res", 3)
    assert sorted(pods_of(kubectl, ns, "res")) == ["res-0", "res-2", "res-3"]
    obj["spec"]["reserveOrdinals"] = [0, "2-3"]
    kubectl.apply(obj, ns)
    wait_for(
        lambda: sorted(pods_of(kubectl, ns, "res")) == ["res-1", "res-4", "res-5"],
        60,
        what="pods 1,4,5 after reserving 0 and 2-3",
    )


def test_pre_delete_hook_holds_a_pod_until_released(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    obj = asts("hook", 2, parallel=True)
    obj["spec"]["lifecycle"] = {"preDelete": {"labelsHandler": {"example.io/hold": "true"}}}
    obj["spec"]["template"]["metadata"]["labels"]["example.io/hold"] = "true"
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "hook", 2)
    kubectl("scale", "asts/hook", "--replicas=1", "-n", ns)
    wait_for(
        lambda: (
            pods_of(kubectl, ns, "hook")["hook-1"]["metadata"]["labels"]["lifecycle.apps.kruise.io/state"]
            == "PreparingDelete"
        ),
        60,
        what="hook-1 PreparingDelete",
    )
    assert "deletionTimestamp" not in pods_of(kubectl, ns, "hook")["hook-1"]["metadata"]
    kubectl("label", "pod", "hook-1", "-n", ns, "example.io/hold-")
    wait_for(lambda: "hook-1" not in pods_of(kubectl, ns, "hook"), 60, what="hook-1 deleted once released")


def test_claims_follow_the_retention_policy(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    obj = asts("data", 2, parallel=True)
    obj["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "www", "labels": {"tier": "storage"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }
    ]
    obj["spec"]["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Delete", "whenScaled": "Retain"}
    kubectl.apply(obj, ns)
    claims = wait_for(
        lambda: (
            {c["metadata"]["name"]: c for c in kubectl.json("get", "pvc", "-n", ns)["items"]}
            if len(kubectl.json("get", "pvc", "-n", ns)["items"]) == 2
            else None
        ),
        60,
        what="2 claims",
    )
    assert set(claims) == {"www-data-0", "www-data-1"}
    for c in claims.values():
        assert c["metadata"]["labels"] == {"tier": "storage", "app": "data"}
        assert [r["kind"] for r in c["metadata"]["ownerReferences"]] == ["StatefulSet"]
    pod = wait_for(lambda: pods_of(kubectl, ns, "data").get("data-0"), 60, what="pod data-0")
    vol = next(v for v in pod["spec"]["volumes"] if v["name"] == "www")
    assert vol["persistentVolumeClaim"]["claimName"] == "www-data-0"
    kubectl("delete", "asts", "data", "-n", ns)
    wait_for(
        lambda: not kubectl.json("get", "pvc", "-n", ns)["items"], 60, what="claims deleted with the set"
    )


def test_specified_delete_recreates_one_pod(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(asts("spec-del", 3, parallel=True, partition=3), ns)
    wait_rolled_out(kubectl, ns, "spec-del", 3)
    before = pods_of(kubectl, ns, "spec-del")
    kubectl("label", "pod", "spec-del-0", "-n", ns, "apps.kruise.io/specified-delete=true")
    wait_for(
        lambda: (
            pods_of(kubectl, ns, "spec-del").get("spec-del-0", {}).get("metadata", {}).get("uid")
            not in (None, before["spec-del-0"]["metadata"]["uid"])
        ),
        60,
        what="spec-del-0 recreated",
    )
    after = pods_of(kubectl, ns, "spec-del")
    assert after["spec-del-1"]["metadata"]["uid"] == before["spec-del-1"]["metadata"]["uid"]


def test_on_delete_updates_only_deleted_pods(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    obj = asts("ondel", 2, parallel=True)
    obj["spec"]["updateStrategy"] = {"type": "OnDelete"}
    kubectl.apply(obj, ns)
    wait_for(lambda: status_of(kubectl, ns, "ondel").get("readyReplicas") == 2, 60, what="2 ready")
    set_image(kubectl, ns, "ondel", "nginx:1.27")
    wait_for(
        lambda: (
            status_of(kubectl, ns, "ondel").get("updateRevision")
            != status_of(kubectl, ns, "ondel").get("currentRevision")
        ),
        30,
        what="a new update revision",
    )
    kubectl("delete", "pod", "ondel-1", "-n", ns)
    wait_for(
        lambda: (
            pods_of(kubectl, ns, "ondel")
            .get("ondel-1", {})
            .get("spec", {})
            .get("containers", [{}])[0]
            .get("image")
            == "nginx:1.27"
        ),
        60,
        what="ondel-1 recreated at the new image",
    )
    assert pods_of(kubectl, ns, "ondel")["ondel-0"]["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_ordered_ready_with_max_unavailable_batches(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    """Beyond OpenKruise (KEP-961): maxUnavailable > 1 under OrderedReady; a batch starts only when
    the whole previous batch is available."""
    kubectl.apply(asts("kep", 4, parallel=False, max_unavailable=2), ns)
    wait_rolled_out(kubectl, ns, "kep", 4)
    with PodMonitor(kubeconfig, ns, "app=kep", desired=4) as mon:
        set_image(kubectl, ns, "kep", "nginx:1.27")
        wait_rolled_out(kubectl, ns, "kep", 4)
    assert mon.max_unavailable == 2, mon.max_unavailable
    # Batch 2 (pods 1 and 0) starts only after batch 1 (pods 3 and 2) is Ready again.
    new_rev = status_of(kubectl, ns, "kep")["updateRevision"]
    t_batch2 = min(t for t, _, n, _, r, _ in mon.events if n in ("kep-0", "kep-1") and r == new_rev)
    t_batch1_ready = max(
        min(t for t, _, n, _, r, ready in mon.events if n == p and r == new_rev and ready)
        for p in ("kep-2", "kep-3")
    )
    assert t_batch2 >= t_batch1_ready


def test_in_place_only_rejects_a_non_image_change(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    obj = asts("only", 1, parallel=True, policy="InPlaceOnly")
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "only", 1)
    obj["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    res = kubectl.apply(obj, ns, check=False)
    assert res.returncode != 0 and "InPlaceOnly" in res.stderr, res.stderr


def test_resources_only_change_is_resized_in_place(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    """Beyond OpenKruise: a CPU/memory change is applied through the pod `resize` subresource."""
    obj = asts("rsz", 1, parallel=True)
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "200m", "memory": "128Mi"},
    }
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "rsz", 1)
    uid = pods_of(kubectl, ns, "rsz")["rsz-0"]["metadata"]["uid"]
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "150m", "memory": "64Mi"},
        "limits": {"cpu": "300m", "memory": "128Mi"},
    }
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "rsz", 1)
    pod = pods_of(kubectl, ns, "rsz")["rsz-0"]
    assert pod["metadata"]["uid"] == uid, "resized in place, not recreated"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "300m"
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0


def test_priority_weight_orders_the_rollout(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str
) -> None:
    obj = asts("prio", 3, parallel=True, max_unavailable=1)
    obj["spec"]["updateStrategy"]["rollingUpdate"]["unorderedUpdate"] = {
        "priorityStrategy": {
            "weightPriority": [{"weight": 50, "matchSelector": {"matchLabels": {"first": "yes"}}}]
        }
    }
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "prio", 3)
    kubectl("label", "pod", "prio-0", "-n", ns, "first=yes")
    with PodMonitor(kubeconfig, ns, "app=prio", desired=3) as mon:
        set_image(kubectl, ns, "prio", "nginx:1.27")
        wait_rolled_out(kubectl, ns, "prio", 3)
    new_rev = status_of(kubectl, ns, "prio")["updateRevision"]
    first_updates = {}
    for t, _, n, _, r, _ in mon.events:
        if r == new_rev and n not in first_updates:
            first_updates[n] = t
    order = sorted(first_updates, key=first_updates.__getitem__)
    assert order[0] == "prio-0", order  # the weighted pod goes first, then highest ordinal first
    assert order[1:] == ["prio-2", "prio-1"], order


def test_readopts_pods_orphaned_by_a_deleted_set(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    """Delete the set with --cascade=orphan and create it again: the same pods are adopted back."""
    obj = asts("adopt", 2, parallel=True)
    kubectl.apply(obj, ns)
    wait_rolled_out(kubectl, ns, "adopt", 2)
    uids = {n: p["metadata"]["uid"] for n, p in pods_of(kubectl, ns, "adopt").items()}
    kubectl("delete", "asts", "adopt", "-n", ns, "--cascade=orphan")
    wait_for(
        lambda: all(not p["metadata"].get("ownerReferences") for p in pods_of(kubectl, ns, "adopt").values()),
        60,
        what="pods orphaned",
    )
    kubectl.apply(obj, ns)
    new_uid = kubectl.json("get", "asts", "adopt", "-n", ns)["metadata"]["uid"]

    def adopted() -> bool:
        return all(
            any(
                r.get("uid") == new_uid and r.get("controller")
                for r in p["metadata"].get("ownerReferences", [])
            )
            for p in pods_of(kubectl, ns, "adopt").values()
        )

    wait_for(adopted, 60, what="orphans adopted by the new set")
    assert {n: p["metadata"]["uid"] for n, p in pods_of(kubectl, ns, "adopt").items()} == uids
