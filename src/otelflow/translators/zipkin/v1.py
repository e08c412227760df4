"""Zipkin v1 JSON to OTLP, as upstream's zipkinv1 translator does it (v0.161.0).

v1 spans carry their service in annotation endpoints: the first core annotation (cs, cr, ss, sr,
ms, mr) with a named endpoint gives the resource and the span kind, other annotations become
events, binary annotations attributes; ``census.*``, ``otel.status_*``, ``http.status_code`` and
``error`` set the status with upstream's precedence. A span without any time gets the time of
receipt and the ``otel.zipkin.absentField.startTime`` attribute, as upstream.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otelflow.translators.zipkin.model import ZipkinError, _Obj, get_bool, get_int, get_str, loads
from otelflow.translators.zipkin.to_otlp import START_TIME_ABSENT, put_all, typed_value

UNKNOWN_SERVICE = "unknown-service"
_CORE = {"cs": Span.SPAN_KIND_CLIENT, "cr": Span.SPAN_KIND_CLIENT, "ms": Span.SPAN_KIND_PRODUCER,
         "mr": Span.SPAN_KIND_CONSUMER, "ss": Span.SPAN_KIND_SERVER, "sr": Span.SPAN_KIND_SERVER}
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


def _fields(value: Any, what: str) -> dict[str, Any]:
    """An object's members by lower-cased name (encoding/json matches names case-insensitively)."""
    if not isinstance(value, _Obj):
        raise ZipkinError(f"zipkinv1: json: cannot unmarshal into Go value of type {what}")
    out: dict[str, Any] = {}
    for key, item in value:
        k = key.lower()
        if item is None and k in out:
            continue  # null leaves a field as it was
        out[k] = item
    return out


def _endpoint(value: Any) -> tuple[str, str, str, int] | None:
    if value is None:
        return None
    f = _fields(value, "zipkinv1.endpoint")
    return (get_str(f.get("servicename"), "endpoint.serviceName"), get_str(f.get("ipv4"), "endpoint.ipv4"),
            get_str(f.get("ipv6"), "endpoint.ipv6"), get_int(f.get("port"), "endpoint.port", 32, True))


