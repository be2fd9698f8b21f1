"""`kruise-py migrate check` verdicts (controllers/preflight.py, migrate.environment/check)."""

from __future__ import annotations

import copy
from datetime import timedelta

from kruise_py import migrate
from kruise_py.api.defaults import default_sidecarset
from kruise_py.controllers import preflight
from kruise_py.controllers.sidecarset import revisions as ssrev

from . import bcj_builders as bb
from .builders import NOW, OLD_IMAGE, make_pod, make_sts, revision_of, rname, rolling_world, with_image


def _settled(n: int = 3, **kw: object) -> tuple[dict, list[dict], list[dict]]:
    sts = make_sts(n, parallel=True, update_policy="InPlaceIfPossible", **kw)  # type: ignore[arg-type]
    rev = revision_of(sts, 1)
    sts = {
        **sts,
        "status": {
            "currentRevision": rname(rev),
            "updateRevision": rname(rev),
            "collisionCount": 0,
            "observedGeneration": 1,
        },
    }
    pods = [make_pod(sts, i, rev) for i in range(n)]
    return sts, pods, [rev]


def test_a_settled_set_is_adopted_with_no_pod_write() -> None:
    sts, pods, revs = _settled()
    f = preflight.statefulset(sts, pods, revs, {}, NOW)
    assert f.verdict == "adopt" and f.revisions_adopted == [rname(revs[0])]
    assert (f.pod_restarts, f.pod_writes, f.pod_creates, f.revisions_created) == (0, 0, 0, [])


def test_a_set_whose_revision_is_missing_gets_a_new_one_and_keeps_its_pods() -> None:
    sts, pods, _ = _settled()
    f = preflight.statefulset(sts, pods, [], {}, NOW)
    # No revision at all: the template's revision is created; its name is what the pods carry.
    assert f.verdict == "new-revision" and f.pod_restarts == 0


def test_a_template_change_rolls_pods() -> None:
    sts, pods, revs = _settled()
    changed = with_image(sts, "nginx:9")
    f = preflight.statefulset(changed, pods, revs, {}, NOW)
    assert f.verdict == "roll" and f.pod_restarts == 3
    assert any("to roll" in d for d in f.details)


def test_a_rollout_in_progress_is_reported_as_such() -> None:
    w, old_rev, new_rev = rolling_world(
        4, updated={3}, parallel=True, update_policy="InPlaceIfPossible", max_unavailable=4
    )
    f = preflight.statefulset(w.sts, list(w.pods.values()), [old_rev, new_rev], {}, NOW)
    assert f.pod_restarts == 3
    assert any("rollout in progress continues" in d for d in f.details)
    assert set(f.revisions_adopted) == {rname(old_rev), rname(new_rev)}


def test_missing_pods_are_creates_not_restarts() -> None:
    sts, pods, revs = _settled(4)
    f = preflight.statefulset(sts, pods[:3], revs, {}, NOW)
    assert f.verdict == "write" and f.pod_creates == 1 and f.pod_restarts == 0


def test_broadcastjob_completed_does_nothing_and_unfit_pods_are_deleted() -> None:
    nodes = bb.nodes(2)
    job = bb.make_job(
        status={
            "phase": "completed",
            "conditions": [
                {
                    "type": "Complete",
                    "status": "True",
                    "lastTransitionTime": bb.ts(NOW - timedelta(minutes=1)),
                }
            ],
        }
    )
    pods = [bb.make_pod(job, n["metadata"]["name"], phase="Succeeded") for n in nodes]
    f = preflight.broadcastjob(job, pods, nodes, NOW)
    assert f.verdict == "nothing"
    running = bb.make_job(
        name="run", status={"phase": "running", "startTime": bb.ts(NOW - timedelta(minutes=1))}
    )
    f = preflight.broadcastjob(running, [], nodes, NOW)
    assert f.verdict == "write" and f.pod_creates == 2


def _sidecarset(image: str = "log:1") -> dict:
    return default_sidecarset(
        {
            "apiVersion": "apps.kruise.io/v1beta1",
            "kind": "SidecarSet",
            "metadata": {"name": "log", "uid": "u1"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "containers": [{"name": "log", "image": image}],
            },
        }
    )


def test_sidecarset_adopts_an_equal_revision_and_reports_a_new_one() -> None:
    ss = _sidecarset()
    existing = ssrev.new_revision(ss, "kruise-system", 1, 0)
    f = preflight.sidecarset(
        {**ss, "status": {"latestRevision": rname(existing)}},
        [],
        [existing],
        "kruise-system",
        lambda ns: {},
        NOW,
    )
    assert f.verdict == "adopt" and f.revisions_adopted == [rname(existing)]
    other = ssrev.new_revision(_sidecarset("log:0"), "kruise-system", 1, 0)
    f = preflight.sidecarset(
        {**ss, "status": {"latestRevision": rname(other)}}, [], [other], "kruise-system", lambda ns: {}, NOW
    )
    assert f.verdict == "new-revision"
    assert any("latestRevision changes" in d for d in f.details)


def test_environment_blocks_while_openkruise_is_around() -> None:
    ours = {
        "metadata": {"labels": {"app.kubernetes.io/name": "kruise-py"}},
        "spec": {"versions": [{"name": "v1alpha1", "served": True}, {"name": "v1beta1", "served": True}]},
    }
    theirs = copy.deepcopy(ours)
    theirs["metadata"] = {}
    c = migrate.Cluster(
        crds={
            "statefulsets.apps.kruise.io": ours,
            "broadcastjobs.apps.kruise.io": theirs,
            "sidecarsets.apps.kruise.io": None,
        },
        webhooks={
            "kruise-mutating-webhook-configuration": {"webhooks": []},
            "kruise-validating-webhook-configuration": None,
        },
        lease={"spec": {"renewTime": (NOW - timedelta(seconds=3)).isoformat(), "leaseDurationSeconds": 15}},
    )
    env = migrate.environment(c, NOW)
    blocks = [m for level, m in env if level == "block"]
    assert any("sidecarsets.apps.kruise.io is not installed" in m for m in blocks)
    assert any("kruise-mutating-webhook-configuration" in m for m in blocks)
    assert any("holds Lease" in m for m in blocks)
    assert any("broadcastjobs.apps.kruise.io is OpenKruise's" in m for level, m in env if level == "info")
    c.lease = {"spec": {"renewTime": (NOW - timedelta(minutes=5)).isoformat(), "leaseDurationSeconds": 15}}
    assert not any("holds Lease" in m for _, m in migrate.environment(c, NOW))


def test_check_points_at_sidecarset_revisions_kept_elsewhere() -> None:
    ss = _sidecarset()
    rev = ssrev.new_revision(ss, "kruise-system", 1, 0)
    c = migrate.Cluster(sidecarsets=[ss], revisions=[rev])
    (f,) = migrate.check(c, "kruise-py-system", NOW)
    assert any("--sidecarset-revision-namespace kruise-system" in d for d in f.details)
    (f,) = migrate.check(c, "kruise-system", NOW)
    assert not any("--sidecarset-revision-namespace" in d for d in f.details)


def test_render_and_exit_summary() -> None:
    sts, pods, revs = _settled()
    f = preflight.statefulset(sts, pods, revs, {}, NOW)
    text = migrate.render([f], [])
    assert "StatefulSet default/web" in text and "no pod restart" in text
    rolled = preflight.statefulset(with_image(sts, OLD_IMAGE + "x"), pods, revs, {}, NOW)
    assert "3 pod(s) would restart" in migrate.render([rolled], [])
