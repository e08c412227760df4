"""Histogram functions of the transform processor (upstream internal/metrics, v0.161.0):
convert_exponential_histogram_to_histogram and extract_percentile_metric (metric context),
merge_histogram_buckets (datapoint context).

The float math follows Go's: ``math.Log2`` and ``math.Exp2`` are ported (they are not the C
library's), ``math.Exp``/``math.Log`` use Python's, which agree with Go's to within an ulp.
"""

from __future__ import annotations

import math
import random

from opentelemetry.proto.metrics.v1 import metrics_pb2

from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.functions import FunctionTable, Kind as K, P
from otelflow.pdata.govalue import format_float_g

from ._pdata import append_metric, copy_attributes, float_to_uint64, metric_type, replace_metric, u64

METRIC = FunctionTable()
DATAPOINT = FunctionTable()

_LN2 = math.log(2)
_LOG2E = float("1.442695040888963407359924681001892137")


def go_log2(x: float) -> float:
    frac, exp = math.frexp(x)
    if frac == 0.5:
        return float(exp - 1)
    return math.log(frac) * _LOG2E + float(exp)


def go_exp2(x: float) -> float:
    ln2_hi, ln2_lo = 6.93147180369123816490e-01, 1.90821492927058770002e-10
    if math.isnan(x):
        return x
    if x > 1.0239999999999999e+03:
        return math.inf
    if x < -1.0740e+03:
        return 0.0
    k = int(x + 0.5) if x > 0 else int(x - 0.5) if x < 0 else 0
    t = x - float(k)
    hi = t * ln2_hi
    lo = -t * ln2_lo
    r = hi - lo
    tt = r * r
    c = r - tt * (1.66666666666666657415e-01 + tt * (-2.77777777770155933842e-03 + tt * (
        6.61375632143793436117e-05 + tt * (-1.65339022054652515390e-06 + tt * 4.13813679705723846039e-08))))
    y = 1 - ((lo - (r * c) / (2 - c)) - hi)
    return math.ldexp(y, k)


def _go_ceil_u64(f: float) -> int:
    return float_to_uint64(math.ceil(f))


# ------------------------------------------------------------------------------ exponential -> explicit


def _upper(count, upper, lower, bounds, dst):
    for j, b in enumerate(bounds):
        if upper <= b:
            dst[j] += count
            return
    dst[-1] += count


def _midpoint(count, upper, lower, bounds, dst):
    mid = (upper + lower) / 2
    for j, b in enumerate(bounds):
        if mid <= b:
            dst[j - 1 if j > 0 else j] += count
            return
    dst[-1] += count


def _uniform(count, upper, lower, bounds, dst):
    n = len(bounds)
    start = 0
    while start < n and not lower <= bounds[start]:
        start += 1
    end = start
    while end < n and not upper <= bounds[end]:
        end += 1
    end = min(end, n - 1)
    if end > start:
        per, rest = divmod(count, end - start + 1)
        for j in range(start, end + 1):
            dst[j] += per
            if rest > 0:
                dst[j] += 1
                rest -= 1
    else:
        dst[start] += count


def _random(count, upper, lower, bounds, dst):
    n = len(bounds)
    start = 0
    while start < n and bounds[start] < lower:
        start += 1
    end = start
    while end < n and bounds[end] < upper:
        end += 1
    end = min(end, n - 1)
    if end > start:
        width = upper - lower
        allocated = 0
        for j in range(start, end + 1):
            b_lower = lower if j == 0 else bounds[j - 1]
            b_upper = upper if j == n else bounds[j]
            overlap = min(b_upper, upper) - max(b_lower, lower)
            share = float_to_uint64(float(count) * (overlap / width))
            got = float_to_uint64(random.random() * float(share))
            dst[j] += got
            allocated += got
        remaining = u64(count - allocated)
        while remaining > 0:
            dst[random.randrange(end - start + 1) + start] += 1
            remaining -= 1
    else:
        dst[start] += count


DISTRIBUTIONS = {"upper": _upper, "midpoint": _midpoint, "random": _random, "uniform": _uniform}


