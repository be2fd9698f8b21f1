"""The Helm chart: derived files up to date, `helm lint` clean, values.schema.json accepts good values
and rejects bad ones, and the rendered objects are what a least-privilege, hardened install needs.
`helm install` on a real control plane: tests/integration/test_helm_install.py."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kruise_py import cli
from kruise_py.sandbox import binaries

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "kruise-py"
NS = "kruise-py-system"
ALL_OPTIONAL = [
    "--set",
    "webhook.certManager.enabled=true",
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "grafanaDashboard.enabled=true",
    "--set",
    "sharding.enabled=true",
]


def _helm() -> Path:
    try:
        h = binaries.find(build=False).helm
    except binaries.BinariesMissing as e:
        pytest.fail(f"helm comes with the control-plane binaries: {e}", pytrace=False)
    assert h is not None, "helm missing from the binaries folder"
    return h


def helm_template(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_helm()), "template", "kp", str(CHART), "--namespace", NS, *args], capture_output=True, text=True
    )


def render(*args: str) -> list[dict[str, Any]]:
    r = helm_template(*args)
    assert r.returncode == 0, r.stderr
    return [o for o in yaml.safe_load_all(r.stdout) if o]


def one(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def test_chart_derived_files_are_up_to_date() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "gen_chart.py"), "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("extra", [[], ALL_OPTIONAL], ids=["defaults", "all-optional-features"])
def test_helm_lint_strict(extra: list[str]) -> None:
    r = subprocess.run([str(_helm()), "lint", "--strict", str(CHART), *extra], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[WARNING]" not in r.stdout and "[ERROR]" not in r.stdout, r.stdout


GOOD_VALUES: list[tuple[str, list[str]]] = [
    ("one replica", ["--set", "replicaCount=1"]),
    ("ignore", ["--set", "webhook.failurePolicy=Ignore"]),
    ("namespaces", ["--set", "operator.namespaces={team-a,team-b}"]),
    ("percent pdb", ["--set", "podDisruptionBudget.minAvailable=50%"]),
    (
        "cluster issuer",
        [
            "--set",
            "webhook.certManager.enabled=true",
            "--set",
            "webhook.certManager.issuerRef.kind=ClusterIssuer",
            "--set",
            "webhook.certManager.issuerRef.name=corp-ca",
        ],
    ),
    ("host network", ["--set", "hostNetwork=true", "--set", "webhook.port=10250"]),
    ("zero qps (no limit)", ["--set", "operator.qps=0"]),
]


@pytest.mark.parametrize("args", [a for _, a in GOOD_VALUES], ids=[n for n, _ in GOOD_VALUES])
def test_schema_accepts_good_values(args: list[str]) -> None:
    r = helm_template(*args)
    assert r.returncode == 0, r.stderr


BAD_VALUES: list[tuple[list[str], str]] = [
    (["--set", "replicaCount=0"], "/replicaCount"),
    (["--set", "replicaCount=two"], "/replicaCount"),
    (["--set", "webhook.failurePolicy=Maybe"], "/webhook/failurePolicy"),
    (["--set", "webhook.port=70000"], "/webhook/port"),
    (["--set", "metrics.port=0"], "/metrics/port"),
    (["--set", "operator.logLevel=TRACE"], "/operator/logLevel"),
    (["--set", "operator.logFormat=xml"], "/operator/logFormat"),
    (["--set", "operator.workers=0"], "/operator/workers"),
    (["--set", "operator.qps=-1"], "/operator/qps"),
    (["--set", "image.pullPolicy=Sometimes"], "/image/pullPolicy"),
    (["--set", "image.repository="], "/image/repository"),
    (["--set", "webhook.secretName=Not_A_Name"], "/webhook/secretName"),
    (
        [
            "--set",
            "webhook.certManager.issuerRef.kind=Vault",
            "--set",
            "webhook.certManager.issuerRef.name=x",
        ],
        "/webhook/certManager/issuerRef/kind",
    ),
    (["--set", "webhook.certManager.duration=1year"], "/webhook/certManager/duration"),
    (["--set", "podDisruptionBudget.minAvailable=150%"], "/podDisruptionBudget/minAvailable"),
    (["--set", "resources.requests.cpu=lots"], "/resources/requests/cpu"),
    (
        ["--set", "replicas=3"],
        "additional properties 'replicas' not allowed",
    ),  # a typo must not pass silently
    (["--set", "webhook.failurepolicy=Ignore"], "additional properties 'failurepolicy' not allowed"),
]


@pytest.mark.parametrize(("args", "where"), BAD_VALUES, ids=[w for _, w in BAD_VALUES])
def test_schema_rejects_bad_values(args: list[str], where: str) -> None:
    r = helm_template(*args)
    assert r.returncode != 0, f"{args} rendered: values.schema.json let it through"
    assert where in r.stderr, r.stderr


def test_default_render_has_every_object() -> None:
    objs = render("--include-crds")
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for expected in [
        ("ServiceAccount", "kruise-py"),
        ("ClusterRole", "kruise-py"),
        ("ClusterRoleBinding", "kruise-py"),
        ("Role", "kruise-py"),
        ("RoleBinding", "kruise-py"),
        ("Deployment", "kruise-py"),
        ("Service", "kruise-py-webhook"),
        ("PodDisruptionBudget", "kruise-py"),
        ("MutatingWebhookConfiguration", "kruise-py-mutating"),
        ("ValidatingWebhookConfiguration", "kruise-py-validating"),
        ("CustomResourceDefinition", "statefulsets.apps.kruise.io"),
        ("CustomResourceDefinition", "broadcastjobs.apps.kruise.io"),
        ("CustomResourceDefinition", "sidecarsets.apps.kruise.io"),
    ]:
        assert expected in kinds, f"{expected} not rendered"
    # Optional parts stay off by default.
    assert not {"Certificate", "Issuer", "ServiceMonitor", "ConfigMap"} & {k for k, _ in kinds}


def test_rbac_has_no_wildcards_and_names_its_secret_and_lease() -> None:
    objs = render()
    for role in (one(objs, "ClusterRole"), one(objs, "Role")):
        for rule in role["rules"]:
            for key in ("verbs", "resources", "apiGroups", "resourceNames"):
                assert "*" not in rule.get(key, []), rule
    rules = one(objs, "Role")["rules"]
    secrets = [r for r in rules if r["resources"] == ["secrets"]]
    assert {tuple(r["verbs"]): r.get("resourceNames") for r in secrets} == {
        ("create",): None,
        ("get", "update"): ["kruise-py-webhook-certs"],
    }
    leases = [r for r in rules if r["resources"] == ["leases"]]
    assert {tuple(r["verbs"]): r.get("resourceNames") for r in leases} == {
        ("create",): None,
        ("get", "update"): ["kruise-py"],
    }
    cluster = one(objs, "ClusterRole")["rules"]
    assert not any("secrets" in r["resources"] for r in cluster), "secrets only in the release namespace"
    hooks = [r for r in cluster if r["apiGroups"] == ["admissionregistration.k8s.io"]]
    assert hooks == [
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
            "resourceNames": ["kruise-py-mutating", "kruise-py-validating"],
            "verbs": ["get", "patch"],
        }
    ]


def _run_args(objs: list[dict[str, Any]]) -> argparse.Namespace:
    """The container's args, parsed by the real `kruise-py` parser: a flag the CLI does not know fails here."""
    c = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    cli._add_run(sub)
    return parser.parse_args(c["args"])


