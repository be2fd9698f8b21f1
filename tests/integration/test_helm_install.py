"""`helm install` on a real control plane, then the operator with the chart's ServiceAccount token.

A control plane of its own (module-scoped), because it needs two apiserver flags the session one
does not have:

* ``--enable-aggregator-routing=true``: the apiserver reaches webhook Services through their
  endpoints instead of the ClusterIP (there is no kube-proxy here), so the chart's webhook
  configurations (Service reference, port 443 -> targetPort ``webhook``) are used as installed;
* an audit policy that records *every* request of the operator's ServiceAccount (reads and watches
  too, not only writes), so "zero forbidden" is checked on all of them.

No container runs: the simulator "runs" the chart's pods. The chart is installed with
``hostNetwork=true`` and both simulated nodes carry this machine's non-loopback address, so the
Service's endpoints are <host-ip>:<webhook port>. Two operator processes from the source tree run with
the args of the installed Deployment and a kubeconfig holding a TokenRequest token of the chart's
ServiceAccount, started together (so they race to create the certificate Secret). Replica 0 listens
on the chart's webhook port and answers the apiserver; replica 1 must listen on another port, since two
processes on one host cannot both own it (real pods each have their own network namespace).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kruise_py.runtime import pki
from kruise_py.runtime import sharding as sh
from kruise_py.runtime.client import ClientOptions, KubeClient, load_kubeconfig
from kruise_py.sandbox import binaries
from kruise_py.sandbox.controlplane import ControlPlane, free_port
from kruise_py.sandbox.sandbox import REPO_ROOT, wait_http_ok, wait_nodes_ready
from kruise_py.webhooks import certs

from .conftest import Kubectl, _spawn, _stop, wait_for

pytestmark = pytest.mark.integration

CHART = REPO_ROOT / "deploy" / "helm" / "kruise-py"
RELEASE_NS = "kruise-py-system"
SA_USER = f"system:serviceaccount:{RELEASE_NS}:kruise-py"
CANARY_USER = f"system:serviceaccount:{RELEASE_NS}:default"
SECRET = "kruise-py-webhook-certs"
NODES = 2

AUDIT_POLICY = f"""apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: ["{SA_USER}", "{CANARY_USER}"]
- level: None
"""


def host_ip() -> str | None:
    """A non-loopback IPv4 address of this machine (endpoint addresses may not be loopback)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            return parts[parts.index("inet") + 1].split("/")[0]
    return None


