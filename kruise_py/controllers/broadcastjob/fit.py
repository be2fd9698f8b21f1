"""BroadcastJob: does a pod fit a node? Pure port of OpenKruise's ``checkNodeFitness`` (spec §4.4).

The checks run in the scheduler's order and the first failure gives the reason:

1. ``spec.nodeName``, if set, names this node (``nodename.Fits``);
2. ``spec.nodeSelector`` and the required node affinity match (terms ORed, expressions ANDed;
   ``matchExpressions`` on node labels, ``matchFields`` on ``metadata.name``);
3. no untolerated taint with effect ``NoSchedule`` or ``NoExecute`` (``PreferNoSchedule`` is ignored);
4. an unschedulable node needs a toleration of ``node.kubernetes.io/unschedulable:NoSchedule``;
5. the pod's effective requests fit the node's ``status.allocatable``, including one pod slot.
   As in OpenKruise, this is against an *empty* node: other pods' usage is not considered (P11).

Also here: the mock pod used to decide whether a node is wanted, the node a pod is bound to, and
the node-event filters of spec §4.7. No I/O.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ...core.inplace import parse_quantity
from ...core.obj import as_list as _l
from ...core.obj import as_map as _m

Obj = dict[str, Any]

OBJECT_NAME_FIELD = "metadata.name"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
EFFECT_NO_SCHEDULE = "NoSchedule"
EFFECT_NO_EXECUTE = "NoExecute"

# The scheduler's failure reasons (nodename.ErrReason, nodeaffinity.ErrReasonPod, ...).
REASON_NODE_NAME = "node(s) didn't match the requested node name"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_TOO_MANY_PODS = "Too many pods"

_NATIVE = ("cpu", "memory", "ephemeral-storage")


# -- small helpers ------------------------------------------------------------------------------
def _node_name(node: Mapping[str, Any]) -> str:
    return str(_m(node.get("metadata")).get("name") or "")


def _node_labels(node: Mapping[str, Any]) -> Mapping[str, Any]:
    return _m(_m(node.get("metadata")).get("labels"))


# -- node selector and affinity (component-helpers nodeaffinity) ----------------------------------
def _label_requirement_matches(req: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """One ``matchExpressions`` entry. A malformed requirement matches nothing (as a parse error)."""
    key = req.get("key")
    op = req.get("operator")
    values = [str(v) for v in _l(req.get("values"))]
    if not isinstance(key, str) or not key:
        return False
    present = key in labels
    value = str(labels[key]) if present else ""
    if op == "In":
        return bool(values) and present and value in values
    if op == "NotIn":
        return bool(values) and (not present or value not in values)
    if op == "Exists":
        return not values and present
    if op == "DoesNotExist":
        return not values and not present
    if op in ("Gt", "Lt"):
        if len(values) != 1:
            return False
        try:
            bound = int(values[0])
        except ValueError:
            return False
        if not present:
            return False
        try:
            have = int(value)
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def _field_requirement_matches(req: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """One ``matchFields`` entry: only ``metadata.name`` with In/NotIn and exactly one value."""
    values = _l(req.get("values"))
    if req.get("key") != OBJECT_NAME_FIELD or len(values) != 1:
        return False
    name = _node_name(node)
    if req.get("operator") == "In":
        return name == str(values[0])
    if req.get("operator") == "NotIn":
        return name != str(values[0])
    return False


def node_selector_term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """A NodeSelectorTerm: all its expressions and fields match. An empty term matches nothing."""
    exprs = _l(term.get("matchExpressions"))
    fields = _l(term.get("matchFields"))
    if not exprs and not fields:
        return False
    labels = _node_labels(node)
    return all(_label_requirement_matches(_m(e), labels) for e in exprs) and all(
        _field_requirement_matches(_m(f), node) for f in fields
    )


def node_selector_terms_match(terms: Any, node: Mapping[str, Any]) -> bool:
    """Terms are ORed; an empty list matches nothing."""
    return any(node_selector_term_matches(_m(t), node) for t in _l(terms))


def matches_node_selector_and_affinity(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """``spec.nodeSelector`` AND the required node affinity (``PodMatchesNodeSelectorAndAffinityTerms``)."""
    labels = _node_labels(node)
    for k, v in _m(pod_spec.get("nodeSelector")).items():
        if k not in labels or str(labels[k]) != str(v):
            return False
    node_affinity = _m(pod_spec.get("affinity")).get("nodeAffinity")
    required = _m(node_affinity).get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return True
    return node_selector_terms_match(_m(required).get("nodeSelectorTerms"), node)


# -- taints and tolerations (k8s core/v1 Toleration.ToleratesTaint) ------------------------------
def tolerates_taint(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """An empty toleration effect matches every effect; an empty key (with Exists) matches every key;
    operator Exists ignores the value, Equal (or empty) needs the same value."""
    effect = toleration.get("effect") or ""
    if effect and effect != (taint.get("effect") or ""):
        return False
    key = toleration.get("key") or ""
    if key and key != (taint.get("key") or ""):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerations_tolerate_taint(tolerations: Any, taint: Mapping[str, Any]) -> bool:
    return any(tolerates_taint(_m(t), taint) for t in _l(tolerations))


def find_untolerated_taint(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first NoSchedule/NoExecute taint of the node that the pod does not tolerate."""
    tolerations = pod_spec.get("tolerations")
    for taint in _l(_m(node.get("spec")).get("taints")):
        t = _m(taint)
        if t.get("effect") not in (EFFECT_NO_SCHEDULE, EFFECT_NO_EXECUTE):
            continue
        if not tolerations_tolerate_taint(tolerations, t):
            return t
    return None


