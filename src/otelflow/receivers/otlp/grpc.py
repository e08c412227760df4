"""OTLP/gRPC: the three Export services on one grpc.aio server, with optional TLS and authentication."""

from __future__ import annotations

import logging

import grpc
from google.protobuf.message import DecodeError

from otelflow.config.settings import GRPCServerSettings
from otelflow.core.client import client_metadata, metadata_of, request_metadata
from otelflow.core.component import Component, Host, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.core.grpcserver import GRPCEndpoint
from otelflow.extensions.auth import AuthError, header_map
from otelflow.pdata import REQUEST_TYPES, success_response, InvalidIDError, check_ids_encoded

log = logging.getLogger("otelflow.receiver.otlp")

SERVICES = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
    Signal.PROFILES: "opentelemetry.proto.collector.profiles.v1development.ProfilesService",
}


class GRPCServer(Component):
    def __init__(self, receiver, settings: GRPCServerSettings):
        self.receiver = receiver
        self.settings = settings
        self.grpc = GRPCEndpoint(settings, log)

    @property
    def port(self) -> int | None:
        return self.grpc.port

    def _handler(self, signal: Signal):
        response = success_response(signal)
        parse = REQUEST_TYPES[signal].FromString
        deliver = self.receiver.deliver
        include_metadata = self.settings.include_metadata

        async def export(body: bytes, context: grpc.aio.ServicerContext):
            try:
                request = parse(body)
                check_ids_encoded(signal, body, request)
            except (DecodeError, InvalidIDError) as exc:
                # What a Go gRPC server answers when its codec cannot unmarshal the request.
                await context.abort(grpc.StatusCode.INTERNAL, f"grpc: error unmarshalling request: {exc}")
            if self.grpc.auth is not None:
                # grpc-go decodes the message before the auth interceptor runs, so this comes second.
                try:
                    await self.grpc.auth.authenticate(header_map(context.invocation_metadata() or ()))
                except AuthError as exc:
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            metadata = metadata_of(context.invocation_metadata() or ())
            token = request_metadata.set(metadata)
            kept = client_metadata.set(metadata if include_metadata else None)
            try:
                await deliver(signal, request, "grpc", body)
            except ConsumerError as exc:
                code = grpc.StatusCode.INVALID_ARGUMENT if exc.permanent else grpc.StatusCode.UNAVAILABLE
                await context.abort(code, str(exc) or ("Bad Request" if exc.permanent else "Service Unavailable"))
            finally:
                client_metadata.reset(kept)
                request_metadata.reset(token)
            return response

        return grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=None, response_serializer=type(response).SerializeToString
        )

    async def start(self, host: Host) -> None:
        def register(server: grpc.aio.Server) -> None:
            for signal in self.receiver.consumers:
                server.add_generic_rpc_handlers(
                    (grpc.method_handlers_generic_handler(SERVICES[signal], {"Export": self._handler(signal)}),)
                )

        endpoint = self.settings.endpoint
        await self.grpc.start(host, register, f"cannot listen on {endpoint}")
        log.info("Starting GRPC server endpoint=%s", endpoint)

    async def shutdown(self) -> None:
        await self.grpc.shutdown()
