"""The lean admission server's pure parts (kruise_py/webhooks/server.py, the P5 benchmark fix):
the JSON patch it builds and the AdmissionReview answers."""

from __future__ import annotations

import base64
import copy
import json

import jsonpatch
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruise_py.webhooks.server import Rejected, json_patch, review_response

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "n", "labels": {"app": "a"}},
    "spec": {"containers": [{"name": "app", "image": "busybox"}]},
}


def injected(pod: dict) -> dict:
    new = copy.deepcopy(pod)
    new["metadata"]["annotations"] = {"kruise.io/sidecarset-injected-list": "s", "a/b~c": "x"}
    new["spec"]["containers"].insert(0, {"name": "side", "image": "busybox"})
    new["spec"]["volumes"] = [{"name": "v", "emptyDir": {}}]
    del new["metadata"]["labels"]
    return new


def test_patch_applies_to_the_injected_pod() -> None:
    new = injected(POD)
    ops = json_patch(POD, new)
    assert jsonpatch.apply_patch(POD, ops) == new
    assert {o["path"] for o in ops} == {
        "/metadata/annotations",
        "/metadata/labels",
        "/spec/containers",
        "/spec/volumes",
    }


# No integers next to booleans: Python's True == 1 is not JSON's (and pods do not mix them).
json_values = st.recursive(
    st.none() | st.booleans() | st.text(max_size=3),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=8,
)
objects = st.dictionaries(
    st.sampled_from(["metadata", "spec", "status", "a/b", "~"]), json_values, max_size=4
)


@given(objects, objects)
def test_patch_turns_any_object_into_any_other(old: dict, new: dict) -> None:
    assert jsonpatch.apply_patch(old, json_patch(old, new)) == new


def test_review_allows_with_a_patch_or_without() -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u1", "object": POD},
    }
    r = review_response(review, injected)["response"]
    assert r["uid"] == "u1" and r["allowed"] is True and r["patchType"] == "JSONPatch"
    assert jsonpatch.apply_patch(POD, json.loads(base64.b64decode(r["patch"]))) == injected(POD)
    r = review_response(review, lambda pod: None)["response"]
    assert r == {"uid": "u1", "allowed": True}


@pytest.mark.parametrize("code", [400, 503])
def test_rejection_is_an_answer(code: int) -> None:
    def reject(pod: dict) -> None:
        raise Rejected("no", code)

    r = review_response({"request": {"uid": "u", "object": POD}}, reject)["response"]
    assert r == {"uid": "u", "allowed": False, "status": {"code": code, "message": "no"}}


def test_unexpected_errors_propagate_to_the_server() -> None:
    # The server answers HTTP 500 for these: a webhook failure, decided by the failurePolicy.
    def broken(pod: dict) -> None:
        raise ValueError("bug")

    with pytest.raises(ValueError):
        review_response({"request": {"uid": "u", "object": POD}}, broken)