def _list(value: Any, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or isinstance(value, _Obj):
        raise ZipkinError(f"zipkinv1: json: cannot unmarshal into Go struct field .{what} of type []")
    return value


def _hex(text: str, size: int) -> bytes:
    try:
        raw = bytes.fromhex(text) if text.isascii() and " " not in text else None
    except ValueError:
        raw = None
    if raw is None:
        raise ZipkinError(f"encoding/hex: invalid byte in {text!r}")
    return raw.rjust(size, b"\0")


def _trace_id(text: str) -> bytes:
    if len(text) not in (16, 32):
        raise ZipkinError("zipkinV1 span traceId: hex traceId span has wrong length (expected 16 or 32)")
    raw = _hex(text, 16)
    if raw == bytes(16):
        raise ZipkinError("zipkinV1 span traceId: traceId is zero")
    return raw


def _span_id(text: str, what: str) -> bytes:
    if len(text) != 16:
        raise ZipkinError(f"zipkinV1 span {what}: hex Id has wrong length (expected 16)")
    raw = _hex(text, 8)
    if raw == bytes(8):
        raise ZipkinError(f"zipkinV1 span {what}: ID is zero")
    return raw


def _micros(value: int) -> int:
    return 0 if value <= 0 else (value * 1000) & ((1 << 64) - 1)


class _StatusMapper:
    """Upstream's precedence: census code, then otel.status_code, then error, then http.status_code."""

    def __init__(self) -> None:
        self.census: list = [None, ""]
        self.status: list = [None, ""]
        self.http: list = [None, ""]
        self.error: list = [None, ""]

    @staticmethod
    def _code(value: tuple[str, object]) -> int | None:
        field, v = value
        if field == "int_value":
            number = v
        elif field == "string_value":
            text = v[1:] if v[:1] in "+-" else v
            if not (text.isascii() and text.isdigit()):
                return None
            number = int(v)
            if not I64_MIN <= number <= I64_MAX:
                return None
        else:
            return None
        return number if I32_MIN <= number <= I32_MAX else None

    def take(self, key: str, value: tuple[str, object]) -> bool:
        """Record what a binary annotation says about the status; True drops it from the attributes."""
        text = value[1] if value[0] == "string_value" else ""
        if key == "census.status_code":
            code = self._code(value)
            if code is not None:
                self.census[0] = Status.STATUS_CODE_OK if code == 0 else Status.STATUS_CODE_ERROR
            return True
        if key in ("census.status_description", "opencensus.status_description"):
            self.census[1] = text
            return True
        if key == "otel.status_code":
            code = self._code(value)
            if code is not None:
                self.status[0] = code
            return True
        if key == "otel.status_description":
            self.status[1] = text
            return True
        if key in ("http.status_code", "http.response.status_code"):
            code = self._code(value)
            if code is not None:
                self.http[0] = Status.STATUS_CODE_UNSET if 100 <= code < 400 else Status.STATUS_CODE_ERROR
        elif key == "http.status_message":
            self.http[1] = text
        elif key == "error":
            self.error[0] = Status.STATUS_CODE_ERROR
            return True
        return False

    def apply(self, status: Status) -> None:
        if self.census[0] is not None:
            code, message = self.census
        elif self.status[0] is not None:
            code, message = self.status
        elif self.error[0] is not None:
            code, message = self.error[0], self.census[1] or self.status[1] or self.error[1]
        elif self.http[0] is not None:
            code, message = self.http
        else:
            return
        status.code = code
        status.message = message


def _annotations(items: list, span: Span) -> tuple[str, str, str, int]:
    early, late = None, None
    endpoint = None
    kind_set = False
    for item in items:
        if item is None:
            continue
        f = _fields(item, "zipkinv1.annotation")
        value = get_str(f.get("value"), "annotation.value")
        ts = get_int(f.get("timestamp"), "annotation.timestamp", 64, True)
        ep = _endpoint(f.get("endpoint"))
        if not value:
            continue
        name = ep[0] if ep is not None and ep[0] else UNKNOWN_SERVICE
        core = value in _CORE
        if endpoint is None and name != UNKNOWN_SERVICE and core:
            endpoint = ep
        if not kind_set and core:
            span.kind = _CORE[value]
            kind_set = True
        if early is None or ts < early:
            early = ts
            span.start_time_unix_nano = _micros(ts)
        if late is None or ts > late:
            late = ts
            span.end_time_unix_nano = _micros(ts)
        if not core:
            span.events.add(time_unix_nano=_micros(ts), name=value)
    return endpoint or (UNKNOWN_SERVICE, "", "", 0)


def _binary_annotations(items: list, span: Span, parse: bool, attrs: dict) -> str:
    fallback = ""
    local_component = ""
    if not items:
        return fallback
    mapper = _StatusMapper()
    for item in items:
        if item is None:
            continue
        f = _fields(item, "zipkinv1.binaryAnnotation")
        key = get_str(f.get("key"), "binaryAnnotation.key")
        raw = get_str(f.get("value"), "binaryAnnotation.value")
        ep = _endpoint(f.get("endpoint"))
        if ep is not None and ep[0]:
            fallback = ep[0]
        if key == "lc":
            key = "component"
            local_component = raw
        value = typed_value(raw, parse)
        if mapper.take(key, value):
            continue
        attrs[key] = value
    mapper.apply(span.status)
    return fallback or local_component


def _span(item: Any, parse: bool) -> tuple[Span, tuple[str, str, str, int]]:
    f = _fields(item, "zipkinv1.jsonSpan")
    trace_id = get_str(f.get("traceid"), ".traceId")
    span_id = get_str(f.get("id"), ".id")
    parent_id = get_str(f.get("parentid"), ".parentId")
    name = get_str(f.get("name"), ".name")
    timestamp = get_int(f.get("timestamp"), ".timestamp", 64, True)
    duration = get_int(f.get("duration"), ".duration", 64, True)
    get_bool(f.get("debug"), ".debug")
    annotations = _list(f.get("annotations"), "annotations")
    binary = _list(f.get("binaryannotations"), "binaryAnnotations")

    tid = _trace_id(trace_id)
    sid = _span_id(span_id, "id")
    pid = _span_id(parent_id, "parentId") if parent_id else b""
    span = Span()
    endpoint = _annotations(annotations, span)
    attrs: dict = {}
    component = _binary_annotations(binary, span, parse, attrs)
    if endpoint[0] == UNKNOWN_SERVICE and component:
        endpoint = (component, *endpoint[1:])
    if timestamp != 0:
        span.start_time_unix_nano = _micros(timestamp)
        span.end_time_unix_nano = _micros(timestamp + duration)
    span.name = name
    span.trace_id = tid
    span.span_id = sid
    span.parent_span_id = pid
    if span.start_time_unix_nano == 0:
        now = time.time_ns()
        span.start_time_unix_nano = span.end_time_unix_nano = now
        attrs[START_TIME_ABSENT] = ("bool_value", True)
    put_all(span.attributes, attrs)
    return span, endpoint


def v1_json_to_otlp(body: bytes, parse_string_tags: bool = False) -> ExportTraceServiceRequest:
    data = loads(body)
    if data is None:
        data = []
    if not isinstance(data, list) or isinstance(data, _Obj):
        raise ZipkinError("zipkinv1: json: cannot unmarshal object into Go value of type []*zipkinv1.jsonSpan")
    decoded = []
    for item in data:
        if item is None:
            raise ZipkinError("zipkinV1 span traceId: hex traceId span has wrong length (expected 16 or 32)")
        decoded.append(_span(item, parse_string_tags))
    request = ExportTraceServiceRequest()
    by_endpoint: dict[str, Any] = {}
    for span, (service, ipv4, ipv6, port) in decoded:
        key = f"{service}-{ipv4}-{ipv6}-{port}"
        spans = by_endpoint.get(key)
        if spans is None:
            rs = request.resource_spans.add()
            attrs = {"service.name": ("string_value", service)}
            if ipv4:
                attrs["ipv4"] = ("string_value", ipv4)
            if ipv6:
                attrs["ipv6"] = ("string_value", ipv6)
            if port:
                attrs["port"] = ("string_value", str(port))
            put_all(rs.resource.attributes, attrs)
            spans = by_endpoint[key] = rs.scope_spans.add().spans
        spans.append(span)
    return request
