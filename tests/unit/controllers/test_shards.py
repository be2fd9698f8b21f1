"""Sharded mode's labels (controllers/shards.py, controllers/common.py): what the webhook sets on
owners, which owner a pod's bucket follows, and the label on pods the controllers create."""

from __future__ import annotations

import copy
from typing import Any

from kruise_py.controllers.common import with_shard_label
from kruise_py.controllers.shards import label_owner, pod_owner, wants_label
from kruise_py.runtime import sharding as sh


def _owner(name: str = "web", ns: str = "prod", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": dict(labels)}}


def test_the_webhook_labels_an_owner_with_its_bucket_from_namespace_and_name() -> None:
    obj = _owner(app="web")
    label_owner(obj)
    assert obj["metadata"]["labels"] == {"app": "web", sh.SHARD_LABEL: str(sh.bucket_of("prod", "web"))}
    assert wants_label(obj) is None  # already right: nothing to patch


def test_a_wrong_or_missing_label_is_corrected_and_generate_name_is_left_alone() -> None:
    wrong = _owner(**{sh.SHARD_LABEL: "999"})
    assert wants_label(wrong) == {sh.SHARD_LABEL: str(sh.bucket_of("prod", "web"))}
    bare: dict[str, Any] = {"metadata": {"name": "x", "namespace": "n"}}
    label_owner(bare)
    assert sh.SHARD_LABEL in bare["metadata"]["labels"]
    generated: dict[str, Any] = {"metadata": {"generateName": "web-", "namespace": "n"}}
    label_owner(generated)
    assert generated == {"metadata": {"generateName": "web-", "namespace": "n"}}


def _pod(*refs: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "web-0", "namespace": "prod", "ownerReferences": list(refs)}}


def test_a_pod_follows_its_kruise_controller_only() -> None:
    asts = {"apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "name": "web", "controller": True}
    bcj = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "BroadcastJob", "name": "job", "controller": True}
    upstream = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": True}
    not_controller = {**asts, "controller": False}
    assert pod_owner(_pod(asts)) == ("prod", "web")
    assert pod_owner(_pod(bcj)) == ("prod", "job")
    assert pod_owner(_pod(upstream)) is None
    assert pod_owner(_pod(not_controller)) is None
    assert pod_owner({"metadata": {"name": "p"}}) is None


def test_created_pods_carry_the_owner_bucket_without_touching_the_planned_pod() -> None:
    pod = {"metadata": {"name": "web-0", "labels": {"app": "web"}}, "spec": {}}
    before = copy.deepcopy(pod)
    out = with_shard_label(pod, ("prod", "web"))
    assert out["metadata"]["labels"] == {"app": "web", sh.SHARD_LABEL: str(sh.bucket_of("prod", "web"))}
    assert pod == before and out["spec"] is pod["spec"]
