"""Spans and log records as InfluxDB points, as otel2influx v0.5.12 writes them.

Spans: measurement ``spans``, tagged ``trace_id``, ``span_id`` and the ``span_dimensions`` found
among resource, scope and span attributes; the other attributes go in one ``attributes`` field as
Go's JSON (sorted keys); ``span.name``, ``span.kind``, ``parent_span_id``, ``trace_state``,
``end_time_unix_nano``, ``duration_nano``, ``otel.status_code``/``otel.status_description``;
timestamp = start time. Each event is a ``logs`` point (``event.name``, ``attributes``), each link a
``span-links`` point. Log records: measurement ``logs``, tagged with ``log_record_dimensions`` (and
trace/span IDs), fields ``body``, ``severity_number``, ``severity_text``, ``attributes``,
``observed_time_unix_nano``. A span without trace or span ID fails the request, as upstream.
"""

from __future__ import annotations

from typing import Iterator

from otelflow.exporters.influxdb.lineprotocol import EncodeError, Uint, encode_line
from otelflow.exporters.influxdb.schemas import NotJSON, SchemaError, as_string, go_json_map

_KINDS = {1: "Internal", 2: "Server", 3: "Client", 4: "Producer", 5: "Consumer"}
_STATUS = {1: "Ok", 2: "Error"}


def _attributes_field(values: dict, fields: dict, on_error: int) -> int:
    """Put the ``attributes`` JSON field; what to add to the dropped count when it cannot be written."""
    if not values:
        return 0
    try:
        fields["attributes"] = go_json_map(values)
    except NotJSON:
        return on_error
    return 0


def span_lines(rs, dims: frozenset[str]) -> Iterator[str]:
    for ss in rs.scope_spans:
        for span in ss.spans:
            yield from _span(span, rs.resource.attributes, ss.scope.attributes, dims)


def _span(span, resource_attrs, scope_attrs, dims: frozenset[str]) -> Iterator[str]:
    if not any(span.trace_id):
        raise SchemaError("span has no trace ID")
    if not any(span.span_id):
        raise SchemaError("span has no span ID")
    trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
    tags: dict[str, str] = {}
    fields: dict[str, object] = {}
    dropped = span.dropped_attributes_count
    rest: dict = {}
    for attrs in (resource_attrs, scope_attrs, span.attributes):
        for kv in attrs:
            if kv.key in dims:
                if kv.key in tags:
                    rest[kv.key] = kv.value
                tags[kv.key] = as_string(kv.value)
            else:
                rest[kv.key] = kv.value
    dropped += _attributes_field(rest, fields, len(span.attributes))
    if span.trace_state:
        fields["trace_state"] = span.trace_state
    if any(span.parent_span_id):
        fields["parent_span_id"] = span.parent_span_id.hex()
    if span.name:
        fields["span.name"] = span.name
    if span.kind in _KINDS:
        fields["span.kind"] = _KINDS[span.kind]
    start = span.start_time_unix_nano
    fields["end_time_unix_nano"] = span.end_time_unix_nano
    fields["duration_nano"] = span.end_time_unix_nano - start
    extra: list[str] = []
    dropped_events = span.dropped_events_count
    for event in span.events:
        try:
            extra.append(_event(trace_id, span_id, event))
        except EncodeError:
            dropped_events += 1
    if dropped_events:
        fields["dropped_events_count"] = Uint(dropped_events)
    dropped_links = span.dropped_links_count
    for link in span.links:
        try:
            extra.append(_link(trace_id, span_id, start, link))
        except (EncodeError, SchemaError):
            dropped_links += 1
    if dropped_links:
        fields["dropped_links_count"] = Uint(dropped_links)
    if span.status.code in _STATUS:
        fields["otel.status_code"] = _STATUS[span.status.code]
    if span.status.message:
        fields["otel.status_description"] = span.status.message
    tags["trace_id"], tags["span_id"] = trace_id, span_id
    for key in tags:
        if key in fields:
            dropped += 1
            del fields[key]
    if dropped:
        fields["dropped_attributes_count"] = Uint(dropped)
    # events and links are enqueued while the span is converted, before the span's own point
    yield from extra
    yield encode_line("spans", tags, fields, start)


def _event(trace_id: str, span_id: str, event) -> str:
    fields: dict[str, object] = {}
    if event.name:
        fields["event.name"] = event.name
    if len(event.attributes):
        dropped = event.dropped_attributes_count + _attributes_field({kv.key: kv.value for kv in event.attributes}, fields,
                                                                     len(event.attributes))
        if dropped:
            fields["dropped_attributes_count"] = Uint(dropped)
    return encode_line("logs", {"trace_id": trace_id, "span_id": span_id}, fields, event.time_unix_nano)


def _link(trace_id: str, span_id: str, ts: int, link) -> str:
    if not any(link.trace_id):
        raise SchemaError("span link has no trace ID")
    if not any(link.span_id):
        raise SchemaError("span link has no span ID")
    tags = {"trace_id": trace_id, "span_id": span_id, "linked_trace_id": link.trace_id.hex(), "linked_span_id": link.span_id.hex()}
    fields: dict[str, object] = {}
    if link.trace_state:
        fields["trace_state"] = link.trace_state
    if len(link.attributes):
        dropped = link.dropped_attributes_count + _attributes_field({kv.key: kv.value for kv in link.attributes}, fields,
                                                                    len(link.attributes))
        if dropped:
            fields["dropped_attributes_count"] = Uint(dropped)
    return encode_line("span-links", tags, fields, ts)


def log_lines(rl, dims: frozenset[str]) -> Iterator[str]:
    for sl in rl.scope_logs:
        for record in sl.log_records:
            yield _log(record, rl.resource.attributes, sl.scope.attributes, dims)


def _log(record, resource_attrs, scope_attrs, dims: frozenset[str]) -> str:
    ts = record.time_unix_nano  # upstream's "now" for a missing time never applies: 0 reads as 1970, not zero
    tags: dict[str, str] = {}
    fields: dict[str, object] = {}
    if record.observed_time_unix_nano:
        fields["observed_time_unix_nano"] = record.observed_time_unix_nano
    if any(record.trace_id) and any(record.span_id):
        tags["trace_id"], tags["span_id"] = record.trace_id.hex(), record.span_id.hex()
    if record.severity_number:
        fields["severity_number"] = int(record.severity_number)
    if record.severity_text:
        fields["severity_text"] = record.severity_text
    fields["body"] = as_string(record.body)
    dropped = record.dropped_attributes_count
    rest: dict = {}
    for attrs in (resource_attrs, scope_attrs, record.attributes):
        for kv in attrs:
            if not kv.key:
                continue
            if kv.key in dims:
                tags[kv.key] = as_string(kv.value)
            else:
                rest[kv.key] = kv.value
    dropped += _attributes_field(rest, fields, len(record.attributes))
    for key in tags:
        if key in fields:
            dropped += 1
            del fields[key]
    if dropped:
        fields["dropped_attributes_count"] = Uint(dropped)
    return encode_line("logs", tags, fields, ts)
