"""Advanced StatefulSet rollouts, each against a baseline measured on the same control plane in the
same run (scenarios P1 and P2 of `python -m bench`, see bench/README.md).

P1: an in-place image rollout of a big set with ``maxUnavailable: 100%`` and no simulator delays,
    next to a bare async client (our KubeClient, no controller) issuing the same writes per pod at
    the same concurrency limit on a same-sized group of bare pods.
P2: a 100-pod in-place rollout (``maxUnavailable: 10``) with realistic simulator delays, next to
    the upstream ``apps/v1`` StatefulSet's RollingUpdate of the same pods, with a timeline of pods
    updated over time for both (plotted by bench.report).

Completion is read from the set's status (observedGeneration, updated/ready replicas, revisions);
API writes come from the apiserver audit log (writes by the operator's user agent in the
namespace, less the simulator's).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from kruise_py.runtime.client import KubeClient, path_for

from .harness import (
    UA_PREFIX,
    Ground,
    against_ratios,
    against_runs,
    limits_used,
    loadavg,
    scenario_ground,
    wait,
)

OLD, NEW = "nginx:1.25", "nginx:1.27"
GATE = "InPlaceUpdateReady"


def kruise_set(name: str, n: int, max_u: int | str, image: str = OLD) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": n,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "readinessGates": [{"conditionType": GATE}],
                    "containers": [{"name": "app", "image": image}],
                },
            },
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": max_u},
            },
        },
    }


def upstream_set(name: str, n: int, image: str = OLD) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": n,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "updateStrategy": {"type": "RollingUpdate"},
        },
    }


def set_path(kind: str, ns: str, name: str) -> str:
    return path_for("apps.kruise.io/v1beta1" if kind == "asts" else "apps/v1", "statefulsets", ns, name)


def rolled_out(obj: dict[str, Any], n: int) -> bool:
    st = obj.get("status") or {}
    return bool(
        st.get("observedGeneration") == obj["metadata"]["generation"]
        and st.get("updatedReplicas") == n
        and st.get("readyReplicas") == n
        and st.get("currentRevision") == st.get("updateRevision")
    )


def pod_ready(p: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (p.get("status") or {}).get("conditions", [])
    )


def running_image(p: dict[str, Any], image: str) -> bool:
    """The pod runs ``image`` in its app container and is Ready."""
    sts = (p.get("status") or {}).get("containerStatuses") or []
    return pod_ready(p) and any(c.get("name") == "app" and c.get("image") == image for c in sts)


async def _watch_rollout(
    client: KubeClient,
    kind: str,
    ns: str,
    name: str,
    n: int,
    t0: float,
    timeline: bool,
    limit_s: float,
    interval: float,
    image: str = NEW,
) -> list[tuple[float, int]]:
    """Polls the set's status until rolled out; with ``timeline``, also the pods running the new
    image and Ready, as (seconds since ``t0``, count)."""
    points: list[tuple[float, int]] = []
    pods_path = path_for("v1", "pods", ns)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        obj = await client.get(set_path(kind, ns, name))
        if timeline:
            pods = (await client.list(pods_path, labelSelector=f"app={name}"))["items"]
            points.append((round(time.monotonic() - t0, 2), sum(running_image(p, image) for p in pods)))
        if rolled_out(obj, n):
            return points
        await asyncio.sleep(interval)
    raise TimeoutError(f"{kind} {ns}/{name} not rolled out after {limit_s}s")


def operator_writes(g: Ground, mark: int, ns: str | None, ua: str = "kruise-py") -> dict[str, int]:
    w = g.writes_since(mark, user_agent_prefix=ua, namespace=ns)
    if ua == "kruise-py":  # the simulator's user agent starts with kruise-py too
        w.subtract(g.writes_since(mark, user_agent_prefix="kruise-py-simulator", namespace=ns))
    return dict(+w)


def create_and_wait(g: Ground, kind: str, obj: dict[str, Any], ns: str, n: int, timeout: float) -> None:
    g.kubectl("create", "namespace", ns)
    g.apply(obj, ns)
    name = obj["metadata"]["name"]
    wait(
        lambda: rolled_out(g.api.run(g.api.client.get(set_path(kind, ns, name))), n),
        timeout,
        f"{kind} {ns}/{name} created and ready",
        interval=1,
    )


def rollout(
    g: Ground,
    kind: str,
    ns: str,
    name: str,
    n: int,
    timeout: float,
    timeline: bool = False,
    interval: float = 0.25,
    image: str = NEW,
    ua: str | None = None,
) -> dict[str, Any]:
    """Change the image, time until the status shows every pod updated and ready; ``ua``: whose
    writes to count (default: kruise-py for an Advanced StatefulSet, else the controller-manager)."""
    time.sleep(1)
    mark = g.audit_mark()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    t0 = time.monotonic()
    g.api.run(g.api.client.patch(set_path(kind, ns, name), patch, "merge"))  # CRDs: no strategic merge
    points = g.api.run(
        _watch_rollout(g.api.client, kind, ns, name, n, t0, timeline, timeout, interval, image), timeout + 60
    )
    wall = time.monotonic() - t0
    time.sleep(1)
    writes = operator_writes(
        g, mark, ns, ua or ("kruise-py" if kind == "asts" else "kube-controller-manager")
    )
    pod_writes = sum(v for k, v in writes.items() if " pods" in k)
    out: dict[str, Any] = {
        "wall_s": round(wall, 2),
        "writes": writes,
        "pod_writes_per_pod": round(pod_writes / n, 2),
        "all_writes_per_pod": round(sum(writes.values()) / n, 2),
    }
    if timeline:
        out["timeline"] = points
    return out


# -- P1 ------------------------------------------------------------------------------------------
def _state_annotation() -> str:
    # About the size of the in-place update state the controller writes.
    return json.dumps(
        {
            "revision": "web-7c9d8f6b5d",
            "updateTimestamp": "2026-11-22T12:00:00Z",
            "lastContainerStatuses": {"app": {"imageID": "docker.io/library/nginx@sha256:" + "0" * 64}},
        }
    )


async def _bare_writes(client: KubeClient, ns: str, names: list[str], annotation: str) -> None:
    """What the controller writes per pod for an in-place update: readiness gate False
    (pods/status), the image + state annotation (pods), readiness gate True (pods/status). All
    pods at once; the client's connection pool (64, as the operator's) is the concurrency limit."""

    def gate(status: str) -> dict[str, Any]:
        return {
            "status": {
                "conditions": [{"type": GATE, "status": status, "lastTransitionTime": "2026-11-22T12:00:00Z"}]
            }
        }

    async def one(name: str) -> None:
        path = path_for("v1", "pods", ns, name)
        await client.patch(f"{path}/status", gate("False"), "strategic")
        await client.patch(
            path,
            {
                "metadata": {"annotations": {"apps.kruise.io/inplace-update-state": annotation}},
                "spec": {"containers": [{"name": "app", "image": NEW}]},
            },
            "strategic",
        )
        await client.patch(f"{path}/status", gate("True"), "strategic")

    await asyncio.gather(*(one(n) for n in names))


async def _create_bare_pods(client: KubeClient, ns: str, n: int) -> list[str]:
    path = path_for("v1", "pods", ns)
    names = [f"base-{i}" for i in range(n)]
    await asyncio.gather(
        *(
            client.create(
                path,
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": nm, "labels": {"app": "base"}},
                    "spec": {"containers": [{"name": "app", "image": OLD}]},
                },
            )
            for nm in names
        )
    )
    return names


async def _count_running(client: KubeClient, ns: str, selector: str, image: str) -> int:
    pods = (await client.list(path_for("v1", "pods", ns), labelSelector=selector))["items"]
    return sum(running_image(p, image) for p in pods)


def p1(scale: float = 1.0) -> dict[str, Any]:
    n = max(4, round(1000 * scale))
    nodes = max(2, -(-n // 100))
    sim = ("--start-delay", "0", "--stop-delay", "0", "--ready-delay", "0", "--max-pods", "200")
    timeout = max(300.0, n * 0.6)
    res: dict[str, Any] = {
        "id": "P1",
        "pods": n,
        "nodes": nodes,
        "max_unavailable": "100%",
        "sim_args": list(sim),
        "operator_args": ["--qps", "0"],
    }
    with scenario_ground(nodes=nodes, sim_args=sim, operator_args=("--qps", "0")) as g:
        api = g.api
        g.kubectl("create", "namespace", "p1-base")
        create_and_wait(g, "asts", kruise_set("web", n, "100%"), "p1-kruise", n, timeout)
        names = api.run(_create_bare_pods(api.client, "p1-base", n))
        wait(
            lambda: api.run(_count_running(api.client, "p1-base", "app=base", OLD)) == n,
            timeout,
            "baseline pods running",
            interval=1,
        )
        res["load_before"] = loadavg()
        res["kruise_py"] = rollout(g, "asts", "p1-kruise", "web", n, timeout)
        # Baseline: the same writes from a bare client, to the end state (every pod Ready on the new image).
        time.sleep(1)
        mark = g.audit_mark()
        t0 = time.monotonic()
        api.run(_bare_writes(api.client, "p1-base", names, _state_annotation()), timeout)
        writes_done = time.monotonic() - t0
        wait(
            lambda: api.run(_count_running(api.client, "p1-base", "app=base", NEW)) == n,
            timeout,
            "baseline pods on the new image",
            interval=0.25,
        )
        wall = time.monotonic() - t0
        time.sleep(1)
        bw = operator_writes(g, mark, "p1-base", "bench")
        res["baseline"] = {
            "wall_s": round(wall, 2),
            "writes_done_s": round(writes_done, 2),
            "writes": bw,
            "pod_writes_per_pod": round(sum(bw.values()) / n, 2),
            "concurrency_limit": 64,
        }
        if against_runs():  # room on the nodes for OpenKruise's own set
            g.kubectl("delete", "namespace", "p1-base", "--timeout=300s")
        res.update(_against(g, "p1-kruise", n, timeout, kruise_set("web", n, "100%")))
        res["load_after"] = loadavg()
    res["ratio"] = round(res["kruise_py"]["wall_s"] / res["baseline"]["wall_s"], 2)
    res["goal"] = "kruise-py / baseline <= 1.3"
    res["goal_met"] = res["ratio"] <= 1.3
    res["summary"] = (
        f"P1 {n}-pod in-place rollout: kruise-py {res['kruise_py']['wall_s']} s vs bare client "
        f"{res['baseline']['wall_s']} s = {res['ratio']}x (goal <= 1.3x); pod writes/pod "
        f"{res['kruise_py']['pod_writes_per_pod']} vs {res['baseline']['pod_writes_per_pod']}"
    ) + _against_line(res)
    return res


def _against(
    g: Ground,
    ns: str,
    n: int,
    timeout: float,
    new_set: dict[str, Any],
    timeline: bool = False,
    interval: float = 0.25,
) -> dict[str, Any]:
    """`--against openkruise`: each operator in turn (equal limits, then each one's defaults) rolls
    a set of its own again, the image flipping between OLD and NEW: kruise-py the scenario's set in
    ``ns``, OpenKruise ``new_set``, which it creates in ``<ns prefix>-ok`` on its first turn. Its
    own set, not kruise-py's: OpenKruise 1.9 does not find kruise-py's ControllerRevisions equal
    to its own and recreates pods at a kruise-py revision instead of updating them in place
    (seen in `bench scale`), which would compare a recreate with an in-place update."""
    runs: dict[str, Any] = {}
    at = {"kruise_py": (ns, NEW)}  # where the scenario's own rollout left its set
    for kind, limits in against_runs():
        with g.running(kind, limits):
            if kind not in at:
                own = ns.split("-")[0] + "-ok"
                create_and_wait(g, "asts", new_set, own, n, timeout)
                at[kind] = (own, OLD)
            where, image = at[kind]
            image = OLD if image == NEW else NEW
            r = rollout(
                g, "asts", where, "web", n, timeout, timeline, interval, image=image, ua=UA_PREFIX[kind]
            )
            at[kind] = (where, image)
        r["client_limits"] = limits_used(limits)[kind]
        r["load"] = loadavg()
        runs[f"{kind}_{limits}"] = r
    if not runs:
        return {}
    return {"against_openkruise": runs, "kruise_py_over_openkruise": against_ratios(runs, "wall_s")}


def _against_line(res: dict[str, Any]) -> str:
    if "against_openkruise" not in res:
        return ""
    runs, q = res["against_openkruise"], res["kruise_py_over_openkruise"]
    return "; vs OpenKruise: " + ", ".join(
        f"{lim} limits kruise-py {runs[f'kruise_py_{lim}']['wall_s']} s / OpenKruise "
        f"{runs[f'openkruise_{lim}']['wall_s']} s = {q.get(lim)}x"
        for lim in ("equal", "default")
    )


# -- P2 ------------------------------------------------------------------------------------------
def p2(scale: float = 1.0, upstream: bool = True) -> dict[str, Any]:
    n = max(4, round(100 * scale))
    max_u = max(1, n // 10)
    # Smoke runs (scale < 0.5) shorten the delays too; the benchmark's are 1 s each.
    stop = start = ready = 1.0 if scale >= 0.5 else 0.2
    # A deleted pod's container stops in `stop` s too (the simulator's delete delay), so the
    # upstream recreate pays stop + deletion + scheduling + start + readiness per pod.
    sim = (
        "--stop-delay",
        str(stop),
        "--start-delay",
        str(start),
        "--ready-delay",
        str(ready),
        "--delete-delay",
        str(stop),
    )
    waves = -(-n // max_u)
    floor = waves * (stop + start + ready)
    timeout = max(600.0, n * 8.0)
    res: dict[str, Any] = {
        "id": "P2",
        "pods": n,
        "max_unavailable": max_u,
        "sim_args": list(sim),
        "operator_args": ["--qps", "0"],
        "node_side_floor_s": floor,
        "floor_rule": f"{waves} waves x (stop {stop} + start {start} + readiness {ready}) s",
    }
    with scenario_ground(nodes=4, sim_args=sim, operator_args=("--qps", "0")) as g:
        res["load_before"] = loadavg()
        create_and_wait(g, "asts", kruise_set("web", n, max_u), "p2-kruise", n, timeout)
        res["kruise_py"] = rollout(g, "asts", "p2-kruise", "web", n, timeout, timeline=True)
        if upstream:
            create_and_wait(g, "sts", upstream_set("web", n), "p2-upstream", n, timeout)
            res["upstream"] = rollout(g, "sts", "p2-upstream", "web", n, timeout, timeline=True, interval=1.0)
        res.update(_against(g, "p2-kruise", n, timeout, kruise_set("web", n, max_u), timeline=True))
        res["load_after"] = loadavg()
    k = res["kruise_py"]["wall_s"]
    res["kruise_py_over_floor"] = round(k / floor, 2)
    res["goal"] = "kruise-py <= 1.15 x floor; upstream / kruise-py >= 13"
    line = f"P2 {n}-pod rollout, maxUnavailable {max_u}: kruise-py {k} s = {res['kruise_py_over_floor']}x floor ({floor} s)"
    if upstream:
        u = res["upstream"]["wall_s"]
        res["upstream_over_kruise_py"] = round(u / k, 1)
        res["upstream_over_floor"] = round(u / floor, 1)
        res["goal_met"] = res["kruise_py_over_floor"] <= 1.15 and res["upstream_over_kruise_py"] >= 13
        line += f"; upstream {u} s = {res['upstream_over_kruise_py']}x kruise-py (floor ratio {res['upstream_over_floor']}x)"
    res["summary"] = line + _against_line(res)
    return res
