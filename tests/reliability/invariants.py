"""The invariant monitor: watches a scenario's pods and their owners and records every violation.

Rules (checked at every observed event, i.e. at every moment the apiserver reports a change):
- budget: more pods unavailable (or, for jobs, more pods active) than the scenario allows, not
  counting pods the scenario broke on purpose (``exempt``);
- double update: one pod (uid) updated twice for the same revision — two different
  in-place-update markers (state annotation timestamps, sidecar hashes) or two image changes
  recorded under one revision (``revision_of``: the revision label, or the sidecar hashes);
- orphan: a live pod whose controller ownerReference does not name an owner we have seen;
- status backwards: an owner's status regresses (``observedGeneration`` drops, or a counter of
  the same rollout shrinks).

Watches re-list after any failure (an apiserver restart ends them), so the monitor outlives the
faults it observes. Runs its own event loop in a thread, like tests/integration/monitor.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kruise_py.runtime.cache import ObjectCache
from kruise_py.runtime.client import KubeClient
from kruise_py.runtime.informer import Informer

Obj = dict[str, Any]


def pod_ready(pod: Obj) -> bool:
    st = pod.get("status") or {}
    return st.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or []
    )


def terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


# -- per-kind rules -----------------------------------------------------------------------------------
def asts_update_markers(pod: Obj) -> dict[str, str]:
    """revision -> updateTimestamp of the Advanced StatefulSet in-place update state."""
    raw = (pod["metadata"].get("annotations") or {}).get("apps.kruise.io/inplace-update-state")
    if not raw:
        return {}
    try:
        st = json.loads(raw)
    except ValueError:
        return {"<unparsable>": raw}
    return {str(st.get("revision")): str(st.get("updateTimestamp"))}


def sidecar_update_markers(pod: Obj) -> dict[str, str]:
    """sidecarset/hash -> updateTimestamp from the pod's kruise.io/sidecarset-hash annotation."""
    raw = (pod["metadata"].get("annotations") or {}).get("kruise.io/sidecarset-hash")
    if not raw:
        return {}
    try:
        d = json.loads(raw)
    except ValueError:
        return {"<unparsable>": raw}
    return {
        f"{k}/{v.get('hash')}": str(v.get("updateTimestamp")) for k, v in d.items() if isinstance(v, dict)
    }


def revision_label(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get("controller-revision-hash", ""))


def sidecar_revision(pod: Obj) -> str:
    """The sidecar revisions a pod runs: its SidecarSets' hashes (the workload label stays put)."""
    return ",".join(sorted(sidecar_update_markers(pod)))


def asts_status_regression(old: Obj, new: Obj) -> str | None:
    if (new.get("observedGeneration") or 0) < (old.get("observedGeneration") or 0):
        return f"observedGeneration {old.get('observedGeneration')} -> {new.get('observedGeneration')}"
    if new.get("updateRevision") == old.get("updateRevision") and (new.get("updatedReplicas") or 0) < (
        old.get("updatedReplicas") or 0
    ):
        return f"updatedReplicas {old.get('updatedReplicas')} -> {new.get('updatedReplicas')} at {new.get('updateRevision')}"
    return None


def bcj_status_regression(old: Obj, new: Obj) -> str | None:
    for k in ("succeeded", "failed"):
        if (new.get(k) or 0) < (old.get(k) or 0):
            return f"{k} {old.get(k)} -> {new.get(k)}"
    if old.get("completionTime") and new.get("completionTime") != old.get("completionTime"):
        return f"completionTime {old.get('completionTime')} -> {new.get('completionTime')}"
    return None


def sidecarset_status_regression(old: Obj, new: Obj) -> str | None:
    if (new.get("observedGeneration") or 0) < (old.get("observedGeneration") or 0):
        return f"observedGeneration {old.get('observedGeneration')} -> {new.get('observedGeneration')}"
    if new.get("observedGeneration") == old.get("observedGeneration") and (new.get("updatedPods") or 0) < (
        old.get("updatedPods") or 0
    ):
        return f"updatedPods {old.get('updatedPods')} -> {new.get('updatedPods')}"
    return None


@dataclass
class Budget:
    """At most ``limit`` of ``desired`` pods unavailable (kind "unavailable") or at most ``limit``
    pods active (kind "active", for jobs)."""

    limit: int
    desired: int = 0
    kind: str = "unavailable"

    def measure(self, pods: Iterable[Obj], exempt: set[str]) -> int:
        live = [p for p in pods if p["metadata"]["name"] not in exempt]
        if self.kind == "active":
            return sum(1 for p in live if not finished(p) and not terminating(p))
        desired = self.desired - len(exempt)
        return max(0, desired - sum(1 for p in live if pod_ready(p) and not terminating(p)))


