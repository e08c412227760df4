"""Aggregation of parsed lines per client address over one interval, and the OTLP it flushes.

As upstream: one ResourceMetrics (no resource attributes) per client address, one ScopeMetrics per
metric; gauges keep the last value (a signed value moves them), counters sum into a delta Sum,
timers/histograms/distributions become gauges (one point per line), a summary or an exponential
(or explicit-bucket) histogram according to ``timer_histogram_mapping``. Sample rates scale
counters and observation counts, never gauges.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otelflow import __version__
from otelflow.receivers.statsd.config import Config
from otelflow.pdata.expohisto import ExpoHistogram
from otelflow.receivers.statsd.parser import Line, parse_line

SCOPE_NAME = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/statsdreceiver"
DEFAULT_PERCENTILES = (0.0, 10.0, 50.0, 90.0, 95.0, 100.0)
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
_INT64_MIN, _INT64_SPAN = -(1 << 63), 1 << 64

Key = tuple[str, str, tuple[tuple[str, str], ...]]  # name, type, attributes


def _int64(value: float) -> int:
    """Go's int64(float64) on amd64: truncation, out-of-range values become the minimum."""
    return int(value) if -9.223372036854776e18 <= value < 9.223372036854776e18 else _INT64_MIN


def _uint64(value: float) -> int:
    """Go's uint64(float64) for an observation count: truncated; out of range (a sample rate near 0)
    gives 1<<63 as on amd64, so a count never overflows its protobuf field."""
    return int(value) if 0 <= value < 9.223372036854776e18 else 1 << 63


def _wrap(value: int) -> int:
    return (value - _INT64_MIN) % _INT64_SPAN + _INT64_MIN


@dataclass
class Observer:
    """How one family (timers; histograms and distributions) is observed."""

    method: str = "disabled"
    max_size: int = 0
    buckets: list[tuple[re.Pattern, list[float]]] | None = None
    percentiles: list[float] = field(default_factory=list)


def observers(config: Config) -> tuple[Observer, Observer]:
    """(timers, histograms) from the mapping list, as upstream's Initialize reads it.

    Upstream gives the exponential histogram size of a histogram/distribution entry to timers
    (the histogram family keeps the default size); this keeps that behaviour so the buckets match.
    """
    timers, histograms = Observer(), Observer()
    for m in config.timer_histogram_mapping:
        buckets = None
        if m.histogram.explicit_buckets is not None:
            buckets = [(re.compile(b.matcher_pattern), list(b.buckets)) for b in m.histogram.explicit_buckets]
        if m.statsd_type in ("histogram", "distribution"):
            histograms.method = m.observer_type
            if buckets is not None:
                histograms.buckets = buckets
            timers.max_size = m.histogram.max_size
            histograms.percentiles = list(m.summary.percentiles)
        elif m.statsd_type in ("timing", "timer"):
            timers.method = m.observer_type
            if buckets is not None:
                timers.buckets = buckets
            timers.max_size = m.histogram.max_size
            timers.percentiles = list(m.summary.percentiles)
    return timers, histograms


class ExplicitHistogram:
    __slots__ = ("bounds", "counts", "inf_count", "count", "sum", "min", "max")

    def __init__(self, bounds: list[float]):
        self.bounds = bounds
        self.counts: dict[float, int] = {b: 0 for b in bounds}
        self.inf_count = self.count = 0
        self.sum = 0.0
        self.min, self.max = float("-inf"), float("inf")

    def update(self, value: float, incr: int) -> None:
        if incr == 0:
            return
        self.sum += value * incr
        self.count += incr
        if self.count == incr:
            self.min = self.max = value
        else:
            self.min, self.max = min(self.min, value), max(self.max, value)
        for bound in self.bounds:
            if value <= bound:
                self.counts[bound] += incr
                return
        self.inf_count += incr


