"""The data point context and its ``datapoint.*`` paths (ctxdatapoint).

``ctx.datapoint`` is a NumberDataPoint, HistogramDataPoint, ExponentialHistogramDataPoint or
SummaryDataPoint; a path the point's type lacks reads as nil, and setting it is an error (or,
for a few paths, does nothing) exactly as upstream.

Paths: ``attributes``, ``attributes[...]``, ``start_time_unix_nano``, ``time_unix_nano`` (int),
``start_time``, ``time`` (GoTime), ``value_double``, ``value_int`` (number points), ``exemplars``
(pmetric.ExemplarSlice; not summaries), ``flags``, ``count``, ``sum`` (histograms and summaries),
``bucket_counts`` ([]uint64 as a list), ``explicit_bounds`` ([]float64 as a list) (histograms),
``scale``, ``zero_count``, ``positive``, ``positive.offset``, ``positive.bucket_counts``,
``negative``, ``negative.offset``, ``negative.bucket_counts`` (exponential histograms),
``quantile_values`` (pmetric.SummaryDataPointValueAtQuantileSlice), plus ``cache``. The context
also accepts ``metric.*``, ``resource.*``, ``scope.*`` and ``instrumentation_scope.*``.
"""

from __future__ import annotations

from opentelemetry.proto.metrics.v1.metrics_pb2 import (ExponentialHistogramDataPoint, HistogramDataPoint,
                                                        NumberDataPoint, SummaryDataPoint)

from ..errors import OttlError
from ..values import GoSlice, GoTime, PMap, get_value
from . import metric, resource, scope
from .keys import (expect_float, expect_int, expect_time, expect_type, get_map_value, set_float_slice,
                   set_map, set_map_value, set_message_slice, set_uint_slice, to_int32, to_int64,
                   to_uint32, to_uint64)
from .registry import DOC_BASE, Accessor, ContextDef, PathCursor, segment_error
from .types import (DATAPOINT_GO_TYPES, ExemplarSlice, ExponentialHistogramDataPointBuckets,
                    SummaryDataPointValueAtQuantileSlice, go_type_name)

NAME = "datapoint"
DOC_REF = DOC_BASE + "ottldatapoint"

ENUMS = {"FLAG_NONE": 0, "FLAG_NO_RECORDED_VALUE": 1, **metric.ENUMS}

_ALL = frozenset((NumberDataPoint, HistogramDataPoint, ExponentialHistogramDataPoint, SummaryDataPoint))
_WITH_EXEMPLARS = frozenset((NumberDataPoint, HistogramDataPoint, ExponentialHistogramDataPoint))
_WITH_COUNT = frozenset((HistogramDataPoint, ExponentialHistogramDataPoint, SummaryDataPoint))


def _unsupported(dp) -> OttlError:
    return OttlError(f"unsupported data point type: {go_type_name(dp)}")


def _expect_point(dp, cls):
    """ctxutil.ExpectType[pmetric.<cls>](tCtx.GetDataPoint())."""
    if type(dp) is not cls:
        expect_type(dp, False, DATAPOINT_GO_TYPES[cls])
    return dp


def _attributes(keys) -> Accessor:
    if keys is None:
        def get(ctx):
            dp = ctx.datapoint
            if type(dp) in _ALL:
                return PMap(dp.attributes)
            return None

        def set_(ctx, val):
            dp = ctx.datapoint
            if type(dp) not in _ALL:
                raise _unsupported(dp)
            set_map(dp.attributes, val)
        return get, set_

    if len(keys) == 1 and keys[0].s is not None:
        name = keys[0].s

        def get_lit(ctx):
            dp = ctx.datapoint
            if type(dp) in _ALL:
                for kv in dp.attributes:
                    if kv.key == name:
                        return get_value(kv.value)
            return None
    else:
        def get_lit(ctx):
            dp = ctx.datapoint
            if type(dp) in _ALL:
                return get_map_value(ctx, dp.attributes, keys)
            return None

    def set_k(ctx, val):
        dp = ctx.datapoint
        if type(dp) not in _ALL:
            raise _unsupported(dp)
        set_map_value(ctx, dp.attributes, keys, val)
    return get_lit, set_k


def _time_unix_nano(field: str) -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) in _ALL:
            return to_int64(getattr(dp, field))
        return None

    def set_(ctx, val):
        v = expect_int(val)
        dp = ctx.datapoint
        if type(dp) not in _ALL:
            raise _unsupported(dp)
        setattr(dp, field, to_uint64(v))
    return get, set_


def _time(field: str) -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) in _ALL:
            return GoTime(to_int64(getattr(dp, field)))
        return None

    def set_(ctx, val):
        t = expect_time(val)
        dp = ctx.datapoint
        if type(dp) not in _ALL:
            raise _unsupported(dp)
        setattr(dp, field, to_uint64(t.ns))
    return get, set_


def _number_value(field: str, expect) -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) is NumberDataPoint:
            return getattr(dp, field)
        return None

    def set_(ctx, val):
        v = expect(val)
        setattr(_expect_point(ctx.datapoint, NumberDataPoint), field, v)
    return get, set_


def _exemplars() -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) in _WITH_EXEMPLARS:
            return ExemplarSlice(dp.exemplars)
        return None

    def set_(ctx, val):
        dp = ctx.datapoint
        if type(dp) not in _WITH_EXEMPLARS:
            raise _unsupported(dp)
        set_message_slice(dp.exemplars, ExemplarSlice, val)
    return get, set_


def _flags() -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) in _ALL:
            return dp.flags
        return None

    def set_(ctx, val):
        v = expect_int(val)
        dp = ctx.datapoint
        if type(dp) not in _ALL:
            raise _unsupported(dp)
        dp.flags = to_uint32(v)
    return get, set_


