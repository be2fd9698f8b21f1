"""`kruise-py rollout status|pause|resume|history|undo|restart` and `kruise-py set image` for
Advanced StatefulSets, like `kubectl-kruise rollout` and `kubectl set image`.

The decisions are pure and unit-tested (what a set's status says about its rollout, how to show it,
which revision an undo goes back to); the commands at the bottom only read and write through the
one client.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from .core import revisions as rev

Obj = dict[str, Any]
GROUP_VERSION = "apps.kruise.io/v1beta1"
FAILURE_CONDITIONS = ("FailedCreatePod", "FailedUpdatePod")


# -- pure: progress ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    name: str
    replicas: int
    updated: int
    ready: int
    available: int
    updated_ready: int
    partition: int
    paused: bool
    update_revision: str
    current_revision: str
    target: int  # pods this rollout updates: replicas - partition
    state: str  # "progressing" | "paused" | "complete" | "failed"
    message: str

    @property
    def done(self) -> bool:
        return self.state == "complete"

    @property
    def fraction(self) -> float:
        """Share of the rollout's pods that are updated and ready (1.0 when there are none)."""
        return 1.0 if self.target <= 0 else min(1.0, self.updated_ready / self.target)


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def progress(sts: Mapping[str, Any]) -> Progress:
    """What the set's status says about its rollout, with kubectl's rules for StatefulSets
    (spec observed, all pods ready, partitioned roll out, update revision current), plus our
    failure conditions and pause."""
    md, spec, st = sts.get("metadata") or {}, sts.get("spec") or {}, sts.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    ru = strategy.get("rollingUpdate") or {}
    replicas = _int(spec.get("replicas", 1))
    partition = min(replicas, _int(ru.get("partition")))
    paused = bool(ru.get("paused"))
    name = str(md.get("name", ""))
    updated, ready = _int(st.get("updatedReplicas")), _int(st.get("readyReplicas"))
    update_rev, current_rev = str(st.get("updateRevision") or ""), str(st.get("currentRevision") or "")
    target = replicas - partition

    def out(state: str, message: str) -> Progress:
        if state == "progressing" and paused:
            state, message = "paused", f"{message} (rollout paused: `kruise-py rollout resume {name}`)"
        return Progress(
            name=name,
            replicas=replicas,
            updated=updated,
            ready=ready,
            available=_int(st.get("availableReplicas")),
            updated_ready=_int(st.get("updatedReadyReplicas")),
            partition=partition,
            paused=paused,
            update_revision=update_rev,
            current_revision=current_rev,
            target=target,
            state=state,
            message=message,
        )

    for c in st.get("conditions") or []:
        if c.get("type") in FAILURE_CONDITIONS and c.get("status") == "True":
            return out("failed", f"{c['type']}: {c.get('message') or c.get('reason') or ''}".strip())
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return out("failed", "rollout status is only available for the RollingUpdate strategy type")
    generation, observed = _int(md.get("generation")), _int(st.get("observedGeneration"))
    if observed == 0 or generation > observed:
        return out("progressing", "waiting for the controller to observe the spec update")
    if ready < replicas:
        return out("progressing", f"waiting for {replicas - ready} pods to be ready")
    if partition > 0:
        if updated < target:
            return out(
                "progressing",
                f"waiting for partitioned roll out to finish: {updated} of "
                f"{target} new pods have been updated",
            )
        return out("complete", f"partitioned roll out complete: {updated} new pods have been updated")
    if update_rev != current_rev:
        return out(
            "progressing",
            f"waiting for rolling update to complete: {updated} of {replicas} pods at revision {update_rev}",
        )
    return out("complete", f"rolling update complete: {replicas} pods at revision {update_rev}")


