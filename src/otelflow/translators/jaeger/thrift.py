"""Jaeger Thrift ``Batch`` (as thriftpy2 decodes it) to an OTLP ExportTraceServiceRequest.

Upstream's Thrift path differs from its protobuf path: one ScopeSpans with an empty scope for the
whole batch (``otel.scope.name`` stays a span attribute) and ``w3c.tracestate`` is not lifted into
the span's trace state.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otelflow.translators.jaeger.common import (
    HTTP_STATUS_CODE, HTTP_STATUS_KEYS, REF_TYPES, U64, Attrs, set_kind, set_status, span_id, text, trace_id,
    translate_resource)

# TagType: STRING=0, DOUBLE=1, BOOL=2, LONG=3, BINARY=4
CHILD_OF, FOLLOWS_FROM = 0, 1


def _put_tags(tags, attrs: Attrs) -> None:
    put = attrs.put_empty
    for tag in tags or ():
        key = text(tag.key)
        value = put(HTTP_STATUS_CODE if key in HTTP_STATUS_KEYS else key)
        kind = tag.vType
        if kind == 0:
            value.string_value = text(tag.vStr)
        elif kind == 1:
            value.double_value = tag.vDouble or 0.0
        elif kind == 2:
            value.bool_value = bool(tag.vBool)
        elif kind == 3:
            value.int_value = tag.vLong or 0
        elif kind == 4:
            value.bytes_value = tag.vBinary or b""
        else:  # Go's TagType.String() for a value the IDL does not name
            value.string_value = '<Unknown Jaeger TagType "<UNSET>">'


def _micros(value: int) -> int:
    return ((value or 0) * 1000) & U64


def _parent_id(span) -> int:
    """parentSpanId, else the first same-trace CHILD_OF reference, else the first FOLLOWS_FROM."""
    if span.parentSpanId:
        return span.parentSpanId
    follows = None
    for ref in span.references or ():
        if ref.traceIdHigh != span.traceIdHigh or ref.traceIdLow != span.traceIdLow:
            continue
        if ref.refType == CHILD_OF:
            return ref.spanId
        if follows is None and ref.refType == FOLLOWS_FROM:
            follows = ref.spanId
    return follows or 0


def _blank(span) -> bool:
    return not (span.traceIdLow or span.traceIdHigh or span.spanId or span.parentSpanId or span.operationName
                or span.flags or span.startTime or span.duration) and span.references is None \
        and span.tags is None and span.logs is None


def _span(src, dest: Span) -> None:
    dest.trace_id = trace_id(src.traceIdHigh or 0, src.traceIdLow or 0)
    dest.span_id = span_id(src.spanId or 0)
    dest.name = text(src.operationName)
    start = src.startTime or 0
    dest.start_time_unix_nano = _micros(start)
    dest.end_time_unix_nano = _micros(start + (src.duration or 0))
    if (src.flags or 0) & 1:
        dest.flags = 1
    parent = _parent_id(src)
    if parent:
        dest.parent_span_id = span_id(parent)
    attrs = Attrs(dest.attributes)
    _put_tags(src.tags, attrs)
    set_kind(attrs, dest)
    set_status(attrs, dest)
    for log in src.logs or ():
        event = dest.events.add(time_unix_nano=_micros(log.timestamp or 0))
        if log.fields:
            event_attrs = Attrs(event.attributes)
            _put_tags(log.fields, event_attrs)
            name = event_attrs.get("event")
            if name is not None:
                event.name = name.string_value if name.WhichOneof("value") == "string_value" else ""
                event_attrs.remove("event")
    refs = src.references or ()
    if not refs or (len(refs) == 1 and refs[0].spanId == parent and refs[0].refType == CHILD_OF):
        return
    for ref in refs:
        if ref.spanId == parent and ref.refType == CHILD_OF:
            continue
        link = dest.links.add(trace_id=trace_id(ref.traceIdHigh or 0, ref.traceIdLow or 0),
                              span_id=span_id(ref.spanId or 0))
        kind = REF_TYPES[0] if ref.refType == CHILD_OF else REF_TYPES[1]
        link.attributes.add(key="opentracing.ref_type").value.string_value = kind


def thrift_to_traces(batch) -> ExportTraceServiceRequest:
    """One ResourceSpans per batch (none when it has neither a process nor spans)."""
    out = ExportTraceServiceRequest()
    process, spans = batch.process, batch.spans
    if process is None and not spans:
        return out
    rs = out.resource_spans.add()
    if process is not None and (process.serviceName or process.tags is not None):
        attrs = Attrs(rs.resource.attributes)
        if process.serviceName:
            attrs.put_empty("service.name").string_value = text(process.serviceName)
        _put_tags(process.tags, attrs)
        translate_resource(attrs)
    if not spans:
        return out
    dest = rs.scope_spans.add().spans
    for span in spans:
        if span is None or _blank(span):
            continue
        _span(span, dest.add())
    return out
