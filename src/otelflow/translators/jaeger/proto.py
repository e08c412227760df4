"""Jaeger api_v2 protobuf ``Batch`` to an OTLP ExportTraceServiceRequest.

Spans carrying their own ``process`` are regrouped under a resource per distinct process (keyed
by what Jaeger's Process.Hash writes). Upstream iterates a Go map there, so its resource order is
random; here it is the order in which each process is first seen. Within a resource, spans are
grouped into one ScopeSpans per ``otel.scope.name``/``otel.scope.version`` pair.
"""

from __future__ import annotations

import struct

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from otelflow.translators.jaeger.common import (
    HTTP_STATUS_CODE, HTTP_STATUS_KEYS, REF_TYPES, U64, Attrs, set_kind, set_status, span_id, trace_id,
    translate_resource)

CHILD_OF = 0
NO_SERVICE_NAME = "OTLPResourceNoServiceName"
# time.Time{}.UnixNano() in Go: what an absent (non-nullable) timestamp turns into
_ZERO_TIME_NS = (-62135596800 * 1_000_000_000) & U64


class InvalidIDError(ValueError):
    """What Jaeger's gogoproto types refuse while decoding: an ID of a wrong length (TraceID: 8 or
    16 bytes, SpanID: 8), or a timestamp/duration outside what Go's time types hold."""


_MIN_TS, _MAX_TS = -62135596800, 253402300800  # 0001-01-01, 10000-01-01
_MAX_DURATION_S = 315576000000
_MAX_GO_DURATION = (1 << 63) - 1  # time.Duration, in ns


def _check_timestamp(ts) -> None:
    shown = f"&types.Timestamp{{Seconds: {ts.seconds},\nNanos: {ts.nanos},\n}}"  # gogoproto's GoString
    if ts.seconds < _MIN_TS:
        raise InvalidIDError(f"timestamp: {shown} before 0001-01-01")
    if ts.seconds >= _MAX_TS:
        raise InvalidIDError(f"timestamp: {shown} after 10000-01-01")
    if not 0 <= ts.nanos < 1_000_000_000:
        raise InvalidIDError(f"timestamp: {shown}: nanos not in range [0, 1e9)")


def _check_duration(d) -> None:
    shown = f"&types.Duration{{Seconds: {d.seconds},\nNanos: {d.nanos},\n}}"
    if not -_MAX_DURATION_S <= d.seconds <= _MAX_DURATION_S:
        raise InvalidIDError(f"duration: {shown}: seconds out of range")
    if not -1_000_000_000 < d.nanos < 1_000_000_000:
        raise InvalidIDError(f"duration: {shown}: nanos out of range")
    if (d.seconds < 0 < d.nanos) or (d.nanos < 0 < d.seconds):
        raise InvalidIDError(f"duration: {shown}: seconds and nanos have different signs")
    if abs(d.seconds * 1_000_000_000 + d.nanos) > _MAX_GO_DURATION:
        raise InvalidIDError(f"duration: {shown} is out of range for time.Duration")


def parse_trace_id(data: bytes) -> tuple[int, int]:
    if len(data) == 16:
        return int.from_bytes(data[:8], "big"), int.from_bytes(data[8:], "big")
    if len(data) == 8:
        return 0, int.from_bytes(data, "big")
    if not data:
        return 0, 0  # proto3 cannot tell an empty field from an absent one
    raise InvalidIDError("invalid length for TraceID")


def parse_span_id(data: bytes) -> int:
    if len(data) == 8:
        return int.from_bytes(data, "big")
    if not data:
        return 0
    raise InvalidIDError("invalid length for SpanID")


def check_decodable(batch) -> None:
    """Reject the IDs and times Jaeger's gogoproto types refuse to unmarshal."""
    for span in batch.spans:
        parse_trace_id(span.trace_id)
        parse_span_id(span.span_id)
        for ref in span.references:
            parse_trace_id(ref.trace_id)
            parse_span_id(ref.span_id)
        if span.HasField("start_time"):
            _check_timestamp(span.start_time)
        if span.HasField("duration"):
            _check_duration(span.duration)
        for log in span.logs:
            if log.HasField("timestamp"):
                _check_timestamp(log.timestamp)


def _put_tags(tags, attrs: Attrs) -> None:
    put = attrs.put_empty
    for tag in tags:
        key = tag.key
        value = put(HTTP_STATUS_CODE if key in HTTP_STATUS_KEYS else key)
        kind = tag.v_type
        if kind == 0:
            value.string_value = tag.v_str
        elif kind == 1:
            value.bool_value = tag.v_bool
        elif kind == 2:
            value.int_value = tag.v_int64
        elif kind == 3:
            value.double_value = tag.v_float64
        elif kind == 4:
            value.bytes_value = tag.v_binary
        else:  # gogoproto's String() of an unknown enum value is its number
            value.string_value = f'<Unknown Jaeger TagType "{kind}">'


def _time_ns(msg, field: str) -> int:
    if not msg.HasField(field):
        return _ZERO_TIME_NS
    ts = getattr(msg, field)
    return (ts.seconds * 1_000_000_000 + ts.nanos) & U64


