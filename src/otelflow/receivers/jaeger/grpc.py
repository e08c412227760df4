"""Jaeger's api_v2 CollectorService/PostSpans on a grpc.aio server."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf.message import DecodeError

from otelflow.core.client import client_metadata, metadata_of, request_metadata
from otelflow.core.component import Component, Host
from otelflow.core.consumer import ConsumerError
from otelflow.core.grpcserver import GRPCEndpoint
from otelflow.extensions.auth import AuthError, header_map
from otelflow.receivers.jaeger.config import GRPCProtocol
from otelflow.receivers.jaeger.idl import api_v2
from otelflow.receivers.jaeger.receiver import GRPC, log
from otelflow.translators.jaeger import InvalidIDError, proto_to_traces

_RESPONSE = api_v2.PostSpansResponse().SerializeToString()
# a message this large is decoded and translated in a worker thread, off the event loop
_THREAD_BYTES = 256 * 1024


def _translate(body: bytes):
    request = api_v2.PostSpansRequest.FromString(body)
    # the ID checks belong to decoding: gogoproto's ID types refuse these while unmarshalling
    return request, proto_to_traces(request.batch)


class GRPCServer(Component):
    def __init__(self, receiver, settings: GRPCProtocol):
        self.receiver = receiver
        self.settings = settings
        self.grpc = GRPCEndpoint(settings, log)

    @property
    def port(self) -> int | None:
        return self.grpc.port

    async def _post_spans(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            if len(body) > _THREAD_BYTES:
                request, traces = await asyncio.to_thread(_translate, body)
            else:
                request, traces = _translate(body)
        except (DecodeError, InvalidIDError) as exc:
            await context.abort(grpc.StatusCode.INTERNAL, f"grpc: failed to unmarshal the received message: {exc}")
        if self.grpc.auth is not None:
            try:
                await self.grpc.auth.authenticate(header_map(context.invocation_metadata() or ()))
            except AuthError as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        metadata = metadata_of(context.invocation_metadata() or ())
        token = request_metadata.set(metadata)
        kept = client_metadata.set(metadata if self.settings.include_metadata else None)
        try:
            await self.receiver.deliver(traces, len(request.batch.spans), GRPC)
        except ConsumerError as exc:
            # upstream returns the pipeline's error as is: grpc-go sends it as Unknown
            await context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        finally:
            client_metadata.reset(kept)
            request_metadata.reset(token)
        return _RESPONSE

    async def start(self, host: Host) -> None:
        def register(server: grpc.aio.Server) -> None:
            handler = grpc.unary_unary_rpc_method_handler(self._post_spans, request_deserializer=None,
                                                          response_serializer=None)
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(api_v2.SERVICE, {"PostSpans": handler}),))

        endpoint = self.settings.endpoint
        await self.grpc.start(host, register, f'failed to bind to gRPC address "{endpoint}"')
        log.info("Starting gRPC server for Jaeger Protobuf endpoint=%s", endpoint)

    async def shutdown(self) -> None:
        await self.grpc.shutdown()
