"""Stress: the pod-injection webhook path on threads while the event loop churns the caches.

    PYTHONDEVMODE=1 python -m tests.unit.controllers.injector_stress [--seconds 4] [--threads 4]

Run by tests/unit/controllers/test_sidecarset_injector.py. The event loop (main thread) owns
the caches and keeps changing SidecarSets, namespace labels and revisions -- each step changes
the three together, so a read that mixes two steps gives an answer no published view gives --
and sends pod events (which must publish nothing). Worker threads answer AdmissionReviews through
the operator's own webhook function (``operator._fast_hooks`` via ``server.review_response``, what
the admission server's thread runs), as fast as they can. At the end every answer is checked
against the views published while it was computed: it must be the answer of one of them.
Prints one JSON line: counts, failures, inconsistencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from kruise_py.api import default_sidecarset
from kruise_py.controllers.sidecarset import injector as injector_mod
from kruise_py.controllers.sidecarset.injector import InjectionView, SidecarSetInjector, inject_with
from kruise_py.runtime.cache import ObjectCache
from kruise_py.runtime.manager import Resource, Runnable
from kruise_py.webhooks import server as whserver

Obj = dict[str, Any]
NOW = datetime(2025, 1, 1, tzinfo=UTC)
REV_NS = "kruise-system"
SETS = 4
NAMESPACES = 8
PODS = Resource("v1", "pods")


class Host:
    """The manager as the injector sees it: caches by resource, readiness, runnables."""

    def __init__(self) -> None:
        self.caches: dict[str, ObjectCache] = {}
        self.runnables: list[Runnable] = []
        self.ready: bool | str = True

    def cache(self, res: Resource) -> ObjectCache:
        return self.caches.setdefault(res.key, ObjectCache())

    def readiness(self) -> bool | str:
        return self.ready

    def add(self, runnable: Runnable) -> None:
        self.runnables.append(runnable)


class Recording(SidecarSetInjector):
    """Keeps every view it publishes, by generation (written on the loop, read after the run)."""

    def __init__(self, host: Host) -> None:
        self.history: dict[int, InjectionView] = {}
        super().__init__(host, REV_NS)

    def publish(self, view: InjectionView) -> None:
        self.history[view.generation] = view
        super().publish(view)


# -- the world --------------------------------------------------------------------------------
def sidecarset(j: int, version: int) -> Obj:
    """SidecarSet ss-j at a version: it selects app=web pods in namespaces labelled ss-j=v<version>;
    the odd ones are pinned to their revision of that version (whose image differs)."""
    spec: Obj = {
        "selector": {"matchLabels": {"app": "web"}},
        "namespaceSelector": {"matchLabels": {f"ss-{j}": f"v{version}"}},
        "containers": [{"name": f"side-{j}", "image": f"side-{j}:v{version}"}],
    }
    if j % 2:
        spec["injectionStrategy"] = {
            "revision": {"revisionName": revision_name(j, version), "policy": "Always"}
        }
    obj: Obj = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {"name": f"ss-{j}", "resourceVersion": str(version)},
        "spec": spec,
        "status": {"latestRevision": revision_name(j, version)},
    }
    out: Obj = default_sidecarset(obj)
    return out


def revision_name(j: int, version: int) -> str:
    return f"ss-{j}-v{version}"


def revision(j: int, version: int, namespace: str = REV_NS) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(j, version),
            "namespace": namespace,
            "labels": {"kruise.io/sidecarset-name": f"ss-{j}"},
        },
        "revision": version,
        "data": {"spec": {"containers": [{"name": f"side-{j}", "image": f"pinned-{j}:v{version}"}]}},
    }


def namespace(i: int, labels: dict[str, str], annotations: dict[str, str] | None = None) -> Obj:
    md: Obj = {"name": f"ns-{i}", "labels": dict(labels)}
    if annotations:
        md["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": md}


def pod(name: str, ns: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
    }


def review(p: Obj, uid: str) -> Obj:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": uid, "operation": "CREATE", "object": p},
    }


class World:
    """The three caches' contents, changed one step at a time on the loop."""

    def __init__(self, inj: SidecarSetInjector, pods: ObjectCache, rng: random.Random) -> None:
        self.inj, self.pods, self.rng = inj, pods, rng
        self.versions = dict.fromkeys(range(SETS), 0)
        self.labels: dict[int, dict[str, str]] = {i: {} for i in range(NAMESPACES)}
        self.deleted: set[int] = set()
        self.steps = 0

    def seed(self) -> None:
        for j in range(SETS):
            self.inj.revisions.apply("ADDED", revision(j, 0))
            self.inj.sidecarsets.apply("ADDED", sidecarset(j, 0))
        # A revision elsewhere, which the view must ignore.
        self.inj.revisions.apply("ADDED", revision(0, 99, namespace="other"))
        for i in range(NAMESPACES):
            self.labels[i] = {f"ss-{j}": "v0" for j in range(SETS) if (i + j) % 2 == 0}
            self.inj.namespaces.apply("ADDED", namespace(i, self.labels[i]))

    def step(self) -> None:
        """One synchronous change of all three caches (no await inside: one loop moment)."""
        self.steps += 1
        j = self.rng.randrange(SETS)
        if j in self.deleted:  # put it back, at a new version
            self.deleted.discard(j)
        elif self.rng.random() < 0.1:
            self.inj.sidecarsets.apply("DELETED", sidecarset(j, self.versions[j]))
            self.deleted.add(j)
            return
        old, new = self.versions[j], self.versions[j] + 1
        self.versions[j] = new
        self.inj.revisions.apply("ADDED", revision(j, new))
        self.inj.sidecarsets.apply("MODIFIED", sidecarset(j, new))
        self.inj.revisions.apply("DELETED", revision(j, old))
        for i in range(NAMESPACES):
            if self.rng.random() < 0.5:
                self.labels[i] = {**self.labels[i], f"ss-{j}": f"v{new}"}
                self.inj.namespaces.apply("MODIFIED", namespace(i, self.labels[i]))

    def pod_events(self, n: int) -> None:
        for _ in range(n):
            name = f"churn-{self.rng.randrange(50)}"
            p = pod(name, f"ns-{self.rng.randrange(NAMESPACES)}")
            self.pods.apply(self.rng.choice(("ADDED", "MODIFIED", "DELETED")), p)

    def namespace_annotations(self) -> None:
        i = self.rng.randrange(NAMESPACES)
        self.inj.namespaces.apply("MODIFIED", namespace(i, self.labels[i], {"touched": str(self.steps)}))


