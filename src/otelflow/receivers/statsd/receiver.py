"""The ``statsd`` receiver: listens, aggregates lines per client, flushes every interval.

A line that does not parse is counted (``otelcol_receiver_received_statsd_metrics`` with
``parse_success="false"``) and the interval's first such error is logged once when it flushes;
the socket keeps serving. At shutdown the partial interval is flushed rather than dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time

from otelflow.core.component import Component, Host, Settings, Signal
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.receivers.statsd.aggregator import Aggregator
from otelflow.receivers.statsd.config import Config
from otelflow.receivers.statsd.parser import StatsdParseError
from otelflow.receivers.statsd.transport import Server

RECEIVED = "otelcol_receiver_received_statsd_metrics"


class StatsdReceiver(Component):
    def __init__(self, settings: Settings, config: Config, consumers: dict[Signal, Consumer]):
        self.settings = settings
        self.config = config
        self.consumer = consumers[Signal.METRICS]
        self.log = settings.logger
        self.aggregator = Aggregator(config)
        self.server: Server | None = None
        self._ticker: asyncio.Task | None = None
        self._labels = {"receiver": str(settings.id)}
        self._ok = self._failed = 0
        self._first_error: str | None = None

    def on_line(self, text: str, client: tuple[str, str]) -> None:
        try:
            self.aggregator.aggregate(text, client)
        except StatsdParseError as exc:
            self._failed += 1
            if self._first_error is None:
                self._first_error = f"{exc} (from {client[1]})"
        else:
            self._ok += 1

    def _count(self) -> None:
        telemetry = self.settings.telemetry
        if self._ok:
            telemetry.add(RECEIVED, self._ok, parse_success="true", **self._labels)
        if self._failed:
            telemetry.add(RECEIVED, self._failed, parse_success="false", **self._labels)
            self.log.warning("Dropped %d statsd line(s) that did not parse in the last interval; the first: %s",
                             self._failed, self._first_error)
        self._ok = self._failed = 0
        self._first_error = None

    async def flush(self) -> None:
        self._count()
        transport = self.config.transport
        labels = {**self._labels, "transport": transport}
        for _, request, points in self.aggregator.flush():
            try:
                await self.consumer.consume(request)
            except ConsumerError as exc:
                self.settings.telemetry.add("otelcol_receiver_refused_metric_points", points, **labels)
                self.log.debug("Error flushing metrics: %s", exc)
            else:
                self.settings.telemetry.add("otelcol_receiver_accepted_metric_points", points, **labels)

    async def _tick(self) -> None:
        interval = self.config.aggregation_interval
        next_at = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            try:
                await self.flush()
            except Exception:  # a bug in one flush must not end the ticker
                self.log.exception("statsd flush failed")

    async def start(self, host: Host) -> None:
        endpoint = self.config.endpoint or ("/var/run/statsd-receiver.sock" if self.config.transport == "unixgram"
                                            else "localhost:8125")
        self.server = Server(self.config.transport, endpoint, self.on_line, self.config.socket_permissions,
                             self.config.socket_buffer_size)
        await self.server.start()
        self.aggregator.interval_start = time.time_ns()
        self._ticker = asyncio.create_task(self._tick(), name=f"statsd-{self.settings.id}")
        self.log.info("statsd receiver listening on %s (%s)", endpoint, self.config.transport)

    async def shutdown(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
            await self.flush()
