"""The last-value accumulator behind the ``prometheus`` exporter (upstream's lastValueAccumulator).

One entry per time series, keyed as upstream keys it: metric name and type, the scope (name,
version, schema URL, attributes), the data point's attributes and the resource's ``job`` and
``instance`` (so other resource attributes do not split series). Each entry holds one data point,
owned by the accumulator:

- gauges and summaries: the point with the latest timestamp wins (older points are ignored);
- cumulative sums and histograms: likewise;
- delta monotonic sums: added to the stored value when the point starts where the stored one ended,
  otherwise the point replaces it; delta non-monotonic sums and sums of unspecified temporality are
  dropped;
- delta histograms and exponential histograms: merged when aligned; a point that starts after the
  stored one ended is a restart (replaces it); one that starts before is dropped;
- a point flagged "no recorded value" deletes its series (and ends the metric's batch, as upstream).

Entries are replaced, never changed in place, so a snapshot can be read off the event loop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.metrics.v1 import metrics_pb2

from otelflow.exporters.prometheus.config import ResourceAttributeFilter
from otelflow.pdata.otlptext import value_as_string

log = logging.getLogger(__name__)

NO_RECORDED_VALUE = 1
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
UNSPECIFIED = metrics_pb2.AGGREGATION_TEMPORALITY_UNSPECIFIED

# pmetric.MetricType.String(), part of upstream's series key
TYPE_NAMES = {"gauge": "Gauge", "sum": "Sum", "histogram": "Histogram", "exponential_histogram": "ExponentialHistogram", "summary": "Summary"}


def attr_pairs(kvs: Any) -> tuple[tuple[str, str], ...]:
    """Attributes as (key, AsString) pairs; a repeated key keeps its first value, as pcommon's Get."""
    seen: dict[str, str] = {}
    for kv in kvs:
        if kv.key not in seen:
            seen[kv.key] = value_as_string(kv.value)
    return tuple(seen.items())


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    attrs: tuple[tuple[str, str], ...]
    job: str | None
    instance: str | None

    @classmethod
    def of(cls, resource: Any) -> "ResourceInfo":
        attrs = attr_pairs(resource.attributes)
        d = dict(attrs)
        job = d.get("service.name")
        if job is not None and "service.namespace" in d:
            job = f"{d['service.namespace']}/{job}"
        return cls(attrs, job, d.get("service.instance.id"))


@dataclass(frozen=True, slots=True)
class ScopeInfo:
    name: str
    version: str
    schema_url: str
    attrs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    description: str
    unit: str
    kind: str  # gauge | sum | histogram | exponential_histogram | summary
    monotonic: bool
    untyped: bool  # the metric's metadata says prometheus.type=unknown
    point: Any  # a data point message owned by the accumulator
    attrs: tuple[tuple[str, str], ...]  # the point's attributes (plus resource labels), AsString
    resource: ResourceInfo
    scope: ScopeInfo
    updated: float


def _copy(point: Any) -> Any:
    clone = type(point)()
    clone.CopyFrom(point)
    return clone