def test_sharding_runs_shards_auto_with_the_member_lease_rights() -> None:
    off = render()
    assert _run_args(off).shards == "off"
    assert not [r for r in one(off, "Role")["rules"] if "list" in r["verbs"]]
    objs = render("--set", "sharding.enabled=true", "--set", "replicaCount=4")
    a = _run_args(objs)
    assert (a.shards, a.leader_elect) == ("auto", True)
    assert one(objs, "Deployment")["spec"]["replicas"] == 4
    leases = [r for r in one(objs, "Role")["rules"] if r["resources"] == ["leases"]]
    # Member Leases are named after each replica's identity: no resourceNames can cover them.
    assert {"verbs": ["list", "get", "update", "delete"]} in [
        {"verbs": r["verbs"]} for r in leases if not r.get("resourceNames")
    ], leases
    # The replica taking a bucket labels the sets made before sharding (BroadcastJobs: patch already).
    sts = [r for r in one(objs, "ClusterRole")["rules"] if r["resources"] == ["statefulsets"]]
    assert sts == [{"apiGroups": ["apps.kruise.io"], "resources": ["statefulsets"], "verbs": ["patch"]}], sts
    assert not [r for r in one(off, "ClusterRole")["rules"] if r["resources"] == ["statefulsets"]]


def test_deployment_is_hardened_and_runs_service_mode_from_the_secret() -> None:
    objs = render()
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert (
        c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    )
    assert c["resources"]["requests"] and c["resources"]["limits"]
    a = _run_args(objs)
    assert (a.webhook_mode, a.webhook_cert_source, a.webhook_secret) == (
        "service",
        "secret",
        "kruise-py-webhook-certs",
    )
    assert a.leader_elect and a.leader_election_id == "kruise-py"
    assert a.cert_dir.startswith("/tmp/"), "the only writable path is the /tmp emptyDir"
    svc = one(objs, "Service")
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"webhook": 443, "metrics": 8080}


