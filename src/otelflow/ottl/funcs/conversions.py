"""Type conversions and checks, IDs, encodings, and small value utilities."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from ..errors import OttlConfigError, OttlError, OttlTypeError
from ..functions import FunctionTable, Kind as K, P
from ..values import Duration, GoTime, PMap, PSlice, new_pslice, type_name
from ..contexts.types import ProfileID, SpanID, TraceID
from ._util import as_pmap, as_pslice, go_quote, literal_of, utf8, values_equal

T = FunctionTable()


def _passthrough(name: str, kind: K):
    """Int/Double/String/Bool: the *Like getter did the conversion; nil stays nil."""
    @T.function(name, P("target", kind))
    def build(target):
        return target
    return build


_passthrough("Int", K.INT_LIKE_GETTER)
_passthrough("Double", K.FLOAT_LIKE_GETTER)
_passthrough("String", K.STRING_LIKE_GETTER)
_passthrough("Bool", K.BOOL_LIKE_GETTER)


def _type_check(name: str, kind: K):
    """IsString, IsInt, ...: the typed getter's TypeError means "no"; other errors propagate."""
    @T.function(name, P("target", kind))
    def build(target):
        def run(ctx):
            try:
                target(ctx)
            except OttlTypeError:
                return False
            return True
        return run
    return build


_type_check("IsString", K.STRING_GETTER)
_type_check("IsInt", K.INT_GETTER)
_type_check("IsDouble", K.FLOAT_GETTER)
_type_check("IsBool", K.BOOL_GETTER)
_type_check("IsMap", K.PMAP_GETTER)


@T.function("IsList", P("target", K.GETTER))
def build_is_list(target):
    def run(ctx):
        v = target(ctx)
        if isinstance(v, AnyValue):
            return v.WhichOneof("value") == "array_value"
        return isinstance(v, (PSlice, list, tuple))
    return run


@T.function("IsEmpty", P("target", K.GETTER))
def build_is_empty(target):
    def run(ctx):
        v = target(ctx)
        if v is None:
            return True
        if isinstance(v, AnyValue):
            return v.WhichOneof("value") is None
        if isinstance(v, (PMap, PSlice, dict, list, tuple, str, bytes, bytearray)):
            return len(v) == 0
        if isinstance(v, (GoTime, Duration)):
            return v.ns == 0 if isinstance(v, Duration) else v.ns == -62135596800 * 10**9
        return not v  # zero int, float, bool
    return run


@T.function("Len", P("target", K.GETTER))
def build_len(target):
    def run(ctx):
        v = target(ctx)
        if isinstance(v, AnyValue):
            kind = v.WhichOneof("value")
            if kind == "string_value":
                return len(utf8(v.string_value))
            if kind == "array_value":
                return len(v.array_value.values)
            if kind == "kvlist_value":
                return len(v.kvlist_value.values)
            raise OttlError("Len: unsupported target type pcommon.Value. target arg must be of type string, "
                            "[]any, map[string]any, pcommon.Map, pcommon.Slice, or pcommon.Value (of type "
                            "String, Map, Slice)")
        if isinstance(v, str):
            return len(v) if v.isascii() else len(utf8(v))
        if isinstance(v, (PMap, PSlice, dict, list, tuple, bytes, bytearray)):
            return len(v)
        if hasattr(v, "__len__") and not isinstance(v, (GoTime, Duration)):
            return len(v)  # a repeated field of the context (spans, data points, ...)
        raise OttlError(f"Len: unsupported target type {type_name(v)}. target arg must be of type string, "
                        "[]any, map[string]any, pcommon.Map, pcommon.Slice, or pcommon.Value (of type String, "
                        "Map, Slice)")
    return run


@T.function("Keys", P("target", K.PMAP_GETTER))
def build_keys(target):
    def run(ctx):
        m = as_pmap(target(ctx))
        return new_pslice(m.keys())
    return run


@T.function("Values", P("target", K.PMAP_GETTER))
def build_values(target):
    def run(ctx):
        m = as_pmap(target(ctx))
        out = new_pslice()
        for _k, av in m.items():
            out.values.add().CopyFrom(av)
        return out
    return run


@T.function("Hex", P("target", K.BYTE_SLICE_LIKE_GETTER))
def build_hex(target):
    return lambda ctx: (target(ctx) or b"").hex()


_B64 = {
    "base64": (base64.b64encode, True), "base64-raw": (base64.b64encode, False),
    "base64-url": (base64.urlsafe_b64encode, True), "base64-raw-url": (base64.urlsafe_b64encode, False),
}


@T.function("Base64Encode", P("target", K.STRING_GETTER), P("variant", K.STRING_GETTER, optional=True))
def build_base64_encode(target, variant=None):
    def run(ctx):
        data = utf8(target(ctx))
        name = "base64" if variant is None else variant(ctx)
        if name not in _B64:
            raise OttlError(f"unsupported base64 variant: {name}")
        enc, pad = _B64[name]
        s = enc(data).decode()
        return s if pad else s.rstrip("=")
    return run


