"""Scale-out: three replicas in sharded mode share 30 Advanced StatefulSets; all of them roll
while one replica is SIGKILLed and a fourth joins (a partition holds every rollout after its
first wave until the join, so both land mid-rollout on a loaded machine too).

Half of the sets exist before sharding is on (made by the session operator: no shard label, so the
replica taking their buckets labels them and their pods first), half are created through the
sharded replicas' webhook (labelled at admission). Each replica authenticates with its own client
certificate, so the apiserver's audit log says who wrote what: every owner's objects must be
written by one replica at a time (a run per replica, never interleaved), no pod patched twice for
one revision, and the invariant monitor of every set must record no violation."""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kruise_py.runtime import sharding as sh
from kruise_py.sandbox.controlplane import ControlPlane, free_port
from kruise_py.sandbox.sandbox import wait_http_ok
from tests.integration.conftest import Kubectl, OperatorProcess, _spawn, _stop, wait_for
from tests.integration.test_sidecarset import admitted
from tests.integration.test_statefulset import asts, status_of, wait_rolled_out

from .conftest import audit_writes, scaled
from .invariants import InvariantMonitor
from .test_leader_failover import replica_kubeconfig

GROUP = "kruise-py-shard-test"
HELD = re.compile(r'^shard_buckets_held\{group="' + GROUP + r'-shards",member="[^"]*"\} (\S+)$', re.M)


def held(port: int) -> int | None:
    """The buckets a replica acts on, from its /metrics (None while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            m = HELD.search(r.read().decode())
    except OSError:
        return None
    return int(float(m.group(1))) if m else 0


def spawn_replica(cp: ControlPlane, user: str, tmp: Path, hooks: list[str]) -> tuple[Any, int]:
    port = free_port()
    kc = replica_kubeconfig(cp, user, tmp / f"{user}.kubeconfig")
    argv = [
        *(sys.executable, "-m", "kruise_py", "run", "--kubeconfig", str(kc)),
        *("--metrics-host", "127.0.0.1", "--metrics-port", str(port)),
        *hooks,
        *("--shards", "auto", "--leader-election-id", GROUP, "--leader-election-namespace", "default"),
        *("--lease-duration", "4", "--renew-deadline", "3", "--retry-period", "0.5"),
        *("--log-level", "INFO"),
    ]
    proc = _spawn(f"operator-{user}", argv, cp.logs, kc)
    wait_http_ok(f"http://127.0.0.1:{port}/readyz", 90, cp.logs / f"operator-{user}.log")
    return proc, port


def settled(ports: list[int]) -> list[int] | None:
    """Each live replica's bucket count once together they hold every bucket, each some."""
    counts = [held(p) for p in ports]
    ok = all(c for c in counts) and sum(c or 0 for c in counts) == sh.BUCKETS
    return [c or 0 for c in counts] if ok else None


def shard_set(name: str, size: int, budget: int, sidecar: str | None = None) -> dict[str, Any]:
    # rollingUpdate.minReadySeconds keeps each rollout going long enough (a pod at a time, 4 s
    # apart) for the kill and the join to land in the middle of it.
    obj = asts(name, size, parallel=True, max_unavailable=budget, minReadySeconds=4)
    if sidecar:
        obj["spec"]["template"]["metadata"]["labels"]["sidecar"] = sidecar
    return obj


def sidecar_set(name: str, ns: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {"name": name},
        "spec": {
            "namespace": ns,
            "selector": {"matchLabels": {"sidecar": name}},
            "containers": [{"name": "log", "image": image, "podInjectPolicy": "AfterAppContainer"}],
            "updateStrategy": {"type": "RollingUpdate", "maxUnavailable": 1},
        },
    }


def runs(users: list[str]) -> list[str]:
    """The sequence of writers with repeats folded: ["a", "a", "b", "a"] -> ["a", "b", "a"]."""
    out: list[str] = []
    for u in users:
        if not out or out[-1] != u:
            out.append(u)
    return out


