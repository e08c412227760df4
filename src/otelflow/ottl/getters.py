"""Typed getters: what a function parameter of type StringGetter, IntLikeGetter, ... receives.

Each wrapper takes the raw getter ``get(ctx) -> any`` and returns one that gives the parameter's
type or raises upstream's error. As upstream does, a ``*_LIKE`` getter over a literal is converted
once at config load, so ``Int("abc")`` is refused there rather than on every item.
"""

from __future__ import annotations

import base64
import copy
import math
import struct
from typing import Any, Callable

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.ottl.errors import OttlConfigError, OttlError, OttlTypeError
from otelflow.ottl.functions import Kind
from otelflow.ottl.values import Duration, GoTime, PMap, PSlice, to_raw, type_name
from otelflow.pdata.govalue import UnsupportedValueError, format_float_json, json_string
from otelflow.processors.attraction import parse_go_int
from otelflow.processors.sampling.gocompat import parse_float

Getter = Callable[[Any], Any]


class Constant:
    """A getter whose value is known at config load (a literal); callable like any getter."""

    __slots__ = ("value",)
    is_literal = True  # functions compile such arguments once (regexes, globs, CIDRs)

    def __init__(self, value: Any):
        self.value = value

    def __call__(self, ctx: Any) -> Any:
        v = self.value
        # Lists and maps are rebuilt per call: a function may keep or change what it is given.
        if isinstance(v, (list, dict)):
            return copy.deepcopy(v)
        return v


# --------------------------------------------------------------------------------------------
# Go conversions the like-getters use


def _html_escaped(text: str) -> str:
    """json.Marshal escapes <, > and & (they only occur inside JSON strings)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_json(raw: Any) -> str:
    """json.Marshal of a Go value: map keys sorted, bytes as base64, HTML characters escaped."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return format_float_json(raw)
    if isinstance(raw, str):
        return _html_escaped(json_string(raw))
    if isinstance(raw, (bytes, bytearray)):
        return '"' + base64.b64encode(raw).decode() + '"'
    if isinstance(raw, (PMap, PSlice)):
        return go_json(to_raw(raw))
    if isinstance(raw, dict):
        return "{" + ",".join(f"{_html_escaped(json_string(str(k)))}:{go_json(raw[k])}" for k in sorted(raw)) + "}"
    if isinstance(raw, (list, tuple)):
        return "[" + ",".join(go_json(x) for x in raw) + "]"
    ident = getattr(raw, "raw", None)
    if isinstance(ident, bytes):  # pcommon.TraceID / SpanID: Go arrays, written as arrays of numbers
        return "[" + ",".join(str(b) for b in ident) + "]"
    raise OttlTypeError(f"unsupported type: {type_name(raw)}")


def parse_int64(text: str) -> int:
    v = parse_go_int(text)
    if v is None:
        stripped = text[1:] if text[:1] in "+-" else text
        reason = "value out of range" if stripped.isdigit() and stripped.isascii() else "invalid syntax"
        raise OttlError(f'strconv.ParseInt: parsing "{text}": {reason}')
    return v


def parse_float64(text: str) -> float:
    v = parse_float(text)
    if v is None:
        raise OttlError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    return v


_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
          "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def parse_bool(text: str) -> bool:
    try:
        return _BOOLS[text]
    except KeyError:
        raise OttlError(f'strconv.ParseBool: parsing "{text}": invalid syntax') from None


def wrap_int64(v: int) -> int:
    return (v + 2**63) % 2**64 - 2**63


def float_to_int64(f: float) -> int:
    """Go's int64(f): truncation; NaN and out-of-range give the amd64 result (min int64)."""
    if math.isnan(f) or math.isinf(f) or not (-2**63 <= f < 2**63):
        return -2**63
    return int(f)


