"""The ``deltatocumulative`` processor (alias ``delta_to_cumulative``): delta sums and histograms
are accumulated into cumulative ones, as upstream's deltatocumulativeprocessor (contrib v0.161.0).

Each stream (resource, scope, metric identity, point attributes) keeps the accumulated point; a
delta point is added to it and replaced by a copy of it, so the output carries the stream's first
start time. A point that starts before the stream or is not newer than it is dropped; a new stream
beyond ``max_streams`` is dropped. Both are counted on ``otelcol_deltatocumulative_datapoints`` with
an ``error`` attribute, as upstream (which does not log them). Streams not seen for ``max_stale``
are evicted by a sweep every minute. Non-delta metrics pass untouched.
See docs/processors/deltatocumulative.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from google.protobuf.message import Message
from opentelemetry.proto.metrics.v1 import metrics_pb2
from pydantic import model_validator

from otelflow.config.model import Duration, Model
from otelflow.core.component import Component, Factory, Kind, Settings, Signal
from otelflow.pdata import remove_if
from otelflow.pdata.maphash import canonical, digest
from otelflow.processors.deltatocumulative.aggregate import (
    accumulate,
    add_exponential,
    add_histograms,
    add_numbers,
)

__all__ = ["Config", "DeltaToCumulativeProcessor", "factory"]

MAX_INT = (1 << 63) - 1
_DELTA, _CUMULATIVE = 1, 2
_SEP = b"\x1e"
_TYPE_CODE = {"sum": b"\x04", "histogram": b"\x05", "exponential_histogram": b"\x06"}
_KIND = {
    "sum": (metrics_pb2.NumberDataPoint, add_numbers),
    "histogram": (metrics_pb2.HistogramDataPoint, add_histograms),
    "exponential_histogram": (metrics_pb2.ExponentialHistogramDataPoint, add_exponential),
}
ERR_LIMIT = "limit"

POINTS = "otelcol_deltatocumulative_datapoints"
TRACKED = "otelcol_deltatocumulative_streams_tracked"
LIMIT = "otelcol_deltatocumulative_streams_limit"
MAX_STALE = "otelcol_deltatocumulative_streams_max_stale"


def duration_string(ns: int) -> str:
    """Go's time.Duration.String, for the validation message."""
    if ns == 0:
        return "0s"
    sign, u = ("-", -ns) if ns < 0 else ("", ns)
    if u < 1_000_000_000:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if u >= size:
                return sign + _frac(u, size) + unit
    h, rest = divmod(u, 3600 * 10**9)
    m, rest = divmod(rest, 60 * 10**9)
    out = _frac(rest, 10**9) + "s"
    if h:
        return f"{sign}{h}h{m}m{out}"
    return f"{sign}{m}m{out}" if m else sign + out


def _frac(value: int, size: int) -> str:
    whole, part = divmod(value, size)
    digits = str(part).rjust(len(str(size)) - 1, "0").rstrip("0") if size > 1 else ""
    return f"{whole}.{digits}" if digits else str(whole)


class Config(Model):
    max_stale: Duration = 300.0
    max_streams: int = MAX_INT

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if self.max_stale <= 0:
            raise ValueError(f"max_stale must be a positive duration (got {duration_string(round(self.max_stale * 1e9))})")
        if self.max_streams < 0:
            raise ValueError(f"max_streams must be a positive number (got {self.max_streams})")
        return self