# -- resources (k8s resourcehelper.PodRequests, noderesources.Fits) -------------------------------
def _is_scalar_resource(name: str) -> bool:
    """schedutil.IsScalarResourceName: extended, hugepages, prefixed-native or attachable-volume."""
    if name.startswith(("hugepages-", "attachable-volumes-")):
        return True
    return "/" in name and not name.startswith("requests.")


def _container_requests(container: Mapping[str, Any]) -> dict[str, Fraction]:
    """A container's requests; a resource with only a limit requests its limit (pod defaulting)."""
    res = _m(container.get("resources"))
    raw = dict(_m(res.get("requests")))
    for k, v in _m(res.get("limits")).items():
        raw.setdefault(k, v)
    return {str(k): parse_quantity(v) for k, v in raw.items()}


def _add(into: dict[str, Fraction], other: Mapping[str, Fraction]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, Fraction(0)) + v


def _max(into: dict[str, Fraction], other: Mapping[str, Fraction]) -> None:
    for k, v in other.items():
        if v > into.get(k, Fraction(0)):
            into[k] = v


def pod_requests(pod_spec: Mapping[str, Any]) -> dict[str, Fraction]:
    """The effective requests of a pod: the sum over containers, raised to the largest init
    container (restartable "sidecar" init containers add to both, as in k8s), plus ``overhead``.
    Raises ValueError on an invalid quantity."""
    reqs: dict[str, Fraction] = {}
    for c in _l(pod_spec.get("containers")):
        _add(reqs, _container_requests(_m(c)))
    init_max: dict[str, Fraction] = {}
    sidecars: dict[str, Fraction] = {}
    for c in _l(pod_spec.get("initContainers")):
        cr = _container_requests(_m(c))
        if _m(c).get("restartPolicy") == "Always":
            _add(reqs, cr)
            _add(sidecars, cr)
            current = dict(sidecars)
        else:
            current = dict(cr)
            _add(current, sidecars)
        _max(init_max, current)
    _max(reqs, init_max)
    overhead = {str(k): parse_quantity(v) for k, v in _m(pod_spec.get("overhead")).items()}
    _add(reqs, overhead)
    return reqs


def _scaled(name: str, q: Fraction) -> int:
    # The scheduler compares MilliValue() for cpu and Value() otherwise, both rounded up.
    return math.ceil(q * 1000) if name == "cpu" else math.ceil(q)


