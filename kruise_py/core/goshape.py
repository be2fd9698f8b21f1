"""Go shape: the JSON that Go's typed round trip writes for a value, as Python data (pure).

OpenKruise builds revision data and hashes from *typed* Go objects: the JSON it reads is decoded into
k8s.io/api structs and encoded again with encoding/json. That round trip changes the JSON: fields
absent from the input but without ``omitempty`` appear with their zero value
(``"metadata":{"creationTimestamp":null}``, ``"resources":{}`` on every container), ``omitempty``
zero values vanish (``hostNetwork: false``), unknown fields vanish, a JSON ``null`` in a non-pointer
field becomes the zero value, quantities are canonicalized (``cpu: 0.5`` -> ``"500m"``,
``1024Mi`` -> ``"1Gi"``), times are re-encoded in UTC. :func:`go_shape` reproduces it from a field
table generated from the Go types by reflection (``gotypes.json``, ``make gotypes``), so kruise-py can
write and compare bytes exactly as OpenKruise 1.9 does.

- ``go_shape(value, "PodTemplateSpec")`` = ``json.Marshal(json.Unmarshal(value) into the typed struct)``:
  struct fields in declaration order, map keys sorted; serialize with ``go_json_marshal`` (or
  ``core.revisions.go_json``, which sorts every key, as a ``map[string]interface{}`` is written).
- ``via_map(value)`` = what ``json.Unmarshal`` into ``map[string]interface{}`` and ``json.Marshal``
  do on top: every number becomes a float64 (integers beyond 2**53 lose precision).

The table holds k8s.io/api v0.32.10 (OpenKruise 1.9's) field definitions plus the fields only
v0.36.2 (our apiserver's) has: those are dropped while unused (zero or empty), so a template that
does not use them gets OpenKruise's bytes, and kept when set (kruise-py creates pods from revision
templates). A value of the wrong JSON type (Go's decoder would fail on the whole object) is kept as
it is rather than raising: admission and the CRD schema reject such objects before they get here.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "GoType",
    "canonical_quantity",
    "go_float_text",
    "go_shape",
    "go_type",
    "table_versions",
    "via_map",
]

TABLE_FILE = "gotypes.json"


# --------------------------------------------------------------------------------------------------
# The field table


@dataclass(frozen=True, slots=True)
class GoType:
    """A parsed type expression: ``kind`` is one of string, bool, int, uint, float, bytes, any,
    Quantity, IntOrString, Time, RawJSON, ptr, slice, map, struct; ``elem`` for ptr/slice/map,
    ``name`` for struct."""

    kind: str
    elem: GoType | None = None
    name: str = ""

    def element(self) -> GoType:
        """``elem`` of a ptr, slice or map (the parser always sets it for those kinds)."""
        if self.elem is None:
            raise ValueError(f"{self.kind} type without an element type")
        return self.elem


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    type: GoType
    omitempty: bool
    omitzero: bool
    # Only the newer k8s.io/api has it: written only when used (see the module docstring).
    new: bool
    # Written when the input lacks the field (no omitempty, or a struct, which omitempty never drops).
    written_when_absent: bool


_BASIC = {"string", "bool", "int", "uint", "float", "bytes", "any"}
_SPECIAL = {"@Quantity": "Quantity", "@IntOrString": "IntOrString", "@Time": "Time", "@RawJSON": "RawJSON"}
_NEVER_EMPTY = {"struct", "Quantity", "IntOrString", "Time", "RawJSON"}


@cache
def _raw_table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(TABLE_FILE).read_text(encoding="utf-8")
    table = json.loads(text)
    assert isinstance(table, dict)
    return table


def table_versions() -> dict[str, str]:
    """The k8s.io/api versions the table describes (``openkruise``, ``apiserver``)."""
    return dict(_raw_table()["versions"])


@cache
def _short_names() -> dict[str, str]:
    """Unqualified type name -> qualified, for the names that are unique."""
    seen: dict[str, list[str]] = {}
    for qualified in _raw_table()["types"]:
        seen.setdefault(qualified.rsplit(".", 1)[-1], []).append(qualified)
    return {short: names[0] for short, names in seen.items() if len(names) == 1}


def _qualify(name: str) -> str:
    types = _raw_table()["types"]
    if name in types:
        return name
    qualified = _short_names().get(name)
    if qualified is None:
        raise KeyError(f"unknown Go type {name!r}")
    return qualified


@cache
def go_type(expr: str) -> GoType:
    """Parse a type expression (``PodTemplateSpec``, ``[]core/v1.Volume``, ``*Probe``, ...)."""
    if expr.startswith("*"):
        return GoType("ptr", go_type(expr[1:]))
    if expr.startswith("[]"):
        return GoType("slice", go_type(expr[2:]))
    if expr.startswith("map[]"):
        return GoType("map", go_type(expr[5:]))
    if expr in _BASIC:
        return GoType(expr)
    if expr in _SPECIAL:
        return GoType(_SPECIAL[expr])
    if expr.startswith("@"):
        raise KeyError(f"Go type {expr!r} has its own JSON encoding that goshape does not implement")
    return GoType("struct", name=_qualify(expr))


@cache
def _fields(name: str) -> tuple[_Field, ...]:
    out = []
    for entry in _raw_table()["types"][name]:
        fname, texpr, opts = entry[0], entry[1], entry[2]
        options = set(opts.split(",")) if opts else set()
        t = go_type(texpr)
        omitempty = "omitempty" in options
        out.append(
            _Field(
                name=fname,
                type=t,
                omitempty=omitempty,
                omitzero="omitzero" in options,
                new=len(entry) > 3,
                written_when_absent=(not omitempty or t.kind in _NEVER_EMPTY) and "omitzero" not in options,
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# Encoding


def go_shape(value: Any, type_name: str | GoType) -> Any:
    """``json.Marshal`` of ``value`` decoded into the Go type (``PodTemplateSpec``, ``Container``,
    ``[]Volume``, ``kruise/v1beta1.SidecarContainer``, ...), as Python data."""
    t = type_name if isinstance(type_name, GoType) else go_type(type_name)
    return _encode(t, value)


def _encode(t: GoType, v: Any) -> Any:
    """Decode ``v`` (None: JSON null or absent, the same to Go) into ``t`` and encode it."""
    k = t.kind
    if k == "struct":
        if v is None:
            v = {}
        return _encode_struct(t.name, v) if isinstance(v, Mapping) else v
    if k == "string":
        if v is None:
            return ""
        return _go_string(v) if isinstance(v, str) else v
    if k == "ptr":
        return None if v is None else _encode(t.element(), v)
    if k == "slice":
        if v is None:
            return None
        return [_encode(t.element(), x) for x in v] if isinstance(v, list) else v
    if k == "map":
        if v is None:
            return None
        if not isinstance(v, Mapping):
            return v
        elem = t.element()
        return {_go_string(str(key)): _encode(elem, v[key]) for key in sorted(v)}
    if k == "bool":
        return False if v is None else v
    if k in ("int", "uint"):
        if v is None:
            return 0
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v
    if k == "float":
        return 0 if v is None else v
    if k == "Quantity":
        return _encode_quantity(v)
    if k == "IntOrString":
        if v is None:
            return 0
        if isinstance(v, str):
            return _go_string(v)
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v
    if k == "Time":
        return _encode_time(v)
    if k == "bytes":
        return _encode_bytes(v)
    return _plain(v)  # any, RawJSON: the JSON as it is


def _encode_struct(name: str, v: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in _fields(name):
        fv = v.get(f.name)
        if fv is None:
            if f.written_when_absent and not f.new:
                out[f.name] = _encode(f.type, None)
            continue
        enc = _encode(f.type, fv)
        if f.omitempty and _is_empty(f.type, fv, enc):
            continue
        if (f.omitzero or f.new) and _is_zero(f.type, fv):
            continue
        if f.new and _is_empty(f.type, fv, enc):
            continue
        out[f.name] = enc
    return out


def _is_empty(t: GoType, v: Any, enc: Any) -> bool:
    """encoding/json's omitempty test: false, 0, "", nil pointer or interface, empty slice or map.
    Structs (Quantity, Time and IntOrString too) are never empty."""
    k = t.kind
    if k in _NEVER_EMPTY:
        return False
    if k in ("ptr", "any"):
        return v is None
    if k in ("slice", "map", "bytes"):
        return v is None or (isinstance(v, list | Mapping | str) and len(v) == 0)
    if k == "bool":
        return enc is False
    if k == "string":
        return isinstance(enc, str) and not enc
    return not isinstance(enc, bool) and isinstance(enc, int | float) and enc == 0


def _is_zero(t: GoType, v: Any) -> bool:
    """Is the decoded value Go's zero value of ``t`` (``omitzero``, and unused newer fields)?"""
    if v is None:
        return True
    k = t.kind
    if k == "struct":
        if not isinstance(v, Mapping):
            return False
        return all(_is_zero(f.type, v.get(f.name)) for f in _fields(t.name))
    if k == "string":
        return isinstance(v, str) and v == ""
    if k == "bool":
        return v is False
    if k in ("int", "uint", "float", "IntOrString"):
        return not isinstance(v, bool) and isinstance(v, int | float) and v == 0
    if k == "Quantity":
        return bool(_encode_quantity(v) == "0")
    if k == "Time":
        return _encode_time(v) is None
    return False  # pointers, slices, maps, bytes, any: only nil is zero


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {_go_string(str(k)): _plain(v[k]) for k in v}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, str):
        return _go_string(v)
    return v


