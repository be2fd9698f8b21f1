"""Hypothesis strategies for invalid objects, derived from the pydantic API models.

Every spec field of a kind's model (walked recursively, nested models and lists of models
included) is a place to break: a value of the wrong JSON type for the field's annotation, or, for
fields with a rule (enums, non-negative counts), a value of the right type that the rule forbids.
A drawn mutation is applied to a valid object of the kind and carries the field path the
rejection must name.
"""

from __future__ import annotations

import copy
import types
import typing
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from kruise_py.api.common import KubeModel

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Leaf:
    path: Path
    kind: str  # int | bool | str | intorstr | list | object


def _unwrap(ann: Any) -> Any:
    """``X | None`` -> X."""
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return ann


def _kind(ann: Any) -> str:
    if typing.get_origin(ann) is typing.Annotated:  # IntOrString
        return "intorstr"
    ann = _unwrap(ann)
    if typing.get_origin(ann) is typing.Annotated:
        return "intorstr"
    if ann is bool:
        return "bool"
    if ann is int:
        return "int"
    if ann is str:
        return "str"
    if typing.get_origin(ann) is list:
        return "list"
    return "object"


def leaves(model: type[BaseModel], prefix: Path = ()) -> list[Leaf]:
    """Every field of ``model`` (camelCase path), nested models first-item-deep."""
    out: list[Leaf] = []
    for name, f in model.model_fields.items():
        path = (*prefix, f.alias or name)
        ann = _unwrap(f.annotation)
        out.append(Leaf(path, _kind(ann)))
        if isinstance(ann, type) and issubclass(ann, KubeModel):
            out.extend(leaves(ann, path))
        elif typing.get_origin(ann) is list:
            (item,) = typing.get_args(ann)
            if isinstance(item, type) and issubclass(item, KubeModel):
                out.extend(leaves(item, (*path, 0)))
    return out


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)

# A value of a JSON type the field's schema does not allow.
WRONG_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "int": st.one_of(_word, st.booleans(), st.just(1.5), st.lists(st.integers(0, 9), min_size=1, max_size=2)),
    "bool": st.one_of(_word, st.integers(0, 9), st.lists(st.booleans(), min_size=1, max_size=2)),
    "str": st.one_of(st.integers(), st.booleans(), st.lists(_word, min_size=1, max_size=2)),
    "intorstr": st.one_of(
        st.booleans(),
        st.just(2.5),
        st.lists(st.integers(0, 9), min_size=1, max_size=2),
        st.dictionaries(_word, _word, min_size=1, max_size=1),
    ),
    "list": st.one_of(
        _word, st.integers(), st.booleans(), st.dictionaries(_word, _word, min_size=1, max_size=1)
    ),
    "object": st.one_of(_word, st.integers(), st.lists(st.integers(0, 9), min_size=1, max_size=2)),
}

# Right type, forbidden value: rules of the kinds (enums, bounds) the admission webhook enforces.
NEGATIVE = st.integers(-1000, -1)
RULES: dict[str, dict[Path, st.SearchStrategy[Any]]] = {
    "StatefulSet": {
        ("spec", "replicas"): NEGATIVE,
        ("spec", "podManagementPolicy"): _word,
        ("spec", "updateStrategy", "type"): _word,
        ("spec", "updateStrategy", "rollingUpdate", "podUpdatePolicy"): _word,
        ("spec", "updateStrategy", "rollingUpdate", "partition"): NEGATIVE,
        # Not "150%": OpenKruise admits a percentage above 100 (only >= 1 after rounding up is
        # required, statefulset_validation.go validateMaxUnavailableField), and so do we.
        ("spec", "updateStrategy", "rollingUpdate", "maxUnavailable"): st.one_of(
            st.integers(-100, 0), st.sampled_from(["0%", "-5%", "abc%", "ten"])
        ),
        ("spec", "updateStrategy", "rollingUpdate", "minReadySeconds"): st.one_of(
            NEGATIVE, st.integers(301, 10000)
        ),
        ("spec", "revisionHistoryLimit"): NEGATIVE,
    },
    "BroadcastJob": {
        ("spec", "parallelism"): st.one_of(NEGATIVE, st.sampled_from(["abc%", "-5%", "ten"])),
        ("spec", "completionPolicy", "type"): _word,
        ("spec", "completionPolicy", "activeDeadlineSeconds"): NEGATIVE,
        ("spec", "completionPolicy", "ttlSecondsAfterFinished"): NEGATIVE,
        ("spec", "failurePolicy", "type"): _word,
        ("spec", "failurePolicy", "restartLimit"): NEGATIVE,
    },
    "SidecarSet": {
        ("spec", "containers", 0, "podInjectPolicy"): _word,
        ("spec", "containers", 0, "shareVolumePolicy", "type"): _word,
        ("spec", "updateStrategy", "type"): _word,
        ("spec", "updateStrategy", "maxUnavailable"): st.one_of(
            st.integers(-100, -1), st.sampled_from(["abc%", "-5%", "ten"])
        ),
        ("spec", "updateStrategy", "partition"): st.one_of(NEGATIVE, st.sampled_from(["abc%", "-5%"])),
        ("spec", "revisionHistoryLimit"): NEGATIVE,
        ("spec", "containers", 0, "name"): st.sampled_from(["", "Bad_Name", "-x"]),
        ("spec", "containers", 0, "image"): st.just(""),
    },
}


def _dotted(path: Path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


@dataclass(frozen=True)
class Mutation:
    path: Path
    value: Any
    how: str  # "type" or "rule"

    @property
    def field(self) -> str:
        """The path as the apiserver and our webhooks print it: spec.containers[0].image."""
        return _dotted(self.path)

    def named_by(self, message: str) -> bool:
        """Does ``message`` name the field? Its path, or its parent's below spec (OpenKruise says
        ``spec.updateStrategy: must be 'RollingUpdate' or 'OnDelete'`` for a bad type)."""
        parent = self.path[:-1]
        return self.field in message or (len(parent) >= 2 and f"{_dotted(parent)}:" in message)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        cur: Any = obj
        for i, p in enumerate(self.path[:-1]):
            nxt = self.path[i + 1]
            if isinstance(p, int):
                cur = cur[p]
                continue
            if not isinstance(cur.get(p), dict | list):
                cur[p] = [{}] if isinstance(nxt, int) else {}
            cur = cur[p]
        cur[self.path[-1]] = self.value
        return obj


def mutations(kind: str, model: type[BaseModel]) -> st.SearchStrategy[Mutation]:
    """A wrong-type value for any spec field, or a rule-breaking value for a field with a rule."""
    spec_model = _unwrap(model.model_fields["spec"].annotation)
    fields = [
        leaf
        for leaf in leaves(spec_model, ("spec",))
        if leaf.path[-1] not in ("template", "volumes", "imagePullSecrets", "volumeClaimTemplates")
    ]
    typed = st.sampled_from(fields).flatmap(
        lambda leaf: WRONG_TYPE[leaf.kind].map(lambda v: Mutation(leaf.path, v, "type"))
    )
    rules = st.sampled_from(sorted(RULES[kind].items(), key=str)).flatmap(
        lambda kv: kv[1].map(lambda v: Mutation(kv[0], v, "rule"))
    )
    return st.one_of(typed, rules)