def test_webhooks_reference_the_service_with_namespace_selector_and_deliberate_policy() -> None:
    objs = render()
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        cfg = one(objs, kind)
        assert "annotations" not in cfg["metadata"]
        for w in cfg["webhooks"]:
            assert w["clientConfig"]["service"] == {
                **w["clientConfig"]["service"],
                "namespace": NS,
                "name": "kruise-py-webhook",
                "port": 443,
            }
            assert "caBundle" not in w["clientConfig"], "the operator patches caBundle; Helm must not own it"
            assert w["failurePolicy"] == ("Ignore" if w["name"].startswith("inject-") else "Fail")
            if w["rules"][0]["resources"] == ["pods"]:
                assert w["namespaceSelector"]["matchExpressions"][0]["values"] == sorted([NS, "kube-system"])


def test_cert_manager_mode() -> None:
    objs = render("--set", "webhook.certManager.enabled=true")
    cert = one(objs, "Certificate")
    assert cert["spec"]["secretName"] == "kruise-py-webhook-certs"
    assert f"kruise-py-webhook.{NS}.svc" in cert["spec"]["dnsNames"]
    assert cert["spec"]["issuerRef"] == {"kind": "Issuer", "name": "kruise-py-selfsigned"}
    assert one(objs, "Issuer")["spec"] == {"selfSigned": {}}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert one(objs, kind)["metadata"]["annotations"] == {
            "cert-manager.io/inject-ca-from": f"{NS}/kruise-py-webhook"
        }
    a = _run_args(objs)
    assert (a.webhook_cert_source, a.cert_dir) == ("dir", "/certs")
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    assert {
        "name": "certs",
        "secret": {"secretName": "kruise-py-webhook-certs", "defaultMode": 0o400},
    } in pod["volumes"]
    # cert-manager owns the Secret and the caBundle: the operator gets neither permission.
    assert not any("secrets" in r["resources"] for r in one(objs, "Role")["rules"])
    assert not any(
        r["apiGroups"] == ["admissionregistration.k8s.io"] for r in one(objs, "ClusterRole")["rules"]
    )
    other = render(
        "--set",
        "webhook.certManager.enabled=true",
        "--set",
        "webhook.certManager.issuerRef.kind=ClusterIssuer",
        "--set",
        "webhook.certManager.issuerRef.name=corp-ca",
    )
    assert one(other, "Certificate")["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "corp-ca"}
    assert not [o for o in other if o["kind"] == "Issuer"]


def test_pdb_only_with_more_than_one_replica() -> None:
    assert one(render(), "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert not [o for o in render("--set", "replicaCount=1") if o["kind"] == "PodDisruptionBudget"]


def test_service_monitor_scrapes_the_metrics_port() -> None:
    objs = render(
        "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prom"
    )
    sm = one(objs, "ServiceMonitor")
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert sm["metadata"]["labels"]["release"] == "prom"
    svc_labels = one(objs, "Service")["metadata"]["labels"]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc_labels.items()


def test_grafana_dashboard_configmap_ships_the_dashboard_file() -> None:
    src = CHART / "dashboards" / "kruise-py.json"
    if not src.exists():
        pytest.skip(
            "deploy/helm/kruise-py/dashboards/kruise-py.json is not in the tree yet (another task creates it)"
        )
    cm = one(
        render("--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.namespace=monitoring"),
        "ConfigMap",
    )
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "monitoring"
    assert json.loads(cm["data"]["kruise-py.json"]) == json.loads(src.read_text())


def test_host_network_option() -> None:
    pod = one(render("--set", "hostNetwork=true"), "Deployment")["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert "hostNetwork" not in one(render(), "Deployment")["spec"]["template"]["spec"]