_SURROGATE = re.compile("[\ud800-\udfff]")


def _go_string(s: str) -> str:
    """Go strings hold UTF-8: a lone surrogate (from a JSON ``\\ud800`` escape) decodes to U+FFFD."""
    return _SURROGATE.sub("\ufffd", s) if _SURROGATE.search(s) else s


def _encode_bytes(v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, str):
        return v
    try:
        raw = base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return v
    return base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------------------------------
# metav1.Time: RFC 3339 in, UTC seconds out, the zero time as null

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _encode_time(v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, str):
        return v
    m = _RFC3339.match(v)
    if not m:
        return v
    year, month, day, hour, minute, second = (int(x) for x in m.groups()[:6])
    zone = m.group(8)
    try:
        if zone == "Z":
            tz: timezone = UTC
        else:
            sign = 1 if zone[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        t = datetime(year, month, day, hour, minute, second, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):
        return v
    if t == _ZERO_TIME:
        return None  # Time.MarshalJSON: the zero time is null (the fraction is dropped anyway)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------------
# Numbers


def go_float_text(f: float) -> str:
    """encoding/json's text for a float64: shortest round-trip digits, plain notation for
    1e-6 <= |f| < 1e21, else exponent notation (``1e+21``, ``1e-7``)."""
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    d = Decimal(repr(f))
    a = abs(f)
    if 1e-6 <= a < 1e21:
        text = format(d.normalize(), "f")
        return text
    sign, digits, exponent = d.normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(str(x) for x in digits)
    exp10 = exponent + len(mantissa) - 1
    body = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    exp_text = f"{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exp_text.startswith("-0"):
        exp_text = "-" + exp_text[2:]  # Go writes e-7, not e-07
    return f"{'-' if sign else ''}{body}e{exp_text}"


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _number_text(v: int | float) -> str:
    """The JSON text Go receives for a number the apiserver stored (integers that fit int64 kept,
    other numbers as float64)."""
    if isinstance(v, int) and _INT64_MIN <= v <= _INT64_MAX:
        return str(v)
    return go_float_text(float(v))


def via_map(value: Any) -> Any:
    """``json.Unmarshal`` into ``map[string]interface{}``, then ``json.Marshal``: every number goes
    through a float64. Key order is left to the serializer (``go_json`` sorts, as Go does for maps)."""
    if isinstance(value, Mapping):
        return {k: via_map(x) for k, x in value.items()}
    if isinstance(value, list):
        return [via_map(x) for x in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) and -(2**53) <= value <= 2**53:
        return value
    text = go_float_text(float(value))
    if "e" in text or "." in text:
        return float(text)
    return int(text)


# --------------------------------------------------------------------------------------------------
# resource.Quantity (k8s.io/apimachinery/pkg/api/resource): ParseQuantity, then MarshalJSON


# Go's strings.TrimSpace: unicode.IsSpace (Python's str.strip would also strip U+001C..U+001F).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DEC_SUFFIX = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BIN_SUFFIX = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_SUFFIX_OF = {e: s for s, e in _DEC_SUFFIX.items()}
_BIN_SUFFIX_OF = {e // 10: s for s, e in _BIN_SUFFIX.items()}
_INT32 = 2**32


def _split_quantity(s: str) -> tuple[bool, str, str, str, str] | None:
    """parseQuantityString: (positive, value, num, denom, suffix), None when malformed."""
    positive, pos, end = True, 0, len(s)
    if pos < end and s[0] in "+-":
        positive = s[0] == "+"
        pos += 1
    while True:  # leading zeros
        if pos >= end:
            return positive, "0", "0", "", ""
        if s[pos] != "0":
            break
        pos += 1
    i = pos
    while i < end and _is_digit(s[i]):
        i += 1
    num = s[pos:i]
    if i >= end:
        return positive, s, num, "", ""
    pos = i
    num = num or "0"
    denom = ""
    if s[pos] == ".":
        pos += 1
        i = pos
        while i < end and _is_digit(s[i]):
            i += 1
        denom = s[pos:i]
        if i >= end:
            return positive, s, num, denom, ""
        pos = i
    value = s[:pos]
    suffix_start = i = pos
    while i < end and s[i] in _SUFFIX_CHARS:
        i += 1
    if i >= end:
        return positive, value, num, denom, s[suffix_start:]
    pos = i + 1 if s[i] in "+-" else i
    i = pos
    while i < end and _is_digit(s[i]):
        i += 1
    if i >= end:
        return positive, value, num, denom, s[suffix_start:]
    return None


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    n = int(text)
    return n if _INT64_MIN <= n <= _INT64_MAX else None


def _interpret_suffix(suffix: str) -> tuple[int, int, str] | None:
    """(base, exponent, format) of a suffix, None when unknown."""
    if suffix in _DEC_SUFFIX:
        return 10, _DEC_SUFFIX[suffix], "DecimalSI"
    if suffix in _BIN_SUFFIX:
        return 2, _BIN_SUFFIX[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE":
        parsed = _go_int(suffix[1:])
        if parsed is None:
            return None
        return 10, (parsed + _INT32 // 2) % _INT32 - _INT32 // 2, "DecimalExponent"  # int32(parsed)
    return None


def _go_mod(a: int, b: int) -> int:
    """Go's % (truncated: the result has the sign of a)."""
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def _parse_quantity(s: str) -> tuple[int, int, str, str | None] | None:
    """ParseQuantity: (m, e, format, kept) for the value m * 10**e, with ``kept`` the input string
    when Go keeps it verbatim (it is already canonical), else None; None when Go rejects it."""
    if not s:
        return None
    if s == "0":
        return 0, 0, "DecimalSI", s
    split = _split_quantity(s)
    if split is None:
        return None
    positive, value, num, denom, suf = split
    interpreted = _interpret_suffix(suf)
    if interpreted is None:
        return None
    base, exponent, fmt = interpreted

    # The int64 fast path: exact, and the input string is kept when it looks canonical already.
    mantissa = 1
    if fmt == "BinarySI":
        scale = 0
        if exponent >= 0 and not denom:
            mantissa = 1 << exponent
            precision = 15 - len(num) - (exponent * 3 // 10) - 1
        else:
            precision = -1
    else:
        scale = exponent
        precision = 18 - (len(num) + len(denom))
    if precision >= 0:
        scale -= len(denom)
        if scale >= -9:
            shifted = num + denom
            parsed = _go_int(shifted)
            if parsed is None:
                return None
            result = parsed * mantissa
            if _INT64_MIN <= result <= _INT64_MAX:
                keep = (
                    exponent % 10 == 0 and parsed & 7 != 0
                    if fmt == "BinarySI"
                    else _go_mod(scale, 3) == 0 and not shifted.endswith("000") and shifted[0] != "0"
                )
                return (result if positive else -result), scale, fmt, s if keep else None

    # The inf.Dec path: any precision, then rounded up (away from zero) to nano.
    m = re.fullmatch(r"([+-]?)([0-9]*)(?:\.([0-9]*))?", value)
    if m is None or not (m.group(2) or m.group(3)):
        return None
    frac = m.group(3) or ""
    amount, e = int((m.group(2) or "") + frac), -len(frac)
    if base == 10:
        e += exponent
    else:
        amount <<= exponent
    if amount and e < -9:
        shift = -9 - e
        amount = 1 if shift > len(str(amount)) else -(-amount // 10**shift)
        e = -9
    if fmt == "BinarySI":  # here -9 <= e <= 0
        if amount * 10 ** (e + 9) > _INT64_MAX * 10**9:
            amount, e = _INT64_MAX, 0  # BinarySI is capped at max int64
        if 0 < amount < 10**-e:
            fmt = "DecimalSI"
    return (-amount if m.group(1) == "-" else amount), e, fmt, None


def _strip_factors(n: int, factor: int) -> tuple[int, int]:
    times = 0
    while n and n % factor == 0:
        n //= factor
        times += 1
    return n, times


def _canonical(m: int, e: int, fmt: str) -> str:
    """Quantity.CanonicalizeBytes of the value m * 10**e."""
    if m == 0:
        return "0"
    sign, m = ("-" if m < 0 else ""), abs(m)
    if fmt == "BinarySI":
        whole = m * 10**e if e >= 0 else (m // 10**-e if m % 10**-e == 0 else None)
        if whole is None or whole < 1024:
            fmt = "DecimalSI"  # not an integer, or below 1024: written in decimal
        else:
            whole, times = _strip_factors(whole, 1024)
            return f"{sign}{whole}{_BIN_SUFFIX_OF.get(times, '')}"
    m, times = _strip_factors(m, 10)
    e += times
    down = e - 3 * math.floor(e / 3)
    m *= 10**down
    e -= down
    if fmt == "DecimalSI":
        suffix = _DEC_SUFFIX_OF.get(e, "")  # beyond E (or below n) Go writes no suffix at all
    else:
        suffix = f"e{e}" if e else ""
    return f"{sign}{m}{suffix}"


def canonical_quantity(v: Any) -> str | None:
    """The string a resource.Quantity decoded from ``v`` (a JSON string or number) encodes to, or
    None when Go rejects it (``"1.5.5"``, ``"1KiB"``)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        v = _number_text(v)
    if not isinstance(v, str):
        return None
    parsed = _parse_quantity(v.strip(_GO_SPACE))
    if parsed is None:
        return None
    m, e, fmt, kept = parsed
    return kept if kept is not None else _canonical(m, e, fmt)


def _encode_quantity(v: Any) -> Any:
    if v is None:
        return "0"  # null decodes to the zero quantity
    out = canonical_quantity(v)
    return v if out is None else out
