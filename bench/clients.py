"""Which async Kubernetes client? 1000 pod merge-PATCHes at concurrency 1 and 32, per client.

Candidates: kruise-py's own aiohttp client (``kruise_py.runtime.client.KubeClient``, qps=0: no
client-side limiter), kubernetes_asyncio, lightkube (``AsyncClient``). Every client runs in a fresh
subprocess so its RSS is its own; every client authenticates with the admin client certificate of
the same kubeconfig and sends ``application/merge-patch+json``. Both are checked, not assumed:

- merge patch: before timing, each worker patches a probe pod's ``metadata.finalizers`` from
  ``[a]`` to ``[b]`` through the very same call it times. A JSON merge patch replaces the list
  (``[b]``); a strategic merge patch would merge it (``[a, b]``), because finalizers carry
  ``patchStrategy: merge``. The worker fails unless it reads back ``[b]``.
- authentication: the apiserver's audit log (on in the sandbox control plane) gives the user of
  every pod PATCH, grouped by user agent: all must be the admin cert's ``kruise-py-admin``.

Each measured round patches every pod once with a label value new to that round (a real write,
not a no-op), after 20 uncounted warm-up patches, then GETs a few pods to check the value. Each
(client, concurrency) is measured ``--reps`` times, clients in rotating order, and the median is
reported. Pods are never scheduled (``schedulerName`` names no scheduler), so no scheduler or
status traffic competes with the benchmark.

Run from the repo root: ``python -m bench.clients`` (starts a throwaway control plane, ~5 s) or
``python -m bench.clients --kubeconfig PATH`` to reuse one. Writes ``bench/results/clients.json``.
"""

from __future__ import annotations

# Only the standard library at module level: a worker's "RSS after import" must count its client
# library alone, not kruise_py or cryptography pulled in by the orchestrator.
import argparse
import asyncio
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "clients.json"
CLIENTS = ("kruise-py", "kubernetes_asyncio", "lightkube")
LABEL = "bench"
PROBE = "bench-probe"
FIN_A, FIN_B = "bench.kruise-py/a", "bench.kruise-py/b"
SETUP_AGENT = "kruise-py-bench-setup"
MIB = 1024 * 1024


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def rss_bytes() -> int:
    """Current resident set size (Linux: VmRSS)."""
    return _status("VmRSS")


def peak_rss_bytes() -> int:
    """This process's own peak RSS (Linux: VmHWM).

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries it across fork+exec, so a worker would
    report at least the orchestrator's peak (~60 MiB: kruise_py, cryptography, 1000 pod objects).
    ru_maxrss is still recorded, as ``ru_maxrss``, for comparison.
    """
    return _status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- the three clients, behind one tiny interface ----------------------------------------------


