"""The whole exposition of the operator's registry passes `promtool check metrics` (Prometheus's
linter: naming, units, help texts), with every kind of our series populated."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import REGISTRY, generate_latest


def test_promtool_check_metrics_is_clean() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "`promtool` not found: install the Debian package prometheus (apt-get install -y prometheus)"
        )
    import kruise_py.operator  # noqa: F401 - registers every metric of every module
    from kruise_py.runtime import rollout_metrics as rm

    rm.observe_statefulset(
        {"metadata": {"namespace": "ns", "name": "promtool"}, "spec": {"replicas": 2}},
        {"availableReplicas": 1, "currentRevision": "a", "updateRevision": "b"},
        now=0.0,
    )
    text = generate_latest(REGISTRY).decode()
    rm.forget_statefulset("ns", "promtool")
    assert "kruise_py_rollout_unavailable_pods" in text and "controller_runtime_reconcile" in text
    res = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and not (res.stdout + res.stderr).strip(), res.stdout + res.stderr
