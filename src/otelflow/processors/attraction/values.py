"""AnyValue helpers with upstream's exact semantics, shared by the actions and the include/exclude
matching: ``value`` from YAML as pcommon's FromRaw, Go's %q, AsString, the value key of strict
matching, and the SHA-256 digest of ``hash``."""

from __future__ import annotations

import datetime as _dt
import hashlib
import struct
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.pdata.govalue import value_as_string


INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


def go_quote(text: str) -> str:
    """Go's %q of a string (strconv.Quote)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and ch != " ":
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_GO_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def value_from_raw(raw: Any, target: AnyValue | None = None) -> AnyValue:
    """A config value (as YAML gives it) as an AnyValue, the way pcommon.Value.FromRaw builds it."""
    out = AnyValue() if target is None else target
    if raw is None:
        out.Clear()
    elif isinstance(raw, bool):
        out.bool_value = raw
    elif isinstance(raw, int):
        if raw > INT64_MAX or raw < INT64_MIN:
            # YAML integers beyond int64 reach Go as uint64 (wrapped by FromRaw) or float64.
            if 0 <= raw < (1 << 64):
                out.int_value = raw - (1 << 64)
            else:
                out.double_value = float(raw)
        else:
            out.int_value = raw
    elif isinstance(raw, float):
        out.double_value = raw
    elif isinstance(raw, str):
        out.string_value = raw
    elif isinstance(raw, (bytes, bytearray)):
        out.bytes_value = bytes(raw)
    elif isinstance(raw, dict):
        kvlist = out.kvlist_value
        kvlist.SetInParent()
        for key, item in raw.items():
            kv = kvlist.values.add()
            kv.key = str(key)
            value_from_raw(item, kv.value)
    elif isinstance(raw, (list, tuple)):
        array = out.array_value
        array.SetInParent()
        for item in raw:
            value_from_raw(item, array.values.add())
    elif isinstance(raw, (_dt.date, _dt.datetime)):
        # upstream's config decoding turns a YAML timestamp into a time.Time, which FromRaw refuses
        raise ValueError("<Invalid value type time.Time>")
    else:
        raise ValueError(f"<Invalid value type {type(raw).__name__}>")
    return out


_TYPE_NAMES = {
    None: "Empty",
    "string_value": "Str",
    "bool_value": "Bool",
    "int_value": "Int",
    "double_value": "Double",
    "kvlist_value": "Map",
    "array_value": "Slice",
    "bytes_value": "Bytes",
}


def type_name(value: AnyValue) -> str:
    """pcommon.ValueType.String() of a value."""
    return _TYPE_NAMES[value.WhichOneof("value")]


def as_string(value: AnyValue) -> str:
    """pcommon.Value.AsString(), a NaN/±Inf double written as NaN, Infinity or -Infinity."""
    return value_as_string(value, js_nonfinite=True)


def canonical(value: AnyValue) -> tuple:
    """A key such that equal keys mean equal values as upstream's strict attribute matching sees
    them (pdatautil.ValueHash): map keys sorted, each looked up as Map.Get does (first entry)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return ("e",)
    if kind == "string_value":
        return ("s", value.string_value)
    if kind == "bool_value":
        return ("b", value.bool_value)
    if kind == "int_value":
        return ("i", value.int_value)
    if kind == "double_value":
        return ("d", struct.pack("<d", value.double_value))
    if kind == "bytes_value":
        return ("y", value.bytes_value)
    if kind == "kvlist_value":
        first: dict[str, AnyValue] = {}
        keys = []
        for kv in value.kvlist_value.values:
            keys.append(kv.key)
            first.setdefault(kv.key, kv.value)
        return ("m", tuple((k, canonical(first[k])) for k in sorted(keys)))
    return ("a", tuple(canonical(v) for v in value.array_value.values))


_TRUE_DIGEST = hashlib.sha256(b"\x01").hexdigest()
_FALSE_DIGEST = hashlib.sha256(b"\x00").hexdigest()
_PACK_INT = struct.Struct("<q").pack
_PACK_DOUBLE = struct.Struct("<d").pack


def hash_value(value: AnyValue) -> None:
    """Replace ``value`` by the lowercase hex SHA-256 of its bytes, as upstream's sha2Hasher:
    a string's UTF-8 bytes, a bool as one byte 1/0, an int as 8 bytes little-endian two's
    complement, a double as its 8 IEEE-754 bytes little-endian. Bytes, maps, slices and empty
    values become the empty string."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        digest = hashlib.sha256(value.string_value.encode()).hexdigest()
    elif kind == "int_value":
        digest = hashlib.sha256(_PACK_INT(value.int_value)).hexdigest()
    elif kind == "double_value":
        digest = hashlib.sha256(_PACK_DOUBLE(value.double_value)).hexdigest()
    elif kind == "bool_value":
        digest = _TRUE_DIGEST if value.bool_value else _FALSE_DIGEST
    else:
        digest = ""
    value.string_value = digest
