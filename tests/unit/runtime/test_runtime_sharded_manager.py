"""Sharded mode's wiring in the manager (runtime/manager.py): scoped resources carry the held
buckets in their server-side selector and never share an unscoped twin's informer."""

from __future__ import annotations

from typing import cast

from kruise_py.runtime import sharding as sh
from kruise_py.runtime.client import KubeClient
from kruise_py.runtime.manager import Manager, ManagerOptions, Resource

ALL = Resource("v1", "pods")
STS_PODS = Resource("v1", "pods", label_selector="statefulset.kubernetes.io/pod-name")
SETS = Resource("apps.kruise.io/v1beta1", "statefulsets")


def _manager(sharding: bool) -> Manager:
    return Manager(cast(KubeClient, object()), ManagerOptions(metrics_port=0, sharding=sharding))


def test_without_sharding_scoped_is_the_resource_itself() -> None:
    m = _manager(False)
    assert m.scoped(STS_PODS) is STS_PODS


def test_scoped_resources_select_the_held_buckets_server_side() -> None:
    m = _manager(True)
    pods, sets = m.scoped(STS_PODS), m.scoped(SETS)
    m.on_event(pods, lambda *_: None)
    m.on_event(sets, lambda *_: None)
    m.on_event(ALL, lambda *_: None)
    m.wire()
    # Not a view of the every-pod twin: a view's selection is local, the shard's must be the server's.
    assert m.views == {}
    nothing = f"{sh.SHARD_LABEL},!{sh.SHARD_LABEL}"
    assert m.informers[pods.key][0].label_selector == f"statefulset.kubernetes.io/pod-name,{nothing}"
    assert m.informers[sets.key][0].label_selector == nothing
    m.buckets = frozenset({7, 3})
    assert m._selector(pods) == f"statefulset.kubernetes.io/pod-name,{sh.SHARD_LABEL} in (3,7)"
    m.buckets = frozenset(range(sh.BUCKETS))
    assert m._selector(sets) is None and m._selector(pods) == "statefulset.kubernetes.io/pod-name"


def test_keys_tell_the_scopes_apart() -> None:
    m = _manager(True)
    assert ALL.key != m.scoped(ALL).key


def test_an_empty_bucket_set_selects_nothing_and_all_select_everything() -> None:
    assert sh.label_selector(frozenset()) == f"{sh.SHARD_LABEL},!{sh.SHARD_LABEL}"
    assert sh.label_selector(range(sh.BUCKETS)) is None
