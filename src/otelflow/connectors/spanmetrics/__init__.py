"""The ``spanmetrics`` connector (alias ``span_metrics``): request counts and duration histograms
from spans, as upstream's connector/spanmetricsconnector (v0.161.0) computes them.

Every span of a resource that has ``service.name`` adds to two series keyed by service name, span
name, span kind, status code, ``collector.instance.id`` and the configured dimensions:
``<namespace>.calls`` (a monotonic sum, no unit) and ``<namespace>.duration`` (an explicit-bucket
histogram with upstream's default buckets, or an exponential one; unit ``ms`` unless ``s``). Spans
whose tracestate carries an OTel sampling threshold (``ot=th:…``) count as their adjusted count.
Optionally ``<namespace>.events`` counts span events.

Series are grouped by resource (all its attributes, or only ``resource_metrics_key_attributes``) in
an LRU of ``resource_metrics_cache_size`` resources. Every ``metrics_flush_interval`` the connector
sends one metrics request with every series: cumulative (a new calls series is first reported as 0,
as upstream does so that Prometheus sees its first increase) or delta (state cleared after each
flush, each point starting where the series' previous one ended).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import uuid
from bisect import bisect_left
from collections import OrderedDict
from typing import Any, Callable

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otelflow.connectors.spanmetrics.config import (
    COLLECTOR_INSTANCE,
    SERVICE_NAME,
    SPAN_KIND,
    SPAN_NAME,
    STATUS_CODE,
    Config,
    Dimension,
)
from otelflow.pdata.expohisto import ExpoHistogram as ExponentialHistogram
from otelflow.connectors.spanmetrics.glob import compile_glob
from otelflow.core.component import Component, Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import Consumer
from otelflow.pdata.otlptext import value_as_string

__all__ = ["Config", "SpanMetrics", "factory"]

log = logging.getLogger(__name__)

SCOPE_NAME = "spanmetricsconnector"
OVERFLOW_KEY = "otel.metric.overflow"
SCOPE_NAME_KEY = "span.instrumentation.scope.name"
SCOPE_VERSION_KEY = "span.instrumentation.scope.version"
SAMPLING_METHOD_KEY = "sampling.method"
SEP = "\x00"

SPAN_KINDS = {
    0: "SPAN_KIND_UNSPECIFIED", 1: "SPAN_KIND_INTERNAL", 2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT",
    4: "SPAN_KIND_PRODUCER", 5: "SPAN_KIND_CONSUMER",
}
STATUS_CODES = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}

# One ID per process, standing where upstream puts the collector's own service.instance.id.
PROCESS_INSTANCE_ID = str(uuid.uuid4())


# ---------------------------------------------------------------------------------------------
# Adjusted counts from OTel tracestate thresholds (the "ot=th:..." sampling convention)

MAX_ADJUSTED_COUNT = 1 << 56
_W3C_KEY = r"(?:[a-z][a-z0-9\-\*/_]*|[a-z0-9][a-z0-9\-\*/_]*@[a-z][a-z0-9\-\*/_]*)"
_W3C_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_W3C_MEMBER = rf"(?:{_W3C_KEY}={_W3C_VALUE})?"
_W3C = re.compile(rf"^[ \t]*{_W3C_MEMBER}[ \t]*(?:,[ \t]*{_W3C_MEMBER}[ \t]*)*$")
_OTEL_MEMBER = re.compile(r"^[a-z][a-z0-9]*:[A-Za-z0-9._\-]*$")
_HEX = re.compile(r"^[0-9a-fA-F]{1,14}$")


def _threshold(tracestate: str) -> int | None:
    """The 56-bit rejection threshold of an OTel ``th`` value, or None (no or invalid threshold)."""
    if len(tracestate) > 1024 or not _W3C.match(tracestate):
        return None
    otel = None
    members = [m.strip() for m in tracestate.split(",") if m.strip()]
    if len(members) > 32:
        return None
    for member in members:
        key, _, value = member.partition("=")
        if key == "ot":
            otel = value
    if otel is None or len(otel) > 256 or not otel or otel.endswith(";"):
        return None
    th = None
    for part in otel.split(";"):
        if not _OTEL_MEMBER.match(part):
            return None
        key, _, value = part.partition(":")
        if key == "th":
            if not _HEX.match(value):
                return None  # upstream's parser fails the whole tracestate
            th = int(value, 16) << (4 * (14 - len(value)))
    return th


def adjusted_count(tracestate: str, rng: Callable[[], float] = random.random) -> tuple[int, bool]:
    """(how many spans this one stands for, whether a threshold said so), with upstream's stochastic
    rounding of non-integral counts."""
    if not tracestate or "ot=" not in tracestate:
        return 1, False
    th = _threshold(tracestate)
    if th is None:
        return 1, False
    denominator = MAX_ADJUSTED_COUNT - th
    if denominator == 0:
        return 1, False
    quotient, remainder = divmod(MAX_ADJUSTED_COUNT, denominator)
    if remainder and rng() * denominator < remainder:
        quotient += 1
    return quotient, True


# ---------------------------------------------------------------------------------------------
# Series


def _kv(key: str, value: AnyValue) -> KeyValue:
    kv = KeyValue(key=key)
    kv.value.CopyFrom(value)
    return kv


def _str(value: str) -> AnyValue:
    return AnyValue(string_value=value)


class _Series:
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


class _SeriesMap:
    """Series by key, with the cardinality limit's overflow series (upstream's SumMetrics and
    HistogramMetrics share this shape)."""

    def __init__(self, limit: int, max_exemplars: int, make: Callable[[_Series], None] | None = None):
        self.series: dict[str, _Series] = {}
        self.limit = limit
        self.max_exemplars = max_exemplars
        self.make = make

    def get_or_create(self, key: str, attributes: Callable[[], list[KeyValue]], start: int, last_seen: float) -> tuple[_Series, bool]:
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
            s = _Series(attrs, start, last_seen)
            if self.make is not None:
                self.make(s)
            self.series[key] = s
        s.last_seen = last_seen
        return s, limited

    def add_exemplar(self, s: _Series, trace_id: bytes, span_id: bytes, value: float) -> None:
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


class _Resource:
    __slots__ = ("calls", "durations", "events", "attributes", "last_seen")

    def __init__(self, attributes: list[KeyValue], calls: _SeriesMap, durations: _SeriesMap | None, events: _SeriesMap):
        self.attributes = attributes
        self.calls = calls
        self.durations = durations
        self.events = events
        self.last_seen = 0.0


class _ResourceCache:
    """An LRU of resources that keeps what it evicts until the next flush has reported it."""

    def __init__(self, size: int):
        self.size = size
        self.lru: OrderedDict[Any, _Resource] = OrderedDict()
        self.evicted: dict[Any, _Resource] = {}

    def get(self, key: Any) -> _Resource | None:
        value = self.lru.get(key)
        if value is not None:
            self.lru.move_to_end(key)
            return value
        value = self.evicted.pop(key, None)
        if value is not None:
            self.add(key, value)
        return value

    def add(self, key: Any, value: _Resource) -> None:
        self.lru[key] = value
        self.lru.move_to_end(key)
        while len(self.lru) > self.size:
            old_key, old = self.lru.popitem(last=False)
            self.evicted[old_key] = old

    def items(self) -> list[tuple[Any, _Resource]]:
        return list(self.lru.items()) + list(self.evicted.items())

    def remove(self, key: Any) -> None:
        self.lru.pop(key, None)

    def purge(self) -> None:
        self.lru.clear()
        self.evicted.clear()


class _Dimensions:
    def __init__(self, dims: list[Dimension]):
        self.named = [(d.name, _str(d.default) if d.default is not None else None) for d in dims if d.name]
        self.globs = [compile_glob(d.glob) for d in dims if d.glob]

    def matches(self, span_attrs: dict[str, AnyValue], other_attrs: dict[str, AnyValue]) -> list[tuple[str, AnyValue]]:
        out = []
        for name, default in self.named:
            value = span_attrs.get(name)
            if value is None:
                value = other_attrs.get(name, default)
            if value is not None:
                out.append((name, value))
        if self.globs:
            for name in sorted(span_attrs):
                if any(g.match(name) for g in self.globs):
                    out.append((name, span_attrs[name]))
            for name in sorted(other_attrs):
                if name in span_attrs:
                    continue
                if any(g.match(name) for g in self.globs):
                    out.append((name, other_attrs[name]))
        return out


def _first_wins(kvs: Any) -> dict[str, AnyValue]:
    out: dict[str, AnyValue] = {}
    for kv in kvs:
        out.setdefault(kv.key, kv.value)
    return out


# ---------------------------------------------------------------------------------------------
# The connector


class SpanMetrics(Component):
    mutates_data = False

    def __init__(self, settings: Settings, config: Config, next: Consumer, clock: Callable[[], float] = time.time,
                 instance_id: str = PROCESS_INSTANCE_ID):
        self.settings = settings
        self.config = config
        self.next = next
        self.clock = clock
        self.instance_id = instance_id
        self.log = settings.logger
        if config.dimensions_cache_size:
            self.log.warning("DimensionsCacheSize is deprecated, please use AggregationCardinalityLimit instead.")
        self.resources = _ResourceCache(config.resource_metrics_cache_size)
        self.key_attributes = set(config.resource_metrics_key_attributes)
        self.dimensions = _Dimensions(config.dimensions)
        self.calls_dimensions = _Dimensions(config.calls_dimensions)
        self.duration_dimensions = _Dimensions(config.histogram.dimensions)
        self.event_dimensions = _Dimensions(config.events.dimensions)
        self.exclude = set(config.exclude_dimensions)
        self.include_scopes = set(config.include_instrumentation_scope)
        self.divider = 1_000_000_000 if config.histogram.unit == "s" else 1_000_000
        self.bounds = config.bounds()
        self.exponential = config.histogram.exponential
        self.delta = config.delta
        self.temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA if self.delta else metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        self.last_delta: OrderedDict[str, int] = OrderedDict()
        self.namespace = config.namespace
        self.task: asyncio.Task | None = None

    # -----------------------------------------------------------------------------------------
    # Lifecycle

    async def start(self, host: Host) -> None:
        self.task = asyncio.create_task(self._ticker())

    async def shutdown(self) -> None:
        # As upstream: the ticker stops; what was aggregated since the last flush is not sent.
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None

    async def _ticker(self) -> None:
        interval = self.config.metrics_flush_interval or 60.0
        loop = asyncio.get_running_loop()
        next_at = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += interval
            try:
                await self.flush()
            except Exception as exc:  # keep ticking
                self.log.error("Failed ConsumeMetrics: %s", exc)

    async def flush(self) -> None:
        """Build every series into one request, reset per the temporality, send it on."""
        request = self.build()
        self.reset()
        try:
            await self.next.consume(request)
        except Exception as exc:
            self.log.error("Failed ConsumeMetrics: %s", exc)

    # -----------------------------------------------------------------------------------------
    # Aggregation

    async def consume(self, data: Any) -> None:
        self.aggregate(data)

    def _resource_key(self, kvs: Any) -> Any:
        pairs = [(kv.key, kv.value.SerializeToString(deterministic=True)) for kv in kvs
                 if not self.key_attributes or kv.key in self.key_attributes]
        return tuple(sorted(dict(reversed(pairs)).items()))

    def _resource(self, rs: Any, now: float) -> _Resource:
        key = self._resource_key(rs.resource.attributes)
        r = self.resources.get(key)
        if r is None:
            c = self.config
            durations = None
            if not c.histogram.disable:
                if self.exponential is not None:
                    size = self.exponential.max_size

                    def make(s: _Series, size: int = size) -> None:
                        s.expo = ExponentialHistogram(size)
                else:
                    nbuckets = len(self.bounds) + 1

                    def make(s: _Series, n: int = nbuckets) -> None:
                        s.bucket_counts = [0] * n
                durations = _SeriesMap(c.aggregation_cardinality_limit, c.exemplars.max_per_data_point, make)
            r = _Resource(
                [KeyValue(key=kv.key, value=kv.value) for kv in rs.resource.attributes],
                _SeriesMap(c.aggregation_cardinality_limit, c.exemplars.max_per_data_point),
                durations,
                _SeriesMap(c.aggregation_cardinality_limit, c.exemplars.max_per_data_point),
            )
            self.resources.add(key, r)
        if self.config.metrics_expiration > 0:
            r.last_seen = now
        return r

    def _key(self, service: str, span: Any, status: str, optional: _Dimensions, span_attrs: dict, other: dict, sampling: str | None) -> str:
        parts = []
        if SERVICE_NAME not in self.exclude:
            parts.append(service)
        if SPAN_NAME not in self.exclude:
            parts.append(span.name)
        if SPAN_KIND not in self.exclude:
            parts.append(SPAN_KINDS.get(span.kind, ""))
        if STATUS_CODE not in self.exclude:
            parts.append(status)
        key = SEP.join(parts) if SERVICE_NAME not in self.exclude else SEP + SEP.join(parts)
        for name, value in self.dimensions.matches(span_attrs, other) + optional.matches(span_attrs, other):
            key += SEP + name + ":" + value_as_string(value)
        if sampling is not None:
            key += SEP + sampling
        return key

    def _attributes(self, service: str, span: Any, status: str, optional: _Dimensions, span_attrs: dict, other: dict,
                    scope: Any, sampling: str | None) -> list[KeyValue]:
        attrs: dict[str, AnyValue] = {}
        if SERVICE_NAME not in self.exclude:
            attrs[SERVICE_NAME] = _str(service)
        if SPAN_NAME not in self.exclude:
            attrs[SPAN_NAME] = _str(span.name)
        if SPAN_KIND not in self.exclude:
            attrs[SPAN_KIND] = _str(SPAN_KINDS.get(span.kind, ""))
        if STATUS_CODE not in self.exclude:
            attrs[STATUS_CODE] = _str(status)
        if COLLECTOR_INSTANCE not in self.exclude:
            attrs[COLLECTOR_INSTANCE] = _str(self.instance_id)
        if scope.name and scope.name in self.include_scopes:
            attrs[SCOPE_NAME_KEY] = _str(scope.name)
            if scope.version:
                attrs[SCOPE_VERSION_KEY] = _str(scope.version)
        if sampling is not None:
            attrs[SAMPLING_METHOD_KEY] = _str(sampling)
        for name, value in self.dimensions.matches(span_attrs, other) + optional.matches(span_attrs, other):
            attrs[name] = value
        return [_kv(k, v) for k, v in attrs.items()]

    def aggregate(self, request: Any) -> None:
        now = self.clock()
        start = int(now * 1e9)
        c = self.config
        exemplars_on = c.exemplars.enabled
        for rs in request.resource_spans:
            resource_attrs = _first_wins(rs.resource.attributes)
            service = resource_attrs.get(SERVICE_NAME)
            if service is None:
                continue
            service_name = service.string_value  # pcommon Str(): "" for a non-string value
            r = self._resource(rs, now)
            for ss in rs.scope_spans:
                scope = ss.scope
                for span in ss.spans:
                    duration = 0.0
                    if span.end_time_unix_nano > span.start_time_unix_nano:
                        duration = float(span.end_time_unix_nano - span.start_time_unix_nano) / float(self.divider)
                    count, adjusted = adjusted_count(span.trace_state)
                    sampling = ("extrapolated" if adjusted else "counted") if c.enable_metrics_sampling_method else None
                    status = STATUS_CODES.get(span.status.code, "")
                    span_attrs = _first_wins(span.attributes)
                    has_trace = any(span.trace_id)

                    key = self._key(service_name, span, status, self.calls_dimensions, span_attrs, resource_attrs, sampling)
                    s, limited = r.calls.get_or_create(
                        key, lambda: self._attributes(service_name, span, status, self.calls_dimensions, span_attrs, resource_attrs, scope, sampling),
                        start, now)
                    if not limited and exemplars_on and has_trace:
                        r.calls.add_exemplar(s, span.trace_id, span.span_id, duration)
                    s.count += count

                    if r.durations is not None:
                        key = self._key(service_name, span, status, self.duration_dimensions, span_attrs, resource_attrs, sampling)
                        h, limited = r.durations.get_or_create(
                            key, lambda: self._attributes(service_name, span, status, self.duration_dimensions, span_attrs, resource_attrs, scope, sampling),
                            start, now)
                        if not limited and exemplars_on and has_trace:
                            r.durations.add_exemplar(h, span.trace_id, span.span_id, duration)
                        if h.expo is not None:
                            h.expo.update(duration, count)
                        else:
                            h.sum += duration * count
                            h.count += count
                            h.bucket_counts[bisect_left(self.bounds, duration)] += count

                    if c.events.enabled:
                        for event in span.events:
                            merged = dict(resource_attrs)
                            merged.update(_first_wins(event.attributes))
                            key = self._key(service_name, span, status, self.event_dimensions, span_attrs, merged, sampling)
                            e, limited = r.events.get_or_create(
                                key, lambda: self._attributes(service_name, span, status, self.event_dimensions, span_attrs, merged, scope, sampling),
                                start, now)
                            if not limited and exemplars_on and has_trace:
                                r.events.add_exemplar(e, span.trace_id, span.span_id, duration)
                            e.count += count

    # -----------------------------------------------------------------------------------------
    # Flush

    def _name(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    def _start(self, key: str, start: int, touched: set[str]) -> int:
        if self.delta:
            start = self.last_delta.get(key, start)
            touched.add(key)
        return start

    def build(self) -> ExportMetricsServiceRequest:
        now = int(self.clock() * 1e9)
        request = ExportMetricsServiceRequest()
        for _, r in self.resources.items():
            rm = request.resource_metrics.add()
            rm.resource.attributes.extend(r.attributes)
            sm = rm.scope_metrics.add()
            sm.scope.name = SCOPE_NAME
            touched: set[str] = set()

            calls = sm.metrics.add(name=self._name("calls"))
            self._sums(calls, r.calls, now, touched)
            if r.durations is not None:
                duration = sm.metrics.add(name=self._name("duration"), unit=self.config.histogram.unit)
                if self.exponential is not None:
                    duration.exponential_histogram.aggregation_temporality = self.temporality
                    for key, h in r.durations.series.items():
                        dp = duration.exponential_histogram.data_points.add(
                            start_time_unix_nano=self._start(key, h.start, touched), time_unix_nano=now)
                        h.expo.to_point(dp)
                        self._finish(dp, h, now)
                else:
                    duration.histogram.aggregation_temporality = self.temporality
                    for key, h in r.durations.series.items():
                        dp = duration.histogram.data_points.add(
                            start_time_unix_nano=self._start(key, h.start, touched), time_unix_nano=now,
                            count=h.count, sum=h.sum)
                        dp.explicit_bounds.extend(self.bounds)
                        dp.bucket_counts.extend(h.bucket_counts)
                        self._finish(dp, h, now)
            if self.config.events.enabled:
                events = sm.metrics.add(name=self._name("events"))
                self._sums(events, r.events, now, touched)
            for key in touched:
                self.last_delta[key] = now
                self.last_delta.move_to_end(key)
                while len(self.last_delta) > self.config.delta_timestamp_cache_size:
                    self.last_delta.popitem(last=False)
        return request

    def _sums(self, metric: Any, series: _SeriesMap, now: int, touched: set[str]) -> None:
        metric.sum.is_monotonic = True
        metric.sum.aggregation_temporality = self.temporality
        for key, s in series.series.items():
            dp = metric.sum.data_points.add(start_time_unix_nano=self._start(key, s.start, touched), time_unix_nano=now)
            if not self.delta and s.first:
                dp.as_int = 0
                s.first = False
            else:
                dp.as_int = s.count
            self._finish(dp, s, now)

    @staticmethod
    def _finish(dp: Any, s: _Series, now: int) -> None:
        for e in s.exemplars:
            e.time_unix_nano = now
            dp.exemplars.append(e)
        dp.attributes.extend(s.attributes)

    def reset(self) -> None:
        c = self.config
        if self.delta:
            self.resources.purge()
            return
        self.resources.evicted.clear()
        if c.histogram.disable and c.metrics_expiration == 0 and c.series_expiration == 0 and not c.exemplars.enabled:
            return
        now = self.clock()
        for key, r in self.resources.items():
            if c.exemplars.enabled:
                r.calls.clear_exemplars()
                r.events.clear_exemplars()
                if r.durations is not None:
                    r.durations.clear_exemplars()
            if c.series_expiration > 0:
                for m in (r.calls, r.events, r.durations):
                    if m is not None:
                        m.expire(c.series_expiration, now)
            if c.metrics_expiration > 0 and now - r.last_seen >= c.metrics_expiration:
                self.resources.remove(key)


def _create(settings: Settings, config: Config, source: Signal, target: Signal, next: Consumer) -> SpanMetrics:
    return SpanMetrics(settings, config, next)


factory = Factory(
    type="spanmetrics",
    kind=Kind.CONNECTOR,
    config=Config,
    create=_create,
    pairs=frozenset({(Signal.TRACES, Signal.METRICS)}),
    stability="alpha",
    state_key="resource",
)
