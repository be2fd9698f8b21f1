"""Sampling profiles of the operator under test with py-spy (the bench extra), attached by PID.

    BENCH_PROFILE=1 python -m bench p5      # raw profiles in $BENCH_PROFILE_DIR (default
                                            # /tmp/kruise-py-bench-profiles), top lists in the JSON

py-spy's "raw" output is one collapsed stack per line with a sample count; :func:`top` folds it
into the functions with the most samples, inclusive (on the stack) and self (innermost).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

OUT = Path(os.environ.get("BENCH_PROFILE_DIR", "/tmp/kruise-py-bench-profiles"))


def enabled() -> bool:
    return os.environ.get("BENCH_PROFILE", "") not in ("", "0")


def start(pid: int, name: str, rate: int = 200) -> tuple[subprocess.Popen[bytes], Path] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("BENCH_PROFILE: py-spy is not installed (pip install -e '.[bench]'); no profile", flush=True)
        return None
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"{name}.pyspy.txt"
    p = subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            str(rate),
            "--nonblocking",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return p, out


def stop(handle: tuple[subprocess.Popen[bytes], Path] | None, n: int = 25) -> dict[str, object] | None:
    if handle is None:
        return None
    p, out = handle
    p.send_signal(2)  # SIGINT: py-spy writes its output and exits
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    if not out.exists():
        return None
    return {"file": str(out), **top(out.read_text(), n)}


_FRAME = re.compile(r"^(.*?) \((.*?)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    fn, path = m.groups()
    short = "/".join(Path(path).parts[-2:])
    return f"{fn} ({short})"


def top(raw: str, n: int = 25) -> dict[str, object]:
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        c = int(count)
        total += c
        frames = [_name(f) for f in stack.split(";") if f]
        for f in set(frames):
            incl[f] += c
        if frames:
            self_[frames[-1]] += c
    pct = (lambda c: round(100 * c / total, 1)) if total else (lambda c: 0.0)
    return {
        "samples": total,
        "inclusive_pct": [(f, pct(c)) for f, c in incl.most_common(n)],
        "self_pct": [(f, pct(c)) for f, c in self_.most_common(n)],
    }