class Adapter:
    name = ""

    def load(self) -> None:
        """Import the client library (and nothing else)."""

    async def open(self, kubeconfig: str, namespace: str) -> None:
        raise NotImplementedError

    async def patch(self, name: str, body: dict[str, Any]) -> None:
        """One JSON merge patch of pod ``name``; the response is decoded as the client does."""
        raise NotImplementedError

    async def meta(self, name: str) -> tuple[dict[str, str], list[str]]:
        """(labels, finalizers) of pod ``name``, read with a GET."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError


class KruisePy(Adapter):
    name = "kruise-py"

    def load(self) -> None:
        from kruise_py.runtime import client

        self.m = client

    async def open(self, kubeconfig: str, namespace: str) -> None:
        m = self.m
        self.ns = namespace
        # qps=0: no client-side token bucket, as the other two have none.
        self.c = m.KubeClient(m.load_credentials(kubeconfig), m.ClientOptions(qps=0))

    async def patch(self, name: str, body: dict[str, Any]) -> None:
        await self.c.patch(self.m.path_for("v1", "pods", self.ns, name), body, patch_type="merge")

    async def meta(self, name: str) -> tuple[dict[str, str], list[str]]:
        md = (await self.c.get(self.m.path_for("v1", "pods", self.ns, name)))["metadata"]
        return md.get("labels") or {}, md.get("finalizers") or []

    async def close(self) -> None:
        await self.c.close()

    def version(self) -> str:
        import aiohttp

        import kruise_py

        return f"kruise-py {kruise_py.__version__} (aiohttp {aiohttp.__version__})"


class KubernetesAsyncio(Adapter):
    name = "kubernetes_asyncio"

    def load(self) -> None:
        from kubernetes_asyncio import client, config

        self.client, self.config = client, config

    async def open(self, kubeconfig: str, namespace: str) -> None:
        self.ns = namespace
        await self.config.load_kube_config(config_file=kubeconfig)
        self.api = self.client.ApiClient()
        self.v1 = self.client.CoreV1Api(self.api)

    async def patch(self, name: str, body: dict[str, Any]) -> None:
        # Without _content_type it would pick strategic-merge-patch+json for a dict body.
        await self.v1.patch_namespaced_pod(name, self.ns, body, _content_type="application/merge-patch+json")

    async def meta(self, name: str) -> tuple[dict[str, str], list[str]]:
        pod = await self.v1.read_namespaced_pod(name, self.ns)
        return pod.metadata.labels or {}, pod.metadata.finalizers or []

    async def close(self) -> None:
        await self.api.close()

    def version(self) -> str:
        import aiohttp
        import kubernetes_asyncio

        return f"kubernetes_asyncio {kubernetes_asyncio.__version__} (aiohttp {aiohttp.__version__})"


class Lightkube(Adapter):
    name = "lightkube"

    def load(self) -> None:
        from lightkube import AsyncClient, KubeConfig
        from lightkube.resources.core_v1 import Pod
        from lightkube.types import PatchType

        self.AsyncClient, self.KubeConfig, self.Pod, self.PatchType = AsyncClient, KubeConfig, Pod, PatchType

    async def open(self, kubeconfig: str, namespace: str) -> None:
        self.ns = namespace
        self.c = self.AsyncClient(self.KubeConfig.from_file(kubeconfig))

    async def patch(self, name: str, body: dict[str, Any]) -> None:
        await self.c.patch(self.Pod, name, body, namespace=self.ns, patch_type=self.PatchType.MERGE)

    async def meta(self, name: str) -> tuple[dict[str, str], list[str]]:
        pod = await self.c.get(self.Pod, name, namespace=self.ns)
        return pod.metadata.labels or {}, pod.metadata.finalizers or []

    async def close(self) -> None:
        await self.c.close()

    def version(self) -> str:
        from importlib.metadata import version

        return f"lightkube {version('lightkube')} (httpx2 {version('httpx2')})"


ADAPTERS: dict[str, type[Adapter]] = {a.name: a for a in (KruisePy, KubernetesAsyncio, Lightkube)}


# -- worker: one client, one fresh process ------------------------------------------------------


async def _patch_all(
    ad: Adapter, names: list[str], value: str, conc: int
) -> tuple[float, float, list[float]]:
    """Merge-patch every pod's label to ``value``, ``conc`` at a time: (wall s, CPU s, latencies)."""
    sem = asyncio.Semaphore(conc)
    body = {"metadata": {"labels": {LABEL: value}}}
    lat: list[float] = []

    async def one(name: str) -> None:
        async with sem:
            t = time.perf_counter()
            await ad.patch(name, body)
            lat.append(time.perf_counter() - t)

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(n) for n in names))
    return time.perf_counter() - t0, time.process_time() - cpu0, lat


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"client": args.worker, "rss_base": rss_bytes()}
    ad = ADAPTERS[args.worker]()
    ad.load()
    out["rss_after_import"] = rss_bytes()
    await ad.open(args.kubeconfig, args.namespace)
    out["rss_client_ready"] = rss_bytes()
    out["version"] = ad.version()
    try:
        # Merge-patch proof through the timed call: JSON merge replaces the list, strategic merges it.
        await ad.patch(PROBE, {"metadata": {"finalizers": [FIN_B]}})
        _, fins = await ad.meta(PROBE)
        await ad.patch(PROBE, {"metadata": {"finalizers": [FIN_A]}})
        if fins != [FIN_B]:
            raise SystemExit(f"{args.worker}: patch was not a JSON merge patch (finalizers {fins})")
        out["merge_patch_verified"] = True

        names = [f"p-{i:04d}" for i in range(args.pods)]
        rng = random.Random(args.tag)
        out["rounds"] = []
        for conc in args.concurrency:
            await _patch_all(ad, names[: args.warmup], f"{args.tag}-c{conc}-warm", min(conc, args.warmup))
            value = f"{args.tag}-c{conc}"
            wall, cpu, lat = await _patch_all(ad, names, value, conc)
            check = [names[0], names[-1], *rng.sample(names, 3)]
            got = [(await ad.meta(n))[0].get(LABEL) for n in check]
            if got != [value] * len(check):
                raise SystemExit(f"{args.worker}: c={conc}: expected {LABEL}={value} on {check}, got {got}")
            q = statistics.quantiles(lat, n=100, method="inclusive")
            out["rounds"].append(
                {
                    "concurrency": conc,
                    "patches": len(lat),
                    "wall_s": wall,
                    "patches_per_s": len(lat) / wall,
                    "p50_ms": statistics.median(lat) * 1e3,
                    "p99_ms": q[98] * 1e3,
                    "cpu_us_per_patch": cpu / len(lat) * 1e6,
                    "verified_pods": len(check),
                    "rss_after_round": rss_bytes(),
                }
            )
    finally:
        await ad.close()
    out["rss_peak"] = peak_rss_bytes()
    out["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


# -- orchestrator -----------------------------------------------------------------------------


def _pod(name: str, finalizers: list[str] | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "labels": {"app": "bench-clients", LABEL: "init"}}
    if finalizers:
        md["finalizers"] = finalizers
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": {
            # No scheduler has this name: pods stay Pending and untouched by anything but us.
            "schedulerName": "bench-unscheduled",
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}],
        },
    }


