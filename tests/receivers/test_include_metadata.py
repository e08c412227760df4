"""``include_metadata`` on the receivers whose upstream config embeds confighttp/configgrpc's server
config besides otlp (zipkin; jaeger's grpc and thrift_http): a real client sends with an
``X-Tenant`` header, ``headers_setter`` (``from_context``) carries it on an ``otlp_http`` exporter to
a real HTTP server here, which records the headers. Without ``include_metadata`` the receiver keeps
nothing, so the default goes out, as upstream's empty ``client.Info``."""

from __future__ import annotations

import asyncio

import aiohttp
import grpc
import pytest
import requests

from tests.backends import HTTPBackend, free_port
from tests.conftest import running
from tests.receivers.testdata.jaeger.inputs import HERE as JAEGER_DATA
from tests.receivers.testdata.jaeger.send import POST_SPANS

TENANT = "acme"


def zipkin_sdk_send(port: int) -> None:
    """The OpenTelemetry SDK's own Zipkin exporter, its requests session carrying the header."""
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    session = requests.Session()
    session.headers["X-Tenant"] = TENANT
    exporter = ZipkinExporter(endpoint=f"http://127.0.0.1:{port}/api/v2/spans", session=session)
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("GET /cart"):
        pass
    provider.shutdown()


async def jaeger_thrift_http_send(port: int) -> None:
    body = (JAEGER_DATA / "thrift_http.bin").read_bytes()
    headers = {"Content-Type": "application/x-thrift", "X-Tenant": TENANT}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/api/traces", data=body, headers=headers) as resp:
            assert resp.status == 202


async def jaeger_grpc_send(port: int) -> None:
    body = (JAEGER_DATA / "grpc.bin").read_bytes()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(POST_SPANS, request_serializer=None, response_deserializer=None)
        await call(body, timeout=10, metadata=(("x-tenant", TENANT),))


def receiver_config(kind: str, port: int, include: bool) -> str:
    flag = "true" if include else "false"
    if kind == "zipkin":
        return f'zipkin: {{endpoint: "127.0.0.1:{port}", include_metadata: {flag}}}'
    protocol = "grpc" if kind == "jaeger_grpc" else "thrift_http"
    return f'jaeger: {{protocols: {{{protocol}: {{endpoint: "127.0.0.1:{port}", include_metadata: {flag}}}}}}}'


async def send(kind: str, port: int) -> None:
    if kind == "zipkin":
        await asyncio.to_thread(zipkin_sdk_send, port)
    elif kind == "jaeger_grpc":
        await jaeger_grpc_send(port)
    else:
        await jaeger_thrift_http_send(port)


async def wait_for(predicate, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.parametrize("include", [True, False], ids=["include_metadata", "without"])
@pytest.mark.parametrize("kind", ["zipkin", "jaeger_thrift_http", "jaeger_grpc"])
async def test_header_reaches_the_exporter_only_with_include_metadata(kind, include):
    backend = await HTTPBackend().start()
    port = free_port()
    receiver = receiver_config(kind, port, include)
    name = receiver.split(":", 1)[0]
    config = f"""
extensions:
  headers_setter:
    headers: [{{key: X-Scope-OrgID, from_context: x-tenant, default_value: nobody, action: upsert}}]
receivers:
  {receiver}
exporters:
  otlp_http: {{endpoint: "{backend.endpoint}", auth: {{authenticator: headers_setter}}, retry_on_failure: {{enabled: false}}}}
service:
  extensions: [headers_setter]
  pipelines:
    traces: {{receivers: [{name}], exporters: [otlp_http]}}
"""
    try:
        async with running(config):
            await send(kind, port)
            await wait_for(lambda: len(backend.received) >= 1)
    finally:
        await backend.stop()
    assert sum(len(rs.scope_spans) for r in backend.received for rs in r.message.resource_spans) >= 1
    assert {r.headers["X-Scope-OrgID"] for r in backend.received} == ({TENANT} if include else {"nobody"})
