"""Real OTLP backends on 127.0.0.1 for tests: they record what they receive and can be told to fail.

These stand where Tempo or Loki would: real gRPC and HTTP servers speaking OTLP, not stand-ins for
otelflow's own code.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

import grpc
import pytest
from aiohttp import web

from otelflow.core.compression import decompress
from otelflow.pdata import REQUEST_TYPES, RESPONSE_TYPES, otlpjson
from otelflow.core.component import Signal
from otelflow.receivers.otlp.grpc import SERVICES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Recorded:
    signal: Signal
    message: object
    headers: dict = field(default_factory=dict)
    body: bytes = b""  # the request's protobuf as it came over the wire (decompressed)


class HTTPBackend:
    """An OTLP/HTTP server; ``statuses`` is a list of HTTP codes to answer before answering 200."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.received: list[Recorded] = []
        self.statuses: list[int] = []
        self.retry_after: str | None = None
        self.attempts = 0
        self.runner: web.AppRunner | None = None
        self.arrived = asyncio.Event()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        signal = Signal(request.path.rsplit("/", 1)[-1])
        if self.statuses:
            status = self.statuses.pop(0)
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.Response(status=status, headers=headers, text="backend says no")
        body = decompress(request.headers.get("Content-Encoding", ""), await request.read(), 1 << 30)
        if request.content_type == "application/json":
            message = otlpjson.decode(body, REQUEST_TYPES[signal])
        else:
            message = REQUEST_TYPES[signal].FromString(body)
        self.received.append(Recorded(signal, message, dict(request.headers), body))
        self.arrived.set()
        return web.Response(body=RESPONSE_TYPES[signal]().SerializeToString(), content_type="application/x-protobuf")

    async def start(self) -> "HTTPBackend":
        app = web.Application(client_max_size=1 << 30, handler_args={"auto_decompress": False})
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    def messages(self, signal: Signal) -> list:
        return [r.message for r in self.received if r.signal is signal]


class GRPCBackend:
    """An OTLP/gRPC server; ``codes`` is a list of status codes to fail with before accepting."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.received: list[Recorded] = []
        self.codes: list[grpc.StatusCode] = []
        self.attempts = 0
        self.server: grpc.aio.Server | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _handler(self, signal: Signal):
        async def export(body, context):
            self.attempts += 1
            if self.codes:
                await context.abort(self.codes.pop(0), "backend says no")
            request = REQUEST_TYPES[signal].FromString(body)
            self.received.append(Recorded(signal, request, dict(context.invocation_metadata()), body))
            return RESPONSE_TYPES[signal]()

        return grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=None,
            response_serializer=RESPONSE_TYPES[signal].SerializeToString,
        )

    async def start(self) -> "GRPCBackend":
        self.server = grpc.aio.server()
        for signal in Signal:
            self.server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(SERVICES[signal], {"Export": self._handler(signal)}),)
            )
        self.server.add_insecure_port(self.endpoint)
        await self.server.start()
        return self

    async def stop(self) -> None:
        if self.server:
            await self.server.stop(None)
            self.server = None

    def messages(self, signal: Signal) -> list:
        return [r.message for r in self.received if r.signal is signal]


@pytest.fixture
async def backends():
    """A recording OTLP/HTTP backend and a recording OTLP/gRPC backend, both on loopback."""
    http, grpc_ = await HTTPBackend().start(), await GRPCBackend().start()
    yield http, grpc_
    await http.stop()
    await grpc_.stop()
