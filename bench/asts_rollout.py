"""In-place rollout of an Advanced StatefulSet next to the upstream StatefulSet's RollingUpdate,
on the same control plane in the same run.

    python -m bench.asts_rollout [--pods 100] [--max-unavailable 10] [--restart-delay 1]

The simulator restarts a container `--restart-delay` seconds after its image changes (stop 0, start
= restart delay, ready 0), for both sets. Prints wall times, their ratio and API writes per pod
(from the apiserver audit log: writes by the operator's user agent in the set's namespace).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from .harness import Ground, ground, wait, write_result


def kruise_set(name: str, n: int, max_u: int, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {
            "replicas": n, "serviceName": name, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {
                "readinessGates": [{"conditionType": "InPlaceUpdateReady"}],
                "containers": [{"name": "app", "image": image}]}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
                "podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": max_u}},
        },
    }


def upstream_set(name: str, n: int, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {
            "replicas": n, "serviceName": name, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}},
            "updateStrategy": {"type": "RollingUpdate"},
        },
    }


def rolled_out(g: Ground, kind: str, ns: str, name: str, n: int) -> bool:
    obj = g.get(kind, name, "-n", ns)
    st = obj.get("status") or {}
    return bool(st.get("observedGeneration") == obj["metadata"]["generation"] and st.get("updatedReplicas") == n
                and st.get("readyReplicas") == n and st.get("currentRevision") == st.get("updateRevision"))


def run_one(g: Ground, kind: str, obj: dict[str, Any], ns: str, n: int, timeout: float) -> dict[str, Any]:
    name = obj["metadata"]["name"]
    g.kubectl("create", "namespace", ns)
    g.apply(obj, ns)
    wait(lambda: rolled_out(g, kind, ns, name, n), timeout, f"{name} created and ready")
    time.sleep(1)
    mark = g.audit_mark()
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}
    t0 = time.monotonic()
    g.kubectl("patch", kind, name, "-n", ns, "--type=merge", "-p", json.dumps(patch))
    wait(lambda: rolled_out(g, kind, ns, name, n), timeout, f"{name} rolled out")
    wall = time.monotonic() - t0
    time.sleep(1)
    ua = "kruise-py" if kind == "asts" else "kube-controller-manager"
    writes = g.writes_since(mark, user_agent_prefix=ua, namespace=ns)
    # The simulator's user agent also starts with "kruise-py": leave it out.
    sim = g.writes_since(mark, user_agent_prefix="kruise-py-simulator", namespace=ns)
    writes.subtract(sim)
    writes = +writes
    pod_writes = sum(v for k, v in writes.items() if " pods" in k)
    return {"wall_s": round(wall, 2), "writes": dict(writes), "pod_writes_per_pod": round(pod_writes / n, 2),
            "all_writes_per_pod": round(sum(writes.values()) / n, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--max-unavailable", type=int, default=10)
    ap.add_argument("--restart-delay", type=float, default=1.0)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--skip-upstream", action="store_true")
    a = ap.parse_args()
    sim = ("--start-delay", str(a.restart_delay), "--stop-delay", "0", "--ready-delay", "0")
    result: dict[str, Any] = {"pods": a.pods, "max_unavailable": a.max_unavailable, "restart_delay_s": a.restart_delay}
    timeout = max(600.0, a.pods * (a.restart_delay + 3) * 2)
    with ground(nodes=a.nodes, sim_args=sim, operator_args=("--qps", "0")) as g:
        result["kruise_py"] = run_one(g, "asts", kruise_set("web", a.pods, a.max_unavailable, "nginx:1.25"),
                                      "bench-kruise", a.pods, timeout)
        print(f"kruise-py in-place: {result['kruise_py']['wall_s']} s, "
              f"{result['kruise_py']['all_writes_per_pod']} writes/pod {result['kruise_py']['writes']}", flush=True)
        if not a.skip_upstream:
            result["upstream"] = run_one(g, "sts", upstream_set("web", a.pods, "nginx:1.25"), "bench-upstream",
                                         a.pods, timeout)
            print(f"upstream RollingUpdate: {result['upstream']['wall_s']} s, "
                  f"{result['upstream']['all_writes_per_pod']} writes/pod {result['upstream']['writes']}", flush=True)
            result["speedup"] = round(result["upstream"]["wall_s"] / result["kruise_py"]["wall_s"], 1)
    floor = a.pods / a.max_unavailable * a.restart_delay
    result["node_side_floor_s"] = floor
    result["kruise_py_over_floor"] = round(result["kruise_py"]["wall_s"] / floor, 2)
    path = write_result("asts_rollout", result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}), f"-> {path}")


if __name__ == "__main__":
    main()
