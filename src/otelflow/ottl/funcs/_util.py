"""Helpers shared by the standard functions: literal detection, converter calls, Go string rules.

Go strings are byte strings; OTTL values here are ``str``. Wherever upstream counts or cuts bytes
(Len, Substring, truncate_all) the text is encoded to UTF-8 first, so offsets agree with Go.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any, Callable, Iterable

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from ..errors import OttlError, OttlTypeError
from ..functions import FunctionDef
from ..getters import go_json
from ..values import PMap, PSlice, get_value, new_pmap, new_pslice, type_name, value_type_name

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_NOT_LITERAL = (False, None)


def literal_of(getter: Any) -> tuple[bool, Any]:
    """Upstream's GetLiteralValue: a getter the compiler marked ``is_literal`` (a literal or a
    converter over literals) is evaluated once, at build time; a failing one counts as dynamic."""
    if not getattr(getter, "is_literal", False):
        return _NOT_LITERAL
    try:
        return True, getter(None)
    except Exception:  # noqa: BLE001 - upstream treats any error as "not a literal"
        return _NOT_LITERAL


def const(value: Any) -> Callable[[Any], Any]:
    """A getter that always returns ``value``, marked literal."""
    def get(_ctx: Any) -> Any:
        return value
    get.is_literal = True  # type: ignore[attr-defined]
    return get


def call_converter(defn: FunctionDef, values: Iterable[Any], ctx: Any = None) -> Any:
    """Run a converter passed as a FUNCTION argument (replace_pattern's SHA256) on constant
    arguments, in parameter order; parameters not given are left out (None)."""
    vals = list(values)
    args = []
    for i, param in enumerate(defn.params):
        if i < len(vals):
            args.append(vals[i] if param.kind.is_literal else const(vals[i]))
        else:
            args.append(None)
    return defn.build(*args)(ctx)


def int64_wrap(v: int) -> int:
    """Go's two's-complement int64 overflow."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def from_utf8(b: bytes) -> str:
    """Bytes back to text; bytes Go would keep as invalid UTF-8 become U+FFFD (a protobuf string
    cannot hold them)."""
    return b.decode("utf-8", "replace")


def rune_start(b: int) -> bool:
    return b & 0xC0 != 0x80


# ---------------------------------------------------------------------------------------------
# Maps and slices given to editors


def as_pmap(v: Any) -> PMap:
    """StandardPMapGetter: the live map, or a fresh one for a Go map value."""
    if isinstance(v, PMap):
        return v
    if isinstance(v, dict):
        return new_pmap(v)
    if isinstance(v, AnyValue):
        if v.WhichOneof("value") == "kvlist_value":
            return PMap(v.kvlist_value.values)
        raise OttlTypeError(f"expected pcommon.Map but got {value_type_name(v)}")
    if v is None:
        raise OttlTypeError("expected pcommon.Map but got nil")
    raise OttlTypeError(f"expected pcommon.Map but got {type_name(v)}")


def as_pslice(v: Any) -> PSlice:
    if isinstance(v, PSlice):
        return v
    if isinstance(v, (list, tuple)):
        return new_pslice(list(v))
    if isinstance(v, AnyValue):
        if v.WhichOneof("value") == "array_value":
            return PSlice(v.array_value.values)
        raise OttlTypeError(f"expected pcommon.Slice but got {value_type_name(v)}")
    if v is None:
        raise OttlTypeError("expected pcommon.Slice but got nil")
    raise OttlTypeError(f"expected pcommon.Slice but got {type_name(v)}")


def get_pmap(target: Any, ctx: Any) -> PMap:
    """A PMAP_GETSETTER's map (the compiler may already have typed it)."""
    return as_pmap(target.get(ctx))


def unwrap(v: Any) -> Any:
    """A pcommon.Value (AnyValue) as the Go value it holds."""
    return get_value(v) if isinstance(v, AnyValue) else v


# ---------------------------------------------------------------------------------------------
# Go formatting


def go_is_print(ch: str) -> bool:
    """unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    if ch == " ":
        return True
    return unicodedata.category(ch)[0] in "LMNPS"


def go_quote(s: str) -> str:
    """strconv.Quote (fmt's %q of a string)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif go_is_print(ch):
            out.append(ch)
        elif ch in _CTRL:
            out.append(_CTRL[ch])
        elif 0xDC80 <= o <= 0xDCFF:  # an invalid byte kept by surrogateescape
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


_CTRL = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def is_nan_or_inf(f: float) -> bool:
    return math.isnan(f) or math.isinf(f)


def runtime_error(msg: str) -> OttlError:
    return OttlError(msg)


# ---------------------------------------------------------------------------------------------
# Conversions upstream's getters do, for values the functions meet themselves


def json_marshal(v: Any) -> str:
    """json.Marshal of a Go value (one implementation: ``getters.go_json``)."""
    return go_json(unwrap(v))


def string_like(v: Any) -> str | None:
    """StandardStringLikeGetter's conversion (None for nil)."""
    from otelflow.pdata.govalue import value_as_string
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, AnyValue):
        return value_as_string(v)
    try:
        return json_marshal(v)
    except Exception:  # noqa: BLE001
        raise OttlTypeError(f"unsupported type: {type_name(v)}") from None


_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000"


def go_trim_space(s: str) -> str:
    """strings.TrimSpace (unicode.IsSpace; Python's strip() also strips \\x1c-\\x1f)."""
    return s.strip(_GO_SPACE)


def go_lower(s: str) -> str:
    """strings.ToLower: per-rune simple case mapping (Python's lower() uses full mappings)."""
    if s.isascii():
        return s.lower()
    out = []
    for ch in s:
        lo = ch.lower()
        out.append(lo if len(lo) == 1 else ("i" if ch == "\u0130" else ch))
    return "".join(out)


def go_upper(s: str) -> str:
    if s.isascii():
        return s.upper()
    out = []
    for ch in s:
        up = ch.upper()
        out.append(up if len(up) == 1 else ch)
    return "".join(out)


def values_equal(a: Any, b: Any) -> bool:
    """ottl.ValueComparator.Equal on raw values (numbers compare across int and float)."""
    from ..values import to_raw
    a, b = to_raw(unwrap(a)), to_raw(unwrap(b))
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if type(a) is not type(b):
        if isinstance(a, (bytes, bytearray)) and isinstance(b, (bytes, bytearray)):
            return bytes(a) == bytes(b)
        return False
    return a == b
