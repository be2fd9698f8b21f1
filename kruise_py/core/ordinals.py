"""Pod ordinals of an Advanced StatefulSet: reserveOrdinals, ``ordinals.start`` and the replica range.

Spec §1.4 [kruise stateful_set_utils.go ``getStatefulSetReplicasRange``, pkg/util/api/asts.go].

Reserved ordinals are kept as sorted, merged, inclusive intervals rather than a set of ints, so a
reservation such as ``"0-1000000000"`` costs two numbers and every query is a binary search.
(``kruise_py.api.statefulset.parse_reserve_ordinals`` expands ranges eagerly; it is fine for
validation of small values but must not be used by the controller.)
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kruise_py.api.statefulset import parse_range

# StatefulSetStartOrdinal is an alpha gate, default off, in OpenKruise. We default it ON: a user who
# writes spec.ordinals.start expects pods to start there, and silently ignoring a field the CRD
# accepts is the more surprising behaviour. The operator can still turn it off (gate flag).
# Any object shape (raw JSON or a typed view): the result holds the caller's own objects.
P = TypeVar("P", bound=Mapping[str, Any])

START_ORDINAL_GATE_DEFAULT = True

_INT64_MAX = 2**63 - 1  # Go strconv.Atoi bound for reserveOrdinals range ends
_INT32_MAX = 2**31 - 1  # Go strconv.ParseInt(_, 10, 32) bound for pod-name ordinals

# statefulPodRegex "(.*)-([0-9]+)$", used with FindStringSubmatch (unanchored start; greedy .*).
# ``\Z`` instead of ``$`` because Python's ``$`` also matches before a trailing newline.
_POD_NAME_RE = re.compile(r"(.*)-([0-9]+)\Z")


@dataclass(frozen=True)
class Reserved:
    """Lazy set of reserved ordinals (spec.reserveOrdinals: ints and inclusive ``"a-b"`` strings).

    ``valid`` is False when an item could not be parsed; the set is then empty, as Kruise's
    GetReserveOrdinalIntSet returns an empty set for the whole list on the first bad range (§1.4).
    """

    # Sorted, disjoint, non-adjacent inclusive intervals (normalised in __post_init__).
    intervals: tuple[tuple[int, int], ...] = ()
    valid: bool = True
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    # _cum[i] = number of ordinals in intervals[:i]
    _cum: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        merged: list[tuple[int, int]] = []
        for a, b in sorted(self.intervals):
            if a > b:
                continue
            if merged and a <= merged[-1][1] + 1:
                if b > merged[-1][1]:
                    merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        cum = [0]
        for a, b in merged:
            cum.append(cum[-1] + b - a + 1)
        object.__setattr__(self, "intervals", tuple(merged))
        object.__setattr__(self, "_starts", tuple(a for a, _ in merged))
        object.__setattr__(self, "_cum", tuple(cum))

    @classmethod
    def parse(cls, items: Iterable[Any] | None) -> Reserved:
        raw: list[tuple[int, int]] = []
        for item in items or ():
            if isinstance(item, bool):
                return cls(valid=False)
            if isinstance(item, int):
                raw.append((item, item))
                continue
            if not isinstance(item, str) or not item.isascii():
                return cls(valid=False)
            try:
                a, b = parse_range(item)
            except ValueError:
                return cls(valid=False)
            if b > _INT64_MAX:
                return cls(valid=False)
            raw.append((a, b))
        return cls(intervals=tuple(raw))

    def __contains__(self, ordinal: object) -> bool:
        if not isinstance(ordinal, int) or isinstance(ordinal, bool):
            return False
        i = bisect.bisect_right(self._starts, ordinal) - 1
        return i >= 0 and ordinal <= self.intervals[i][1]

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def __len__(self) -> int:
        return self._cum[-1]

    def count_below(self, n: int) -> int:
        """How many reserved ordinals are < n (negative ones included), without expanding ranges."""
        i = bisect.bisect_left(self._starts, n)  # intervals[:i] start below n
        if i == 0:
            return 0
        a, b = self.intervals[i - 1]
        return self._cum[i - 1] + min(b, n - 1) - a + 1

    def count_between(self, lo: int, hi: int) -> int:
        """How many reserved ordinals are in ``[lo, hi)``."""
        return max(0, self.count_below(hi) - self.count_below(lo)) if hi > lo else 0


def replica_range(replicas: int, start: int, reserved: Reserved) -> tuple[int, int]:
    """``(start, end)``: walking up from ``start`` and skipping reserved ordinals, ``end`` is one past
    the ``replicas``-th non-reserved ordinal (``end == start`` when replicas <= 0).

    Reserved intervals are jumped over, never iterated: cost is O(log n + intervals crossed).
    """
    pos = start
    need = replicas
    if need <= 0:
        return start, start
    i = max(0, bisect.bisect_right(reserved._starts, pos) - 1)
    for a, b in reserved.intervals[i:]:
        if b < pos:
            continue
        if a > pos:
            gap = a - pos
            if gap >= need:
                return start, pos + need
            need -= gap
        pos = b + 1
    return start, pos + need


def slots(replicas: int, start: int, reserved: Reserved) -> list[int]:
    """The non-reserved ordinals in the replica range, ascending (``replicas`` of them)."""
    out: list[int] = []
    if replicas <= 0:
        return out
    pos = start
    i = max(0, bisect.bisect_right(reserved._starts, pos) - 1)
    for a, b in reserved.intervals[i:]:
        if b < pos:
            continue
        if a > pos:
            take = min(a - pos, replicas - len(out))
            out.extend(range(pos, pos + take))
            if len(out) == replicas:
                return out
        pos = b + 1
    out.extend(range(pos, pos + replicas - len(out)))
    return out


def slot_index(ordinal: int, start: int, reserved: Reserved) -> int:
    """Position of ``ordinal`` among the non-reserved slots counted from ``start`` (0-based).

    This is what partition counts (spec §3.3, §9 P1): a pod at position k is kept at the current
    revision when k < partition. Only meaningful for a non-reserved ordinal >= start.
    """
    return (ordinal - start) - reserved.count_between(start, ordinal)


def parse_ordinal(pod_name: str) -> tuple[str, int] | None:
    """``(parent, ordinal)`` from a pod name ``<parent>-<ordinal>``, or None if it does not parse.

    Like Kruise's getParentNameAndOrdinal, an ordinal that does not fit an int32 does not parse.
    """
    m = _POD_NAME_RE.search(pod_name)
    if m is None:
        return None
    digits = m.group(2)
    if not digits.isascii():
        return None
    ordinal = int(digits)
    if ordinal > _INT32_MAX:
        return None
    return m.group(1), ordinal


def pod_name(set_name: str, ordinal: int) -> str:
    return f"{set_name}-{ordinal}"


def _name(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return name if isinstance(name, str) else ""


def split_pods(
    set_name: str,
    pods: Iterable[P],
    start: int,
    end: int,
    reserved: Reserved,
) -> tuple[dict[int, P], list[P]]:
    """``(replicas, condemned)`` as in updateStatefulSet.

    - replicas: ordinal -> pod, for pods of this set with ``start <= ord < end`` and ord not reserved;
    - condemned: the other pods of this set (ordinal out of range or reserved), highest ordinal first.

    Pods whose name does not parse, or whose parent name is not ``set_name``, are ignored.
    Two pods can share an ordinal only through a non-canonical name such as ``web-01``; the pod named
    exactly ``<set>-<ord>`` wins and the other is ignored (Kruise silently keeps whichever is listed
    last and ignores the other, so either way the loser is neither updated nor deleted).
    """
    replicas: dict[int, P] = {}
    condemned: list[tuple[int, P]] = []
    for pod in pods:
        name = _name(pod)
        parsed = parse_ordinal(name)
        if parsed is None or parsed[0] != set_name:
            continue
        ordinal = parsed[1]
        if start <= ordinal < end and ordinal not in reserved:
            have = replicas.get(ordinal)
            if have is None or (
                _name(have) != pod_name(set_name, ordinal) and name == pod_name(set_name, ordinal)
            ):
                replicas[ordinal] = pod
        else:
            condemned.append((ordinal, pod))
    condemned.sort(key=lambda t: -t[0])
    return replicas, [p for _, p in condemned]


def get_start_ordinal(sts: Mapping[str, Any], start_ordinal_gate: bool = START_ORDINAL_GATE_DEFAULT) -> int:
    """spec.ordinals.start when the StatefulSetStartOrdinal gate is on (see START_ORDINAL_GATE_DEFAULT),
    otherwise 0."""
    if not start_ordinal_gate:
        return 0
    spec = sts.get("spec")
    ordinals = spec.get("ordinals") if isinstance(spec, Mapping) else None
    if not isinstance(ordinals, Mapping):
        return 0
    value = ordinals.get("start")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return 0
