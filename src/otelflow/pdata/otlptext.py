"""Human-readable renderings of OTLP export requests, as the upstream ``debug`` exporter prints them.

Two renderings exist upstream and both live here:

* the *detailed* one (``traces_text``, ``metrics_text``, ``logs_text``): several lines per item,
  every field, as upstream's ``otlptext`` marshaler writes it;
* the *normal* one (``traces_normal``, ``metrics_normal``, ``logs_normal``): about one line per
  item, as upstream's ``normal`` marshaler writes it.

Values are formatted the way Go formats them there (``%f`` with six decimals, ``%v`` shortest
floats, ``time.Time.String()`` timestamps, pcommon's ``Value.AsString``), so the text matches
byte for byte.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Iterable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.pdata.govalue import format_float_f6, format_float_g, value_as_string

__all__ = [
    "traces_text",
    "metrics_text",
    "logs_text",
    "traces_normal",
    "metrics_normal",
    "logs_normal",
    "value_as_string",
    "format_timestamp",
]

# ---------------------------------------------------------------------------------------------
# Enum names as pdata's String() methods spell them (unknown numbers print as "").

_SPAN_KIND = ["Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"]
_STATUS_CODE = ["Unset", "Ok", "Error"]
_TEMPORALITY = ["Unspecified", "Delta", "Cumulative"]
_SEVERITY = ["Unspecified"] + [
    f"{level}{suffix}"
    for level in ("Trace", "Debug", "Info", "Warn", "Error", "Fatal")
    for suffix in ("", "2", "3", "4")
]
_METRIC_TYPE = {
    None: "Empty",
    "gauge": "Gauge",
    "sum": "Sum",
    "histogram": "Histogram",
    "exponential_histogram": "ExponentialHistogram",
    "summary": "Summary",
}
_VALUE_TYPE = {
    None: "Empty",
    "string_value": "Str",
    "bool_value": "Bool",
    "int_value": "Int",
    "double_value": "Double",
    "array_value": "Slice",
    "kvlist_value": "Map",
    "bytes_value": "Bytes",
}


def _enum_name(names: list[str], number: int) -> str:
    return names[number] if 0 <= number < len(names) else ""


# ---------------------------------------------------------------------------------------------
# Go number formatting and pcommon values: see otelflow.pdata.govalue.

_INT64_WRAP = 1 << 64


def _typed_value(v: AnyValue) -> str:
    return f"{_VALUE_TYPE[v.WhichOneof('value')]}({value_as_string(v)})"


# ---------------------------------------------------------------------------------------------
# IDs and timestamps.


def _id_hex(raw: bytes) -> str:
    """TraceID/SpanID ``String()``: empty for the all-zero ID."""
    return raw.hex() if any(raw) else ""


_EPOCH = _dt.datetime(1970, 1, 1)


def format_timestamp(ns: int) -> str:
    """pcommon.Timestamp ``String()``: Go's ``time.Time.String()`` of the instant, in UTC."""
    if ns >= 1 << 63:
        ns -= _INT64_WRAP
    seconds, nanos = divmod(ns, 1_000_000_000)
    try:
        t = _EPOCH + _dt.timedelta(seconds=seconds)
    except OverflowError:  # pragma: no cover - outside datetime's range; cannot come from int64
        return str(ns)
    frac = f"{nanos:09d}".rstrip("0")
    frac = "." + frac if frac else ""
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f"{frac} +0000 UTC"
    )


# ---------------------------------------------------------------------------------------------
# Detailed ("otlptext") rendering.


class _Buffer:
    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines: list[str] = []

    def entry(self, line: str) -> None:
        self.lines.append(line)

    def attr(self, name: str, value: str) -> None:
        self.lines.append(f"    {name:<15}: {value}")

    def attributes(self, header: str, kvs) -> None:
        if not kvs:
            return
        self.lines.append(header + ":")
        prefix = "     ->"
        head, sep, _ = header.partition("->")
        if sep:
            prefix = head + prefix
        for kv in kvs:
            self.lines.append(f"{prefix} {kv.key}: {_typed_value(kv.value)}")

    def entity_refs(self, resource) -> None:
        refs = resource.entity_refs
        if not refs:
            return
        self.lines.append("Resource entity refs:")
        for i, ref in enumerate(refs):
            self.lines.append(f"     -> Entity ref #{i}:")
            self.lines.append(f"          -> Type: {ref.type}")
            if ref.schema_url:
                self.lines.append(f"          -> Schema URL: {ref.schema_url}")
            if ref.id_keys:
                self.lines.append("          -> ID keys:")
                self.lines.extend(f"               -> {k}" for k in ref.id_keys)
            if ref.description_keys:
                self.lines.append("          -> Description keys:")
                self.lines.extend(f"               -> {k}" for k in ref.description_keys)

    def resource(self, index_label: str, holder) -> None:
        self.lines.append(index_label)
        self.lines.append(f"Resource SchemaURL: {holder.schema_url}")
        self.attributes("Resource attributes", holder.resource.attributes)
        self.entity_refs(holder.resource)

    def scope(self, label: str, index: int, holder) -> None:
        self.lines.append(f"{label} #{index}")
        self.lines.append(f"{label} SchemaURL: {holder.schema_url}")
        self.lines.append(f"InstrumentationScope {holder.scope.name} {holder.scope.version}")
        self.attributes("InstrumentationScope attributes", holder.scope.attributes)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else ""


