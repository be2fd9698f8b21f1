"""What the informer caches: objects without managedFields and with their strings shared."""

from __future__ import annotations

import json
from typing import Any

from kruise_py.runtime import informer
from kruise_py.runtime.informer import _compact, _slim


def _pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {"app": "web"},
            "annotations": {"long": "x" * 200},
            "managedFields": [{"manager": "kubectl", "operation": "Update"}],
        },
        "spec": {
            "containers": [{"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80}]}],
            "nodeName": None,
            "priority": 0,
            "enableServiceLinks": True,
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "ratio": 0.5},
    }


def _decoded(name: str) -> dict[str, Any]:
    # A fresh decode, as each watch event is: equal strings are distinct objects.
    decoded: dict[str, Any] = json.loads(json.dumps(_pod(name)))
    return decoded


def test_slim_drops_managed_fields_and_keeps_everything_else() -> None:
    obj = _slim(_decoded("a"))
    expected = _pod("a")
    del expected["metadata"]["managedFields"]
    assert obj == expected


def test_equal_keys_and_short_values_of_separately_decoded_objects_are_one_string() -> None:
    a, b = _slim(_decoded("web-0")), _slim(_decoded("web-0"))
    # Different annotations, so the two annotation dicts are not one shared subtree.
    a["metadata"]["annotations"] = _compact(json.loads(json.dumps({"long": "x" * 200, "i": "a"})))
    b["metadata"]["annotations"] = _compact(json.loads(json.dumps({"long": "x" * 200, "i": "b"})))
    assert a is not b
    key_a = next(k for k in a["status"] if k == "phase")
    key_b = next(k for k in b["status"] if k == "phase")
    assert key_a is key_b
    assert a["status"]["phase"] is b["status"]["phase"]
    assert a["spec"]["containers"][0]["image"] is b["spec"]["containers"][0]["image"]
    assert a["metadata"]["name"] is b["metadata"]["name"]
    # Long values are left alone (they are rarely repeated; hashing them would only cost).
    assert a["metadata"]["annotations"]["long"] is not b["metadata"]["annotations"]["long"]


def test_compact_keeps_non_string_scalars_and_list_order() -> None:
    data = {"l": [3, "x", None, True, 1.5, {"k": ["y"]}], "n": None}
    out = _compact(json.loads(json.dumps(data)))
    assert out == data
    assert type(out["l"][3]) is bool


def test_the_memo_is_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(informer, "_MEMO_MAX", 10)
    monkeypatch.setattr(informer, "_memo", {})
    for i in range(25):
        _compact({"rv": str(1000 + i)})
    assert 0 < len(informer._memo) <= 10


def test_informers_seeing_the_same_object_version_share_one_copy() -> None:
    def version(rv: str) -> dict[str, Any]:
        obj = _decoded("web-1")
        obj["metadata"].update(uid="u-1", resourceVersion=rv)
        return obj

    a, b = _slim(version("10")), _slim(version("10"))
    assert a is b
    newer = _slim(version("11"))
    assert newer is not a and newer["metadata"]["resourceVersion"] == "11"


def test_recent_objects_are_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(informer, "_RECENT_MAX", 5)
    monkeypatch.setattr(informer, "_recent", {})
    for i in range(12):
        obj = _decoded(f"p{i}")
        obj["metadata"].update(uid=f"u{i}", resourceVersion="1")
        _slim(obj)
    assert list(informer._recent) == [(f"u{i}", "1") for i in range(7, 12)]


def test_equal_subtrees_of_separately_decoded_objects_are_one_object() -> None:
    a, b = _slim(_decoded("web-0")), _slim(_decoded("web-1"))
    assert a is not b and a["metadata"] is not b["metadata"]  # each object and its metadata its own
    assert a["spec"]["containers"] is b["spec"]["containers"]
    assert a["status"]["conditions"][0] is b["status"]["conditions"][0]
    assert a["metadata"]["labels"] is b["metadata"]["labels"]
    assert a == _slim(_decoded("web-0")) and a["metadata"]["name"] == "web-0"


def test_subtrees_equal_only_up_to_type_or_order_are_not_shared() -> None:
    one, true, float_one = _compact({"v": 1}), _compact({"v": True}), _compact({"v": 1.0})
    assert type(one["v"]) is int and type(true["v"]) is bool and type(float_one["v"]) is float
    assert one is not true and one is not float_one
    assert _compact(["a", "b"]) is not _compact(["b", "a"])
    assert _compact({"l": []}) is not _compact({"l": {}})
    nested = _compact({"x": {"y": ["1"]}})
    assert _compact({"x": {"y": ["1"]}}) is nested
    assert _compact({"x": {"y": ["2"]}}) is not nested


def test_shared_subtrees_are_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(informer, "_TREES_MAX", 10)
    monkeypatch.setattr(informer, "_trees", {})
    for i in range(25):
        _compact({"rv": {"n": str(i)}})
    assert 0 < len(informer._trees) <= 10
