"""OTLP export requests to column batches for the store's tables (see schema.py).

One pass over each request appends to plain Python lists, one list per column; the writer turns a
batch into an Arrow table that DuckDB ingests without a per-row round trip. Per resource and scope
the shared values (service, resource JSON, scope) are computed once, and spans without events or
links reuse one constant, because the per-span work bounds the ingest rate. For spans, the busiest
table, the C extension otelflow.native._spancols does the same from the request's wire bytes when it
is built; ``_spans_python`` stays the reference it must match.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.store.schema import LOG_COLUMNS, METRIC_COLUMNS, SPAN_COLUMNS

try:  # the span conversion in C (setup.py builds it when a compiler is there); same output
    from otelflow.native import _spancols
except ImportError:  # pragma: no cover - depends on the build
    _spancols = None

UNKNOWN_SERVICE = "unknown_service"
_EMPTY_LIST = "[]"
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode


def plain(value: Any) -> Any:
    """An AnyValue as the JSON value the store keeps (bytes as base64, maps as objects)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes_json(attributes: Any) -> str:
    if not attributes:
        return "{}"
    return _dumps({kv.key: plain(kv.value) for kv in attributes})


def _resource(resource: Any) -> tuple[str, str]:
    """(service name, resource JSON) of one resource."""
    attrs = {kv.key: plain(kv.value) for kv in resource.attributes}
    service = attrs.get("service.name")
    return (service if isinstance(service, str) and service else UNKNOWN_SERVICE), _dumps(attrs)


class Batch:
    """Columns of one table, as lists; ``rows`` counts what is in them."""

    __slots__ = ("table", "columns", "rows")

    def __init__(self, table: str, names: tuple[str, ...]):
        self.table = table
        self.columns: dict[str, list] = {name: [] for name in names}
        self.rows = 0

    def extend(self, other: "Batch") -> None:
        for name, values in other.columns.items():
            self.columns[name].extend(values)
        self.rows += other.rows


SPAN_NAMES = tuple(name for name, _ in SPAN_COLUMNS)
LOG_NAMES = tuple(name for name, _ in LOG_COLUMNS)
METRIC_NAMES = tuple(name for name, _ in METRIC_COLUMNS)


def spans(request: ExportTraceServiceRequest) -> Batch:
    """The span rows of a request: natively from its wire bytes when the extension is built."""
    if _spancols is None:
        return _spans_python(request)
    try:
        columns, rows = _spancols.spans(request.SerializeToString())
    except ValueError:
        # Only what upb would not parse back (say nesting deeper than 100, built in memory): the
        # reference below converts the message as it is.
        return _spans_python(request)
    batch = Batch("spans", ())
    batch.columns, batch.rows = columns, rows
    return batch


def _spans_python(request: ExportTraceServiceRequest) -> Batch:
    """The reference conversion; the native one must produce exactly these lists and JSON texts."""
    batch = Batch("spans", SPAN_NAMES)
    c = batch.columns
    trace_id, span_id, parent, state = c["trace_id"], c["span_id"], c["parent_span_id"], c["trace_state"]
    service_c, name_c, kind_c = c["service"], c["name"], c["kind"]
    start_c, end_c, dur_c = c["start_ns"], c["end_ns"], c["duration_ns"]
    code_c, message_c = c["status_code"], c["status_message"]
    attrs_c, events_c, links_c = c["attributes"], c["events"], c["links"]
    resource_c, scope_name_c, scope_version_c = c["resource"], c["scope_name"], c["scope_version"]
    rows = 0
    for rs in request.resource_spans:
        service, resource = _resource(rs.resource)
        for ss in rs.scope_spans:
            scope_name, scope_version = ss.scope.name, ss.scope.version
            for span in ss.spans:
                trace_id.append(span.trace_id.hex())
                span_id.append(span.span_id.hex())
                parent.append(span.parent_span_id.hex())
                state.append(span.trace_state)
                name_c.append(span.name)
                kind_c.append(span.kind)
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                start_c.append(start)
                end_c.append(end)
                dur_c.append(end - start if end > start else 0)
                status = span.status
                code_c.append(status.code)
                message_c.append(status.message)
                attrs_c.append(attributes_json(span.attributes))
                events_c.append(_events(span.events) if span.events else _EMPTY_LIST)
                links_c.append(_links(span.links) if span.links else _EMPTY_LIST)
                rows += 1
            n = len(ss.spans)
            service_c.extend([service] * n)
            resource_c.extend([resource] * n)
            scope_name_c.extend([scope_name] * n)
            scope_version_c.extend([scope_version] * n)
    batch.rows = rows
    return batch


