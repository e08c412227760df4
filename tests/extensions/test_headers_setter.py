"""headers_setter: real SDK apps send with their tenant header to an otelflow whose exporters carry
it on (from_context, with the receiver's include_metadata and batch's metadata_keys) to real gRPC and
HTTP backends that record the headers; the actions on the exporter's own headers; upstream's config
errors."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import Kind, Signal
from otelflow.core.registry import default_registry
from otelflow.extensions.headers_setter import Config
from tests.backends import GRPCBackend, HTTPBackend, free_port
from tests.conftest import running


def send_spans(protocol: str, port: int, tenant: str | None, names: list[str]) -> None:
    """A real SDK app exporting one span per name, with an ``X-Tenant`` header when given."""
    headers = {"x-tenant": tenant} if tenant else None
    if protocol == "grpc":
        exporter = GRPCSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, headers=headers)
    else:
        exporter = HTTPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", headers=headers)
    provider = TracerProvider(resource=Resource.create({"service.name": f"app-{tenant}"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for name in names:
        with tracer.start_as_current_span(name):
            pass
    provider.shutdown()


def span_names(message) -> list[str]:
    return [s.name for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]


async def wait_for(predicate, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def test_registered():
    assert default_registry.get(Kind.EXTENSION, "headers_setter").type == "headers_setter"


@pytest.mark.parametrize("receiver_protocol", ["grpc", "http"])
@pytest.mark.parametrize("exporter", ["otlp_grpc", "otlp_http"])
async def test_tenant_from_context_through_batch_with_metadata_keys(receiver_protocol, exporter):
    backend = await (GRPCBackend() if exporter == "otlp_grpc" else HTTPBackend()).start()
    port = free_port()
    endpoint = backend.endpoint if exporter == "otlp_grpc" else backend.endpoint
    tls = ", tls: {insecure: true}" if exporter == "otlp_grpc" else ""
    config = f"""
extensions:
  headers_setter:
    headers:
      - {{key: X-Scope-OrgID, from_context: x-tenant, default_value: nobody, action: upsert}}
receivers:
  otlp: {{protocols: {{{receiver_protocol}: {{endpoint: "127.0.0.1:{port}", include_metadata: true}}}}}}
processors:
  batch: {{timeout: 200ms, metadata_keys: [X-Tenant]}}
exporters:
  {exporter}: {{endpoint: "{endpoint}"{tls}, auth: {{authenticator: headers_setter}}, retry_on_failure: {{enabled: false}}}}
service:
  extensions: [headers_setter]
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [{exporter}]}}
"""
    try:
        async with running(config):
            await asyncio.gather(
                asyncio.to_thread(send_spans, receiver_protocol, port, "acme", ["a1", "a2"]),
                asyncio.to_thread(send_spans, receiver_protocol, port, "globex", ["g1"]),
                asyncio.to_thread(send_spans, receiver_protocol, port, None, ["n1"]),
            )
            await wait_for(lambda: sum(len(span_names(r.message)) for r in backend.received) == 4)
    finally:
        await backend.stop()
    by_tenant: dict[str, list[str]] = {}
    for r in backend.received:
        headers = {k.lower(): v for k, v in r.headers.items()}
        by_tenant.setdefault(headers["x-scope-orgid"], []).extend(span_names(r.message))
    assert {k: sorted(v) for k, v in by_tenant.items()} == {"acme": ["a1", "a2"], "globex": ["g1"], "nobody": ["n1"]}


async def test_without_include_metadata_or_metadata_keys_the_default_is_sent():
    """Upstream's client.Info is empty without include_metadata, and batch without metadata_keys
    sends on a fresh context: both give the default."""
    backend = await HTTPBackend().start()
    p1, p2 = free_port(), free_port()
    config = f"""
extensions:
  headers_setter:
    headers: [{{key: X-Scope-OrgID, from_context: x-tenant, default_value: nobody, action: upsert}}]
receivers:
  otlp/plain: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{p1}"}}}}}}
  otlp/kept: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{p2}", include_metadata: true}}}}}}
processors:
  batch: {{timeout: 100ms}}
exporters:
  otlp_http/a: {{endpoint: "{backend.endpoint}", auth: {{authenticator: headers_setter}}}}
  otlp_http/b: {{endpoint: "{backend.endpoint}", auth: {{authenticator: headers_setter}}}}
service:
  extensions: [headers_setter]
  pipelines:
    traces/a: {{receivers: [otlp/plain], exporters: [otlp_http/a]}}
    traces/b: {{receivers: [otlp/kept], processors: [batch], exporters: [otlp_http/b]}}
"""
    try:
        async with running(config):
            await asyncio.to_thread(send_spans, "grpc", p1, "acme", ["plain"])
            await asyncio.to_thread(send_spans, "grpc", p2, "acme", ["batched"])
            await wait_for(lambda: len(backend.received) == 2)
    finally:
        await backend.stop()
    assert {r.headers["X-Scope-OrgID"] for r in backend.received} == {"nobody"}


async def test_actions_on_the_exporters_own_headers():
    backend = await HTTPBackend().start()
    port = free_port()
    config = f"""
extensions:
  headers_setter:
    headers:
      - {{key: X-Configured, value: from-setter, action: insert}}   # already there: kept
      - {{key: X-New, value: inserted, action: insert}}
      - {{key: x-updated, value: changed, action: update}}          # present (any case): changed
      - {{key: X-Absent, value: never, action: update}}            # absent: not added
      - {{key: User-Agent, action: delete}}
      - {{key: X-Tenant-Copy, from_context: x-tenant, action: upsert}}
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}", include_metadata: true}}}}}}
exporters:
  otlp_http:
    endpoint: "{backend.endpoint}"
    headers: {{X-Configured: from-config, X-Updated: original}}
    auth: {{authenticator: headers_setter}}