class Instruments:
    """What one client address sent during the interval."""

    __slots__ = ("gauges", "counters", "points", "summaries", "histograms")

    def __init__(self) -> None:
        self.gauges: dict[Key, list] = {}  # key -> [value, time_ns]
        self.counters: dict[Key, list] = {}  # key -> [value, timestamp_ns or 0]
        self.points: list[tuple[str, tuple, float, int]] = []  # timers etc. observed as gauges
        self.summaries: dict[Key, tuple[list[float], list[float], list[float]]] = {}
        self.histograms: dict[Key, ExpoHistogram | ExplicitHistogram] = {}


class Aggregator:
    def __init__(self, config: Config):
        self.config = config
        self.timers, self.histogram_family = observers(config)
        self.counter_type = config.counter_type or "int"
        self.by_address: dict[object, Instruments] = {}
        self.interval_start = time.time_ns()

    def _key(self, address: tuple[str, str]) -> object:
        network, text = address
        if self.config.ignore_host:
            return None
        if self.config.enable_ip_only_aggregation:
            host, sep, _ = text.rpartition(":")
            if sep and host:
                return network, host.strip("[]")
        return address

    def aggregate(self, text: str, address: tuple[str, str]) -> None:
        """Fold one line in; raises StatsdParseError for a line upstream rejects."""
        line = parse_line(text, self.config.enable_metric_type, self.config.enable_simple_tags)
        key = self._key(address)
        inst = self.by_address.get(key)
        if inst is None:
            inst = self.by_address[key] = Instruments()
        desc: Key = (line.name, line.type, line.attrs)
        kind = line.type
        if kind == "g":
            gauge = inst.gauges.get(desc)
            if gauge is not None and line.addition:
                gauge[0] += line.value
            else:
                inst.gauges[desc] = [line.value, time.time_ns()]
        elif kind == "c":
            value = line.value / line.sample_rate if 0 < line.sample_rate < 1 else line.value
            counter = inst.counters.get(desc)
            if counter is None:
                inst.counters[desc] = [self._counter(value), line.timestamp_ns]
            elif self.counter_type == "float":
                counter[0] += value
            else:
                counter[0] = _wrap(counter[0] + self._counter(value))
        else:
            self._observe(inst, desc, line)

    def _counter(self, value: float) -> float | int:
        if self.counter_type == "float":
            return value
        if self.counter_type == "stochastic_int":
            floor = float(int(value // 1))
            return _int64(floor) + (1 if random.random() < value - floor else 0)
        return _int64(value)

    def _observe(self, inst: Instruments, desc: Key, line: Line) -> None:
        observer = self.timers if line.type == "ms" else self.histogram_family
        method = observer.method
        if method == "gauge":
            inst.points.append((line.name, line.attrs, line.value, time.time_ns()))
            return
        weight = 1.0 / line.sample_rate if 0 < line.sample_rate < 1 else 1.0
        if method == "summary":
            summary = inst.summaries.get(desc)
            if summary is None:
                inst.summaries[desc] = ([line.value], [weight], observer.percentiles)
            else:
                summary[0].append(line.value)
                summary[1].append(weight)
        elif method == "histogram":
            histogram = inst.histograms.get(desc)
            if histogram is None:
                bounds = next((b for pattern, b in observer.buckets or () if pattern.search(line.name)), None)
                histogram = ExplicitHistogram(bounds) if bounds is not None else ExpoHistogram(observer.max_size)
                inst.histograms[desc] = histogram
            histogram.update(line.value, _uint64(weight))

    def flush(self) -> list[tuple[object, ExportMetricsServiceRequest, int]]:
        """(client key, request, data points) per client address; the interval starts again."""
        now = time.time_ns()
        start = self.interval_start
        out = []
        for key, inst in self.by_address.items():
            request = ExportMetricsServiceRequest()
            rm = request.resource_metrics.add()
            for (name, _, attrs), (value, ts) in inst.gauges.items():
                _gauge(rm, name, attrs, value, ts)
            for name, attrs, value, ts in inst.points:
                _gauge(rm, name, attrs, value, ts)
            for (name, _, attrs), (value, ts) in inst.counters.items():
                m = _metric(rm, name)
                m.sum.aggregation_temporality = DELTA
                m.sum.is_monotonic = self.config.is_monotonic_counter
                dp = m.sum.data_points.add()
                if self.counter_type == "float":
                    dp.as_double = value
                else:
                    dp.as_int = value
                _attrs(dp, attrs)
                dp.start_time_unix_nano = start
                dp.time_unix_nano = ts or now
            for (name, _, attrs), (points, weights, percentiles) in inst.summaries.items():
                _summary(rm, name, attrs, points, weights, percentiles or DEFAULT_PERCENTILES, start, now)
            for (name, _, attrs), histogram in inst.histograms.items():
                if isinstance(histogram, ExplicitHistogram):
                    _explicit(rm, name, attrs, histogram, start, now)
                else:
                    _exponential(rm, name, attrs, histogram, start, now)
            points = (len(inst.gauges) + len(inst.points) + len(inst.counters) + len(inst.summaries)
                      + len(inst.histograms))
            out.append((key, request, points))
        self.by_address = {}
        self.interval_start = now
        return out


def _metric(rm, name: str) -> metrics_pb2.Metric:
    sm = rm.scope_metrics.add()
    sm.scope.name = SCOPE_NAME
    sm.scope.version = __version__
    m = sm.metrics.add()
    m.name = name
    return m


def _attrs(dp, attrs) -> None:
    for k, v in attrs:
        kv = dp.attributes.add()
        kv.key = k
        kv.value.string_value = v


def _gauge(rm, name, attrs, value: float, ts: int) -> None:
    dp = _metric(rm, name).gauge.data_points.add()
    dp.as_double = value
    dp.time_unix_nano = ts
    _attrs(dp, attrs)


def _quantile(p: float, points: list[float], weights: list[float], total: float) -> float:
    """gonum's stat.Quantile with the Empirical kind over sorted, weighted points."""
    target = p * total
    cumulative = 0.0
    for value, weight in zip(points, weights):
        cumulative += weight
        if cumulative >= target:
            return value
    return points[-1]


def _summary(rm, name, attrs, points, weights, percentiles, start: int, now: int) -> None:
    dp = _metric(rm, name).summary.data_points.add()
    count = 0.0
    total = 0.0
    for value, weight in zip(points, weights):
        count += weight
        total += value * weight
    dp.count = _uint64(count)
    dp.sum = total
    dp.start_time_unix_nano = start
    dp.time_unix_nano = now
    _attrs(dp, attrs)
    order = sorted(range(len(points)), key=points.__getitem__)
    values, ws = [points[i] for i in order], [weights[i] for i in order]
    weight_sum = sum(ws)
    for pct in percentiles:
        q = dp.quantile_values.add()
        q.quantile = pct / 100
        q.value = _quantile(pct / 100, values, ws, weight_sum)


def _explicit(rm, name, attrs, h: ExplicitHistogram, start: int, now: int) -> None:
    m = _metric(rm, name)
    m.histogram.aggregation_temporality = DELTA
    dp = m.histogram.data_points.add()
    dp.count = h.count
    dp.sum = h.sum
    if h.count:
        dp.min, dp.max = h.min, h.max
    dp.start_time_unix_nano = start
    dp.time_unix_nano = now
    _attrs(dp, attrs)
    dp.explicit_bounds.extend(h.bounds)
    dp.bucket_counts.extend([h.counts[b] for b in h.bounds] + [h.inf_count])


def _exponential(rm, name, attrs, h: ExpoHistogram, start: int, now: int) -> None:
    m = _metric(rm, name)
    m.exponential_histogram.aggregation_temporality = DELTA
    dp = m.exponential_histogram.data_points.add()
    h.to_point(dp)
    dp.start_time_unix_nano = start
    dp.time_unix_nano = now
    _attrs(dp, attrs)
