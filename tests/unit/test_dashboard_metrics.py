"""The Grafana dashboard and docs/metrics.md only name metrics the operator actually exports, and the
dashboard's queries are the ones the docs show."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/helm/kruise-py/dashboards/kruise-py.json"
DOC = ROOT / "docs/metrics.md"
# Every metric of ours starts with one of these; no label name or PromQL function does.
METRIC = re.compile(
    r"\b(?:controller_runtime|workqueue|rest_client|kruise_py|leader_election|process)_[a-z0-9_]+"
)


def exported() -> set[str]:
    """Sample names the operator's registry can expose (after importing the whole operator)."""
    import kruise_py.operator  # noqa: F401 - registers every metric of every module

    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "gauge": ("",),
        "summary": ("", "_sum", "_count", "_created"),
    }
    names: set[str] = set()
    for fam in REGISTRY.collect():
        names |= {fam.name, *(fam.name + s for s in suffixes.get(fam.type, ("",)))}
        names |= {s.name for s in fam.samples}
    return names


def dashboard_queries(d: dict[str, Any]) -> list[str]:
    out = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
    out += [v["query"]["query"] for v in d["templating"]["list"] if isinstance(v.get("query"), dict)]
    return out


@pytest.fixture(scope="module")
def dash() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def test_every_metric_the_dashboard_queries_is_exported(dash: dict[str, Any]) -> None:
    used = {m for q in dashboard_queries(dash) for m in METRIC.findall(q)}
    assert {
        "kruise_py_pods_updated_total",
        "kruise_py_rollout_duration_seconds_bucket",
        "kruise_py_rollout_unavailable_pods",
        "kruise_py_rollout_max_unavailable",
        "kruise_py_webhook_admission_duration_seconds_bucket",
        "controller_runtime_reconcile_total",
    } <= used
    assert used - exported() == set()


def test_every_metric_the_docs_name_is_exported() -> None:
    named = set(METRIC.findall(DOC.read_text())) - {"process_"}
    assert len(named) > 20
    assert named - exported() == set()


def test_the_dashboard_uses_exactly_the_documented_queries(dash: dict[str, Any]) -> None:
    doc = DOC.read_text()
    blocks = re.findall(r"```promql\n(.*?)```", doc, re.S)
    documented = [line for b in blocks for line in b.splitlines() if line.strip()]
    panel_exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert panel_exprs == documented


def test_the_dashboard_is_a_grafana_dashboard_on_a_datasource_variable(dash: dict[str, Any]) -> None:
    ds = next(v for v in dash["templating"]["list"] if v["name"] == "datasource")
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 30
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