def listen_port() -> int:
    """A free port below the ephemeral range: the webhook port is bound by two processes (SO_REUSEPORT)
    some time after it is chosen, and an outgoing connection from this busy machine must not take it
    in between (free_port()'s ports come from the ephemeral range)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(20000, min(low, 32768)), 200):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def audit_entries(log: Path, user: str) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text().splitlines():
        with_user = json.loads(line)
        if with_user.get("user", {}).get("username") == user:
            out.append(with_user)
    return out


def forbidden(entries: list[dict[str, Any]]) -> list[str]:
    return [
        f"{e['verb']} {e['requestURI']}" for e in entries if e.get("responseStatus", {}).get("code") == 403
    ]


@dataclass
class Stack:
    cp: ControlPlane
    kubectl: Kubectl
    helm: Path
    ip: str
    webhook_port: int
    tmp: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        bins = binaries.find(build=False)
    except binaries.BinariesMissing as e:
        pytest.fail(f"{e}\nRun `kruise-py binaries` (or `make test`, which does) first.", pytrace=False)
    assert bins.helm is not None, "helm missing from the binaries folder"
    ip = host_ip()
    if ip is None:
        pytest.skip("no non-loopback IPv4 address: webhook Service endpoints cannot point at this machine")
    tmp = tmp_path_factory.mktemp("helm")
    (tmp / "audit-policy.yaml").write_text(AUDIT_POLICY)
    # The later --audit-policy-file wins over ControlPlane's writes-only policy.
    cp = ControlPlane(
        workdir=tmp / "controlplane",
        bins=bins,
        extra_apiserver_flags=(
            "--enable-aggregator-routing=true",
            f"--audit-policy-file={tmp / 'audit-policy.yaml'}",
        ),
    )
    cp.start()
    sim = None
    try:
        kubectl = Kubectl(bins.kubectl, cp.kubeconfig)
        sim = _spawn(
            "simulator",
            [
                sys.executable,
                "-m",
                "kruise_py.sandbox.simulator",
                "--kubeconfig",
                str(cp.kubeconfig),
                "--nodes",
                str(NODES),
            ],
            cp.logs,
            cp.kubeconfig,
        )
        wait_nodes_ready(cp.kubeconfig, NODES)
        # Both nodes get this machine's address: hostNetwork pods (the chart's) then get it as pod IP.
        for i in range(NODES):
            kubectl(
                "patch",
                "node",
                f"sim-node-{i}",
                "--subresource=status",
                "--type=merge",
                "-p",
                json.dumps(
                    {
                        "status": {
                            "addresses": [
                                {"type": "InternalIP", "address": ip},
                                {"type": "Hostname", "address": f"sim-node-{i}"},
                            ]
                        }
                    }
                ),
            )
        time.sleep(1)  # let the simulator's node cache see the address before pods land
        yield Stack(cp, kubectl, bins.helm, ip, listen_port(), tmp)
    finally:
        if sim is not None:
            _stop(sim)
        cp.stop()


def helm(st: Stack, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [str(st.helm), f"--kubeconfig={st.cp.kubeconfig}", *args], capture_output=True, text=True, timeout=300
    )
    if check:
        assert r.returncode == 0, f"helm {' '.join(args)}: {r.stdout}{r.stderr}"
    return r


@pytest.fixture(scope="module")
def installed(stack: Stack) -> list[dict[str, Any]]:
    helm(
        stack,
        "install",
        "kruise-py",
        str(CHART),
        "-n",
        RELEASE_NS,
        "--create-namespace",
        "--wait",
        "--timeout",
        "180s",
        "--set",
        "hostNetwork=true",
        "--set",
        f"webhook.port={stack.webhook_port}",
        "--set",
        f"metrics.port={free_port()}",
    )
    manifest = helm(stack, "get", "manifest", "kruise-py", "-n", RELEASE_NS).stdout
    return [o for o in yaml.safe_load_all(manifest) if o]


def sa_kubeconfig(st: Stack, sa: str, path: Path) -> Path:
    """A kubeconfig with a TokenRequest token of ServiceAccount ``sa`` (what a pod gets mounted)."""
    token = st.kubectl("create", "token", sa, "-n", RELEASE_NS, "--duration=2h").strip()
    admin = yaml.safe_load(st.cp.kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": sa,
                "clusters": [{"name": "sandbox", "cluster": cluster}],
                "users": [{"name": sa, "user": {"token": token}}],
                "contexts": [{"name": sa, "context": {"cluster": "sandbox", "user": sa}}],
            }
        )
    )
    return path


@dataclass
class Replica:
    proc: subprocess.Popen[bytes]
    log: Path
    cert_dir: Path
    metrics_port: int
    webhook_port: int


def spawn_replicas(stack: Stack, n: int, tag: str) -> list[Replica]:
    """``n`` operator processes run as the installed Deployment runs them, with the chart's
    ServiceAccount token; the first listens on the chart's webhook port."""
    kc = sa_kubeconfig(stack, "kruise-py", stack.tmp / f"kruise-py-sa-{tag}.kubeconfig")
    if tag == "main":  # the name later tests reuse
        kc = kc.rename(stack.tmp / "kruise-py-sa.kubeconfig")
    deploy = stack.kubectl.json("get", "deployment", "kruise-py", "-n", RELEASE_NS)
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    out: list[Replica] = []
    try:
        for i in range(n):
            port, cert_dir = free_port(), stack.tmp / f"certs-{tag}-{i}"
            webhook_port = stack.webhook_port if i == 0 else listen_port()
            # The Deployment's own args, then what differs for a process on this machine (later flags win).
            argv = [
                sys.executable,
                "-m",
                "kruise_py",
                *args,
                "--kubeconfig",
                str(kc),
                "--metrics-host",
                "127.0.0.1",
                "--metrics-port",
                str(port),
                "--cert-dir",
                str(cert_dir),
                "--log-format",
                "plain",
                "--operator-namespace",
                RELEASE_NS,
                "--webhook-port",
                str(webhook_port),
            ]
            log_dir = stack.tmp / f"replica-{tag}-{i}"
            log_dir.mkdir()
            # _spawn also sets KUBECONFIG: to the ServiceAccount's, never the admin's.
            out.append(
                Replica(
                    _spawn("operator", argv, log_dir, kc),
                    log_dir / "operator.log",
                    cert_dir,
                    port,
                    webhook_port,
                )
            )
        for r in out:
            wait_http_ok(f"http://127.0.0.1:{r.metrics_port}/readyz", 90, r.log)
    except BaseException:
        for r in out:
            _stop(r.proc)
        raise
    return out