class Accumulator:
    def __init__(self, expiration: float, resource_labels: ResourceAttributeFilter | None = None, clock=time.monotonic):
        self.expiration = expiration
        self.resource_labels = resource_labels if resource_labels is not None and resource_labels.active else None
        self.clock = clock
        self.entries: dict[tuple, Entry] = {}

    # -----------------------------------------------------------------------------------------
    # Accumulate

    def accumulate(self, request: Any) -> int:
        """Takes an ExportMetricsServiceRequest; returns how many points were stored."""
        now = self.clock()
        n = 0
        for rm in request.resource_metrics:
            resource = ResourceInfo.of(rm.resource)
            extra = ()
            if self.resource_labels is not None:
                extra = tuple((k, v) for k, v in resource.attrs if self.resource_labels.wants(k))
            for sm in rm.scope_metrics:
                scope = ScopeInfo(sm.scope.name, sm.scope.version, sm.schema_url, attr_pairs(sm.scope.attributes))
                for metric in sm.metrics:
                    n += self._metric(metric, resource, scope, extra, now)
        return n

    def _metric(self, metric: Any, resource: ResourceInfo, scope: ScopeInfo, extra: tuple, now: float) -> int:
        kind = metric.WhichOneof("data")
        if kind is None:
            log.error("failed to translate metric %s: unknown data type", metric.name)
            return 0
        data = getattr(metric, kind)
        monotonic = kind == "sum" and data.is_monotonic
        temporality = getattr(data, "aggregation_temporality", CUMULATIVE)
        if kind == "sum":
            if temporality == UNSPECIFIED:
                return 0
            if temporality == DELTA and not monotonic:
                log.debug("refusing non-monotonic delta sum metric %s", metric.name)
                return 0
        untyped = any(kv.key == "prometheus.type" and value_as_string(kv.value) == "unknown" for kv in metric.metadata)
        n = 0
        for point in data.data_points:
            attrs = attr_pairs(point.attributes)
            if extra:
                merged = dict(attrs)
                merged.update(extra)  # the resource's value wins, as resourcetotelemetry's PutEmpty
                attrs = tuple(merged.items())
            key = (
                metric.name, TYPE_NAMES[kind], scope.name, scope.version, scope.schema_url, tuple(sorted(scope.attrs)),
                tuple(sorted(attrs)), resource.job, resource.instance,
            )
            if point.flags & NO_RECORDED_VALUE:
                self.entries.pop(key, None)
                return n  # upstream returns here, skipping the metric's remaining points
            stored = self.entries.get(key)
            new_point = self._merge(metric.name, kind, temporality, stored, point)
            if new_point is None:
                continue
            self.entries[key] = Entry(
                metric.name, metric.description, metric.unit, kind, monotonic, untyped, new_point, attrs, resource, scope, now
            )
            n += 1
        return n

    def _merge(self, name: str, kind: str, temporality: int, stored: Entry | None, point: Any) -> Any | None:
        """The point to store for this series, or None to keep what is there."""
        if stored is None:
            return _copy(point)
        prev = stored.point
        if kind in ("gauge", "summary"):
            return None if point.time_unix_nano < prev.time_unix_nano else _copy(point)
        if kind == "sum":
            if point.time_unix_nano < prev.time_unix_nano:
                return None
            new = _copy(point)
            if temporality == DELTA and point.start_time_unix_nano == prev.time_unix_nano:
                new.start_time_unix_nano = prev.start_time_unix_nano
                if new.WhichOneof("value") == "as_int":
                    new.as_int = point.as_int + (prev.as_int if prev.WhichOneof("value") == "as_int" else 0)
                else:
                    new.as_double = point.as_double + (prev.as_double if prev.WhichOneof("value") == "as_double" else 0.0)
            return new
        # histograms
        if temporality == DELTA:
            if point.start_time_unix_nano != prev.time_unix_nano:
                log.warning("Misaligned starting timestamps for %s", name)
                if point.start_time_unix_nano <= prev.time_unix_nano:
                    log.warning("Dropped misaligned histogram datapoint of %s", name)
                    return None
                return _copy(point)  # a restart
            if kind == "histogram":
                return merge_histograms(prev, point)
            return merge_exponential(prev, point)
        if temporality == CUMULATIVE:
            return None if point.time_unix_nano < prev.time_unix_nano else _copy(point)
        return None

    # -----------------------------------------------------------------------------------------
    # Collect

    def expire(self) -> None:
        if self.expiration <= 0:
            return
        cutoff = self.clock() - self.expiration
        for key in [k for k, e in self.entries.items() if e.updated < cutoff]:
            log.debug("metric expired: %s", self.entries[key].name)
            del self.entries[key]

    def snapshot(self) -> list[Entry]:
        self.expire()
        return list(self.entries.values())


def merge_histograms(prev: Any, cur: Any) -> Any:
    """Two aligned delta histogram points summed (accumulateHistogramValues)."""
    dest = metrics_pb2.HistogramDataPoint()
    dest.start_time_unix_nano = prev.start_time_unix_nano
    older, newer = (cur, prev) if cur.time_unix_nano < prev.time_unix_nano else (prev, cur)
    dest.attributes.extend(newer.attributes)
    dest.time_unix_nano = newer.time_unix_nano
    if list(older.explicit_bounds) == list(newer.explicit_bounds):
        dest.count = newer.count + older.count
        dest.sum = newer.sum + older.sum
        old_counts = list(older.bucket_counts)
        dest.bucket_counts.extend(
            c + (old_counts[i] if i < len(old_counts) else 0) for i, c in enumerate(newer.bucket_counts)
        )
    else:
        dest.count = newer.count
        dest.sum = newer.sum
        dest.bucket_counts.extend(newer.bucket_counts)
    dest.explicit_bounds.extend(newer.explicit_bounds)
    return dest


