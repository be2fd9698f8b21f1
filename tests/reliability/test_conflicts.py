"""Scenario 3: a second writer keeps rewriting the labels and annotations of the pods during a
rollout, with read-modify-write updates (PUT with the resourceVersion it read, as client-go's
Update does), so it and everyone else writing those pods meet a storm of 409 Conflicts.

Nothing it wrote may be lost (every label/annotation value it got a 200 for is on the pod at the
end), and nothing the operator wrote may be lost (the rollout completes: images, revision labels,
in-place state, readiness gate) — with no invariant violated on the way."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kruise_py.runtime.client import ApiError, ClientOptions, KubeClient, path_for
from kruise_py.sandbox.controlplane import ControlPlane
from tests.integration.conftest import Kubectl, OperatorProcess
from tests.integration.test_statefulset import asts, set_image, wait_rolled_out

from .conftest import audit_writes, scaled
from .invariants import InvariantMonitor

UA = "reliability-second-writer"


class SecondWriter:
    """``tasks`` concurrent writers over the same pods; each success is recorded as written."""

    def __init__(self, kubeconfig: Path, ns: str, pods: list[str], tasks: int = 8) -> None:
        self.kubeconfig, self.ns, self.names, self.tasks = kubeconfig, ns, pods, tasks
        self.written: dict[str, dict[str, str]] = {}  # pod -> annotation key -> value (last success)
        # pod -> (resourceVersion, value) of the newest successful label write: the tasks share this
        # label, and the order their responses are handled in need not be the apiserver's order.
        self.label: dict[str, tuple[int, str]] = {}
        self.ok = self.conflicts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> SecondWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _main(self) -> None:
        client = KubeClient.connect(str(self.kubeconfig), ClientOptions(qps=0, user_agent=UA))
        try:
            await asyncio.gather(*(self._writer(client, i) for i in range(self.tasks)))
        finally:
            await client.close()

    async def _writer(self, client: KubeClient, me: int) -> None:
        seq = 0
        while not self._stop.is_set():
            for name in self.names:  # all tasks on the same pods at once: they collide too
                if self._stop.is_set():
                    return
                seq += 1
                await self._write(client, name, f"w{me}-{seq}", me)

    async def _write(self, client: KubeClient, name: str, value: str, me: int) -> None:
        path = path_for("v1", "pods", self.ns, name)
        for _ in range(20):
            pod = await client.get(path)
            md = pod["metadata"]
            md.setdefault("labels", {})["second-writer"] = value
            md.setdefault("annotations", {})[f"second-writer.test/w{me}"] = value
            try:
                res = await client.replace(path, pod)
            except ApiError as e:
                if e.conflict:
                    self.conflicts += 1
                    continue
                raise
            self.ok += 1
            rv = int(res["metadata"]["resourceVersion"])
            if rv > self.label.get(name, (0, ""))[0]:
                self.label[name] = (rv, value)
            self.written.setdefault(name, {})[f"second-writer.test/w{me}"] = value
            return


@pytest.mark.timeout(300)
def test_a_second_writer_and_the_operator_lose_nothing(
    operator: OperatorProcess,
    kubectl: Kubectl,
    kubeconfig: Path,
    control_plane: ControlPlane,
    ns: str,
    figures: dict[str, Any],
) -> None:
    replicas, budget = scaled(30), scaled(3)
    kubectl.apply(asts("conflict", replicas, parallel=True, max_unavailable=budget), ns)
    wait_rolled_out(kubectl, ns, "conflict", replicas, timeout=180)
    names = [f"conflict-{i}" for i in range(replicas)]
    mon = InvariantMonitor.for_asts(kubeconfig, ns, "app=conflict", budget, replicas).start()
    mon.arm()
    since = time.time()
    with SecondWriter(kubeconfig, ns, names) as writer:
        time.sleep(1)
        set_image(kubectl, ns, "conflict", "nginx:1.26")
        wait_rolled_out(kubectl, ns, "conflict", replicas, timeout=180)
        time.sleep(1)  # keep writing after the rollout: the operator's final writes meet it too
    violations = mon.stop()
    assert not mon.errors, mon.errors
    st = kubectl.json("get", "asts", "conflict", "-n", ns)["status"]
    pods = {
        p["metadata"]["name"]: p for p in kubectl.json("get", "pods", "-n", ns, "-l", "app=conflict")["items"]
    }
    lost_writer, lost_operator = [], []
    for name in names:
        p = pods[name]
        md = p["metadata"]
        if name in writer.label and md["labels"].get("second-writer") != writer.label[name][1]:
            lost_writer.append(f"{name} label {md['labels'].get('second-writer')} != {writer.label[name][1]}")
        for k, v in writer.written.get(name, {}).items():
            if (md.get("annotations") or {}).get(k) != v:
                lost_writer.append(f"{name} {k}={md.get('annotations', {}).get(k)} != {v}")
        state = json.loads(md["annotations"].get("apps.kruise.io/inplace-update-state", "{}"))
        gate = next((c for c in p["status"].get("conditions", []) if c["type"] == "InPlaceUpdateReady"), {})
        if (
            p["spec"]["containers"][0]["image"] != "nginx:1.26"
            or md["labels"]["controller-revision-hash"] != st["updateRevision"]
            or state.get("revision") != st["updateRevision"]
            or gate.get("status") != "True"
        ):
            lost_operator.append(name)
    server_409 = sum(
        1
        for ev in audit_writes(control_plane, since)
        if ev.get("userAgent") == UA and ev["responseStatus"].get("code") == 409
    )
    operator_409 = sum(
        1
        for ev in audit_writes(control_plane, since)
        if ev.get("userAgent", "").startswith("kruise-py")
        and "simulator" not in ev["userAgent"]
        and ev["responseStatus"].get("code") == 409
    )
    figures.update(
        pods=replicas,
        writer_tasks=writer.tasks,
        writer_successful_writes=writer.ok,
        writer_conflicts_409=writer.conflicts,
        audit_409_for_writer=server_409,
        audit_409_for_operator=operator_409,
        violations=len(violations),
        lost_writer_writes=len(lost_writer),
        lost_operator_writes=len(lost_operator),
    )
    assert writer.conflicts > 0 and writer.ok >= replicas, "the scenario must actually produce conflicts"
    assert lost_writer == [], lost_writer[:10]
    assert lost_operator == [], lost_operator[:10]
    assert violations == [], "\n".join(violations)
