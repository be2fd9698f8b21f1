from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kruise_py.runtime.cache import ObjectCache, controller_uid, copy_of

LABEL = "broadcastjob-controller-uid"


def pod(
    name: str,
    ns: str = "default",
    *,
    owner: str | None = None,
    other_owner: str | None = None,
    node: str | None = None,
    labels: dict[str, str] | None = None,
    rv: str = "1",
) -> dict[str, Any]:
    refs: list[dict[str, Any]] = []
    if other_owner:
        refs.append({"apiVersion": "v1", "kind": "X", "name": "x", "uid": other_owner})
    if owner:
        refs.append(
            {
                "apiVersion": "apps.kruise.io/v1beta1",
                "kind": "StatefulSet",
                "name": "s",
                "uid": owner,
                "controller": True,
            }
        )
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "resourceVersion": rv,
            "labels": labels or {},
            "ownerReferences": refs,
        },
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    if node:
        obj["spec"]["nodeName"] = node
    return obj


def names(objs: list[dict[str, Any]]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


def test_add_modify_delete() -> None:
    c = ObjectCache()
    c.apply(None, pod("a"))  # initial listing
    c.apply("ADDED", pod("b", "other"))
    assert len(c) == 2
    assert c.get("default", "a") is not None
    assert ("other", "b") in c
    modified = pod("a", rv="2")
    c.apply("MODIFIED", modified)
    assert c.get("default", "a") is modified  # stored as received, no copy
    c.apply("DELETED", pod("a", rv="3"))
    assert c.get("default", "a") is None
    assert len(c) == 1
    c.apply("DELETED", pod("never-seen"))
    c.apply("BOOKMARK", pod("bookmark"))
    assert len(c) == 1


def test_cluster_scoped_objects() -> None:
    c = ObjectCache()
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    c.apply("ADDED", node)
    assert c.get(None, "n1") is node
    assert c.get("", "n1") is node
    assert c.list() == [node]
    assert c.list("default") == []


def test_list_by_namespace() -> None:
    c = ObjectCache()
    for i in range(3):
        c.apply("ADDED", pod(f"a{i}", "ns-a"))
    c.apply("ADDED", pod("b0", "ns-b"))
    assert names(c.list("ns-a")) == ["a0", "a1", "a2"]
    assert names(c.list("ns-b")) == ["b0"]
    assert names(c.list()) == ["a0", "a1", "a2", "b0"]
    c.apply("DELETED", pod("b0", "ns-b"))
    assert c.list("ns-b") == []
    assert "ns-b" not in c._by_ns
    assert sorted(c.keys()) == [("ns-a", "a0"), ("ns-a", "a1"), ("ns-a", "a2")]


def test_owner_index_uses_controller_reference_only() -> None:
    c = ObjectCache()
    c.apply("ADDED", pod("a", owner="u1"))
    c.apply("ADDED", pod("b", owner="u1", other_owner="u9"))
    c.apply("ADDED", pod("c", other_owner="u1"))  # not a controller ref
    assert names(c.by_owner("u1")) == ["a", "b"]
    assert c.by_owner("u9") == []
    # Adopted by another controller.
    c.apply("MODIFIED", pod("a", owner="u2", rv="2"))
    assert names(c.by_owner("u1")) == ["b"]
    assert names(c.by_owner("u2")) == ["a"]
    # Orphaned.
    c.apply("MODIFIED", pod("b", rv="2"))
    assert c.by_owner("u1") == []
    assert "u1" not in c._by_owner  # no empty sets left behind
    c.apply("DELETED", pod("a"))
    assert c.by_owner("u2") == [] and not c._by_owner


def test_node_index() -> None:
    c = ObjectCache()
    c.apply("ADDED", pod("a"))  # not scheduled yet
    assert c.by_node("n1") == []
    c.apply("MODIFIED", pod("a", node="n1", rv="2"))
    c.apply("ADDED", pod("b", node="n1"))
    c.apply("ADDED", pod("c", node="n2"))
    assert names(c.by_node("n1")) == ["a", "b"]
    c.apply("DELETED", pod("b"))
    assert names(c.by_node("n1")) == ["a"]
    assert names(c.by_node("n2")) == ["c"]


def test_label_index() -> None:
    c = ObjectCache(label_keys=[LABEL])
    c.apply("ADDED", pod("a", labels={LABEL: "job1"}))
    c.apply("ADDED", pod("b", labels={LABEL: "job1", "x": "y"}))
    c.apply("ADDED", pod("c", labels={"x": "y"}))
    assert names(c.by_label(LABEL, "job1")) == ["a", "b"]
    c.apply("MODIFIED", pod("a", labels={LABEL: "job2"}, rv="2"))
    assert names(c.by_label(LABEL, "job1")) == ["b"]
    assert names(c.by_label(LABEL, "job2")) == ["a"]
    with pytest.raises(KeyError):
        c.by_label("x", "y")  # not an indexed label


def test_objects_without_labels_or_spec() -> None:
    c = ObjectCache(label_keys=[LABEL])
    c.apply(
        "ADDED", {"metadata": {"name": "bare", "namespace": "ns", "labels": None, "ownerReferences": None}}
    )
    c.apply("ADDED", {"metadata": {"name": "cm", "namespace": "ns"}, "data": {"a": "b"}})
    assert len(c) == 2
    assert c.by_label(LABEL, "x") == []


def test_on_change_hooks_see_old_and_new(caplog: pytest.LogCaptureFixture) -> None:
    c = ObjectCache()
    calls: list[tuple[str | None, str | None]] = []

    def rv(o: dict[str, Any] | None) -> str | None:
        return None if o is None else o["metadata"]["resourceVersion"]

    def broken(old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        raise RuntimeError("hook bug")

    c.on_change.append(broken)
    c.on_change.append(lambda old, new: calls.append((rv(old), rv(new))))
    with caplog.at_level(logging.ERROR):
        c.apply("ADDED", pod("a", rv="1"))
        c.apply("MODIFIED", pod("a", rv="2"))
        c.apply("DELETED", pod("a", rv="3"))
        c.apply("DELETED", pod("a", rv="4"))  # unknown by now: no notification
    assert calls == [(None, "1"), ("1", "2"), ("2", None)]
    assert "hook bug" in caplog.text


def test_replace_is_a_relist() -> None:
    c = ObjectCache()
    deleted: list[str] = []
    c.on_change.append(
        lambda old, new: deleted.append(old["metadata"]["name"]) if new is None and old else None
    )
    c.apply("ADDED", pod("stays", owner="u"))
    c.apply("ADDED", pod("vanished", owner="u"))
    c.replace([pod("stays", owner="u", rv="5"), pod("new", owner="u")])
    assert names(c.list()) == ["new", "stays"]
    assert deleted == ["vanished"]
    assert names(c.by_owner("u")) == ["new", "stays"]


def test_copy_of_is_deep_and_equal() -> None:
    original = pod("a", owner="u", labels={"k": "v"}, node="n")
    copied = copy_of(original)
    assert copied == original
    copied["metadata"]["labels"]["k"] = "changed"
    copied["spec"]["containers"][0]["image"] = "other"
    copied["metadata"]["ownerReferences"].append({})
    assert original["metadata"]["labels"]["k"] == "v"
    assert original["spec"]["containers"][0]["image"] == "nginx"
    assert len(original["metadata"]["ownerReferences"]) == 1
    assert copy_of(original) == copy.deepcopy(original)


def test_controller_uid() -> None:
    assert controller_uid(pod("a", owner="u", other_owner="v")) == "u"
    assert controller_uid(pod("a", other_owner="v")) is None
    assert controller_uid({"metadata": {"name": "x"}}) is None


def test_ten_thousand_objects() -> None:
    c = ObjectCache(label_keys=[LABEL])
    n = 10_000
    for i in range(n):
        c.apply(
            None,
            pod(f"p{i}", f"ns{i % 10}", owner=f"u{i % 100}", node=f"n{i % 50}", labels={LABEL: f"j{i % 7}"}),
        )
    assert len(c) == n
    assert len(c.by_owner("u3")) == n // 100
    assert len(c.by_node("n7")) == n // 50
    assert len(c.list("ns4")) == n // 10
    assert sum(len(c.by_label(LABEL, f"j{j}")) for j in range(7)) == n
    for i in range(0, n, 2):
        c.apply("DELETED", pod(f"p{i}", f"ns{i % 10}"))
    assert len(c) == n // 2
    assert all(int(o["metadata"]["name"][1:]) % 2 == 1 for o in c.by_owner("u3"))


# -- property: indexes always agree with a brute-force scan --------------------------------------

EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["ADDED", "MODIFIED", "DELETED", None]),
        st.sampled_from(["a", "b", "c", "d"]),  # name
        st.sampled_from(["ns1", "ns2"]),
        st.sampled_from([None, "u1", "u2"]),  # controller owner
        st.sampled_from([None, "n1", "n2"]),  # node
        st.sampled_from([None, "j1", "j2"]),  # label value
    ),
    max_size=60,
)