def render(p: Progress, tty: bool, width: int = 24) -> str:
    """One status line; on a terminal it starts with a progress bar."""
    counts = (
        f"{p.updated}/{p.replicas} updated, {p.ready}/{p.replicas} ready, "
        f"{p.available}/{p.replicas} available, partition {p.partition}{', paused' if p.paused else ''}"
    )
    line = f"{p.name}: {counts} - {p.message}"
    if not tty:
        return line
    filled = round(p.fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {round(p.fraction * 100):3d}% {line}"


def parse_duration(text: str) -> float:
    """`90`, `90s`, `5m`, `1h30m` (kubectl's --timeout style) in seconds; 0 means no limit."""
    s = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise ValueError(f"invalid duration {text!r} (examples: 90s, 5m, 1h30m)")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


class FailureGrace:
    """A failure condition lives one reconcile round and a transient error clears with the next
    round, so `status` gives up only when the failure has shown for ``grace`` seconds."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.since: float | None = None

    def failed(self, p: Progress, now: float) -> bool:
        if p.state != "failed":
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return now - self.since >= self.grace


# -- pure: history and undo -------------------------------------------------------------------------
def owned_revisions(sts: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]]) -> list[Obj]:
    uid = (sts.get("metadata") or {}).get("uid")
    mine = [
        r
        for r in revisions
        if any(
            o.get("uid") == uid and o.get("controller")
            for o in (r.get("metadata") or {}).get("ownerReferences") or []
        )
    ]
    return rev.sort_revisions(mine)


def images(template: Mapping[str, Any] | None) -> str:
    spec = (template or {}).get("spec") or {}
    return ",".join(f"{c.get('name')}={c.get('image')}" for c in spec.get("containers") or [])


def history_rows(sts: Mapping[str, Any], revisions: list[Obj]) -> list[tuple[str, str, str, str]]:
    """(REVISION, NAME, STATUS, CONTAINERS) per revision, oldest first."""
    st = sts.get("status") or {}
    rows = []
    for r in revisions:
        name = r["metadata"]["name"]
        marks = [
            m
            for m, key in (("current", "currentRevision"), ("update", "updateRevision"))
            if st.get(key) == name
        ]
        rows.append((str(r.get("revision", "")), name, ",".join(marks), images(rev.revision_template(r))))
    return rows


def format_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]
    )


class UndoError(Exception):
    pass


def rollback_target(sts: Mapping[str, Any], revisions: list[Obj], to_revision: int) -> Obj | None:
    """The revision an undo restores (kubectl's rules): ``to_revision`` 0 is the one before the
    latest. ``None``: the set's template already is that revision's (nothing to do)."""
    ordered = rev.sort_revisions(revisions)
    if to_revision == 0:
        if len(ordered) <= 1:
            raise UndoError("no rollout history found: no previous revision to roll back to")
        target = ordered[-2]
    else:
        found = [r for r in ordered if r.get("revision") == to_revision]
        if not found:
            have = ", ".join(str(r.get("revision")) for r in ordered) or "none"
            raise UndoError(f"unable to find the specified revision {to_revision} in history (have: {have})")
        target = found[-1]
    template = rev.revision_template(target)
    if template is None:
        raise UndoError(f"revision {target['metadata']['name']} holds no pod template")
    current = (sts.get("spec") or {}).get("template")
    # By content: the revision holds the Go-shaped template (or, from an older kruise-py, the
    # template as stored), the set the template as the user wrote it.
    if isinstance(current, Mapping) and rev.go_template(template) == rev.go_template(current):
        return None
    return target


def undo_patch(sts: Mapping[str, Any], target: Mapping[str, Any]) -> list[Obj]:
    """JSON patch restoring the revision's template as a whole (as the revision's `$patch: replace`
    says; a CRD takes no strategic merge patch). The `test` makes it fail if the set changed since
    we read it."""
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": sts["metadata"]["resourceVersion"]},
        {"op": "replace", "path": "/spec/template", "value": rev.revision_template(target)},
    ]


RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # kubectl's own annotation for `rollout restart`
IN_PLACE_POLICIES = ("InPlaceIfPossible", "InPlaceOnly")


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _rv_test(sts: Mapping[str, Any]) -> Obj:
    return {"op": "test", "path": "/metadata/resourceVersion", "value": sts["metadata"]["resourceVersion"]}


def restart_patch(sts: Mapping[str, Any], now: str) -> list[Obj]:
    """`rollout restart`, as kubectl does it: the template annotation restartedAt set to now. Each
    pod then rolls under the set's strategy: recreated (ReCreate), or updated in place (the
    in-place policies: a metadata-only change keeps the pod, its node, IP and volumes)."""
    tmeta = ((sts.get("spec") or {}).get("template") or {}).get("metadata") or {}
    ops = [_rv_test(sts)]
    if not isinstance(tmeta.get("annotations"), Mapping):
        ops.append({"op": "add", "path": "/spec/template/metadata/annotations", "value": {}})
    ops.append(
        {"op": "add", "path": f"/spec/template/metadata/annotations/{_pointer(RESTARTED_AT)}", "value": now}
    )
    if not ((sts.get("spec") or {}).get("template") or {}).get("metadata"):
        ops.insert(1, {"op": "add", "path": "/spec/template/metadata", "value": {}})
    return ops


def restart_mode(sts: Mapping[str, Any]) -> str:
    ru = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    return "in place" if ru.get("podUpdatePolicy") in IN_PLACE_POLICIES else "recreated"


def parse_image_args(pairs: Sequence[str]) -> dict[str, str]:
    """`container=image` pairs (`*=image`: every container), as `kubectl set image`."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, image = pair.partition("=")
        if not sep or not name or not image:
            raise ValueError(f"expected CONTAINER=IMAGE, got {pair!r}")
        out[name] = image
    if not out:
        raise ValueError("give at least one CONTAINER=IMAGE")
    return out


