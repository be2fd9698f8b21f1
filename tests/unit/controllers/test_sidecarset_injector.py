"""The injection view (kruise_py.controllers.sidecarset.injector): built and published by the event
loop, read whole by the webhook thread; and a stress run of the webhook path under churn."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kruise_py.controllers.sidecarset import injector as injector_mod
from kruise_py.controllers.sidecarset.injector import (
    UNLOADED,
    NotReady,
    inject_with,
    namespace_label_index,
    next_view,
    revision_index,
    sidecarset_index,
)
from kruise_py.runtime.cache import ObjectCache

from .injector_stress import NOW, PODS, REV_NS, Host, Recording, namespace, pod, revision, sidecarset

ROOT = Path(__file__).resolve().parents[3]


def loaded() -> tuple[Host, Recording]:
    """An injector over two SidecarSets (ss-0 plain, ss-1 pinned to its revision), ns-0 labelled
    for both, started as the manager starts it once the caches are synced."""
    host = Host()
    inj = Recording(host)
    for j in (0, 1):
        inj.revisions.apply("ADDED", revision(j, 0))
        inj.sidecarsets.apply("ADDED", sidecarset(j, 0))
    inj.namespaces.apply("ADDED", namespace(0, {"ss-0": "v0", "ss-1": "v0"}))
    inj.start()
    return host, inj


def sidecar_images(p: dict[str, object] | None) -> list[str]:
    assert p is not None
    spec = p["spec"]
    assert isinstance(spec, dict)
    return [c["image"] for c in spec["containers"]]


# -- building -----------------------------------------------------------------------------------
def test_indexes_are_read_only_and_complete() -> None:
    sets = sidecarset_index([sidecarset(1, 0), sidecarset(0, 0)])
    assert [s["metadata"]["name"] for s in sets] == ["ss-0", "ss-1"]
    assert isinstance(sets, tuple)
    labels = namespace_label_index([namespace(0, {"a": "b"})])
    # Every namespace carries its name label (Kubernetes >= 1.22); selectors on it must match.
    assert dict(labels["ns-0"]) == {"a": "b", "kubernetes.io/metadata.name": "ns-0"}
    revs = revision_index([revision(0, 0), revision(0, 1, namespace="elsewhere")], REV_NS)
    assert list(revs) == ["ss-0-v0"]
    with pytest.raises(TypeError):
        labels["ns-1"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        labels["ns-0"]["a"] = "c"  # type: ignore[index]
    with pytest.raises(TypeError):
        revs["x"] = {}  # type: ignore[index]


def test_next_view_rebuilds_only_the_dirty_parts() -> None:
    sets, nss, revs = ObjectCache(), ObjectCache(), ObjectCache()
    sets.apply("ADDED", sidecarset(0, 0))
    nss.apply("ADDED", namespace(0, {"ss-0": "v0"}))
    revs.apply("ADDED", revision(0, 0))
    caches = {"sidecarsets": sets, "namespaces": nss, "revisions": revs}
    first = next_view(UNLOADED, (), **caches, revision_namespace=REV_NS, loaded=True)
    # From an unloaded view everything is built, whatever is marked dirty.
    assert (first.generation, first.loaded) == (1, True)
    assert len(first.sidecarsets) == 1 and "ns-0" in first.namespace_labels and "ss-0-v0" in first.revisions
    sets.apply("MODIFIED", sidecarset(0, 1))
    second = next_view(first, {"sidecarsets"}, **caches, revision_namespace=REV_NS, loaded=True)
    assert second.generation == 2
    assert second.sidecarsets[0]["metadata"]["resourceVersion"] == "1"
    assert second.namespace_labels is first.namespace_labels and second.revisions is first.revisions
    # The old view is untouched: a reader still holding it sees one consistent moment.
    assert first.sidecarsets[0]["metadata"]["resourceVersion"] == "0"


def test_unknown_namespace_still_has_its_name_label() -> None:
    assert dict(UNLOADED.labels_of("fresh")) == {"kubernetes.io/metadata.name": "fresh"}


# -- publishing ---------------------------------------------------------------------------------
def test_not_ready_until_started_and_while_the_manager_is_not_ready() -> None:
    host = Host()
    inj = Recording(host)
    assert host.runnables == [inj]  # the manager starts it once its caches are synced
    inj.sidecarsets.apply("ADDED", sidecarset(0, 0))
    inj.namespaces.apply("ADDED", namespace(0, {"ss-0": "v0"}))
    # Changes before the start publish nothing: the first view is built whole at start.
    assert inj.view is UNLOADED and inj.history == {}
    with pytest.raises(NotReady):
        inj.inject(pod("p", "ns-0"), NOW)
    inj.start()
    assert inj.view.loaded and inj.view.generation == 1
    assert sidecar_images(inj.inject(pod("p", "ns-0"), NOW)) == ["side-0:v0", "app:1"]
    host.ready = "webhooks not registered"
    with pytest.raises(NotReady):
        inj.inject(pod("p", "ns-0"), NOW)


def test_answers_come_from_the_view_the_pinned_revision_included() -> None:
    _, inj = loaded()
    got = inj.inject(pod("p", "ns-0"), NOW)
    assert got == inject_with(inj.view, pod("p", "ns-0"), NOW)
    assert sorted(sidecar_images(got)) == ["app:1", "pinned-1:v0", "side-0:v0"]
    assert inj.inject(pod("p", "other-ns"), NOW) is None


def test_only_changes_the_webhook_reads_publish() -> None:
    host, inj = loaded()
    gen = inj.view.generation
    pods = host.cache(PODS)
    for k in range(10):
        pods.apply("ADDED", pod(f"p{k}", "ns-0"))
    # A namespace's annotations and a revision in another namespace are not read either.
    inj.namespaces.apply("MODIFIED", namespace(0, {"ss-0": "v0", "ss-1": "v0"}, {"note": "x"}))
    inj.revisions.apply("ADDED", revision(0, 7, namespace="elsewhere"))
    assert inj.view.generation == gen
    inj.namespaces.apply("MODIFIED", namespace(0, {"ss-0": "v0"}))
    assert inj.view.generation == gen + 1
    assert sidecar_images(inj.inject(pod("p", "ns-0"), NOW)) == ["side-0:v0", "app:1"]
    inj.revisions.apply("DELETED", revision(1, 0))
    inj.sidecarsets.apply("DELETED", sidecarset(0, 0))
    assert inj.view.generation == gen + 3
    assert inj.inject(pod("p", "ns-0"), NOW) is None


def test_a_failed_rebuild_is_redone_at_the_next_change(monkeypatch: pytest.MonkeyPatch) -> None:
    _, inj = loaded()
    gen = inj.view.generation

    def boom(_: object) -> tuple[dict[str, object], ...]:
        raise RuntimeError("index failed")

    monkeypatch.setattr(injector_mod, "sidecarset_index", boom)
    inj.sidecarsets.apply("MODIFIED", sidecarset(0, 1))  # the cache logs the hook's error
    assert inj.view.generation == gen
    monkeypatch.undo()
    inj.namespaces.apply("MODIFIED", namespace(0, {"ss-0": "v1"}))
    assert inj.view.generation == gen + 1
    assert {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in inj.view.sidecarsets} == {
        "ss-0": "1",
        "ss-1": "0",
    }


def test_on_the_loop_a_burst_of_changes_publishes_once() -> None:
    async def main() -> None:
        _, inj = loaded()
        gen, before = inj.view.generation, inj.view
        # A relist of every namespace with new labels: one synchronous burst of cache updates.
        inj.namespaces.replace([namespace(i, {"ss-0": "v0", "n": str(i)}) for i in range(50)])
        inj.sidecarsets.apply("MODIFIED", sidecarset(0, 1))
        # Not yet: the view is swapped after the burst, on the next loop iteration.
        assert inj.view is before
        await asyncio.sleep(0)
        assert inj.view.generation == gen + 1
        assert len(inj.view.namespace_labels) == 50
        assert inj.view.sidecarsets[0]["metadata"]["resourceVersion"] == "1"
        assert inj.view.revisions is before.revisions  # not changed, shared

    asyncio.run(main())


# -- the webhook path under churn ----------------------------------------------------------------
def test_stress_webhook_threads_under_cache_churn_in_dev_mode() -> None:
    """Threads answer AdmissionReviews through operator._fast_hooks while the loop churns the
    SidecarSets, namespace labels, revisions and pods (injector_stress.py). The old reader of the
    live caches fails this: in one run 19 RuntimeError/KeyError and 132 of 3714 answers matching no
    state the loop ever held."""
    env = dict(os.environ, PYTHONDEVMODE="1", PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-m", "tests.unit.controllers.injector_stress", "--seconds", "3", "--threads", "4"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["dev_mode"] is True
    assert res["failures"] == 0, res["failure_samples"]
    assert res["retries"] == 0 and res["attempts"] == res["requests"]
    assert res["inconsistent"] == 0, res["inconsistent_samples"]
    # The run exercised what it claims: churn, both outcomes, pinned revisions, no-op events.
    assert res["steps"] >= 50 and res["publications"] >= 50
    assert res["requests"] >= 200 and res["injected"] > 0 and res["not_injected"] > 0
    assert res["pinned_revision_injections"] > 0
    assert res["pod_only_checks"] > 0 and res["pod_only_publishes"] == 0 and res["annotation_publishes"] == 0
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