def _events(events: Any) -> str:
    return _dumps([
        {"time_ns": e.time_unix_nano, "name": e.name, "attributes": {kv.key: plain(kv.value) for kv in e.attributes}}
        for e in events
    ])


def _links(links: Any) -> str:
    return _dumps([
        {
            "trace_id": link.trace_id.hex(),
            "span_id": link.span_id.hex(),
            "trace_state": link.trace_state,
            "attributes": {kv.key: plain(kv.value) for kv in link.attributes},
        }
        for link in links
    ])


def logs(request: ExportLogsServiceRequest) -> Batch:
    batch = Batch("logs", LOG_NAMES)
    c = batch.columns
    for rl in request.resource_logs:
        service, resource = _resource(rl.resource)
        for sl in rl.scope_logs:
            scope_name = sl.scope.name
            for record in sl.log_records:
                observed = record.observed_time_unix_nano
                c["time_ns"].append(record.time_unix_nano or observed)
                c["observed_ns"].append(observed)
                c["service"].append(service)
                c["severity_number"].append(record.severity_number)
                c["severity_text"].append(record.severity_text)
                body = record.body
                c["body"].append(body.string_value if body.WhichOneof("value") in ("string_value", None) else _dumps(plain(body)))
                c["attributes"].append(attributes_json(record.attributes))
                c["resource"].append(resource)
                c["scope_name"].append(scope_name)
                c["trace_id"].append(record.trace_id.hex())
                c["span_id"].append(record.span_id.hex())
                c["flags"].append(record.flags)
                c["event_name"].append(record.event_name)
                batch.rows += 1
    return batch


def metrics(request: ExportMetricsServiceRequest) -> Batch:
    batch = Batch("metric_points", METRIC_NAMES)
    c = batch.columns
    for rm in request.resource_metrics:
        service, resource = _resource(rm.resource)
        for sm in rm.scope_metrics:
            scope_name = sm.scope.name
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                data = getattr(metric, kind)
                temporality = getattr(data, "aggregation_temporality", 0)
                monotonic = getattr(data, "is_monotonic", False)
                for point in data.data_points:
                    c["time_ns"].append(point.time_unix_nano)
                    c["start_ns"].append(point.start_time_unix_nano)
                    c["service"].append(service)
                    c["name"].append(metric.name)
                    c["description"].append(metric.description)
                    c["unit"].append(metric.unit)
                    c["type"].append(kind)
                    c["temporality"].append(temporality)
                    c["monotonic"].append(monotonic)
                    c["attributes"].append(attributes_json(point.attributes))
                    value, count, bounds, buckets = _point_values(kind, point)
                    c["value"].append(value)
                    c["count"].append(count)
                    c["bounds"].append(bounds)
                    c["bucket_counts"].append(buckets)
                    c["resource"].append(resource)
                    c["scope_name"].append(scope_name)
                    batch.rows += 1
    return batch


def _point_values(kind: str, point: Any) -> tuple[float | None, int | None, list | None, list | None]:
    if kind in ("gauge", "sum"):
        which = point.WhichOneof("value")
        if which == "as_int":
            return float(point.as_int), None, None, None
        return (point.as_double if which == "as_double" else None), None, None, None
    if kind == "histogram":
        return point.sum, point.count, list(point.explicit_bounds), list(point.bucket_counts)
    return point.sum, point.count, None, None  # exponential_histogram, summary


CONVERTERS = {
    ExportTraceServiceRequest: spans,
    ExportLogsServiceRequest: logs,
    ExportMetricsServiceRequest: metrics,
}