def _process_key(process) -> bytes:
    """The bytes Jaeger's Process.Hash feeds its FNV hash: equal keys share one resource."""
    if process is None:
        return b""
    out = [process.service_name.encode()]
    for tag in process.tags:
        out.append(tag.key.encode())
        out.append(struct.pack(">H", tag.v_type & 0xFFFF))
        kind = tag.v_type
        if kind == 0:
            out.append(tag.v_str.encode())
        elif kind == 1:
            out.append(b"\x01" if tag.v_bool else b"\x00")
        elif kind == 2:
            out.append(struct.pack(">q", tag.v_int64))
        elif kind == 3:
            out.append(struct.pack(">d", tag.v_float64))
        elif kind == 4:
            out.append(tag.v_binary)
        else:
            break  # Hash stops with an error at an unknown type
    return b"".join(out)


def _resource(process, rs: ResourceSpans) -> None:
    if process is None or process.service_name == NO_SERVICE_NAME:
        return
    if not process.service_name and not process.tags:
        return
    attrs = Attrs(rs.resource.attributes)
    if process.service_name:
        attrs.put_empty("service.name").string_value = process.service_name
    _put_tags(process.tags, attrs)
    translate_resource(attrs)


def _blank(span) -> bool:
    return not (span.trace_id.strip(b"\0") or span.span_id.strip(b"\0") or span.operation_name or span.references
                or span.flags or span.HasField("start_time") or span.tags or span.logs
                or span.HasField("process") or span.process_id or span.warnings) \
        and span.duration.seconds == 0 and span.duration.nanos == 0


def _parent_id(span, high: int, low: int) -> int:
    follows = None
    for ref in span.references:
        if parse_trace_id(ref.trace_id) != (high, low):
            continue
        if ref.ref_type == CHILD_OF:
            return parse_span_id(ref.span_id)
        if follows is None and ref.ref_type == 1:
            follows = parse_span_id(ref.span_id)
    return follows or 0


def _as_str(tag) -> str:
    return tag.v_str  # GetVStr(): "" unless the tag was written as a string


def _span(src, tags: list, dest: Span) -> None:
    high, low = parse_trace_id(src.trace_id)
    dest.trace_id = trace_id(high, low)
    dest.span_id = span_id(parse_span_id(src.span_id))
    dest.name = src.operation_name
    start = _time_ns(src, "start_time")
    dest.start_time_unix_nano = start
    dest.end_time_unix_nano = (start + src.duration.seconds * 1_000_000_000 + src.duration.nanos) & U64
    if src.flags & 1:
        dest.flags = 1
    parent = _parent_id(src, high, low)
    if parent:
        dest.parent_span_id = span_id(parent)
    attrs = Attrs(dest.attributes)
    _put_tags(tags, attrs)
    set_kind(attrs, dest)
    set_status(attrs, dest)
    state = attrs.get("w3c.tracestate")
    if state is not None:
        dest.trace_state = state.string_value if state.WhichOneof("value") == "string_value" else ""
        attrs.remove("w3c.tracestate")
    for log in src.logs:
        event = dest.events.add(time_unix_nano=_time_ns(log, "timestamp"))
        if log.fields:
            event_attrs = Attrs(event.attributes)
            _put_tags(log.fields, event_attrs)
            name = event_attrs.get("event")
            if name is not None:
                event.name = name.string_value if name.WhichOneof("value") == "string_value" else ""
                event_attrs.remove("event")
    refs = src.references
    if not refs or (len(refs) == 1 and parse_span_id(refs[0].span_id) == parent and refs[0].ref_type == CHILD_OF):
        return
    for ref in refs:
        ref_span = parse_span_id(ref.span_id)
        if ref_span == parent and ref.ref_type == CHILD_OF:
            continue
        link = dest.links.add(trace_id=trace_id(*parse_trace_id(ref.trace_id)), span_id=span_id(ref_span))
        kind = REF_TYPES[0] if ref.ref_type == CHILD_OF else REF_TYPES[1]
        link.attributes.add(key="opentracing.ref_type").value.string_value = kind


def _take(tags: list, key: str) -> str | None:
    for i, tag in enumerate(tags):
        if tag.key == key:
            del tags[i]
            return _as_str(tag)
    return None


def proto_to_traces(batch) -> ExportTraceServiceRequest:
    """Raises InvalidIDError for an ID Jaeger's decoder would have refused."""
    check_decodable(batch)
    groups: dict[bytes, tuple[object, list]] = {}
    batch_process = batch.process if batch.HasField("process") else None
    home = groups.setdefault(_process_key(batch_process), (batch_process, []))
    for span in batch.spans:
        if span.HasField("process"):
            groups.setdefault(_process_key(span.process), (span.process, []))[1].append(span)
        else:
            home[1].append(span)
    out = ExportTraceServiceRequest()
    for process, spans in groups.values():
        if process is None and not spans:
            continue
        rs = out.resource_spans.add()
        _resource(process, rs)
        scopes: dict[tuple[str, str], object] = {}
        for span in spans:
            if _blank(span):
                continue
            tags = list(span.tags)
            name, version = _take(tags, "otel.scope.name"), None
            if name is not None:
                version = _take(tags, "otel.scope.version")
            scope = (name or "", version or "")
            dest = scopes.get(scope)
            if dest is None:
                ss = rs.scope_spans.add()
                ss.scope.name, ss.scope.version = scope
                dest = scopes[scope] = ss.spans
            _span(span, tags, dest.add())
    return out
