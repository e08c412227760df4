"""The ``jaeger`` receiver: a Jaeger collector (gRPC, Thrift over HTTP) and agent (Thrift over UDP)."""

from __future__ import annotations

import logging

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.core.component import Component, Host, Settings, Signal
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.receivers.jaeger.config import Config

log = logging.getLogger("otelflow.receiver.jaeger")

# upstream's obsreport transports
GRPC, HTTP, UDP_BINARY, UDP_COMPACT = "grpc", "collector_http", "udp_thrift_binary", "udp_thrift_compact"


class JaegerReceiver(Component):
    def __init__(self, settings: Settings, config: Config, consumers: dict[Signal, Consumer]):
        self.settings = settings
        self.config = config
        self.consumer = consumers[Signal.TRACES]
        self.servers: dict[str, Component] = {}

    async def deliver(self, request: ExportTraceServiceRequest, spans: int, transport: str) -> None:
        """Hand one translated batch on, even an empty one (upstream always calls the pipeline);
        ``spans`` is the count of Jaeger spans, as upstream reports it."""
        labels = {"receiver": str(self.settings.id), "transport": transport}
        try:
            await self.consumer.consume(request)
        except ConsumerError:
            self.settings.telemetry.add("otelcol_receiver_refused_spans", spans, **labels)
            raise
        self.settings.telemetry.add("otelcol_receiver_accepted_spans", spans, **labels)

    def refused(self, spans: int, transport: str) -> None:
        self.settings.telemetry.add("otelcol_receiver_refused_spans", spans, receiver=str(self.settings.id),
                                    transport=transport)

    async def start(self, host: Host) -> None:
        from otelflow.receivers.jaeger.grpc import GRPCServer
        from otelflow.receivers.jaeger.http import ThriftHTTPServer
        from otelflow.receivers.jaeger.udp import AgentServer

        p = self.config.protocols
        # the agent (UDP) side first, then the collector side, as upstream starts them
        if p.thrift_binary is not None:
            self.servers["thrift_binary"] = AgentServer(self, p.thrift_binary, compact=False)
        if p.thrift_compact is not None:
            self.servers["thrift_compact"] = AgentServer(self, p.thrift_compact, compact=True)
        if p.thrift_http is not None:
            self.servers["thrift_http"] = ThriftHTTPServer(self, p.thrift_http)
        if p.grpc is not None:
            self.servers["grpc"] = GRPCServer(self, p.grpc)
        started: list[Component] = []
        try:
            for server in self.servers.values():
                await server.start(host)
                started.append(server)
        except BaseException:
            for server in reversed(started):
                await server.shutdown()
            self.servers.clear()
            raise

    async def shutdown(self) -> None:
        for server in reversed(list(self.servers.values())):
            await server.shutdown()
        self.servers.clear()
