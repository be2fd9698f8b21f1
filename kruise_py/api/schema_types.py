"""Type errors of an object against its CRD's structural schema, found before the apiserver does.

For a wrong type the apiserver answers twice: the schema's ``spec.replicas in body must be of type
integer: "string"`` and, for the scale subresource's paths, an internal ``.spec.replicas accessor
error: three is of the type string, expected int64``. Our mutating webhook runs before both, so it
answers once, with the value and the type the field takes (issue 14).

Only ``type`` (and ``x-kubernetes-int-or-string``) is checked: enums, formats, limits and every
other rule stay with the apiserver's schema validation and our validating webhook. Unknown fields
are not errors (the apiserver prunes them) and neither is null (it prunes non-nullable nulls).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import FieldError

# The JSON types a structural schema names, as Go's decoder sees them.
_NAMES = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "a boolean"}


def _is(value: Any, typ: str) -> bool:
    if typ == "object":
        return isinstance(value, Mapping)
    if typ == "array":
        return isinstance(value, list)
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if typ == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if typ == "number":
        return isinstance(value, int | float)
    return True  # a type this checker does not know: the apiserver's to judge


def _shown(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _wanted(schema: Mapping[str, Any]) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "an integer or a string (e.g. 25%)"
    typ = str(schema.get("type"))
    return _NAMES.get(typ, f"of type {typ}")


def type_errors(value: Any, schema: Mapping[str, Any], path: str = "") -> list[FieldError]:
    """Every field of ``value`` whose JSON type ``schema`` does not allow, with its path
    (``spec.template.spec.containers[0].ports[0].containerPort``). A mismatching field's children
    are not looked at: one message per wrong field."""
    if value is None:
        return []
    if schema.get("x-kubernetes-int-or-string"):
        ok = (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)
        return [] if ok else [FieldError(path, f"must be {_wanted(schema)}, got {_shown(value)}")]
    typ = schema.get("type")
    if typ is None:
        return []  # x-kubernetes-preserve-unknown-fields or an embedded resource without a type
    if not _is(value, str(typ)):
        kind = {"object": "an object", "array": "a list"}.get(str(typ)) or _wanted(schema)
        return [FieldError(path, f"must be {kind}, got {_shown(value)}")]
    out: list[FieldError] = []
    if typ == "object":
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            sub = props.get(key) if key in props else (extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                out += type_errors(child, sub, f"{path}.{key}" if path else str(key))
    elif typ == "array" and isinstance(schema.get("items"), Mapping):
        for i, child in enumerate(value):
            out += type_errors(child, schema["items"], f"{path}[{i}]")
    return out


def object_type_errors(obj: Mapping[str, Any], crd: Mapping[str, Any]) -> list[FieldError]:
    """Type errors of ``obj`` against the schema of its version in ``crd`` (none if that version or
    its schema is missing). ``metadata`` is the apiserver's own to validate."""
    version = str(obj.get("apiVersion") or "").rpartition("/")[2]
    served = next(
        (v for v in (crd.get("spec") or {}).get("versions") or [] if v.get("name") == version), None
    )
    schema = ((served or {}).get("schema") or {}).get("openAPIV3Schema")
    if not isinstance(schema, Mapping):
        return []
    props = schema.get("properties") or {}
    out: list[FieldError] = []
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata") and key in props:
            out += type_errors(value, props[key], key)
    return out
