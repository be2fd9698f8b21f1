"""A real Prometheus (the Debian package's binary, run with our own config on a free port) scrapes the
operator: the exposition passes `promtool check metrics`, PromQL answers for reconcile totals and the
rollout metrics, and every query of the Grafana dashboard evaluates."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kruise_py.sandbox.controlplane import free_port

from .conftest import Kubectl, OperatorProcess, _stop, wait_for
from .test_statefulset import asts, set_image, wait_rolled_out

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/helm/kruise-py/dashboards/kruise-py.json"
RECONCILES = "sum by (controller) (controller_runtime_reconcile_total)"
NOT_INSTALLED = "`{}` not found: install the Debian package prometheus (apt-get install -y prometheus)"
# Skip before the session fixtures start a control plane for nothing.
pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason=NOT_INSTALLED.format("prometheus/promtool"),
)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(NOT_INSTALLED.format(tool))
    return path


def _metrics_text(op: OperatorProcess) -> str:
    with urllib.request.urlopen(f"{op.url}/metrics", timeout=10) as r:
        return r.read().decode()  # type: ignore[no-any-return]


class Prometheus:
    def __init__(self, port: int) -> None:
        self.port = port

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=5) as r:
                return r.status == 200  # type: ignore[no-any-return]
        except OSError:
            return False

    def query(self, q: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]  # type: ignore[no-any-return]


@pytest.fixture
def prometheus(operator: OperatorProcess, tmp_path: Path) -> Iterator[Prometheus]:
    binary = _need("prometheus")
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        json.dumps(
            {  # JSON is YAML
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "kruise-py",
                        "static_configs": [{"targets": [f"127.0.0.1:{operator.metrics_port}"]}],
                    }
                ],
            }
        )
    )
    log = (operator.log.parent / "prometheus.log").open("ab")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        prom = Prometheus(port)
        wait_for(
            lambda: prom.ready() and prom.query('up{job="kruise-py"} == 1'),
            60,
            interval=0.5,
            what="Prometheus scrapes the operator (up == 1)",
        )
        yield prom
    finally:
        _stop(proc)
        log.close()


def test_promtool_finds_our_metrics_clean(operator: OperatorProcess) -> None:
    promtool = _need("promtool")
    text = _metrics_text(operator)
    assert "controller_runtime_reconcile_total" in text and "kruise_py_pods_updated_total" in text
    res = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and not res.stdout.strip() and not res.stderr.strip(), res.stdout + res.stderr


def test_prometheus_scrapes_reconciles_and_rollout_metrics(
    prometheus: Prometheus, kubectl: Kubectl, ns: str
) -> None:
    kubectl.apply(asts("scraped", 3, max_unavailable=2), ns)
    wait_rolled_out(kubectl, ns, "scraped", 3)
    set_image(kubectl, ns, "scraped", "nginx:1.27")
    wait_rolled_out(kubectl, ns, "scraped", 3)

    def reconciles() -> dict[str, float]:
        return {r["metric"]["controller"]: float(r["value"][1]) for r in prometheus.query(RECONCILES)}

    answer = wait_for(lambda: (a := reconciles()).get("statefulset", 0) > 0 and a, 30, what=RECONCILES)
    print(f"PromQL: {RECONCILES}\nanswer: {json.dumps(answer, sort_keys=True)}")
    assert {"statefulset", "broadcastjob", "sidecarset"} <= set(answer)

    in_place = 'kruise_py_pods_updated_total{kind="StatefulSet", method="in_place"}'
    wait_for(lambda: prometheus.query(f"{in_place} >= 3"), 30, what=f"{in_place} >= 3")
    sel = f'{{namespace="{ns}", name="scraped"}}'
    budget = wait_for(
        lambda: prometheus.query(f"kruise_py_rollout_max_unavailable{sel}"), 30, what="the set's budget"
    )
    assert float(budget[0]["value"][1]) == 2
    wait_for(
        lambda: prometheus.query(f"kruise_py_rollout_unavailable_pods{sel} == 0"), 30, what="0 unavailable"
    )
    wait_for(
        lambda: prometheus.query('kruise_py_rollout_duration_seconds_count{kind="StatefulSet"} >= 1'),
        30,
        what="a timed rollout",
    )

    # Deleting the set removes its series from the next scrape on.
    kubectl("delete", "asts", "scraped", "-n", ns)
    wait_for(
        lambda: not prometheus.query(f"kruise_py_rollout_max_unavailable{sel}"),
        30,
        what="the deleted set's series gone",
    )


def test_every_dashboard_query_evaluates(prometheus: Prometheus) -> None:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert exprs
    # Counters and histograms of every panel exist from the start, so each query returns series
    # once two scrapes are in (rate needs two samples); only the per-set gauges need a set.
    for e in exprs:
        prometheus.query(e.replace("$namespace", ".*"))  # raises unless Prometheus accepts it
    wait_for(
        lambda: prometheus.query("sum by (kind, method) (rate(kruise_py_pods_updated_total[5m]))"),
        30,
        what="rate() over the rollout counters",
    )
