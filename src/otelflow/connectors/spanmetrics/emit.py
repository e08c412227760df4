"""Emission: every resource's series as one metrics request — ``<namespace>.calls`` and
``<namespace>.events`` (monotonic sums), ``<namespace>.duration`` (explicit or exponential
histogram). Delta temporality starts each point where the series' previous one ended, from a
bounded LRU of last timestamps; cumulative reports a new calls/events series first as 0, as upstream
does so that Prometheus sees its first increase."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otelflow.connectors.spanmetrics.config import Config
from otelflow.connectors.spanmetrics.series import Resource, Series, SeriesMap

SCOPE_NAME = "spanmetricsconnector"


class Emitter:
    """Builds the request from the series; owns the delta start-time cache, the only state that
    outlives a flush in delta mode."""

    def __init__(self, config: Config):
        self.config = config
        self.namespace = config.namespace
        self.bounds = config.bounds()
        self.exponential = config.histogram.exponential
        self.delta = config.delta
        self.temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA if self.delta else metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        self.last_delta: OrderedDict[str, int] = OrderedDict()

    def _name(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    def _start(self, key: str, start: int, touched: set[str]) -> int:
        if self.delta:
            start = self.last_delta.get(key, start)
            touched.add(key)
        return start

    def build(self, resources: Iterable[tuple[Any, Resource]], now: int) -> ExportMetricsServiceRequest:
        request = ExportMetricsServiceRequest()
        for _, r in resources:
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

    def _sums(self, metric: Any, series: SeriesMap, now: int, touched: set[str]) -> None:
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
    def _finish(dp: Any, s: Series, now: int) -> None:
        for e in s.exemplars:
            e.time_unix_nano = now
            dp.exemplars.append(e)
        dp.attributes.extend(s.attributes)
