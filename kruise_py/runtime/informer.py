"""List+watch into a cache, with client-go informer semantics (docs/decisions.md, "Watches").

- ``synced`` is set once the initial LIST is in the cache, so controllers never act on a
  half-loaded world (e.g. a BroadcastJob creating a second pod on a node whose pod is not yet seen).
- A relist (410 Gone, or a broken stream) *replaces* the cache: objects that vanished while we were
  not watching get a DELETED notification, instead of staying as ghosts.
- The watch resumes from the newest resourceVersion seen (bookmarks included).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import gc
import logging
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .client import ApiError, KubeClient

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# (event type "ADDED"|"MODIFIED"|"DELETED", old object or None, new object or None)
Handler = Callable[[str, Obj | None, Obj | None], None]


class Store(Protocol):
    def apply(self, event_type: str | None, obj: Obj) -> None: ...
    def get(self, namespace: str | None, name: str) -> Obj | None: ...
    def list(self, namespace: str | None = None) -> builtins.list[Obj]: ...


def _key(obj: Obj) -> tuple[str | None, str]:
    md = obj.get("metadata", {})
    return md.get("namespace"), md["name"]


# Strings shared between cached objects (see _compact). Bounded: values such as resourceVersions
# and timestamps are unique, and a dict holding them would otherwise only grow; when full it is
# simply emptied (objects already compacted keep sharing what they share).
_MEMO_MAX = 1 << 16
_MEMO_MAX_LEN = 64
_memo: dict[str, str] = {}
_intern = sys.intern
# Equal subtrees (dicts and lists, after compaction) shared between cached objects (see _compact),
# by their items, children by identity. Bounded like _memo: subtrees unique to one object (its
# conditions' timestamps, its container IDs) would otherwise only add up; when full it is emptied.
_TREES_MAX = 1 << 13
_trees: dict[tuple[Any, ...], Any] = {}
# The objects most recently slimmed, by (uid, resourceVersion), oldest first (see _slim). Bounded:
# it holds versions the caches may already have replaced (<= ~8 MiB of pods).
_RECENT_MAX = 1024
_recent: dict[tuple[str, str], Obj] = {}


def _tree(key: tuple[Any, ...], o: Any) -> Any:
    hit = _trees.get(key)
    if hit is not None:
        return hit
    if len(_trees) >= _TREES_MAX:
        _trees.clear()
    _trees[key] = o
    return o


def _compact(o: Any, share: bool = True) -> Any:
    """The same JSON data with dict keys interned, short string values shared, and equal
    subtrees one object.

    The json module memoizes keys only within one document, so every watch event allocated fresh
    strings for every key and value: a pod cached from a watch event took ~18 KiB, ~9 KiB with
    its strings shared (docs/benchmarks.md, P4). Keys are a small fixed set (field names, label
    and annotation keys), hence ``sys.intern``; values go through the bounded memo above.

    Most of what is left is small dicts and lists that are equal in every pod of a set: the
    service-account volume's projected sources, the default tolerations, ``resources: {}``, the
    owner reference, the readiness gates. Built bottom-up, a subtree whose children are already
    shared is looked up by its items and replaced by the equal one seen before: the two pod
    informers over 5000 pods of `bench scale` traced 10.5 -> 5.1 KB per pod, same list CPU. Cached objects are read-only (runtime/cache.py), which is
    what makes this safe, as for the informers' shared copies in :func:`_slim`. An object's
    own top level and its ``metadata`` (uid, resourceVersion: never equal) are not looked up.
    """
    t = type(o)
    if t is dict:
        return _compact_dict(o, share)
    if t is list:
        return _compact_list(o)
    return o


# The walk below is the restart's second cost after decoding (py-spy, 5,000 pods): written out
# by hand, with no call per string or scalar, it takes ~half the time of the one-line version.
def _compact_dict(o: dict[str, Any], share: bool) -> Any:
    d: dict[str, Any] = {}
    tokens: list[Any] = []
    memo, intern = _memo, _intern
    for k, v in o.items():
        t = type(v)
        if t is str:
            if len(v) <= _MEMO_MAX_LEN:
                hit = memo.get(v)
                if hit is None:
                    if len(memo) >= _MEMO_MAX:
                        memo.clear()
                    memo[v] = hit = v
                v = hit
            tokens.append(v)
        elif t is dict:
            v = _compact_dict(v, k != "metadata")
            tokens.append(id(v))
        elif t is list:
            v = _compact_list(v)
            tokens.append(id(v))
        else:  # True == 1 == 1.0 must not make two subtrees equal
            tokens.append((t, v))
        d[intern(k)] = v
    if not share or "metadata" in d:
        return d
    return _tree((*d, *tokens), d)


def _compact_list(o: list[Any]) -> Any:
    lst: list[Any] = []
    tokens: list[Any] = [None]
    memo = _memo
    for v in o:
        t = type(v)
        if t is str:
            if len(v) <= _MEMO_MAX_LEN:
                hit = memo.get(v)
                if hit is None:
                    if len(memo) >= _MEMO_MAX:
                        memo.clear()
                    memo[v] = hit = v
                v = hit
            tokens.append(v)
        elif t is dict:
            v = _compact_dict(v, True)
            tokens.append(id(v))
        elif t is list:
            v = _compact_list(v)
            tokens.append(id(v))
        else:
            tokens.append((t, v))
        lst.append(v)
    return _tree(tuple(tokens), lst)


def _slim(obj: Obj) -> Obj:
    """The object as cached: without ``metadata.managedFields`` (as controller-runtime's
    TransformStripManagedFields: no controller reads it, and it is ~35% of a pod's JSON and ~40%
    of its memory once decoded; 5000 pods: 165 MiB -> 94 MiB, docs/benchmarks.md P4), and
    with its strings shared (:func:`_compact`). Returns a new dict, or the one already returned
    for this uid and resourceVersion."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return obj
    md.pop("managedFields", None)
    # Several informers see the same object (the StatefulSet controller's label-selected pods and
    # the SidecarSet controller's all pods): the same uid at the same resourceVersion is the same
    # content, so they get one shared (read-only) copy instead of one each.
    key = (str(md.get("uid") or ""), str(md.get("resourceVersion") or ""))
    if key[0] and key[1]:
        hit = _recent.get(key)
        if hit is not None:
            return hit
    compact: Obj = _compact(obj)
    if key[0] and key[1]:
        _recent[key] = compact
        if len(_recent) > _RECENT_MAX:
            del _recent[next(iter(_recent))]
    return compact


