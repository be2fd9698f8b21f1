"""Small shared helpers for the kruise_py.api tests."""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

from kruise_py.api import FieldError

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parts(path: str) -> list[str | int]:
    return [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _PART.finditer(path)]


def with_value(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``obj`` with ``path`` (``spec.a.b``, ``spec.list[0].x``) set; dicts are created."""
    out = copy.deepcopy(obj)
    parts = _parts(path)
    cur: Any = out
    for part, nxt in itertools.pairwise(parts):
        if isinstance(part, int):
            cur = cur[part]
        else:
            if cur.get(part) is None:
                cur[part] = [] if isinstance(nxt, int) else {}
            cur = cur[part]
    last = parts[-1]
    if value is DELETE:
        del cur[last]
    else:
        cur[last] = value
    return out


DELETE = object()


def pairs(errs: list[FieldError]) -> list[tuple[str, str]]:
    return [(e.path, e.message) for e in errs]


def has_error(errs: list[FieldError], path: str, message: str) -> bool:
    """True when some error has exactly ``path`` and a message containing ``message``."""
    return any(e.path == path and message in e.message for e in errs)
