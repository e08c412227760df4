"""Zipkin's span model and its two v2 wire formats, decoded with the rules of zipkin-go's model
(which upstream uses): what a JSON body may contain and what it is rejected for, and how a
protobuf span's bytes become IDs, endpoints and times. Errors are ``ZipkinError`` (HTTP 400).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import json
import re
from typing import Any

from google.protobuf.message import DecodeError

from otelflow.translators.zipkin import proto

U64 = (1 << 64) - 1
_HEX = re.compile(r"[0-9a-fA-F]+")
_UINT = re.compile(r"[0-9]+")


class ZipkinError(ValueError):
    """A body upstream refuses to translate (answered with 400)."""


@dataclasses.dataclass(slots=True)
class Endpoint:
    service_name: str = ""
    ipv4: bytes = b""  # net.IP bytes: 4 or 16 long as the sender wrote them
    ipv6: bytes = b""
    port: int = 0

    def empty(self) -> bool:
        return not (self.service_name or self.port or self.ipv4 or self.ipv6)


@dataclasses.dataclass(slots=True)
class SpanModel:
    trace_high: int = 0
    trace_low: int = 0
    id: int = 0
    parent_id: int | None = None
    debug: bool = False
    name: str = ""
    kind: str = ""
    # nanoseconds since the epoch; None is Go's zero time.Time (no timestamp given)
    timestamp: int | None = None
    duration: int = 0  # nanoseconds
    shared: bool = False
    local_endpoint: Endpoint | None = None
    remote_endpoint: Endpoint | None = None
    annotations: list[tuple[int, str]] = dataclasses.field(default_factory=list)  # (ns, value)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)


@functools.lru_cache(maxsize=4096)  # a fleet has few addresses; parsing them is the costliest step
def ip_string(ip: bytes) -> str:
    """Go's net.IP.String()."""
    if len(ip) == 4:
        return str(ipaddress.IPv4Address(ip))
    if len(ip) == 16:
        addr = ipaddress.IPv6Address(ip)
        return str(addr.ipv4_mapped) if addr.ipv4_mapped is not None else str(addr)
    if not ip:
        return "<nil>"
    return "?" + ip.hex()


@functools.lru_cache(maxsize=4096)
def parse_ip(text: str) -> bytes | None:
    """Go's net.ParseIP: 16 bytes (IPv4 mapped) or None."""
    if "%" in text:
        return None
    try:
        if ":" in text:
            return ipaddress.IPv6Address(text).packed
        return ipaddress.IPv6Address(f"::ffff:{ipaddress.IPv4Address(text)}").packed
    except ValueError:
        return None


# -- JSON ----------------------------------------------------------------------------------------


class _Num(str):
    """A JSON number kept as its literal text, so Go's integer rules can be applied to it."""


class _Obj(list):
    """A JSON object as its (key, value) pairs in order, duplicates included."""


def _type_error(kind: str, field: str, want: str) -> ZipkinError:
    return ZipkinError(f"json: cannot unmarshal {kind} into Go struct field {field} of type {want}")


def _kind(value: Any) -> str:
    if isinstance(value, _Num):
        return "number"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, _Obj) else "array"


def _raw(value: Any) -> str:
    """The JSON text of a value, as far as Go's ID decoders look at it (between its first and last byte)."""
    if isinstance(value, _Num):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, _Obj):
        return "{" + ",".join(json.dumps(k) + ":" + _raw(v) for k, v in value) + "}"
    return "[" + ",".join(_raw(v) for v in value) + "]"


def loads(body: bytes) -> Any:
    """json.Unmarshal's view of a body: duplicate keys kept in order, numbers kept as text."""
    try:
        return json.loads(body.decode("utf-8", "replace"), parse_int=_Num, parse_float=_Num,
                          parse_constant=_reject_constant, object_pairs_hook=_Obj)
    except (ValueError, RecursionError) as exc:
        raise ZipkinError(str(exc)) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def get_str(value: Any, field: str, current: str = "") -> str:
    if value is None:
        return current
    if isinstance(value, str) and not isinstance(value, _Num):
        return value
    raise _type_error(_kind(value), field, "string")


