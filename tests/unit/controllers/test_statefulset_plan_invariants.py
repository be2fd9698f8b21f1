"""Planner invariants with hypothesis (design §2: "a plan never makes more than maxUnavailable pods
unavailable").

Precisely, from spec §3.1/§3.2: let U0 be the in-range slots that are unavailable before the plan — the
pod is missing (being created), not Running+Ready, terminating, Failed/Succeeded, lifecycle not
Normal, in-place update not completed, or Ready for less than minReadySeconds — and let maxU =
max(1, floor(maxUnavailable over spec.replicas)). The pods the plan makes newly unavailable are the
in-range pods outside U0 that it deletes (update, specified delete) or patches in place. Because an
already-unavailable outdated pod may be updated even when the budget is full, the bound is on the
newly unavailable ones only:

    |newly unavailable| <= max(0, maxU - |U0|)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kruise_py.core.revisions import REVISION_LABEL

from .builders import NOW, make_pod, pname, rname, rolling_world, ts

KINDS = ("ready", "ready", "ready", "unready", "terminating", "failed", "young", "missing")
WEIGHTS = {
    "priorityStrategy": {"weightPriority": [{"weight": 10, "matchSelector": {"matchLabels": {"hot": "1"}}}]}
}


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 8))
    parallel = draw(st.booleans())
    if parallel:
        max_u: int | str = draw(st.one_of(st.integers(1, n + 1), st.integers(0, 100).map(lambda x: f"{x}%")))
    else:
        max_u = 1
    return {
        "n": n,
        "parallel": parallel,
        "max_u": max_u,
        "partition": draw(st.integers(0, n + 1)),
        "policy": draw(st.sampled_from(["ReCreate", "InPlaceIfPossible", "InPlaceOnly"])),
        "env_change": draw(st.booleans()),
        "unordered": draw(st.sampled_from([None, {}, WEIGHTS])) if parallel else None,
        "min_ready": draw(st.sampled_from([0, 30])),
        "kinds": draw(st.lists(st.sampled_from(KINDS), min_size=n, max_size=n)),
        "updated": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        "specified": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        "hot": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        "condemned": draw(st.lists(st.sampled_from(KINDS[:-1]), max_size=2)),
    }


def resolved_max_unavailable(value: int | str, n: int) -> int:
    if isinstance(value, str):
        return max(1, int(value[:-1]) * n // 100)
    return max(1, value)


def build(sc: dict[str, Any]) -> tuple[Any, set[str]]:
    """The world and U0 (the names of unavailable in-range slots, computed independently of the planner)."""
    n = sc["n"]
    missing = {i for i, k in enumerate(sc["kinds"]) if k == "missing"}
    w, old, _new = rolling_world(
        n,
        parallel=sc["parallel"],
        max_unavailable=sc["max_u"],
        partition=sc["partition"],
        update_policy=sc["policy"],
        unordered=sc["unordered"],
        min_ready=sc["min_ready"],
        updated={i for i, u in enumerate(sc["updated"]) if u},
        missing=missing,
        old_env=[{"name": "A", "value": "1"}] if sc["env_change"] else None,
    )
    for j, kind in enumerate(sc["condemned"]):
        w.add(make_pod(w.sts, n + j, old))
        sc["kinds"] = [*sc["kinds"], kind]
    unavailable: set[str] = set()
    for i, kind in enumerate(sc["kinds"]):
        name = f"web-{i}"
        if kind == "missing":
            unavailable.add(name)
            continue
        pod = w.pods[name]
        if i < n and sc["specified"][i]:
            pod["metadata"]["labels"]["apps.kruise.io/specified-delete"] = "true"
        if i < n and sc["hot"][i]:
            pod["metadata"]["labels"]["hot"] = "1"
        if kind == "unready":
            pod["status"]["conditions"][1]["status"] = "False"
        elif kind == "terminating":
            pod["metadata"]["deletionTimestamp"] = ts(NOW)
        elif kind == "failed":
            pod["status"]["phase"] = "Failed"
        elif kind == "young":
            pod["status"]["conditions"][1]["lastTransitionTime"] = ts(NOW - timedelta(seconds=10))
        if i < n and (
            kind in ("unready", "terminating", "failed") or (kind == "young" and sc["min_ready"] > 10)
        ):
            unavailable.add(name)
    return w, unavailable


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_never_exceeds_max_unavailable(sc: dict[str, Any]) -> None:
    w, u0 = build(sc)
    n = sc["n"]
    in_range = {f"web-{i}" for i in range(n)}
    p = w.plan()
    touched = [pname(d.pod) for d in p.deletes] + [
        pname(x.pod) for x in p.pod_writes if x.reason == "inplace"
    ]
    newly = {name for name in touched if name in in_range and name not in u0}
    max_u = resolved_max_unavailable(sc["max_u"], n)
    assert len(newly) <= max(0, max_u - len(u0)), (sorted(newly), sorted(u0), max_u)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_structural_invariants(sc: dict[str, Any]) -> None:
    w, u0 = build(sc)
    n = sc["n"]
    p = w.plan()
    deleted = [pname(d.pod) for d in p.deletes]
    inplace = [pname(x.pod) for x in p.pod_writes if x.reason == "inplace"]
    # no pod is deleted twice, or both deleted and patched in place, or deleted and re-created at once
    assert len(deleted) == len(set(deleted))
    assert not set(deleted) & set(inplace)
    assert not set(deleted) & {pname(c.pod) for c in p.creates}
    # terminating pods are never deleted again
    assert not {d for d in deleted if w.pods[d]["metadata"].get("deletionTimestamp")}
    # update-deleted or in-place-patched pods were outdated; in-place patches target the update revision
    for name in [pname(d.pod) for d in p.deletes if d.reason == "update"] + inplace:
        assert w.pods[name]["metadata"]["labels"][REVISION_LABEL] != p.update_revision
    for x in p.pod_writes:
        if x.reason == "inplace":
            assert x.revision == p.update_revision
    # ordered update never touches the partition (specified delete may)
    if sc["unordered"] is None:
        for name in [pname(d.pod) for d in p.deletes if d.reason == "update"] + inplace:
            assert int(name.rsplit("-", 1)[1]) >= sc["partition"]
    # OrderedReady: nothing is updated while any replica is unavailable (P4)
    if not sc["parallel"] and u0:
        assert not [d for d in p.deletes if d.reason in ("update", "specified-delete")] and not inplace
    # InPlaceOnly never recreates for an update
    if sc["policy"] == "InPlaceOnly":
        assert not [d for d in p.deletes if d.reason == "update"]
    # creates only fill missing in-range slots, at a known revision
    revs = {rname(r) for r in w.revisions} | {p.update_revision}
    for c in p.creates:
        assert 0 <= c.ordinal < n and f"web-{c.ordinal}" not in w.pods
        assert c.pod["metadata"]["labels"][REVISION_LABEL] in revs
