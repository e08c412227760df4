"""One receiver instance per ID serves every signal on one gRPC and one HTTP listener."""

from __future__ import annotations

from google.protobuf.message import Message

from otelflow.core.client import received_request
from otelflow.core.component import Component, Host, Settings, Signal
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.core.telemetry import ITEM_NAMES, Telemetry
from otelflow.pdata import COUNTERS
from otelflow.pdata.counting import data_points_encoded
from otelflow.receivers.otlp.config import Config


class OTLPReceiver(Component):
    def __init__(self, settings: Settings, config: Config, consumers: dict[Signal, Consumer]):
        self.settings = settings
        self.config = config
        self.consumers = consumers
        self._servers: list[Component] = []
        # per (signal, transport): the (accepted, refused) series, built once
        self._series = {
            (s, t): tuple(
                Telemetry.series(f"otelcol_receiver_{what}_{ITEM_NAMES[s]}", receiver=str(settings.id), transport=t)
                for what in ("accepted", "refused"))
            for s in consumers for t in ("grpc", "http")
        }

    async def deliver(self, signal: Signal, request: Message, transport: str, body: bytes | None = None) -> None:
        """Hand one request to the pipeline; raises the pipeline's ConsumerError for the caller to map.
        ``body`` is the protobuf the request was parsed from, if it came encoded."""
        count = data_points_encoded(body) if body is not None and signal is Signal.METRICS else None
        if count is None:
            count = COUNTERS[signal](request)
        if count == 0:
            return  # upstream answers an empty request without calling the pipeline
        accepted, refused = self._series[(signal, transport)]
        telemetry = self.settings.telemetry
        token = received_request.set((request, body, count))
        try:
            await self.consumers[signal].consume(request)
        except ConsumerError:
            telemetry.add_to(refused, count)
            raise
        finally:
            received_request.reset(token)
        telemetry.add_to(accepted, count)

    async def start(self, host: Host) -> None:
        from otelflow.receivers.otlp.grpc import GRPCServer
        from otelflow.receivers.otlp.http import HTTPServer

        if self.config.protocols.grpc is not None:
            self._servers.append(GRPCServer(self, self.config.protocols.grpc))
        if self.config.protocols.http is not None:
            self._servers.append(HTTPServer(self, self.config.protocols.http))
        started = []
        try:
            for server in self._servers:
                await server.start(host)
                started.append(server)
        except BaseException:
            for server in reversed(started):  # do not leave the other protocol listening
                await server.shutdown()
            self._servers.clear()
            raise

    async def shutdown(self) -> None:
        for server in reversed(self._servers):
            await server.shutdown()
        self._servers.clear()