# ---------------------------------------------------------------------------------------------
# Decode


def _b64_decoder(url: bool, pad: bool):
    def dec(data: bytes) -> str:
        raw = data.replace(b"\r", b"").replace(b"\n", b"")  # Go's decoder skips newlines
        alphabet = b"-_" if url else b"+/"
        ok_chars = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + alphabet)
        body = raw.rstrip(b"=") if pad else raw
        for i, ch in enumerate(body):
            if ch not in ok_chars:
                raise OttlError(f"could not decode: illegal base64 data at input byte {_raw_offset(data, i)}")
        if pad:
            if len(raw) % 4 != 0 or len(raw) - len(body) > 2:
                raise OttlError(f"could not decode: illegal base64 data at input byte {_pad_error_offset(raw)}")
        elif len(body) % 4 == 1:
            raise OttlError(f"could not decode: illegal base64 data at input byte {len(body) - 1}")
        try:
            padded = body + b"=" * (-len(body) % 4)
            out = (base64.urlsafe_b64decode if url else base64.b64decode)(padded)
        except (binascii.Error, ValueError) as e:
            raise OttlError(f"could not decode: {e}") from None
        return out.decode("utf-8", "replace")
    return dec


def _raw_offset(data: bytes, i: int) -> int:
    return i


def _pad_error_offset(raw: bytes) -> int:
    """Best effort at where encoding/base64 reports a padding error."""
    body = raw.rstrip(b"=")
    return len(body) - len(body) % 4 if len(body) % 4 == 1 else len(body)


_TEXT_ENCODINGS = {
    "utf-16": "utf-16-le", "utf16": "utf-16-le", "utf-8": "utf-8", "utf8": "utf-8", "ascii": "utf-8",
    "us-ascii": "utf-8", "": "utf-8", "utf-8-raw": "utf-8-raw", "utf8-raw": "utf-8-raw", "nop": "nop",
}


def _text_decoder(name: str):
    py = _TEXT_ENCODINGS.get(name.lower())
    if py is None:
        import codecs
        try:
            py = codecs.lookup(name).name  # IANA names Python also knows (latin1, shift_jis, ...)
        except LookupError:
            raise OttlError(f"unsupported encoding '{name}'") from None
    if py == "nop" or py == "utf-8-raw":
        return lambda data: data.decode("utf-8", "replace")

    def dec(data: bytes) -> str:
        # x/text decoders replace invalid input with U+FFFD rather than failing
        text = data.decode(py, "replace")
        return text[1:] if py == "utf-16-le" and text.startswith("\ufeff") else text
    return dec


def _decoder(name: str):
    if name == "base64":
        return _b64_decoder(False, True)
    if name == "base64-raw":
        return _b64_decoder(False, False)
    if name == "base64-url":
        return _b64_decoder(True, True)
    if name == "base64-raw-url":
        return _b64_decoder(True, False)
    return _text_decoder(name)


@T.function("Decode", P("target", K.GETTER), P("encoding", K.STRING_GETTER))
def build_decode(target, encoding):
    ok, name = literal_of(encoding)
    if ok:
        try:
            fixed = _decoder(name)
        except OttlError as e:
            raise OttlConfigError(str(e)) from None
    else:
        fixed = None

    def run(ctx):
        from otelflow.pdata.govalue import value_as_string
        v = target(ctx)
        dec = fixed or _decoder(encoding(ctx))
        if isinstance(v, (bytes, bytearray)):
            return dec(bytes(v))
        if isinstance(v, str):
            return dec(utf8(v))
        if isinstance(v, AnyValue):
            if v.WhichOneof("value") == "bytes_value":
                return dec(v.bytes_value)
            return dec(utf8(value_as_string(v)))
        raise OttlError(f"unsupported type provided to Decode function: {type_name(v)}")
    return run


# ---------------------------------------------------------------------------------------------
# IDs



def _hex_error(b: bytes) -> str:
    """encoding/hex's InvalidByteError ("%#U" of the first bad byte)."""
    from ._util import go_is_print
    for ch in b:
        if chr(ch) not in "0123456789abcdefABCDEF":
            c = chr(ch)
            return f"encoding/hex: invalid byte: U+{ch:04X}" + (f" '{c}'" if go_is_print(c) else "")
    return "encoding/hex: odd length hex string"


