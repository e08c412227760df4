"""Byte pass-through: a request no step changed goes out of the otlphttp and otlp exporters as the
very bytes the client sent (no re-encoding), and anything that may have changed it disables that.

The client's request is written with its fields out of the canonical order, so that the bytes a
re-encoding would produce differ from the client's: equal bodies at the backend prove the exporter
sent the client's bytes, and the decoded message is checked too.
"""

from __future__ import annotations

import aiohttp
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span

from otelflow.core.component import Kind, Signal
from tests.backends import GRPCBackend, HTTPBackend, backends, free_port  # noqa: F401 - backends is a fixture
from tests.conftest import running
from tests.receivers.test_otlp import wait_for


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def _client_body(spans: int = 3) -> bytes:
    """An ExportTraceServiceRequest whose ResourceSpans has scope_spans (2) before resource (1)."""
    resource = Resource(attributes=[KeyValue(key="env", value=AnyValue(string_value="prod"))])
    scope = ScopeSpans(spans=[
        Span(trace_id=bytes([i + 1]) * 16, span_id=bytes([i + 1]) * 8, name=f"span-{i}",
             attributes=[KeyValue(key="http.url", value=AnyValue(string_value="https://x/?q=1"))])
        for i in range(spans)])
    resource_spans = _field(0x12, scope.SerializeToString()) + _field(0x0A, resource.SerializeToString())
    body = _field(0x0A, resource_spans)
    assert ExportTraceServiceRequest.FromString(body).SerializeToString() != body  # re-encoding differs
    return body


def _config(http_port: int, http_backend: str, grpc_backend: str, processors: str = "", extra: str = "",
            pipelines: str = "") -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{http_port}"}}
processors:
  memory_limiter: {{check_interval: 1s, limit_mib: 4000}}
  resource:  # the pattern keeps it on the Python path, which changes the request in place
    attributes: [{{key: deployment.environment, value: staging, action: insert}}, {{pattern: ^never$, action: delete}}]
{extra}
exporters:
  otlp:
    endpoint: {grpc_backend}
    tls: {{insecure: true}}
  otlphttp:
    endpoint: {http_backend}
