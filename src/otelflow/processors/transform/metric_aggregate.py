"""aggregate_on_attributes and aggregate_on_attribute_value (metric context), with upstream's
aggregateutil (internal/coreinternal/aggregateutil, v0.161.0): data points are grouped by their
attributes, timestamp (and start timestamp for delta temporality, bucket layout for histograms),
each group is merged into its first data point, and the metric is rebuilt from the groups (which
drops its metadata, as upstream's MoveTo does).

Upstream merges the groups in Go map order, i.e. in random order; otelflow keeps the order in which
each group's first data point came.
"""

from __future__ import annotations

import math

from opentelemetry.proto.metrics.v1 import metrics_pb2

from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.functions import FunctionTable, Kind as K, P
from otelflow.ottl.getters import go_json
from otelflow.ottl.values import PMap

from ._pdata import DELTA, float_to_int64, metric_type, replace_metric, u64, wrap64

METRIC = FunctionTable()

AGGREGATION_TYPES = ("sum", "mean", "min", "max", "median", "count")


def _aggregation(text: str) -> str:
    if text not in AGGREGATION_TYPES:
        raise OttlConfigError(f"invalid aggregation function: 'unsupported function: '{text}'', valid options: "
                              f"{', '.join(AGGREGATION_TYPES)}")
    return text


@METRIC.function("aggregate_on_attributes", P("aggregation_function", K.STRING),
                 P("attributes", K.STRING, optional=True, is_list=True))
def build_aggregate_on_attributes(aggregation_function, attributes=None):
    agg = _aggregation(aggregation_function)

    def run(ctx):
        metric = ctx.metric
        if metric_type(metric) == "summary":
            raise OttlError("aggregate_on_attributes does not support aggregating Summary metrics")
        filter_attrs(metric, attributes)
        aggregate(metric, agg)
        return None
    return run


@METRIC.function("aggregate_on_attribute_value", P("aggregation_function", K.STRING), P("attribute", K.STRING),
                 P("values", K.STRING, is_list=True), P("new_value", K.STRING))
def build_aggregate_on_attribute_value(aggregation_function, attribute, values, new_value):
    agg = _aggregation(aggregation_function)

    def run(ctx):
        metric = ctx.metric
        for attrs in _point_attributes(metric):
            for kv in attrs:
                if kv.key != attribute:
                    continue
                current = _as_str(kv.value)
                for v in values:
                    if current == v:
                        kv.value.Clear()
                        kv.value.string_value = new_value
                        current = new_value
                break  # pdata's Get finds the first entry with the key
        aggregate(metric, agg)
        return None
    return run


def _as_str(value) -> str:
    """pcommon.Value.Str(): the string, or "" for a value of another type."""
    return value.string_value if value.WhichOneof("value") == "string_value" else ""


def _points(metric):
    kind = metric_type(metric)
    return None if kind is None else getattr(metric, kind).data_points


def _point_attributes(metric):
    points = _points(metric)
    if points is None:
        return
    for dp in points:
        yield dp.attributes


def filter_attrs(metric, keys: list[str] | None) -> None:
    """aggregateutil.FilterAttrs: keep only ``keys`` (None: keep everything)."""
    if keys is None:
        return
    wanted = set(keys)
    for attrs in _point_attributes(metric):
        keep = [kv for kv in attrs if kv.key in wanted]
        if len(keep) != len(attrs):
            snapshot = [type(kv)(key=kv.key, value=kv.value) for kv in keep]
            del attrs[:]
            attrs.extend(snapshot)


# ------------------------------------------------------------------------------ grouping


def _hash_key(attrs, ts: int, *other) -> str:
    """dataPointHashKey: the JSON of [attributes, timestamp, other...]; a value JSON cannot encode
    (NaN) makes the key empty, as the ignored json.Marshal error does upstream."""
    try:
        parts = [go_json(PMap(attrs).as_raw()), str(ts)]
        for o in other:
            if isinstance(o, float):
                parts.append(go_json(o))
            elif isinstance(o, bool):
                parts.append("true" if o else "false")
            else:
                parts.append(str(o))
        return "[" + ",".join(parts) + "]"
    except Exception:  # noqa: BLE001 - upstream ignores the marshalling error
        return ""


