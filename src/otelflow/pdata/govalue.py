"""Go's number and pcommon value formatting, shared by every component that must match it byte for byte.

* ``strconv.FormatFloat`` with the shortest precision: ``format_float_f`` ('f'), ``format_float_g``
  ('g', which is also fmt's ``%v``), and fmt's ``%f`` (``format_float_f6``);
* encoding/json: floats (``format_float_json``, ES6 style) and strings (``json_string``);
* pcommon ``Value``: ``raw_json`` (encoding/json of ``AsRaw()``) and ``value_as_string`` (``AsString()``).

(OTLP/JSON's jsoniter float format is a different one: ``otelflow.pdata.otlpjson.go_float``.)
"""

from __future__ import annotations

import base64
import json
import math
from decimal import Decimal
from typing import Iterable

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = [
    "UnsupportedValueError",
    "format_float_f",
    "format_float_g",
    "format_float_f6",
    "format_float_json",
    "json_string",
    "raw_json",
    "map_json",
    "value_as_string",
]


class UnsupportedValueError(ValueError):
    """encoding/json's UnsupportedValueError: NaN and ±Inf cannot be written as JSON."""


# ---------------------------------------------------------------------------------------------
# Floats


def _digits(f: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of |f| (f finite, non-zero) and the exponent of the first digit."""
    _, digits, exp = Decimal(repr(abs(f))).normalize().as_tuple()
    text = "".join(map(str, digits))
    return text, len(text) + exp - 1


def _special(f: float) -> str | None:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return None


def _fixed(f: float) -> str:
    """strconv.FormatFloat(f, 'f', -1, 64) for a finite f."""
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if f == 0:
        return sign + "0"
    digits, exp = _digits(f)
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if exp + 1 >= len(digits):
        return sign + digits + "0" * (exp + 1 - len(digits))
    return f"{sign}{digits[:exp + 1]}.{digits[exp + 1:]}"


def _exponent(f: float, min_exp_digits: int) -> str:
    """strconv.FormatFloat(f, 'e', -1, 64) for a finite non-zero f, exponent padded to ``min_exp_digits``."""
    sign = "-" if f < 0 else ""
    digits, exp = _digits(f)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):0{min_exp_digits}d}"


def format_float_f(f: float) -> str:
    """strconv.FormatFloat(f, 'f', -1, 64): shortest digits, never an exponent."""
    special = _special(f)
    return special if special is not None else _fixed(f)


def format_float_g(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64), which is also fmt's ``%v``: exponent form below 1e-4 and from 1e6."""
    special = _special(f)
    if special is not None:
        return special
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    _, exp = _digits(f)
    if exp < -4 or exp >= 6:  # 'g' with the shortest precision switches at these exponents
        return _exponent(f, 2)
    return _fixed(f)


def format_float_f6(f: float) -> str:
    """fmt's ``%f`` of a float64 (six decimals); Go writes infinities with a sign."""
    special = _special(f)
    return special if special is not None else "%f" % f


def format_float_json(f: float) -> str:
    """encoding/json's float64 encoder (ES6 number to string); NaN and ±Inf raise UnsupportedValueError."""
    if math.isnan(f) or math.isinf(f):
        raise UnsupportedValueError("json: unsupported value")
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        return _exponent(f, 1)
    return _fixed(f)


# ---------------------------------------------------------------------------------------------
# JSON and pcommon values


def json_string(s: str) -> str:
    """encoding/json of a string without HTML escaping (\\b and \\f short forms, other controls as
    \\u00xx, U+2028/U+2029 escaped); Python's json.dumps agrees except for those last two."""
    return json.dumps(s, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def raw_json(v: AnyValue, *, empty_bytes_null: bool = False) -> str:
    """encoding/json of pcommon ``Value.AsRaw()``: map keys sorted, a repeated key keeps its last value,
    bytes as base64. NaN and ±Inf raise UnsupportedValueError. With ``empty_bytes_null`` empty bytes
    are written as ``null`` (a nil []byte) rather than ``""``."""
    kind = v.WhichOneof("value")
    if kind is None:
        return "null"
    if kind == "string_value":
        return json_string(v.string_value)
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "int_value":
        return str(v.int_value)
    if kind == "double_value":
        return format_float_json(v.double_value)
    if kind == "bytes_value":
        if empty_bytes_null and not v.bytes_value:
            return "null"
        return '"' + base64.b64encode(v.bytes_value).decode() + '"'
    if kind == "array_value":
        return "[" + ",".join(raw_json(item, empty_bytes_null=empty_bytes_null) for item in v.array_value.values) + "]"
    return map_json(v.kvlist_value.values, empty_bytes_null=empty_bytes_null)


def map_json(kvs: Iterable[KeyValue], *, empty_bytes_null: bool = False) -> str:
    """encoding/json of pcommon ``Map.AsRaw()`` (see ``raw_json``)."""
    latest: dict[str, AnyValue] = {}
    for kv in kvs:  # a Go map: the last of duplicate keys wins; keys are written sorted
        latest[kv.key] = kv.value
    return "{" + ",".join(
        f"{json_string(k)}:{raw_json(latest[k], empty_bytes_null=empty_bytes_null)}" for k in sorted(latest)
    ) + "}"


def _js_nonfinite(f: float) -> str:
    if math.isnan(f):
        return "NaN"
    return "Infinity" if f > 0 else "-Infinity"


def value_as_string(v: AnyValue, *, js_nonfinite: bool = False, empty_bytes_null: bool = False) -> str:
    """pcommon ``Value.AsString()``. A map or slice holding NaN/±Inf gives "" (encoding/json fails).

    A NaN/±Inf double gives "json: unsupported value: NaN" (pcommon's float64AsString); with
    ``js_nonfinite`` it gives "NaN", "Infinity" or "-Infinity" instead. ``empty_bytes_null`` is
    passed on to ``raw_json`` for maps and slices."""
    kind = v.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "int_value":
        return str(v.int_value)
    if kind == "double_value":
        d = v.double_value
        if math.isnan(d) or math.isinf(d):
            return _js_nonfinite(d) if js_nonfinite else "json: unsupported value: " + format_float_g(d)
        return format_float_json(d)
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    try:
        if kind == "array_value":
            return "[" + ",".join(raw_json(item, empty_bytes_null=empty_bytes_null) for item in v.array_value.values) + "]"
        return map_json(v.kvlist_value.values, empty_bytes_null=empty_bytes_null)
    except UnsupportedValueError:  # NaN/±Inf somewhere inside: encoding/json fails, AsString gives ""
        return ""


def underscores_ok(text: str) -> bool:
    """strconv's rule for numbers: an underscore only between digits, or between a base prefix and a digit."""
    if "_" not in text:
        return True
    body = text[1:] if text[:1] in ("+", "-") else text
    saw = "^"
    i = 0
    hex_ = False
    if len(body) >= 2 and body[0] == "0" and body[1].lower() in "box":
        i, saw, hex_ = 2, "0", body[1].lower() == "x"
    for ch in body[i:]:
        if ch in "0123456789" or (hex_ and ch in "abcdefABCDEF"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
    return saw != "_"
