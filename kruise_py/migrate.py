"""`kruise-py migrate check`: a read-only preflight before kruise-py takes over from OpenKruise.

It lists what the controllers read (the three kinds, pods, ControllerRevisions, claims, nodes,
namespaces), asks the controllers' planners what their first reconcile would do to each object
(controllers/preflight.py), and checks the surroundings: whose CRDs are installed, whether
OpenKruise's manager and webhooks are still there. It writes nothing. Exit 0: taking over restarts
no pod; 1: some pod would restart (or something blocks the takeover); docs/migrate.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .api import broadcastjob as bcj
from .api import sidecarset as scs
from .api import statefulset as sts
from .controllers import preflight
from .core.obj import meta as _meta
from .runtime.client import ApiError, KubeClient, load_credentials, path_for

Obj = dict[str, Any]
GROUP = "apps.kruise.io"
OPENKRUISE_NAMESPACE = "kruise-system"
OPENKRUISE_LEASE = "kruise-manager"
OPENKRUISE_WEBHOOKS = (
    ("mutatingwebhookconfigurations", "kruise-mutating-webhook-configuration"),
    ("validatingwebhookconfigurations", "kruise-validating-webhook-configuration"),
)


@dataclass
class Cluster:
    """Everything the check reads, as listed."""

    statefulsets: list[Obj] = field(default_factory=list)
    broadcastjobs: list[Obj] = field(default_factory=list)
    sidecarsets: list[Obj] = field(default_factory=list)
    pods: list[Obj] = field(default_factory=list)
    revisions: list[Obj] = field(default_factory=list)
    claims: list[Obj] = field(default_factory=list)
    nodes: list[Obj] = field(default_factory=list)
    namespaces: list[Obj] = field(default_factory=list)
    crds: dict[str, Obj | None] = field(default_factory=dict)
    webhooks: dict[str, Obj | None] = field(default_factory=dict)
    lease: Obj | None = None


async def gather(client: KubeClient, namespaces: tuple[str, ...]) -> Cluster:
    c = Cluster()
    spaces: tuple[str | None, ...] = namespaces or (None,)

    async def list_(api_version: str, plural: str, namespaced: bool = True) -> list[Obj]:
        out: list[Obj] = []
        for ns in spaces if namespaced else (None,):
            items, _ = await client.list_all(path_for(api_version, plural, ns))
            out.extend(items)
        return out

    c.statefulsets = await list_(sts.API_VERSION_V1BETA1, "statefulsets")
    c.broadcastjobs = await list_(bcj.API_VERSION, "broadcastjobs")
    c.sidecarsets = await list_(scs.API_VERSION, "sidecarsets", namespaced=False)
    c.pods = await list_("v1", "pods")
    c.claims = await list_("v1", "persistentvolumeclaims")
    c.nodes = await list_("v1", "nodes", namespaced=False)
    c.namespaces = await list_("v1", "namespaces", namespaced=False)
    # Revisions of every namespace: the sets' own, and the SidecarSets' wherever they were kept.
    items, _ = await client.list_all(path_for("apps/v1", "controllerrevisions"))
    c.revisions = items
    for plural in ("statefulsets", "broadcastjobs", "sidecarsets"):
        name = f"{plural}.{GROUP}"
        c.crds[name] = await client.get_or_none(
            path_for("apiextensions.k8s.io/v1", "customresourcedefinitions", name=name)
        )
    for plural, name in OPENKRUISE_WEBHOOKS:
        c.webhooks[name] = await client.get_or_none(
            path_for("admissionregistration.k8s.io/v1", plural, name=name)
        )
    c.lease = await client.get_or_none(
        path_for("coordination.k8s.io/v1", "leases", OPENKRUISE_NAMESPACE, OPENKRUISE_LEASE)
    )
    return c


def _owned_by(obj: Obj, uid: str) -> bool:
    return any(r.get("uid") == uid for r in _meta(obj).get("ownerReferences") or [])


def _is_kruise_py_crd(crd: Obj) -> bool:
    return (_meta(crd).get("labels") or {}).get("app.kubernetes.io/name") == "kruise-py"


def environment(c: Cluster, now: datetime) -> list[tuple[str, str]]:
    """(level, message) about the surroundings; level "block" fails the check."""
    out: list[tuple[str, str]] = []
    for name, crd in c.crds.items():
        if crd is None:
            out.append(("block", f"CRD {name} is not installed"))
            continue
        versions = {v["name"]: v for v in (crd.get("spec") or {}).get("versions") or []}
        if not all(versions.get(v, {}).get("served") for v in ("v1alpha1", "v1beta1")):
            out.append(("block", f"CRD {name} does not serve both v1alpha1 and v1beta1"))
        if not _is_kruise_py_crd(crd):
            out.append(
                (
                    "info",
                    f"CRD {name} is OpenKruise's: apply kruise-py's before starting it "
                    "(kubectl apply --server-side --force-conflicts -f crds/)",
                )
            )
    for name, wh in c.webhooks.items():
        if wh is not None:
            out.append(
                (
                    "block",
                    f"OpenKruise's {name} is still registered: stop its manager, then delete it "
                    "(its pod webhook fails closed, and it would answer beside ours)",
                )
            )
    if c.lease is not None:
        spec = c.lease.get("spec") or {}
        renewed = spec.get("renewTime")
        age = None
        if isinstance(renewed, str):
            try:
                age = (now - datetime.fromisoformat(renewed.replace("Z", "+00:00"))).total_seconds()
            except ValueError:
                age = None
        duration = float(spec.get("leaseDurationSeconds") or 15)
        if age is not None and age < 2 * duration:
            out.append(
                (
                    "block",
                    f"OpenKruise's manager holds Lease {OPENKRUISE_NAMESPACE}/{OPENKRUISE_LEASE} "
                    f"(renewed {age:.0f}s ago): stop it first",
                )
            )
    return out


def check(c: Cluster, revision_namespace: str, now: datetime) -> list[preflight.Finding]:
    out: list[preflight.Finding] = []
    by_ns: dict[str, list[Obj]] = {}
    for p in c.pods:
        by_ns.setdefault(_meta(p).get("namespace", ""), []).append(p)
    for s in c.statefulsets:
        md = _meta(s)
        ns = md.get("namespace", "")
        revisions = [r for r in c.revisions if _meta(r).get("namespace") == ns and _owned_by(r, md["uid"])]
        claims = {_meta(x)["name"]: x for x in c.claims if _meta(x).get("namespace") == ns}
        out.append(preflight.statefulset(s, by_ns.get(ns, []), revisions, claims, now))
    for j in c.broadcastjobs:
        pods = [p for p in by_ns.get(_meta(j).get("namespace", ""), []) if _owned_by(p, _meta(j)["uid"])]
        out.append(preflight.broadcastjob(j, pods, c.nodes, now))
    labels = {_meta(n)["name"]: dict(_meta(n).get("labels") or {}) for n in c.namespaces}

    def namespace_labels(ns: str) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": ns, **labels.get(ns, {})}

    revs_here = [r for r in c.revisions if _meta(r).get("namespace") == revision_namespace]
    for ss in c.sidecarsets:
        f = preflight.sidecarset(ss, c.pods, revs_here, revision_namespace, namespace_labels, now)
        name = _meta(ss)["name"]
        elsewhere = sorted(
            {
                _meta(r).get("namespace", "")
                for r in c.revisions
                if (_meta(r).get("labels") or {}).get(scs.SIDECARSET_NAME_LABEL) == name
            }
            - {revision_namespace}
        )
        if elsewhere and not any(
            (_meta(r).get("labels") or {}).get(scs.SIDECARSET_NAME_LABEL) == name for r in revs_here
        ):
            f.details.append(
                f"its revisions are in {', '.join(elsewhere)}: run kruise-py with "
                f"--sidecarset-revision-namespace {elsewhere[0]} to keep its history"
            )
        out.append(f)
    return out


def render(findings: list[preflight.Finding], env: list[tuple[str, str]]) -> str:
    lines = []
    for level, msg in env:
        lines.append(f"{'BLOCK' if level == 'block' else 'note'}: {msg}")
    if env:
        lines.append("")
    w = max([len(f"{f.kind} {f.namespace + '/' if f.namespace else ''}{f.name}") for f in findings] + [6])
    lines.append(f"{'OBJECT':<{w}}  {'TAKEOVER':<12}  RESTARTS  WRITES  REVISIONS")
    for f in findings:
        obj = f"{f.kind} {f.namespace + '/' if f.namespace else ''}{f.name}"
        revs = ", ".join(
            [f"adopt {r}" for r in f.revisions_adopted] + [f"create {r}" for r in f.revisions_created]
        )
        lines.append(
            f"{obj:<{w}}  {f.verdict:<12}  {f.pod_restarts:>8}  {f.pod_writes + f.pod_creates:>6}  {revs}"
        )
        lines.extend(f"{'':<{w}}    {d}" for d in f.details)
    restarts = sum(f.pod_restarts for f in findings)
    blocks = sum(1 for level, _ in env if level == "block")
    lines.append("")
    lines.append(
        f"{len(findings)} object(s): {restarts} pod(s) would restart"
        + (f"; {blocks} blocker(s)" if blocks else "")
        + ("" if restarts or blocks else ": kruise-py can take over with no pod restart")
    )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    async def read() -> Cluster:
        async with KubeClient(load_credentials(args.kubeconfig)) as client:
            return await gather(client, tuple(args.namespaces or ()))

    try:
        cluster = asyncio.run(read())
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    env = environment(cluster, now)
    findings = check(cluster, args.sidecarset_revision_namespace, now)
    if args.output == "json":
        print(
            json.dumps(
                {
                    "environment": [{"level": lv, "message": m} for lv, m in env],
                    "objects": [f.as_dict() for f in findings],
                },
                indent=2,
            )
        )
    else:
        print(render(findings, env))
    failed = any(f.pod_restarts for f in findings) or any(level == "block" for level, _ in env)
    return 1 if failed else 0
