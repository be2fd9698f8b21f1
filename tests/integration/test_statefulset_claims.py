"""Advanced StatefulSet claims that follow their templates (volumeClaimUpdateStrategy
OnPodRollingUpdate), on the real control plane with the simulator's storage driver: claims are
provisioned and bound for real, the apiserver decides which resizes it accepts, and the simulated
resizer and kubelet grow the volumes."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox import storage
from kruise_py.sandbox.controlplane import ControlPlane

from .conftest import Kubectl, OperatorProcess, wait_for
from .monitor import PodMonitor
from .test_statefulset import asts, pods_of, status_of, wait_rolled_out

pytestmark = pytest.mark.usefixtures("sandbox_storage")


def with_claims(
    name: str,
    cls: str = storage.EXPANDABLE_CLASS,
    size: str = "1Gi",
    strategy: str | None = "OnPodRollingUpdate",
    **kw: Any,
) -> dict[str, Any]:
    obj = asts(name, 3, parallel=True, max_unavailable=1, **kw)
    obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data"}
    ]
    obj["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            "spec": {
                "storageClassName": cls,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
            },
        }
    ]
    if strategy:
        obj["spec"]["volumeClaimUpdateStrategy"] = {"type": strategy}
    return obj


def changed(
    obj: dict[str, Any], *, size: str | None = None, image: str | None = None, strategy: str | None = None
) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    if size:
        out["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = size
    if image:
        out["spec"]["template"]["spec"]["containers"][0]["image"] = image
    if strategy:
        out["spec"]["volumeClaimUpdateStrategy"] = {"type": strategy}
    return out


def claims_of(kubectl: Kubectl, ns: str) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in kubectl.json("get", "pvc", "-n", ns)["items"]}


def capacities(kubectl: Kubectl, ns: str) -> dict[str, str | None]:
    return {n: (c["status"].get("capacity") or {}).get("storage") for n, c in claims_of(kubectl, ns).items()}


def requests(kubectl: Kubectl, ns: str) -> dict[str, str]:
    return {n: c["spec"]["resources"]["requests"]["storage"] for n, c in claims_of(kubectl, ns).items()}


def ready_set(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    """Rolled out, claims bound at 1Gi, status.volumeClaims all compatible and ready."""
    st = wait_rolled_out(kubectl, ns, name, 3)
    wait_for(
        lambda: capacities(kubectl, ns) == {f"data-{name}-{i}": "1Gi" for i in range(3)},
        60,
        what="claims bound",
    )
    wait_for(
        lambda: (
            status_of(kubectl, ns, name).get("volumeClaims")
            == [{"volumeClaimName": "data", "compatibleReplicas": 3, "compatibleReadyReplicas": 3}]
        ),
        60,
        what="status.volumeClaims 3/3",
    )
    return st


def audit_offset(cp: ControlPlane) -> int:
    return cp.audit_log.stat().st_size


def operator_writes(cp: ControlPlane, ns: str, start: int) -> list[dict[str, Any]]:
    """The operator's completed write requests in ``ns`` logged after byte ``start`` of the audit log."""
    with cp.audit_log.open("rb") as f:
        f.seek(start)
        lines = f.read().decode().splitlines()
    out = []
    for line in lines:
        e = json.loads(line) if line.strip() else {}
        if (
            e.get("stage") == "ResponseComplete"
            and e.get("userAgent", "").startswith("kruise-py/")
            and e.get("objectRef", {}).get("namespace") == ns
        ):
            out.append(e)
    return out


def per_object(entries: list[dict[str, Any]], resource: str) -> Counter[str]:
    return Counter(
        e["objectRef"].get("name", "") for e in entries if e["objectRef"].get("resource") == resource
    )


