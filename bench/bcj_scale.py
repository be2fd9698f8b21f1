"""A BroadcastJob over many simulated nodes: time from apply to completed, and API writes per pod.

    python -m bench.bcj_scale [--nodes 200] [--run-seconds 1]

Every pod runs `--run-seconds` on the simulator and exits 0. API writes are counted from the
apiserver audit log (the operator's user agent, the job's namespace).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from .harness import ground, wait, write_result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--run-seconds", type=float, default=1.0)
    a = ap.parse_args()
    ns = "bench-bcj"
    job: dict[str, Any] = {
        "apiVersion": "apps.kruise.io/v1alpha1", "kind": "BroadcastJob", "metadata": {"name": "everywhere"},
        "spec": {"template": {
            "metadata": {"annotations": {"sim.kruise-py.io/run-seconds": str(a.run_seconds)}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "task", "image": "busybox:1.36"}]}}},
    }
    with ground(nodes=a.nodes, operator_args=("--qps", "0")) as g:
        g.kubectl("create", "namespace", ns)
        time.sleep(1)
        mark = g.audit_mark()
        t0 = time.monotonic()
        g.apply(job, ns)

        def done() -> dict[str, Any] | None:
            st = g.get("bcj", "everywhere", "-n", ns).get("status") or {}
            return st if st.get("phase") == "completed" else None

        st = wait(done, 900, "job completed", interval=0.5)
        wall = time.monotonic() - t0
        time.sleep(1)
        writes = g.writes_since(mark, user_agent_prefix="kruise-py", namespace=ns)
        sim = g.writes_since(mark, user_agent_prefix="kruise-py-simulator", namespace=ns)
        writes.subtract(sim)
        writes = +writes
    pods = st["desired"]
    result = {
        "nodes": a.nodes, "run_seconds": a.run_seconds, "wall_s": round(wall, 2), "desired": pods,
        "succeeded": st["succeeded"], "writes": dict(writes),
        "writes_per_pod": round(sum(writes.values()) / max(1, pods), 2),
        "pod_creates_per_pod": round(writes.get("create pods", 0) / max(1, pods), 2),
    }
    path = write_result("bcj_scale", result)
    print(json.dumps(result), f"-> {path}")


if __name__ == "__main__":
    main()
