"""How workers hand data to each other: gRPC over a Unix socket per worker.

A worker registers the consumers that other workers may feed (a keyed processor, a connector, an
exporter that runs once) under a node name that is the same in every worker, because every worker
builds the same graph from the same config. ``send`` serializes a request once and the peer parses it
once; the answer carries the consumer's verdict, so the receiver that took the data in answers its
client with what the owning worker said (accepted, retryable or permanent).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any, Callable

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.core.consumer import Consumer, ConsumerError, PermanentError
from otelflow.core.workers.context import WorkerContext

log = logging.getLogger("otelflow.workers")

_CONSUME = "/otelflow.Exchange/Consume"
_TELEMETRY = "/otelflow.Exchange/Telemetry"
_PROGRESS = "/otelflow.Exchange/Progress"
_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
# a restarted worker is back within a second: reconnect quickly instead of gRPC's backoff up to 2 min
_CHANNEL_OPTIONS = [*_OPTIONS, ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
                    ("grpc.max_reconnect_backoff_ms", 1000)]
_REQUEST_TYPES = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
_OK, _RETRYABLE, _PERMANENT = b"", b"R", b"P"


def _identity(b: bytes) -> bytes:
    return b


class Exchange:
    """This worker's end: a server for its peers and a channel to each of them."""

    def __init__(self, ctx: WorkerContext, snapshot: Callable[[], dict[str, Any]]):
        self.ctx = ctx
        self.snapshot = snapshot  # this worker's self-telemetry, for worker 0's /metrics
        self.nodes: dict[str, tuple[Consumer, type[Message]]] = {}
        self.progress = -1  # shutdown steps this worker has finished (see wait_for_peers)
        self._server: grpc.aio.Server | None = None
        self._channels: dict[int, grpc.aio.Channel] = {}

    # -- serving --------------------------------------------------------------------------------

    def register(self, node: str, signal: str, consumer: Consumer) -> None:
        self.nodes[node] = (consumer, _REQUEST_TYPES[signal])

    async def start(self) -> None:
        path = self.ctx.socket_path(self.ctx.index)
        path.unlink(missing_ok=True)  # left by a worker that died
        server = grpc.aio.server(options=_OPTIONS)
        handlers = {
            "Consume": grpc.unary_unary_rpc_method_handler(self._consume, _identity, _identity),
            "Telemetry": grpc.unary_unary_rpc_method_handler(self._telemetry, _identity, _identity),
            "Progress": grpc.unary_unary_rpc_method_handler(self._progress, _identity, _identity),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("otelflow.Exchange", handlers),))
        if not server.add_insecure_port(f"unix://{path}"):
            raise OSError(f"cannot listen on {path} for the other workers")
        await server.start()
        self._server = server

    async def _consume(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        node = dict(context.invocation_metadata() or ()).get("node", "")
        target = self.nodes.get(node)
        if target is None:
            return _RETRYABLE + f"worker {self.ctx.index} has no pipeline node {node} (yet)".encode()
        consumer, request_type = target
        try:
            request = request_type.FromString(body)
        except Exception as exc:  # noqa: BLE001 - a peer sent what it parsed itself: should not happen
            return _PERMANENT + f"unparseable request from another worker: {exc}".encode()
        try:
            await consumer.consume(request)
        except PermanentError as exc:
            return _PERMANENT + str(exc).encode()
        except ConsumerError as exc:
            return _RETRYABLE + str(exc).encode()
        return _OK

    async def _telemetry(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return json.dumps(self.snapshot()).encode()

    async def _progress(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return str(self.progress).encode()

    async def shutdown(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        if self._server is not None:
            await self._server.stop(grace=1.0)
            self._server = None
        self.ctx.socket_path(self.ctx.index).unlink(missing_ok=True)

    # -- calling peers --------------------------------------------------------------------------

    def _channel(self, index: int) -> grpc.aio.Channel:
        channel = self._channels.get(index)
        if channel is None:
            channel = grpc.aio.insecure_channel(f"unix://{self.ctx.socket_path(index)}", options=_CHANNEL_OPTIONS)
            self._channels[index] = channel
        return channel

    async def _call(self, index: int, method: str, body: bytes, timeout: float | None,
                    metadata: tuple = ()) -> bytes:
        call = self._channel(index).unary_unary(method, request_serializer=_identity, response_deserializer=_identity)
        return await call(body, timeout=timeout, metadata=metadata)

    async def send(self, index: int, node: str, request: Message | bytes) -> None:
        """Hand ``request`` (a message, or one already encoded) to ``node`` in worker ``index``;
        raises as that consumer raised."""
        body = request if isinstance(request, bytes) else request.SerializeToString()
        try:
            answer = await self._call(index, _CONSUME, body, None, (("node", node),))
        except grpc.aio.AioRpcError as exc:
            raise ConsumerError(f"worker {index} is not reachable: {exc.code().name} {exc.details()}") from None
        if answer:
            message = answer[1:].decode("utf-8", "replace")
            raise (PermanentError if answer[:1] == _PERMANENT else ConsumerError)(message)

    async def peer_snapshots(self, timeout: float = 2.0) -> list[dict[str, Any]]:
        """Every other worker's self-telemetry; a worker that does not answer is left out."""
        async def one(index: int) -> dict[str, Any] | None:
            try:
                return json.loads(await self._call(index, _TELEMETRY, b"", timeout))
            except grpc.aio.AioRpcError:
                return None
        peers = [i for i in range(self.ctx.count) if i != self.ctx.index]
        return [s for s in await asyncio.gather(*(one(i) for i in peers)) if s is not None]

    async def wait_for_peers(self, step: int, timeout: float) -> None:
        """Wait until every live peer finished shutdown steps before ``step``: what a peer's earlier
        nodes flush may still be on its way to this worker's node ``step``."""
        deadline = time.monotonic() + timeout
        pending = {i for i in range(self.ctx.count) if i != self.ctx.index}
        while pending and time.monotonic() < deadline:
            for index in list(pending):
                try:
                    done = int(await self._call(index, _PROGRESS, b"", 1.0))
                except (grpc.aio.AioRpcError, ValueError):
                    if not os.path.exists(self.ctx.socket_path(index)):
                        pending.discard(index)  # that worker is gone: nothing more comes from it
                    continue
                if done >= step - 1:
                    pending.discard(index)
            if pending:
                await asyncio.sleep(0.02)
