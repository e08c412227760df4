"""Per-series aggregation state: one ``Series`` per key, held in a ``SeriesMap`` per metric (with
the cardinality limit's overflow series), three maps per ``Resource``, resources in an LRU that keeps
what it evicts until the next flush has reported it. Separate from the connector so the state's
rules (overflow, exemplar cap, expiry, eviction) read in one place."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otelflow.pdata.expohisto import ExpoHistogram as ExponentialHistogram

OVERFLOW_KEY = "otel.metric.overflow"


class Series:
    """One data point's running state: a count (calls, events) or a histogram (duration)."""

    __slots__ = ("attributes", "start", "last_seen", "exemplars", "count", "first", "bucket_counts", "sum", "expo")

    def __init__(self, attributes: list[KeyValue], start: int, last_seen: float):
        self.attributes = attributes
        self.start = start
        self.last_seen = last_seen
        self.exemplars: list[metrics_pb2.Exemplar] = []
        self.count = 0
        self.first = True
        self.bucket_counts: list[int] = []
        self.sum = 0.0
        self.expo: ExponentialHistogram | None = None


class SeriesMap:
    """Series by key, with the cardinality limit's overflow series (upstream's SumMetrics and
    HistogramMetrics share this shape)."""

    def __init__(self, limit: int, max_exemplars: int, make: Callable[[Series], None] | None = None):
        self.series: dict[str, Series] = {}
        self.limit = limit
        self.max_exemplars = max_exemplars
        self.make = make

    def get_or_create(self, key: str, attributes: Callable[[], list[KeyValue]], start: int, last_seen: float) -> tuple[Series, bool]:
        s = self.series.get(key)
        limited = False
        if s is None:
            if self.limit > 0 and len(self.series) >= self.limit:
                limited = True
                key = OVERFLOW_KEY
                s = self.series.get(key)
                if s is not None:
                    return s, True
                attrs = [KeyValue(key=OVERFLOW_KEY, value=AnyValue(bool_value=True))]
            else:
                attrs = attributes()
            s = Series(attrs, start, last_seen)
            if self.make is not None:
                self.make(s)
            self.series[key] = s
        s.last_seen = last_seen
        return s, limited

    def add_exemplar(self, s: Series, trace_id: bytes, span_id: bytes, value: float) -> None:
        if len(s.exemplars) >= self.max_exemplars:
            return
        s.exemplars.append(metrics_pb2.Exemplar(trace_id=trace_id, span_id=span_id, as_double=value))

    def clear_exemplars(self) -> None:
        for s in self.series.values():
            s.exemplars = []

    def expire(self, expiration: float, now: float) -> None:
        if expiration <= 0:
            return
        for key in [k for k, s in self.series.items() if now - s.last_seen >= expiration]:
            del self.series[key]


class Resource:
    """The series of one resource: calls, durations (None when the histogram is disabled), events."""

    __slots__ = ("calls", "durations", "events", "attributes", "last_seen")

    def __init__(self, attributes: list[KeyValue], calls: SeriesMap, durations: SeriesMap | None, events: SeriesMap):
        self.attributes = attributes
        self.calls = calls
        self.durations = durations
        self.events = events
        self.last_seen = 0.0


class ResourceCache:
    """An LRU of resources that keeps what it evicts until the next flush has reported it."""

    def __init__(self, size: int):
        self.size = size
        self.lru: OrderedDict[Any, Resource] = OrderedDict()
        self.evicted: dict[Any, Resource] = {}

    def get(self, key: Any) -> Resource | None:
        value = self.lru.get(key)
        if value is not None:
            self.lru.move_to_end(key)
            return value
        value = self.evicted.pop(key, None)
        if value is not None:
            self.add(key, value)
        return value

    def add(self, key: Any, value: Resource) -> None:
        self.lru[key] = value
        self.lru.move_to_end(key)
        while len(self.lru) > self.size:
            old_key, old = self.lru.popitem(last=False)
            self.evicted[old_key] = old

    def items(self) -> list[tuple[Any, Resource]]:
        return list(self.lru.items()) + list(self.evicted.items())

    def remove(self, key: Any) -> None:
        self.lru.pop(key, None)

    def purge(self) -> None:
        self.lru.clear()
        self.evicted.clear()
