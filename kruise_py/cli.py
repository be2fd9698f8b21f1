"""`kruise-py` command line: run | sandbox | crds | binaries | plan | rollout | set | migrate.

Installed as `kruise-py` and as `kubectl-kruise_py`, so that `kubectl kruise-py ...` runs it as a
kubectl plugin (docs/cli.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TypeAlias

Obj = dict[str, Any]
# argparse's sub-command registry of _Parser (generic in typeshed only, hence the string).
_Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"


class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default (unless it already says it, or has none)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or "%(default)" in text
            or default in (None, False, [], argparse.SUPPRESS)
            or action.option_strings == []
            or isinstance(action, argparse._HelpAction)
        ):
            return text
        shown = default.name if isinstance(default, Path) else default
        return f"{text} (default: {shown})" if text else f"default: {shown}"


class _Parser(argparse.ArgumentParser):
    # argparse creates sub-command parsers with add_parser's keywords, all ArgumentParser's own:
    # they are passed through unchanged (typeshed types them; Any only forwards them).
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(**kwargs)


def _add_run(sub: _Subparsers) -> None:
    p = sub.add_parser("run", help="run the operator against the current kubeconfig or in-cluster")
    p.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="default: $KUBECONFIG, in-cluster, ~/.kube/config",
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        default=[],
        help="watch only this namespace (repeatable; globs like 'team-*' work)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces (default)")
    p.add_argument("--metrics-host", default="0.0.0.0", help="address of /metrics, /healthz and /readyz")
    p.add_argument(
        "--metrics-port", type=int, default=8080, help="/metrics, /healthz, /readyz (0 = pick a free port)"
    )
    p.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level"
    )
    p.add_argument("--log-format", default="plain", choices=["plain", "json"], help="log line format")
    p.add_argument("--qps", type=float, default=50.0, help="client-side rate limit, requests/s (0 = off)")
    p.add_argument("--burst", type=int, default=100, help="client-side burst above --qps")
    p.add_argument("--workers", type=int, default=4, help="concurrent reconciles per controller")
    p.add_argument(
        "--webhook-mode",
        choices=["local", "service", "none"],
        default="service" if "KUBERNETES_SERVICE_HOST" in os.environ else "local",
        help="local: self-signed cert on a local port, registers URL webhooks (default outside a cluster); "
        "service: in-cluster behind the chart's Service; none: no webhooks",
    )
    p.add_argument(
        "--webhook-host", default="127.0.0.1", help="address to listen on and to advertise (local mode)"
    )
    p.add_argument("--webhook-port", type=int, default=9443, help="0 = pick a free port (local mode)")
    p.add_argument("--cert-dir", default=None, help="webhook certificate folder (tls.crt, tls.key, ca.crt)")
    p.add_argument(
        "--operator-namespace",
        default=os.environ.get("POD_NAMESPACE", "kruise-system"),
        help="namespace the operator runs in; excluded from pod-mutating webhooks",
    )
    p.add_argument(
        "--sidecarset-revision-namespace",
        default=None,
        help="where SidecarSet ControllerRevisions live (default: the operator namespace; "
        "kruise-system to keep OpenKruise's, see docs/migrate.md)",
    )
    p.add_argument(
        "--feature-gates",
        default="",
        help="OpenKruise feature gates kruise-py honours, as OpenKruise's flag: "
        "EnableSortSidecarContainerByName=true (default false)",
    )
    p.add_argument("--webhook-service", default="kruise-py-webhook", help="Service name (service mode)")
    p.add_argument(
        "--webhook-cert-source",
        choices=["secret", "dir"],
        default="secret",
        help="service mode: 'secret' keeps the certificate in --webhook-secret and patches caBundle "
        "(self-managed); 'dir' serves tls.crt/tls.key from --cert-dir (cert-manager)",
    )
    p.add_argument(
        "--webhook-secret",
        default="kruise-py-webhook-certs",
        help="Secret holding the webhook CA and serving certificate (service mode, cert source 'secret')",
    )
    p.add_argument(
        "--webhook-failure-policy",
        choices=["Fail", "Ignore"],
        default="Fail",
        help="failurePolicy of the webhooks for our kinds (local mode); pod injection always fails open",
    )
    p.add_argument(
        "--leader-elect",
        action="store_true",
        help="hold a coordination.k8s.io Lease; only the holder reconciles (run 2 replicas)",
    )
    p.add_argument("--leader-election-namespace", default=None, help="default: the operator namespace")
    p.add_argument("--leader-election-id", default="kruise-py", help="the Lease's name")
    p.add_argument(
        "--lease-duration", type=float, default=15.0, help="seconds a follower waits before taking over"
    )
    p.add_argument(
        "--renew-deadline", type=float, default=10.0, help="seconds the leader keeps trying to renew"
    )
    p.add_argument("--retry-period", type=float, default=2.0, help="seconds between Lease attempts")
    p.add_argument(
        "--shards",
        choices=["off", "auto"],
        default="off",
        help="auto: the replicas share the Advanced StatefulSets and BroadcastJobs (and their pods) "
        "through membership Leases, each watching only its share; implies --leader-elect for the "
        "singleton work (docs/install.md, 'Scaling out')",
    )


def _add_sandbox(sub: _Subparsers) -> None:
    p = sub.add_parser("sandbox", help="local control plane + simulated nodes + operator, no Docker")
    p.add_argument("--workdir", type=Path, default=None, help="default: ~/.cache/kruise-py/sandbox")
    ss = p.add_subparsers(dest="action", required=True)
    up = ss.add_parser("up", help="start (idempotent) and print how to use it")
    up.add_argument("--nodes", type=int, default=3, help="simulated nodes")
    up.add_argument("--no-operator", action="store_true", help="start everything but the operator")
    up.add_argument(
        "--sim-arg",
        action="append",
        default=[],
        help="extra simulator flag, e.g. --sim-arg=--restart-delay=1",
    )
    up.add_argument("--operator-arg", action="append", default=[], help="extra `kruise-py run` flag")
    up.add_argument(
        "--real-node",
        action="store_true",
        help="also start one real node (kubelet + containerd + runc; root; docs/realnode.md)",
    )
    down = ss.add_parser("down", help="stop everything")
    down.add_argument("--purge", action="store_true", help="also delete the work folder (etcd data, logs)")
    ss.add_parser("status", help="what is running")
    ss.add_parser("env", help="shell lines that point KUBECONFIG and PATH (kubectl, helm) at the sandbox")


def _add_rollout(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "rollout", help="manage the rollout of an Advanced StatefulSet (like kubectl-kruise rollout)"
    )
    ss = p.add_subparsers(dest="action", required=True)

    def cmd(name: str, help: str) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = ss.add_parser(name, help=help)
        c.add_argument("name", help="the Advanced StatefulSet: NAME or asts/NAME")
        _namespace_and_kubeconfig(c)
        return c

    st = cmd("status", "follow the rollout until it completes (exit 0) or fails (exit 1, with the reason)")
    st.add_argument(
        "-w",
        "--watch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep following (default); --no-watch prints once, exit 0 only if complete",
    )
    st.add_argument("--timeout", default="0", help="give up after this long (90s, 5m; 0 = never)")
    st.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    st.add_argument(
        "--failure-grace",
        type=float,
        default=5.0,
        help="seconds a FailedCreatePod/FailedUpdatePod condition must persist to fail (default 5)",
    )
    cmd("pause", "stop updating pods (spec.updateStrategy.rollingUpdate.paused=true)")
    cmd("resume", "continue a paused rollout")
    h = cmd("history", "list the revisions (ControllerRevisions) of the set")
    h.add_argument("--revision", type=int, default=0, help="show the pod template of this revision")
    u = cmd("undo", "roll back to the previous revision, or to --to-revision")
    u.add_argument("--to-revision", type=int, default=0, help="revision number from `history` (0 = previous)")
    cmd(
        "restart",
        "roll every pod (kubectl's restartedAt template annotation): in place under the "
        "in-place policies, recreated under ReCreate, bounded by maxUnavailable",
    )


def _namespace_and_kubeconfig(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "-n", "--namespace", default=None, help="default: the kubeconfig context's namespace, else default"
    )
    c.add_argument(
        "--kubeconfig", default=os.environ.get("KUBECONFIG"), help="default: $KUBECONFIG, ~/.kube/config"
    )


def _add_set(sub: _Subparsers) -> None:
    p = sub.add_parser("set", help="change an Advanced StatefulSet's template (like kubectl set)")
    ss = p.add_subparsers(dest="set_cmd", required=True)
    img = ss.add_parser(
        "image", help="set container images: kruise-py set image web nginx=nginx:1.27 ('*=IMAGE': all)"
    )
    img.add_argument("name", help="the Advanced StatefulSet: NAME or asts/NAME")
    img.add_argument("images", nargs="+", metavar="CONTAINER=IMAGE")
    _namespace_and_kubeconfig(img)


def build_parser() -> argparse.ArgumentParser:
    prog = "kubectl kruise-py" if Path(sys.argv[0]).name.startswith("kubectl-") else "kruise-py"
    parser = _Parser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    _add_run(sub)
    _add_sandbox(sub)
    crds = sub.add_parser("crds", help="print the CRDs as YAML (kubectl apply -f -)")
    crds.add_argument(
        "--dir", type=Path, default=None, help="a folder of CRD files (default: the packaged crds/)"
    )
    bi = sub.add_parser("binaries", help="find or build the control-plane binaries and print their paths")
    bi.add_argument("--kubelet", action="store_true", help="also the kubelet, for the real node")
    pl = sub.add_parser(
        "plan",
        help="show, per pod, what the next rollout of an Advanced StatefulSet would do (writes nothing)",
    )
    pl.add_argument("name", nargs="?", help="an existing Advanced StatefulSet (as it is now)")
    pl.add_argument(
        "-f", "--filename", type=Path, help="a manifest: the rollout that applying it would cause"
    )
    _namespace_and_kubeconfig(pl)
    pl.add_argument("--offline", action="store_true", help="with -f: do not contact the cluster (a new set)")
    _add_rollout(sub)
    _add_set(sub)
    mig = sub.add_parser("migrate", help="switching from OpenKruise (docs/migrate.md)")
    mig_sub = mig.add_subparsers(dest="migrate_cmd", required=True)
    chk = mig_sub.add_parser(
        "check",
        help="read-only preflight: what taking over would do to each object; exit 1 if any pod would restart",
    )
    chk.add_argument(
        "--kubeconfig", default=os.environ.get("KUBECONFIG"), help="default: $KUBECONFIG, ~/.kube/config"
    )
    chk.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        default=[],
        help="only this namespace (repeatable; default: all)",
    )
    chk.add_argument(
        "--sidecarset-revision-namespace",
        default="kruise-system",
        help="where kruise-py will keep SidecarSet revisions (OpenKruise keeps them in kruise-system)",
    )
    chk.add_argument("-o", "--output", choices=["text", "json"], default="text", help="output format")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    if args.cmd == "run":
        from . import operator

        return operator.run(operator.config_from_args(args))
    if args.cmd == "sandbox":
        return _sandbox(args)
    if args.cmd == "crds":
        from .sandbox.sandbox import crd_dir

        d = args.dir or crd_dir()
        sys.stdout.write("\n---\n".join(p.read_text().strip() for p in sorted(d.glob("*.yaml"))) + "\n")
        return 0
    if args.cmd == "plan":
        return _plan(args)
    if args.cmd == "rollout":
        from . import rollout

        return rollout.main(args)
    if args.cmd == "set":
        from . import rollout

        args.action = args.set_cmd
        return rollout.main(args)
    if args.cmd == "migrate":
        from . import migrate

        return migrate.main(args)
    if args.cmd == "binaries":
        from .sandbox import binaries

        binaries.main(with_kubelet=args.kubelet)
        return 0
    return 2


def _plan(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime

    import yaml

    from .api.defaults import default_statefulset
    from .controllers.statefulset import preview

    if not args.filename and not args.name:
        print("error: give NAME of an existing set or -f FILE", file=sys.stderr)
        return 2
    desired: Obj | None = None
    if args.filename:
        docs = [d for d in yaml.safe_load_all(args.filename.read_text()) if d]
        desired = next(
            (
                d
                for d in docs
                if d.get("kind") == "StatefulSet"
                and str(d.get("apiVersion", "")).startswith("apps.kruise.io/")
            ),
            None,
        )
        if desired is None:
            print(f"error: {args.filename} holds no apps.kruise.io StatefulSet", file=sys.stderr)
            return 2
    # Without NAME, -f was given and read above.
    name: str = args.name or (desired or {})["metadata"]["name"]

    async def read() -> tuple[Obj | None, list[Obj], list[Obj], str]:
        from .runtime.client import KubeClient, load_credentials, path_for

        creds = load_credentials(args.kubeconfig)
        ns = (
            args.namespace
            or (desired or {}).get("metadata", {}).get("namespace")
            or creds.namespace
            or "default"
        )
        async with KubeClient(creds) as c:
            live = await c.get_or_none(path_for("apps.kruise.io/v1beta1", "statefulsets", ns, name))
            if live is None:
                return None, [], [], ns
            uid = live["metadata"]["uid"]
            pods, _ = await c.list_all(
                path_for("v1", "pods", ns), labelSelector="statefulset.kubernetes.io/pod-name"
            )
            revs, _ = await c.list_all(path_for("apps/v1", "controllerrevisions", ns))
            owned = [
                o
                for o in pods + revs
                if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
            ]
            return (
                live,
                [o for o in owned if o.get("kind") == "Pod"],
                [o for o in owned if o.get("kind") == "ControllerRevision"],
                ns,
            )

    live, pods, revs, ns = (
        (None, [], [], args.namespace or "default") if args.offline else asyncio.run(read())
    )
    if live is None and desired is None:
        print(f"error: StatefulSet {ns}/{name} not found", file=sys.stderr)
        return 1
    sts = dict(desired or live or {})
    sts["metadata"] = {**(sts.get("metadata") or {}), "namespace": ns}
    if live is not None:
        sts["metadata"].update(
            {k: live["metadata"][k] for k in ("uid", "generation") if k in live["metadata"]}
        )
        sts["status"] = live.get("status") or {}
    snap = preview.snapshot_for(default_statefulset(sts), pods, revs, datetime.now(UTC))
    rows, now_plan = preview.preview(snap)
    print(preview.render(rows, snap, now_plan))
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox.binaries import BinariesMissing
    from .sandbox.realnode import RealNodeUnavailable
    from .sandbox.sandbox import Sandbox, SandboxOptions

    sb = Sandbox(args.workdir)
    if args.action == "up":
        try:
            st = sb.up(
                SandboxOptions(
                    nodes=args.nodes,
                    operator=not args.no_operator,
                    sim_args=args.sim_arg,
                    operator_args=args.operator_arg,
                    real_node=args.real_node,
                )
            )
        except (BinariesMissing, RealNodeUnavailable) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(
            f"sandbox is up in {st.get('up_s')}s: {args.nodes} simulated nodes"
            + (
                f", real node {st['real_node']['name']} ({st['real_node']['node_ip']})"
                if st.get("real_node")
                else ""
            )
            + ("" if args.no_operator else ", kruise-py operator running")
        )
        print(f"kubeconfig: {sb.kubeconfig}")
        print(f"logs:       {sb.workdir / 'logs'}")
        print("use it from this shell with:")
        for line in sb.env_lines():
            print(f"  {line}")
        print("then e.g.: kubectl get nodes; kubectl apply -f examples/")
        return 0
    if args.action == "down":
        sb.down(purge=args.purge)
        print("sandbox stopped")
        return 0
    if args.action == "status":
        st = sb.status()
        print(json.dumps(st, indent=2))
        return 0 if st["control_plane"] == "running" else 1
    if args.action == "env":
        print("\n".join(sb.env_lines()))
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
