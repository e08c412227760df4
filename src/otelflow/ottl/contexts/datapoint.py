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

from operator import attrgetter

from ..errors import OttlError
from ..values import GoSlice, GoTime, PMap, get_value
from . import metric, resource, scope
from ._common import context_def, next_segment, path_parser
from .keys import (expect_float, expect_int, expect_time, expect_type, get_map_value, set_float_slice,
                   set_map, set_map_value, set_message_slice, set_uint_slice, to_int32, to_int64,
                   to_uint32, to_uint64)
from .registry import DOC_BASE, Accessor, ContextDef
from .types import (DATAPOINT_GO_TYPES, ExemplarSlice, ExponentialHistogramDataPointBuckets,
                    SummaryDataPointValueAtQuantileSlice, go_type_name)

NAME = "datapoint"
DOC_REF = DOC_BASE + "ottldatapoint"

ENUMS = {"FLAG_NONE": 0, "FLAG_NO_RECORDED_VALUE": 1, **metric.ENUMS}

_ALL = frozenset((NumberDataPoint, HistogramDataPoint, ExponentialHistogramDataPoint, SummaryDataPoint))
_WITH_EXEMPLARS = frozenset((NumberDataPoint, HistogramDataPoint, ExponentialHistogramDataPoint))
_WITH_COUNT = frozenset((HistogramDataPoint, ExponentialHistogramDataPoint, SummaryDataPoint))
_NUMBER = frozenset((NumberDataPoint,))
_HISTOGRAM = frozenset((HistogramDataPoint,))
_EXP_HISTOGRAM = frozenset((ExponentialHistogramDataPoint,))
_SUMMARY = frozenset((SummaryDataPoint,))


def _point_check(types: frozenset):
    """What a setter does with the point first: a path of one point type expects that type
    (ctxutil.ExpectType[pmetric.<T>]); a path of several refuses the others as "unsupported
    data point type"."""
    if len(types) == 1:
        (cls,) = types
        go_type = DATAPOINT_GO_TYPES[cls]

        def check_one(dp):
            if type(dp) is not cls:
                expect_type(dp, False, go_type)
            return dp
        return check_one

    def check_any(dp):
        if type(dp) not in types:
            raise OttlError(f"unsupported data point type: {go_type_name(dp)}")
        return dp
    return check_any


def _point_path(types: frozenset, field: str, *, expect=None, read=None, write=None, store=None) -> Accessor:
    """A path into the points of ``types``; other points read as nil and refuse a set.

    get: ``dp.<field>`` (dotted for ``positive.offset``), through ``read`` if given.
    set: the value is checked with ``expect`` first (scalars, as upstream, check the value before
    the point), then the point (``_point_check``); then either ``store(dp.<field>, value)`` (slices
    and messages, which check the value themselves) or ``dp.<field> = write(value)``."""
    read_field = attrgetter(field)
    parent, _, name = field.rpartition(".")
    parent_of = attrgetter(parent) if parent else None
    check = _point_check(types)

    def get(ctx):
        dp = ctx.datapoint
        if type(dp) in types:
            return read_field(dp) if read is None else read(read_field(dp))
        return None

    def set_(ctx, val):
        if expect is not None:
            val = expect(val)
        dp = check(ctx.datapoint)
        if store is not None:
            store(read_field(dp), val)
            return
        setattr(dp if parent_of is None else parent_of(dp), name, val if write is None else write(val))
    return get, set_


def _attributes(keys) -> Accessor:
    """``attributes`` / ``attributes[...]``: as the other contexts' maps, but any point type may
    be in ``ctx.datapoint``, so each call checks it."""
    check = _point_check(_ALL)
    if keys is None:
        def get(ctx):
            dp = ctx.datapoint
            if type(dp) in _ALL:
                return PMap(dp.attributes)
            return None

        def set_(ctx, val):
            set_map(check(ctx.datapoint).attributes, val)
        return get, set_

    if len(keys) == 1 and keys[0].s is not None:
        name = keys[0].s

        def get_k(ctx):
            dp = ctx.datapoint
            if type(dp) in _ALL:
                for kv in dp.attributes:
                    if kv.key == name:
                        return get_value(kv.value)
            return None
    else:
        def get_k(ctx):
            dp = ctx.datapoint
            if type(dp) in _ALL:
                return get_map_value(ctx, dp.attributes, keys)
            return None

    def set_k(ctx, val):
        set_map_value(ctx, check(ctx.datapoint).attributes, keys, val)
    return get_k, set_k