@pytest.fixture(scope="module")
def replicas(stack: Stack, installed: list[dict[str, Any]]) -> Iterator[list[Replica]]:
    """Two operator processes run as the Deployment runs them, with the chart's ServiceAccount token."""
    out = spawn_replicas(stack, 2, "main")
    try:
        yield out
    finally:
        for r in out:
            _stop(r.proc)


# -- helpers for the scenario -------------------------------------------------------------------
def asts(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "serviceName": "web",
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "readinessGates": [{"conditionType": "InPlaceUpdateReady"}],
                    "containers": [{"name": "nginx", "image": image}],
                },
            },
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"podUpdatePolicy": "InPlaceIfPossible", "maxUnavailable": 1},
            },
        },
    }


def bcj() -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "BroadcastJob",
        "metadata": {"name": "check"},
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"sim.kruise-py.io/run-seconds": "1", "sim.kruise-py.io/exit-code": "0"}
                },
                "spec": {"restartPolicy": "Never", "containers": [{"name": "task", "image": "busybox:1.36"}]},
            }
        },
    }


def sidecarset(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "SidecarSet",
        "metadata": {"name": "helm-log-agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "logged"}},
            "containers": [{"name": "log-agent", "image": image}],
            "updateStrategy": {"type": "RollingUpdate", "maxUnavailable": 1},
        },
    }


def logged_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "logged"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "logged"}},
            "template": {
                "metadata": {"labels": {"app": "logged"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
            },
        },
    }


def pods(k: Kubectl, ns: str, sel: str) -> list[dict[str, Any]]:
    return k.json("get", "pods", "-n", ns, "-l", sel)["items"]  # type: ignore[no-any-return]


