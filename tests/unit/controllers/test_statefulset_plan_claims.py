"""Planner: claims that follow their templates (volumeClaimUpdateStrategy OnPodRollingUpdate) and
status.volumeClaims [OpenKruise rollingUpdateStatefulsetPods, statefulset_resize_pvc.go]."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kruise_py.controllers.statefulset import plan as planner
from kruise_py.core.claims import FILE_SYSTEM_RESIZE_PENDING

from .builders import (
    World,
    inplace_names,
    make_pod,
    make_sts,
    pname,
    revision_of,
    rname,
    rolling_world,
    update_deletes,
)
from .test_statefulset_plan_invariants import build, resolved_max_unavailable, scenarios

Obj = dict[str, Any]


def claim(
    name: str,
    request: str = "1Gi",
    capacity: str | None = "1Gi",
    *,
    phase: str = "Bound",
    cls: str | None = "fast",
    fs_pending: bool = False,
    deleting: bool = False,
) -> Obj:
    c: Obj = {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "1"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": request}}},
        "status": {"phase": phase},
    }
    if cls is not None:
        c["spec"]["storageClassName"] = cls
    if capacity is not None:
        c["status"]["capacity"] = {"storage": capacity}
    if fs_pending:
        c["status"]["conditions"] = [{"type": FILE_SYSTEM_RESIZE_PENDING, "status": "True"}]
    if deleting:
        c["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return c


def follow(
    sts: Obj,
    size: str = "2Gi",
    strategy: str | None = "OnPodRollingUpdate",
    templates: tuple[str, ...] = ("data",),
) -> Obj:
    """``sts`` with claim templates of ``size`` (class "fast") and the given claim update strategy."""
    out = copy.deepcopy(sts)
    out["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": t},
            "spec": {
                "storageClassName": "fast",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
            },
        }
        for t in templates
    ]
    if strategy is not None:
        out["spec"]["volumeClaimUpdateStrategy"] = {"type": strategy}
    return out


def world(
    n: int = 3,
    *,
    template_change: bool = True,
    size: str = "2Gi",
    strategy: str | None = "OnPodRollingUpdate",
    claims: dict[int, Obj] | None = None,
    templates: tuple[str, ...] = ("data",),
    **kw: Any,
) -> World:
    """n pods (Parallel), each with a bound 1Gi claim per template; the templates ask for ``size``.
    ``template_change``: the pod template moved on too (pods at the old revision), else only storage."""
    kw.setdefault("parallel", True)
    kw.setdefault("update_policy", "InPlaceIfPossible")
    if template_change:
        w, _, _ = rolling_world(n, **kw)
    else:
        sts = make_sts(n, **kw)
        r = revision_of(sts, 1)
        w = World(
            {**sts, "status": {"currentRevision": rname(r), "updateRevision": rname(r), "collisionCount": 0}},
            revisions=[r],
        )
        w.add(*(make_pod(w.sts, i, r) for i in range(n)))
    w.sts = follow(w.sts, size, strategy, templates)
    for i in range(n):
        for t in templates:
            w.claims[f"{t}-web-{i}"] = claim(f"{t}-web-{i}")
    for c in (claims or {}).values():
        w.claims[c["metadata"]["name"]] = c
    return w


def apply_resizes(w: World, p: planner.Plan) -> None:
    for r in p.claim_resizes:
        c = w.claims[r.name]
        c["spec"]["resources"]["requests"]["storage"] = r.storage
        c["metadata"].setdefault("annotations", {})["apps.kruise.io/owned-by-asts"] = "web"


def resized(p: planner.Plan) -> list[str]:
    return [r.name for r in p.claim_resizes]


def grow(w: World, name: str, *, fs_pending: bool = False) -> None:
    """The resizer (and, unless ``fs_pending``, the kubelet) finished the claim's resize."""
    c = w.claims[name]
    if fs_pending:
        c["status"]["conditions"] = [{"type": FILE_SYSTEM_RESIZE_PENDING, "status": "True"}]
    else:
        c["status"]["capacity"] = {"storage": c["spec"]["resources"]["requests"]["storage"]}
        c["status"].pop("conditions", None)