def _count() -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) in _WITH_COUNT:
            return to_int64(dp.count)
        return None

    def set_(ctx, val):
        v = expect_int(val)
        dp = ctx.datapoint
        if type(dp) not in _WITH_COUNT:
            raise _unsupported(dp)
        dp.count = to_uint64(v)
    return get, set_


def _sum() -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) in _WITH_COUNT:
            return dp.sum
        return None

    def set_(ctx, val):
        v = expect_float(val)
        dp = ctx.datapoint
        if type(dp) not in _WITH_COUNT:
            raise _unsupported(dp)
        dp.sum = v
    return get, set_


def _explicit_bounds() -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) is HistogramDataPoint:
            return GoSlice(dp.explicit_bounds, "[]float64")
        return None

    def set_(ctx, val):
        set_float_slice(_expect_point(ctx.datapoint, HistogramDataPoint).explicit_bounds, val)
    return get, set_


def _bucket_counts() -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) is HistogramDataPoint:
            return GoSlice(dp.bucket_counts, "[]uint64")
        return None

    def set_(ctx, val):
        set_uint_slice(_expect_point(ctx.datapoint, HistogramDataPoint).bucket_counts, val)
    return get, set_


def _scale() -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) is ExponentialHistogramDataPoint:
            return dp.scale
        return None

    def set_(ctx, val):
        v = expect_int(val)
        _expect_point(ctx.datapoint, ExponentialHistogramDataPoint).scale = to_int32(v)
    return get, set_


def _zero_count() -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) is ExponentialHistogramDataPoint:
            return to_int64(dp.zero_count)
        return None

    def set_(ctx, val):
        v = expect_int(val)
        _expect_point(ctx.datapoint, ExponentialHistogramDataPoint).zero_count = to_uint64(v)
    return get, set_


def _buckets(side: str) -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) is ExponentialHistogramDataPoint:
            return ExponentialHistogramDataPointBuckets(getattr(dp, side))
        return None

    def set_(ctx, val):
        if type(val) is not ExponentialHistogramDataPointBuckets:
            expect_type(val, False, ExponentialHistogramDataPointBuckets.go_type)
        dest = getattr(_expect_point(ctx.datapoint, ExponentialHistogramDataPoint), side)
        if val.obj is not dest:
            dest.CopyFrom(val.obj)
    return get, set_


def _buckets_offset(side: str) -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) is ExponentialHistogramDataPoint:
            return getattr(dp, side).offset
        return None

    def set_(ctx, val):
        v = expect_int(val)
        getattr(_expect_point(ctx.datapoint, ExponentialHistogramDataPoint), side).offset = to_int32(v)
    return get, set_


def _buckets_counts(side: str) -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) is ExponentialHistogramDataPoint:
            return GoSlice(getattr(dp, side).bucket_counts, "[]uint64")
        return None

    def set_(ctx, val):
        set_uint_slice(getattr(_expect_point(ctx.datapoint, ExponentialHistogramDataPoint), side).bucket_counts,
                       val)
    return get, set_


def _quantile_values() -> Accessor:
    def get(ctx):
        dp = ctx.datapoint
        if type(dp) is SummaryDataPoint:
            return SummaryDataPointValueAtQuantileSlice(dp.quantile_values)
        return None

    def set_(ctx, val):
        dp = _expect_point(ctx.datapoint, SummaryDataPoint)
        set_message_slice(dp.quantile_values, SummaryDataPointValueAtQuantileSlice, val)
    return get, set_


def _side(path: PathCursor, side: str) -> Accessor:
    nxt = path.next()
    if nxt is not None:
        if nxt.name == "offset":
            return _buckets_offset(side)
        if nxt.name == "bucket_counts":
            return _buckets_counts(side)
        raise segment_error(nxt.name, path.string(), NAME, DOC_REF)
    return _buckets(side)


def parse_path(path: PathCursor) -> Accessor:
    """ctxdatapoint.PathGetSetter."""
    name = path.name
    if name == "attributes":
        return _attributes(path.keys())
    if name == "start_time_unix_nano":
        return _time_unix_nano("start_time_unix_nano")
    if name == "time_unix_nano":
        return _time_unix_nano("time_unix_nano")
    if name == "start_time":
        return _time("start_time_unix_nano")
    if name == "time":
        return _time("time_unix_nano")
    if name == "value_double":
        return _number_value("as_double", expect_float)
    if name == "value_int":
        return _number_value("as_int", expect_int)
    if name == "exemplars":
        return _exemplars()
    if name == "flags":
        return _flags()
    if name == "count":
        return _count()
    if name == "sum":
        return _sum()
    if name == "bucket_counts":
        return _bucket_counts()
    if name == "explicit_bounds":
        return _explicit_bounds()
    if name == "scale":
        return _scale()
    if name == "zero_count":
        return _zero_count()
    if name == "positive":
        return _side(path, "positive")
    if name == "negative":
        return _side(path, "negative")
    if name == "quantile_values":
        return _quantile_values()
    raise segment_error(name, path.string(), NAME, DOC_REF)


def make_context(otelcol_parser=None) -> ContextDef:
    parsers = {
        resource.NAME: resource.parse_path,
        scope.NAME: scope.parse_path,
        scope.LEGACY_NAME: scope.parse_path,
        metric.NAME: metric.parse_path,
        NAME: parse_path,
    }
    if otelcol_parser is not None:
        parsers["otelcol"] = otelcol_parser
    return ContextDef(NAME, DOC_REF,
                      (NAME, resource.NAME, scope.LEGACY_NAME, scope.NAME, metric.NAME, "otelcol"),
                      parsers, ENUMS)