service:
  extensions: [headers_setter]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_http]}}
"""
    try:
        async with running(config):
            await asyncio.to_thread(send_spans, "http", port, "acme", ["x"])
            await wait_for(lambda: len(backend.received) == 1)
    finally:
        await backend.stop()
    h = {k.lower(): v for k, v in backend.received[0].headers.items()}
    assert h["x-configured"] == "from-config"
    assert h["x-new"] == "inserted"
    assert h["x-updated"] == "changed"
    assert "x-absent" not in h
    assert not h.get("user-agent", "").startswith("otelflow/")  # ours removed (aiohttp may add its own)
    assert h["x-tenant-copy"] == "acme"


async def test_static_value_and_value_file_on_grpc(tmp_path):
    backend = await GRPCBackend().start()
    port = free_port()
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    config = f"""
extensions:
  headers_setter:
    headers:
      - {{key: X-Static, value: v1, action: insert}}
      - {{key: X-Key, value_file: "{key_file}", action: upsert}}
      - {{key: X-Static, value: never, action: insert}}
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}
exporters:
  otlp_grpc: {{endpoint: "{backend.endpoint}", tls: {{insecure: true}}, auth: {{authenticator: headers_setter}}}}
service:
  extensions: [headers_setter]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
"""
    try:
        async with running(config):
            await asyncio.to_thread(send_spans, "http", port, None, ["x"])
            await wait_for(lambda: len(backend.received) == 1)
    finally:
        await backend.stop()
    assert backend.received[0].headers["x-static"] == "v1"
    assert backend.received[0].headers["x-key"] == "s3cret"


@pytest.mark.parametrize("headers, message", [
    ([], "missing headers configuration"),
    ([{"value": "x"}], "missing header name"),
    ([{"key": "a"}], "missing header source, must be 'from_context', 'from_attribute', 'value', or 'value_file'"),
    ([{"key": "a", "value": "x", "from_context": "y"}],
     "invalid header source, must be only one of 'from_context', 'from_attribute', 'value', or 'value_file'"),
])
def test_config_errors_as_upstream(headers, message):
    with pytest.raises((ConfigError, ValueError), match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(Config, {"headers": headers}, "extensions::headers_setter")


def test_delete_needs_no_source():
    validate(Config, {"headers": [{"key": "a", "action": "delete"}]}, "extensions::headers_setter")


GOLDEN = Path(__file__).parent / "testdata" / "headers_setter"


async def run_golden_config(start) -> dict:
    """``config.yaml`` in a collector process ``start(config_path)`` launches; one SDK span with
    ``X-Tenant: acme``; the ``x-*`` headers each backend received (the other names are the clients' own)."""
    http, grpc_ = await HTTPBackend().start(), await GRPCBackend().start()
    port = free_port()
    text = (GOLDEN / "config.yaml").read_text()
    for name, value in (("http_port", str(port)), ("http_backend", http.endpoint), ("grpc_backend", grpc_.endpoint)):
        text = text.replace("{" + name + "}", value)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(text)
        proc = start(path)
        try:
            for _ in range(200):
                try:
                    await asyncio.to_thread(send_spans, "http", port, "acme", ["x"])
                    break
                except Exception:  # noqa: BLE001 - not listening yet
                    await asyncio.sleep(0.1)
            await wait_for(lambda: http.received and grpc_.received)
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 20)
            await http.stop()
            await grpc_.stop()

    def x_headers(headers: dict) -> dict:
        return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-")}

    return {"http": x_headers(http.received[0].headers), "grpc": x_headers(grpc_.received[0].headers)}


async def test_sends_what_otelcol_ref_sends():
    got = await run_golden_config(lambda cfg: subprocess.Popen(
        [sys.executable, "-m", "otelflow", "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}))
    assert got == json.loads((GOLDEN / "expected.json").read_text())


async def test_zipkin_receiver_keeps_metadata_too():
    backend = await HTTPBackend().start()
    port = free_port()
    config = f"""
extensions:
  headers_setter:
    headers: [{{key: X-Scope-OrgID, from_context: x-tenant, default_value: nobody, action: upsert}}]
receivers:
  zipkin: {{endpoint: "127.0.0.1:{port}", include_metadata: true}}
exporters:
  otlp_http: {{endpoint: "{backend.endpoint}", auth: {{authenticator: headers_setter}}}}
service:
  extensions: [headers_setter]
  pipelines:
    traces: {{receivers: [zipkin], exporters: [otlp_http]}}
"""
    span = [{"traceId": "0102030405060708090a0b0c0d0e0f10", "id": "0102030405060708", "name": "z",
             "timestamp": 1700000000000000, "duration": 5, "localEndpoint": {"serviceName": "zsvc"}}]
    import aiohttp

    try:
        async with running(config):
            async with aiohttp.ClientSession() as session:
                async with session.post(f"http://127.0.0.1:{port}/api/v2/spans", json=span,
                                        headers={"X-Tenant": "initech"}) as resp:
                    assert resp.status == 202
            await wait_for(lambda: len(backend.received) == 1)
    finally:
        await backend.stop()
    assert backend.received[0].headers["X-Scope-OrgID"] == "initech"
