"""OTLP metrics to InfluxDB points in the three schemas of influxdb-observability's otel2influx
(v0.5.12, what upstream's exporter v0.161.0 uses).

* ``telegraf-prometheus-v1`` (default): measurement = metric name; field ``gauge`` or ``counter``
  (monotonic cumulative sums), histograms ``count``/``sum``/``min``/``max`` and one field per bucket
  bound with cumulative counts (``+Inf`` last), summaries ``count``/``sum`` and one field per quantile.
* ``telegraf-prometheus-v2``: measurement ``prometheus``; the field is the metric name (with
  ``_count``/``_sum``/``_min``/``_max``; buckets and quantiles as separate points tagged ``le`` /
  ``quantile``).
* ``otel-v1``: measurement ``<name>_<unit>_<type>``; sums and histograms only.

Tags: resource attributes, then scope name/version (``otel.library.name``/``otel.library.version``)
and scope attributes, then point attributes, each value as pdata's ``AsString``. Exemplars with
trace and span IDs become ``<name>_exemplar`` points (telegraf schemas). A point without a
timestamp is written at 0 (upstream's check for it never fires: pdata's time 0 is 1970, not Go's zero time).
A metric type a schema cannot write fails the whole request permanently, as upstream.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Callable, Iterator

from otelflow.exporters.influxdb.lineprotocol import Uint, go_f

Point = tuple[str, dict[str, str], dict[str, object], int]

_TEMPORALITY = {0: "Unspecified", 1: "Delta", 2: "Cumulative"}
_TYPE = {"gauge": "Gauge", "sum": "Sum", "histogram": "Histogram", "exponential_histogram": "ExponentialHistogram",
         "summary": "Summary", None: "Empty"}


class SchemaError(ValueError):
    """The request cannot be written in this schema (upstream: a permanent error)."""


def as_string(value) -> str:
    """pcommon.Value.AsString."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return go_f(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind in ("array_value", "kvlist_value"):
        try:
            return _go_json(value)
        except NotJSON:
            return ""  # pcommon's AsString gives up on NaN/Inf inside, too
    return ""


class NotJSON(ValueError):
    pass


def _go_json_float(x: float) -> str:
    if math.isnan(x) or math.isinf(x):
        raise NotJSON("unsupported value")
    a = abs(x)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        text = repr(x)
        mant, _, exp = text.partition("e")
        if exp.startswith("-0"):
            exp = "-" + exp[2:]
        return f"{mant}e{exp}"
    return go_f(x)