# --------------------------------------------------------------------------------------------------
# claims are resized before their pod is updated, under maxUnavailable


@pytest.mark.parametrize(
    "max_u,expected",
    [(1, ["data-web-2"]), (2, ["data-web-2", "data-web-1"]), (3, ["data-web-2", "data-web-1", "data-web-0"])],
)
def test_first_round_resizes_the_claims_of_the_first_max_unavailable_pods(
    max_u: int, expected: list[str]
) -> None:
    p = world(max_unavailable=max_u).plan()
    assert resized(p) == expected
    assert [r.storage for r in p.claim_resizes] == ["2Gi"] * max_u
    assert [r.pod for r in p.claim_resizes] == [n.replace("data-", "") for n in expected]
    assert not p.pod_writes and not p.deletes  # the pods wait for their claims
    assert p.pod_plan["web-2"].startswith("waiting: claims resizing: data-web-2")


def test_the_pod_waits_until_the_resize_is_done_then_updates_in_place() -> None:
    w = world(max_unavailable=1)
    apply_resizes(w, w.step())
    # Request patched, capacity not yet: still waiting, and still holding the budget.
    p = w.step()
    assert (
        not resized(p) and not inplace_names(p) and p.pod_plan["web-1"].startswith("blocked: maxUnavailable")
    )
    grow(w, "data-web-2", fs_pending=True)  # only the node's file-system resize is left: good enough
    p = w.step()
    assert inplace_names(p) == ["web-2"] and not resized(p)
    assert p.claim_resizes == [] and "web-1" not in inplace_names(p)


@pytest.mark.parametrize("fs_pending", [False, True])
def test_recreate_waits_for_the_claims_too(fs_pending: bool) -> None:
    w = world(max_unavailable=1, update_policy="ReCreate")
    apply_resizes(w, w.step())
    assert not update_deletes(w.step())
    grow(w, "data-web-2", fs_pending=fs_pending)
    assert update_deletes(w.step()) == ["web-2"]


def test_a_full_rollout_expands_every_claim_and_updates_every_pod_once() -> None:
    w = world(max_unavailable=1)
    for _ in range(40):
        p = w.step(settle_inplace=True)
        apply_resizes(w, p)
        for name, c in w.claims.items():
            if c["spec"]["resources"]["requests"]["storage"] == "2Gi":
                grow(w, name)
    assert sorted(w.inplace) == ["web-0", "web-1", "web-2"]
    assert all(c["spec"]["resources"]["requests"]["storage"] == "2Gi" for c in w.claims.values())
    assert w.sts["status"]["volumeClaims"] == [
        {"volumeClaimName": "data", "compatibleReplicas": 3, "compatibleReadyReplicas": 3}
    ]
    assert w.sts["status"]["updatedReplicas"] == 3


def test_resize_and_pod_update_never_exceed_max_unavailable() -> None:
    """Each round, pods whose claims are resizing plus pods being updated stay within maxUnavailable."""
    w = world(5, max_unavailable=2)
    busy_max = 0
    for _ in range(40):
        p = w.step(settle_inplace=True)
        apply_resizes(w, p)
        resizing = {
            n
            for n, c in w.claims.items()
            if c["status"].get("capacity", {}).get("storage") != "2Gi"
            and c["spec"]["resources"]["requests"]["storage"] == "2Gi"
        }
        busy_max = max(busy_max, len(resizing | set(inplace_names(p))))
        for name in resizing:
            grow(w, name)
    assert busy_max <= 2 and sorted(w.inplace) == [f"web-{i}" for i in range(5)]


# --------------------------------------------------------------------------------------------------
# only the storage changed