# -- the webhook threads ----------------------------------------------------------------------
@dataclass
class Record:
    review: Obj
    answer: Obj
    g0: int
    g1: int


@dataclass
class Worker:
    index: int
    records: list[Record] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    attempts: int = 0  # inject_with calls made by this thread: one per request, or a retry hid


class FixedClock:
    """The injector with a fixed ``now``: the hash annotations carry a timestamp."""

    def __init__(self, inj: SidecarSetInjector) -> None:
        self.inj = inj

    def inject(self, p: Obj) -> Obj | None:
        return self.inj.inject(p, NOW)


def run(seconds: float, threads: int, seed: int) -> dict[str, Any]:
    from kruise_py import operator  # imports kopf: only here

    sys.setswitchinterval(1e-5)  # many more thread switches than the default 5 ms
    host = Host()
    inj = Recording(host)
    pods = host.cache(PODS)
    world = World(inj, pods, random.Random(seed))
    world.seed()
    local = threading.local()
    fast = operator._fast_hooks(SimpleNamespace(injector=FixedClock(inj)))  # type: ignore[arg-type]
    (hook_fn,) = fast.values()

    original = injector_mod.inject_with

    def counted(*args: Any, **kwargs: Any) -> Obj | None:
        worker: Worker | None = getattr(local, "worker", None)
        if worker is not None:
            worker.attempts += 1
        return original(*args, **kwargs)

    injector_mod.inject_with = counted  # type: ignore[assignment]
    stop = threading.Event()
    workers = [Worker(k) for k in range(threads)]

    def work(w: Worker) -> None:
        local.worker = w
        rng = random.Random(seed * 100 + w.index)
        n = 0
        while not stop.is_set():
            n += 1
            rv = review(pod(f"p-{w.index}-{n}", f"ns-{rng.randrange(NAMESPACES)}"), f"{w.index}-{n}")
            g0 = inj.view.generation
            try:
                answer = whserver.review_response(rv, hook_fn)
            except Exception as e:  # every failure is reported; none may happen
                w.failures.append(repr(e))
                continue
            g1 = inj.view.generation
            w.records.append(Record(rv, answer, g0, g1))

    counts = {"steps": 0, "pod_only_checks": 0, "pod_only_publishes": 0, "annotation_publishes": 0}

    async def churn() -> None:
        inj.start()  # what the manager does once the caches are synced
        ts = [threading.Thread(target=work, args=(w,), name=f"webhook-{w.index}") for w in workers]
        for t in ts:
            t.start()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                world.step()
                counts["steps"] += 1
                await asyncio.sleep(0)
                if counts["steps"] % 5 == 0:
                    # Pod events and namespace annotations change nothing the webhook reads.
                    before = inj.view.generation
                    world.pod_events(20)
                    await asyncio.sleep(0)
                    counts["pod_only_checks"] += 1
                    counts["pod_only_publishes"] += inj.view.generation - before
                    before = inj.view.generation
                    world.namespace_annotations()
                    await asyncio.sleep(0)
                    counts["annotation_publishes"] += inj.view.generation - before
                if counts["steps"] % 50 == 0:
                    await asyncio.sleep(0.001)
        finally:
            stop.set()
            for t in ts:
                await asyncio.to_thread(t.join)

    asyncio.run(churn())
    injector_mod.inject_with = original  # type: ignore[assignment]

    # Every answer is the answer of one view published while it was computed.
    inconsistent: list[str] = []
    requests = injected = pinned = 0
    for w in workers:
        for r in w.records:
            requests += 1
            resp = r.answer["response"]
            if resp.get("patch"):
                injected += 1
                pinned += "pinned-" in json.dumps(json.loads(_b64(resp["patch"])))
            ok = False
            for g in range(r.g0, r.g1 + 1):
                view = inj.history[g]
                expect = whserver.review_response(
                    r.review, lambda p, v=view: inject_with(v, p, NOW, sort_by_name=False)
                )
                if expect == r.answer:
                    ok = True
                    break
            if not ok:
                inconsistent.append(f"{r.review['request']['uid']} (views {r.g0}..{r.g1})")
    failures = [f for w in workers for f in w.failures]
    return {
        "requests": requests,
        "injected": injected,
        "not_injected": requests - injected,
        "pinned_revision_injections": pinned,
        "attempts": sum(w.attempts for w in workers),
        # One inject_with per request: nothing is tried twice (operator.py used to retry).
        "retries": sum(w.attempts for w in workers) - requests,
        "failures": len(failures),
        "failure_samples": failures[:5],
        "inconsistent": len(inconsistent),
        "inconsistent_samples": inconsistent[:5],
        "publications": len(inj.history),
        "dev_mode": sys.flags.dev_mode,
        **counts,
    }


def _b64(text: str) -> str:
    import base64

    return base64.b64decode(text).decode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    print(json.dumps(run(a.seconds, a.threads, a.seed)))


if __name__ == "__main__":
    main()