def container_status(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next((c for c in pod.get("status", {}).get("containerStatuses", []) if c["name"] == name), {})


# -- tests ------------------------------------------------------------------------------------
def test_helm_install_creates_every_object(stack: Stack, installed: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in installed}
    assert {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    } <= kinds, kinds
    for o in installed:
        ns = ["-n", o["metadata"]["namespace"]] if o["metadata"].get("namespace") else []
        got = stack.kubectl.json("get", o["kind"].lower(), o["metadata"]["name"], *ns)
        assert got["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    for crd in ("statefulsets", "broadcastjobs", "sidecarsets"):
        stack.kubectl("get", "crd", f"{crd}.apps.kruise.io")
    # The chart's pods are "running" on the simulated nodes with this machine's address, so the
    # webhook Service's endpoints point here.
    dep = stack.kubectl.json("get", "deployment", "kruise-py", "-n", RELEASE_NS)
    assert dep["status"].get("readyReplicas") == 2, dep["status"]
    addrs = wait_for(
        lambda: [
            a
            for s in stack.kubectl.json(
                "get",
                "endpointslices",
                "-n",
                RELEASE_NS,
                "-l",
                "kubernetes.io/service-name=kruise-py-webhook",
            )["items"]
            for e in s.get("endpoints") or []
            for a in e["addresses"]
        ],
        30,
        what="endpoints",
    )
    assert set(addrs) == {stack.ip}, addrs


def test_crds_upgrade_in_place_with_server_side_apply(stack: Stack, installed: list[dict[str, Any]]) -> None:
    # Helm never upgrades crds/; the documented upgrade path must work on a Helm-created CRD.
    r = stack.kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds"))
    assert r.stdout.count("serverside-applied") == 3, r.stdout


def test_replicas_share_one_certificate_from_the_secret(stack: Stack, replicas: list[Replica]) -> None:
    secret = stack.kubectl.json("get", "secret", SECRET, "-n", RELEASE_NS)
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert set(data) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    for r in replicas:
        served = (r.cert_dir / "tls.pem").read_bytes()
        assert served.startswith(data["tls.crt"]) and served.endswith(data["tls.key"]), (
            f"{r.cert_dir} differs"
        )
        # What the apiserver checks: the serving certificate verifies against the Secret's CA for
        # the Service's DNS name.
        ctx = ssl.create_default_context(cadata=data["ca.crt"].decode())
        with (
            socket.create_connection(("127.0.0.1", r.webhook_port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname=f"kruise-py-webhook.{RELEASE_NS}.svc") as tls,
        ):
            assert tls.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(data["tls.crt"].decode())
    ca = base64.b64encode(data["ca.crt"]).decode()
    for kind, name in (
        ("mutatingwebhookconfiguration", "kruise-py-mutating"),
        ("validatingwebhookconfiguration", "kruise-py-validating"),
    ):
        cfg = stack.kubectl.json("get", kind, name)
        assert {w["clientConfig"].get("caBundle") for w in cfg["webhooks"]} == {ca}, (
            f"{name}: caBundle not the Secret's CA"
        )
    # The SidecarSet CRD converts v1alpha1 <-> v1beta1 through the same Service and CA (the scenario
    # below writes a v1alpha1 SidecarSet, so that path is used); the other two convert with None.
    conv = stack.kubectl.json("get", "crd", "sidecarsets.apps.kruise.io")["spec"]["conversion"]
    assert conv["strategy"] == "Webhook"
    assert conv["webhook"]["clientConfig"] == {
        "service": {"namespace": RELEASE_NS, "name": "kruise-py-webhook", "path": "/convert", "port": 443},
        "caBundle": ca,
    }
    for plural in ("statefulsets", "broadcastjobs"):
        assert stack.kubectl.json("get", "crd", f"{plural}.apps.kruise.io")["spec"]["conversion"] == {
            "strategy": "None"
        }


def test_concurrent_secret_creation_converges_on_one_certificate(
    stack: Stack, installed: list[dict[str, Any]]
) -> None:
    """Eight would-be replicas race to create the certificate Secret: one create wins, the others
    get 409 and read the winner's, so all serve the same certificate."""
    stack.kubectl("create", "namespace", "cert-race")
    creds = load_kubeconfig(stack.cp.kubeconfig)

    async def race() -> list[certs.Bundle]:
        client = KubeClient(creds, ClientOptions(qps=0))
        try:
            names = certs.service_names("kruise-py-webhook", "cert-race")
            return list(
                await asyncio.gather(
                    *(certs.ensure_secret(client, "cert-race", "race", names) for _ in range(8))
                )
            )
        finally:
            await client.close()

    bundles = asyncio.run(race())
    assert len({(b.ca_crt, b.tls_crt, b.tls_key) for b in bundles}) == 1
    stored = certs.Bundle.from_secret(stack.kubectl.json("get", "secret", "race", "-n", "cert-race"))
    assert stored == bundles[0]


def test_a_serving_certificate_near_expiry_is_renewed_under_the_same_ca(
    stack: Stack, installed: list[dict[str, Any]]
) -> None:
    stack.kubectl.run("create", "namespace", "cert-renew", check=False)
    names = certs.service_names("kruise-py-webhook", "cert-renew")
    ca = pki.make_ca("kruise-py-webhook-ca")
    leaf = pki.issue(ca, names[0], dns=names, server=True, days=10)  # inside the renewal window
    old = certs.Bundle(ca_crt=ca.cert_pem, tls_crt=leaf.cert_pem, tls_key=leaf.key_pem, ca_key=ca.key_pem)
    stack.kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "renew", "namespace": "cert-renew"},
            "data": old.secret_data(),
        }
    )

    async def renew() -> certs.Bundle:
        client = KubeClient(load_kubeconfig(stack.cp.kubeconfig), ClientOptions(qps=0))
        try:
            return await certs.ensure_secret(client, "cert-renew", "renew", names)
        finally:
            await client.close()

    new = asyncio.run(renew())
    assert new.ca_crt == old.ca_crt, "renewal keeps the CA, so the caBundle stays valid"
    assert new.tls_crt != old.tls_crt and certs.renewal_reason(new, set(names), datetime.now(UTC)) is None
    assert certs.Bundle.from_secret(stack.kubectl.json("get", "secret", "renew", "-n", "cert-renew")) == new


