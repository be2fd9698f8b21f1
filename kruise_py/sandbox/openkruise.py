"""OpenKruise's manager, run out of cluster beside kruise-py: the reference system for takeover
tests (tests/compat) and benchmark ratios.

Nothing of OpenKruise ships with kruise-py. Point ``OPENKRUISE_MANAGER_BIN`` at a manager built
from OpenKruise's source (v1.9.0: ``CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o bin/manager
main.go`` in a checkout; docs/migrate.md) and, if the binary is not at ``<src>/bin/manager``,
``OPENKRUISE_SRC`` at that checkout: its CRDs (``config/crd/bases``) and webhook configurations
(``config/webhook/manifests.yaml``) are installed from there, as its own deployment does.

The manager only patches its webhook configurations, so they are created first under the names
it looks for; with ``WEBHOOK_HOST`` set it rewrites them to ``https://<host>:<port>/...`` with a CA
it keeps in the Secret ``kruise-system/kruise-webhook-certs``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .controlplane import free_port

BIN_ENV = "OPENKRUISE_MANAGER_BIN"
SRC_ENV = "OPENKRUISE_SRC"
NAMESPACE = "kruise-system"
MUTATING = "kruise-mutating-webhook-configuration"
VALIDATING = "kruise-validating-webhook-configuration"
# Its writes carry this User-Agent prefix (per controller: kruise-manager/statefulset-controller...).
USER_AGENT_PREFIX = "kruise-manager"


class OpenKruiseMissing(RuntimeError):
    """No manager binary or source tree: say what to set."""


@dataclass(frozen=True)
class OpenKruiseDist:
    manager: Path
    src: Path

    @property
    def crd_dir(self) -> Path:
        return self.src / "config" / "crd" / "bases"

    @property
    def webhook_manifests(self) -> Path:
        return self.src / "config" / "webhook" / "manifests.yaml"

    def crd_files(self, plurals: tuple[str, ...] | None = None) -> list[Path]:
        """OpenKruise's CRD files, all of them or those of the given ``apps.kruise.io`` plurals."""
        files = sorted(self.crd_dir.glob("*.yaml"))
        if plurals is None:
            return files
        return [f for f in files if f.name in {f"apps.kruise.io_{p}.yaml" for p in plurals}]


def find(env: dict[str, str] | None = None) -> OpenKruiseDist:
    env = dict(os.environ if env is None else env)
    manager = env.get(BIN_ENV)
    if not manager:
        raise OpenKruiseMissing(
            f"{BIN_ENV} is not set: build OpenKruise v1.9.0's manager from its source (docs/migrate.md, "
            f"'Testing against OpenKruise') and point {BIN_ENV} at it"
        )
    mpath = Path(manager)
    if not os.access(mpath, os.X_OK):
        raise OpenKruiseMissing(f"{BIN_ENV}={manager} is not an executable file")
    src = Path(env.get(SRC_ENV) or mpath.resolve().parent.parent)
    dist = OpenKruiseDist(mpath, src)
    if not dist.crd_dir.is_dir() or not dist.webhook_manifests.is_file():
        raise OpenKruiseMissing(
            f"no OpenKruise source tree at {src} (config/crd/bases, config/webhook/manifests.yaml): "
            f"set {SRC_ENV} to the checkout the manager was built from"
        )
    return dist


def webhook_configurations(dist: OpenKruiseDist) -> list[dict[str, object]]:
    """Its webhook configurations under the names the manager patches."""
    names = {"MutatingWebhookConfiguration": MUTATING, "ValidatingWebhookConfiguration": VALIDATING}
    out = []
    for doc in yaml.safe_load_all(dist.webhook_manifests.read_text()):
        if not doc:
            continue
        doc["metadata"]["name"] = names[doc["kind"]]
        out.append(doc)
    return out


@dataclass
class OpenKruiseManager:
    """One manager process against a kubeconfig; ``install()`` once per control plane."""

    dist: OpenKruiseDist
    kubeconfig: Path
    workdir: Path
    kubectl: Path
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def _kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {res.stderr.strip()}")
        return res

    def install_crds(self, plurals: tuple[str, ...] | None = None) -> None:
        for f in self.dist.crd_files(plurals):
            self._kubectl("apply", "--server-side", "--force-conflicts", "-f", str(f))
        self._kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *[
                f"crd/{yaml.safe_load(f.read_text())['metadata']['name']}"
                for f in self.dist.crd_files(plurals)
            ],
        )

    def install(self) -> None:
        """Its CRDs, its namespace and its webhook configurations (as its deployment would)."""
        self.install_crds()
        self._kubectl("create", "namespace", NAMESPACE, check=False)
        self.register_webhooks()

    def register_webhooks(self) -> None:
        text = "\n---\n".join(yaml.safe_dump(d) for d in webhook_configurations(self.dist))
        self._kubectl("apply", "-f", "-", input=text)

    @property
    def log(self) -> Path:
        return self.workdir / "openkruise-manager.log"

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['health']}/readyz"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['metrics']}/metrics"

    def start(self, timeout: float = 120, wait: bool = True) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        certs = self.workdir / "openkruise-certs"
        certs.mkdir(exist_ok=True)
        self.ports = {"webhook": free_port(), "metrics": free_port(), "health": free_port()}
        env = dict(
            os.environ,
            WEBHOOK_HOST="127.0.0.1",
            WEBHOOK_PORT=str(self.ports["webhook"]),
            WEBHOOK_CERT_DIR=str(certs),
            POD_NAMESPACE=NAMESPACE,
            KUBECONFIG=str(self.kubeconfig),
        )
        argv = [
            str(self.dist.manager),
            f"--kubeconfig={self.kubeconfig}",
            f"--metrics-addr=127.0.0.1:{self.ports['metrics']}",
            f"--health-probe-addr=127.0.0.1:{self.ports['health']}",
            "--enable-leader-election=false",
            "--enable-pprof=false",
            "-v=1",
            *self.extra_args,
        ]
        log = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        if wait:  # else the caller times its own start-up and calls wait_ready itself
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Healthy, and its webhook configurations point at it (it rewrites them once serving)."""
        deadline = time.monotonic() + timeout
        url = f"https://127.0.0.1:{self.ports['webhook']}/"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"OpenKruise's manager exited ({self.proc.returncode}); see {self.log}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2) as r:
                    healthy = r.status == 200
            except OSError:
                healthy = False
            if healthy:  # readyz: its webhook server is up (it has no healthz check)
                res = self._kubectl(
                    "get",
                    "mutatingwebhookconfiguration",
                    MUTATING,
                    "-o",
                    "jsonpath={.webhooks[0].clientConfig.url}",
                    check=False,
                )
                if res.stdout.startswith(url):
                    return
            time.sleep(0.5)
        raise RuntimeError(f"OpenKruise's manager not ready after {timeout}s; see {self.log}")

    def stop(self, *, remove_webhooks: bool = True) -> None:
        """SIGTERM, then (by default) delete its webhook configurations: its pod webhook fails
        closed, so with the manager gone every pod create in the cluster would fail."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if remove_webhooks:
            self._kubectl("delete", "mutatingwebhookconfiguration", MUTATING, "--ignore-not-found")
            self._kubectl("delete", "validatingwebhookconfiguration", VALIDATING, "--ignore-not-found")


def wait_until(cond: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
