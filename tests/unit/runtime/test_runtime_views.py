"""One watch per resource: a label-selected resource is a view of its unselected twin's informer,
kept as the apiserver keeps a selected watch (runtime/manager.py)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kruise_py.runtime.client import KubeClient, _continue_ahead
from kruise_py.runtime.informer import Informer, gc_paused, label_matcher
from kruise_py.runtime.manager import Manager, ManagerOptions, Resource

ALL = Resource("v1", "pods")
STS = Resource("v1", "pods", label_selector="statefulset.kubernetes.io/pod-name")
JOB = Resource("v1", "pods", label_selector="job=a,tier!=db")
SETS = Resource("v1", "pods", label_selector="app in (web)")  # set-based: stays server-side


def _pod(name: str, rv: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, "labels": labels}}


@pytest.mark.parametrize(
    ("selector", "labels", "want"),
    [
        ("a", {"a": "1"}, True),
        ("a", {}, False),
        ("!a", {}, True),
        ("!a", {"a": ""}, False),
        ("a=1", {"a": "1"}, True),
        ("a==1", {"a": "2"}, False),
        ("a!=1", {}, True),  # as the apiserver: a missing label is "not equal"
        ("a!=1", {"a": "1"}, False),
        ("a=1,b", {"a": "1"}, False),
        ("a=1, b", {"a": "1", "b": "x"}, True),
    ],
)
def test_label_matcher_reads_equality_selectors_as_the_apiserver(
    selector: str, labels: dict[str, str], want: bool
) -> None:
    match = label_matcher(selector)
    assert match is not None
    assert match({"metadata": {"labels": labels}}) is want


@pytest.mark.parametrize("selector", ["a in (1,2)", "a notin (1)", "", "=1", "a=b=c", "!a=1"])
def test_label_matcher_declines_what_it_cannot_read(selector: str) -> None:
    assert label_matcher(selector) is None


def _manager(*resources: Resource) -> tuple[Manager, dict[str, list[tuple[str, Any, Any]]]]:
    m = Manager(cast(KubeClient, object()), ManagerOptions(metrics_port=0))
    seen: dict[str, list[tuple[str, Any, Any]]] = {}
    for res in resources:
        log = seen.setdefault(res.key, [])
        m.on_event(
            res,
            lambda t, o, n, log=log: log.append(
                (t, o and o["metadata"]["name"], n and n["metadata"]["name"])
            ),
        )
    m.wire()
    return m, seen


def _deliver(inf: Informer, etype: str, obj: dict[str, Any]) -> None:
    # As Informer._watch_once does with a watch event.
    old = inf.store.get("ns", obj["metadata"]["name"])
    inf.store.apply(etype, obj)
    if etype == "DELETED":
        inf._notify("DELETED", old or obj, None)
    else:
        inf._notify("MODIFIED" if old else "ADDED", old, obj)


def test_selected_twins_share_one_informer_and_set_based_ones_keep_their_own() -> None:
    m, _ = _manager(STS, ALL, JOB, SETS)
    assert sorted(m.informers) == sorted([ALL.key, SETS.key])
    assert m.views == {STS.key: ALL.key, JOB.key: ALL.key}
    assert m.informers[SETS.key][0].label_selector == "app in (web)"


def test_without_the_unselected_twin_the_selected_resource_is_watched_itself() -> None:
    m, _ = _manager(STS)
    assert list(m.informers) == [STS.key] and m.views == {}
    assert m.informers[STS.key][0].label_selector == STS.label_selector


def test_a_view_sees_objects_enter_and_leave_its_selection() -> None:
    m, seen = _manager(ALL, JOB)
    inf = m.informers[ALL.key][0]
    view = m.caches[JOB.key]
    _deliver(inf, "ADDED", _pod("p", "1"))  # not selected
    _deliver(inf, "MODIFIED", _pod("p", "2", job="a"))  # enters: ADDED
    _deliver(inf, "MODIFIED", _pod("p", "3", job="a", x="y"))  # stays: MODIFIED
    assert view.get("ns", "p")["metadata"]["resourceVersion"] == "3"
    _deliver(inf, "MODIFIED", _pod("p", "4", job="a", tier="db"))  # leaves: DELETED
    assert view.get("ns", "p") is None
    _deliver(inf, "MODIFIED", _pod("p", "5", job="a"))
    _deliver(inf, "DELETED", _pod("p", "5", job="a"))
    assert seen[JOB.key] == [
        ("ADDED", None, "p"),
        ("MODIFIED", "p", "p"),
        ("DELETED", "p", None),
        ("ADDED", None, "p"),
        ("DELETED", "p", None),
    ]
    assert [e[0] for e in seen[ALL.key]] == [
        "ADDED",
        "MODIFIED",
        "MODIFIED",
        "MODIFIED",
        "MODIFIED",
        "DELETED",
    ]
    assert len(m.caches[ALL.key]) == 0 and len(view) == 0


def test_a_failing_handler_does_not_starve_the_next() -> None:
    m = Manager(cast(KubeClient, object()), ManagerOptions(metrics_port=0))
    got: list[str] = []

    def boom(*_: Any) -> None:
        raise RuntimeError("bug")

    m.on_event(JOB, boom)
    m.on_event(JOB, lambda t, o, n: got.append(t))
    m.on_event(ALL, lambda t, o, n: None)
    m.wire()
    _deliver(m.informers[ALL.key][0], "ADDED", _pod("p", "1", job="a"))
    assert got == ["ADDED"]


def test_continue_token_is_read_from_the_metadata_ahead_of_the_items() -> None:
    page = (
        b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9",'
        b'"continue":"eyJydiI6OX0=","remainingItemCount":3},"items":[{"metadata":{"continue":"no"}}]}'
    )
    assert _continue_ahead(page) == "eyJydiI6OX0="
    assert _continue_ahead(b'{"metadata":{"resourceVersion":"9"},"items":[{"x":{"continue":"no"}}]}') is None
    # Metadata after the items (not the apiserver's order): not guessed, the decoded page decides.
    assert _continue_ahead(b'{"items":[],"metadata":{"continue":"abc"}}') is None


def test_gc_pause_nests_and_leaves_a_collector_someone_else_disabled() -> None:
    import gc

    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