def _bucket_counts(dp, bounds: list[float], dist) -> list[int]:
    factor = math.ldexp(_LN2, -dp.scale)
    counts = [0] * len(bounds)
    if dp.zero_count > 0 and bounds[0] == 0:
        counts[0] += dp.zero_count
    offset = dp.positive.offset
    for pos, count in enumerate(dp.positive.bucket_counts):
        index = _i32(offset + pos)
        upper = math.exp(float(index + 1) * factor)
        lower = math.exp(float(index) * factor)
        if lower > bounds[-1]:
            counts[-1] += count
            continue
        placed = False
        for b in range(1, len(bounds)):
            if lower > bounds[b - 1] and upper <= bounds[b]:
                counts[b - 1] += count
                placed = True
                break
        if not placed:
            dist(count, upper, lower, bounds, counts)
    return [u64(c) for c in counts]


def _i32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def _go_list(values: list[float]) -> str:
    return "[" + " ".join(format_float_g(v) for v in values) + "]"


@METRIC.function("convert_exponential_histogram_to_histogram", P("distribution_fn", K.STRING),
                 P("explicit_bounds", K.FLOAT, is_list=True))
def build_convert_exponential_histogram_to_histogram(distribution_fn, explicit_bounds):
    name = distribution_fn or "random"
    if name not in DISTRIBUTIONS:
        raise OttlConfigError(f"invalid conversion function: {name}, must be one of [upper, midpoint, random, uniform]")
    if not explicit_bounds:
        raise OttlConfigError(f"explicit bounds cannot be empty: {_go_list(list(explicit_bounds))}")
    bounds = list(explicit_bounds)
    dist = DISTRIBUTIONS[name]

    def run(ctx):
        metric = ctx.metric
        if metric_type(metric) != "exponential_histogram":
            return None
        src = metric.exponential_histogram
        new = metrics_pb2.Metric(name=metric.name, description=metric.description, unit=metric.unit)
        hist = new.histogram
        hist.aggregation_temporality = src.aggregation_temporality
        for dp in src.data_points:
            counts = _bucket_counts(dp, bounds, dist)
            out = hist.data_points.add()
            out.start_time_unix_nano = dp.start_time_unix_nano
            out.time_unix_nano = dp.time_unix_nano
            out.count = dp.count
            out.sum = dp.sum
            out.min = dp.min
            out.max = dp.max
            out.exemplars.extend(dp.exemplars)
            out.explicit_bounds.extend(bounds)
            out.bucket_counts.extend(counts)
            copy_attributes(dp.attributes, out.attributes)
        replace_metric(metric, new)
        return None
    return run


# ------------------------------------------------------------------------------ merge_histogram_buckets

_REMOVE_BOUND, _LIMIT = "remove_explicit_bound", "limit_buckets"


def _max_buckets(target: float) -> int:
    if target < 1 or math.trunc(target) != target or target > 9.223372036854775807e18:
        raise OttlError(f'target_value must be a positive integer when method is "{_LIMIT}", '
                        f"got {format_float_g(target)}")
    return int(target)


@DATAPOINT.function("merge_histogram_buckets", P("target_value", K.FLOAT_LIKE_GETTER),
                    P("method", K.STRING, optional=True))
def build_merge_histogram_buckets(target_value, method=None):
    mode = _REMOVE_BOUND if method is None else method
    if mode not in (_REMOVE_BOUND, _LIMIT):
        raise OttlConfigError(f'unsupported method "{mode}", expected "{_REMOVE_BOUND}" or "{_LIMIT}"')
    literal = None
    literal_buckets = None
    if getattr(target_value, "is_literal", False):
        try:
            literal = target_value(None)
        except OttlError:
            literal = None
        else:
            if literal is None:
                raise OttlConfigError("target_value must not be nil")
            if mode == _LIMIT:
                try:
                    literal_buckets = _max_buckets(literal)
                except OttlError as e:
                    raise OttlConfigError(str(e)) from None

    def run(ctx):
        dp = ctx.datapoint
        if not isinstance(dp, metrics_pb2.HistogramDataPoint):
            return None
        target = literal
        if target is None:
            target = target_value(ctx)
            if target is None:
                raise OttlError("target_value must not be nil")
        if mode == _REMOVE_BOUND:
            _remove_bound(dp, target)
        else:
            _limit_buckets(dp, literal_buckets if literal_buckets is not None else _max_buckets(target))
        return None
    return run