def test_scenario_with_the_service_account_has_zero_forbidden(stack: Stack, replicas: list[Replica]) -> None:
    k = stack.kubectl
    k("create", "namespace", "helm-e2e")
    # Not removed afterwards: the module's control plane goes away with the module.
    ns = "helm-e2e"
    # 1. The validating webhook answers through the Service: an invalid object is denied by us.
    bad = k.run(
        "apply",
        "-n",
        ns,
        "-f",
        str(REPO_ROOT / "examples" / "invalid" / "asts-in-place-without-gate.yaml"),
        check=False,
    )
    assert (
        bad.returncode != 0 and 'admission webhook "validate-statefulset.apps.kruise.io" denied' in bad.stderr
    ), bad.stderr

    # 2. Advanced StatefulSet: 3 pods, then an in-place image rollout (same pods, containers restarted).
    k.apply(asts("nginx:1.25"), ns)
    wait_for(
        lambda: k.json("get", "asts", "web", "-n", ns).get("status", {}).get("readyReplicas") == 3,
        90,
        what="3 ready asts pods",
    )
    uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(k, ns, "app=web")}
    k(
        "patch",
        "asts",
        "web",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.27"}]',
    )

    def rolled() -> bool:
        st = k.json("get", "asts", "web", "-n", ns).get("status", {})
        running = [container_status(p, "nginx").get("image") for p in pods(k, ns, "app=web")]
        return (
            st.get("updatedReplicas") == 3
            and st.get("updatedReadyReplicas") == 3
            and st.get("readyReplicas") == 3
            and running == ["nginx:1.27"] * 3
        )

    wait_for(rolled, 120, what="in-place rollout done, every pod running nginx:1.27")
    after = pods(k, ns, "app=web")
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in after} == uids, "updated in place"
    assert all(container_status(p, "nginx").get("restartCount") == 1 for p in after)

    # 3. BroadcastJob: one pod per node, to completion.
    k.apply(bcj(), ns)
    wait_for(
        lambda: k.json("get", "bcj", "check", "-n", ns).get("status", {}).get("phase") == "completed",
        90,
        what="broadcastjob completed",
    )
    st = k.json("get", "bcj", "check", "-n", ns)["status"]
    assert (st["desired"], st["succeeded"], st["failed"]) == (NODES, NODES, 0), st

    # 4. SidecarSet: injected into new pods through the Service, then upgraded in place.
    k.apply(sidecarset("busybox:1.36"))
    wait_for(
        lambda: (
            k.json("get", "sidecarset", "helm-log-agent")["metadata"]
            .get("annotations", {})
            .get("kruise.io/sidecarset-hash")
        ),
        30,
        what="SidecarSet defaulted by the mutating webhook",
    )
    # The injection webhook answers from each replica's informer cache: wait until a server-side
    # dry run (admission chain, nothing stored) comes back injected several times in a row.
    probe = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "labels": {"app": "logged"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
    }

    def dry_run_injected() -> bool:
        out = k.run(
            "create", "-n", ns, "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(probe)
        ).stdout
        return [c["name"] for c in json.loads(out)["spec"]["containers"]] == ["log-agent", "app"]

    wait_for(
        lambda: all(dry_run_injected() for _ in range(4)),
        30,
        what="the injection webhook sees the SidecarSet",
    )
    k.apply(logged_deployment(), ns)
    got = wait_for(lambda: (p := pods(k, ns, "app=logged")) and len(p) == 2 and p, 60, what="2 logged pods")
    names = [[c["name"] for c in p["spec"]["containers"]] for p in got]
    assert all(n == ["log-agent", "app"] for n in names), f"not injected: {names}"
    uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in got}
    wait_for(
        lambda: k.json("get", "sidecarset", "helm-log-agent").get("status", {}).get("readyPods") == 2,
        60,
        what="2 ready matched pods",
    )
    k.apply(sidecarset("busybox:1.37"))

    def upgraded() -> bool:
        s = k.json("get", "sidecarset", "helm-log-agent").get("status", {})
        return s.get("updatedPods") == 2 and s.get("updatedReadyPods") == 2

    wait_for(upgraded, 120, what="sidecar upgraded in place")
    after = pods(k, ns, "app=logged")
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in after} == uids
    assert all(container_status(p, "log-agent").get("image") == "busybox:1.37" for p in after)

    # 5. Forbidden answers: none for the chart's ServiceAccount, in the apiserver's audit log (every
    #    request of that user is audited) and in the operators' logs. The canary proves the check
    #    sees 403s: the namespace's default ServiceAccount may not read Secrets.
    canary = sa_kubeconfig(stack, "default", stack.tmp / "default-sa.kubeconfig")
    r = subprocess.run(
        [str(k.path), f"--kubeconfig={canary}", "get", "secrets", "-n", RELEASE_NS],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "forbidden" in r.stderr
    audit = stack.cp.audit_log
    wait_for(
        lambda: forbidden(audit_entries(audit, CANARY_USER)), 10, what="the canary's 403 in the audit log"
    )
    entries = audit_entries(audit, SA_USER)
    verbs = {e["verb"] for e in entries}
    assert {"get", "list", "watch", "create", "patch", "update"} <= verbs, (
        f"audit misses the SA's requests: {verbs}"
    )
    assert forbidden(entries) == [], f"403s for {SA_USER}: {forbidden(entries)}"
    for rep in replicas:
        text = rep.log.read_text()
        hits = [line for line in text.splitlines() if "forbidden" in line.lower() or " 403" in line]
        assert hits == [], f"{rep.log}: {hits[:5]}"
    print(f"\n{len(entries)} audited requests by {SA_USER}, 0 forbidden; verbs {sorted(verbs)}")
    # Granted but not used by this scenario (reported, not asserted: e.g. PVCs need volumeClaimTemplates).
    used = {
        (
            e["objectRef"].get("apiGroup", ""),
            e["objectRef"]["resource"]
            + ("/" + e["objectRef"]["subresource"] if e["objectRef"].get("subresource") else ""),
            e["verb"],
        )
        for e in entries
        if e.get("objectRef")
    }
    granted = {
        (g, r, v)
        for kind in ("clusterrole", "role")
        for rule in k.json("get", kind, "kruise-py", *(["-n", RELEASE_NS] if kind == "role" else []))["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    print("granted, unused here:", sorted(granted - used))
    assert used <= granted | {(g, r, "deletecollection") for g, r, _ in granted}, sorted(used - granted)


def test_cert_manager_mode_serves_the_mounted_secret_and_leaves_ca_bundle_alone(
    stack: Stack, replicas: list[Replica]
) -> None:
    """--webhook-cert-source=dir (the chart's cert-manager mode): a folder laid out as cert-manager's
    Secret is mounted; the operator serves it and does not touch caBundle (cert-manager's CA
    injector owns it)."""
    mounted = stack.tmp / "cert-manager-secret"
    mounted.mkdir()
    b = certs.issue(certs.service_names("kruise-py-webhook", RELEASE_NS))
    for name, data in (("tls.crt", b.tls_crt), ("tls.key", b.tls_key), ("ca.crt", b.ca_crt)):
        (mounted / name).write_bytes(data)

    def ca_bundles() -> set[str]:
        return {
            w["clientConfig"].get("caBundle")
            for kind, name in (
                ("mutatingwebhookconfiguration", "kruise-py-mutating"),
                ("validatingwebhookconfiguration", "kruise-py-validating"),
            )
            for w in stack.kubectl.json("get", kind, name)["webhooks"]
        }

    before = ca_bundles()
    kc = stack.tmp / "kruise-py-sa.kubeconfig"
    metrics, webhook = free_port(), listen_port()
    log_dir = stack.tmp / "cert-manager-mode"
    log_dir.mkdir()
    proc = _spawn(
        "operator",
        [
            sys.executable,
            "-m",
            "kruise_py",
            "run",
            "--kubeconfig",
            str(kc),
            "--webhook-mode",
            "service",
            "--webhook-cert-source",
            "dir",
            "--cert-dir",
            str(mounted),
            "--operator-namespace",
            RELEASE_NS,
            "--leader-elect",
            "--webhook-port",
            str(webhook),
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            str(metrics),
        ],
        log_dir,
        kc,
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{metrics}/readyz", 90, log_dir / "operator.log")
        ctx = ssl.create_default_context(cadata=b.ca_crt.decode())
        with (
            socket.create_connection(("127.0.0.1", webhook), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname=f"kruise-py-webhook.{RELEASE_NS}.svc") as tls,
        ):
            assert tls.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(b.tls_crt.decode())
        assert ca_bundles() == before, "cert source dir must not patch caBundle"
        assert "patched the caBundle" not in (log_dir / "operator.log").read_text()
    finally:
        _stop(proc)


def test_sharded_replicas_with_the_service_account_have_zero_forbidden(
    stack: Stack, replicas: list[Replica]
) -> None:
    """`helm upgrade --set sharding.enabled=true`: two sharded replicas with the chart's token label
    the set made before (backfill), roll it, run a BroadcastJob, and get no 403."""
    k = stack.kubectl
    for r in replicas:  # leader-elected, unsharded: they would reconcile beside the sharded ones
        _stop(r.proc)
    helm(
        stack,
        "upgrade",
        "kruise-py",
        str(CHART),
        "-n",
        RELEASE_NS,
        "--reuse-values",
        "--set",
        "sharding.enabled=true",
    )
    args = k.json("get", "deployment", "kruise-py", "-n", RELEASE_NS)["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert "--shards=auto" in args
    mark = len(audit_entries(stack.cp.audit_log, SA_USER))
    ns = "helm-e2e"
    assert sh.SHARD_LABEL not in k.json("get", "asts", "web", "-n", ns)["metadata"].get("labels", {})
    sharded = spawn_replicas(stack, 2, "sharded")
    try:
        wait_for(
            lambda: (
                k.json("get", "asts", "web", "-n", ns)["metadata"].get("labels", {}).get(sh.SHARD_LABEL)
                == str(sh.bucket_of(ns, "web"))
            ),
            60,
            what="the set labelled with its bucket",
        )
        wait_for(
            lambda: all(sh.SHARD_LABEL in p["metadata"].get("labels", {}) for p in pods(k, ns, "app=web")),
            60,
            what="its pods labelled",
        )
        k(
            "patch",
            "asts",
            "web",
            "-n",
            ns,
            "--type=merge",
            "-p",
            json.dumps(
                {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}
            ),
        )
        wait_for(
            lambda: (
                (st := k.json("get", "asts", "web", "-n", ns).get("status", {})).get("updatedReadyReplicas")
                == 3
                and st.get("currentRevision") == st.get("updateRevision")
            ),
            120,
            what="the sharded rollout",
        )
        job = bcj()
        job["metadata"]["name"] = "sharded-check"
        k.apply(job, ns)
        wait_for(
            lambda: (
                k.json("get", "bcj", "sharded-check", "-n", ns).get("status", {}).get("phase") == "completed"
            ),
            120,
            what="the BroadcastJob completed",
        )
        leases = k.json("get", "lease", "-n", RELEASE_NS, "-l", f"{sh.GROUP_LABEL}=kruise-py-shards")["items"]
        assert len(leases) == 2, [item["metadata"]["name"] for item in leases]
        entries = audit_entries(stack.cp.audit_log, SA_USER)[mark:]
        assert forbidden(entries) == [], f"403s for {SA_USER}: {forbidden(entries)}"
        for rep in sharded:
            hits = [
                line
                for line in rep.log.read_text().splitlines()
                if "forbidden" in line.lower() or " 403" in line
            ]
            assert hits == [], f"{rep.log}: {hits[:5]}"
    finally:
        for r in sharded:
            _stop(r.proc)


def test_uninstall_keeps_the_crds(stack: Stack, replicas: list[Replica]) -> None:
    for r in replicas:
        _stop(r.proc)
    helm(stack, "uninstall", "kruise-py", "-n", RELEASE_NS, "--wait", "--timeout", "120s")
    for crd in ("statefulsets", "broadcastjobs", "sidecarsets"):
        stack.kubectl("get", "crd", f"{crd}.apps.kruise.io")
    assert (
        stack.kubectl.run("get", "mutatingwebhookconfiguration", "kruise-py-mutating", check=False).returncode
        != 0
    )
    # The operator-created Secret is not Helm's: it stays, as NOTES.txt says.
    stack.kubectl("get", "secret", SECRET, "-n", RELEASE_NS)
