"""Timings of the reconcile runtime's data structures: cache load, workqueue churn, timed adds.

    python -m bench.runtime_cache_queue [N ...]

Prints numbers only; nothing here asserts on time. Linear growth is what to look for: doubling
N should roughly double every column.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from kruise_py.runtime.cache import ObjectCache, copy_of
from kruise_py.runtime.workqueue import WorkQueue


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"web-{i}",
            "namespace": f"ns-{i % 20}",
            "uid": f"pod-uid-{i}",
            "resourceVersion": str(i),
            "labels": {"app": "web", "broadcastjob-controller-uid": f"job-{i % 30}"},
            "ownerReferences": [
                {
                    "apiVersion": "apps.kruise.io/v1beta1",
                    "kind": "StatefulSet",
                    "name": f"web-{i % 100}",
                    "uid": f"owner-{i % 100}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"nodeName": f"node-{i % 50}", "containers": [{"name": "main", "image": "nginx:1.25"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def bench_cache(n: int) -> dict[str, float]:
    objs = [pod(i) for i in range(n)]
    cache = ObjectCache(label_keys=["broadcastjob-controller-uid"])
    enqueued = 0

    def hook(old: Any, new: Any) -> None:
        nonlocal enqueued
        enqueued += 1

    cache.on_change.append(hook)
    t0 = time.perf_counter()
    for o in objs:
        cache.apply(None, o)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    for o in objs:
        cache.apply("MODIFIED", o)
    modify = time.perf_counter() - t0
    t0 = time.perf_counter()
    owned = sum(len(cache.by_owner(f"owner-{k}")) for k in range(100))
    by_owner = time.perf_counter() - t0
    assert owned == n and enqueued == 2 * n
    t0 = time.perf_counter()
    for o in objs[:1000]:
        copy_of(o)
    copy_us = (time.perf_counter() - t0) / min(n, 1000) * 1e6
    return {"load_s": load, "modify_s": modify, "by_owner_all_s": by_owner, "copy_us": copy_us}


async def bench_queue(n: int) -> dict[str, float]:
    q: WorkQueue[str] = WorkQueue(f"bench-{n}")
    keys = [f"ns/obj-{i}" for i in range(n)]
    t0 = time.perf_counter()
    for k in keys + keys:
        q.add(k)
    add = time.perf_counter() - t0
    t0 = time.perf_counter()
    while len(q):
        q.done(await q.get())
    drain = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, k in enumerate(keys):
        q.add_after(k, 0.001 + (i % 100) / 100_000)
    timed = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(n):
        q.done(await q.get())
    fire = time.perf_counter() - t0
    q.shutdown()
    return {"add_2n_s": add, "get_done_s": drain, "add_after_s": timed, "timers_fire_and_drain_s": fire}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1_000, 10_000, 50_000]
    for n in sizes:
        c = bench_cache(n)
        q = asyncio.run(bench_queue(n))
        print(f"N={n:>7}  " + "  ".join(f"{k}={v:.4f}" for k, v in {**c, **q}.items()))


if __name__ == "__main__":
    main()