@dataclass
class InvariantMonitor:
    kubeconfig: Path
    namespace: str
    label_selector: str
    owners_path: str  # list path of the pods' controllers (e.g. .../statefulsets)
    budget: Budget | None = None
    status_path: str | None = None  # list path of the objects whose status must not regress
    status_name: str | None = None  # only this object of status_path
    status_rule: Callable[[Obj, Obj], str | None] | None = None
    update_markers: Callable[[Obj], dict[str, str]] | None = None
    revision_of: Callable[[Obj], str] = revision_label  # the revision a pod's images belong to
    exempt: set[str] = field(default_factory=set)  # pods the scenario breaks on purpose

    violations: list[str] = field(default_factory=list)
    pods: dict[str, Obj] = field(default_factory=dict)
    owners: set[str] = field(default_factory=set)
    max_measured: int = 0
    relists: int = 0
    events: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="invariant-monitor")
        self._markers: dict[tuple[str, str], str] = {}  # (uid, revision) -> marker
        self._images: dict[str, tuple[str, ...]] = {}  # uid -> container images
        self._image_updates: dict[tuple[str, str], int] = {}  # (uid, revision) -> image changes
        self._status: dict[str, Obj] = {}
        self._orphan_candidates: dict[str, str] = {}  # pod name -> owner uid
        self.measuring = False

    @classmethod
    def for_asts(
        cls, kubeconfig: Path, namespace: str, label_selector: str, budget: int, replicas: int
    ) -> InvariantMonitor:
        """The monitor of an Advanced StatefulSet rollout: its pods, its budget, its status."""
        sets = f"/apis/apps.kruise.io/v1beta1/namespaces/{namespace}/statefulsets"
        return cls(
            kubeconfig,
            namespace,
            label_selector,
            sets,
            budget=Budget(budget, replicas),
            status_path=sets,
            status_rule=asts_status_regression,
            update_markers=asts_update_markers,
        )

    # -- control ---------------------------------------------------------------------------------
    def start(self) -> InvariantMonitor:
        self._thread.start()
        if not self._synced.wait(30):
            raise TimeoutError("invariant monitor did not sync")
        if self.errors:
            raise self.errors[0]
        return self

    def arm(self) -> None:
        """Start checking the budget (after the initial scale-up, which is unavailable by nature)."""
        self.measuring = True
        self._check_budget("arm")

    def stop(self) -> list[str]:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(15)
        for name, uid in self._orphan_candidates.items():
            if uid not in self.owners:
                self._violate(f"orphan: pod {name} is controlled by {uid}, which never existed")
        return self.violations

    def __enter__(self) -> InvariantMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- rules -----------------------------------------------------------------------------------
    def _violate(self, what: str) -> None:
        if len(self.violations) < 200:
            self.violations.append(f"{time.strftime('%H:%M:%S')} {what}")

    def _check_budget(self, why: str) -> None:
        if self.budget is None or not self.measuring:
            return
        n = self.budget.measure(self.pods.values(), self.exempt)
        self.max_measured = max(self.max_measured, n)
        if n > self.budget.limit:
            self._violate(f"budget: {n} {self.budget.kind} > {self.budget.limit} (after {why})")

    def _on_pod(self, etype: str, pod: Obj) -> None:
        self.events += 1
        md = pod["metadata"]
        name, uid = md["name"], md["uid"]
        if etype == "DELETED":
            if self.pods.get(name, {}).get("metadata", {}).get("uid") == uid:
                self.pods.pop(name, None)
            self._check_budget(f"{name} deleted")
            return
        self.pods[name] = pod
        rev = self.revision_of(pod)
        if self.update_markers is not None:
            for key, marker in self.update_markers(pod).items():
                seen = self._markers.setdefault((uid, key), marker)
                if seen != marker:
                    self._violate(
                        f"double update: pod {name} updated twice for {key} ({seen}, then {marker})"
                    )
                    self._markers[(uid, key)] = marker
        images = tuple(c.get("image", "") for c in (pod.get("spec") or {}).get("containers") or [])
        before = self._images.get(uid)
        self._images[uid] = images
        if before is not None and before != images and rev:
            n = self._image_updates[(uid, rev)] = self._image_updates.get((uid, rev), 0) + 1
            if n > 1:
                self._violate(f"double update: pod {name} images changed {n} times at revision {rev}")
        ctrl = next((r for r in md.get("ownerReferences") or [] if r.get("controller")), None)
        if ctrl is None:
            self._violate(f"orphan: pod {name} has no controller ownerReference")
        elif ctrl["uid"] not in self.owners and not terminating(pod):
            self._orphan_candidates[name] = ctrl["uid"]  # the owner's event may still be on its way
        self._check_budget(f"{etype} {name}")

    def _on_owner(self, etype: str, obj: Obj) -> None:
        self.owners.add(obj["metadata"]["uid"])

    def _on_status(self, etype: str, obj: Obj) -> None:
        if self.status_name and obj["metadata"]["name"] != self.status_name:
            return
        key = obj["metadata"]["uid"]
        new = obj.get("status") or {}
        old = self._status.get(key)
        if etype != "DELETED" and old is not None and self.status_rule is not None:
            bad = self.status_rule(old, new)
            if bad:
                self._violate(f"status backwards: {obj['metadata']['name']}: {bad}")
        self._status[key] = new

    # -- watching --------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # surfaced through .errors
            self.errors.append(e)
            self._synced.set()

    def _deliver(self, on: Callable[[str, Obj], None], etype: str, obj: Obj) -> None:
        try:
            on(etype, obj)
        except Exception as e:  # the informer would only log it: the test must see it
            self.errors.append(e)

    async def _main(self) -> None:
        # The operator's own Informer (list, watch, re-list after a failure or a 410, deletions
        # seen while away): the monitor sees every version it delivers.
        client = KubeClient.connect(str(self.kubeconfig))
        streams: list[tuple[str, str | None, Callable[[str, Obj], None]]] = [
            (self.owners_path, None, self._on_owner),
            (f"/api/v1/namespaces/{self.namespace}/pods", self.label_selector, self._on_pod),
        ]
        if self.status_path:
            streams.append((self.status_path, None, self._on_status))
        informers = []
        for path, selector, on in streams:
            inf = Informer(client, path, ObjectCache(), label_selector=selector, watch_timeout=60)
            inf.add_handler(
                lambda etype, old, new, on=on: self._deliver(on, etype, new if new is not None else old)
            )
            informers.append(inf)
        try:
            for inf in informers:
                inf.start()
                await inf.synced.wait()
            self._synced.set()
            while not self._stop.is_set():
                self.relists = sum(inf.relists for inf in informers) - len(informers)
                await asyncio.sleep(0.05)
        finally:
            for inf in informers:
                await inf.stop()
            await client.close()
