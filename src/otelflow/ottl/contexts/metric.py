"""The metric context and its ``metric.*`` paths (ctxmetric).

Paths: ``name``, ``description``, ``unit``, ``type`` (int; setting it does nothing),
``aggregation_temporality`` (int, nil for gauges/summaries), ``is_monotonic`` (bool, nil unless a
sum), ``data_points`` (the pmetric.*DataPointSlice of the metric's type), ``metadata``,
``metadata[...]``, plus ``cache``. The context also accepts ``resource.*``, ``scope.*`` and
``instrumentation_scope.*``.
"""

from __future__ import annotations

from . import resource, scope
from ._common import map_accessor, str_field
from .keys import expect_bool, expect_int, set_message_slice, to_int32
from .registry import DOC_BASE, Accessor, ContextDef, PathCursor, segment_error
from .types import (ExponentialHistogramDataPointSlice, HistogramDataPointSlice, NumberDataPointSlice,
                    SummaryDataPointSlice)

NAME = "metric"
DOC_REF = DOC_BASE + "ottlmetric"

ENUMS = {
    "AGGREGATION_TEMPORALITY_UNSPECIFIED": 0,
    "AGGREGATION_TEMPORALITY_DELTA": 1,
    "AGGREGATION_TEMPORALITY_CUMULATIVE": 2,
    "METRIC_DATA_TYPE_NONE": 0,
    "METRIC_DATA_TYPE_GAUGE": 1,
    "METRIC_DATA_TYPE_SUM": 2,
    "METRIC_DATA_TYPE_HISTOGRAM": 3,
    "METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM": 4,
    "METRIC_DATA_TYPE_SUMMARY": 5,
}

# pmetric.MetricType of each value of the Metric.data oneof
METRIC_TYPES = {None: 0, "gauge": 1, "sum": 2, "histogram": 3, "exponential_histogram": 4, "summary": 5}
_SLICE_TYPES = {
    "gauge": NumberDataPointSlice,
    "sum": NumberDataPointSlice,
    "histogram": HistogramDataPointSlice,
    "exponential_histogram": ExponentialHistogramDataPointSlice,
    "summary": SummaryDataPointSlice,
}
_WITH_TEMPORALITY = ("sum", "histogram", "exponential_histogram")


def _metric(ctx):
    return ctx.metric


def _metadata(ctx):
    return ctx.metric.metadata


def _type() -> Accessor:
    def get(ctx):
        return METRIC_TYPES[ctx.metric.WhichOneof("data")]

    def set_(ctx, val):
        return None  # upstream leaves this unimplemented: setting the type does nothing
    return get, set_


def _agg_temporality() -> Accessor:
    def get(ctx):
        m = ctx.metric
        kind = m.WhichOneof("data")
        if kind in _WITH_TEMPORALITY:
            return getattr(m, kind).aggregation_temporality
        return None

    def set_(ctx, val):
        v = expect_int(val)
        m = ctx.metric
        kind = m.WhichOneof("data")
        if kind in _WITH_TEMPORALITY:
            getattr(m, kind).aggregation_temporality = to_int32(v)
    return get, set_


def _is_monotonic() -> Accessor:
    def get(ctx):
        m = ctx.metric
        if m.WhichOneof("data") == "sum":
            return m.sum.is_monotonic
        return None

    def set_(ctx, val):
        v = expect_bool(val)
        m = ctx.metric
        if m.WhichOneof("data") == "sum":
            m.sum.is_monotonic = v
    return get, set_


def _data_points() -> Accessor:
    def get(ctx):
        m = ctx.metric
        kind = m.WhichOneof("data")
        if kind is None:
            return None
        return _SLICE_TYPES[kind](getattr(m, kind).data_points)

    def set_(ctx, val):
        m = ctx.metric
        kind = m.WhichOneof("data")
        if kind is None:
            return None
        set_message_slice(getattr(m, kind).data_points, _SLICE_TYPES[kind], val)
    return get, set_


def parse_path(path: PathCursor) -> Accessor:
    """ctxmetric.PathGetSetter."""
    name = path.name
    if name == "name":
        return str_field(_metric, "name")
    if name == "description":
        return str_field(_metric, "description")
    if name == "unit":
        return str_field(_metric, "unit")
    if name == "type":
        return _type()
    if name == "aggregation_temporality":
        return _agg_temporality()
    if name == "is_monotonic":
        return _is_monotonic()
    if name == "data_points":
        return _data_points()
    if name == "metadata":
        return map_accessor(_metadata, path.keys())
    raise segment_error(name, path.string(), NAME, DOC_REF)


def make_context(otelcol_parser=None) -> ContextDef:
    parsers = {
        resource.NAME: resource.parse_path,
        scope.NAME: scope.parse_path,
        scope.LEGACY_NAME: scope.parse_path,
        NAME: parse_path,
    }
    if otelcol_parser is not None:
        parsers["otelcol"] = otelcol_parser
    return ContextDef(NAME, DOC_REF, (NAME, scope.LEGACY_NAME, scope.NAME, resource.NAME, "otelcol"),
                      parsers, ENUMS)