def _downscale(offset: int, counts: list[int], from_scale: int, to_scale: int) -> tuple[int, list[int]]:
    if not counts or from_scale <= to_scale:
        return offset, counts
    shift = from_scale - to_scale
    out: dict[int, int] = {}
    for i, c in enumerate(counts):
        idx = (offset + i) >> shift
        out[idx] = out.get(idx, 0) + c
    lo, hi = min(out), max(out)
    return lo, [out.get(i, 0) for i in range(lo, hi + 1)]


def _upper_bound(scale: int, offset: int, index: int) -> float:
    # upstream's approximation (calculateBucketUpperBound), kept for the same zero-threshold filtering
    try:
        return 2.0 ** (scale + offset + index + 1)
    except OverflowError:
        return float("inf")


def _filter_zero(offset: int, counts: list[int], scale: int, threshold: float) -> tuple[int, list[int], int]:
    if not counts or threshold <= 0:
        return offset, counts, 0
    moved = 0
    new_offset = offset
    for i, c in enumerate(counts):
        if _upper_bound(scale, offset, i) > threshold:
            return new_offset, counts[i:], moved
        moved += c
        new_offset = offset + i + 1
    return 0, [], moved


def _merge_buckets(off_a: int, a: list[int], off_b: int, b: list[int]) -> tuple[int, list[int]]:
    if not a and not b:
        return 0, []
    if not a:
        return off_b, b
    if not b:
        return off_a, a
    lo = min(off_a, off_b)
    hi = max(off_a + len(a), off_b + len(b))
    out = [0] * (hi - lo)
    for i, c in enumerate(a):
        out[off_a + i - lo] += c
    for i, c in enumerate(b):
        out[off_b + i - lo] += c
    return lo, out


def merge_exponential(prev: Any, cur: Any) -> Any:
    """Two aligned delta exponential histogram points merged at the coarser scale
    (accumulateExponentialHistogramValues). Unlike upstream v0.161.0, downscaling does not double
    the first bucket when its index is not a multiple of the scale factor."""
    dest = metrics_pb2.ExponentialHistogramDataPoint()
    if cur.time_unix_nano < prev.time_unix_nano:
        dest.start_time_unix_nano = cur.start_time_unix_nano
        dest.attributes.extend(prev.attributes)
        dest.time_unix_nano = prev.time_unix_nano
    else:
        dest.start_time_unix_nano = prev.start_time_unix_nano
        dest.attributes.extend(cur.attributes)
        dest.time_unix_nano = cur.time_unix_nano
    scale = min(cur.scale, prev.scale)
    dest.scale = scale
    threshold = max(prev.zero_threshold, cur.zero_threshold)
    dest.zero_threshold = threshold
    p_pos = _downscale(prev.positive.offset, list(prev.positive.bucket_counts), prev.scale, scale)
    p_neg = _downscale(prev.negative.offset, list(prev.negative.bucket_counts), prev.scale, scale)
    c_pos = _downscale(cur.positive.offset, list(cur.positive.bucket_counts), cur.scale, scale)
    c_neg = _downscale(cur.negative.offset, list(cur.negative.bucket_counts), cur.scale, scale)
    extra_zero = 0
    if threshold > prev.zero_threshold:
        off, counts, moved = _filter_zero(*p_pos, scale, threshold)
        p_pos, extra_zero = (off, counts), extra_zero + moved
    if threshold > cur.zero_threshold:
        off, counts, moved = _filter_zero(*c_pos, scale, threshold)
        c_pos, extra_zero = (off, counts), extra_zero + moved
    pos = _merge_buckets(*p_pos, *c_pos)
    neg = _merge_buckets(*p_neg, *c_neg)
    dest.positive.offset = pos[0]
    dest.positive.bucket_counts.extend(pos[1])
    dest.negative.offset = neg[0]
    dest.negative.bucket_counts.extend(neg[1])
    dest.zero_count = prev.zero_count + cur.zero_count + extra_zero
    dest.count = prev.count + cur.count
    if prev.HasField("sum") and cur.HasField("sum"):
        dest.sum = prev.sum + cur.sum
    mins = [p.min for p in (prev, cur) if p.HasField("min")]
    if mins:
        dest.min = min(mins)
    maxes = [p.max for p in (prev, cur) if p.HasField("max")]
    if maxes:
        dest.max = max(maxes)
    return dest
