"""The ``SpanMetrics`` component: aggregates each span into its resource's calls, duration and
events series, flushes every ``metrics_flush_interval`` and resets per the temporality. Series state,
series identity and emission are in their own modules; this one wires them to the config and the
pipeline."""

from __future__ import annotations

import asyncio
import time
import uuid
from bisect import bisect_left
from typing import Any, Callable

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from otelflow.connectors.spanmetrics.config import SERVICE_NAME, Config
from otelflow.connectors.spanmetrics.dimensions import STATUS_CODES, Dimensions, Identity, first_wins
from otelflow.connectors.spanmetrics.emit import Emitter
from otelflow.connectors.spanmetrics.sampling import adjusted_count
from otelflow.connectors.spanmetrics.series import Resource, ResourceCache, Series, SeriesMap
from otelflow.core.component import Component, Host, Settings
from otelflow.core.consumer import Consumer
from otelflow.pdata.expohisto import ExpoHistogram as ExponentialHistogram

# One ID per process, standing where upstream puts the collector's own service.instance.id.
PROCESS_INSTANCE_ID = str(uuid.uuid4())


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
        self.resources = ResourceCache(config.resource_metrics_cache_size)
        self.key_attributes = set(config.resource_metrics_key_attributes)
        self.identity = Identity(Dimensions(config.dimensions), set(config.exclude_dimensions),
                                 set(config.include_instrumentation_scope), instance_id)
        self.calls_dimensions = Dimensions(config.calls_dimensions)
        self.duration_dimensions = Dimensions(config.histogram.dimensions)
        self.event_dimensions = Dimensions(config.events.dimensions)
        self.divider = 1_000_000_000 if config.histogram.unit == "s" else 1_000_000
        self.emitter = Emitter(config)
        self.bounds = self.emitter.bounds
        self.exponential = config.histogram.exponential
        self.delta = config.delta
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

    def _resource(self, rs: Any, now: float) -> Resource:
        key = self._resource_key(rs.resource.attributes)
        r = self.resources.get(key)
        if r is None:
            c = self.config
            durations = None
            if not c.histogram.disable:
                if self.exponential is not None:
                    size = self.exponential.max_size

                    def make(s: Series, size: int = size) -> None:
                        s.expo = ExponentialHistogram(size)
                else:
                    nbuckets = len(self.bounds) + 1

                    def make(s: Series, n: int = nbuckets) -> None:
                        s.bucket_counts = [0] * n
                durations = SeriesMap(c.aggregation_cardinality_limit, c.exemplars.max_per_data_point, make)
            r = Resource(
                [KeyValue(key=kv.key, value=kv.value) for kv in rs.resource.attributes],
                SeriesMap(c.aggregation_cardinality_limit, c.exemplars.max_per_data_point),
                durations,
                SeriesMap(c.aggregation_cardinality_limit, c.exemplars.max_per_data_point),
            )
            self.resources.add(key, r)
        if self.config.metrics_expiration > 0:
            r.last_seen = now
        return r

    def aggregate(self, request: Any) -> None:
        now = self.clock()
        start = int(now * 1e9)
        c = self.config
        exemplars_on = c.exemplars.enabled
        series_key = self.identity.key
        series_attributes = self.identity.attributes
        for rs in request.resource_spans:
            resource_attrs = first_wins(rs.resource.attributes)
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
                    span_attrs = first_wins(span.attributes)
                    has_trace = any(span.trace_id)

                    key = series_key(service_name, span, status, self.calls_dimensions, span_attrs, resource_attrs, sampling)
                    s, limited = r.calls.get_or_create(
                        key, lambda: series_attributes(service_name, span, status, self.calls_dimensions, span_attrs, resource_attrs, scope, sampling),
                        start, now)
                    if not limited and exemplars_on and has_trace:
                        r.calls.add_exemplar(s, span.trace_id, span.span_id, duration)
                    s.count += count

                    if r.durations is not None:
                        key = series_key(service_name, span, status, self.duration_dimensions, span_attrs, resource_attrs, sampling)
                        h, limited = r.durations.get_or_create(
                            key, lambda: series_attributes(service_name, span, status, self.duration_dimensions, span_attrs, resource_attrs, scope, sampling),
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
                            merged.update(first_wins(event.attributes))
                            key = series_key(service_name, span, status, self.event_dimensions, span_attrs, merged, sampling)
                            e, limited = r.events.get_or_create(
                                key, lambda: series_attributes(service_name, span, status, self.event_dimensions, span_attrs, merged, scope, sampling),
                                start, now)
                            if not limited and exemplars_on and has_trace:
                                r.events.add_exemplar(e, span.trace_id, span.span_id, duration)
                            e.count += count

    # -----------------------------------------------------------------------------------------
    # Flush

    def build(self) -> ExportMetricsServiceRequest:
        return self.emitter.build(self.resources.items(), int(self.clock() * 1e9))

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
