"""A realistic OTLP profiles request, built with the real proto classes, and servers that keep the
exact bytes they are sent (the OTLP gRPC ProfilesService and the OTLP/HTTP profiles path).

The request looks like what a CPU profiler sends: a dictionary (string, function, mapping,
location, stack, attribute and link tables) shared by two resources, each with a ``service.name``,
whose samples point into it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import grpc
from aiohttp import web
from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import (
    ExportProfilesServiceRequest,
    ExportProfilesServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.profiles.v1development import profiles_pb2 as pp

from otelflow.core import featuregates
from otelflow.core.compression import decompress
from tests.backends import free_port

SERVICE = "opentelemetry.proto.collector.profiles.v1development.ProfilesService"
EXPORT = f"/{SERVICE}/Export"
HTTP_PATH = "/v1development/profiles"


def profiles_request(services: tuple[str, ...] = ("checkout", "cart")) -> ExportProfilesServiceRequest:
    """Two services' CPU profiles: 3 + 2 samples over a shared dictionary."""
    req = ExportProfilesServiceRequest()
    d = req.dictionary
    strings = ["", "samples", "count", "cpu", "nanoseconds", "main", "main.go", "handle", "server.go",
               "/usr/bin/app", "thread.name", "worker-1", "process.executable.build_id", "abc123"]
    d.string_table.extend(strings)
    s = {text: i for i, text in enumerate(strings)}
    d.mapping_table.add()  # index 0 is the zero value, as the spec asks for every table
    d.mapping_table.add(memory_start=0x400000, memory_limit=0x800000, file_offset=0x1000,
                        filename_strindex=s["/usr/bin/app"], attribute_indices=[2])
    d.function_table.add()
    d.function_table.add(name_strindex=s["main"], system_name_strindex=s["main"], filename_strindex=s["main.go"], start_line=10)
    d.function_table.add(name_strindex=s["handle"], system_name_strindex=s["handle"], filename_strindex=s["server.go"], start_line=42)
    d.location_table.add()
    d.location_table.add(mapping_index=1, address=0x401000, lines=[pp.Line(function_index=1, line=12, column=3)])
    d.location_table.add(mapping_index=1, address=0x402abc, lines=[pp.Line(function_index=2, line=57, column=9),
                                                                  pp.Line(function_index=1, line=14)])
    d.stack_table.add()
    d.stack_table.add(location_indices=[1])
    d.stack_table.add(location_indices=[2, 1])
    d.link_table.add()
    d.link_table.add(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)))
    d.attribute_table.add(value=AnyValue())  # the zero entry's value is present, as pdata writes it
    d.attribute_table.add(key_strindex=s["thread.name"], value=AnyValue(string_value="worker-1"))
    d.attribute_table.add(key_strindex=s["process.executable.build_id"], value=AnyValue(string_value="abc123"))
    for n, service in enumerate(services):
        rp = req.resource_profiles.add(schema_url="https://opentelemetry.io/schemas/1.34.0")
        rp.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
        rp.resource.attributes.append(KeyValue(key="host.name", value=AnyValue(string_value="node-7")))
        sp = rp.scope_profiles.add()
        sp.scope.name = "otel-ebpf-profiler"
        sp.scope.version = "0.0.202547"
        profile = sp.profiles.add(
            sample_type=pp.ValueType(type_strindex=s["samples"], unit_strindex=s["count"]),
            period_type=pp.ValueType(type_strindex=s["cpu"], unit_strindex=s["nanoseconds"]),
            period=10_000_000, time_unix_nano=1_760_000_000_000_000_000 + n, duration_nano=5_000_000_000,
            profile_id=bytes([0xA0 + n] * 16), attribute_indices=[1],
        )
        for k in range(3 - n):
            profile.samples.add(stack_index=1 + k % 2, values=[k + 1], attribute_indices=[1],
                                link_index=1 if k == 0 else 0,
                                timestamps_unix_nano=[1_760_000_000_100_000_000 + k])
    return req


@contextlib.contextmanager
def profiles_gate(enabled: bool = True):
    """``--feature-gates=service.profilesSupport`` for an in-process test, set back afterwards."""
    before = featuregates.REGISTRY.is_enabled(featuregates.PROFILES_SUPPORT)
    featuregates.REGISTRY.set(featuregates.PROFILES_SUPPORT, enabled)
    try:
        yield
    finally:
        featuregates.REGISTRY.set(featuregates.PROFILES_SUPPORT, before)


@dataclass
class RawProfilesBackend:
    """Where an exporter sends profiles: a gRPC ProfilesService and an HTTP server that keep each
    request's bytes as they came off the wire (HTTP bodies after Content-Encoding is undone)."""

    grpc_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    grpc_bodies: list[bytes] = field(default_factory=list)
    http_bodies: list[tuple[str, bytes]] = field(default_factory=list)  # (Content-Type, body)

    def __post_init__(self) -> None:
        self.arrived = asyncio.Event()
        self._server: grpc.aio.Server | None = None
        self._runner: web.AppRunner | None = None

    async def _export(self, body: bytes, context) -> ExportProfilesServiceResponse:
        self.grpc_bodies.append(body)
        self.arrived.set()
        return ExportProfilesServiceResponse()

    async def _post(self, request: web.Request) -> web.Response:
        if request.path != HTTP_PATH:
            return web.Response(status=404)
        body = decompress(request.headers.get("Content-Encoding", ""), await request.read(), 1 << 30)
        self.http_bodies.append((request.content_type, body))
        self.arrived.set()
        return web.Response(body=ExportProfilesServiceResponse().SerializeToString(), content_type="application/x-protobuf")

    async def start(self) -> "RawProfilesBackend":
        self._server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(
            self._export, request_deserializer=None, response_serializer=ExportProfilesServiceResponse.SerializeToString)
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
        self._server.add_insecure_port(f"127.0.0.1:{self.grpc_port}")
        await self._server.start()
        app = web.Application(client_max_size=1 << 30, handler_args={"auto_decompress": False})
        app.router.add_post("/{tail:.*}", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.http_port).start()
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(None)
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, grpc_count: int, http_count: int, timeout: float = 10) -> None:
        async def enough() -> None:
            while len(self.grpc_bodies) < grpc_count or len(self.http_bodies) < http_count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)