@given(EVENTS)
@settings(max_examples=200, deadline=None)
def test_indexes_match_brute_force(events: list[tuple[Any, ...]]) -> None:
    c = ObjectCache(label_keys=[LABEL])
    model: dict[tuple[str, str], dict[str, Any]] = {}
    for etype, name, ns, owner, node, job in events:
        obj = pod(name, ns, owner=owner, node=node, labels={LABEL: job} if job else {})
        c.apply(etype, obj)
        if etype == "DELETED":
            model.pop((ns, name), None)
        else:
            model[(ns, name)] = obj
        objs = list(model.values())
        assert len(c) == len(model)
        for uid in ("u1", "u2"):
            assert names(c.by_owner(uid)) == names([o for o in objs if controller_uid(o) == uid])
        for n in ("n1", "n2"):
            assert names(c.by_node(n)) == names([o for o in objs if o["spec"].get("nodeName") == n])
        for j in ("j1", "j2"):
            assert names(c.by_label(LABEL, j)) == names(
                [o for o in objs if o["metadata"]["labels"].get(LABEL) == j]
            )
        for space in ("ns1", "ns2"):
            assert names(c.list(space)) == names([o for o in objs if o["metadata"]["namespace"] == space])


def _injected(obj: dict[str, Any]) -> list[str]:
    raw = (obj["metadata"].get("annotations") or {}).get("injected", "")
    return [n for n in raw.split(",") if n]


def test_custom_multi_valued_index() -> None:
    cache = ObjectCache()
    a = pod("a")
    a["metadata"]["annotations"] = {"injected": "s1,s2"}
    cache.apply("ADDED", a)
    cache.apply("ADDED", pod("plain"))
    cache.add_index("injected", _injected)  # built from the objects already there
    assert names(cache.by_index("injected", "s1")) == names(cache.by_index("injected", "s2")) == ["a"]
    b = pod("b", "other")
    b["metadata"]["annotations"] = {"injected": "s2,s2"}
    cache.apply("ADDED", b)
    assert names(cache.by_index("injected", "s2")) == ["a", "b"]
    a2 = copy.deepcopy(a)
    a2["metadata"]["annotations"] = {"injected": "s3"}
    cache.apply("MODIFIED", a2)
    assert cache.by_index("injected", "s1") == []
    assert names(cache.by_index("injected", "s2")) == ["b"]
    assert cache.by_index("injected", "s3") == [a2]
    cache.apply("DELETED", b)
    assert cache.by_index("injected", "s2") == []
    cache.replace([pod("c")])
    assert cache.by_index("injected", "s3") == []
    with pytest.raises(KeyError):
        cache.by_index("nope", "x")
