"""The otlp receiver with the real Python SDK, and upstream's answers to bad input."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib

import aiohttp
import cramjam
import grpc
import pytest
import zstandard
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2

from otelflow.core.component import Signal
from tests.backends import GRPCBackend, HTTPBackend, free_port
from tests.conftest import running
from tests.sdk import SDKApp, flatten, merged


def forwarding_config(grpc_port: int, http_port: int, grpc_backend: str | None, http_backend: str, extra_http: str = "") -> str:
    exporters = "[otlp, otlphttp]" if grpc_backend else "[otlphttp]"
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http:
        endpoint: "127.0.0.1:{http_port}"
{extra_http}
exporters:
  otlp:
    endpoint: {grpc_backend or "unused:1"}
    tls: {{insecure: true}}
  otlphttp:
    endpoint: {http_backend}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: {exporters}}}
    metrics: {{receivers: [otlp], exporters: {exporters}}}
    logs: {{receivers: [otlp], exporters: {exporters}}}
"""


async def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_sdk_data_arrives_unchanged_through_otlp_and_otlphttp(protocol):
    gb, hb = await GRPCBackend().start(), await HTTPBackend().start()
    gp, hp = free_port(), free_port()
    try:
        async with running(forwarding_config(gp, hp, gb.endpoint, hb.endpoint)):
            endpoint = f"127.0.0.1:{gp}" if protocol == "grpc" else f"http://127.0.0.1:{hp}"
            app = SDKApp(protocol, endpoint)
            await asyncio.to_thread(app.emit, 4)
            await asyncio.to_thread(app.shutdown)
            sent = app.sent()
            for backend in (gb, hb):
                await wait_for(lambda: all(backend.messages(Signal(s)) for s in sent))
        for backend in (gb, hb):
            for signal, expected in sent.items():
                got = merged(backend.messages(Signal(signal)))
                assert flatten(got) == flatten(expected), f"{signal} differs at {type(backend).__name__}"
        # 4 requests x 2 spans; logs: one per request plus the final warning
        assert len(flatten(sent["traces"])) == 8 and len(flatten(sent["logs"])) == 5
    finally:
        await gb.stop()
        await hb.stop()


def _trace_request(trace_id: bytes = b"\x01" * 16) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = trace_id, b"\x02" * 8, "op"
    span.kind = trace_pb2.Span.SPAN_KIND_SERVER
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_500_000_000
    span.attributes.add(key="n", value={"int_value": 2**40})
    return req


JSON_BODY = json.dumps({
    "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"scope": {"name": "s"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "json-op", "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": 1544712660000000000,
            "endTimeUnixNano": "1544712661000000000", "unknownField": {"x": 1},
            "attributes": [{"key": "big", "value": {"intValue": "9007199254740993"}},
                           {"key": "small", "value": {"intValue": 7}}],
            "status": {"code": 2}}]}]}]}).encode()


@pytest.fixture
async def http_receiver():
    hb = await HTTPBackend().start()
    gp, hp = free_port(), free_port()
    cors = """        cors:
          allowed_origins: ["https://*.example.com"]
          allowed_headers: ["X-Custom"]
        max_request_body_size: 100000"""
    async with running(forwarding_config(gp, hp, None, hb.endpoint, cors)):
        async with aiohttp.ClientSession() as session:
            yield session, f"http://127.0.0.1:{hp}", hb, gp
    await hb.stop()


