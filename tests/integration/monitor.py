"""Watch pods during a scenario and record what a user would see over time.

Runs its own event loop in a thread with a real watch on the apiserver (no polling gaps): every
pod event updates the state, and the number of unavailable pods of a set is recomputed at that
moment, so the recorded maximum is the maximum at any observed moment.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kruise_py.runtime.cache import ObjectCache
from kruise_py.runtime.client import KubeClient, path_for
from kruise_py.runtime.informer import Informer


def _ready(pod: dict[str, Any]) -> bool:
    st = pod.get("status") or {}
    return st.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or []
    )


@dataclass
class PodMonitor:
    kubeconfig: Path
    namespace: str
    label_selector: str
    desired: int
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_unavailable: int = 0
    # Most pods running at once (not Succeeded/Failed, not terminating), at any observed moment.
    max_active: int = 0
    # (monotonic time, event type, pod name, uid, revision label, ready)
    events: list[tuple[float, str, str, str, str, bool]] = field(default_factory=list)
    uids: dict[str, set[str]] = field(default_factory=dict)
    revisions: dict[str, list[str]] = field(default_factory=dict)
    # Per pod, each change of (lifecycle state label, revision label, InPlaceUpdateReady status).
    states: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def unavailable(self) -> int:
        ready = sum(1 for p in self.pods.values() if _ready(p) and not p["metadata"].get("deletionTimestamp"))
        return max(0, self.desired - ready)

    def active(self) -> int:
        return sum(
            1
            for p in self.pods.values()
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
        )

    def start(self) -> PodMonitor:
        self._thread.start()
        if not self._synced.wait(30):
            raise TimeoutError("pod monitor did not sync")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def __enter__(self) -> PodMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, etype: str, pod: dict[str, Any]) -> None:
        md = pod["metadata"]
        name, uid = md["name"], md["uid"]
        rev = (md.get("labels") or {}).get("controller-revision-hash", "")
        if etype == "DELETED":
            if self.pods.get(name, {}).get("metadata", {}).get("uid") == uid:
                self.pods.pop(name, None)
        else:
            self.pods[name] = pod
        self.uids.setdefault(name, set()).add(uid)
        revs = self.revisions.setdefault(name, [])
        if rev and (not revs or revs[-1] != rev):
            revs.append(rev)
        gate = next(
            (
                c.get("status", "")
                for c in (pod.get("status") or {}).get("conditions") or []
                if c.get("type") == "InPlaceUpdateReady"
            ),
            "",
        )
        seen = ((md.get("labels") or {}).get("lifecycle.apps.kruise.io/state", ""), rev, gate)
        history = self.states.setdefault(name, [])
        if etype != "DELETED" and (not history or history[-1] != seen):
            history.append(seen)
        self.events.append((time.monotonic(), etype, name, uid, rev, _ready(pod)))
        if self._synced.is_set():
            self.max_unavailable = max(self.max_unavailable, self.unavailable())
        self.max_active = max(self.max_active, self.active())

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # surfaced by the test through .errors
            self.errors.append(e)
            self._synced.set()

    def _on_event(self, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        try:
            self._record(etype, new if new is not None else old)
        except Exception as e:  # the informer would only log it: the test must see it
            self.errors.append(e)

    async def _main(self) -> None:
        # The operator's own Informer: list, watch, re-list after a failure; every version it
        # delivers is recorded.
        client = KubeClient.connect(str(self.kubeconfig))
        inf = Informer(
            client,
            path_for("v1", "pods", self.namespace),
            ObjectCache(),
            label_selector=self.label_selector,
            watch_timeout=60,
        )
        inf.add_handler(self._on_event)
        try:
            inf.start()
            await inf.synced.wait()
            self._synced.set()
            self.max_unavailable = self.unavailable()
            while not self._stop.is_set():  # noqa: ASYNC110 - _stop is a threading.Event
                await asyncio.sleep(0.05)
        finally:
            await inf.stop()
            await client.close()