_pauses = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a LIST is decoded and cached.

    JSON data has no reference cycles, so a collection during a load finds nothing, but CPython
    triggers one every 700 new containers and its older generations traverse the growing cache:
    5,000 pods decoded 1.23 s with it on, 0.43 s off (docs/benchmarks.md). Nested and
    concurrent relists share one pause; the collector is back when the last ends."""
    global _pauses
    if _pauses == 0 and not gc.isenabled():  # someone else turned it off: leave it so
        yield
        return
    _pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0:
            gc.enable()


def label_matcher(selector: str) -> Callable[[Obj], bool] | None:
    """A local test for an equality-based label selector (``a``, ``!a``, ``a=b``, ``a==b``,
    ``a!=b``, comma-separated: all must hold), as the apiserver applies it; None for one it
    cannot read (set-based terms), which then stays a server-side selector."""
    terms: list[tuple[str, str, str]] = []
    for raw in selector.split(","):
        t = raw.strip()
        if not t or any(c in t for c in "() "):
            return None
        if "!=" in t:
            k, v = t.split("!=", 1)
            terms.append(("!=", k, v))
        elif "=" in t:
            k, v = t.split("==", 1) if "==" in t else t.split("=", 1)
            terms.append(("=", k, v))
        elif t.startswith("!"):
            terms.append(("!", t[1:], ""))
        else:
            terms.append(("", t, ""))
    if not terms or any(not k or "=" in v or "!" in k for _, k, v in terms):
        return None

    def match(obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for op, k, v in terms:
            have = labels.get(k)
            if op == "" and have is None:
                return False
            if op == "!" and have is not None:
                return False
            if op == "=" and have != v:
                return False
            if op == "!=" and have == v:
                return False
        return True

    return match


class Informer:
    def __init__(
        self,
        client: KubeClient,
        path: str,
        store: Store,
        *,
        name: str = "",
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
        watch_timeout: int = 300,
    ) -> None:
        self.client = client
        self.path = path
        self.store = store
        self.name = name or path
        # Several informers (one per watched namespace) may share one store: a relist may only
        # replace its own namespace's objects.
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.handlers: list[Handler] = []
        self.synced = asyncio.Event()
        self.relists = 0
        self._rv = ""
        self._task: asyncio.Task[None] | None = None

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name=f"informer:{self.name}")
        return self._task

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def reselect(self, label_selector: str | None) -> None:
        """Watch another selection: a fresh LIST with ``label_selector`` replaces the cache as a
        relist does (objects leaving the selection get DELETED, new ones ADDED), then the watch
        goes on from it. Returns once that LIST is in the cache (sharding's hand-over needs it)."""
        running = self._task is not None and not self._task.done()
        if running and label_selector == self.label_selector and self.synced.is_set():
            return
        await self.stop()
        self.label_selector = label_selector
        self.synced.clear()
        self.start()
        await self.synced.wait()

    def _notify(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        for h in self.handlers:
            try:
                h(etype, old, new)
            except Exception:  # a buggy handler must not kill the watch
                log.exception("informer %s: handler failed on %s", self.name, etype)

    def _selectors(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        return params

    async def relist(self) -> None:
        with gc_paused():
            await self._relist()

    async def _relist(self) -> None:
        items, rv = await self.client.list_all(
            self.path, limit=self.page_size, transform=_slim, **self._selectors()
        )
        seen = set()
        for obj in items:
            k = _key(obj)
            seen.add(k)
            old = self.store.get(*k)
            if old is not None and old.get("metadata", {}).get("resourceVersion") == obj["metadata"].get(
                "resourceVersion"
            ):
                continue
            self.store.apply("MODIFIED" if old is not None else "ADDED", obj)
            self._notify("MODIFIED" if old is not None else "ADDED", old, obj)
        for old in builtins.list(self.store.list(self.namespace)):
            if _key(old) not in seen:
                self.store.apply("DELETED", old)
                self._notify("DELETED", old, None)
        self._rv = rv
        self.relists += 1

    async def run(self) -> None:
        backoff = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self.relist()
                    need_list = False
                    self.synced.set()
                    backoff = 0.2
                need_list = await self._watch_once()
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                need_list = need_list or e.status == 410
                log.warning("informer %s: %s; retrying in %.1fs", self.name, e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0) * (0.8 + random.random() * 0.4)
            except Exception as e:  # connection drops, apiserver restarts
                log.warning("informer %s: watch broke (%r); retrying in %.1fs", self.name, e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0) * (0.8 + random.random() * 0.4)

    async def _watch_once(self) -> bool:
        """Watch from the last resourceVersion; returns True if a relist is needed."""
        events = self.client.watch(
            self.path, self._rv, timeout_seconds=self.watch_timeout, **self._selectors()
        )
        async for ev in events:
            etype, obj = ev.get("type"), ev.get("object") or {}
            if etype == "ERROR":
                code = obj.get("code")
                log.info("informer %s: watch error %s (%s); relisting", self.name, code, obj.get("reason"))
                return True
            rv = obj.get("metadata", {}).get("resourceVersion")
            if rv:
                self._rv = rv
            if etype == "BOOKMARK":
                continue
            obj = _slim(obj)
            old = self.store.get(*_key(obj))
            self.store.apply(etype, obj)
            if etype == "DELETED":
                self._notify("DELETED", old or obj, None)
            else:
                self._notify("MODIFIED" if old is not None else "ADDED", old, obj)
        return False