def _group(metric, kind: str) -> dict[str, list]:
    data = getattr(metric, kind)
    delta = kind != "gauge" and data.aggregation_temporality == DELTA
    groups: dict[str, list] = {}
    for dp in data.data_points:
        if kind in ("gauge", "sum"):
            extra = [f"s{dp.start_time_unix_nano}"] if delta else []
        elif kind == "histogram":
            extra = list(dp.explicit_bounds)
            if delta:
                extra.append(f"s{dp.start_time_unix_nano}")
            extra += [dp.HasField("min"), dp.HasField("max"), dp.flags]
        else:
            extra = [f"e{dp.scale}", dp.HasField("min"), dp.HasField("max"), dp.flags]
            if delta:
                extra.append(f"s{dp.start_time_unix_nano}")
        key = _hash_key(dp.attributes, dp.time_unix_nano, *extra)
        point = type(dp)()
        point.CopyFrom(dp)
        groups.setdefault(key, []).append(point)
    return groups


def aggregate(metric, agg: str) -> None:
    """CopyMetricDetails + GroupDataPoints + MergeDataPoints + MoveTo."""
    kind = metric_type(metric)
    new = metrics_pb2.Metric(name=metric.name, unit=metric.unit, description=metric.description)
    if kind is None:
        replace_metric(metric, new)
        return
    if kind == "gauge":
        new.gauge.SetInParent()
    elif kind == "sum":
        new.sum.aggregation_temporality = metric.sum.aggregation_temporality
        new.sum.is_monotonic = metric.sum.is_monotonic
    elif kind == "histogram":
        new.histogram.aggregation_temporality = metric.histogram.aggregation_temporality
    elif kind == "exponential_histogram":
        new.exponential_histogram.aggregation_temporality = metric.exponential_histogram.aggregation_temporality
    else:
        new.summary.SetInParent()
        replace_metric(metric, new)  # upstream neither groups nor merges summaries: the points are dropped
        return
    groups = _group(metric, kind)
    out = getattr(new, kind).data_points
    for points in groups.values():
        if kind in ("gauge", "sum"):
            out.append(_merge_numbers(points, agg))
        elif kind == "histogram":
            out.append(_merge_histograms(points))
        else:
            out.append(_merge_exponential(points))
    replace_metric(metric, new)


# ------------------------------------------------------------------------------ merging


def _double_val(dp) -> float:
    kind = dp.WhichOneof("value")
    if kind == "as_double":
        return dp.as_double
    if kind == "as_int":
        return float(dp.as_int)
    return 0.0


def _int_val(dp) -> int:
    kind = dp.WhichOneof("value")
    if kind == "as_double":
        return float_to_int64(dp.as_double)
    if kind == "as_int":
        return dp.as_int
    return 0


def _median_index(n: int) -> int:
    return n // 2


def _merge_numbers(points: list, agg: str):
    dp = points[0]
    n = len(points)
    kind = dp.WhichOneof("value")
    if kind == "as_double":
        numbers = [dp.as_double]
        for other in points[1:]:
            if agg in ("sum", "mean"):
                dp.as_double = dp.as_double + _double_val(other)
            elif agg == "max":
                dp.as_double = _go_max(dp.as_double, _double_val(other))
            elif agg == "min":
                dp.as_double = _go_min(dp.as_double, _double_val(other))
            elif agg == "median":
                numbers.append(_double_val(other))
            elif agg == "count":
                dp.as_double = float(n)
            if other.start_time_unix_nano < dp.start_time_unix_nano:
                dp.start_time_unix_nano = other.start_time_unix_nano
        if agg == "mean":
            dp.as_double = dp.as_double / float(n)
        if agg == "median":
            if len(numbers) == 1:
                dp.as_double = numbers[0]
            else:
                numbers.sort(key=_float_sort_key)
                m = _median_index(len(numbers))
                dp.as_double = numbers[m] if len(numbers) % 2 else (numbers[m - 1] + numbers[m]) / 2
    elif kind == "as_int":
        ints = [dp.as_int]
        for other in points[1:]:
            if agg in ("sum", "mean"):
                other_int = other.as_int if other.WhichOneof("value") == "as_int" else 0
                dp.as_int = wrap64(dp.as_int + other_int)
            elif agg == "max":
                if dp.as_int < _int_val(other):
                    dp.as_int = _int_val(other)
            elif agg == "min":
                if dp.as_int > _int_val(other):
                    dp.as_int = _int_val(other)
            elif agg == "median":
                ints.append(_int_val(other))
            elif agg == "count":
                dp.as_int = n
            if other.start_time_unix_nano < dp.start_time_unix_nano:
                dp.start_time_unix_nano = other.start_time_unix_nano
        if agg == "median":
            if len(ints) == 1:
                dp.as_int = ints[0]
            else:
                ints.sort()
                m = _median_index(len(ints))
                dp.as_int = ints[m] if len(ints) % 2 else _go_div(wrap64(ints[m - 1] + ints[m]), 2)
        if agg == "mean":
            dp.as_int = _go_div(dp.as_int, n)
    return dp