def _id_func(name: str, size: int, wrap=bytes):
    """TraceID/SpanID give pcommon.TraceID/SpanID values (what span.trace_id compares equal to)."""
    def convert(b: bytes):
        if len(b) == size:
            return wrap(bytes(b))
        if len(b) == size * 2:
            try:
                return wrap(bytes.fromhex(b.decode("ascii")))
            except (ValueError, UnicodeDecodeError):
                msg = _hex_error(b)
                raise OttlError(f"{name}: could not decode ID: invalid hex: {msg}") from None
        raise OttlError(f"{name}: could not decode ID: invalid length: expected {size} or {size * 2} bytes, "
                        f"got {len(b)}")

    @T.function(name, P("target", K.BYTE_SLICE_LIKE_GETTER))
    def build(target):
        ok, lit = literal_of(target)
        if ok:
            try:
                fixed = convert(lit or b"")
            except OttlError as e:
                raise OttlConfigError(str(e)) from None
            return lambda ctx: fixed
        return lambda ctx: convert(target(ctx) or b"")
    return build


_id_func("TraceID", 16, TraceID)
_id_func("SpanID", 8, SpanID)
_id_func("ProfileID", 16, ProfileID)


# ---------------------------------------------------------------------------------------------
# Small utilities


@T.function("Coalesce", P("values", K.GETTER, is_list=True))
def build_coalesce(values):
    if not values:
        raise OttlConfigError("Coalesce requires at least one argument")

    def run(ctx):
        for g in values:
            v = g(ctx)
            if v is not None:
                return v
        return None
    return run


@T.function("ContainsValue", P("target", K.PSLICE_GETTER), P("item", K.GETTER))
def build_contains_value(target, item):
    def run(ctx):
        s = as_pslice(target(ctx))
        it = item(ctx)
        return any(values_equal(av, it) for av in s.values)
    return run


@T.function("Log", P("target", K.FLOAT_LIKE_GETTER))
def build_log(target):
    from otelflow.pdata.govalue import format_float_g

    def run(ctx):
        v = target(ctx)
        if v is None:
            raise OttlError("invalid input: <nil>")
        if v <= 0 or math.isnan(v):
            if math.isnan(v):
                return math.nan
            raise OttlError(f"invalid input: expected number greater than zero but got {format_float_g(v)}")
        if math.isinf(v):
            return math.inf
        return math.log(v)
    return run


def _parse_ip(s: str):
    """net.ParseIP: no zones, no brackets; an IPv4-mapped IPv6 address is that IPv4 address."""
    if "%" in s:
        return None
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _parse_cidr(s: str):
    """net.ParseCIDR's network (host bits cleared)."""
    addr, sep, bits = s.partition("/")
    ip = None if not sep or "%" in addr else _parse_ip_strict(addr)
    if ip is None or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        raise OttlError(f"invalid CIDR address: {s}")
    try:
        return ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)
    except ValueError:
        raise OttlError(f"invalid CIDR address: {s}") from None


def _parse_ip_strict(s: str):
    try:
        return ipaddress.ip_address(s)
    except ValueError:
        return None


def _contains(net, ip) -> bool:
    if net.version == ip.version:
        return ip in net
    if net.version == 6 and ip.version == 4:
        # Go compares 16-byte forms: an IPv4 address is ::ffff:a.b.c.d
        return ipaddress.IPv6Address("::ffff:" + str(ip)) in net
    return False


@T.function("IsInCIDR", P("target", K.STRING_GETTER), P("networks", K.STRING_GETTER, is_list=True))
def build_is_in_cidr(target, networks):
    fixed = []
    for g in networks:
        ok, lit = literal_of(g)
        if not ok:
            fixed = None
            break
        try:
            fixed.append(_parse_cidr(lit))
        except OttlError as e:
            raise OttlConfigError(str(e)) from None

    def run(ctx):
        ip = _parse_ip(target(ctx))
        if ip is None:
            return False
        if fixed is not None:
            return any(_contains(n, ip) for n in fixed)
        for g in networks:
            if _contains(_parse_cidr(g(ctx)), ip):
                return True
        return False
    return run


def _atoi_digit(b: bytes) -> int:
    if len(b) == 1 and 48 <= b[0] <= 57:
        return b[0] - 48
    shown = go_quote(b.decode("utf-8", "surrogateescape"))
    raise OttlError(f"strconv.Atoi: parsing {shown}: invalid syntax")


@T.function("IsValidLuhn", P("target", K.STRING_LIKE_GETTER))
def build_is_valid_luhn(target):
    def run(ctx):
        v = target(ctx)
        if v is None:
            raise OttlError("invalid input: <nil>")
        b = utf8(v.replace(" ", ""))
        if not b:
            return False
        check = _atoi_digit(b[-1:])
        total = 0
        alternate = True
        for i in range(len(b) - 2, -1, -1):
            n = _atoi_digit(b[i:i + 1])
            if alternate:
                n *= 2
                if n > 9:
                    n -= 9
            total += n
            alternate = not alternate
        return (10 - total % 10) % 10 == check
    return run


TABLE = T.table()