def set_image_patch(sts: Mapping[str, Any], images: Mapping[str, str]) -> list[Obj]:
    """JSON patch setting the images of the named containers (and init containers) of the template.
    Raises ValueError naming a container the template does not have."""
    pod = ((sts.get("spec") or {}).get("template") or {}).get("spec") or {}
    ops = [_rv_test(sts)]
    found: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, c in enumerate(pod.get(key) or []):
            name = c.get("name")
            image = images.get(name, images.get("*"))
            if image is None:
                continue
            found.add(name)
            if c.get("image") != image:
                ops.append({"op": "replace", "path": f"/spec/template/spec/{key}/{i}/image", "value": image})
    missing = sorted(set(images) - found - {"*"})
    if missing:
        names = [c.get("name") for k in ("initContainers", "containers") for c in pod.get(k) or []]
        raise ValueError(
            f"unable to find container named {', '.join(missing)} (the template has {', '.join(map(str, names))})"
        )
    return ops


def split_ref(ref: str) -> str:
    """`web`, `asts/web`, `statefulset.apps.kruise.io/web` -> `web` (kubectl's TYPE/NAME form)."""
    kind, sep, name = ref.partition("/")
    if not sep:
        return ref
    if kind.lower() not in (
        "asts",
        "statefulset.apps.kruise.io",
        "statefulsets.apps.kruise.io",
        "statefulset",
        "statefulsets",
    ):
        raise ValueError(f"{ref}: only Advanced StatefulSets (asts/NAME) are supported")
    return name


# -- commands ---------------------------------------------------------------------------------------
def _kind_ref(name: str) -> str:
    return f"statefulset.apps.kruise.io/{name}"