async def _setup(kubeconfig: str, namespace: str, pods: int) -> str:
    from kruise_py.runtime.client import ApiError, ClientOptions, KubeClient, path_for

    async with KubeClient.connect(kubeconfig, ClientOptions(qps=0, user_agent=SETUP_AGENT)) as kc:
        server_version = (await kc.get("/version")).get("gitVersion", "?")
        await kc.create(path_for("v1", "namespaces"), {"metadata": {"name": namespace}})
        # Pod admission needs the namespace's default ServiceAccount (made by the controller-manager).
        for _ in range(300):
            if await kc.get_or_none(path_for("v1", "serviceaccounts", namespace, "default")):
                break
            await asyncio.sleep(0.1)
        await kc.create(path_for("v1", "pods", namespace), _pod(PROBE, [FIN_A]))
        sem = asyncio.Semaphore(32)

        async def make(i: int) -> None:
            async with sem:
                try:
                    await kc.create(path_for("v1", "pods", namespace), _pod(f"p-{i:04d}"))
                except ApiError as e:
                    if not e.already_exists:
                        raise

        t0 = time.perf_counter()
        await asyncio.gather(*(make(i) for i in range(pods)))
        print(f"created {pods} pods in {time.perf_counter() - t0:.1f}s (server {server_version})", flush=True)
        return str(server_version)


async def _teardown(kubeconfig: str, namespace: str) -> None:
    from kruise_py.runtime.client import ClientOptions, KubeClient, path_for

    async with KubeClient.connect(kubeconfig, ClientOptions(qps=0, user_agent=SETUP_AGENT)) as kc:
        await kc.patch(path_for("v1", "pods", namespace, PROBE), {"metadata": {"finalizers": None}})
        await kc.delete(path_for("v1", "namespaces", namespace))


def _run_worker(
    client: str, kubeconfig: str, namespace: str, tag: str, args: argparse.Namespace
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "bench.clients",
        "--worker",
        client,
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        namespace,
        "--tag",
        tag,
        "--pods",
        str(args.pods),
        "--warmup",
        str(args.warmup),
        "--concurrency",
        ",".join(map(str, args.concurrency)),
    ]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    if p.returncode != 0:
        raise SystemExit(f"worker {client} failed ({p.returncode}):\n{p.stderr[-4000:]}")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def _audit(audit_log: Path, namespace: str) -> list[dict[str, Any]]:
    """Pod PATCHes in the namespace, grouped by (user agent, authenticated user, HTTP code)."""
    seen: Counter[tuple[str, str, int]] = Counter()
    if not audit_log.exists():
        return []
    with audit_log.open() as f:
        for line in f:
            ev = json.loads(line)
            ref = ev.get("objectRef") or {}
            if (
                ev.get("verb") == "patch"
                and ref.get("resource") == "pods"
                and ref.get("namespace") == namespace
            ):
                code = (ev.get("responseStatus") or {}).get("code", 0)
                seen[(ev.get("userAgent", ""), ev["user"]["username"], code)] += 1
    return [{"user_agent": ua, "user": u, "code": c, "patches": n} for (ua, u, c), n in sorted(seen.items())]


def _summary(runs: list[dict[str, Any]], concs: list[int]) -> dict[str, Any]:
    med = statistics.median
    s: dict[str, Any] = {
        "rss_base_mib": med(r["rss_base"] for r in runs) / MIB,
        "rss_after_import_mib": med(r["rss_after_import"] for r in runs) / MIB,
        "rss_client_ready_mib": med(r["rss_client_ready"] for r in runs) / MIB,
        "rss_peak_mib": med(r["rss_peak"] for r in runs) / MIB,
        "by_concurrency": {},
    }
    for c in concs:
        rs = [x for r in runs for x in r["rounds"] if x["concurrency"] == c]
        s["by_concurrency"][str(c)] = {
            k: med(x[k] for x in rs)
            for k in ("wall_s", "patches_per_s", "p50_ms", "p99_ms", "cpu_us_per_patch")
        } | {
            "patches_per_s_min": min(x["patches_per_s"] for x in rs),
            "patches_per_s_max": max(x["patches_per_s"] for x in rs),
        }
    return s