def traces_text(req: ExportTraceServiceRequest) -> str:
    """The detailed text of a traces request."""
    b = _Buffer()
    for i, rs in enumerate(req.resource_spans):
        b.resource(f"ResourceSpans #{i}", rs)
        for j, ss in enumerate(rs.scope_spans):
            b.scope("ScopeSpans", j, ss)
            for k, span in enumerate(ss.spans):
                b.entry(f"Span #{k}")
                b.attr("Trace ID", _id_hex(span.trace_id))
                b.attr("Parent ID", _id_hex(span.parent_span_id))
                b.attr("ID", _id_hex(span.span_id))
                b.attr("Name", span.name)
                b.attr("Kind", _enum_name(_SPAN_KIND, span.kind))
                if span.trace_state:
                    b.attr("TraceState", span.trace_state)
                b.attr("Start time", format_timestamp(span.start_time_unix_nano))
                b.attr("End time", format_timestamp(span.end_time_unix_nano))
                b.attr("Status code", _enum_name(_STATUS_CODE, span.status.code))
                b.attr("Status message", span.status.message)
                b.attr("DroppedAttributesCount", str(span.dropped_attributes_count))
                b.attr("DroppedEventsCount", str(span.dropped_events_count))
                b.attr("DroppedLinksCount", str(span.dropped_links_count))
                b.attributes("Attributes", span.attributes)
                if span.events:
                    b.entry("Events:")
                    for n, ev in enumerate(span.events):
                        b.entry(f"SpanEvent #{n}")
                        b.entry(f"     -> Name: {ev.name}")
                        b.entry(f"     -> Timestamp: {format_timestamp(ev.time_unix_nano)}")
                        b.entry(f"     -> DroppedAttributesCount: {ev.dropped_attributes_count}")
                        b.attributes("     -> Attributes:", ev.attributes)
                if span.links:
                    b.entry("Links:")
                    for n, link in enumerate(span.links):
                        b.entry(f"SpanLink #{n}")
                        b.entry(f"     -> Trace ID: {_id_hex(link.trace_id)}")
                        b.entry(f"     -> ID: {_id_hex(link.span_id)}")
                        b.entry(f"     -> TraceState: {link.trace_state}")
                        b.entry(f"     -> DroppedAttributesCount: {link.dropped_attributes_count}")
                        b.attributes("     -> Attributes:", link.attributes)
    return b.text()


def _exemplars(b: _Buffer, exemplars) -> None:
    if not exemplars:
        return
    b.entry("Exemplars:")
    for i, ex in enumerate(exemplars):
        b.entry(f"Exemplar #{i}")
        b.entry(f"     -> Trace ID: {_id_hex(ex.trace_id)}")
        b.entry(f"     -> Span ID: {_id_hex(ex.span_id)}")
        b.entry(f"     -> Timestamp: {format_timestamp(ex.time_unix_nano)}")
        kind = ex.WhichOneof("value")
        if kind == "as_int":
            b.entry(f"     -> Value: {ex.as_int}")
        elif kind == "as_double":
            b.entry(f"     -> Value: {format_float_f6(ex.as_double)}")
        b.attributes("     -> FilteredAttributes", ex.filtered_attributes)


def _point_head(b: _Buffer, label: str, index: int, p) -> None:
    b.entry(f"{label} #{index}")
    b.attributes("Data point attributes", p.attributes)
    b.entry(f"StartTimestamp: {format_timestamp(p.start_time_unix_nano)}")
    b.entry(f"Timestamp: {format_timestamp(p.time_unix_nano)}")


def _number_points(b: _Buffer, points) -> None:
    for i, p in enumerate(points):
        _point_head(b, "NumberDataPoints", i, p)
        kind = p.WhichOneof("value")
        if kind == "as_int":
            b.entry(f"Value: {p.as_int}")
        elif kind == "as_double":
            b.entry(f"Value: {format_float_f6(p.as_double)}")
        _exemplars(b, p.exemplars)


def _sum_min_max(b: _Buffer, p) -> None:
    if p.HasField("sum"):
        b.entry(f"Sum: {format_float_f6(p.sum)}")
    if p.HasField("min"):
        b.entry(f"Min: {format_float_f6(p.min)}")
    if p.HasField("max"):
        b.entry(f"Max: {format_float_f6(p.max)}")


