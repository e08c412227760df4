"""OTLP/gRPC: the three Export services on one grpc.aio server, with optional TLS and authentication."""

from __future__ import annotations

import logging

import grpc
from google.protobuf.message import DecodeError

from otelflow.config.settings import GRPCServerSettings
from otelflow.core.client import metadata_of, request_metadata
from otelflow.core.component import Component, Host, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.core.netaddr import bind_address
from otelflow.core.tls import ServerTLS
from otelflow.extensions.auth import AuthError, header_map, server_authenticator
from otelflow.pdata import REQUEST_TYPES, RESPONSE_TYPES, success_response, InvalidIDError, check_ids_encoded

log = logging.getLogger("otelflow.receiver.otlp")

SERVICES = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
}


class GRPCServer(Component):
    def __init__(self, receiver, settings: GRPCServerSettings):
        self.receiver = receiver
        self.settings = settings
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None
        self.tls: ServerTLS | None = None
        self.auth = None

    def _handler(self, signal: Signal):
        response = success_response(signal)
        parse = REQUEST_TYPES[signal].FromString
        deliver = self.receiver.deliver

        async def export(body: bytes, context: grpc.aio.ServicerContext):
            try:
                request = parse(body)
                check_ids_encoded(signal, body, request)
            except (DecodeError, InvalidIDError) as exc:
                # What a Go gRPC server answers when its codec cannot unmarshal the request.
                await context.abort(grpc.StatusCode.INTERNAL, f"grpc: error unmarshalling request: {exc}")
            if self.auth is not None:
                # grpc-go decodes the message before the auth interceptor runs, so this comes second.
                try:
                    await self.auth.authenticate(header_map(context.invocation_metadata() or ()))
                except AuthError as exc:
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            token = request_metadata.set(metadata_of(context.invocation_metadata() or ()))
            try:
                await deliver(signal, request, "grpc")
            except ConsumerError as exc:
                code = grpc.StatusCode.INVALID_ARGUMENT if exc.permanent else grpc.StatusCode.UNAVAILABLE
                await context.abort(code, str(exc) or ("Bad Request" if exc.permanent else "Service Unavailable"))
            finally:
                request_metadata.reset(token)
            return response

        return grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=None, response_serializer=type(response).SerializeToString
        )

    async def start(self, host: Host) -> None:
        s = self.settings
        if s.auth is not None:
            self.auth = server_authenticator(host, s.auth.authenticator)
        options = [("grpc.max_receive_message_length", s.max_recv_bytes), ("grpc.so_reuseport", 0)]
        if s.max_concurrent_streams:
            options.append(("grpc.max_concurrent_streams", s.max_concurrent_streams))
        self.server = grpc.aio.server(options=options)
        for signal in self.receiver.consumers:
            self.server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(SERVICES[signal], {"Export": self._handler(signal)}),)
            )
        address = bind_address(s.endpoint)
        try:
            if s.tls is not None:
                self.tls = ServerTLS(s.tls, log)
                await self.tls.start()
                self.port = self.server.add_secure_port(address, self.tls.grpc_credentials())
            else:
                self.port = self.server.add_insecure_port(address)
            if not self.port:
                raise OSError(f"cannot listen on {s.endpoint}")
            await self.server.start()
        except BaseException:
            self.server = None
            if self.tls is not None:
                await self.tls.stop()
            raise
        log.info("Starting GRPC server endpoint=%s", s.endpoint)

    async def shutdown(self) -> None:
        if self.server is not None:
            # Let in-flight exports finish: their data is already on its way into the pipeline.
            await self.server.stop(grace=5.0)
            self.server = None
        if self.tls is not None:
            await self.tls.stop()
            self.tls = None
