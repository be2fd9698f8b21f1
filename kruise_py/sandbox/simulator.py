"""The node simulator: plays the kubelet for every Node labelled ``kruise-py.io/simulated=true``,
and the storage driver (provisioner, resizer, file-system expansion) of the sandbox StorageClasses.

The decisions live in :mod:`kruise_py.sandbox.kubelet` and :mod:`kruise_py.sandbox.storage` (pure);
this module does the I/O:
- one :class:`~kruise_py.runtime.informer.Informer` on Nodes (label selector) and one on bound Pods
  (all namespaces, field selector ``spec.nodeName!=``; filtered by owned node in memory), whose store
  is the simulator's own maps (slim pods by uid), not a second cache;
- a deduplicating work queue (a key is never synced twice at once) drained by
  ``write_concurrency`` workers, which also bounds concurrent writes;
- informers on PersistentVolumeClaims, PersistentVolumes and StorageClasses (all small) for the
  storage driver, which only acts on claims and volumes of classes of its provisioner;
- one timer task over a heap of per-object wake-ups (no task per pod: 5,000 pods stay cheap);
- pod status writes as strategic merge patches on ``pods/status`` carrying the resourceVersion they
  were computed from (the kubelet status manager's optimistic lock): on 409 re-read and recompute.

Run it alone: ``python -m kruise_py.sandbox.simulator --kubeconfig K --nodes 3``; embed it with
:class:`Simulator` (asyncio) or :class:`BackgroundSimulator` (a thread, for tests and the sandbox).
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import contextlib
import dataclasses
import heapq
import logging
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kruise_py.runtime.client import ApiError, ClientOptions, KubeClient, path_for
from kruise_py.runtime.informer import Informer
from kruise_py.sandbox import storage
from kruise_py.sandbox.kubelet import (
    ANN_EXIT_CODE,
    ANN_RUN_SECONDS,
    SIM_LABEL,
    IPPool,
    PodState,
    SimConfig,
    new_node,
    new_pod_state,
    node_actions,
    node_internal_ip,
    parse_time,
    slim_pod,
    status_signature,
    step,
)

log = logging.getLogger(__name__)

NODES_PATH = "/api/v1/nodes"
PODS_PATH = "/api/v1/pods"
CLAIMS_PATH = "/api/v1/persistentvolumeclaims"
VOLUMES_PATH = "/api/v1/persistentvolumes"
CLASSES_PATH = "/apis/storage.k8s.io/v1/storageclasses"
NODE_SELECTOR = f"{SIM_LABEL}=true"
BOUND_PODS = "spec.nodeName!="


def _rv_int(obj: Mapping[str, Any]) -> int | None:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or "")
    except ValueError:
        return None


def _others_inputs(pod: Mapping[str, Any]) -> tuple[Any, ...]:
    """What others write that a pod's step reads: the spec, labels and annotations, the deletion,
    and the readiness-gate conditions (the kubelet's own conditions are what we write)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    gates = {g.get("conditionType") for g in spec.get("readinessGates") or []}
    conds = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") in gates]
    return (spec, meta.get("labels"), meta.get("annotations"), meta.get("deletionTimestamp"), conds)


def _newer(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    """Is ``new`` at least as recent as ``old``? Our own write responses race with watch events.

    resourceVersions are opaque by contract; with etcd they are increasing integers, and comparing
    them keeps a late watch event from overwriting the fresher object a PATCH returned.
    """
    if old is None:
        return True
    a, b = _rv_int(new), _rv_int(old)
    return a is None or b is None or a >= b


class _StoreView:
    """An informer's store over one of the simulator's maps: ``key(namespace, name)`` finds the entry."""

    def __init__(
        self,
        objs: Mapping[str, dict[str, Any]],
        key: Callable[[str | None, str], str | None],
        on_event: Callable[[str | None, dict[str, Any]], None],
    ) -> None:
        self.objs, self.key, self.on_event = objs, key, on_event

    def apply(self, event_type: str | None, obj: dict[str, Any]) -> None:
        self.on_event(event_type, obj)

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        k = self.key(namespace, name)
        return None if k is None else self.objs.get(k)

    def list(self, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        return builtins.list(self.objs.values())


class Simulator:
    """The kubelet of every simulated node, in one asyncio task group."""

    def __init__(self, client: KubeClient, config: SimConfig | None = None) -> None:
        self.client = client
        self.cfg = config or SimConfig()
        self.nodes: dict[str, dict[str, Any]] = {}  # owned nodes by name
        self.pods: dict[str, dict[str, Any]] = {}  # bound pods (any node) by uid
        self.pods_by_node: dict[str, set[str]] = defaultdict(set)
        self._uid_by_name: dict[tuple[str | None, str], str] = {}
        self.states: dict[str, PodState] = {}
        self.ips = IPPool(self.cfg.pod_cidr)
        self._ip_of: dict[str, str] = {}  # uid -> allocated pod IP
        self.stats: Counter[str] = Counter()
        # storage driver: claims by "ns/name", volumes and classes by name, who mounts which claim
        self.claims: dict[str, dict[str, Any]] = {}
        self.volumes: dict[str, dict[str, Any]] = {}
        self.classes: dict[str, dict[str, Any]] = {}
        self.claim_users: dict[str, set[str]] = defaultdict(set)  # "ns/claim" -> pod uids
        self._pod_claims: dict[str, set[str]] = {}  # pod uid -> "ns/claim"
        self._timers: dict[str, storage.Timers] = {}  # "c/…" or "v/…" key -> timers
        self.delays = storage.StorageDelays(
            self.cfg.provision_delay,
            self.cfg.expand_delay,
            self.cfg.fs_resize_delay,
            self.cfg.deprovision_delay,
        )
        self.synced = asyncio.Event()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # work queue (client-go semantics: dedup, never the same key twice at once)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._again: set[str] = set()
        self._failures: Counter[str] = Counter()
        # Set while nothing is queued, being synced or scheduled: until a watch event comes, the
        # simulator writes nothing more. Tests wait on it instead of sleeping (a failed node sync's
        # retry is not tracked: it only follows an API error).
        self.idle = asyncio.Event()
        # timers
        self._heap: list[tuple[float, str]] = []
        self._wake_at: dict[str, float] = {}
        self._timer_kick = asyncio.Event()
        self.informers = (
            Informer(
                client,
                NODES_PATH,
                _StoreView(self.nodes, lambda _, name: name, self._on_node_event),
                name="sim-nodes",
                label_selector=NODE_SELECTOR,
            ),
            Informer(
                client,
                PODS_PATH,
                _StoreView(self.pods, lambda ns, name: self._uid_by_name.get((ns, name)), self._on_pod_event),
                name="sim-pods",
                field_selector=BOUND_PODS,
            ),
            Informer(
                client,
                CLAIMS_PATH,
                _StoreView(self.claims, lambda ns, name: f"{ns}/{name}", self._on_claim_event),
                name="sim-claims",
            ),
            Informer(
                client,
                VOLUMES_PATH,
                _StoreView(self.volumes, lambda _, name: name, self._on_volume_event),
                name="sim-volumes",
            ),
            Informer(
                client,
                CLASSES_PATH,
                _StoreView(self.classes, lambda _, name: name, self._on_class_event),
                name="sim-classes",
            ),
        )

    # -- lifecycle ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve until :meth:`stop`. Sets :attr:`synced` once nodes and pods are listed."""
        self._loop = asyncio.get_running_loop()
        # The informers retry (with back-off) until the apiserver answers; nothing is written before
        # both lists are in (an IP handed out early could be one a listed pod already holds).
        stopped = asyncio.ensure_future(self._stop.wait())
        listed = asyncio.ensure_future(asyncio.gather(*(inf.synced.wait() for inf in self.informers)))
        tasks: list[asyncio.Future[Any]] = [stopped, listed, *(inf.start() for inf in self.informers)]
        try:
            await asyncio.wait((stopped, listed), return_when=asyncio.FIRST_COMPLETED)
            if self._stop.is_set():
                return
            self.synced.set()
            self._check_idle()
            log.debug("simulator synced: %d nodes, %d bound pods", len(self.nodes), len(self.pods))
            tasks.append(asyncio.create_task(self._timer()))
            tasks += (asyncio.create_task(self._worker()) for _ in range(max(1, self.cfg.write_concurrency)))
            await stopped
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Ask :meth:`run` to return; safe to call from any thread."""
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._stop.set)
                return
        self._stop.set()

    # -- nodes ----------------------------------------------------------------------------------
    async def ensure_nodes(
        self,
        n: int,
        prefix: str = "sim-node-",
        labels: Mapping[str, str] | None = None,
        capacity: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Register nodes ``prefix0..prefix{n-1}`` (idempotent) and mark them Ready, untainted."""
        names = [f"{prefix}{i}" for i in range(n)]
        sem = asyncio.Semaphore(max(1, self.cfg.write_concurrency))

        async def one(name: str) -> None:
            async with sem:
                try:
                    node = await self.client.create(
                        NODES_PATH, new_node(name, self.cfg, labels, capacity, time.time())
                    )
                except ApiError as e:
                    if not e.already_exists:
                        raise
                    node = await self.client.get(path_for("v1", "nodes", name=name))
                    if (node["metadata"].get("labels") or {}).get(SIM_LABEL) != "true":
                        node = await self.client.patch(
                            path_for("v1", "nodes", name=name), {"metadata": {"labels": {SIM_LABEL: "true"}}}
                        )
                await self._reconcile_node(node)

        await asyncio.gather(*(one(name) for name in names))
        return names

    def _on_node_event(self, typ: str | None, node: dict[str, Any]) -> None:
        name = node["metadata"]["name"]
        if typ == "DELETED":
            # Pods left on a deleted node are ignored, as nothing would run them.
            self.nodes.pop(name, None)
            return
        old = self.nodes.get(name)
        if not _newer(node, old):
            return
        self.nodes[name] = node
        self._enqueue(f"n/{name}")
        if old is None:
            for uid in self.pods_by_node.get(name, ()):
                self._enqueue(f"p/{uid}")

    async def _sync_node(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is not None:
            await self._reconcile_node(node)

    async def _reconcile_node(self, node: dict[str, Any]) -> None:
        """Write the node's status and drop the not-ready taint, only if something must change."""
        name = node["metadata"]["name"]
        for _ in range(8):
            status_patch, spec_patch = node_actions(node, self.cfg, time.time())
            if status_patch is None and spec_patch is None:
                return
            try:
                if spec_patch is not None:
                    node = await self.client.patch(path_for("v1", "nodes", name=name), spec_patch, "merge")
                else:
                    node = await self.client.patch(
                        path_for("v1", "nodes", name=name, subresource="status"), status_patch, "strategic"
                    )
                self.stats["node_writes"] += 1
                log.debug("node %s: wrote %s", name, "taints" if spec_patch is not None else "status")
            except ApiError as e:
                if e.not_found:
                    return
                if not e.conflict:
                    raise
                self.stats["conflicts"] += 1
                fresh = await self.client.get_or_none(path_for("v1", "nodes", name=name))
                if fresh is None:
                    return
                node = fresh
            if name in self.nodes and _newer(node, self.nodes[name]):
                self.nodes[name] = node

    # -- pods -----------------------------------------------------------------------------------
    def _slim(self, pod: dict[str, Any]) -> dict[str, Any]:
        """slim_pod, plus the node's run-time/exit-code annotations as defaults: a node annotated
        ``sim.kruise-py.io/exit-code: "1"`` plays a broken node for every pod bound to it."""
        slim = slim_pod(pod)
        node = self.nodes.get((slim.get("spec") or {}).get("nodeName") or "")
        node_ann = ((node or {}).get("metadata") or {}).get("annotations") or {}
        defaults = {k: v for k, v in node_ann.items() if k in (ANN_RUN_SECONDS, ANN_EXIT_CODE)}
        if defaults:
            slim["metadata"]["annotations"] = {**defaults, **(slim["metadata"].get("annotations") or {})}
        return slim

    def _on_pod_event(self, typ: str | None, pod: dict[str, Any]) -> None:
        pod = self._slim(pod)
        meta = pod["metadata"]
        uid, name = meta["uid"], (meta.get("namespace"), meta["name"])
        node = (pod.get("spec") or {}).get("nodeName") or ""
        if typ == "DELETED":
            self._drop_pod(uid)
            return
        if self._uid_by_name.get(name, uid) != uid:
            self._drop_pod(self._uid_by_name[name])  # re-created under the same name (seen by a relist)
        old = self.pods.get(uid)
        if not _newer(pod, old):
            return
        if old is not None and _rv_int(pod) is not None and _rv_int(old) == _rv_int(pod):
            return  # the echo of our own write, already cached from the PATCH response
        self.pods[uid] = pod
        self._uid_by_name[name] = uid
        self.pods_by_node[node].add(uid)
        self._index_claims(uid, pod)
        if node in self.nodes:
            self._enqueue(f"p/{uid}")

    def _drop_pod(self, uid: str) -> None:
        old = self.pods.pop(uid, None)
        self._index_claims(uid, None)
        if old is not None:
            self.pods_by_node[(old.get("spec") or {}).get("nodeName") or ""].discard(uid)
            name = (old["metadata"].get("namespace"), old["metadata"]["name"])
            if self._uid_by_name.get(name) == uid:
                del self._uid_by_name[name]
        self._enqueue(f"p/{uid}")

    def _forget(self, uid: str) -> None:
        self.states.pop(uid, None)
        self._failures.pop(f"p/{uid}", None)
        self._wake_at.pop(f"p/{uid}", None)
        ip = self._ip_of.pop(uid, None)
        if ip:
            self.ips.release(ip)

    def _pod_ip(self, uid: str, pod: Mapping[str, Any], host_ip: str) -> str:
        if (pod.get("spec") or {}).get("hostNetwork"):
            return host_ip
        ip = (pod.get("status") or {}).get("podIP") or ""
        if ip:
            self.ips.reserve(ip)
        else:
            ip = self.ips.allocate()
        self._ip_of[uid] = ip
        return ip

    async def _sync_pod(self, uid: str) -> None:
        pod = self.pods.get(uid)
        if pod is None:
            self._forget(uid)
            return
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None:
            return
        now = time.time()
        state = self.states.get(uid)
        if state is None:
            host_ip = node_internal_ip(node)
            state = new_pod_state(pod, self._pod_ip(uid, pod, host_ip), host_ip, now)
        d = step(pod, state, self.cfg, now)
        self.states[uid] = d.state
        meta = pod["metadata"]
        if d.delete:
            try:
                await self.client.delete(
                    path_for("v1", "pods", meta["namespace"], meta["name"]), grace_period_seconds=0, uid=uid
                )
                self.stats["deletes"] += 1
                log.debug("pod %s/%s: deletion confirmed", meta["namespace"], meta["name"])
            except ApiError as e:
                if e.status != 409:  # 409: the uid precondition failed, the pod is already gone
                    raise
            d.state.delete_sent = True
        elif d.patch is not None:
            path = path_for("v1", "pods", meta["namespace"], meta["name"], "status")
            try:
                new = await self.client.patch(path, d.patch, "strategic")
            except ApiError as e:
                if e.not_found:
                    return
                if not e.conflict:
                    raise
                # Someone (a controller's gate, the scheduler…) wrote first: re-read, recompute.
                self.stats["conflicts"] += 1
                fresh = await self.client.get_or_none(path_for("v1", "pods", meta["namespace"], meta["name"]))
                if fresh is not None and fresh["metadata"]["uid"] == uid:
                    self._on_pod_event("MODIFIED", fresh)
                self._enqueue(f"p/{uid}")
                return
            d.state.last_written = d.signature
            d.state.written_result = status_signature(new.get("status") or {})
            self.stats["status_writes"] += 1
            log.debug("pod %s/%s: status %s", meta["namespace"], meta["name"], d.patch["status"].get("phase"))
            if _newer(new, self.pods.get(uid)) and uid in self.pods:
                self.pods[uid] = self._slim(new)
                if _others_inputs(self.pods[uid]) != _others_inputs(pod):
                    # Someone wrote between our read and our write (e.g. a controller flipped a
                    # readiness gate back): the watch event of that write is older than the
                    # response now cached, so it is dropped; step again on what the response shows.
                    self._enqueue(f"p/{uid}")
                # The watch's echo of this write is skipped: wake the pod's claims here, since a
                # started pod is what lets a pending file system resize finish.
                self._index_claims(uid, self.pods[uid])
        if d.wake is not None:
            self._schedule(f"p/{uid}", d.wake)

    # -- storage driver -------------------------------------------------------------------------
    async def ensure_storage_classes(self, default: bool = True) -> None:
        """Create the sandbox CSIDriver and StorageClasses (idempotent; existing ones are kept)."""
        for obj in storage.storage_objects(default):
            plural = "csidrivers" if obj["kind"] == "CSIDriver" else "storageclasses"
            try:
                await self.client.create(f"/apis/storage.k8s.io/v1/{plural}", obj)
            except ApiError as e:
                if not e.already_exists:
                    raise

    def _index_claims(self, uid: str, pod: Mapping[str, Any] | None) -> None:
        """Track which claims the pods on our nodes mount; wake the claims whose users changed."""
        ns = ((pod or {}).get("metadata") or {}).get("namespace")
        names = {f"{ns}/{c}" for c in storage.pod_claim_names(pod)} if pod is not None else set()
        old = self._pod_claims.get(uid, set())
        if not names and not old:
            return
        for key in old - names:
            self.claim_users[key].discard(uid)
            if not self.claim_users[key]:
                del self.claim_users[key]
        for key in names:
            self.claim_users[key].add(uid)
        if names:
            self._pod_claims[uid] = names
        else:
            self._pod_claims.pop(uid, None)
        for key in old | names:
            if key in self.claims:
                self._enqueue(f"c/{key}")

    def _on_claim_event(self, typ: str | None, claim: dict[str, Any]) -> None:
        key = storage.claim_key(claim)
        if typ == "DELETED":
            self.claims.pop(key, None)
            self._timers.pop(f"c/{key}", None)
            return
        if not _newer(claim, self.claims.get(key)):
            return
        self.claims[key] = claim
        self._enqueue(f"c/{key}")

    def _on_volume_event(self, typ: str | None, volume: dict[str, Any]) -> None:
        name = volume["metadata"]["name"]
        ref = (volume.get("spec") or {}).get("claimRef") or {}
        if typ == "DELETED":
            self.volumes.pop(name, None)
            self._timers.pop(f"v/{name}", None)
        elif _newer(volume, self.volumes.get(name)):
            self.volumes[name] = volume
            self._enqueue(f"v/{name}")
        if ref.get("name") and f"{ref.get('namespace')}/{ref['name']}" in self.claims:
            self._enqueue(f"c/{ref.get('namespace')}/{ref['name']}")

    def _on_class_event(self, typ: str | None, sc: dict[str, Any]) -> None:
        name = sc["metadata"]["name"]
        if typ == "DELETED":
            self.classes.pop(name, None)
        else:
            self.classes[name] = sc
        for key, claim in self.claims.items():
            if (claim.get("spec") or {}).get("storageClassName") == name:
                self._enqueue(f"c/{key}")

    def _consumers(self, key: str) -> list[float]:
        """Start times of the running pods on simulated nodes that mount claim ``key``."""
        out = []
        for uid in self.claim_users.get(key, ()):
            pod = self.pods.get(uid)
            if pod is None or (pod.get("spec") or {}).get("nodeName") not in self.nodes:
                continue
            status = pod.get("status") or {}
            started = parse_time(status.get("startTime"))
            if started is not None and status.get("phase") not in ("Succeeded", "Failed"):
                out.append(started)
        return out

    async def _sync_claim(self, key: str) -> None:
        claim = self.claims.get(key)
        if claim is None:
            self._timers.pop(f"c/{key}", None)
            return
        spec = claim.get("spec") or {}
        volume = self.volumes.get(spec.get("volumeName") or storage.volume_name(claim))
        sc = self.classes.get(spec.get("storageClassName") or "")
        timers = self._timers.setdefault(f"c/{key}", storage.Timers())
        d = storage.step_claim(claim, volume, sc, self._consumers(key), timers, self.delays, time.time())
        ns, name = key.split("/", 1)
        try:
            if d.create_volume is not None:
                try:
                    new = await self.client.create(VOLUMES_PATH, d.create_volume)
                    self._on_volume_event("ADDED", new)
                    self.stats["volume_creates"] += 1
                except ApiError as e:
                    if not e.already_exists:
                        raise
            if d.volume_patch is not None and volume is not None:
                new = await self.client.patch(
                    path_for("v1", "persistentvolumes", name=volume["metadata"]["name"]),
                    d.volume_patch,
                    "merge",
                )
                self._on_volume_event("MODIFIED", new)
                self.stats["volume_writes"] += 1
            if d.status_patch is not None:
                # The resourceVersion makes a stale decision fail (409) instead of overwriting.
                body = {
                    **d.status_patch,
                    "metadata": {"resourceVersion": claim["metadata"]["resourceVersion"]},
                }
                new = await self.client.patch(
                    path_for("v1", "persistentvolumeclaims", ns, name, "status"), body, "merge"
                )
                self._on_claim_event("MODIFIED", new)
                self.stats["claim_writes"] += 1
        except ApiError as e:
            if e.not_found:
                return
            if not e.conflict:
                raise
            self.stats["conflicts"] += 1
            fresh = await self.client.get_or_none(path_for("v1", "persistentvolumeclaims", ns, name))
            if fresh is not None:
                self._on_claim_event("MODIFIED", fresh)
            self._enqueue(f"c/{key}")
            return
        if d.wake is not None:
            self._schedule(f"c/{key}", d.wake)

    async def _sync_volume(self, name: str) -> None:
        volume = self.volumes.get(name)
        if volume is None:
            self._timers.pop(f"v/{name}", None)
            return
        delete, wake = storage.step_volume(
            volume, self._timers.setdefault(f"v/{name}", storage.Timers()), self.delays, time.time()
        )
        if delete:
            try:
                await self.client.delete(
                    path_for("v1", "persistentvolumes", name=name), uid=volume["metadata"].get("uid")
                )
                self.stats["volume_deletes"] += 1
            except ApiError as e:
                if not (e.not_found or e.status == 409):
                    raise
        elif wake is not None:
            self._schedule(f"v/{name}", wake)

    # -- work queue -----------------------------------------------------------------------------
    def _check_idle(self) -> None:
        if self._queued or self._active or self._wake_at:
            self.idle.clear()
        else:
            self.idle.set()

    def _enqueue(self, key: str) -> None:
        self.idle.clear()
        if key in self._active:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            kind, _, ident = key.partition("/")
            try:
                if kind == "n":
                    await self._sync_node(ident)
                elif kind == "c":
                    await self._sync_claim(ident)
                elif kind == "v":
                    await self._sync_volume(ident)
                else:
                    await self._sync_pod(ident)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                # Unexpected API answers (validation, outages): retry this key with back-off.
                self.stats["errors"] += 1
                self._failures[key] += 1
                delay = min(30.0, 0.5 * 2 ** (self._failures[key] - 1))
                log.warning("sync %s failed (retry in %.1fs): %s", key, delay, e)
                if kind != "n":
                    self._schedule(key, time.time() + delay)
                else:
                    asyncio.get_running_loop().call_later(delay, self._enqueue, key)
            else:
                self._failures.pop(key, None)
            finally:
                self._active.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    self._enqueue(key)
                self._check_idle()

    # -- timers ---------------------------------------------------------------------------------
    def _schedule(self, key: str, when: float) -> None:
        """Enqueue work key ``key`` ("p/<uid>", "c/<ns>/<name>", "v/<name>") at ``when``."""
        current = self._wake_at.get(key)
        if current is not None and current <= when:
            return  # an earlier wake-up will recompute (and reschedule) anyway
        self._wake_at[key] = when
        self.idle.clear()
        heapq.heappush(self._heap, (when, key))
        if self._heap[0] == (when, key):
            self._timer_kick.set()

    async def _timer(self) -> None:
        while True:
            now = time.time()
            while self._heap and self._heap[0][0] <= now:
                when, key = heapq.heappop(self._heap)
                if self._wake_at.get(key) == when:  # else superseded by an earlier wake-up
                    del self._wake_at[key]
                    self._enqueue(key)
            self._timer_kick.clear()
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_kick.wait(), timeout)


class BackgroundSimulator:
    """A :class:`Simulator` on its own event loop in a daemon thread (tests, ``sandbox up``)."""

    def __init__(
        self,
        kubeconfig: str,
        config: SimConfig | None = None,
        nodes: int = 0,
        node_prefix: str = "sim-node-",
        options: ClientOptions | None = None,
    ) -> None:
        self.kubeconfig, self.config = kubeconfig, config or SimConfig()
        self.nodes, self.node_prefix = nodes, node_prefix
        self.options = options or simulator_client_options(self.config)
        self.sim: Simulator | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 60.0) -> BackgroundSimulator:
        self._thread = threading.Thread(target=self._main, name="kruise-py-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("node simulator did not sync in time")
        if self._error is not None:
            raise RuntimeError("node simulator failed to start") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.sim is not None:
            self.sim.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stats(self) -> Counter[str]:
        return self.sim.stats if self.sim else Counter()

    def __enter__(self) -> BackgroundSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._amain())
        except BaseException as e:  # surfaced by start()
            self._error = e
        finally:
            self._ready.set()

    async def _amain(self) -> None:
        client = KubeClient.connect(self.kubeconfig, self.options)
        try:
            self.sim = Simulator(client, self.config)
            if self.nodes:
                await self.sim.ensure_nodes(self.nodes, self.node_prefix)
            task = asyncio.create_task(self.sim.run())
            synced = asyncio.create_task(self.sim.synced.wait())
            await asyncio.wait({task, synced}, return_when=asyncio.FIRST_COMPLETED)
            self._ready.set()
            await task
        finally:
            await client.close()


def simulator_client_options(cfg: SimConfig, qps: float = 0.0, burst: int = 1000) -> ClientOptions:
    """No client-side rate limit by default: the write concurrency bounds the load instead."""
    return ClientOptions(
        qps=qps, burst=burst, connections=cfg.write_concurrency + 8, user_agent="kruise-py-simulator"
    )


# -- CLI -----------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kruise_py.sandbox.simulator",
        description="Play the kubelet for simulated nodes (Nodes labelled kruise-py.io/simulated=true).",
    )
    p.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster, $KUBECONFIG, ~/.kube/config)")
    p.add_argument("--nodes", type=int, default=3, help="register sim nodes <prefix>0..N-1 (default 3)")
    p.add_argument("--node-prefix", default="sim-node-")
    p.add_argument("--cpu", help="node cpu capacity (default 8)")
    p.add_argument("--memory", help="node memory capacity (default 32Gi)")
    p.add_argument("--max-pods", help="node pods capacity (default 110)")
    p.add_argument(
        "--label", action="append", default=[], metavar="K=V", help="extra node label (repeatable)"
    )
    defaults = SimConfig()
    for f in dataclasses.fields(SimConfig):
        if f.type in ("float", float):
            p.add_argument(
                f"--{f.name.replace('_', '-')}",
                type=float,
                default=getattr(defaults, f.name),
                metavar="SECONDS",
                help=f"(default {getattr(defaults, f.name)})",
            )
    p.add_argument(
        "--unpullable-pattern",
        default=defaults.unpullable_pattern,
        help="regex of images that can never be pulled",
    )
    p.add_argument("--pod-cidr", default=defaults.pod_cidr)
    p.add_argument("--write-concurrency", type=int, default=defaults.write_concurrency)
    p.add_argument(
        "--storage-classes",
        action="store_true",
        help=f"create the sandbox StorageClasses ({storage.EXPANDABLE_CLASS}, the default one, and "
        f"{storage.FIXED_CLASS}) served by the simulated provisioner {storage.PROVISIONER}",
    )
    p.add_argument("--qps", type=float, default=0.0, help="client rate limit (0: none)")
    p.add_argument("--burst", type=int, default=1000)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    kw: dict[str, Any] = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(SimConfig) if f.type in ("float", float)
    }
    cap = dict(SimConfig().node_capacity)
    for key, val in (("cpu", args.cpu), ("memory", args.memory), ("pods", args.max_pods)):
        if val:
            cap[key] = val
    labels = dict(item.split("=", 1) for item in args.label)
    return SimConfig(
        **kw,
        unpullable_pattern=args.unpullable_pattern,
        pod_cidr=args.pod_cidr,
        write_concurrency=args.write_concurrency,
        node_capacity=cap,
        node_labels=labels,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    cfg = config_from_args(args)

    async def amain() -> None:
        client = KubeClient.connect(args.kubeconfig, simulator_client_options(cfg, args.qps, args.burst))
        sim = Simulator(client, cfg)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, sim.stop)
        try:
            if args.nodes:
                await sim.ensure_nodes(args.nodes, args.node_prefix)
            if args.storage_classes:
                await sim.ensure_storage_classes(default=True)
            await sim.run()
        finally:
            await client.close()

    asyncio.run(amain())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
