"""The transform processor's metric functions that convert, copy, scale and extract metrics
(upstream processor/transformprocessor/internal/metrics, v0.161.0).

Metric-context functions: convert_sum_to_gauge, convert_gauge_to_sum,
convert_summary_quantile_val_to_gauge, copy_metric, scale_metric, extract_sum_metric,
extract_count_metric. Datapoint-context functions: convert_summary_sum_val_to_sum,
convert_summary_count_val_to_sum (each summary data point appends a metric built from *all* the
summary's data points, as upstream does). New metrics are appended to the scope's metric list, so
the metric loop of the same group visits them too.
"""

from __future__ import annotations

from opentelemetry.proto.metrics.v1 import metrics_pb2

from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.functions import FunctionTable, Kind as K, P

from ._pdata import (CUMULATIVE, DELTA, append_metric, copy_attributes, float_to_int64, metric_type, type_name,
                     uint_to_int64)

METRIC = FunctionTable()
DATAPOINT = FunctionTable()


def _temporality(text: str) -> int:
    if text == "delta":
        return DELTA
    if text == "cumulative":
        return CUMULATIVE
    raise OttlConfigError(f"unknown aggregation temporality: {text}")


# ------------------------------------------------------------------------------ conversions


@METRIC.function("convert_sum_to_gauge")
def build_convert_sum_to_gauge():
    def run(ctx):
        metric = ctx.metric
        if metric_type(metric) != "sum":
            return None
        gauge = metrics_pb2.Gauge()
        gauge.data_points.extend(metric.sum.data_points)
        metric.gauge.CopyFrom(gauge)  # switching the oneof drops the sum
        return None
    return run


@METRIC.function("convert_gauge_to_sum", P("string_agg_temp", K.STRING), P("monotonic", K.BOOL))
def build_convert_gauge_to_sum(string_agg_temp, monotonic):
    temporality = _temporality(string_agg_temp)

    def run(ctx):
        metric = ctx.metric
        if metric_type(metric) != "gauge":
            return None
        s = metrics_pb2.Sum(aggregation_temporality=temporality, is_monotonic=monotonic)
        s.data_points.extend(metric.gauge.data_points)
        metric.sum.CopyFrom(s)
        return None
    return run


def _summary_to_sum(default_suffix: str, use_sum: bool):
    def build(string_agg_temp, monotonic, suffix=None):
        name_suffix = default_suffix if suffix is None else suffix
        temporality = _temporality(string_agg_temp)

        def run(ctx):
            metric = ctx.metric
            if metric_type(metric) != "summary":
                return None
            new = ctx.metrics.add()
            new.description = metric.description
            new.name = metric.name + name_suffix
            new.unit = metric.unit
            new.sum.aggregation_temporality = temporality
            new.sum.is_monotonic = monotonic
            points = new.sum.data_points
            for dp in metric.summary.data_points:
                out = points.add()
                copy_attributes(dp.attributes, out.attributes)
                if use_sum:
                    out.as_double = dp.sum
                else:
                    out.as_int = uint_to_int64(dp.count)
                out.start_time_unix_nano = dp.start_time_unix_nano
                out.time_unix_nano = dp.time_unix_nano
            return None
        return run
    return build


_SUMMARY_PARAMS = (P("string_agg_temp", K.STRING), P("monotonic", K.BOOL), P("suffix", K.STRING, optional=True))
DATAPOINT.function("convert_summary_sum_val_to_sum", *_SUMMARY_PARAMS)(_summary_to_sum("_sum", True))
DATAPOINT.function("convert_summary_count_val_to_sum", *_SUMMARY_PARAMS)(_summary_to_sum("_count", False))


@METRIC.function("convert_summary_quantile_val_to_gauge", P("attribute_key", K.STRING, optional=True),
                 P("suffix", K.STRING, optional=True))
def build_convert_summary_quantile_val_to_gauge(attribute_key=None, suffix=None):
    name_suffix = ".quantiles" if suffix is None else suffix
    key = "quantile" if attribute_key is None else attribute_key

    def run(ctx):
        metric = ctx.metric
        if metric_type(metric) != "summary":
            return None
        new = ctx.metrics.add()
        new.description = metric.description
        new.name = metric.name + name_suffix
        new.unit = metric.unit
        new.gauge.SetInParent()
        points = new.gauge.data_points
        for dp in metric.summary.data_points:
            for q in dp.quantile_values:
                out = points.add()
                copy_attributes(dp.attributes, out.attributes)
                _put_double(out.attributes, key, q.quantile)
                out.as_double = q.value
                out.start_time_unix_nano = dp.start_time_unix_nano
                out.time_unix_nano = dp.time_unix_nano
        return None
    return run


def _put_double(attrs, key: str, value: float) -> None:
    for kv in attrs:
        if kv.key == key:
            kv.value.Clear()
            kv.value.double_value = value
            return
    attrs.add(key=key).value.double_value = value


# ------------------------------------------------------------------------------ copy_metric


@METRIC.function("copy_metric", P("name", K.STRING_GETTER, optional=True),
                 P("description", K.STRING_GETTER, optional=True), P("unit", K.STRING_GETTER, optional=True))
