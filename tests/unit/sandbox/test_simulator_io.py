"""The simulator's I/O loop (watches, work queue, timer heap, optimistic locking) on a fake apiserver."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kruise_py.runtime.client import ApiError
from kruise_py.sandbox.kubelet import NOT_READY_TAINT, SIM_LABEL, SimConfig
from kruise_py.sandbox.simulator import Simulator, _parser, config_from_args

FAST = SimConfig(
    start_delay=0.02,
    ready_delay=0.02,
    stop_delay=0.02,
    delete_delay=0.02,
    restart_delay=0.02,
    complete_after=0.05,
    write_concurrency=4,
)


class FakeApi:
    """Just enough of the apiserver: resourceVersions, preconditions, merges, watch events."""

    def __init__(self) -> None:
        self.rv = 100
        self.nodes: dict[str, dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.watchers: dict[str, list[asyncio.Queue[dict[str, Any] | None]]] = {
            "nodes": [],
            "pods": [],
            "other": [],
        }
        self.history: list[tuple[str, int, dict[str, Any]]] = []  # watches resume from a resourceVersion
        self.calls: Counter[str] = Counter()
        self.before_patch: Callable[[str], None] | None = None
        # Tests wait on changes, not on time: the event is set (and replaced) on every emitted
        # watch event and whenever a watch reader has handled all it was sent.
        self._changed = asyncio.Event()
        self._caught_up: set[int] = set()  # watch queues whose reader waits on an empty queue

    def next_change(self) -> asyncio.Event:
        """The event set at the next change (take it before checking, then wait on it)."""
        return self._changed

    def _kick(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def caught_up(self) -> bool:
        """Every watch reader has handled every event it was sent (the informers apply an event
        before they ask for the next one, so their stores and callbacks are up to date)."""
        return all(id(q) in self._caught_up and q.empty() for qs in self.watchers.values() for q in qs)

    def _bump(self, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def _emit(self, kind: str, typ: str, obj: dict[str, Any]) -> None:
        if typ == "DELETED":
            self._bump(obj)
        ev = {"type": typ, "object": copy.deepcopy(obj)}
        self.history.append((kind, self.rv, ev))
        for q in self.watchers[kind]:
            q.put_nowait(ev)
        self._kick()

    # -- test helpers ------------------------------------------------------------------------
    def add_pod(self, name: str, node: str, ns: str = "ns", **spec: Any) -> dict[str, Any]:
        annotations = spec.pop("annotations", {})
        pod = {
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": f"uid-{name}",
                "generation": 1,
                "annotations": annotations,
            },
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "nginx:1"}], **spec},
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        self._bump(pod)
        self.pods[(ns, name)] = pod
        self._emit("pods", "ADDED", pod)
        return pod

    def update_pod(self, name: str, fn: Callable[[dict[str, Any]], None], ns: str = "ns") -> None:
        pod = self.pods[(ns, name)]
        fn(pod)
        self._bump(pod)
        self._emit("pods", "MODIFIED", pod)

    def add_node(self, name: str, labels: dict[str, str] | None = None) -> None:
        node = {
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": [{"key": NOT_READY_TAINT, "effect": "NoSchedule"}]},
            "status": {},
        }
        self._bump(node)
        self.nodes[name] = node
        if (labels or {}).get(SIM_LABEL) == "true":
            self._emit("nodes", "ADDED", node)

    # -- KubeClient surface ------------------------------------------------------------------
    async def list_all(self, path: str, **params: Any) -> tuple[list[dict[str, Any]], str]:
        self.calls["list"] += 1
        if path.endswith("/nodes"):
            items = [n for n in self.nodes.values() if n["metadata"]["labels"].get(SIM_LABEL) == "true"]
        elif path.endswith("/pods"):
            items = [p for p in self.pods.values() if p["spec"].get("nodeName")]
        else:
            items = []  # claims, volumes, classes: the storage driver has nothing to do here
        return copy.deepcopy(items), str(self.rv)

    async def watch(
        self, path: str, resource_version: str = "", **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        kind = "nodes" if path.endswith("/nodes") else "pods" if path.endswith("/pods") else "other"
        self.watchers[kind].append(q)
        for k, rv, past in self.history:
            if k == kind and rv > int(resource_version or 0):
                q.put_nowait(past)
        try:
            while True:
                if q.empty():
                    self._caught_up.add(id(q))
                    self._kick()
                ev = await q.get()
                self._caught_up.discard(id(q))
                if ev is None:
                    return
                yield ev
        finally:
            self._caught_up.discard(id(q))
            self.watchers[kind].remove(q)

    def _locate(self, path: str) -> tuple[str, Any]:
        parts = path.strip("/").split("/")
        if parts[2] == "nodes":
            return "nodes", parts[3]
        return "pods", (parts[3], parts[5])

    async def get(self, path: str) -> dict[str, Any]:
        kind, key = self._locate(path)
        store: dict[Any, dict[str, Any]] = self.nodes if kind == "nodes" else self.pods
        if key not in store:
            raise ApiError(404, {"reason": "NotFound"})
        return copy.deepcopy(store[key])

    async def get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.get(path)
        except ApiError:
            return None

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls["create"] += 1
        name = body["metadata"]["name"]
        if name in self.nodes:
            raise ApiError(409, {"reason": "AlreadyExists"})
        node = copy.deepcopy(body)
        node["spec"] = {"taints": [{"key": NOT_READY_TAINT, "effect": "NoSchedule"}]}  # admission
        self._bump(node)
        self.nodes[name] = node
        self._emit("nodes", "ADDED", node)
        return copy.deepcopy(node)

    async def patch(self, path: str, body: dict[str, Any], patch_type: str = "merge") -> dict[str, Any]:
        self.calls["patch"] += 1
        kind, key = self._locate(path)
        if self.before_patch:
            self.before_patch(path)
        store: dict[Any, dict[str, Any]] = self.nodes if kind == "nodes" else self.pods
        obj = store.get(key)
        if obj is None:
            raise ApiError(404, {"reason": "NotFound"})
        want_rv = (body.get("metadata") or {}).get("resourceVersion")
        if want_rv and want_rv != obj["metadata"]["resourceVersion"]:
            self.calls["conflict"] += 1
            raise ApiError(409, {"reason": "Conflict"})
        if "spec" in body:
            obj["spec"].update(body["spec"])
        if "metadata" in body and "labels" in body["metadata"]:
            obj["metadata"]["labels"].update(body["metadata"]["labels"])
        for k, v in (body.get("status") or {}).items():
            if k != "conditions":
                obj["status"][k] = copy.deepcopy(v)
                continue
            conds = obj["status"].setdefault("conditions", [])
            for c in v:
                i = next((i for i, o in enumerate(conds) if o["type"] == c["type"]), None)
                if c.get("$patch") == "delete":
                    if i is not None:
                        conds.pop(i)
                    continue
                clean = {kk: vv for kk, vv in c.items() if vv is not None}
                if i is None:
                    conds.append(clean)
                else:
                    conds[i] = {
                        **{kk: vv for kk, vv in conds[i].items() if c.get(kk, 0) is not None},
                        **clean,
                    }
        self._bump(obj)
        self._emit(kind, "MODIFIED", obj)
        return copy.deepcopy(obj)

    async def delete(
        self, path: str, *, grace_period_seconds: int | None = None, uid: str | None = None, **kw: Any
    ) -> dict[str, Any] | None:
        self.calls["delete"] += 1
        _, key = self._locate(path)
        pod = self.pods.get(key)
        if pod is None:
            return None
        if uid and pod["metadata"]["uid"] != uid:
            raise ApiError(409, {"reason": "Conflict"})
        assert grace_period_seconds == 0
        del self.pods[key]
        self._emit("pods", "DELETED", pod)
        return pod


async def until(api: FakeApi, cond: Callable[[], Any], within: float = 5.0) -> None:
    """Wait until ``cond()`` holds, re-checking at every change of the fake apiserver."""

    async def wait() -> None:
        while True:
            change = api.next_change()
            if cond():
                return
            await change.wait()

    await asyncio.wait_for(wait(), within)


async def settled(api: FakeApi, sim: Simulator, within: float = 5.0) -> None:
    """Wait until the simulator is done: every watch event handled, nothing queued, being synced or
    scheduled. It then writes nothing more until the fake apiserver changes."""

    async def wait() -> None:
        while not (api.caught_up() and sim.idle.is_set()):
            change = api.next_change()
            await sim.idle.wait()
            if not api.caught_up():
                await change.wait()

    await asyncio.wait_for(wait(), within)


def with_sim(fn: Callable[[FakeApi, Simulator], Awaitable[None]], cfg: SimConfig = FAST) -> None:
    async def main() -> None:
        api = FakeApi()
        sim = Simulator(api, cfg)  # type: ignore[arg-type]
        await sim.ensure_nodes(2)
        task = asyncio.create_task(sim.run())
        await sim.synced.wait()
        try:
            await fn(api, sim)
        finally:
            sim.stop()
            await asyncio.wait_for(task, 5)

    asyncio.run(main())


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def test_nodes_registered_ready_untainted_and_idempotent() -> None:
    async def body(api: FakeApi, sim: Simulator) -> None:
        assert set(api.nodes) == {"sim-node-0", "sim-node-1"}
        for n in api.nodes.values():
            assert not n["spec"]["taints"]
            assert any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
        assert api.calls["patch"] == 2  # only the taint: the status came with the create
        patches = api.calls["patch"]
        await sim.ensure_nodes(2)
        await settled(api, sim)
        assert api.calls["patch"] == patches

    with_sim(body)


def test_pod_runs_and_becomes_ready_with_three_writes() -> None:
    async def body(api: FakeApi, sim: Simulator) -> None:
        api.add_pod("p", "sim-node-0")
        await until(api, lambda: ready(api.pods[("ns", "p")]))
        # Then quiet: nothing queued or scheduled (a pod that stays ready has no timer left).
        await settled(api, sim)
        writes = sim.stats["status_writes"]
        assert 1 <= writes <= 3  # creating -> started -> ready (merged when late)
        p = api.pods[("ns", "p")]
        assert p["status"]["phase"] == "Running" and p["status"]["podIP"].startswith("10.244.")

    with_sim(body)


def test_pods_of_other_nodes_are_ignored_until_their_node_is_simulated() -> None:
    async def body(api: FakeApi, sim: Simulator) -> None:
        api.add_node("real-node")
        api.add_pod("q", "real-node")
        await settled(api, sim)
        assert api.pods[("ns", "q")]["status"]["phase"] == "Pending"
        api.add_node("late", labels={SIM_LABEL: "true"})
        api.add_pod("r", "late")
        await until(api, lambda: ready(api.pods[("ns", "r")]))
        assert not api.nodes["late"]["spec"]["taints"]
        assert api.pods[("ns", "q")]["status"]["phase"] == "Pending"

    with_sim(body)


def test_conflict_rereads_and_never_clobbers_a_gate() -> None:
    async def body(api: FakeApi, sim: Simulator) -> None:
        fired: list[str] = []

        def race(path: str) -> None:
            # A controller writes its gate just before our first pod status write lands.
            if "/pods/" in path and not fired:
                fired.append(path)
                api.update_pod(
                    "g",
                    lambda p: (
                        p["status"].setdefault("conditions", []).append({"type": "gate", "status": "True"})
                    ),
                )

        api.before_patch = race
        api.add_pod("g", "sim-node-1", readinessGates=[{"conditionType": "gate"}])
        await until(api, lambda: ready(api.pods[("ns", "g")]))
        assert api.calls["conflict"] >= 1 and sim.stats["conflicts"] >= 1
        assert any(c["type"] == "gate" for c in api.pods[("ns", "g")]["status"]["conditions"])

    with_sim(body)


def test_deletion_is_confirmed_with_uid_precondition_and_ip_released() -> None:
    async def body(api: FakeApi, sim: Simulator) -> None:
        api.add_pod("d", "sim-node-0")
        await until(api, lambda: ready(api.pods[("ns", "d")]))
        ip = api.pods[("ns", "d")]["status"]["podIP"]
        assert ip in sim.ips.used
        api.update_pod("d", lambda p: p["metadata"].update(deletionTimestamp="2030-01-01T00:00:00Z"))
        await until(api, lambda: ("ns", "d") not in api.pods)
        await until(api, lambda: ip not in sim.ips.used and "uid-d" not in sim.states)
        assert sim.stats["deletes"] == 1

    with_sim(body)


def test_run_to_completion_via_timer_heap() -> None:
    async def body(api: FakeApi, sim: Simulator) -> None:
        api.add_pod("j", "sim-node-0", restartPolicy="Never", annotations={"sim.kruise-py.io/exit-code": "3"})
        await until(api, lambda: api.pods[("ns", "j")]["status"]["phase"] == "Failed")
        writes = sim.stats["status_writes"]
        await settled(api, sim)  # a finished pod keeps no timer
        assert sim.stats["status_writes"] == writes

    with_sim(body)


def test_many_pods_one_timer_task() -> None:
    async def body(api: FakeApi, sim: Simulator) -> None:
        tasks = len(asyncio.all_tasks())
        for i in range(300):
            api.add_pod(f"m{i}", f"sim-node-{i % 2}")
        await until(api, lambda: all(ready(p) for p in api.pods.values()), within=20)
        assert len(asyncio.all_tasks()) == tasks  # no task per pod
        assert len(sim.ips.used) == 300

    with_sim(body)


def test_stop_from_another_thread() -> None:
    result: list[str] = []

    def run() -> None:
        async def main() -> None:
            sim = Simulator(FakeApi(), FAST)  # type: ignore[arg-type]
            task = asyncio.create_task(sim.run())
            await sim.synced.wait()
            threading.Thread(target=sim.stop).start()
            await asyncio.wait_for(task, 5)
            result.append("stopped")

        asyncio.run(main())

    t = threading.Thread(target=run)
    t.start()
    t.join(10)
    assert result == ["stopped"]


@pytest.mark.parametrize(
    "argv,check",
    [
        ([], lambda c: c.start_delay == SimConfig().start_delay and c.node_capacity["cpu"] == "8"),
        (
            ["--restart-delay", "1", "--start-delay", "0"],
            lambda c: c.restart_delay == 1 and c.start_delay == 0,
        ),
        (
            ["--cpu", "4", "--max-pods", "20", "--label", "zone=a"],
            lambda c: (
                c.node_capacity["cpu"] == "4"
                and c.node_capacity["pods"] == "20"
                and c.node_labels == {"zone": "a"}
            ),
        ),
        (
            ["--complete-after", "2.5", "--write-concurrency", "8"],
            lambda c: c.complete_after == 2.5 and c.write_concurrency == 8,
        ),
        (
            [
                "--provision-delay",
                "0",
                "--expand-delay",
                "2",
                "--fs-resize-delay",
                "3",
                "--deprovision-delay",
                "4",
            ],
            lambda c: (
                (c.provision_delay, c.expand_delay, c.fs_resize_delay, c.deprovision_delay) == (0, 2, 3, 4)
            ),
        ),
    ],
)
def test_cli_flags(argv: list[str], check: Callable[[SimConfig], bool]) -> None:
    assert check(config_from_args(_parser().parse_args(argv)))


def test_storage_classes_flag() -> None:
    assert _parser().parse_args(["--storage-classes"]).storage_classes is True
    assert _parser().parse_args([]).storage_classes is False
