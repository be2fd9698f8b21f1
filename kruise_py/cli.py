"""`kruise-py` command line: run | sandbox | crds | binaries."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _add_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the operator against the current kubeconfig or in-cluster")
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="default: $KUBECONFIG, in-cluster, ~/.kube/config")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", dest="namespaces", default=[],
                       help="watch only this namespace (repeatable; globs like 'team-*' work)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces (default)")
    p.add_argument("--metrics-host", default="0.0.0.0")
    p.add_argument("--metrics-port", type=int, default=8080, help="/metrics, /healthz, /readyz (0 = pick a free port)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--log-format", default="plain", choices=["plain", "json"])
    p.add_argument("--qps", type=float, default=50.0, help="client-side rate limit, requests/s (0 = off)")
    p.add_argument("--burst", type=int, default=100)
    p.add_argument("--workers", type=int, default=4, help="concurrent reconciles per controller")
    p.add_argument("--webhook-mode", choices=["local", "service", "none"],
                   default="service" if "KUBERNETES_SERVICE_HOST" in os.environ else "local",
                   help="local: self-signed cert on a local port, registers URL webhooks (default outside a cluster); "
                        "service: in-cluster behind the chart's Service; none: no webhooks")
    p.add_argument("--webhook-host", default="127.0.0.1", help="address to listen on and to advertise (local mode)")
    p.add_argument("--webhook-port", type=int, default=9443, help="0 = pick a free port (local mode)")
    p.add_argument("--cert-dir", default=None, help="webhook certificate folder (tls.crt, tls.key, ca.crt)")
    p.add_argument("--operator-namespace", default=os.environ.get("POD_NAMESPACE", "kruise-system"),
                   help="namespace the operator runs in; excluded from pod-mutating webhooks")
    p.add_argument("--webhook-service", default="kruise-py-webhook", help="Service name (service mode)")
    p.add_argument("--webhook-failure-policy", choices=["Fail", "Ignore"], default="Fail",
                   help="failurePolicy of the registered webhooks (local mode)")


def _add_sandbox(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sandbox", help="local control plane + simulated nodes + operator, no Docker")
    p.add_argument("--workdir", type=Path, default=None, help="default: ~/.cache/kruise-py/sandbox")
    ss = p.add_subparsers(dest="action", required=True)
    up = ss.add_parser("up", help="start (idempotent) and print how to use it")
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--no-operator", action="store_true", help="start everything but the operator")
    up.add_argument("--sim-arg", action="append", default=[], help="extra simulator flag, e.g. --sim-arg=--restart-delay=1")
    up.add_argument("--operator-arg", action="append", default=[], help="extra `kruise-py run` flag")
    down = ss.add_parser("down", help="stop everything")
    down.add_argument("--purge", action="store_true", help="also delete the work folder (etcd data, logs)")
    ss.add_parser("status", help="what is running")
    ss.add_parser("env", help="shell lines that point KUBECONFIG and PATH (kubectl, helm) at the sandbox")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kruise-py", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    _add_run(sub)
    _add_sandbox(sub)
    crds = sub.add_parser("crds", help="print the CRDs as YAML (kubectl apply -f -)")
    crds.add_argument("--dir", type=Path, default=None)
    sub.add_parser("binaries", help="find or build the control-plane binaries and print their paths")
    args = parser.parse_args(argv)

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
    if args.cmd == "binaries":
        from .sandbox import binaries

        binaries.main()
        return 0
    return 2


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox.binaries import BinariesMissing
    from .sandbox.sandbox import Sandbox, SandboxOptions

    sb = Sandbox(args.workdir)
    if args.action == "up":
        try:
            st = sb.up(SandboxOptions(nodes=args.nodes, operator=not args.no_operator,
                                      sim_args=args.sim_arg, operator_args=args.operator_arg))
        except BinariesMissing as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"sandbox is up in {st.get('up_s')}s: {args.nodes} simulated nodes"
              + ("" if args.no_operator else ", kruise-py operator running"))
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