def insufficient_resources(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> list[str]:
    """noderesources.Fits against an empty NodeInfo: the reasons, [] if the pod fits.
    Raises ValueError on an invalid quantity."""
    allocatable = {
        str(k): parse_quantity(v) for k, v in _m(_m(node.get("status")).get("allocatable")).items()
    }
    reasons: list[str] = []
    if _scaled("pods", allocatable.get("pods", Fraction(0))) < 1:
        reasons.append(REASON_TOO_MANY_PODS)
    requests = pod_requests(pod_spec)
    for name in _NATIVE:
        want = _scaled(name, requests.get(name, Fraction(0)))
        if want > 0 and want > _scaled(name, allocatable.get(name, Fraction(0))):
            reasons.append(f"Insufficient {name}")
    for name in sorted(requests):
        if not _is_scalar_resource(name):
            continue
        want = _scaled(name, requests[name])
        if want > 0 and want > _scaled(name, allocatable.get(name, Fraction(0))):
            reasons.append(f"Insufficient {name}")
    return reasons


# -- the fitness check -----------------------------------------------------------------------------
def node_fits(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> tuple[bool, str]:
    """``(fits, reason)``: spec §4.4 checks in order; ``reason`` is "" when the pod fits."""
    node_name = pod_spec.get("nodeName")
    if node_name and node_name != _node_name(node):
        return False, REASON_NODE_NAME
    if not matches_node_selector_and_affinity(pod_spec, node):
        return False, REASON_AFFINITY
    taint = find_untolerated_taint(pod_spec, node)
    if taint is not None:
        return (
            False,
            f"node(s) had taint {{{taint.get('key', '')}: {taint.get('value', '')}}}, that the pod didn't tolerate",
        )
    if _m(node.get("spec")).get("unschedulable") and not tolerations_tolerate_taint(
        pod_spec.get("tolerations"), {"key": TAINT_UNSCHEDULABLE, "effect": EFFECT_NO_SCHEDULE}
    ):
        return False, REASON_UNSCHEDULABLE
    try:
        reasons = insufficient_resources(pod_spec, node)
    except ValueError as e:
        return False, f"invalid resource quantity: {e}"
    if reasons:
        return False, ", ".join(reasons)
    return True, ""


def mock_pod_spec(job: Mapping[str, Any], node_name: str) -> Obj:
    """OpenKruise's NewMockPod: the template's spec with ``nodeName`` = the node."""
    template = _m(_m(job.get("spec")).get("template"))
    spec: Obj = copy.deepcopy(dict(_m(template.get("spec"))))
    spec["nodeName"] = node_name
    return spec


def mock_fits(job: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """Would the job want a pod on this node (node add: enqueue the job if so)?"""
    return node_fits(mock_pod_spec(job, _node_name(node)), node)[0]


def assigned_node(pod: Mapping[str, Any]) -> str | None:
    """``spec.nodeName`` if set, else the value of the first required-affinity
    ``matchFields metadata.name In [node]`` with exactly one value; None if neither."""
    spec = _m(pod.get("spec"))
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = _m(
        _m(_m(spec.get("affinity")).get("nodeAffinity")).get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    for term in _l(required.get("nodeSelectorTerms")):
        for req in _l(_m(term).get("matchFields")):
            r = _m(req)
            values = _l(r.get("values"))
            if r.get("key") == OBJECT_NAME_FIELD and r.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return None


# -- node events (spec §4.7) -----------------------------------------------------------------------
def fit_changed(job: Mapping[str, Any], old_node: Mapping[str, Any], new_node: Mapping[str, Any]) -> bool:
    """Node update: does the job's mock pod fit the old node and the new one differently?"""
    spec = mock_pod_spec(job, _node_name(old_node))
    return node_fits(spec, old_node)[0] != node_fits(spec, new_node)[0]


def pod_fit_changed(pod: Mapping[str, Any], old_node: Mapping[str, Any], new_node: Mapping[str, Any]) -> bool:
    """Node update: does a pod bound to the node fit it differently? Its real spec is what the job
    re-checks (P12), and it can stop fitting while the mock pod's fit stays the same (the template's
    affinity already excluded the node, then a taint arrives)."""
    spec = _m(pod.get("spec"))
    return node_fits(spec, old_node)[0] != node_fits(spec, new_node)[0]


def _true_conditions(node: Mapping[str, Any]) -> set[str]:
    return {
        str(_m(c).get("type"))
        for c in _l(_m(node.get("status")).get("conditions"))
        if _m(c).get("status") == "True"
    }


def _without_heartbeat(node: Mapping[str, Any]) -> Obj:
    out: Obj = copy.deepcopy(dict(node))
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta.pop("resourceVersion", None)
        # Every kubelet status write also moves a managedFields timestamp.
        meta.pop("managedFields", None)
    status = out.get("status")
    if isinstance(status, dict):
        status.pop("conditions", None)
    return out


def node_update_is_heartbeat(old_node: Mapping[str, Any], new_node: Mapping[str, Any]) -> bool:
    """OpenKruise ``shouldIgnoreNodeUpdate``: the set of True conditions is the same and, apart from
    resourceVersion, managedFields and the conditions, the node is unchanged."""
    if _true_conditions(old_node) != _true_conditions(new_node):
        return False
    return _without_heartbeat(old_node) == _without_heartbeat(new_node)