def _go_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _go_max(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == 0 and b == 0:
        return a if math.copysign(1, a) > 0 else b
    return a if a > b else b


def _go_min(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == 0 and b == 0:
        return a if math.copysign(1, a) < 0 else b
    return a if a < b else b


def _float_sort_key(f: float):
    # sort.Float64s puts NaNs first
    return (0, 0.0) if math.isnan(f) else (1, f)


def _merge_histograms(points: list):
    dp = points[0]
    counts = dp.bucket_counts
    for other in points[1:]:
        if other.count == 0:
            continue
        dp.count = u64(dp.count + other.count)
        dp.sum = dp.sum + other.sum
        if dp.HasField("min") and dp.min > other.min:
            dp.min = other.min
        if dp.HasField("max") and dp.max < other.max:
            dp.max = other.max
        if len(other.bucket_counts) > len(counts):
            raise OttlError(f"runtime error: index out of range [{len(counts)}] with length {len(counts)}")
        for b, c in enumerate(other.bucket_counts):
            counts[b] = u64(counts[b] + c)
        dp.exemplars.extend(other.exemplars)
        if other.start_time_unix_nano < dp.start_time_unix_nano:
            dp.start_time_unix_nano = other.start_time_unix_nano
    return dp


def _merge_exponential(points: list):
    dp = points[0]
    for other in points[1:]:
        if other.count == 0:
            continue
        dp.count = u64(dp.count + other.count)
        dp.sum = dp.sum + other.sum
        dp.zero_count = u64(dp.zero_count + other.zero_count)
        if dp.HasField("min") and dp.min > other.min:
            dp.min = other.min
        if dp.HasField("max") and dp.max < other.max:
            dp.max = other.max
        neg_diff = dp.negative.offset != other.negative.offset
        pos_diff = dp.positive.offset != other.positive.offset
        _merge_buckets(dp.negative.bucket_counts, other.negative.bucket_counts, dp.negative.offset,
                       other.negative.offset)
        _merge_buckets(dp.positive.bucket_counts, other.positive.bucket_counts, dp.positive.offset,
                       other.positive.offset)
        if neg_diff and len(other.negative.bucket_counts) != 0:
            dp.negative.offset = min(dp.negative.offset, other.negative.offset)
            _trim(dp.negative.bucket_counts)
        if pos_diff and len(other.positive.bucket_counts) != 0:
            dp.positive.offset = min(dp.positive.offset, other.positive.offset)
            _trim(dp.positive.bucket_counts)
        dp.exemplars.extend(other.exemplars)
        if other.start_time_unix_nano < dp.start_time_unix_nano:
            dp.start_time_unix_nano = other.start_time_unix_nano
    return dp


def _merge_buckets(tgt, src, tgt_off: int, src_off: int) -> None:
    """mergeExponentialHistogramBuckets, step for step (its quirks included)."""
    if tgt_off == src_off:
        for b, c in enumerate(src):
            if b < len(tgt):
                tgt[b] = u64(tgt[b] + c)
            else:
                tgt.append(c)
        return
    if src_off < tgt_off:
        for b in range(len(src) - 1, -1, -1):
            count = src[b]
            if count > 0:
                tgt.insert(0, count)
        return
    for b, count in enumerate(src):
        if count == 0:
            continue
        idx = b + (src_off - tgt_off)
        if idx >= 0:
            while len(tgt) <= idx:
                tgt.append(0)
            tgt[idx] = u64(tgt[idx] + count)


def _trim(buckets) -> None:
    zeros = 0
    for c in buckets:
        if c != 0:
            break
        zeros += 1
    if zeros:
        rest = list(buckets)[zeros:]
        del buckets[:]
        buckets.extend(rest)