def _remove_bound(dp, bound: float) -> None:
    bounds = list(dp.explicit_bounds)
    counts = list(dp.bucket_counts)
    if len(bounds) + 1 != len(counts) or len(counts) == 1:
        return
    index = next((i for i, b in enumerate(bounds) if abs(b - bound) < 1e-12), -1)
    if index == -1:
        return
    counts[index + 1] = u64(counts[index + 1] + counts[index])
    del bounds[index]
    del counts[index]
    del dp.explicit_bounds[:]
    dp.explicit_bounds.extend(bounds)
    del dp.bucket_counts[:]
    dp.bucket_counts.extend(counts)


def _limit_buckets(dp, max_buckets: int) -> None:
    bounds = list(dp.explicit_bounds)
    counts = list(dp.bucket_counts)
    if len(bounds) + 1 != len(counts):
        return
    if len(counts) <= max_buckets or len(counts) <= 1:
        return
    if any(not bounds[i] > bounds[i - 1] for i in range(1, len(bounds))):
        return
    divisor = (len(counts) - 1) // max_buckets + 1
    new_counts = [u64(sum(counts[i:i + divisor])) for i in range(0, len(counts), divisor)]
    new_bounds = [bounds[i] for i in range(divisor - 1, len(bounds), divisor)]
    del dp.explicit_bounds[:]
    dp.explicit_bounds.extend(new_bounds)
    del dp.bucket_counts[:]
    dp.bucket_counts.extend(new_counts)


# ------------------------------------------------------------------------------ extract_percentile_metric


class _Skip(Exception):
    pass


def _linear(lower: float, upper: float, ratio: float) -> float:
    if ratio < 0 or ratio > 1:
        raise OttlError(f"linear interpolation: invalid ratio {ratio:.6f}, must be between 0 and 1")
    return lower + ratio * (upper - lower)


def _logarithmic(lower: float, upper: float, ratio: float) -> float:
    if ratio < 0 or ratio > 1:
        raise OttlError(f"logarithmic interpolation: invalid ratio {ratio:.6f}, must be between 0 and 1")
    if lower <= 0 or upper <= 0:
        raise OttlError(f"logarithmic interpolation: bounds must be positive, got lowerBound={lower:.6f}, "
                        f"upperBound={upper:.6f}")
    lo, hi = go_log2(lower), go_log2(upper)
    return go_exp2(lo + (hi - lo) * ratio)


def _bucket_bound(index: int, scale: int) -> float:
    if scale <= 0:
        return _ldexp(1.0, index << -scale)
    return math.exp(float(index) * math.ldexp(_LN2, -scale))


def _ldexp(frac: float, exp: int) -> float:
    """math.Ldexp: overflow gives ±Inf and underflow 0 instead of raising."""
    try:
        return math.ldexp(frac, exp)
    except OverflowError:
        return math.copysign(math.inf, frac)


def _histogram_percentile(dp, percentile: float) -> float:
    counts = dp.bucket_counts
    bounds = dp.explicit_bounds
    if dp.count == 0 or len(counts) == 0:
        raise _Skip
    target = _go_ceil_u64(float(dp.count) * (percentile / 100.0))
    if len(counts) != len(bounds) + 1:
        raise OttlError("calculating histogram percentile: malformed data: bucketCounts length "
                        f"({len(counts)}) != explicitBounds length ({len(bounds)}) + 1")
    if len(counts) == 1 and len(bounds) == 0:
        if not dp.HasField("min") or not dp.HasField("max"):
            raise _Skip
        return _linear(dp.min, dp.max, _div(target, counts[0]))
    cumulative = 0
    for i, c in enumerate(counts):
        previous = cumulative
        cumulative = u64(cumulative + c)
        if cumulative >= target:
            if i == 0:
                upper = bounds[0]
                lower = 0.0
                if dp.HasField("min") and dp.min < upper:
                    lower = dp.min
                elif 0 > upper:
                    return upper
            else:
                lower = bounds[i - 1]
                if i < len(bounds):
                    upper = bounds[i]
                else:
                    if not dp.HasField("max") or dp.max <= lower:
                        return lower
                    upper = dp.max
            return _linear(lower, upper, _div(u64(target - previous), c))
    raise OttlError("calculating histogram percentile: malformed data: cumulative count doesn't reach target "
                    f"count corresponding to percentile. targetCount={target}, total count={cumulative}")