def build_copy_metric(name=None, description=None, unit=None):
    def run(ctx):
        new = ctx.metrics.add()
        new.CopyFrom(ctx.metric)
        if name is not None:
            new.name = name(ctx)
        if description is not None:
            new.description = description(ctx)
        if unit is not None:
            new.unit = unit(ctx)
        return None
    return run


# ------------------------------------------------------------------------------ scale_metric


def _scale_exemplar(ex, multiplier: float) -> None:
    kind = ex.WhichOneof("value")
    if kind == "as_int":
        ex.as_int = float_to_int64(float(ex.as_int) * multiplier)
    elif kind == "as_double":
        ex.as_double = ex.as_double * multiplier


def _scale_numbers(points, multiplier: float) -> None:
    for dp in points:
        kind = dp.WhichOneof("value")
        if kind == "as_int":
            dp.as_int = float_to_int64(float(dp.as_int) * multiplier)
        elif kind == "as_double":
            dp.as_double = dp.as_double * multiplier


def _scale_histograms(points, multiplier: float) -> None:
    for dp in points:
        if dp.HasField("sum"):
            dp.sum = dp.sum * multiplier
        if dp.HasField("min"):
            dp.min = dp.min * multiplier
        if dp.HasField("max"):
            dp.max = dp.max * multiplier
        bounds = dp.explicit_bounds
        for i in range(len(bounds)):
            bounds[i] = bounds[i] * multiplier
        for ex in dp.exemplars:
            _scale_exemplar(ex, multiplier)


def _scale_summaries(points, multiplier: float) -> None:
    for dp in points:
        dp.sum = dp.sum * multiplier
        for q in dp.quantile_values:
            q.value = q.value * multiplier


@METRIC.function("scale_metric", P("multiplier", K.FLOAT), P("unit", K.STRING_GETTER, optional=True))
def build_scale_metric(multiplier, unit=None):
    def run(ctx):
        metric = ctx.metric
        new_unit = None
        if unit is not None:
            try:
                new_unit = unit(ctx)
            except OttlError as e:
                raise OttlError(f"could not get unit from ScaleArguments: {e}") from None
        kind = metric_type(metric)
        if kind == "gauge":
            _scale_numbers(metric.gauge.data_points, multiplier)
        elif kind == "histogram":
            _scale_histograms(metric.histogram.data_points, multiplier)
        elif kind == "summary":
            _scale_summaries(metric.summary.data_points, multiplier)
        elif kind == "sum":
            _scale_numbers(metric.sum.data_points, multiplier)
        elif kind == "exponential_histogram":
            raise OttlError("exponential histograms are not supported by the 'scale_metric' function")
        else:
            raise OttlError(f"unsupported metric type: '{type_name(metric)}'")
        if new_unit is not None:
            metric.unit = new_unit
        return None
    return run


# ------------------------------------------------------------------------------ extract_sum/count


def _aggregation_temporality(metric) -> int:
    kind = metric_type(metric)
    if kind == "histogram":
        return metric.histogram.aggregation_temporality
    if kind == "exponential_histogram":
        return metric.exponential_histogram.aggregation_temporality
    if kind == "summary":
        return CUMULATIVE
    return 0


def _invalid_type(name: str, metric) -> OttlError:
    return OttlError(f"{name} requires an input metric of type Histogram, ExponentialHistogram or Summary, "
                     f"got {type_name(metric)}")


def _extract(func_name: str, default_suffix: str, counting: bool):
    def build(monotonic, suffix=None):
        name_suffix = default_suffix if suffix is None else suffix

        def run(ctx):
            metric = ctx.metric
            temporality = _aggregation_temporality(metric)
            if temporality == 0:
                raise _invalid_type(func_name, metric)
            kind = metric_type(metric)
            if kind not in ("histogram", "exponential_histogram", "summary"):
                raise _invalid_type(func_name, metric)
            new = metrics_pb2.Metric(description=metric.description, name=metric.name + name_suffix,
                                     unit="1" if counting else metric.unit)
            new.sum.aggregation_temporality = temporality
            new.sum.is_monotonic = monotonic
            points = new.sum.data_points
            for dp in getattr(metric, kind).data_points:
                if not counting and kind != "summary" and not dp.HasField("sum"):
                    continue
                out = points.add()
                copy_attributes(dp.attributes, out.attributes)
                if counting:
                    out.as_int = uint_to_int64(dp.count)
                else:
                    out.as_double = dp.sum
                out.start_time_unix_nano = dp.start_time_unix_nano
                out.time_unix_nano = dp.time_unix_nano
            if len(points) > 0:
                append_metric(ctx.metrics, new)
            return None
        return run
    return build


_EXTRACT_PARAMS = (P("monotonic", K.BOOL), P("suffix", K.STRING, optional=True))
METRIC.function("extract_sum_metric", *_EXTRACT_PARAMS)(_extract("extract_sum_metric", "_sum", False))
METRIC.function("extract_count_metric", *_EXTRACT_PARAMS)(_extract("extract_count_metric", "_count", True))