def _table(results: dict[str, Any], concs: list[int]) -> str:
    head = (
        "client",
        "conc",
        "wall s",
        "patches/s (min-max)",
        "p50 ms",
        "p99 ms",
        "CPU us/patch",
        "RSS import MiB",
        "RSS peak MiB",
    )
    rows = []
    for name, r in results.items():
        s = r["median"]
        for c in concs:
            b = s["by_concurrency"][str(c)]
            rows.append(
                (
                    name,
                    str(c),
                    f"{b['wall_s']:.2f}",
                    f"{b['patches_per_s']:.0f} ({b['patches_per_s_min']:.0f}-{b['patches_per_s_max']:.0f})",
                    f"{b['p50_ms']:.2f}",
                    f"{b['p99_ms']:.2f}",
                    f"{b['cpu_us_per_patch']:.0f}",
                    f"{s['rss_after_import_mib']:.1f}",
                    f"{s['rss_peak_mib']:.1f}",
                )
            )
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _orchestrate(args: argparse.Namespace) -> int:
    from kruise_py.sandbox.controlplane import ControlPlane

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kruise-py-bench-") as tmp:
        plane = None
        kubeconfig = args.kubeconfig
        audit_log = Path(args.audit_log) if args.audit_log else None
        if not kubeconfig:
            plane = ControlPlane(workdir=Path(tmp))
            kubeconfig = str(plane.start())
            audit_log = plane.audit_log
            print(f"control plane up in {plane.state.get('ready_s')}s", flush=True)
        namespace = f"bench-clients-{os.urandom(3).hex()}"
        try:
            server_version = asyncio.run(_setup(kubeconfig, namespace, args.pods))
            runs: dict[str, list[dict[str, Any]]] = {c: [] for c in args.clients}
            for rep in range(args.reps):
                order = args.clients[rep % len(args.clients) :] + args.clients[: rep % len(args.clients)]
                for client in order:
                    r = _run_worker(client, kubeconfig, namespace, f"{client.replace('_', '-')}-r{rep}", args)
                    runs[client].append(r)
                    print(
                        f"rep {rep} {client:20s} "
                        + "  ".join(
                            f"c={x['concurrency']}: {x['patches_per_s']:.0f}/s p99 {x['p99_ms']:.1f}ms"
                            for x in r["rounds"]
                        )
                        + f"  peak RSS {r['rss_peak'] / MIB:.1f} MiB",
                        flush=True,
                    )
            audit = _audit(audit_log, namespace) if audit_log else []
            asyncio.run(_teardown(kubeconfig, namespace))
        finally:
            if plane is not None:
                plane.stop()

    results = {
        c: {"version": rs[0]["version"], "median": _summary(rs, args.concurrency), "runs": rs}
        for c, rs in runs.items()
    }
    table = _table(results, args.concurrency)
    doc = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.clients " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "kubernetes": server_version,
        "pods": args.pods,
        "reps": args.reps,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "duration_s": round(time.monotonic() - started, 1),
        "audit_pod_patches": audit,
        "results": results,
        "table_markdown": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print()
    print(table)
    print()
    for c, r in results.items():
        print(
            f"{c}: {r['version']}; RSS base {r['median']['rss_base_mib']:.1f} MiB, "
            f"client ready {r['median']['rss_client_ready_mib']:.1f} MiB"
        )
    for a in audit:
        print(f"audit: {a['patches']:5d} pod PATCHes by {a['user']!r} via {a['user_agent']!r} -> {a['code']}")
    bad = [a for a in audit if a["user"] != "kruise-py-admin" or not 200 <= a["code"] < 300]
    if audit_log and (not audit or bad):
        print(f"FAIL: unexpected audit entries: {bad or 'none found'}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({doc['duration_s']}s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.clients", description=__doc__.split("\n")[0])
    ap.add_argument("--kubeconfig", help="reuse this cluster instead of starting a sandbox control plane")
    ap.add_argument("--audit-log", help="with --kubeconfig: the apiserver's JSON audit log, to check users")
    ap.add_argument("--clients", type=lambda s: s.split(","), default=list(CLIENTS))
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 32])
    ap.add_argument("--out", type=Path, default=RESULTS)
    # Internal: run one client in this (fresh) process and print its JSON result.
    ap.add_argument("--worker", choices=sorted(ADAPTERS), help=argparse.SUPPRESS)
    ap.add_argument("--namespace", help=argparse.SUPPRESS)
    ap.add_argument("--tag", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(asyncio.run(_worker(args))))
        return 0
    unknown = set(args.clients) - set(ADAPTERS)
    if unknown:
        ap.error(f"unknown clients {sorted(unknown)}; choose from {sorted(ADAPTERS)}")
    return _orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