def get_bool(value: Any, field: str, current: bool = False) -> bool:
    if value is None:
        return current
    if isinstance(value, bool):
        return value
    raise _type_error(_kind(value), field, "bool")


def get_int(value: Any, field: str, bits: int, signed: bool, current: int = 0) -> int:
    if value is None:
        return current
    if not isinstance(value, _Num):
        raise _type_error(_kind(value), field, f"{'' if signed else 'u'}int{bits}")
    text = value[1:] if signed and value.startswith("-") else value
    number = int(text) if _UINT.fullmatch(text) else None
    if number is not None and value.startswith("-"):
        number = -number
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if number is None or not low <= number <= high:
        raise ZipkinError(f"json: cannot unmarshal number {value} into Go struct field {field} of type "
                          f"{'' if signed else 'u'}int{bits}")
    return number


def _parse_hex(text: str) -> int:
    if not _HEX.fullmatch(text) or int(text, 16) > U64:
        raise ZipkinError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    return int(text, 16)


def _span_id(value: Any) -> int:
    raw = _raw(value)
    return 0 if len(raw) < 3 else _parse_hex(raw[1:-1])


def _trace_id(value: Any) -> tuple[int, int]:
    raw = _raw(value)
    if len(raw) < 3:
        raise ZipkinError("valid traceId required")
    text = raw[1:-1]
    if len(text) > 16:
        return _parse_hex(text[:-16]), _parse_hex(text[-16:])
    return 0, _parse_hex(text)


def _members(value: Any, field: str, want: str) -> list[tuple[str, Any]]:
    if isinstance(value, _Obj):
        return value
    raise _type_error(_kind(value), field, want)


def _endpoint(value: Any, field: str) -> Endpoint | None:
    if value is None:
        return None
    if not isinstance(value, _Obj):
        raise _type_error(_kind(value), field, "model.Endpoint")
    ep = Endpoint()
    for key, item in value:
        k = key.lower()
        if k == "servicename":
            ep.service_name = get_str(item, f"{field}.serviceName", ep.service_name)
        elif k in ("ipv4", "ipv6"):
            if item is None:
                continue
            text = get_str(item, f"{field}.{k}")
            ip = b"" if text == "" else parse_ip(text)
            if ip is None:
                raise ZipkinError(f"invalid IP address: {text}")
            setattr(ep, k, ip)
        elif k == "port":
            ep.port = get_int(item, f"{field}.port", 16, False, ep.port)
    return None if ep.empty() else ep


def _is_object(value: Any) -> bool:
    return isinstance(value, _Obj)


