"""The typed read views (kruise_py/api/views.py) turn a misspelled field name into a mypy error.

mypy runs, with the project's configuration (strict, the TypedDict .get plugin), over small
snippets that read objects the way the plans do: each misspelling must be reported at its line,
and the correctly spelled twin must pass (so the errors come from the typo, not the setup).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api", reason="mypy is a dev dependency")

REPO = Path(__file__).resolve().parents[2]

GOOD = """
from datetime import datetime

from kruise_py.api import views
from kruise_py.controllers.statefulset import plan
from kruise_py.core import inplace


def phase(raw: dict[str, object]) -> str:
    return views.pod(raw).get("status", {}).get("phase", "")


def partition(sts: views.StatefulSet) -> int:
    return sts["spec"].get("updateStrategy", {}).get("rollingUpdate", {}).get("partition", 0)


def ordered(replicas: dict[int, views.Pod]) -> list[views.Pod]:
    return plan._order_to_update(replicas, 0, 3, 0, 3, {"partition": 1}, "rev-2")


def done(pod: views.Pod) -> bool:
    state = inplace.read_state(pod)
    return state is not None and not state.get("nextContainerImages") and inplace.check_completed(pod)


def started(pod: views.Pod, now: datetime) -> object:
    return inplace.refresh(pod, now)
"""

# (what is misspelled, the line of GOOD to replace, the misspelled line, what mypy must say)
TYPOS = [
    (
        ".get on a pod",
        '    return views.pod(raw).get("status", {}).get("phase", "")',
        '    return views.pod(raw).get("status", {}).get("phse", "")',
        'TypedDict "PodStatus" has no key "phse"',
    ),
    (
        "[] on a set",
        '    return sts["spec"].get("updateStrategy", {}).get("rollingUpdate", {}).get("partition", 0)',
        '    return sts["spc"].get("updateStrategy", {}).get("rollingUpdate", {}).get("partition", 0)',
        'TypedDict "StatefulSet" has no key "spc"',
    ),
    (
        "a nested .get",
        '    return sts["spec"].get("updateStrategy", {}).get("rollingUpdate", {}).get("partition", 0)',
        '    return sts["spec"].get("updateStrategy", {}).get("rollingUpdate", {}).get("partiton", 0)',
        'TypedDict "RollingUpdate" has no key "partiton"',
    ),
    (
        "a plan argument",
        '    return plan._order_to_update(replicas, 0, 3, 0, 3, {"partition": 1}, "rev-2")',
        '    return plan._order_to_update(replicas, 0, 3, 0, 3, {"partitions": 1}, "rev-2")',
        'Extra key "partitions" for TypedDict "RollingUpdate"',
    ),
    (
        "the in-place state annotation",
        '    return state is not None and not state.get("nextContainerImages") and inplace.check_completed(pod)',
        '    return state is not None and not state.get("nextContainerImage") and inplace.check_completed(pod)',
        'TypedDict "InPlaceUpdateState" has no key "nextContainerImage"',
    ),
]


def _mypy(files: list[Path], cache: Path) -> str:
    out, err, _ = mypy_api.run(
        [
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(cache),
            # Report the snippets only; the package has its own check (mypy kruise_py).
            "--follow-imports",
            "silent",
            "--no-error-summary",
            "--hide-error-context",
            *map(str, files),
        ]
    )
    return out + err


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One mypy run over the good snippet and one copy per typo: file stem -> its messages."""
    d = tmp_path_factory.mktemp("typing")
    files = [d / "good.py"]
    files[0].write_text(GOOD)
    for i, (_, line, typo, _) in enumerate(TYPOS):
        assert GOOD.count(line + "\n") == 1, line
        f = d / f"typo{i}.py"
        f.write_text(GOOD.replace(line + "\n", typo + "\n"))
        files.append(f)
    out = _mypy(files, d / "cache")
    by_file: dict[str, str] = {f.stem: "" for f in files}
    for m in re.finditer(r"^.*?([A-Za-z0-9_]+)\.py:(\d+): (.*)$", out, re.M):
        if m.group(1) in by_file:
            by_file[m.group(1)] += f"{m.group(2)}: {m.group(3)}\n"
        else:
            pytest.fail(f"unexpected mypy output: {m.group(0)}")
    return by_file


def test_correct_spellings_pass(report: dict[str, str]) -> None:
    assert report["good"] == ""


@pytest.mark.parametrize(("i", "typo"), list(enumerate(TYPOS)), ids=[t[0] for t in TYPOS])
def test_a_typo_is_a_type_error(report: dict[str, str], i: int, typo: tuple[str, str, str, str]) -> None:
    _, good_line, _, message = typo
    line = GOOD.splitlines().index(good_line) + 1
    assert any(e.startswith(f"{line}: error: {message}") for e in report[f"typo{i}"].splitlines()), report[
        f"typo{i}"
    ]
