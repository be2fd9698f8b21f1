"""Scenario 4: bad input.

- Invalid objects of the three kinds (hypothesis: a field of the pydantic model broken by type or
  by rule, see strategies.py), applied with kubectl: each is rejected at admission with a message
  naming the field, and none reaches the controller (no object, no reconcile logged for it).
- Objects that pass admission but cannot be satisfied (an image that never pulls, a node
  selector no node has) show a clear condition/event and do not hold back the reconciles of other
  objects: a healthy rollout beside them finishes as it does without them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from kruise_py.api.broadcastjob import BroadcastJob
from kruise_py.api.sidecarset import SidecarSet
from kruise_py.api.statefulset import StatefulSet
from tests.integration.conftest import Kubectl, OperatorProcess, wait_for
from tests.integration.test_statefulset import asts, set_image, wait_rolled_out

from .conftest import scaled
from .strategies import Mutation, mutations


def valid(kind: str, name: str, tag: str) -> dict[str, Any]:
    if kind == "StatefulSet":
        return asts(name, 2)
    if kind == "BroadcastJob":
        return {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "BroadcastJob",
            "metadata": {"name": name},
            "spec": {
                "parallelism": 1,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}
                },
                "completionPolicy": {"type": "Always"},
                "failurePolicy": {"type": "FailFast"},
            },
        }
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"bad-input": name}},
            "containers": [{"name": f"agent-{name}"[:63], "image": "busybox:1.36"}],
            "updateStrategy": {"type": "RollingUpdate"},
        },
    }


PLURAL = {
    "StatefulSet": "statefulsets.apps.kruise.io",
    "BroadcastJob": "broadcastjobs.apps.kruise.io",
    "SidecarSet": "sidecarsets.apps.kruise.io",
}
MODEL = {"StatefulSet": StatefulSet, "BroadcastJob": BroadcastJob, "SidecarSet": SidecarSet}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["StatefulSet", "BroadcastJob", "SidecarSet"])
def test_invalid_objects_are_rejected_at_admission_naming_the_field(
    operator: OperatorProcess, kubectl: Kubectl, ns: str, kind: str, figures: dict[str, Any]
) -> None:
    tag = ns[-5:]
    # The valid object itself is admitted (else every rejection below would prove nothing).
    probe = valid(kind, f"good-{tag}", tag)
    kubectl.apply(probe, None if kind == "SidecarSet" else ns)
    kubectl.run(
        "delete", PLURAL[kind], probe["metadata"]["name"], *([] if kind == "SidecarSet" else ["-n", ns])
    )
    applied: list[tuple[str, Mutation]] = []
    wrong: list[str] = []

    @settings(
        max_examples=scaled(40),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(m=mutations(kind, MODEL[kind]))
    def apply_one(m: Mutation) -> None:
        name = f"bad-{kind.lower()[:3]}-{tag}-{len(applied)}"
        obj = m.apply(valid(kind, name, tag))
        res = kubectl.apply(obj, None if kind == "SidecarSet" else ns, check=False)
        applied.append((name, m))
        if res.returncode == 0:
            wrong.append(f"{m.field}={m.value!r} ({m.how}) was admitted")
        elif not m.named_by(res.stderr):
            wrong.append(
                f"{m.field}={m.value!r} ({m.how}) rejected without naming the field: {res.stderr.strip()}"
            )

    apply_one()
    names = {n for n, _ in applied}
    listed = kubectl.json("get", PLURAL[kind], *([] if kind == "SidecarSet" else ["-n", ns]))["items"]
    reached = sorted(names & {o["metadata"]["name"] for o in listed})
    if kind == "SidecarSet" and reached:
        kubectl.run("delete", PLURAL[kind], *reached, check=False)
    # The operator never logged anything for them but the denial itself.
    log = operator.log.read_text(errors="replace").splitlines()
    reconciled = sorted(
        {n for n in names for line in log if f"{n} " in line or line.endswith(n) if "denied" not in line}
    )
    figures.update(
        kind=kind,
        invalid_objects=len(applied),
        by_type=sum(m.how == "type" for _, m in applied),
        by_rule=sum(m.how == "rule" for _, m in applied),
        fields=len({m.field for _, m in applied}),
        admitted=len(reached),
        wrong=len(wrong),
    )
    assert len(applied) >= scaled(34), f"hypothesis produced only {len(applied)} objects"
    assert wrong == [], "\n".join(wrong)
    assert reached == [], f"rejected objects exist: {reached}"
    assert reconciled == [], f"the operator logged rejected objects: {reconciled}"


def _events(kubectl: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    return kubectl.json("get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")["items"]  # type: ignore[no-any-return]


def _rollout_seconds(kubectl: Kubectl, ns: str, name: str, replicas: int, image: str) -> float:
    t0 = time.monotonic()
    set_image(kubectl, ns, name, image)
    wait_for(
        lambda: (
            (st := kubectl.json("get", "asts", name, "-n", ns)["status"]).get("updateRevision")
            != st.get("currentRevision")
            or st.get("updatedReplicas") != replicas
        ),
        30,
        interval=0.05,
        what="the new revision observed",
    )
    wait_rolled_out(kubectl, ns, name, replicas, timeout=180)
    return round(time.monotonic() - t0, 2)


@pytest.mark.timeout(300)
def test_poison_objects_report_and_do_not_block_others(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path, ns: str, figures: dict[str, Any]
) -> None:
    replicas = scaled(20)
    kubectl.apply(asts("healthy", replicas, parallel=True, max_unavailable=2), ns)
    wait_rolled_out(kubectl, ns, "healthy", replicas)
    baseline = _rollout_seconds(kubectl, ns, "healthy", replicas, "nginx:1.26")

    # Poison 1: a rollout to an image that never pulls (stalls at its own maxUnavailable).
    kubectl.apply(asts("nopull", 4, parallel=True, max_unavailable=1), ns)
    wait_rolled_out(kubectl, ns, "nopull", 4)
    set_image(kubectl, ns, "nopull", "registry.example/does-not-exist:1")
    # Poison 2: pods no node can take.
    unsched = asts("nowhere", 2, parallel=True)
    unsched["spec"]["template"]["spec"]["nodeSelector"] = {"kruise-py.io/no-such-node": "true"}
    kubectl.apply(unsched, ns)
    # Poison 3: a BroadcastJob whose pods all fail (FailFast).
    kubectl.apply(
        {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "BroadcastJob",
            "metadata": {"name": "failing"},
            "spec": {
                "template": {
                    "metadata": {
                        "annotations": {
                            "sim.kruise-py.io/exit-code": "3",
                            "sim.kruise-py.io/run-seconds": "0.5",
                        }
                    },
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox:1.36"}],
                    },
                },
                "completionPolicy": {"type": "Always"},
                "failurePolicy": {"type": "FailFast"},
            },
        },
        ns,
    )

    def pull_failure() -> str | None:
        for p in kubectl.json("get", "pods", "-n", ns, "-l", "app=nopull")["items"]:
            for cs in p.get("status", {}).get("containerStatuses", []):
                reason = (cs.get("state", {}).get("waiting") or {}).get("reason")
                if reason in ("ErrImagePull", "ImagePullBackOff"):
                    return f"{p['metadata']['name']}: {reason}"
        return None

    def unschedulable() -> str | None:
        p = kubectl.json("get", "pod", "nowhere-0", "-n", ns)
        cond = next((c for c in p.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"), {})
        ev = [e for e in _events(kubectl, ns, "nowhere-0") if e["reason"] == "FailedScheduling"]
        return f"{cond.get('reason')}: {ev[0]['message']}" if cond.get("status") == "False" and ev else None

    def job_failed() -> str | None:
        st = kubectl.json("get", "bcj", "failing", "-n", ns).get("status") or {}
        cond = next(
            (c for c in st.get("conditions", []) if c["type"] == "Failed" and c["status"] == "True"), None
        )
        return f"{cond.get('reason')}: {cond.get('message')}" if cond else None

    # The healthy set rolls out while the poison objects are stuck (or failing) beside it.
    with_poison = _rollout_seconds(kubectl, ns, "healthy", replicas, "nginx:1.27")
    signals = {
        "image never pulls": wait_for(pull_failure, 60, what="an image pull failure on the pod"),
        "no node fits": wait_for(unschedulable, 60, what="Unschedulable + FailedScheduling"),
        "job pods fail": wait_for(job_failed, 60, what="the BroadcastJob's Failed condition"),
    }
    nopull = kubectl.json("get", "asts", "nopull", "-n", ns)["status"]
    assert nopull["readyReplicas"] >= 3, "the stuck rollout must stay within its maxUnavailable"
    # ...and once fixed, the stuck set recovers (nothing was wedged in the controller).
    set_image(kubectl, ns, "nopull", "nginx:1.26")
    wait_rolled_out(kubectl, ns, "nopull", 4)
    figures.update(
        healthy_pods=replicas,
        rollout_alone_s=baseline,
        rollout_beside_poison_s=with_poison,
        signals=json.loads(json.dumps(signals)),
    )
