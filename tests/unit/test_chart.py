"""The Helm chart: derived files up to date, `helm lint` clean, and it renders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kruise_py.sandbox import binaries

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "kruise-py"


def _helm() -> Path:
    try:
        h = binaries.find(build=False).helm
    except binaries.BinariesMissing as e:
        pytest.fail(f"helm comes with the control-plane binaries: {e}", pytrace=False)
    assert h is not None, "helm missing from the binaries folder"
    return h


def test_chart_derived_files_are_up_to_date() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "hack" / "gen_chart.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_helm_lint() -> None:
    r = subprocess.run([str(_helm()), "lint", str(CHART)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_helm_template_renders_expected_objects() -> None:
    r = subprocess.run([str(_helm()), "template", "kp", str(CHART), "--namespace", "kruise-py-system", "--include-crds"],
                       capture_output=True, text=True, check=True)
    objs = [o for o in yaml.safe_load_all(r.stdout) if o]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for expected in [("ServiceAccount", "kruise-py"), ("ClusterRole", "kruise-py"), ("Deployment", "kruise-py"),
                     ("Service", "kruise-py-webhook"), ("MutatingWebhookConfiguration", "kruise-py-mutating"),
                     ("ValidatingWebhookConfiguration", "kruise-py-validating")]:
        assert expected in kinds, f"{expected} not rendered"
    role = next(o for o in objs if o["kind"] == "ClusterRole")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
    webhooks = next(o for o in objs if o["kind"] == "ValidatingWebhookConfiguration")["webhooks"]
    assert all(w["clientConfig"]["service"]["namespace"] == "kruise-py-system" for w in webhooks)
