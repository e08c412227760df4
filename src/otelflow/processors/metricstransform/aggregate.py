"""Merging data points that become equal, as upstream's aggregateutil: points group by attributes
and timestamp (plus start time for delta, bucket bounds, min/max presence and flags for
histograms); the first point of a group is kept and the others are folded into it. Groups come out
in first-seen order (upstream's come out in Go map order, which is random)."""

from __future__ import annotations

import math

from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_DELTA, Metric

from otelflow.processors.metricstransform.pdata import attrs_key, points


def filter_attrs(metric: Metric, keep: list[str]) -> None:
    """Keep only the ``keep`` attributes on every point, in their order."""
    for dp in points(metric) or ():
        kept = [kv for kv in dp.attributes if kv.key in keep]
        if len(kept) != len(dp.attributes):
            copies = [type(kv)() for kv in kept]
            for c, kv in zip(copies, kept):
                c.CopyFrom(kv)
            del dp.attributes[:]
            dp.attributes.extend(copies)


def group_points(metric: Metric, groups: dict[str, list]) -> None:
    kind = metric.WhichOneof("data")
    if kind is None or kind == "summary":
        return
    delta = kind != "gauge" and getattr(metric, kind).aggregation_temporality == AGGREGATION_TEMPORALITY_DELTA
    for dp in getattr(metric, kind).data_points:
        extra: tuple = ()
        if kind == "histogram":
            extra = (tuple(dp.explicit_bounds),) + ((dp.start_time_unix_nano,) if delta else ()) + (
                dp.HasField("min"), dp.HasField("max"), dp.flags)
        elif kind == "exponential_histogram":
            extra = (dp.scale, dp.HasField("min"), dp.HasField("max"), dp.flags) + ((dp.start_time_unix_nano,) if delta else ())
        elif delta:
            extra = (dp.start_time_unix_nano,)
        key = f"{attrs_key(dp.attributes)}|{dp.time_unix_nano}|{extra!r}"
        groups.setdefault(key, []).append(dp)


def merge_points(to: Metric, agg: str, groups: dict[str, list]) -> None:
    kind = to.WhichOneof("data")
    if kind is None or kind == "summary":
        return
    out = getattr(to, kind).data_points
    merge = {"gauge": _merge_number, "sum": _merge_number, "histogram": _merge_histogram,
             "exponential_histogram": _merge_exponential}[kind]
    for dps in groups.values():
        dp = out.add()
        dp.CopyFrom(dps[0])
        merge(dp, dps, agg)


def _earliest_start(dp, other) -> None:
    if other.start_time_unix_nano < dp.start_time_unix_nano:
        dp.start_time_unix_nano = other.start_time_unix_nano


def _as_double(dp) -> float:
    kind = dp.WhichOneof("value")
    return dp.as_double if kind == "as_double" else float(dp.as_int) if kind == "as_int" else 0.0


def _as_int(dp) -> int:
    kind = dp.WhichOneof("value")
    return _trunc(dp.as_double) if kind == "as_double" else dp.as_int if kind == "as_int" else 0


def _trunc(x: float) -> int:
    """Go's int64(float64): toward zero (NaN and infinities have no defined result; 0 here)."""
    return int(x) if math.isfinite(x) else 0


def _wrap64(x: int) -> int:
    x &= (1 << 64) - 1
    return x - (1 << 64) if x >= 1 << 63 else x


def _div_trunc(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _merge_number(dp, dps: list, agg: str) -> None:
    n = len(dps)
    kind = dp.WhichOneof("value")
    if kind == "as_double":
        values = [dp.as_double]
        for other in dps[1:]:
            if agg in ("sum", "mean"):
                dp.as_double = dp.as_double + _as_double(other)
            elif agg == "max":
                dp.as_double = _go_max(dp.as_double, _as_double(other))
            elif agg == "min":
                dp.as_double = _go_min(dp.as_double, _as_double(other))
            elif agg == "median":
                values.append(_as_double(other))
            elif agg == "count":
                dp.as_double = float(n)
            _earliest_start(dp, other)
        if agg == "mean":
            dp.as_double = dp.as_double / n
        if agg == "median" and n > 1:
            values.sort()
            mid = n // 2
            dp.as_double = values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2
    elif kind == "as_int":
        ints = [dp.as_int]
        for other in dps[1:]:
            if agg in ("sum", "mean"):
                # upstream adds the other's IntValue(), which is 0 for a double point
                dp.as_int = _wrap64(dp.as_int + (other.as_int if other.WhichOneof("value") == "as_int" else 0))
            elif agg == "max":
                dp.as_int = max(dp.as_int, _as_int(other))
            elif agg == "min":
                dp.as_int = min(dp.as_int, _as_int(other))
            elif agg == "median":
                ints.append(_as_int(other))
            elif agg == "count":
                dp.as_int = n
            _earliest_start(dp, other)
        if agg == "median" and n > 1:
            ints.sort()
            mid = n // 2
            dp.as_int = ints[mid] if n % 2 else _div_trunc(_wrap64(ints[mid - 1] + ints[mid]), 2)
        if agg == "mean":
            dp.as_int = _div_trunc(dp.as_int, n)


def _go_max(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return max(a, b)


def _go_min(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return min(a, b)


def _merge_histogram(dp, dps: list, agg: str) -> None:
    for other in dps[1:]:
        if other.count == 0:
            continue
        dp.count += other.count
        dp.sum = dp.sum + other.sum
        if dp.HasField("min") and dp.min > other.min:
            dp.min = other.min
        if dp.HasField("max") and dp.max < other.max:
            dp.max = other.max
        for b, c in enumerate(other.bucket_counts):
            if b < len(dp.bucket_counts):  # Go would panic past the end; otelflow keeps what fits
                dp.bucket_counts[b] += c
        dp.exemplars.extend(other.exemplars)
        _earliest_start(dp, other)


def _merge_exponential(dp, dps: list, agg: str) -> None:
    for other in dps[1:]:
        if other.count == 0:
            continue
        dp.count += other.count
        dp.sum = dp.sum + other.sum
        dp.zero_count += other.zero_count
        if dp.HasField("min") and dp.min > other.min:
            dp.min = other.min
        if dp.HasField("max") and dp.max < other.max:
            dp.max = other.max
        for side in ("negative", "positive"):
            tgt, src = getattr(dp, side), getattr(other, side)
            differ = tgt.offset != src.offset
            counts = list(tgt.bucket_counts)
            _merge_buckets(counts, list(src.bucket_counts), tgt.offset, src.offset)
            if differ and len(src.bucket_counts):
                tgt.offset = min(tgt.offset, src.offset)
                while counts and counts[0] == 0:
                    counts.pop(0)
            del tgt.bucket_counts[:]
            tgt.bucket_counts.extend(counts)
        dp.exemplars.extend(other.exemplars)
        _earliest_start(dp, other)


def _merge_buckets(tgt: list[int], src: list[int], tgt_off: int, src_off: int) -> None:
    """Upstream's bucket merge, including its shape when the source starts lower (each non-zero
    source count is put in front, in reverse order)."""
    if tgt_off == src_off:
        for b, c in enumerate(src):
            if b < len(tgt):
                tgt[b] += c
            else:
                tgt.append(c)
        return
    if src_off < tgt_off:
        for c in reversed(src):
            if c > 0:
                tgt.insert(0, c)
        return
    for b, c in enumerate(src):
        if c == 0:
            continue
        idx = b + (src_off - tgt_off)
        while len(tgt) <= idx:
            tgt.append(0)
        tgt[idx] += c