class DeltaToCumulativeProcessor(Component):
    """Keeps the running total per metric stream: every point of a stream must reach one instance.

    State per stream is ``[last seen (monotonic s), serialized accumulated point]``; the serialized
    form keeps a million streams within a few hundred bytes each (see the docs page).
    """

    mutates_data = True
    #: What the state is keyed by: a router spreading work over several instances must send all
    #: points of one stream (resource + scope + metric identity + point attributes) to one of them.
    keyed_by = "metric stream"
    #: How often stale streams are looked for (upstream: every minute, whatever max_stale is).
    sweep_interval = 60.0

    def __init__(self, settings: Settings, config: Config, next):
        self.next = next
        self.telemetry = settings.telemetry
        self.config = config
        self.max_streams = config.max_streams
        self.states: dict[bytes, list] = {}
        self._sweeper: asyncio.Task | None = None
        self.telemetry.set(MAX_STALE, int(config.max_stale))
        self.telemetry.set(LIMIT, config.max_streams)
        self.telemetry.set(TRACKED, 0)

    async def start(self, host) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop())

    async def shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            self.sweep()

    def sweep(self, now: float | None = None) -> int:
        """Evict streams last seen more than max_stale ago; returns how many."""
        now = time.monotonic() if now is None else now
        max_stale = self.config.max_stale
        doomed = [k for k, s in self.states.items() if now - s[0] > max_stale]
        for k in doomed:
            del self.states[k]
        self.telemetry.set(TRACKED, len(self.states))
        return len(doomed)

    async def consume(self, data: Message) -> None:
        counts: dict[str, int] = {}
        self.process(data, counts)
        for error, n in counts.items():
            if error:
                self.telemetry.add(POINTS, n, error=error)
            else:
                self.telemetry.add(POINTS, n)
        self.telemetry.set(TRACKED, len(self.states))
        if not any(sm.metrics for rm in data.resource_metrics for sm in rm.scope_metrics):
            return
        await self.next.consume(data)

    def process(self, data: Message, counts: dict[str, int]) -> None:
        now = time.monotonic()   # one float shared by every stream touched in this request
        for rm in data.resource_metrics:
            res = digest(canonical(rm.resource.attributes))
            for sm in rm.scope_metrics:
                s = sm.scope
                scope = _SEP.join((res, s.name.encode("utf-8", "surrogatepass"), s.version.encode("utf-8", "surrogatepass"),
                                   digest(canonical(s.attributes))))
                remove_if(sm.metrics, lambda m: self._metric(m, scope, now, counts))
            remove_if(rm.scope_metrics, lambda sm: len(sm.metrics) == 0)
        remove_if(data.resource_metrics, lambda rm: len(rm.scope_metrics) == 0)

    def _metric(self, m, scope: bytes, now: float, counts: dict[str, int]) -> bool:
        kind = m.WhichOneof("data")
        if kind not in _KIND:
            return False
        body = getattr(m, kind)
        if body.aggregation_temporality != _DELTA:
            return False
        monotonic = body.is_monotonic if kind == "sum" else True
        prefix = _SEP.join((scope, m.name.encode("utf-8", "surrogatepass"), m.unit.encode("utf-8", "surrogatepass"),
                            _TYPE_CODE[kind] + (b"\x01" if monotonic else b"\x00") + b"\x01")) + _SEP
        point_type, add = _KIND[kind]
        states = self.states

        def drop(dp) -> bool:
            key = digest(prefix + canonical(dp.attributes))
            state = states.get(key)
            if state is None:
                if len(states) >= self.max_streams:
                    counts[ERR_LIMIT] = counts.get(ERR_LIMIT, 0) + 1
                    return True
                states[key] = [now, dp.SerializeToString()]
                counts[""] = counts.get("", 0) + 1
                return False   # an empty state takes the point as it is
            state[0] = now
            acc = point_type.FromString(state[1])
            try:
                error = accumulate(acc, dp, add)
            except (ValueError, OverflowError, IndexError, MemoryError) as exc:
                error = type(exc).__name__   # absurd input (infinite thresholds …): drop the point, keep the state

            counts[error] = counts.get(error, 0) + 1
            if error:
                return True
            state[1] = acc.SerializeToString()
            dp.CopyFrom(acc)
            return False

        remove_if(body.data_points, drop)
        body.aggregation_temporality = _CUMULATIVE
        return len(body.data_points) == 0


factory = Factory(
    type="deltatocumulative",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: DeltaToCumulativeProcessor(settings, config, next),
    signals=frozenset({Signal.METRICS}),
    stability="alpha",
    state_key="resource",
)
