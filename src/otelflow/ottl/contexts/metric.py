"""The metric context and its ``metric.*`` paths (ctxmetric).

Paths: ``name``, ``description``, ``unit``, ``type`` (int; setting it does nothing),
``aggregation_temporality`` (int, nil for gauges/summaries), ``is_monotonic`` (bool, nil unless a
sum), ``data_points`` (the pmetric.*DataPointSlice of the metric's type), ``metadata``,
``metadata[...]``, plus ``cache``. The context also accepts ``resource.*``, ``scope.*`` and
``instrumentation_scope.*``.
"""

from __future__ import annotations

from . import resource, scope
from ._common import context_def, map_accessor, path_parser, str_field
from .keys import expect_bool, expect_int, set_message_slice, to_int32
from .registry import DOC_BASE, Accessor, ContextDef
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


PATHS = {
    "name": str_field("metric", "name"),
    "description": str_field("metric", "description"),
    "unit": str_field("metric", "unit"),
    "type": _type(),
    "aggregation_temporality": _agg_temporality(),
    "is_monotonic": _is_monotonic(),
    "data_points": _data_points(),
    "metadata": lambda path: map_accessor("metric.metadata", path.keys()),
}

parse_path = path_parser(NAME, DOC_REF, PATHS)
parse_path.__doc__ = "ctxmetric.PathGetSetter."


def make_context(otelcol_parser=None) -> ContextDef:
    return context_def(NAME, DOC_REF, (NAME, scope.LEGACY_NAME, scope.NAME, resource.NAME, "otelcol"),
                       parse_path, (resource, scope), otelcol_parser, ENUMS)
