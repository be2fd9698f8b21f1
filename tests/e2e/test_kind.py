"""kind end-to-end tests: the real image, installed by the chart, in a kind cluster.

`make e2e-kind` (hack/e2e-kind.sh) creates the cluster, builds and loads the image, installs the
chart and runs these with KIND_E2E=1. Elsewhere they skip and say why; tests/integration/
test_helm_install.py checks the same chart and scenario on a real control plane without Docker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.test_helm_install import asts, bcj, container_status, logged_deployment, sidecarset

pytestmark = pytest.mark.e2e
NS = os.environ.get("KRUISE_PY_NAMESPACE", "kruise-py-system")


def _why_not() -> str | None:
    if os.environ.get("KIND_E2E") != "1":
        return "kind e2e runs only with KIND_E2E=1 (`make e2e-kind` sets it after installing the chart)"
    if shutil.which("kubectl") is None:
        return "no kubectl on PATH"
    r = subprocess.run(
        ["kubectl", "--context", f"kind-{os.environ.get('KIND_CLUSTER', 'kruise-py-e2e')}", "version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return None if r.returncode == 0 else f"the kind cluster does not answer: {r.stderr.strip()[:200]}"


class K:
    def __init__(self, context: str) -> None:
        self.context = context

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            ["kubectl", "--context", self.context, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {r.stderr}")
        return r

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, obj: dict[str, Any], ns: str | None = None) -> None:
        self.run("apply", *(["-n", ns] if ns else []), "-f", "-", input=json.dumps(obj))


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def k() -> K:
    why = _why_not()
    if why:
        pytest.skip(why)
    return K(f"kind-{os.environ.get('KIND_CLUSTER', 'kruise-py-e2e')}")


@pytest.fixture
def ns(k: K) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    k.run("create", "namespace", name)
    yield name
    k.run("delete", "namespace", name, "--wait=false", check=False)


def test_operator_is_ready_with_the_shared_certificate(k: K) -> None:
    dep = k.json("get", "deployment", "kruise-py", "-n", NS)
    assert dep["status"].get("readyReplicas") == dep["spec"]["replicas"], dep["status"]
    secret = k.json("get", "secret", "kruise-py-webhook-certs", "-n", NS)
    hook = k.json("get", "validatingwebhookconfiguration", "kruise-py-validating")
    assert {w["clientConfig"].get("caBundle") for w in hook["webhooks"]} == {secret["data"]["ca.crt"]}


def test_all_three_kinds(k: K, ns: str) -> None:
    k.apply(asts("nginx:1.25"), ns)
    wait_for(
        lambda: k.json("get", "asts", "web", "-n", ns).get("status", {}).get("readyReplicas") == 3,
        300,
        "3 ready",
    )
    uids = {p["metadata"]["uid"] for p in k.json("get", "pods", "-n", ns, "-l", "app=web")["items"]}
    k.run(
        "patch",
        "asts",
        "web",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.27"}]',
    )
    wait_for(
        lambda: k.json("get", "asts", "web", "-n", ns).get("status", {}).get("updatedReadyReplicas") == 3,
        300,
        "in-place rollout",
    )
    pods = k.json("get", "pods", "-n", ns, "-l", "app=web")["items"]
    assert {p["metadata"]["uid"] for p in pods} == uids, "updated in place"

    k.apply(bcj(), ns)
    wait_for(
        lambda: k.json("get", "bcj", "check", "-n", ns).get("status", {}).get("phase") == "completed",
        300,
        "broadcastjob completed",
    )

    k.apply(sidecarset("busybox:1.36"))
    try:
        # The webhook answers from the operators' caches: wait for a server-side dry run to be injected.
        probe = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "probe", "labels": {"app": "logged"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
        }
        wait_for(
            lambda: all(
                [
                    c["name"]
                    for c in json.loads(
                        k.run(
                            "create",
                            "-n",
                            ns,
                            "--dry-run=server",
                            "-o",
                            "json",
                            "-f",
                            "-",
                            input=json.dumps(probe),
                        ).stdout
                    )["spec"]["containers"]
                ]
                == ["log-agent", "app"]
                for _ in range(4)
            ),
            60,
            "injection webhook sees the SidecarSet",
        )
        k.apply(logged_deployment(), ns)
        got = wait_for(
            lambda: (p := k.json("get", "pods", "-n", ns, "-l", "app=logged")["items"]) and len(p) == 2 and p,
            120,
            "2 pods",
        )
        assert all([c["name"] for c in p["spec"]["containers"]] == ["log-agent", "app"] for p in got)
        k.apply(sidecarset("busybox:1.37"))
        wait_for(
            lambda: (
                k.json("get", "sidecarset", "helm-log-agent").get("status", {}).get("updatedReadyPods") == 2
            ),
            300,
            "sidecar upgraded",
        )
        for p in k.json("get", "pods", "-n", ns, "-l", "app=logged")["items"]:
            assert container_status(p, "log-agent").get("image", "").endswith("busybox:1.37")
    finally:
        k.run("delete", "sidecarset", "helm-log-agent", check=False)