def _go_time(u: int) -> GoTime:
    return GoTime(to_int64(u))


def _time_ns(t: GoTime) -> int:
    return to_uint64(t.ns)


def _uint64s(values) -> GoSlice:
    return GoSlice(values, "[]uint64")


def _float64s(values) -> GoSlice:
    return GoSlice(values, "[]float64")


def _expect_instance(wrapper: type):
    def expect(val):
        if type(val) is not wrapper:
            expect_type(val, False, wrapper.go_type)
        return val
    return expect


def _store_slice(wrapper: type):
    """Replace a repeated message field with a copy of a ``wrapper`` slice (SetPSliceValue)."""
    def store(dest, val):
        set_message_slice(dest, wrapper, val)
    return store


def _copy_message(dest, val) -> None:
    if val.obj is not dest:
        dest.CopyFrom(val.obj)


def _side(side: str):
    """``positive`` / ``negative`` and their ``offset`` and ``bucket_counts``."""
    plain = _point_path(_EXP_HISTOGRAM, side, read=ExponentialHistogramDataPointBuckets,
                        expect=_expect_instance(ExponentialHistogramDataPointBuckets), store=_copy_message)
    subs = {
        "offset": _point_path(_EXP_HISTOGRAM, f"{side}.offset", expect=expect_int, write=to_int32),
        "bucket_counts": _point_path(_EXP_HISTOGRAM, f"{side}.bucket_counts", read=_uint64s,
                                     store=set_uint_slice),
    }
    return lambda path: next_segment(path, plain, subs, NAME, DOC_REF)


PATHS = {
    "attributes": lambda path: _attributes(path.keys()),
    "start_time_unix_nano": _point_path(_ALL, "start_time_unix_nano", expect=expect_int, read=to_int64,
                                        write=to_uint64),
    "time_unix_nano": _point_path(_ALL, "time_unix_nano", expect=expect_int, read=to_int64, write=to_uint64),
    "start_time": _point_path(_ALL, "start_time_unix_nano", expect=expect_time, read=_go_time, write=_time_ns),
    "time": _point_path(_ALL, "time_unix_nano", expect=expect_time, read=_go_time, write=_time_ns),
    "value_double": _point_path(_NUMBER, "as_double", expect=expect_float),
    "value_int": _point_path(_NUMBER, "as_int", expect=expect_int),
    "exemplars": _point_path(_WITH_EXEMPLARS, "exemplars", read=ExemplarSlice, store=_store_slice(ExemplarSlice)),
    "flags": _point_path(_ALL, "flags", expect=expect_int, write=to_uint32),
    "count": _point_path(_WITH_COUNT, "count", expect=expect_int, read=to_int64, write=to_uint64),
    "sum": _point_path(_WITH_COUNT, "sum", expect=expect_float),
    "bucket_counts": _point_path(_HISTOGRAM, "bucket_counts", read=_uint64s, store=set_uint_slice),
    "explicit_bounds": _point_path(_HISTOGRAM, "explicit_bounds", read=_float64s, store=set_float_slice),
    "scale": _point_path(_EXP_HISTOGRAM, "scale", expect=expect_int, write=to_int32),
    "zero_count": _point_path(_EXP_HISTOGRAM, "zero_count", expect=expect_int, read=to_int64, write=to_uint64),
    "positive": _side("positive"),
    "negative": _side("negative"),
    "quantile_values": _point_path(_SUMMARY, "quantile_values", read=SummaryDataPointValueAtQuantileSlice,
                                   store=_store_slice(SummaryDataPointValueAtQuantileSlice)),
}

parse_path = path_parser(NAME, DOC_REF, PATHS)
parse_path.__doc__ = "ctxdatapoint.PathGetSetter."


def make_context(otelcol_parser=None) -> ContextDef:
    return context_def(NAME, DOC_REF, (NAME, resource.NAME, scope.LEGACY_NAME, scope.NAME, metric.NAME, "otelcol"),
                       parse_path, (resource, scope, metric), otelcol_parser, ENUMS)