def _annotations(value: Any) -> list[tuple[int, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or _is_object(value):
        raise _type_error(_kind(value), ".annotations", "[]model.Annotation")
    out = []
    for item in value:
        ts, text = 0, ""
        if item is not None:
            if not _is_object(item):
                raise _type_error(_kind(item), ".annotations", "model.Annotation")
            for key, v in item:
                k = key.lower()
                if k == "timestamp":
                    ts = get_int(v, ".annotations.timestamp", 64, False, ts)
                elif k == "value":
                    text = get_str(v, ".annotations.value", text)
        if ts < 1:
            raise ZipkinError("valid annotation timestamp required")
        out.append((_i64(ts * 1000), text))
    return out


def _i64(value: int) -> int:
    """Wrap to int64 as Go's arithmetic does."""
    value &= U64
    return value - (1 << 64) if value >> 63 else value


def _span(pairs: Any) -> SpanModel:
    if not _is_object(pairs):
        raise _type_error(_kind(pairs), "", "model.SpanModel")
    s = SpanModel()
    ts = dur = 0
    for key, value in pairs:
        k = key.lower()
        if k == "traceid":
            s.trace_high, s.trace_low = _trace_id(value)
        elif k == "id":
            if len(_raw(value)) >= 3:  # zipkin-go leaves the ID as it was for "" and {}
                s.id = _span_id(value)
        elif k == "parentid":
            s.parent_id = None if value is None else _span_id(value)
        elif k == "debug":
            s.debug = get_bool(value, ".debug", s.debug)
        elif k == "name":
            s.name = get_str(value, ".name", s.name)
        elif k == "kind":
            s.kind = get_str(value, ".kind", s.kind)
        elif k == "shared":
            s.shared = get_bool(value, ".shared", s.shared)
        elif k == "localendpoint":
            s.local_endpoint = _endpoint(value, ".localEndpoint")
        elif k == "remoteendpoint":
            s.remote_endpoint = _endpoint(value, ".remoteEndpoint")
        elif k == "annotations":
            s.annotations = _annotations(value)
        elif k == "tags":
            if value is not None:
                for tk, tv in _members(value, ".tags", "map[string]string"):
                    s.tags[tk] = get_str(tv, ".tags", "")
        elif k == "timestamp":
            ts = get_int(value, ".timestamp", 64, False, ts)
        elif k == "duration":
            dur = get_int(value, ".duration", 64, False, dur)
    if s.id < 1:
        raise ZipkinError("valid span id required")
    if ts > 0:
        s.timestamp = _i64(_i64(ts) * 1000)
    s.duration = _i64(dur * 1000)
    return s


def spans_from_json(body: bytes) -> list[SpanModel | None]:
    """A v2 JSON body (an array of spans); ``null`` entries stay as None, as upstream skips them."""
    data = loads(body)
    if data is None:
        return []
    if not isinstance(data, list) or _is_object(data):
        raise _type_error(_kind(data), "", "[]*model.SpanModel")
    return [None if item is None else _span(item) for item in data]


# -- protobuf ------------------------------------------------------------------------------------


def _proto_id(raw: bytes, what: str) -> int | None:
    if not raw:
        return None
    if len(raw) != 8:
        raise ZipkinError(f"invalid {what}: has length {len(raw)} yet wanted length 8")
    return int.from_bytes(raw, "big")


def _proto_endpoint(ep, present: bool) -> Endpoint | None:
    if not present:
        return None
    return Endpoint(ep.service_name, bytes(ep.ipv4), bytes(ep.ipv6), ep.port & 0xFFFF)


def spans_from_proto(body: bytes, debug: bool = False) -> list[SpanModel | None]:
    """A v2 protobuf ListOfSpans; an empty span ID or a wrongly sized ID is an error, as upstream."""
    try:
        message = proto.ListOfSpans.FromString(body)
    except (DecodeError, RuntimeWarning, RecursionError) as exc:
        raise ZipkinError(str(exc) or "proto: cannot parse invalid wire-format data") from None
    out: list[SpanModel | None] = []
    for ps in message.spans:
        if len(ps.trace_id) != 16:
            raise ZipkinError(f"invalid TraceID: has length {len(ps.trace_id)} yet wanted length 16")
        parent = _proto_id(ps.parent_id, "ParentID")
        span_id = _proto_id(ps.id, "SpanID")
        if span_id is None:
            raise ZipkinError("expected a non-nil SpanID")
        tid = bytes(ps.trace_id)
        out.append(SpanModel(
            trace_high=int.from_bytes(tid[:8], "big"),
            trace_low=int.from_bytes(tid[8:], "big"),
            id=span_id,
            parent_id=parent,
            debug=debug,
            name=ps.name,
            kind=proto.KIND_NAMES.get(ps.kind, str(ps.kind)),
            timestamp=_i64(ps.timestamp * 1000),  # a zero here is the epoch, not "absent"
            duration=_i64(ps.duration * 1000),
            shared=ps.shared,
            local_endpoint=_proto_endpoint(ps.local_endpoint, ps.HasField("local_endpoint")),
            remote_endpoint=_proto_endpoint(ps.remote_endpoint, ps.HasField("remote_endpoint")),
            annotations=[(_i64(a.timestamp * 1000), a.value) for a in ps.annotations],
            tags=dict(ps.tags),
        ))
    return out
