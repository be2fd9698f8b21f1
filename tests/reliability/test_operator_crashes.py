"""Scenario 1: the operator is SIGKILLed at random moments during rollouts and restarted each time.

The rollout must complete and the invariant monitor must record no violation: never more pods
unavailable than the budget, no pod updated twice for one revision, no orphan, no status
regression. Kill moments are random (seeded: KRUISE_RELIABILITY_SEED reproduces a run)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox.controlplane import ControlPlane
from tests.integration.conftest import Kubectl, OperatorProcess, wait_for
from tests.integration.test_broadcastjob import Nodes
from tests.integration.test_sidecarset import admitted, sidecarset
from tests.integration.test_statefulset import asts, set_image, status_of, wait_rolled_out

from .conftest import audit_writes, scaled
from .invariants import (
    Budget,
    InvariantMonitor,
    bcj_status_regression,
    sidecar_revision,
    sidecar_update_markers,
    sidecarset_status_regression,
)

KR = "/apis/apps.kruise.io"


def crash_loop(
    operator: OperatorProcess,
    rng: random.Random,
    kills: int,
    *,
    between: tuple[float, float],
    in_progress: Callable[[], bool],
    before: Callable[[], None] | None = None,
) -> tuple[list[float], int]:
    """Kill the operator ``kills`` times, each after a random run time. Returns the restart times
    (seconds from start_again to /readyz) and how many kills hit work in progress."""
    restarts, during = [], 0
    for _ in range(kills):
        if before is not None:
            before()
        time.sleep(rng.uniform(*between))
        during += in_progress()
        operator.kill()
        time.sleep(rng.uniform(0.0, 0.5))  # the outage itself
        t0 = time.monotonic()
        operator.start_again()
        restarts.append(round(time.monotonic() - t0, 2))
    return restarts, during


def operator_writes_per_pod(cp: ControlPlane, ns: str, since: float) -> dict[str, int]:
    """Successful operator patches of pod specs/metadata (not status), per pod. Failed requests
    (e.g. 504 when the operator died mid-request) changed nothing and do not count."""
    n: dict[str, int] = {}
    for ev in audit_writes(cp, since):
        ref = ev.get("objectRef") or {}
        if (
            ref.get("namespace") == ns
            and ref.get("resource") == "pods"
            and not ref.get("subresource")
            and ev.get("userAgent", "").startswith("kruise-py")
            and ev["verb"] == "patch"
            and "simulator" not in ev.get("userAgent", "")
            and ev["responseStatus"].get("code", 500) < 300
        ):
            n[ref["name"]] = n.get(ref["name"], 0) + 1
    return n


@pytest.mark.timeout(600)
def test_asts_in_place_rollout_survives_operator_kills(
    operator: OperatorProcess,
    kubectl: Kubectl,
    kubeconfig: Path,
    control_plane: ControlPlane,
    ns: str,
    rng: random.Random,
    figures: dict[str, Any],
) -> None:
    replicas, budget, kills = scaled(200), scaled(20), scaled(20)
    kubectl.apply(asts("crash", replicas, parallel=True, max_unavailable=budget), ns)
    wait_rolled_out(kubectl, ns, "crash", replicas, timeout=240)
    uids = {
        p["metadata"]["name"]: p["metadata"]["uid"]
        for p in kubectl.json("get", "pods", "-n", ns, "-l", "app=crash")["items"]
    }
    mon = InvariantMonitor.for_asts(kubeconfig, ns, "app=crash", budget, replicas).start()
    mon.arm()
    t_audit = time.time()
    images = iter(f"nginx:1.{n}" for n in range(26, 99))
    rollouts = 0

    def rolling() -> bool:
        obj = kubectl.json("get", "asts", "crash", "-n", ns)
        st = obj.get("status") or {}
        return not (
            st.get("observedGeneration") == obj["metadata"]["generation"]
            and st.get("updatedReplicas") == replicas
            and st.get("readyReplicas") == replicas
            and st.get("currentRevision") == st.get("updateRevision")
        )

    def keep_rolling() -> None:
        # Every kill should land during a rollout: start the next one when the previous has finished.
        nonlocal rollouts
        if rollouts == 0 or not rolling():
            set_image(kubectl, ns, "crash", next(images))
            rollouts += 1

    t0 = time.monotonic()
    restarts, during = crash_loop(
        operator, rng, kills, between=(0.3, 2.5), in_progress=rolling, before=keep_rolling
    )
    wait_rolled_out(kubectl, ns, "crash", replicas, timeout=240)
    elapsed = time.monotonic() - t0
    violations = mon.stop()
    assert not mon.errors, mon.errors
    pods = kubectl.json("get", "pods", "-n", ns, "-l", "app=crash")["items"]
    final = status_of(kubectl, ns, "crash")["updateRevision"]
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods} == uids, (
        "in-place rollouts must keep every pod"
    )
    assert all(p["metadata"]["labels"]["controller-revision-hash"] == final for p in pods)
    writes = operator_writes_per_pod(control_plane, ns, t_audit)
    figures.update(
        pods=replicas,
        max_unavailable=budget,
        kills=kills,
        kills_during_rollout=during,
        rollouts=rollouts,
        violations=len(violations),
        max_unavailable_seen=mon.max_measured,
        operator_restart_to_ready_s=max(restarts),
        rollouts_with_kills_s=round(elapsed, 1),
        max_operator_pod_patches=max(writes.values(), default=0),
        monitor_relists=mon.relists,
    )
    assert violations == [], "\n".join(violations)
    # One spec patch per pod per rollout (plus none): a second write for one revision is a double update.
    assert max(writes.values(), default=0) <= rollouts, writes


@pytest.mark.timeout(500)
def test_broadcastjob_survives_operator_kills(
    operator: OperatorProcess,
    kubectl: Kubectl,
    kubeconfig: Path,
    ns: str,
    rng: random.Random,
    figures: dict[str, Any],
) -> None:
    count, parallelism, kills = scaled(24), 3, scaled(20)
    nodes = Nodes(kubectl, ns[-20:].strip("-"))
    jobs: list[str] = []

    def job(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "BroadcastJob",
            "metadata": {"name": name},
            "spec": {
                "parallelism": parallelism,
                "template": {
                    "metadata": {
                        "labels": {"job-group": "crash"},
                        "annotations": {"sim.kruise-py.io/run-seconds": "2"},
                    },
                    "spec": {
                        "restartPolicy": "Never",
                        "nodeSelector": {"bcj-test": nodes.tag},
                        "containers": [{"name": "c", "image": "busybox:1.36"}],
                    },
                },
                "completionPolicy": {"type": "Always"},
            },
        }

    def done(name: str) -> dict[str, Any] | None:
        st = kubectl.json("get", "bcj", name, "-n", ns).get("status") or {}
        return st if st.get("succeeded") == count and st.get("completionTime") else None

    def keep_running() -> None:
        # Every kill should land while a job runs: start the next one when the previous has finished.
        if not jobs or done(jobs[-1]):
            jobs.append(f"crash-job-{len(jobs)}")
            kubectl.apply(job(jobs[-1]), ns)

    try:
        for i in range(count):
            nodes.add(f"n{i}")
        mon = InvariantMonitor(
            kubeconfig,
            ns,
            "job-group=crash",
            f"{KR}/v1alpha1/namespaces/{ns}/broadcastjobs",
            budget=Budget(parallelism, kind="active"),
            status_path=f"{KR}/v1alpha1/namespaces/{ns}/broadcastjobs",
            status_rule=bcj_status_regression,
        ).start()
        mon.arm()
        restarts, during = crash_loop(
            operator,
            rng,
            kills,
            between=(0.3, 1.5),
            before=keep_running,
            in_progress=lambda: not done(jobs[-1]),
        )
        for name in jobs:
            st = wait_for(lambda n=name: done(n), 180, what=f"{name} completes on every node")
            assert st["failed"] == 0, (name, st)
        violations = mon.stop()
        assert not mon.errors, mon.errors
        pods = kubectl.json("get", "pods", "-n", ns, "-l", "job-group=crash")["items"]
        per_node: dict[tuple[str, str], int] = {}
        for p in pods:
            key = (p["metadata"]["labels"]["broadcastjob-name"], p["spec"]["nodeName"])
            per_node[key] = per_node.get(key, 0) + 1
        figures.update(
            nodes=count,
            parallelism=parallelism,
            kills=kills,
            kills_during_job=during,
            jobs=len(jobs),
            violations=len(violations),
            max_active_seen=mon.max_measured,
            operator_restart_to_ready_s=max(restarts),
        )
        assert violations == [], "\n".join(violations)
        assert sorted(per_node) == sorted((j, n) for j in jobs for n in nodes.names), "a node missed a job"
        assert set(per_node.values()) == {1}, f"a node ran a job twice: {per_node}"
    finally:
        nodes.cleanup()


@pytest.mark.timeout(500)
def test_sidecarset_upgrade_survives_operator_kills(
    operator: OperatorProcess,
    kubectl: Kubectl,
    kubeconfig: Path,
    ns: str,
    sidecarsets: list[str],
    rng: random.Random,
    figures: dict[str, Any],
) -> None:
    replicas, budget, kills = scaled(40), scaled(4), scaled(20)
    name = f"crash-{ns[-5:]}"
    sidecarsets.append(name)
    kubectl.apply(
        sidecarset(
            name,
            {"app": "crash-sc"},
            containers=[{"name": "agent", "image": "busybox:1.36"}],
            volumes=[],
            imagePullSecrets=[],
            namespace=ns,
            updateStrategy={"type": "RollingUpdate", "maxUnavailable": budget},
        )
    )
    admitted(kubectl, name)
    kubectl.apply(asts("crash-sc", replicas, parallel=True, max_unavailable=budget), ns)
    wait_rolled_out(kubectl, ns, "crash-sc", replicas, timeout=180)
    mon = InvariantMonitor(
        kubeconfig,
        ns,
        "app=crash-sc",
        f"{KR}/v1beta1/namespaces/{ns}/statefulsets",
        budget=Budget(budget, replicas),
        status_path=f"{KR}/v1alpha1/sidecarsets",
        status_name=name,
        status_rule=sidecarset_status_regression,
        update_markers=sidecar_update_markers,
        revision_of=sidecar_revision,
    ).start()
    mon.arm()
    images = iter(f"busybox:1.{n}" for n in range(37, 99))
    current = ["busybox:1.36"]

    def upgraded() -> bool:
        sc = kubectl.json("get", "sidecarset", name)
        st = sc.get("status") or {}
        return (
            st.get("observedGeneration") == sc["metadata"]["generation"]
            and st.get("updatedPods") == replicas
            and st.get("updatedReadyPods") == replicas
        )

    def keep_upgrading() -> None:
        # Every kill should land during an upgrade: start the next one when the previous has finished.
        if len(current) == 1 or upgraded():
            current.append(next(images))
            kubectl(
                "patch",
                "sidecarset",
                name,
                "--type=json",
                "-p",
                json.dumps([{"op": "replace", "path": "/spec/containers/0/image", "value": current[-1]}]),
            )

    restarts, during = crash_loop(
        operator, rng, kills, between=(0.3, 1.5), before=keep_upgrading, in_progress=lambda: not upgraded()
    )
    wait_for(upgraded, 180, what="every pod runs the new sidecar")
    violations = mon.stop()
    assert not mon.errors, mon.errors
    for p in kubectl.json("get", "pods", "-n", ns, "-l", "app=crash-sc")["items"]:
        agent = next(c for c in p["spec"]["containers"] if c["name"] == "agent")
        assert agent["image"] == current[-1], p["metadata"]["name"]
    figures.update(
        pods=replicas,
        max_unavailable=budget,
        kills=kills,
        kills_during_upgrade=during,
        upgrades=len(current) - 1,
        violations=len(violations),
        max_unavailable_seen=mon.max_measured,
        operator_restart_to_ready_s=max(restarts),
    )
    assert violations == [], "\n".join(violations)