def main(args: Any, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from .runtime.client import ApiError

    try:
        args.name = split_ref(args.name)
        return asyncio.run(_run(args, out, err))
    except ApiError as e:
        print(f"error: {e.message}", file=err)
        return 1
    except (UndoError, ValueError) as e:
        print(f"error: {e}", file=err)
        return 1


async def _run(args: Any, out: TextIO, err: TextIO) -> int:
    from .runtime.client import KubeClient, load_credentials, path_for

    creds = load_credentials(args.kubeconfig)
    async with KubeClient(creds) as c:
        ns = args.namespace or creds.namespace or "default"
        path = path_for(GROUP_VERSION, "statefulsets", ns, args.name)

        async def read() -> Obj | None:
            return await c.get_or_none(path)

        sts = await read()
        if sts is None:
            print(f"error: Advanced StatefulSet {ns}/{args.name} not found", file=err)
            return 1
        action = args.action
        if action in ("pause", "resume"):
            want = action == "pause"
            ru = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
            if bool(ru.get("paused")) == want:
                print(f"{_kind_ref(args.name)} already {'paused' if want else 'resumed'}", file=out)
                return 0
            await c.patch(path, {"spec": {"updateStrategy": {"rollingUpdate": {"paused": want}}}}, "merge")
            print(f"{_kind_ref(args.name)} {'paused' if want else 'resumed'}", file=out)
            return 0
        if action == "status":
            return await _status(read, args, out, err)
        if action == "restart":
            from datetime import UTC, datetime

            await c.patch(path, restart_patch(sts, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")), "json")
            print(
                f"{_kind_ref(args.name)} restarted (pods {restart_mode(sts)}, under the update strategy)",
                file=out,
            )
            return 0
        if action == "image":
            ops = set_image_patch(sts, parse_image_args(args.images))
            if len(ops) == 1:
                print(f"{_kind_ref(args.name)} image unchanged", file=out)
                return 0
            await c.patch(path, ops, "json")
            print(f"{_kind_ref(args.name)} image updated", file=out)
            return 0
        revs, _ = await c.list_all(path_for("apps/v1", "controllerrevisions", ns))
        mine = owned_revisions(sts, revs)
        if action == "history":
            if args.revision:
                r = next((r for r in mine if r.get("revision") == args.revision), None)
                if r is None:
                    print(
                        f"error: unable to find the specified revision {args.revision} in history", file=err
                    )
                    return 1
                import yaml

                print(
                    f"{_kind_ref(args.name)} with revision #{args.revision} ({r['metadata']['name']})",
                    file=out,
                )
                print("Pod Template:", file=out)
                print(
                    yaml.safe_dump({"template": rev.revision_template(r)}, sort_keys=False).rstrip(), file=out
                )
                return 0
            print(f"{_kind_ref(args.name)}", file=out)
            print(
                format_table(("REVISION", "NAME", "STATUS", "CONTAINERS"), history_rows(sts, mine)), file=out
            )
            return 0
        if action == "undo":
            target = rollback_target(sts, mine, args.to_revision)
            if target is None:
                print(
                    f"{_kind_ref(args.name)} skipped rollback (current template already matches "
                    f"revision {args.to_revision or 'previous'})",
                    file=out,
                )
                return 0
            await c.patch(path, undo_patch(sts, target), "json")
            print(
                f"{_kind_ref(args.name)} rolled back to revision {target.get('revision')} "
                f"({target['metadata']['name']})",
                file=out,
            )
            return 0
    return 2


async def _status(read: Callable[[], Any], args: Any, out: TextIO, err: TextIO) -> int:
    tty = out.isatty()
    timeout = parse_duration(args.timeout) if args.timeout else 0.0
    start = time.monotonic()
    grace = FailureGrace(args.failure_grace)
    last = ""
    while True:
        sts = await read()
        if sts is None:
            print(f"\nerror: {args.name} was deleted" if tty else f"error: {args.name} was deleted", file=err)
            return 1
        p = progress(sts)
        line = render(p, tty)
        if tty:
            out.write("\r\033[K" + line)
            out.flush()
        elif line != last:
            print(line, file=out, flush=True)
        last = line
        now = time.monotonic()
        if p.done:
            if tty:
                out.write("\n")
            return 0
        if not args.watch or grace.failed(p, now):
            if tty:
                out.write("\n")
            if p.state == "failed":
                print(f"error: rollout of {args.name} failed: {p.message}", file=err)
            return 1
        if timeout and now - start >= timeout:
            if tty:
                out.write("\n")
            print(
                f"error: timed out after {args.timeout} waiting for the rollout of {args.name}: {p.message}",
                file=err,
            )
            return 1
        await asyncio.sleep(args.interval)