@pytest.mark.timeout(600)
def test_sharded_replicas_roll_through_a_kill_and_a_join(
    operator: OperatorProcess,
    kubectl: Kubectl,
    kubeconfig: Path,
    control_plane: ControlPlane,
    ns: str,
    tmp_path: Path,
    figures: dict[str, Any],
) -> None:
    sets, size, budget = scaled(30), 3, 1
    names = [f"shard-{i:02d}" for i in range(sets)]
    early, late = names[: sets // 2], names[sets // 2 :]
    # Two early and two late sets get a sidecar: its upgrade, at the end, is the elected replica's
    # (it watches only the pods the SidecarSet selects).
    sc = f"shard-log-{ns[-5:]}"
    with_sidecar = {*early[:2], *late[:2]}
    kubectl.apply(sidecar_set(sc, ns, "busybox:1.36"))
    admitted(kubectl, sc)
    for name in early:
        kubectl.apply(shard_set(name, size, budget, sc if name in with_sidecar else None), ns)
    for name in early:
        wait_rolled_out(kubectl, ns, name, size, timeout=180)

    _stop(operator.proc)  # not sharded: it would reconcile every set beside the replicas
    reps: dict[str, tuple[Any, int]] = {}
    try:
        hooks = ["--webhook-mode", "local", "--webhook-port", str(free_port())]
        reps["replica-a"] = spawn_replica(
            control_plane, "replica-a", tmp_path, [*hooks, "--cert-dir", str(tmp_path / "certs")]
        )
        for user in ("replica-b", "replica-c"):
            reps[user] = spawn_replica(control_plane, user, tmp_path, ["--webhook-mode", "none"])
        shares = wait_for(
            lambda: settled([p for _, p in reps.values()]), 60, what="3 replicas sharing 256 buckets"
        )
        for name in late:
            kubectl.apply(shard_set(name, size, budget, sc if name in with_sidecar else None), ns)
        for name in late:
            wait_rolled_out(kubectl, ns, name, size, timeout=180)

        # Every set and pod carries its shard label: the early ones from the backfill, the late
        # ones from the webhook and the controllers.
        for name in names:
            want = str(sh.bucket_of(ns, name))
            got = kubectl.json("get", "asts", name, "-n", ns)["metadata"]["labels"].get(sh.SHARD_LABEL)
            assert got == want, (name, got, want)
        pods = kubectl.json("get", "pods", "-n", ns)["items"]
        unlabelled = [
            p["metadata"]["name"] for p in pods if sh.SHARD_LABEL not in p["metadata"].get("labels", {})
        ]
        assert unlabelled == [], unlabelled

        monitors = {
            n: InvariantMonitor.for_asts(kubeconfig, ns, f"app={n}", budget, size).start() for n in names
        }
        for mon in monitors.values():
            mon.arm()
        since = time.time()
        olds = {n: status_of(kubectl, ns, n)["updateRevision"] for n in names}
        # The new image with a partition that holds all but the last ordinal back: the kill lands
        # in the first wave, and the rest of every rollout is left for after the join, however
        # fast the first wave goes on a loaded machine.
        held = {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}
        held["updateStrategy"] = {"rollingUpdate": {"partition": size - 1}}
        for name in names:
            kubectl("patch", "asts", name, "-n", ns, "--type=merge", "-p", json.dumps({"spec": held}))
        wait_for(
            lambda: (
                sum(1 for n in names if (status_of(kubectl, ns, n).get("updatedReplicas") or 0) > 0)
                >= sets // 2
            ),
            60,
            interval=0.05,
            what="the rollouts under way",
        )
        victim = reps["replica-b"][0]
        victim.kill()
        victim.wait()
        reps["replica-d"] = spawn_replica(control_plane, "replica-d", tmp_path, ["--webhook-mode", "none"])
        live = [p for u, (_, p) in reps.items() if u != "replica-b"]
        after = wait_for(lambda: settled(live), 60, what="a, c, d sharing 256 buckets")
        release = json.dumps({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})
        for name in names:
            kubectl("patch", "asts", name, "-n", ns, "--type=merge", "-p", release)
        for name in names:
            wait_rolled_out(kubectl, ns, name, size, timeout=240)
            assert status_of(kubectl, ns, name)["updateRevision"] != olds[name]
        violations = {n: m.stop() for n, m in monitors.items()}
        for mon in monitors.values():
            assert not mon.errors, mon.errors

        # The sidecar upgrade, by the elected replica from its SidecarSet-selected pod watch.
        sc_since = time.time()
        kubectl.apply(sidecar_set(sc, ns, "busybox:1.37"))
        injected = len(with_sidecar) * size

        def upgraded() -> bool:
            st = kubectl.json("get", "sidecarset", sc).get("status", {})
            return (
                st.get("matchedPods") == injected
                and st.get("updatedPods") == injected
                and st.get("readyPods") == injected
            )

        wait_for(upgraded, 120, what=f"{injected} sidecars upgraded")
        sc_writers = {
            ev["user"]["username"]
            for ev in audit_writes(control_plane, sc_since)
            if (ev.get("objectRef") or {}).get("resource") == "pods"
            and (ev.get("objectRef") or {}).get("namespace") == ns
            and ev["user"]["username"] in reps
        }

        writes = [
            ev
            for ev in audit_writes(control_plane, since)
            if ev["t"] < sc_since  # the rollouts; the sidecar upgrade is checked on its own
            and (ev.get("objectRef") or {}).get("namespace") == ns
            and ev["responseStatus"].get("code", 500) < 300
            and ev["user"]["username"] in reps
        ]
        by_owner: dict[str, list[str]] = {}
        per_pod: dict[str, int] = {}
        for ev in writes:
            ref = ev["objectRef"]
            obj = ref.get("name") or ""
            owner = obj if ref.get("resource") == "statefulsets" else obj.rsplit("-", 1)[0]
            by_owner.setdefault(owner, []).append(ev["user"]["username"])
            if ref.get("resource") == "pods" and not ref.get("subresource") and ev["verb"] == "patch":
                per_pod[obj] = per_pod.get(obj, 0) + 1
        interleaved = {o: runs(us) for o, us in by_owner.items() if len(runs(us)) != len(set(us))}
        moved = sorted(o for o, us in by_owner.items() if len(set(us)) > 1)
        figures.update(
            sidecar_pods=injected,
            sidecar_upgrade_writers=sorted(sc_writers),
            replicas=3,
            sets=sets,
            pods=sets * size,
            kills=1,
            joins=1,
            buckets_before=shares,
            buckets_after=after,
            writers=sorted({u for us in by_owner.values() for u in us}),
            owners_written_by_two=len(moved),
            interleaved_owners=len(interleaved),
            max_pod_patches=max(per_pod.values(), default=0),
            violations=sum(len(v) for v in violations.values()),
            max_unavailable_seen=max(m.max_measured for m in monitors.values()),
        )
        assert interleaved == {}, interleaved
        assert max(per_pod.values(), default=0) <= 1, {p: n for p, n in per_pod.items() if n > 1}
        # The hand-over happened mid-rollout: the victim's sets were finished by others, and the
        # newcomer wrote too.
        assert any("replica-b" in us and len(set(us)) > 1 for us in by_owner.values()), by_owner
        assert any("replica-d" in us for us in by_owner.values()), by_owner
        assert all(v == [] for v in violations.values()), violations
        assert len(sc_writers) == 1, sc_writers  # the elected replica alone upgrades sidecars
    finally:
        for proc, _ in reps.values():
            _stop(proc)
        kubectl.run("delete", "lease", "-n", "default", "-l", f"{sh.GROUP_LABEL}={GROUP}-shards", check=False)
        kubectl.run("delete", "lease", GROUP, "-n", "default", check=False)
        kubectl.run("delete", "sidecarset", sc, check=False)
        operator.start_again()