service:
  pipelines:
{pipelines or f'''    traces: {{receivers: [otlp], processors: [{processors}], exporters: [otlp, otlphttp]}}'''}
"""


async def _post(port: int, body: bytes) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/v1/traces", data=body,
                                headers={"Content-Type": "application/x-protobuf"}) as resp:
            assert resp.status == 200, await resp.text()


def _resource_keys(message: ExportTraceServiceRequest) -> set[str]:
    return {kv.key for rs in message.resource_spans for kv in rs.resource.attributes}



def _exporters(service) -> list:
    return [n.component for n in service.graph.nodes if n.kind is Kind.EXPORTER]


@pytest.mark.parametrize("processors", ["", "memory_limiter"])
async def test_unchanged_request_leaves_as_the_clients_bytes(backends, processors):
    http, grpc_ = backends
    port, body = free_port(), _client_body()
    async with running(_config(port, http.endpoint, grpc_.endpoint, processors)) as service:
        assert all(e.as_received for e in _exporters(service))
        await _post(port, body)
        await wait_for(lambda: http.received and grpc_.received)
    for backend in (http, grpc_):
        got = backend.received[0]
        assert got.body == body, type(backend).__name__
        assert got.message == ExportTraceServiceRequest.FromString(body)


async def test_a_mutating_processor_in_front_disables_it(backends):
    http, grpc_ = backends
    port, body = free_port(), _client_body()
    async with running(_config(port, http.endpoint, grpc_.endpoint, "memory_limiter, resource")) as service:
        assert not any(e.as_received for e in _exporters(service))
        await _post(port, body)
        await wait_for(lambda: http.received and grpc_.received)
    for backend in (http, grpc_):
        got = backend.received[0]
        assert got.body != body
        assert _resource_keys(got.message) == {"env", "deployment.environment"}


async def test_a_connector_hands_on_what_the_pipeline_before_it_changed(backends):
    # resource changes the request in place and the forward connector hands on that same object:
    # the exporter behind the connector must not send the client's bytes.
    http, grpc_ = backends
    port, body = free_port(), _client_body()
    pipelines = """    traces/in: {receivers: [otlp], processors: [resource], exporters: [forward]}
    traces/out: {receivers: [forward], exporters: [otlp, otlphttp]}"""
    async with running(_config(port, http.endpoint, grpc_.endpoint, extra="connectors:\n  forward:",
                               pipelines=pipelines)) as service:
        assert not any(e.as_received for e in _exporters(service))
        await _post(port, body)
        await wait_for(lambda: http.received and grpc_.received)
    for backend in (http, grpc_):
        assert _resource_keys(backend.received[0].message) == {"env", "deployment.environment"}


async def test_an_exporter_shared_with_a_mutating_pipeline_encodes(backends):
    http, grpc_ = backends
    port = free_port()
    pipelines = """    traces/plain: {receivers: [otlp], exporters: [otlp, otlphttp]}
    traces/changed: {receivers: [otlp], processors: [resource], exporters: [otlphttp]}"""
    async with running(_config(port, http.endpoint, grpc_.endpoint, pipelines=pipelines)) as service:
        by_type = {str(n.id): n.component for n in service.graph.nodes if n.kind is Kind.EXPORTER}
        assert by_type["otlp"].as_received and not by_type["otlphttp"].as_received
        body = _client_body()
        await _post(port, body)
        await wait_for(lambda: len(http.received) == 2 and grpc_.received)
    assert grpc_.received[0].body == body
    assert sorted(len(_resource_keys(r.message)) for r in http.received) == [1, 2]
    assert all(r.body != body for r in http.received)
    assert Signal.TRACES in {r.signal for r in http.received}


def _batched(processors: str, batch: str = "{timeout: 10s, send_batch_size: 9}") -> str:
    return f"""    traces: {{receivers: [otlp], processors: [{processors}], exporters: [otlp, otlphttp]}}""", \
        f"  batch: {batch}\n  attributes: {{actions: [{{key: http.url, action: hash}}]}}"


def _span_names(message) -> list[str]:
    return [s.name for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]


async def test_a_batch_of_unchanged_requests_is_the_clients_bytes_joined(backends):
    http, grpc_ = backends
    port = free_port()
    bodies = [_client_body(3) for _ in range(3)]
    pipelines, extra = _batched("memory_limiter, batch")
    async with running(_config(port, http.endpoint, grpc_.endpoint, extra=extra, pipelines=pipelines)):
        for body in bodies:
            await _post(port, body)
        await wait_for(lambda: http.received and grpc_.received)
    for backend in (http, grpc_):
        assert [r.body for r in backend.received] == [b"".join(bodies)]
        assert len(backend.received[0].message.resource_spans) == 3


async def test_a_batch_after_a_mutating_processor_is_encoded(backends):
    http, grpc_ = backends
    port = free_port()
    bodies = [_client_body(3) for _ in range(3)]
    pipelines, extra = _batched("resource, batch")
    async with running(_config(port, http.endpoint, grpc_.endpoint, extra=extra, pipelines=pipelines)):
        for body in bodies:
            await _post(port, body)
        await wait_for(lambda: http.received and grpc_.received)
    for backend in (http, grpc_):
        got = backend.received[0]
        assert got.body == got.message.SerializeToString() != b"".join(bodies)  # encoded by otelflow
        assert all(_resource_keys(got.message) == {"env", "deployment.environment"} for _ in got.message.resource_spans)


async def test_attributes_hands_its_bytes_to_the_batch(backends):
    # the C loop rewrites the attributes in the client's bytes and keeps their layout: the batch
    # sends those bytes joined, so the body still has the client's (non-canonical) field order
    from otelflow.processors.attraction.native import _attrs
    if _attrs is None:
        pytest.skip("the native attributes loop is not built")
    http, grpc_ = backends
    port = free_port()
    bodies = [_client_body(3) for _ in range(3)]
    pipelines, extra = _batched("memory_limiter, attributes, batch")
    async with running(_config(port, http.endpoint, grpc_.endpoint, extra=extra, pipelines=pipelines)):
        for body in bodies:
            await _post(port, body)
        await wait_for(lambda: http.received and grpc_.received)
    for backend in (http, grpc_):
        got = backend.received[0]
        assert got.body != got.message.SerializeToString()
        urls = [kv.value.string_value for rs in got.message.resource_spans for ss in rs.scope_spans
                for s in ss.spans for kv in s.attributes if kv.key == "http.url"]
        assert len(urls) == 9 and all(len(u) == 64 and "?" not in u for u in urls)  # hashed


async def test_a_batch_cut_inside_a_request_still_delivers_everything(backends):
    http, grpc_ = backends
    port = free_port()
    bodies = [_client_body(3) for _ in range(3)]
    pipelines, extra = _batched("memory_limiter, batch", "{timeout: 300ms, send_batch_size: 4, send_batch_max_size: 4}")
    async with running(_config(port, http.endpoint, grpc_.endpoint, extra=extra, pipelines=pipelines)):
        for body in bodies:
            await _post(port, body)
        await wait_for(lambda: sum(len(_span_names(r.message)) for r in http.received) == 9)
        await wait_for(lambda: sum(len(_span_names(r.message)) for r in grpc_.received) == 9)
    for backend in (http, grpc_):
        # the exporter's queue has several consumers, so batches may arrive in either order
        sizes = sorted(len(_span_names(r.message)) for r in backend.received)
        assert sizes == [1, 4, 4]
        names = sorted(n for r in backend.received for n in _span_names(r.message))
        assert names == sorted(["span-0", "span-1", "span-2"] * 3)