def _histogram_points(b: _Buffer, points) -> None:
    for i, p in enumerate(points):
        _point_head(b, "HistogramDataPoints", i, p)
        b.entry(f"Count: {p.count}")
        _sum_min_max(b, p)
        for n, bound in enumerate(p.explicit_bounds):
            b.entry(f"ExplicitBounds #{n}: {format_float_f6(bound)}")
        for n, count in enumerate(p.bucket_counts):
            b.entry(f"Buckets #{n}, Count: {count}")
        _exemplars(b, p.exemplars)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _exponential_points(b: _Buffer, points) -> None:
    for i, p in enumerate(points):
        _point_head(b, "ExponentialHistogramDataPoints", i, p)
        b.entry(f"Count: {p.count}")
        _sum_min_max(b, p)
        # Bucket bounds as upstream computes them: exp(index * ln2 / 2^scale).
        factor = math.ldexp(math.log(2), -p.scale)
        neg = p.negative.bucket_counts
        for pos in range(len(neg) - 1, -1, -1):
            index = float(p.negative.offset) + float(pos)
            lower, upper = _exp(index * factor), _exp((index + 1) * factor)
            b.entry(f"Bucket [{format_float_f6(-upper)}, {format_float_f6(-lower)}), Count: {neg[pos]}")
        if p.zero_count != 0:
            b.entry(f"Bucket [0, 0], Count: {p.zero_count}")
        posb = p.positive.bucket_counts
        for pos in range(len(posb)):
            index = float(p.positive.offset) + float(pos)
            lower, upper = _exp(index * factor), _exp((index + 1) * factor)
            b.entry(f"Bucket ({format_float_f6(lower)}, {format_float_f6(upper)}], Count: {posb[pos]}")
        _exemplars(b, p.exemplars)


def _summary_points(b: _Buffer, points) -> None:
    for i, p in enumerate(points):
        _point_head(b, "SummaryDataPoints", i, p)
        b.entry(f"Count: {p.count}")
        b.entry(f"Sum: {format_float_f6(p.sum)}")
        for n, q in enumerate(p.quantile_values):
            b.entry(f"QuantileValue #{n}: Quantile {format_float_f6(q.quantile)}, Value {format_float_f6(q.value)}")


def metrics_text(req: ExportMetricsServiceRequest) -> str:
    """The detailed text of a metrics request."""
    b = _Buffer()
    for i, rm in enumerate(req.resource_metrics):
        b.resource(f"ResourceMetrics #{i}", rm)
        for j, sm in enumerate(rm.scope_metrics):
            b.scope("ScopeMetrics", j, sm)
            for k, metric in enumerate(sm.metrics):
                kind = metric.WhichOneof("data")
                b.entry(f"Metric #{k}")
                b.entry("Descriptor:")
                b.entry(f"     -> Name: {metric.name}")
                b.entry(f"     -> Description: {metric.description}")
                b.entry(f"     -> Unit: {metric.unit}")
                b.entry(f"     -> DataType: {_METRIC_TYPE[kind]}")
                b.attributes("     -> Metadata", metric.metadata)
                if kind == "gauge":
                    _number_points(b, metric.gauge.data_points)
                elif kind == "sum":
                    data = metric.sum
                    b.entry(f"     -> IsMonotonic: {'true' if data.is_monotonic else 'false'}")
                    b.entry(f"     -> AggregationTemporality: {_enum_name(_TEMPORALITY, data.aggregation_temporality)}")
                    _number_points(b, data.data_points)
                elif kind == "histogram":
                    data = metric.histogram
                    b.entry(f"     -> AggregationTemporality: {_enum_name(_TEMPORALITY, data.aggregation_temporality)}")
                    _histogram_points(b, data.data_points)
                elif kind == "exponential_histogram":
                    data = metric.exponential_histogram
                    b.entry(f"     -> AggregationTemporality: {_enum_name(_TEMPORALITY, data.aggregation_temporality)}")
                    _exponential_points(b, data.data_points)
                elif kind == "summary":
                    _summary_points(b, metric.summary.data_points)
    return b.text()


