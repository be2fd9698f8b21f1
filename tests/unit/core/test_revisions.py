"""core.revisions: ControllerRevision data, hashing, update/current revision, history (spec §2.8)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.api.sidecarset import safe_encode_string
from kruise_py.core.revisions import (
    HISTORY_HASH_LABEL,
    _fnv1_32,
    current_revision_name,
    decide_update_revision,
    equal_revision,
    go_template,
    hash_revision,
    new_revision,
    next_revision_number,
    pod_at_revision,
    pod_updated_loose,
    revision_bytes,
    revision_content,
    revision_data,
    revision_name,
    revision_of_pod,
    revision_template,
    revisions_to_delete,
    sort_revisions,
)

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "foo"}},
    "spec": {"containers": [{"image": "nginx:1.25", "name": "main"}]},
}


def sts(
    template: dict[str, Any] | None = None,
    *,
    collision_count: int | None = None,
    current: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if collision_count is not None:
        status["collisionCount"] = collision_count
    if current is not None:
        status["currentRevision"] = current
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "uid-1", "annotations": {"a": "b"}},
        "spec": {"template": template if template is not None else TEMPLATE},
        "status": status,
    }


def with_image(image: str) -> dict[str, Any]:
    return {**TEMPLATE, "spec": {"containers": [{"image": image, "name": "main"}]}}


def pod(rev: str | None) -> dict[str, Any]:
    labels = {} if rev is None else {"controller-revision-hash": rev}
    return {"metadata": {"name": "web-0", "labels": labels}}


# --------------------------------------------------------------------------------------------------
# Data and hashing


def test_revision_data_shape() -> None:
    data = revision_data(TEMPLATE)
    # The template in its Go shape (what OpenKruise's typed round trip writes), then "$patch".
    assert data == {
        "spec": {
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": "foo"}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.25", "resources": {}}]},
                "$patch": "replace",
            }
        }
    }
    assert "$patch" not in TEMPLATE  # input not mutated
    assert revision_data(go_template(TEMPLATE)) == data  # Go shape is idempotent


def test_revision_bytes_are_openkruise_bytes() -> None:
    data = revision_data(TEMPLATE)
    # from hack/gotypes (tests/unit/core/goshape/expected.json, case unit-template)
    assert revision_bytes(data) == (
        b'{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"app":"foo"}},'
        b'"spec":{"containers":[{"image":"nginx:1.25","name":"main","resources":{}}]}}}}'
    )
    # key order of the input does not matter
    reordered = json.loads(json.dumps(data))
    reordered["spec"]["template"] = dict(reversed(list(reordered["spec"]["template"].items())))
    assert revision_bytes(reordered) == revision_bytes(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # golden values computed with Go hash/fnv.New32 (FNV-1, not FNV-1a)
        (b"", 2166136261),
        (b"a", 84696446),
    ],
)
def test_fnv1_32_matches_go(data: bytes, expected: int) -> None:
    assert _fnv1_32(data) == expected


@pytest.mark.parametrize(
    ("collision_count", "expected"),
    [
        # From Go (hack/gotypes vectors unit-template, unit-template-collision-7): FNV-1 32 over
        # getPatch's bytes and the collision count's decimal string, then rand.SafeEncodeString.
        (0, "75bd5f5b94"),
        (7, "75bd5f5b97"),
    ],
)
def test_hash_revision_matches_go(collision_count: int, expected: str) -> None:
    assert hash_revision(revision_data(TEMPLATE), collision_count) == expected
    assert new_revision(sts(), TEMPLATE, 1, collision_count)["metadata"]["name"] == f"web-{expected}"


def test_hash_revision_without_probe() -> None:
    data = revision_data(TEMPLATE)
    assert hash_revision(data, None) == safe_encode_string(str(_fnv1_32(revision_bytes(data))))
    assert hash_revision(data, None) != hash_revision(data, 0)  # a probe of 0 still changes the hash


def test_revision_name_truncates_prefix() -> None:
    assert revision_name("web", "abc") == "web-abc"
    long = "x" * 240
    name = revision_name(long, "h" * 10)
    assert name == "x" * 223 + "-" + "h" * 10
    assert len(name) <= 253


def test_new_revision_object() -> None:
    rev = new_revision(sts(), TEMPLATE, 3, 0)
    h = hash_revision(revision_data(TEMPLATE), 0)
    assert rev == {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": f"web-{h}",
            "namespace": "ns",
            "labels": {"app": "foo", HISTORY_HASH_LABEL: h},
            "annotations": {"a": "b"},
            "ownerReferences": [
                {
                    "apiVersion": "apps.kruise.io/v1beta1",
                    "kind": "StatefulSet",
                    "name": "web",
                    "uid": "uid-1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": revision_data(TEMPLATE),
        "revision": 3,
    }
    assert revision_template(rev) == go_template(TEMPLATE)


def test_revision_template_malformed() -> None:
    assert revision_template({}) is None
    assert revision_template({"data": {"spec": {}}}) is None


def test_next_revision_number() -> None:
    assert next_revision_number([]) == 1
    assert next_revision_number([{"revision": 2}, {"revision": 7}, {"revision": 3}]) == 8


def test_sort_revisions_ties() -> None:
    revs = [
        {"metadata": {"name": "b", "creationTimestamp": "2024-01-01T00:00:01Z"}, "revision": 1},
        {"metadata": {"name": "c", "creationTimestamp": "2024-01-01T00:00:00Z"}, "revision": 1},
        {"metadata": {"name": "a", "creationTimestamp": "2024-01-01T00:00:01Z"}, "revision": 1},
        {"metadata": {"name": "z"}, "revision": 0},
    ]
    assert [r["metadata"]["name"] for r in sort_revisions(revs)] == ["z", "c", "a", "b"]


# --------------------------------------------------------------------------------------------------
# Update revision


def test_decide_create_first_revision() -> None:
    d = decide_update_revision(sts(), [])
    assert d.action == "create"
    assert d.revision["revision"] == 1
    assert d.collision_count == 0
    # status.collisionCount nil is hashed as 0 (Kruise always passes &collisionCount)
    assert d.revision["metadata"]["name"] == "web-" + hash_revision(revision_data(TEMPLATE), 0)


def test_decide_reuse_latest() -> None:
    r1 = new_revision(sts(), TEMPLATE, 1, 0)
    d = decide_update_revision(sts(), [r1])
    assert d.action == "reuse"
    assert d.revision == r1


def test_decide_create_on_template_change() -> None:
    r1 = new_revision(sts(), TEMPLATE, 1, 0)
    d = decide_update_revision(sts(with_image("nginx:2")), [r1])
    assert d.action == "create"
    assert d.revision["revision"] == 2
    assert d.revision["metadata"]["name"] != r1["metadata"]["name"]


def test_decide_bump_on_rollback() -> None:
    r1 = new_revision(sts(), TEMPLATE, 1, 0)
    r2 = new_revision(sts(), with_image("nginx:2"), 2, 0)
    d = decide_update_revision(sts(), [r2, r1])
    assert d.action == "bump"
    assert d.revision["metadata"]["name"] == r1["metadata"]["name"]  # the name stays
    assert d.revision["revision"] == 3
    assert r1["revision"] == 1  # input not mutated


def test_decide_compares_data_not_names() -> None:
    # An existing revision with equal data but created under another collision count (other name)
    r_old = new_revision(sts(), TEMPLATE, 1, 5)
    d = decide_update_revision(sts(collision_count=0), [r_old])
    assert d.action == "reuse"
    assert d.revision["metadata"]["name"] == r_old["metadata"]["name"]


def older_kruise_py_revision(template: dict[str, Any], name: str, number: int = 1) -> dict[str, Any]:
    """A revision as kruise-py wrote it before Go shape: the template as stored, another hash."""
    r = new_revision(sts(template), template, number, 0)
    r["data"] = {"spec": {"template": {**copy.deepcopy(template), "$patch": "replace"}}}
    r["metadata"]["name"] = name
    r["metadata"]["labels"][HISTORY_HASH_LABEL] = name.rsplit("-", 1)[-1]
    return r


def test_equal_revision_is_by_content() -> None:
    go = new_revision(sts(), TEMPLATE, 1, 0)
    older = older_kruise_py_revision(TEMPLATE, "web-older")
    assert go["data"] != older["data"]
    assert equal_revision(go, older) and equal_revision(older, go)
    assert not equal_revision(go, older_kruise_py_revision(with_image("nginx:2"), "web-x"))
    # Values that only Go's decoding makes equal: quantity spelling, omitempty zero values
    a = {
        **TEMPLATE,
        "spec": {
            "containers": [
                {"name": "main", "image": "nginx:1.25", "resources": {"limits": {"cpu": "1000m"}}}
            ],
            "hostNetwork": False,
        },
    }
    b = {
        **TEMPLATE,
        "spec": {
            "containers": [{"name": "main", "image": "nginx:1.25", "resources": {"limits": {"cpu": 1}}}]
        },
    }
    assert equal_revision(older_kruise_py_revision(a, "web-a"), older_kruise_py_revision(b, "web-b"))


def test_decide_reuses_an_older_kruise_py_revision_by_content() -> None:
    older = older_kruise_py_revision(TEMPLATE, "web-5d8c6f7b9")
    d = decide_update_revision(sts(), [older])
    assert d.action == "reuse"
    assert d.revision["metadata"]["name"] == "web-5d8c6f7b9"
    assert d.revision["data"] == older["data"]  # data is immutable: nothing rewritten


def test_decide_bumps_an_older_kruise_py_revision_on_rollback() -> None:
    older = older_kruise_py_revision(TEMPLATE, "web-older", 1)
    r2 = new_revision(sts(), with_image("nginx:2"), 2, 0)
    d = decide_update_revision(sts(), [older, r2])
    assert (d.action, d.revision["metadata"]["name"], d.revision["revision"]) == ("bump", "web-older", 3)


def test_decide_creates_a_go_shaped_revision_named_as_openkruise_names_it() -> None:
    older = older_kruise_py_revision(TEMPLATE, "web-older", 1)
    d = decide_update_revision(sts(with_image("nginx:2")), [older])
    assert d.action == "create"
    # from hack/gotypes (case unit-template-nginx-2)
    assert d.revision["metadata"]["name"] == "web-7dbcd9cdb4"
    assert d.revision["metadata"]["labels"][HISTORY_HASH_LABEL] == "7dbcd9cdb4"


def test_revision_content_memo_is_keyed_by_uid_and_resource_version() -> None:
    r = new_revision(sts(), TEMPLATE, 1, 0)
    r["metadata"].update(uid="u-1", resourceVersion="5")
    other = copy.deepcopy(r)
    other["metadata"]["resourceVersion"] = "6"
    other["data"] = revision_data(with_image("nginx:2"))
    assert revision_content(r) == revision_bytes(revision_data(TEMPLATE))
    assert revision_content(other) == revision_bytes(revision_data(with_image("nginx:2")))
    assert revision_content(r) == revision_bytes(revision_data(TEMPLATE))


def test_decide_collision_increments_count() -> None:
    # A revision that has the candidate's name but different data: a hash collision
    expected_name = new_revision(sts(), TEMPLATE, 1, 0)["metadata"]["name"]
    squatter = new_revision(sts(), with_image("other"), 1, 0)
    squatter["metadata"]["name"] = expected_name
    d = decide_update_revision(sts(), [squatter])
    assert d.action == "create"
    assert d.collision_count == 1
    assert d.revision["metadata"]["name"] == "web-" + hash_revision(revision_data(TEMPLATE), 1)
    assert d.revision["revision"] == 2


def test_decide_uses_status_collision_count() -> None:
    d = decide_update_revision(sts(collision_count=4), [])
    assert d.collision_count == 4
    assert d.revision["metadata"]["name"] == "web-" + hash_revision(revision_data(TEMPLATE), 4)


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=8))
def test_decide_sequence_of_template_changes(images: list[str]) -> None:
    """Applying decisions in a loop: names are unique per template, numbers strictly increase, and
    the update revision always holds the current template."""
    revisions: list[dict[str, Any]] = []
    collision = 0
    names_by_image: dict[str, str] = {}
    for image in images:
        s = sts(with_image(image), collision_count=collision)
        d = decide_update_revision(s, revisions)
        collision = d.collision_count
        if d.action == "create":
            revisions.append(d.revision)
        elif d.action == "bump":
            revisions = [
                d.revision if r["metadata"]["name"] == d.revision["metadata"]["name"] else r
                for r in revisions
            ]
        assert revision_template(d.revision) == go_template(with_image(image))
        assert d.revision["revision"] == max(r["revision"] for r in revisions)
        name = d.revision["metadata"]["name"]
        assert names_by_image.setdefault(image, name) == name
        assert len({r["metadata"]["name"] for r in revisions}) == len(revisions)


# --------------------------------------------------------------------------------------------------
# Current revision and truncation


def test_current_revision_name() -> None:
    r1 = new_revision(sts(), TEMPLATE, 1, 0)
    name1 = r1["metadata"]["name"]
    assert current_revision_name(sts(current=name1), [r1], "upd") == name1
    assert current_revision_name(sts(current="gone"), [r1], "upd") == "upd"
    assert current_revision_name(sts(), [r1], "upd") == "upd"  # a new set


def rev(name: str, number: int) -> dict[str, Any]:
    return {"metadata": {"name": name}, "revision": number}


@pytest.mark.parametrize(
    ("numbers", "live", "limit", "expected"),
    [
        ([1, 2, 3, 4, 5], {"r5"}, 10, []),
        ([1, 2, 3, 4, 5], {"r5"}, 2, ["r1", "r2"]),
        ([1, 2, 3, 4, 5], {"r5", "r1"}, 2, ["r2"]),  # a pod still references r1: kept, not counted
        ([5, 3, 1, 4, 2], {"r5"}, 0, ["r1", "r2", "r3", "r4"]),
        ([1, 2], set(), -1, ["r1", "r2"]),
    ],
)
def test_revisions_to_delete(numbers: list[int], live: set[str], limit: int, expected: list[str]) -> None:
    assert revisions_to_delete([rev(f"r{n}", n) for n in numbers], live, limit) == expected


# --------------------------------------------------------------------------------------------------
# Pod revision label


def test_pod_revision_matching() -> None:
    p = pod("web-6d8d446889")
    assert revision_of_pod(p) == "web-6d8d446889"
    assert revision_of_pod(pod(None)) == ""
    assert revision_of_pod({}) == ""
    assert pod_at_revision(p, "web-6d8d446889")
    assert not pod_at_revision(p, "6d8d446889")
    # only the loose check (unordered sort) accepts the part after the last '-'
    assert pod_updated_loose(p, "web-6d8d446889")
    assert pod_updated_loose(pod("6d8d446889"), "web-6d8d446889")
    assert pod_updated_loose(p, "other-6d8d446889")
    assert not pod_updated_loose(p, "web-abc")
    assert not pod_updated_loose(pod(None), "web-abc")


def test_go_json_matches_go_encoding() -> None:
    # Go's encoding/json: sorted keys, compact, UTF-8 kept, <>& and U+2028/9 escaped.
    from kruise_py.core.revisions import go_json

    assert go_json({"b": "<a&b>", "a": ["é", "\u2028"], "$patch": "replace"}) == (
        '{"$patch":"replace","a":["é","\\u2028"],"b":"\\u003ca\\u0026b\\u003e"}'
    )