def events(kubectl: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl.json(
        "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return items


def test_claims_grow_as_pods_roll_in_place_within_max_unavailable(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, control_plane: ControlPlane, ns: str
) -> None:
    obj = with_claims("grow")
    kubectl.apply(obj, ns)
    before_st = ready_set(kubectl, ns, "grow")
    before = pods_of(kubectl, ns, "grow")
    start = audit_offset(control_plane)
    with PodMonitor(kubeconfig, ns, "app=grow", desired=3) as mon:
        kubectl.apply(changed(obj, size="2Gi", image="nginx:1.27"), ns)
        after_st = wait_rolled_out(kubectl, ns, "grow", 3, timeout=180)
        wait_for(
            lambda: capacities(kubectl, ns) == {f"data-grow-{i}": "2Gi" for i in range(3)},
            120,
            what="every claim at 2Gi",
        )
    assert not mon.errors
    assert after_st["updateRevision"] != before_st["updateRevision"]
    assert mon.max_unavailable <= 1, f"saw {mon.max_unavailable} unavailable with maxUnavailable 1"
    after = pods_of(kubectl, ns, "grow")
    for name, p in after.items():
        assert p["metadata"]["uid"] == before[name]["metadata"]["uid"], f"{name} was recreated"
        assert p["status"]["containerStatuses"][0]["image"] == "nginx:1.27"
    assert requests(kubectl, ns) == {f"data-grow-{i}": "2Gi" for i in range(3)}
    for c in claims_of(kubectl, ns).values():
        assert c["metadata"]["annotations"]["apps.kruise.io/owned-by-asts"] == "grow"
        assert not c["status"].get("conditions")
    wait_for(
        lambda: (
            status_of(kubectl, ns, "grow").get("volumeClaims")
            == [{"volumeClaimName": "data", "compatibleReplicas": 3, "compatibleReadyReplicas": 3}]
        ),
        60,
        what="status.volumeClaims 3/3 at 2Gi",
    )

    writes = operator_writes(control_plane, ns, start)
    # Budget: one patch per claim, and the in-place update's three writes per pod.
    assert per_object(writes, "persistentvolumeclaims") == {f"data-grow-{i}": 1 for i in range(3)}
    assert per_object(writes, "pods") == {f"grow-{i}": 3 for i in range(3)}, per_object(writes, "pods")
    # Each pod's claim was resized before the pod itself was touched, highest ordinal first.
    first: dict[str, str] = {}
    for e in writes:
        ref = e["objectRef"]
        key = (
            ref["name"].removeprefix("data-") if ref["resource"] == "persistentvolumeclaims" else ref["name"]
        )
        first.setdefault(f"{ref['resource']}/{key}", e["requestReceivedTimestamp"])
    for i in range(3):
        assert first[f"persistentvolumeclaims/grow-{i}"] < first[f"pods/grow-{i}"]
    assert first["pods/grow-2"] < first["persistentvolumeclaims/grow-1"] < first["pods/grow-1"]
    reasons = [e["reason"] for e in events(kubectl, ns, "grow")]
    assert reasons.count("SuccessfulResize") == 3 and "SuccessfulUpdatePodInPlace" in reasons


def test_storage_only_change_grows_claims_and_touches_no_pod(
    operator: OperatorProcess, kubectl: Kubectl, control_plane: ControlPlane, ns: str
) -> None:
    obj = with_claims("only", policy="ReCreate")
    kubectl.apply(obj, ns)
    ready_set(kubectl, ns, "only")
    before = pods_of(kubectl, ns, "only")
    start = audit_offset(control_plane)
    kubectl.apply(changed(obj, size="3Gi"), ns)
    wait_for(
        lambda: capacities(kubectl, ns) == {f"data-only-{i}": "3Gi" for i in range(3)},
        120,
        what="every claim at 3Gi",
    )
    wait_for(
        lambda: (
            status_of(kubectl, ns, "only").get("volumeClaims")
            == [{"volumeClaimName": "data", "compatibleReplicas": 3, "compatibleReadyReplicas": 3}]
        ),
        60,
        what="status.volumeClaims 3/3 at 3Gi",
    )
    after = pods_of(kubectl, ns, "only")
    assert {n: p["metadata"]["uid"] for n, p in after.items()} == {
        n: p["metadata"]["uid"] for n, p in before.items()
    }
    writes = operator_writes(control_plane, ns, start)
    assert per_object(writes, "persistentvolumeclaims") == {f"data-only-{i}": 1 for i in range(3)}
    assert per_object(writes, "pods") == {}


def test_on_delete_leaves_existing_claims_alone(operator: OperatorProcess, kubectl: Kubectl, ns: str) -> None:
    obj = with_claims("keep", strategy=None)
    kubectl.apply(obj, ns)
    ready_set(kubectl, ns, "keep")
    kubectl.apply(changed(obj, size="2Gi", image="nginx:1.27"), ns)
    wait_rolled_out(kubectl, ns, "keep", 3)
    # New claims would get 2Gi; the existing ones are not followed: none is compatible any more.
    wait_for(
        lambda: (
            status_of(kubectl, ns, "keep").get("volumeClaims")
            == [{"volumeClaimName": "data", "compatibleReplicas": 0, "compatibleReadyReplicas": 0}]
        ),
        60,
        what="status.volumeClaims 0/3",
    )
    assert requests(kubectl, ns) == {f"data-keep-{i}": "1Gi" for i in range(3)}
    assert capacities(kubectl, ns) == {f"data-keep-{i}": "1Gi" for i in range(3)}
    assert "SuccessfulResize" not in [e["reason"] for e in events(kubectl, ns, "keep")]


def test_growing_a_template_of_a_class_that_refuses_expansion_is_rejected(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    obj = with_claims("refuse", cls=storage.FIXED_CLASS)  # allowVolumeExpansion: false
    kubectl.apply(obj, ns)
    wait_for(lambda: status_of(kubectl, ns, "refuse").get("replicas") == 3, 60, what="3 pods")
    res = kubectl.apply(changed(obj, size="2Gi"), ns, check=False)
    assert res.returncode != 0
    assert "spec.volumeClaimTemplates[data].spec.resources.requests.storage" in res.stderr
    assert "does not support volume expansion" in res.stderr


def test_a_class_that_cannot_expand_stops_the_rollout_with_a_condition_and_loses_nothing(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    # allowVolumeExpansion unset: admitted (as OpenKruise does); the apiserver refuses the resize.
    cls = f"unset-{ns}"[:60]
    kubectl.apply(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": cls},
            "provisioner": storage.PROVISIONER,
            "volumeBindingMode": "Immediate",
        }
    )
    obj = with_claims("fixed", cls=cls)
    kubectl.apply(obj, ns)
    ready_set(kubectl, ns, "fixed")
    before = pods_of(kubectl, ns, "fixed")
    kubectl.apply(changed(obj, size="2Gi", image="nginx:1.27"), ns)

    def failed() -> dict[str, Any] | None:
        conds = status_of(kubectl, ns, "fixed").get("conditions") or []
        return next((c for c in conds if c["type"] == "FailedUpdatePVC"), None)

    cond = wait_for(failed, 60, what="FailedUpdatePVC condition")
    assert cond["status"] == "True"
    assert "resize Claim data-fixed-2 for Pod fixed-2" in cond["message"]
    assert "storageclass that provisions the pvc must support resize" in cond["message"]
    wait_for(
        lambda: "FailedResize" in [e["reason"] for e in events(kubectl, ns, "fixed")],
        30,
        what="FailedResize event",
    )
    # Nothing lost: every pod still runs, unchanged; every claim is still bound at its size.
    pods = pods_of(kubectl, ns, "fixed")
    assert {n: p["metadata"]["uid"] for n, p in pods.items()} == {
        n: p["metadata"]["uid"] for n, p in before.items()
    }
    assert all(p["spec"]["containers"][0]["image"] == "nginx:1.25" for p in pods.values())
    assert capacities(kubectl, ns) == {f"data-fixed-{i}": "1Gi" for i in range(3)}
    assert requests(kubectl, ns) == {f"data-fixed-{i}": "1Gi" for i in range(3)}
    assert all(c["status"]["phase"] == "Bound" for c in claims_of(kubectl, ns).values())

    # The way out: stop following the templates; the image rollout then goes on and the condition goes.
    kubectl.apply(changed(obj, size="2Gi", image="nginx:1.27", strategy="OnDelete"), ns)
    wait_rolled_out(kubectl, ns, "fixed", 3)
    wait_for(lambda: failed() is None, 60, what="condition cleared")
    assert requests(kubectl, ns) == {f"data-fixed-{i}": "1Gi" for i in range(3)}


def test_shrinking_a_claim_template_is_rejected_with_the_field_path(
    operator: OperatorProcess, kubectl: Kubectl, ns: str
) -> None:
    obj = with_claims("shrink", size="2Gi")
    kubectl.apply(obj, ns)
    wait_for(lambda: status_of(kubectl, ns, "shrink").get("replicas") == 3, 60, what="3 pods")
    res = kubectl.apply(changed(obj, size="1Gi"), ns, check=False)
    assert res.returncode != 0
    assert "spec.volumeClaimTemplates[data].spec.resources.requests.storage" in res.stderr
    assert "can not be decreased when volumeClaimUpdateStrategy is OnPodRollingUpdate" in res.stderr
    res = kubectl.apply(changed(obj, size="2Gi", strategy="OnPodRollingUpdates"), ns, check=False)
    assert res.returncode != 0 and "spec.volumeClaimUpdateStrategy.type" in res.stderr
    stored = kubectl.json("get", "asts", "shrink", "-n", ns)
    assert stored["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
