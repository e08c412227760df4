"""Small pdata helpers the transform processor's metric functions share: metric type names as
pmetric prints them, Go's integer conversions, and replacing a metric or a repeated field in place."""

from __future__ import annotations

import math

from opentelemetry.proto.metrics.v1 import metrics_pb2

# pmetric.MetricType.String() of each value of the Metric.data oneof
TYPE_NAMES = {None: "Empty", "gauge": "Gauge", "sum": "Sum", "histogram": "Histogram",
              "exponential_histogram": "ExponentialHistogram", "summary": "Summary"}

DELTA, CUMULATIVE = 1, 2
_U64 = (1 << 64) - 1


def metric_type(metric) -> str | None:
    return metric.WhichOneof("data")


def type_name(metric) -> str:
    return TYPE_NAMES[metric.WhichOneof("data")]


def wrap64(v: int) -> int:
    """int64 arithmetic overflow, as Go wraps it."""
    return (v + (1 << 63)) % (1 << 64) - (1 << 63)


def u64(v: int) -> int:
    return v & _U64


def uint_to_int64(v: int) -> int:
    """Go's int64(uint64)."""
    return wrap64(v)


def float_to_int64(f: float) -> int:
    """Go's int64(float64) on amd64: truncation; NaN and out-of-range values give MinInt64."""
    if math.isnan(f) or math.isinf(f) or not (-9.223372036854775808e18 <= f < 9.223372036854775808e18):
        return -(1 << 63)
    return int(f)


def float_to_uint64(f: float) -> int:
    """Go's uint64(float64) on amd64 for the values these functions produce (>= 0)."""
    if math.isnan(f) or f < 0:
        return 0
    if f >= 1.8446744073709552e19:
        return 1 << 63
    if f >= 9.223372036854775808e18:
        return int(f) & _U64
    return int(f)


def replace_metric(target, new: metrics_pb2.Metric) -> None:
    """newMetric.MoveTo(metric): the metric becomes ``new`` (its metadata included, so lost)."""
    target.CopyFrom(new)


def append_metric(metrics, new: metrics_pb2.Metric) -> None:
    """newMetric.MoveTo(metrics.AppendEmpty())."""
    metrics.add().CopyFrom(new)


def copy_attributes(src, dst) -> None:
    """Attributes().CopyTo(): dst becomes a copy of src."""
    del dst[:]
    dst.extend(src)
