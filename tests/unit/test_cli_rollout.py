"""`kruise-py rollout`: the pure decisions (progress from a status, rendering, durations, failure
grace, history rows, which revision an undo restores)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from kruise_py import cli
from kruise_py import rollout as ro
from kruise_py.core import revisions as rev


def sts(
    replicas: int = 4,
    *,
    gen: int = 2,
    observed: int = 2,
    updated: int = 4,
    ready: int = 4,
    available: int | None = None,
    updated_ready: int | None = None,
    current: str = "web-b",
    update: str = "web-b",
    partition: int = 0,
    paused: bool = False,
    strategy: str = "RollingUpdate",
    conditions: list[dict[str, Any]] | None = None,
    template: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ru: dict[str, Any] = {"partition": partition}
    if paused:
        ru["paused"] = True
    return {
        "metadata": {
            "name": "web",
            "namespace": "ns",
            "uid": "u1",
            "generation": gen,
            "resourceVersion": "7",
        },
        "spec": {
            "replicas": replicas,
            "updateStrategy": {"type": strategy, "rollingUpdate": ru},
            "template": template or tpl("nginx:1.27"),
        },
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready if available is None else available,
            "updatedReadyReplicas": min(updated, ready) if updated_ready is None else updated_ready,
            "currentRevision": current,
            "updateRevision": update,
            "conditions": conditions or [],
        },
    }


def tpl(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": image}]}}


@pytest.mark.parametrize(
    ("kw", "state", "words"),
    [
        ({}, "complete", "rolling update complete: 4 pods at revision web-b"),
        ({"observed": 1}, "progressing", "observe the spec update"),
        ({"observed": 0, "gen": 0}, "progressing", "observe the spec update"),
        ({"ready": 3, "updated": 2, "current": "web-a"}, "progressing", "waiting for 1 pods to be ready"),
        ({"updated": 2, "current": "web-a"}, "progressing", "2 of 4 pods at revision web-b"),
        ({"updated": 2, "current": "web-a", "paused": True}, "paused", "rollout paused"),
        (
            {"updated": 1, "current": "web-a", "partition": 2},
            "progressing",
            "1 of 2 new pods have been updated",
        ),
        (
            {"updated": 2, "current": "web-a", "partition": 2},
            "complete",
            "partitioned roll out complete: 2 new pods",
        ),
        (
            {"updated": 0, "current": "web-a", "partition": 9},
            "complete",
            "partitioned roll out complete: 0 new pods",
        ),
        ({"strategy": "OnDelete"}, "failed", "only available for the RollingUpdate"),
        (
            {
                "updated": 2,
                "current": "web-a",
                "conditions": [{"type": "FailedCreatePod", "status": "True", "message": "exceeded quota"}],
            },
            "failed",
            "FailedCreatePod: exceeded quota",
        ),
        ({"conditions": [{"type": "FailedUpdatePod", "status": "False"}]}, "complete", "complete"),
    ],
)
def test_progress(kw: dict[str, Any], state: str, words: str) -> None:
    p = ro.progress(sts(**kw))
    assert p.state == state and words in p.message, p
    assert p.done == (state == "complete")


def test_progress_of_a_set_with_nothing_in_status() -> None:
    p = ro.progress({"metadata": {"name": "x", "generation": 1}, "spec": {}})
    assert p.state == "progressing" and p.replicas == 1 and p.fraction == 0.0


def test_fraction_counts_updated_and_ready_pods_of_the_rollout() -> None:
    assert ro.progress(sts(updated=2, ready=4, current="a")).fraction == 0.5
    assert ro.progress(sts(updated=3, ready=3, updated_ready=2, current="a")).fraction == 0.5
    assert ro.progress(sts(updated=1, partition=2, current="a")).fraction == 0.5
    assert ro.progress(sts(partition=9)).fraction == 1.0  # nothing to update


def test_render_plain_and_with_a_bar() -> None:
    p = ro.progress(sts(updated=2, current="web-a"))
    plain = ro.render(p, tty=False)
    assert plain.startswith("web: 2/4 updated, 4/4 ready, 4/4 available, partition 0 - waiting")
    assert "[" not in plain
    bar = ro.render(p, tty=True, width=10)
    assert bar.startswith("[#####.....]  50% web: 2/4 updated")
    assert ", paused" in ro.render(ro.progress(sts(paused=True, updated=0, current="a")), tty=False)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("1.5s", 1.5), ("250ms", 0.25)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert ro.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "5m3", "-1s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        ro.parse_duration(text)


def test_failure_must_persist_for_the_grace_period() -> None:
    failing = ro.progress(sts(conditions=[{"type": "FailedUpdatePod", "status": "True", "message": "x"}]))
    fine = ro.progress(sts(updated=2, current="a"))
    g = ro.FailureGrace(5)
    assert not g.failed(failing, 100.0)
    assert not g.failed(failing, 104.0)
    assert not g.failed(fine, 104.5)  # cleared by a successful round: start over
    assert not g.failed(failing, 105.0)
    assert g.failed(failing, 110.0)
    assert ro.FailureGrace(0).failed(failing, 0.0)


def revision(n: int, image: str, owner: str = "u1", name: str | None = None) -> dict[str, Any]:
    r = rev.new_revision({"metadata": {"name": "web", "namespace": "ns", "uid": owner}}, tpl(image), n, None)
    if name:
        r["metadata"]["name"] = name
    return r


def test_history_rows_mark_current_and_update_and_keep_only_owned() -> None:
    r1, r2, r3 = (
        revision(1, "nginx:1.25", name="web-a"),
        revision(3, "nginx:1.27", name="web-b"),
        revision(2, "x:1", owner="other"),
    )
    s = sts(current="web-a", update="web-b")
    mine = ro.owned_revisions(s, [r2, r3, r1])
    assert [r["metadata"]["name"] for r in mine] == ["web-a", "web-b"]
    rows = ro.history_rows(s, mine)
    assert rows == [("1", "web-a", "current", "app=nginx:1.25"), ("3", "web-b", "update", "app=nginx:1.27")]
    table = ro.format_table(("REVISION", "NAME", "STATUS", "CONTAINERS"), rows)
    assert table.splitlines()[0].split() == ["REVISION", "NAME", "STATUS", "CONTAINERS"]
    s2 = sts(current="web-b", update="web-b")
    assert ro.history_rows(s2, mine)[1][2] == "current,update"


def test_undo_goes_to_the_previous_revision_by_default() -> None:
    revs = [revision(1, "nginx:1.25"), revision(2, "nginx:1.26"), revision(3, "nginx:1.27")]
    target = ro.rollback_target(sts(template=tpl("nginx:1.27")), revs, 0)
    assert target is not None and target["revision"] == 2
    target = ro.rollback_target(sts(template=tpl("nginx:1.27")), revs, 1)
    assert target is not None and rev.revision_template(target) == rev.go_template(tpl("nginx:1.25"))


def test_undo_to_the_template_the_set_has_is_skipped() -> None:
    revs = [revision(1, "nginx:1.25"), revision(2, "nginx:1.27")]
    assert ro.rollback_target(sts(template=tpl("nginx:1.27")), revs, 2) is None


@pytest.mark.parametrize(
    ("revs", "to", "msg"),
    [
        ([], 0, "no previous revision"),
        ([1], 0, "no previous revision"),
        ([1, 2], 5, "unable to find the specified revision 5 in history (have: 1, 2)"),
    ],
)
def test_undo_errors(revs: list[int], to: int, msg: str) -> None:
    with pytest.raises(ro.UndoError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        ro.rollback_target(sts(), [revision(n, f"nginx:1.{n}") for n in revs], to)


def test_undo_patch_replaces_the_whole_template_if_the_set_is_unchanged() -> None:
    s = sts(
        template={
            **tpl("nginx:1.27"),
            "spec": {
                "containers": [{"name": "app", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}]}]
            },
        }
    )
    patch = ro.undo_patch(s, revision(1, "nginx:1.25"))
    assert patch == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "replace", "path": "/spec/template", "value": rev.go_template(tpl("nginx:1.25"))},
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["rollout", "status", "web", "-n", "x", "--no-watch", "--timeout", "5m"],
        ["rollout", "pause", "web"],
        ["rollout", "resume", "web"],
        ["rollout", "history", "web", "--revision", "2"],
        ["rollout", "undo", "web", "--to-revision", "1"],
    ],
)
def test_the_command_line_parses(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(ro, "main", lambda args: seen.append(args) or 0)
    assert cli.main(argv) == 0
    a = seen[0]
    assert a.action == argv[1] and a.name == "web"
    if argv[1] == "status":
        assert a.watch is False and a.namespace == "x" and ro.parse_duration(a.timeout) == 300


def test_a_bad_timeout_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    class Args:
        timeout, failure_grace, watch, interval, name = "soon", 5.0, True, 1.0, "web"

    async def read() -> dict[str, Any]:
        return sts()

    import asyncio

    with pytest.raises(ValueError, match="invalid duration 'soon'"):
        asyncio.run(ro._status(read, Args(), io.StringIO(), io.StringIO()))


# -- rollout restart, set image, TYPE/NAME, --help ----------------------------------------------
import argparse  # noqa: E402

import jsonpatch  # noqa: E402


def test_restart_sets_kubectls_annotation_on_the_template() -> None:
    s = sts()
    out = jsonpatch.apply_patch(s, ro.restart_patch(s, "2026-12-03T10:00:00Z"))
    assert out["spec"]["template"]["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/restartedAt": "2026-12-03T10:00:00Z"
    }
    again = jsonpatch.apply_patch(out, ro.restart_patch(out, "2026-12-03T11:00:00Z"))
    assert (
        again["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
        == "2026-12-03T11:00:00Z"
    )
    bare = sts(template={"spec": {"containers": [{"name": "app", "image": "x"}]}})
    assert jsonpatch.apply_patch(bare, ro.restart_patch(bare, "t"))["spec"]["template"]["metadata"] == {
        "annotations": {"kubectl.kubernetes.io/restartedAt": "t"}
    }
    # The first op fails the patch if the set changed since it was read.
    assert ro.restart_patch(s, "t")[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}


def test_restart_mode_follows_the_pod_update_policy() -> None:
    s = sts()
    assert ro.restart_mode(s) == "recreated"
    s["spec"]["updateStrategy"]["rollingUpdate"]["podUpdatePolicy"] = "InPlaceIfPossible"
    assert ro.restart_mode(s) == "in place"


def test_set_image() -> None:
    t = {
        "metadata": {},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox:1"}],
            "containers": [{"name": "app", "image": "nginx:1"}, {"name": "log", "image": "log:1"}],
        },
    }
    s = sts(template=t)
    out = jsonpatch.apply_patch(s, ro.set_image_patch(s, ro.parse_image_args(["app=nginx:2"])))
    assert [c["image"] for c in out["spec"]["template"]["spec"]["containers"]] == ["nginx:2", "log:1"]
    out = jsonpatch.apply_patch(s, ro.set_image_patch(s, {"*": "x:9"}))
    assert [
        c["image"] for k in ("initContainers", "containers") for c in out["spec"]["template"]["spec"][k]
    ] == ["x:9"] * 3
    assert len(ro.set_image_patch(s, {"app": "nginx:1"})) == 1  # nothing to change: only the test op
    with pytest.raises(ValueError, match="unable to find container named nope"):
        ro.set_image_patch(s, {"nope": "x"})
    for bad in (["app"], ["=x"], ["app="], []):
        with pytest.raises(ValueError):
            ro.parse_image_args(bad)


@pytest.mark.parametrize(
    ("ref", "name"), [("web", "web"), ("asts/web", "web"), ("statefulset.apps.kruise.io/web", "web")]
)
def test_split_ref(ref: str, name: str) -> None:
    assert ro.split_ref(ref) == name


def test_split_ref_rejects_other_kinds() -> None:
    with pytest.raises(ValueError, match="only Advanced StatefulSets"):
        ro.split_ref("deployment/web")


def _parsers(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = [p]
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                out += _parsers(sub)
    return out


def test_every_default_is_shown_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` of every command names each option's default (ports 8080/9443 and the rest)."""
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # undo line breaks at hyphens
    for needle in (
        "(default: 8080)",
        "(default: 9443)",
        "(default: 50.0)",
        "(default: 100)",
        "(default: 4)",
        "(default: kruise-py-webhook)",
        "(default: Fail)",
        "(default: 15.0)",
    ):
        assert needle in text, needle
    parser = cli.build_parser()
    for p in _parsers(parser):
        for a in p._actions:
            if (
                not a.option_strings
                or a.default in (None, False, [], argparse.SUPPRESS)
                or a.help == argparse.SUPPRESS
            ):
                continue
            assert "default" in cli._Help(p.prog)._get_help_string(a), f"{p.prog} {a.option_strings}"
