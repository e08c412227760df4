"""The ``cumulativetodelta`` processor (alias ``cumulative_to_delta``): cumulative sums and histograms
become deltas, as upstream's cumulativetodeltaprocessor (contrib v0.161.0).

Only monotonic cumulative sums, histograms and exponential histograms that pass include/exclude
are converted; everything else passes untouched. Each point's delta is taken against the last point
of its stream (see tracker.py); the first point of a stream is kept or dropped by ``initial_value``;
a decrease is a reset (the point is dropped). Points flagged "no recorded value" are dropped; a NaN
sum point passes as it is. Metrics, scopes and resources left empty are removed.
See docs/processors/cumulativetodelta.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
import time
from typing import Any

from google.protobuf.message import Message
from pydantic import field_validator, model_validator

from otelflow.config.model import Duration, Model
from otelflow.core.component import Component, Factory, Kind, Settings, Signal
from otelflow.pdata import remove_if
from otelflow.pdata.maphash import canonical, digest
from otelflow.processors.cumulativetodelta.tracker import AUTO, DROP, KEEP, RESET, Buckets, ExpoPoint, Tracker
from otelflow.processors.filtermatch import RegexpConfig, create_filterset

__all__ = ["Config", "CumulativeToDeltaProcessor", "factory"]

_VALID_TYPES = {"sum": "sum", "histogram": "histogram", "exponentialhistogram": "exponential_histogram"}
_VALID_LIST = "[exponentialhistogram histogram sum]"
_CUMULATIVE, _DELTA = 2, 1
_NO_RECORDED_VALUE = 1
# pmetric.MetricType / NumberDataPointValueType codes, as upstream writes them into the identity
_TYPE_CODE = {"sum": b"D", "histogram": b"E", "exponential_histogram": b"F"}
_VALUE_CODE = {None: b"A", "as_int": b"B", "as_double": b"C"}
_SEP = b"\x1e"

POINTS = "otelcol_cumulativetodelta_datapoints"
DROPPED = "otelcol_cumulativetodelta_datapoints_dropped"
TRACKED = "otelcol_cumulativetodelta_streams_tracked"


class MatchMetrics(Model):
    match_type: str = ""
    regexp: RegexpConfig | None = None
    metrics: list[str] = []
    metric_types: list[str] = []

    @field_validator("metrics", "metric_types", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        # mapstructure decodes ``metrics:`` (null) into an empty list
        return [] if value is None else value


class Config(Model):
    max_staleness: Duration = 3600.0
    initial_value: str = AUTO
    include: MatchMetrics = MatchMetrics()
    exclude: MatchMetrics = MatchMetrics()

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _null_match(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("initial_value", mode="before")
    @classmethod
    def _initial(cls, value: Any) -> Any:
        if value is None:
            return AUTO
        if str(value) not in (AUTO, KEEP, DROP):
            raise ValueError(f"unknown initial_value: {value}")
        return str(value)

    @model_validator(mode="after")
    def _check(self) -> "Config":
        inc, exc = self.include, self.exclude
        if (inc.metrics and not inc.match_type) or (exc.metrics and not exc.match_type):
            raise ValueError("match_type must be set if metrics are supplied")
        if (inc.match_type and not inc.metrics) or (exc.match_type and not exc.metrics):
            raise ValueError("metrics must be supplied if match_type is set")
        for where, m in (("exclude", exc), ("include", inc)):
            for t in m.metric_types:
                if t.lower() not in _VALID_TYPES:
                    raise ValueError(f"found invalid metric type in {where}.metric_types: {t}. Valid values are {_VALID_LIST}")
        return self


def _filterset(m: MatchMetrics):
    # Upstream ignores the error of building the set: a bad match_type or pattern means no filter.
    if not m.metrics:
        return None
    try:
        return create_filterset(m.metrics, m.match_type, m.regexp)
    except ValueError:
        return None




class CumulativeToDeltaProcessor(Component):
    """Keeps state per metric stream, so every point of one stream must reach the same instance."""

    mutates_data = True
    #: What the state is keyed by: a router spreading work over several instances must send all
    #: points of one stream (resource + scope + metric identity + point attributes) to one of them.
    keyed_by = "metric stream"

    def __init__(self, settings: Settings, config: Config, next):
        self.next = next
        self.logger = settings.logger
        self.telemetry = settings.telemetry
        self.config = config
        self.include = _filterset(config.include)
        self.exclude = _filterset(config.exclude)
        self.include_types = {_VALID_TYPES[t.lower()] for t in config.include.metric_types}
        self.exclude_types = {_VALID_TYPES[t.lower()] for t in config.exclude.metric_types}
        self.tracker = Tracker(config.initial_value)
        self._sweeper: asyncio.Task | None = None
        self._mismatch_logged = False

    # lifecycle ---------------------------------------------------------------------------------

    async def start(self, host) -> None:
        if self.config.max_staleness > 0:
            self._sweeper = asyncio.create_task(self._sweep_loop())

    async def shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def _sweep_loop(self) -> None:
        interval = self.config.max_staleness
        while True:
            await asyncio.sleep(interval)
            self.sweep()

    def sweep(self, now_ns: int | None = None) -> int:
        now_ns = time.time_ns() if now_ns is None else now_ns
        removed = self.tracker.remove_stale(now_ns - int(self.config.max_staleness * 1e9))
        self.telemetry.set(TRACKED, len(self.tracker))
        return removed

    # data path ---------------------------------------------------------------------------------

    async def consume(self, data: Message) -> None:
        self._mismatch_logged = False
        self.process(data)
        self.telemetry.set(TRACKED, len(self.tracker))
        await self.next.consume(data)

    def _wanted(self, name: str, kind: str) -> bool:
        return ((self.include is None or self.include.matches(name))
                and (not self.include_types or kind in self.include_types)
                and (self.exclude is None or not self.exclude.matches(name))
                and (not self.exclude_types or kind not in self.exclude_types))

    def process(self, data: Message) -> None:
        for rm in data.resource_metrics:
            res = digest(canonical(rm.resource.attributes)) if len(rm.resource.attributes) else b""
            for sm in rm.scope_metrics:
                scope = sm.scope.name.encode("utf-8", "surrogatepass") + _SEP + sm.scope.version.encode("utf-8", "surrogatepass")
                remove_if(sm.metrics, lambda m: self._metric(m, res, scope))
            remove_if(rm.scope_metrics, lambda sm: len(sm.metrics) == 0)
        remove_if(data.resource_metrics, lambda rm: len(rm.scope_metrics) == 0)

    def _metric(self, m, res: bytes, scope: bytes) -> bool:
        kind = m.WhichOneof("data")
        if kind not in _TYPE_CODE or not self._wanted(m.name, kind):
            return False
        body = getattr(m, kind)
        if body.aggregation_temporality != _CUMULATIVE:
            return False
        if kind == "sum":
            if not body.is_monotonic:
                return False
        elif len(body.data_points) == 0:
            return False
        mono = b"N" if kind == "exponential_histogram" else b"Y"
        prefix = _SEP.join((res, scope, mono, m.name.encode("utf-8", "surrogatepass"), m.unit.encode("utf-8", "surrogatepass"))) + _SEP
        code = _TYPE_CODE[kind]
        if kind == "sum":
            remove_if(body.data_points, lambda dp: self._number(dp, code, prefix))
        elif kind == "histogram":
            remove_if(body.data_points, lambda dp: self._histogram(dp, code + b"B", prefix))
        else:
            remove_if(body.data_points, lambda dp: self._exponential(dp, code + b"A", prefix))
        body.aggregation_temporality = _DELTA
        return len(body.data_points) == 0

    def _key(self, head: bytes, prefix: bytes, dp) -> bytes:
        return digest(head + prefix + canonical(dp.attributes) + _SEP + struct.pack("<Q", dp.start_time_unix_nano))

    def _dropped(self, kind: str, reason: str, name: str) -> None:
        if reason:
            self.telemetry.add(DROPPED, 1, metric_type=kind, reason=reason)

    def _number(self, dp, code: bytes, prefix: bytes) -> bool:
        if dp.flags & _NO_RECORDED_VALUE:
            return True
        vt = dp.WhichOneof("value")
        is_float = vt == "as_double"
        value = dp.as_double if is_float else dp.as_int
        if is_float and math.isnan(value):
            return False
        key = self._key(code + _VALUE_CODE[vt], prefix, dp)
        valid, reason, start, delta = self.tracker.convert_sum(key, dp.time_unix_nano, dp.start_time_unix_nano, value, is_float)
        if not valid:
            self._dropped("sum", reason, "")
            return True
        self.telemetry.add(POINTS, 1, metric_type="sum")
        dp.start_time_unix_nano = start
        if is_float:
            dp.as_double = delta
        else:
            dp.as_int = delta
        return False

    def _histogram(self, dp, head: bytes, prefix: bytes) -> bool:
        if dp.flags & _NO_RECORDED_VALUE:
            return True
        key = self._key(head, prefix, dp)
        valid, reason, start, count, sum_, counts = self.tracker.convert_histogram(
            key, dp.time_unix_nano, dp.start_time_unix_nano, dp.count, dp.sum,
            list(dp.explicit_bounds), list(dp.bucket_counts))
        if not valid:
            if reason == "bucket_mismatch" and not self._mismatch_logged:
                self._mismatch_logged = True   # once per request, not per point
                self.logger.warning("Points in histogram series have different numbers of buckets or bucket boundaries; some data will be dropped")
            self._dropped("histogram", reason, "")
            return True
        self.telemetry.add(POINTS, 1, metric_type="histogram")
        dp.start_time_unix_nano = start
        dp.count = count
        if dp.HasField("sum") and not math.isnan(dp.sum):
            dp.sum = sum_
        dp.bucket_counts[:] = counts
        dp.ClearField("min")
        dp.ClearField("max")
        return False

    def _exponential(self, dp, head: bytes, prefix: bytes) -> bool:
        if dp.flags & _NO_RECORDED_VALUE:
            return True
        key = self._key(head, prefix, dp)
        point = ExpoPoint(dp.count, dp.sum, dp.zero_count, dp.zero_threshold, dp.scale,
                          Buckets(dp.positive.offset, list(dp.positive.bucket_counts)),
                          Buckets(dp.negative.offset, list(dp.negative.bucket_counts)))
        try:
            valid, reason, start, delta = self.tracker.convert_exponential(key, dp.time_unix_nano, dp.start_time_unix_nano, point)
        except (ValueError, OverflowError, MemoryError):
            valid, reason = False, RESET   # absurd scale or threshold: drop the point, as for a reset
        if not valid:
            self._dropped("exponential_histogram", reason, "")
            return True
        self.telemetry.add(POINTS, 1, metric_type="exponential_histogram")
        dp.start_time_unix_nano = start
        dp.count = delta.count
        if dp.HasField("sum") and not math.isnan(dp.sum):
            dp.sum = delta.sum
        dp.zero_count = delta.zero_count
        dp.positive.offset = delta.positive.offset
        dp.positive.bucket_counts[:] = delta.positive.counts
        dp.negative.offset = delta.negative.offset
        dp.negative.bucket_counts[:] = delta.negative.counts
        dp.ClearField("min")
        dp.ClearField("max")
        return False


factory = Factory(
    type="cumulativetodelta",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: CumulativeToDeltaProcessor(settings, config, next),
    signals=frozenset({Signal.METRICS}),
    stability="beta",
    state_key="resource",
)