@pytest.mark.parametrize("policy", ["InPlaceIfPossible", "ReCreate"])
def test_storage_only_change_resizes_claims_and_leaves_pods_alone(policy: str) -> None:
    w = world(template_change=False, update_policy=policy, max_unavailable=1)
    p = w.step()
    assert resized(p) == ["data-web-2"] and not p.pod_writes and not p.deletes
    apply_resizes(w, p)
    p = w.step()  # web-2's claim requests 2Gi (capacity 1Gi): web-2 holds the budget
    assert not resized(p)
    grow(w, "data-web-2")
    p = w.step()
    assert resized(p) == ["data-web-1"] and not p.pod_writes and not p.deletes
    for _ in range(10):
        apply_resizes(w, p)
        for name in list(w.claims):
            grow(w, name)
        p = w.step()
        assert not p.pod_writes and not p.deletes
    assert all(c["status"]["capacity"]["storage"] == "2Gi" for c in w.claims.values())


def test_a_pod_whose_claims_lag_counts_as_unavailable() -> None:
    # web-0 is at the update revision but its claim's file system has not grown yet.
    w = world(
        template_change=False,
        max_unavailable=1,
        claims={0: claim("data-web-0", "2Gi", "1Gi", fs_pending=True)},
    )
    p = w.plan()
    assert not resized(p)
    assert p.pod_plan["web-2"].startswith("blocked: maxUnavailable 1 reached (1 unavailable)")


def test_a_pending_claim_holds_its_pod() -> None:
    # No provisioner: the claim never binds, so its pod is never updated (as in OpenKruise).
    w = world(1, claims={0: claim("data-web-0", "2Gi", None, phase="Pending")})
    p = w.plan()
    assert not resized(p) and not inplace_names(p)
    assert p.pod_plan["web-0"] == "waiting: claims resizing: data-web-0 (not bound)"


# --------------------------------------------------------------------------------------------------
# what does not resize


@pytest.mark.parametrize("strategy", [None, "OnDelete"])
def test_on_delete_expands_nothing(strategy: str | None) -> None:
    p = world(strategy=strategy, max_unavailable=1).plan()
    assert not p.claim_resizes
    assert inplace_names(p) == ["web-2"]  # the rollout goes on as before


def test_a_claim_that_differs_in_more_than_size_stops_the_rollout() -> None:
    w = world(max_unavailable=2, claims={2: claim("data-web-2", cls="slow")})
    p = w.plan()
    msg = "failed to update pvc data-web-2: contains diff other than spec resource, wait pvc to be deleted"
    assert ("Warning", "FailedUpdatePVC", msg) in p.events
    assert p.conditions == [(planner.CONDITION_FAILED_UPDATE_PVC, msg)]
    assert p.error and not p.claim_resizes and not p.pod_writes and not p.deletes
    assert p.pod_plan["web-1"].startswith("blocked: claim data-web-2 differs")


def test_claims_being_deleted_or_missing_are_skipped() -> None:
    w = world(1, claims={0: claim("data-web-0", deleting=True)})
    p = w.plan()
    assert not p.claim_resizes and inplace_names(p) == ["web-0"]
    del w.claims["data-web-0"]
    p = w.plan()
    assert not p.claim_resizes and inplace_names(p) == ["web-0"]


def test_only_the_templates_that_grew_are_resized() -> None:
    w = world(1, templates=("data", "logs"))
    w.sts["spec"]["volumeClaimTemplates"][1]["spec"]["resources"]["requests"]["storage"] = "1Gi"
    p = w.step()
    assert resized(p) == ["data-web-0"]
    apply_resizes(w, p)
    grow(w, "data-web-0")
    assert inplace_names(w.step()) == ["web-0"]


def test_a_larger_claim_than_its_template_is_fine() -> None:
    # Shrinking is rejected at admission; a claim grown by hand is left as it is.
    p = world(1, size="1Gi", claims={0: claim("data-web-0", "5Gi", "5Gi")}).plan()
    assert not p.claim_resizes and inplace_names(p) == ["web-0"]