def as_string_like(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    try:
        if isinstance(v, (PMap, PSlice)):
            return go_json(to_raw(v))
        if isinstance(v, (GoTime, Duration)):
            return _json_other(v)
        return go_json(to_raw(v))
    except UnsupportedValueError as e:
        raise OttlError(f"json: unsupported value: {e}") from None


def _json_other(v: Any) -> str:
    if isinstance(v, Duration):
        return str(v.ns)
    raise OttlTypeError(f"unsupported type: {type_name(v)}")


def as_float_like(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, float):
        return v
    if isinstance(v, int):
        return float(v)
    if isinstance(v, str):
        return parse_float64(v)
    raise OttlTypeError(f"unsupported type: {type_name(v)}")


def as_int_like(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return float_to_int64(v)
    if isinstance(v, str):
        return parse_int64(v)
    raise OttlTypeError(f"unsupported type: {type_name(v)}")


def as_bool_like(v: Any) -> bool | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v != 0
    if isinstance(v, float):
        return v != 0.0
    if isinstance(v, str):
        return parse_bool(v)
    raise OttlTypeError(f"unsupported type: {type_name(v)}")


def as_bytes_like(v: Any) -> bytes | None:
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, bool):
        return b"\x01" if v else b"\x00"
    if isinstance(v, int):
        return struct.pack(">q", v)
    if isinstance(v, float):
        return struct.pack(">d", v)
    raise OttlTypeError(f"unsupported type: {type_name(v)}")


# --------------------------------------------------------------------------------------------
# Strict getters


def _strict(check: Callable[[Any], bool], expected: str) -> Callable[[Getter], Getter]:
    def wrap(get: Getter) -> Getter:
        def typed(ctx):
            v = get(ctx)
            if check(v):
                return v
            if v is None:
                raise OttlTypeError(f"expected {expected} but got nil")
            raise OttlTypeError(f"expected {expected} but got {type_name(v)}")
        if isinstance(get, Constant):
            typed.is_literal = True
        return typed
    return wrap


def _like(convert: Callable[[Any], Any]) -> Callable[[Getter], Getter]:
    def wrap(get: Getter) -> Getter:
        if isinstance(get, Constant):
            try:
                return Constant(convert(get.value))
            except OttlError as e:
                raise OttlConfigError(str(e)) from None
        return lambda ctx: convert(get(ctx))
    return wrap


def _pmap_getter(get: Getter) -> Getter:
    def typed(ctx):
        v = get(ctx)
        if isinstance(v, PMap):
            return v
        if isinstance(v, dict):
            from otelflow.ottl.values import new_pmap
            return new_pmap(v)
        if isinstance(v, AnyValue) and v.WhichOneof("value") == "kvlist_value":
            return PMap(v.kvlist_value.values)
        if v is None:
            raise OttlTypeError("expected pcommon.Map but got nil")
        raise OttlTypeError(f"expected pcommon.Map but got {type_name(v)}")
    return typed


def _pslice_getter(get: Getter) -> Getter:
    def typed(ctx):
        v = get(ctx)
        if isinstance(v, PSlice):
            return v
        if isinstance(v, list):
            from otelflow.ottl.values import new_pslice
            return new_pslice(v)
        if v is None:
            raise OttlTypeError("expected pcommon.Slice but got nil")
        raise OttlTypeError(f"expected pcommon.Slice but got {type_name(v)}")
    return typed


def _is_int(v: Any) -> bool:
    return type(v) is int


TYPED_GETTERS: dict[Kind, Callable[[Getter], Getter]] = {
    Kind.GETTER: lambda g: g,
    Kind.STRING_GETTER: _strict(lambda v: isinstance(v, str), "string"),
    Kind.INT_GETTER: _strict(_is_int, "int64"),
    Kind.FLOAT_GETTER: _strict(lambda v: isinstance(v, float), "float64"),
    Kind.BOOL_GETTER: _strict(lambda v: isinstance(v, bool), "bool"),
    Kind.TIME_GETTER: _strict(lambda v: isinstance(v, GoTime), "time"),
    Kind.DURATION_GETTER: _strict(lambda v: isinstance(v, Duration), "duration"),
    Kind.PMAP_GETTER: _pmap_getter,
    Kind.PSLICE_GETTER: _pslice_getter,
    Kind.STRING_LIKE_GETTER: _like(as_string_like),
    Kind.INT_LIKE_GETTER: _like(as_int_like),
    Kind.FLOAT_LIKE_GETTER: _like(as_float_like),
    Kind.BOOL_LIKE_GETTER: _like(as_bool_like),
    Kind.BYTE_SLICE_LIKE_GETTER: _like(as_bytes_like),
}
