"""UpdatePriorityStrategy sort (spec §1.2, §3.1, §9 P19) [kruise pkg/util/updatesort/priority_sort.go].

``strategy`` is the camelCase dict ``{weightPriority: [{weight, matchSelector}]}`` or
``{orderPriority: [{orderedKey}]}``. If both are given (validation forbids it) weightPriority wins,
as in Kruise's compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from kruise_py.api.common import label_selector_matches

# Any object shape (raw JSON or a typed view): the result holds the caller's own objects.
P = TypeVar("P", bound=Mapping[str, Any])

_INT64_MAX = 2**63 - 1


def _labels(pod: Mapping[str, Any]) -> Mapping[str, str]:
    meta = pod.get("metadata")
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}


def _terms(strategy: Mapping[str, Any] | None, key: str) -> list[Mapping[str, Any]]:
    if not isinstance(strategy, Mapping):
        return []
    terms = strategy.get(key)
    return [t for t in terms if isinstance(t, Mapping)] if isinstance(terms, list) else []


def int_suffix(value: str) -> int:
    """getIntFromStringSuffix: the trailing ASCII digits as an int (``"sts-10"`` -> 10), 0 if there
    are none or they overflow int64."""
    i = len(value)
    while i > 0 and "0" <= value[i - 1] <= "9":
        i -= 1
    digits = value[i:]
    if not digits:
        return 0
    n = int(digits)
    return n if n <= _INT64_MAX else 0


def weight_score(pod: Mapping[str, Any], weight_terms: Sequence[Mapping[str, Any]]) -> int:
    """Sum of the weights of the terms whose matchSelector matches the pod's labels.

    A malformed selector matches nothing (Kruise skips it). A nil matchSelector is Go's zero-value
    LabelSelector, i.e. empty, which matches everything.
    """
    labels = _labels(pod)
    score = 0
    for term in weight_terms:
        selector = term.get("matchSelector")
        if not isinstance(selector, Mapping):
            selector = {}
        if label_selector_matches(selector, labels):
            weight = term.get("weight")
            if isinstance(weight, int) and not isinstance(weight, bool):
                score += weight
    return score


def order_key(pod: Mapping[str, Any], order_terms: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """``(level, order)``: level is the index of the first orderedKey the pod has as a label and order
    that label's integer suffix. A pod with none of the keys gets ``(-1, 0)``."""
    labels = _labels(pod)
    for i, term in enumerate(order_terms):
        key = term.get("orderedKey")
        if isinstance(key, str) and key in labels:
            value = labels[key]
            return i, int_suffix(value if isinstance(value, str) else "")
    return -1, 0


def priority_sort(pods: Sequence[P], strategy: Mapping[str, Any] | None) -> list[P]:
    """Pods in update-priority order (a new list; stable, so ties keep the input order).

    - weightPriority: higher score first.
    - orderPriority: lower level first, then larger integer suffix first.

      P19 quirk, kept on purpose: a pod carrying none of the ordered keys gets level -1 and so sorts
      BEFORE every pod that has a key, although the API comment says the opposite. This is what
      Kruise does, and update order is observable.

    Kruise uses an unstable sort with "higher replica index first" as the tie-break; callers pass the
    pods from highest to lowest index (§3.1), so a stable sort gives the same order.
    """
    weights = _terms(strategy, "weightPriority")
    orders = _terms(strategy, "orderPriority")
    if weights:
        return sorted(pods, key=lambda p: -weight_score(p, weights))
    if orders:

        def key(p: Mapping[str, Any]) -> tuple[int, int]:
            level, order = order_key(p, orders)
            return level, -order

        return sorted(pods, key=key)
    return list(pods)