# --------------------------------------------------------------------------------------------------
# status.volumeClaims


@pytest.mark.parametrize("strategy", ["OnPodRollingUpdate", "OnDelete", None])
def test_volume_claims_status_counts_compatible_and_ready_claims(strategy: str | None) -> None:
    claims = {
        0: claim("data-web-0", "2Gi", "2Gi"),
        1: claim("data-web-1", "2Gi", "1Gi"),
        2: claim("data-web-2", "1Gi", "1Gi"),
    }
    p = world(strategy=strategy, claims=claims, max_unavailable=1).plan()
    assert p.status is not None
    assert p.status["volumeClaims"] == [
        {"volumeClaimName": "data", "compatibleReplicas": 2, "compatibleReadyReplicas": 1}
    ]


def test_volume_claims_status_without_templates_is_removed() -> None:
    w, _, _ = rolling_world(2)
    p = w.plan()
    assert p.status is not None and p.status["volumeClaims"] is None


def test_volume_claims_status_is_not_rewritten_when_unchanged() -> None:
    w = world(template_change=False, size="1Gi")
    p = w.step()
    assert p.status is not None and p.status["volumeClaims"][0]["compatibleReadyReplicas"] == 3
    assert w.step().status is None


# --------------------------------------------------------------------------------------------------
# the maxUnavailable invariant with claims (test_statefulset_plan_invariants.py's, extended)

CLAIM_KINDS = ("fine", "fine", "small", "resizing", "fs_pending", "unbound", "none")


@st.composite
def claim_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    sc = draw(scenarios())
    sc["claims"] = draw(st.lists(st.sampled_from(CLAIM_KINDS), min_size=sc["n"], max_size=sc["n"]))
    return sc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim_scenarios())
def test_resizes_and_updates_never_exceed_max_unavailable(sc: dict[str, Any]) -> None:
    """U0 also holds the otherwise available pods whose claims lack capacity; a pod whose claim
    gets a resize planned is newly unavailable too."""
    w, u0 = build(sc)
    n = sc["n"]
    w.sts = follow(w.sts, "2Gi")
    states = {
        "fine": ("2Gi", "2Gi", {}),
        "small": ("1Gi", "1Gi", {}),
        "resizing": ("2Gi", "1Gi", {}),
        "fs_pending": ("2Gi", "1Gi", {"fs_pending": True}),
        "unbound": ("2Gi", None, {"phase": "Pending"}),
    }
    for i, kind in enumerate(sc["claims"]):
        if kind != "none":
            req, cap, kw = states[kind]
            w.claims[f"data-web-{i}"] = claim(f"data-web-{i}", req, cap, **kw)
        pod = w.pods.get(f"web-{i}")
        if (
            kind in ("resizing", "fs_pending", "unbound")
            and pod is not None
            and not pod["metadata"].get("deletionTimestamp")
        ):
            u0.add(f"web-{i}")  # healthy or not, it is unavailable
    p = w.plan()
    in_range = {f"web-{i}" for i in range(n)}
    touched = (
        [pname(d.pod) for d in p.deletes]
        + [pname(x.pod) for x in p.pod_writes if x.reason == "inplace"]
        + [r.pod for r in p.claim_resizes]
    )
    newly = {name for name in touched if name in in_range and name not in u0}
    max_u = resolved_max_unavailable(sc["max_u"], n)
    assert len(newly) <= max(0, max_u - len(u0)), (sorted(newly), sorted(u0), max_u)
    # A pod is never updated in the round its claims are resized, nor while they are not done.
    waiting = {r.pod for r in p.claim_resizes} | {
        f"web-{i}" for i, k in enumerate(sc["claims"]) if k in ("resizing", "unbound")
    }
    assert not waiting & (
        {pname(d.pod) for d in p.deletes if d.reason == "update"}
        | {pname(x.pod) for x in p.pod_writes if x.reason == "inplace"}
    )