def _div(a: int, b: int) -> float:
    """float64(a) / float64(b) with Go's IEEE division (x/0 is ±Inf or NaN)."""
    fa, fb = float(a), float(b)
    if fb == 0:
        return math.nan if fa == 0 else math.inf
    return fa / fb


def _exponential_percentile(dp, percentile: float) -> float:
    neg = dp.negative
    pos = dp.positive
    if dp.count == 0 or (len(neg.bucket_counts) == 0 and len(pos.bucket_counts) == 0 and dp.zero_count == 0):
        raise _Skip
    target = _go_ceil_u64(float(dp.count) * (percentile / 100.0))
    scale = dp.scale
    neg_total = 0
    for i in range(len(neg.bucket_counts) - 1, -1, -1):
        previous = neg_total
        neg_total = u64(neg_total + neg.bucket_counts[i])
        if neg_total >= target:
            index = neg.offset + i
            abs_lower = _bucket_bound(index, scale)
            abs_upper = _bucket_bound(index + 1, scale)
            if abs_lower >= abs_upper:
                raise OttlError("calculating exponential histogram percentile: malformed negative bucket bounds: "
                                f"absLowerBound ({abs_lower:.6f}) >= absUpperBound ({abs_upper:.6f}) at "
                                f"histogramIndex={index}, scale={scale}")
            ratio = _div(u64(target - previous), neg.bucket_counts[i])
            return -_logarithmic(abs_lower, abs_upper, 1 - ratio)
    after_zero = u64(neg_total + dp.zero_count)
    if after_zero >= target:
        lower, upper = -dp.zero_threshold, dp.zero_threshold
        has_neg, has_pos = len(neg.bucket_counts) != 0, len(pos.bucket_counts) != 0
        if not has_neg and has_pos:
            lower = 0.0
        elif not has_pos and has_neg:
            upper = 0.0
        return _linear(lower, upper, _div(u64(target - neg_total), dp.zero_count))
    cumulative = after_zero
    for i, c in enumerate(pos.bucket_counts):
        previous = cumulative
        cumulative = u64(cumulative + c)
        if cumulative >= target:
            index = pos.offset + i
            return _logarithmic(_bucket_bound(index, scale), _bucket_bound(index + 1, scale),
                                _div(u64(target - previous), c))
    raise OttlError("calculating exponential histogram percentile: malformed data: cumulative count doesn't reach "
                    f"target count corresponding to percentile. targetCount={target}, total count={cumulative}")


@METRIC.function("extract_percentile_metric", P("percentile", K.FLOAT), P("suffix", K.STRING, optional=True))
def build_extract_percentile_metric(percentile, suffix=None):
    if percentile <= 0 or percentile >= 100:
        raise OttlConfigError(f"percentile must be greater than 0 and less than 100, got {percentile:.6f}")
    shown = format_float_g(percentile)
    name_suffix = suffix if suffix else f"_p{shown}"

    def run(ctx):
        metric = ctx.metric
        kind = metric_type(metric)
        if kind == "histogram":
            calc = _histogram_percentile
        elif kind == "exponential_histogram":
            calc = _exponential_percentile
        else:
            return None
        points = getattr(metric, kind).data_points
        if len(points) == 0:
            return None
        new = metrics_pb2.Metric(
            description=f"{metric.description} (p{shown})" if metric.description else f"p{shown}",
            name=metric.name + name_suffix, unit=metric.unit)
        new.gauge.SetInParent()
        for dp in points:
            try:
                value = calc(dp, percentile)
            except _Skip:
                continue
            out = new.gauge.data_points.add()
            copy_attributes(dp.attributes, out.attributes)
            out.as_double = value
            out.start_time_unix_nano = dp.start_time_unix_nano
            out.time_unix_nano = dp.time_unix_nano
        if len(new.gauge.data_points) > 0:
            append_metric(ctx.metrics, new)
        return None
    return run
