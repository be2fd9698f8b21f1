"""The control plane itself: RBAC on, idempotent start, admin kubeconfig, logs kept."""

from __future__ import annotations

import json

from kruise_py.sandbox.controlplane import ControlPlane

from .conftest import Kubectl


def test_start_is_idempotent(control_plane: ControlPlane) -> None:
    pids = dict(control_plane.load_state()["pids"])
    again = ControlPlane(workdir=control_plane.workdir, bins=control_plane.bins)
    assert again.start() == control_plane.kubeconfig
    assert again.load_state()["pids"] == pids, "a healthy plane must be reused, not restarted"


def test_rbac_is_enforced(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "serviceaccount", "nobody", "-n", ns)
    res = kubectl.run(
        "auth", "can-i", "create", "pods", "-n", ns, f"--as=system:serviceaccount:{ns}:nobody", check=False
    )
    assert res.stdout.strip() == "no", res.stdout + res.stderr
    assert kubectl("auth", "can-i", "create", "pods", "-n", ns).strip() == "yes"


def test_components_and_logs(control_plane: ControlPlane, kubectl: Kubectl) -> None:
    st = control_plane.load_state()
    assert set(st["pids"]) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    for comp in st["pids"]:
        assert (control_plane.logs / f"{comp}.log").stat().st_size > 0, f"{comp} log is empty"
    # Admission webhooks are part of the chain (the default plugin set).
    out = kubectl("api-resources", "--api-group=admissionregistration.k8s.io", "-o", "name")
    assert "mutatingwebhookconfigurations.admissionregistration.k8s.io" in out


def test_audit_log_records_writes(control_plane: ControlPlane, kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "configmap", "audited", "-n", ns, "--from-literal=a=b")
    lines = [json.loads(line) for line in control_plane.audit_log.read_text().splitlines() if line.strip()]
    hits = [e for e in lines if e.get("objectRef", {}).get("name") == "audited" and e["verb"] == "create"]
    assert hits and hits[-1]["responseStatus"]["code"] == 201