def _go_json_string(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)
    return (out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _go_json(value) -> str:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return _go_json_string(value.string_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return _go_json_float(value.double_value)
    if kind == "bytes_value":
        return '"' + base64.b64encode(value.bytes_value).decode() + '"'
    if kind == "array_value":
        return "[" + ",".join(_go_json(v) for v in value.array_value.values) + "]"
    if kind == "kvlist_value":
        return go_json_map({kv.key: kv.value for kv in value.kvlist_value.values})
    return "null"


def go_json_map(values: dict) -> str:
    return "{" + ",".join(f"{_go_json_string(k)}:{_go_json(v)}" for k, v in sorted(values.items())) + "}"



def base_tags(resource, scope) -> dict[str, str]:
    tags = {kv.key: as_string(kv.value) for kv in resource.attributes if kv.key}
    if scope.name:
        tags["otel.library.name"] = scope.name
    if scope.version:
        tags["otel.library.version"] = scope.version
    tags.update({kv.key: as_string(kv.value) for kv in scope.attributes if kv.key})
    return tags


def _point_start(dp, base: dict[str, str]) -> tuple[dict[str, str], dict[str, object], int]:
    fields: dict[str, object] = {}
    if dp.start_time_unix_nano:
        fields["start_time_unix_nano"] = dp.start_time_unix_nano
    tags = dict(base)
    tags.update({kv.key: as_string(kv.value) for kv in dp.attributes if kv.key})
    return tags, fields, dp.time_unix_nano


def _number(dp):
    kind = dp.WhichOneof("value")
    return dp.as_double if kind == "as_double" else dp.as_int if kind == "as_int" else None


def _buckets(dp) -> Iterator[tuple[str, float]]:
    counts, bounds = list(dp.bucket_counts), list(dp.explicit_bounds)
    if counts and len(counts) != len(bounds) and len(counts) != len(bounds) + 1:
        raise SchemaError(f"invalid metric histogram bucket counts qty {len(counts)} vs explicit bounds qty {len(bounds)}")
    total = 0
    for i, c in enumerate(counts):
        total += c
        yield (go_f(bounds[i]) if i < len(bounds) else "+Inf"), float(total)


def _exemplars(name: str, dp) -> Iterator[Point]:
    for ex in dp.exemplars:
        value = _number(ex)
        if value is None or not any(ex.trace_id) or not any(ex.span_id):
            continue
        tags = {kv.key: as_string(kv.value) for kv in ex.filtered_attributes}
        tags["trace_id"], tags["span_id"] = ex.trace_id.hex(), ex.span_id.hex()
        yield name + "_exemplar", tags, {"gauge": value}, ex.time_unix_nano


def telegraf_v1(metric, base: dict[str, str]) -> Iterator[Point]:
    kind = metric.WhichOneof("data")
    name = metric.name
    if kind in ("gauge", "sum"):
        data = getattr(metric, kind)
        key = "counter" if kind == "sum" and data.is_monotonic and data.aggregation_temporality == 2 else "gauge"
        for dp in data.data_points:
            tags, fields, ts = _point_start(dp, base)
            value = _number(dp)
            if value is None:
                continue
            fields[key] = value
            yield name, tags, fields, ts
            yield from _exemplars(name, dp)
    elif kind == "histogram":
        for dp in metric.histogram.data_points:
            tags, fields, ts = _point_start(dp, base)
            _histogram_stats(dp, fields, "")
            fields.update(_buckets(dp))
            yield name, tags, fields, ts
            yield from _exemplars(name, dp)
    elif kind == "summary":
        for dp in metric.summary.data_points:
            tags, fields, ts = _point_start(dp, base)
            fields["count"], fields["sum"] = float(dp.count), dp.sum
            for q in dp.quantile_values:
                fields[go_f(q.quantile)] = q.value
            yield name, tags, fields, ts
    elif kind is not None:
        raise SchemaError(f'unknown metric type "{_TYPE[kind]}"')


def _histogram_stats(dp, fields: dict, prefix: str) -> None:
    fields[prefix + ("_count" if prefix else "count")] = float(dp.count)
    for stat in ("sum", "min", "max"):
        if dp.HasField(stat):
            fields[f"{prefix}_{stat}" if prefix else stat] = getattr(dp, stat)


def telegraf_v2(metric, base: dict[str, str]) -> Iterator[Point]:
    kind = metric.WhichOneof("data")
    name = metric.name
    if kind in ("gauge", "sum"):
        for dp in getattr(metric, kind).data_points:
            tags, fields, ts = _point_start(dp, base)
            value = _number(dp)
            if value is None:
                continue
            fields[name] = value
            yield "prometheus", tags, fields, ts
            yield from _exemplars(name, dp)
    elif kind == "histogram":
        for dp in metric.histogram.data_points:
            tags, fields, ts = _point_start(dp, base)
            _histogram_stats(dp, fields, name)
            yield "prometheus", tags, fields, ts
            for bound, count in _buckets(dp):
                yield "prometheus", {**tags, "le": bound}, {name + "_bucket": count}, ts
            yield from _exemplars(name, dp)
    elif kind == "summary":
        for dp in metric.summary.data_points:
            tags, fields, ts = _point_start(dp, base)
            fields[name + "_count"], fields[name + "_sum"] = float(dp.count), dp.sum
            yield "prometheus", tags, fields, ts
            for q in dp.quantile_values:
                yield "prometheus", {**tags, "quantile": go_f(q.quantile)}, {name: q.value}, ts
    elif kind is not None:
        raise SchemaError(f'unknown metric type "{_TYPE[kind]}"')


def otel_v1(metric, base: dict[str, str]) -> Iterator[Point]:
    kind = metric.WhichOneof("data")
    measurement = f"{metric.name}_{metric.unit}_{_TYPE[kind].lower()}"
    if kind == "sum":
        temporality = _TEMPORALITY.get(metric.sum.aggregation_temporality, "").lower()
        mono = "monotonic" if metric.sum.is_monotonic else "nonmonotonic"
        for dp in metric.sum.data_points:
            value_kind = dp.WhichOneof("value")
            if value_kind is None:
                raise SchemaError("unsupported data point value type 'Empty'")
            fields: dict[str, object] = {}
            if dp.start_time_unix_nano:
                fields["start_time_unix_nano"] = dp.start_time_unix_nano
            fields[f"value_{temporality}_{mono}_{'int' if value_kind == 'as_int' else 'double'}"] = _number(dp)
            yield measurement, _otel_tags(dp, base), fields, dp.time_unix_nano
    elif kind == "histogram":
        temporality = _TEMPORALITY.get(metric.histogram.aggregation_temporality, "").lower()
        for dp in metric.histogram.data_points:
            counts, bounds = list(dp.bucket_counts), list(dp.explicit_bounds)
            if counts and len(counts) != len(bounds) and len(counts) != len(bounds) + 1:
                raise SchemaError(f"invalid metric histogram bucket counts qty {len(counts)} vs explicit bounds qty {len(bounds)}")
            fields = {}
            if dp.start_time_unix_nano:
                fields["start_time_unix_nano"] = dp.start_time_unix_nano
            for i, bound in enumerate(bounds):
                fields[f"{temporality}_{go_f(bound)}"] = Uint(counts[i] if i < len(counts) else 0)
            fields["count"] = Uint(dp.count)
            if dp.HasField("sum"):
                fields["sum"] = dp.sum
            if dp.HasField("min") and dp.HasField("max"):
                fields["min"], fields["max"] = dp.min, dp.max
            yield measurement, _otel_tags(dp, base), fields, dp.time_unix_nano
    else:
        raise SchemaError(f'unrecognized metric type "{_TYPE[kind]}"')


def _otel_tags(dp, base: dict[str, str]) -> dict[str, str]:
    tags = dict(base)
    tags.update({kv.key: as_string(kv.value) for kv in dp.attributes})
    return tags


SCHEMAS: dict[str, Callable[..., Iterator[Point]]] = {
    "telegraf-prometheus-v1": telegraf_v1,
    "telegraf-prometheus-v2": telegraf_v2,
    "otel-v1": otel_v1,
}