def logs_text(req: ExportLogsServiceRequest) -> str:
    """The detailed text of a logs request."""
    b = _Buffer()
    for i, rl in enumerate(req.resource_logs):
        b.resource(f"ResourceLog #{i}", rl)
        for j, sl in enumerate(rl.scope_logs):
            b.scope("ScopeLogs", j, sl)
            for k, rec in enumerate(sl.log_records):
                b.entry(f"LogRecord #{k}")
                b.entry(f"ObservedTimestamp: {format_timestamp(rec.observed_time_unix_nano)}")
                b.entry(f"Timestamp: {format_timestamp(rec.time_unix_nano)}")
                b.entry(f"SeverityText: {rec.severity_text}")
                b.entry(f"SeverityNumber: {_enum_name(_SEVERITY, rec.severity_number)}({rec.severity_number})")
                if rec.event_name:
                    b.entry(f"EventName: {rec.event_name}")
                b.entry(f"Body: {_typed_value(rec.body)}")
                b.attributes("Attributes", rec.attributes)
                b.entry(f"Trace ID: {_id_hex(rec.trace_id)}")
                b.entry(f"Span ID: {_id_hex(rec.span_id)}")
                b.entry(f"Flags: {rec.flags}")
    return b.text()


# ---------------------------------------------------------------------------------------------
# Normal rendering: about one line per item.


def _kv_strings(kvs) -> list[str]:
    return [f"{kv.key}={value_as_string(kv.value)}" for kv in kvs]


def _kv_suffix(kvs) -> str:
    parts = _kv_strings(kvs)
    return " " + " ".join(parts) if parts else ""


def _resource_details(schema_url: str) -> str:
    return f" [{schema_url}]" if schema_url else ""


def _scope_details(scope, schema_url: str) -> str:
    details = scope.name
    if scope.version:
        details += "@" + scope.version
    if schema_url:
        details += (" " if details else "") + f"[{schema_url}]"
    return " " + details if details else ""


def _normal_headers(out: list[str], res_label: str, scope_label: str, i: int, holder, scopes) -> Iterable[Any]:
    out.append(f"{res_label} #{i}{_resource_details(holder.schema_url)}{_kv_suffix(holder.resource.attributes)}\n")
    for scoped in scopes:
        # Upstream numbers scopes with the resource index; kept for identical output.
        out.append(
            f"{scope_label} #{i}{_scope_details(scoped.scope, scoped.schema_url)}"
            f"{_kv_suffix(scoped.scope.attributes)}\n"
        )
        yield scoped


def traces_normal(req: ExportTraceServiceRequest) -> str:
    out: list[str] = []
    for i, rs in enumerate(req.resource_spans):
        for ss in _normal_headers(out, "ResourceTraces", "ScopeTraces", i, rs, rs.scope_spans):
            for span in ss.spans:
                line = f"{span.name} {_id_hex(span.trace_id)} {_id_hex(span.span_id)}"
                if span.attributes:
                    line += " " + " ".join(_kv_strings(span.attributes))
                out.append(line + "\n")
    return "".join(out)


def logs_normal(req: ExportLogsServiceRequest) -> str:
    out: list[str] = []
    for i, rl in enumerate(req.resource_logs):
        for sl in _normal_headers(out, "ResourceLog", "ScopeLog", i, rl, rl.scope_logs):
            for rec in sl.log_records:
                out.append(f"{value_as_string(rec.body)} {' '.join(_kv_strings(rec.attributes))}\n")
    return "".join(out)


def _point_line(name: str, p, value: str) -> str:
    return f"{name}{{{','.join(_kv_strings(p.attributes))}}} {value}\n"


def _hist_value(p) -> str:
    value = f"count={p.count}"
    if p.HasField("sum"):
        value += f" sum={format_float_g(p.sum)}"
    if p.HasField("min"):
        value += f" min={format_float_g(p.min)}"
    if p.HasField("max"):
        value += f" max={format_float_g(p.max)}"
    return value


def metrics_normal(req: ExportMetricsServiceRequest) -> str:
    out: list[str] = []
    for i, rm in enumerate(req.resource_metrics):
        for sm in _normal_headers(out, "ResourceMetrics", "ScopeMetrics", i, rm, rm.scope_metrics):
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind in ("gauge", "sum"):
                    for p in getattr(metric, kind).data_points:
                        vk = p.WhichOneof("value")
                        value = str(p.as_int) if vk == "as_int" else format_float_g(p.as_double) if vk == "as_double" else ""
                        out.append(_point_line(metric.name, p, value))
                elif kind == "histogram":
                    for p in metric.histogram.data_points:
                        value = _hist_value(p)
                        bounds = p.explicit_bounds
                        for n, count in enumerate(p.bucket_counts):
                            bound = f"le{format_float_g(bounds[n])}=" if n < len(bounds) else ""
                            value += f" {bound}{count}"
                        out.append(_point_line(metric.name, p, value))
                elif kind == "exponential_histogram":
                    for p in metric.exponential_histogram.data_points:
                        out.append(_point_line(metric.name, p, _hist_value(p)))
                elif kind == "summary":
                    for p in metric.summary.data_points:
                        value = f"count={p.count} sum={format_float_f6(p.sum)}"
                        for q in p.quantile_values:
                            value += f" q{format_float_g(q.quantile)}={format_float_g(q.value)}"
                        out.append(_point_line(metric.name, p, value))
    return "".join(out)