async def test_json_request_follows_otlp_json_rules(http_receiver):
    session, base, hb, _ = http_receiver
    async with session.post(f"{base}/v1/traces", data=JSON_BODY, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 200
        assert r.content_type == "application/json"
        assert await r.json() == {"partialSuccess": {}}  # what upstream writes for an empty response
    await wait_for(lambda: hb.messages(Signal.TRACES))
    span = hb.messages(Signal.TRACES)[0].resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.kind == trace_pb2.Span.SPAN_KIND_CLIENT
    assert span.end_time_unix_nano == 1544712661000000000
    assert [a.value.int_value for a in span.attributes] == [9007199254740993, 7]
    assert span.status.code == trace_pb2.Status.STATUS_CODE_ERROR


@pytest.mark.parametrize("encoding,compress", [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
    ("snappy", lambda b: bytes(cramjam.snappy.compress_raw(b))),
])
async def test_each_content_encoding_is_accepted(http_receiver, encoding, compress):
    session, base, hb, _ = http_receiver
    body = _trace_request().SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": encoding}
    async with session.post(f"{base}/v1/traces", data=compress(body), headers=headers) as r:
        assert r.status == 200, await r.text()
    await wait_for(lambda: hb.messages(Signal.TRACES))
    assert hb.messages(Signal.TRACES)[0] == _trace_request()


def _bomb() -> bytes:
    return gzip.compress(b"\0" * 50_000_000)


BAD_INPUTS = [
    # name, method, content-type, encoding, body, expected status
    ("truncated protobuf", "POST", "application/x-protobuf", "", _trace_request().SerializeToString()[:-5], 400),
    ("invalid JSON", "POST", "application/json", "", b'{"resourceSpans": [', 400),
    ("wrong content-type", "POST", "text/plain", "", b"hello", 415),
    ("GET on signal path", "GET", "application/x-protobuf", "", b"", 405),
    ("body over limit", "POST", "application/x-protobuf", "", b"\x0a" * 200_000, 400),
    ("gzip bomb", "POST", "application/x-protobuf", "gzip", _bomb(), 400),
    ("bad gzip", "POST", "application/x-protobuf", "gzip", b"not gzip at all", 400),
    ("unknown encoding", "POST", "application/x-protobuf", "br", b"x", 400),
    ("trace ID of 15 bytes", "POST", "application/x-protobuf", "", _trace_request(b"\x01" * 15).SerializeToString(), 400),
    ("hex trace ID of wrong length", "POST", "application/json", "", JSON_BODY.replace(b"5b8efff798038103d269b633813fc60c", b"5b8eff"), 400),
    ("non-hex trace ID", "POST", "application/json", "", JSON_BODY.replace(b"5b8efff798038103d269b633813fc60c", b"zz" * 16), 400),
]


@pytest.mark.parametrize("name,method,ctype,encoding,body,status", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input_gets_upstream_status_and_server_keeps_serving(http_receiver, name, method, ctype, encoding, body, status):
    session, base, hb, _ = http_receiver
    headers = {"Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    async with session.request(method, f"{base}/v1/traces", data=body, headers=headers) as r:
        assert r.status == status
        payload = await r.read()
        if status == 400 and ctype == "application/x-protobuf":
            assert status_pb2.Status.FromString(payload).code == 3  # InvalidArgument
        if status == 400 and ctype == "application/json":
            assert json.loads(payload)["code"] == 3
    async with session.post(f"{base}/v1/traces", data=_trace_request().SerializeToString(),
                            headers={"Content-Type": "application/x-protobuf"}) as r:
        assert r.status == 200
    await wait_for(lambda: hb.messages(Signal.TRACES))
    assert len(hb.messages(Signal.TRACES)) == 1  # only the good request got through


async def test_cors_preflight_and_origin(http_receiver):
    session, base, _, _ = http_receiver
    pre = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "X-Custom, Content-Type"}
    async with session.options(f"{base}/v1/traces", headers=pre) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "X-Custom" in r.headers["Access-Control-Allow-Headers"]
    async with session.post(f"{base}/v1/traces", data=_trace_request().SerializeToString(),
                            headers={"Content-Type": "application/x-protobuf", "Origin": "https://evil.test"}) as r:
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


async def test_grpc_bad_input_and_oversized_message(http_receiver):
    _, _, hb, gp = http_receiver
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gp}") as channel:
        raw = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await raw(b"\x0a\xff\xff\xff")  # truncated length-delimited field
        assert err.value.code() == grpc.StatusCode.INTERNAL
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await raw(_trace_request(b"\x01" * 3).SerializeToString())
        assert err.value.code() == grpc.StatusCode.INTERNAL
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await raw(b"\x0a" + b"\x00" * (5 * 1024 * 1024))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await raw(_trace_request().SerializeToString()) == b"\n\x00"  # an empty partial_success, as upstream
    await wait_for(lambda: hb.messages(Signal.TRACES))


async def test_unknown_path_is_404_and_custom_paths_work():
    hb = await HTTPBackend().start()
    hp = free_port()
    paths = "        traces_url_path: /custom/traces\n        logs_url_path: mylogs"
    try:
        async with running(forwarding_config(free_port(), hp, None, hb.endpoint, paths)):
            async with aiohttp.ClientSession() as s:
                body = _trace_request().SerializeToString()
                h = {"Content-Type": "application/x-protobuf"}
                async with s.post(f"http://127.0.0.1:{hp}/v1/traces", data=body, headers=h) as r:
                    assert r.status == 404
                async with s.post(f"http://127.0.0.1:{hp}/custom/traces", data=body, headers=h) as r:
                    assert r.status == 200
                async with s.post(f"http://127.0.0.1:{hp}/mylogs", data=b"", headers=h) as r:
                    assert r.status == 200
    finally:
        await hb.stop()
