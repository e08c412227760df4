"""Clients for auth and TLS tests: the real Python SDK exporters, and raw gRPC/HTTP requests that show
exactly what a server answered (status code, message, body)."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import grpc
from google.rpc import status_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelflow.core.component import Signal
from otelflow.pdata import RESPONSE_TYPES, otlpjson
from otelflow.receivers.otlp.grpc import SERVICES


def sdk_spans(name: str = "checkout"):
    """Finished spans made by the real SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("auth.test").start_as_current_span("GET /cart"):
        provider.get_tracer("auth.test").start_span("db").end()
    provider.shutdown()
    return memory.get_finished_spans()


def _sdk_export(protocol: str, endpoint: str, headers: dict | None, ca: str | None, client: tuple[str, str] | None) -> bool:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        kw: dict = {"endpoint": endpoint, "headers": headers, "timeout": 5}
        if ca:
            pem = open(ca, "rb").read()
            cert_key = [open(p, "rb").read() for p in client] if client else [None, None]
            kw["credentials"] = grpc.ssl_channel_credentials(pem, private_key=cert_key[1], certificate_chain=cert_key[0])
        else:
            kw["insecure"] = True
        exporter = OTLPSpanExporter(**kw)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        import requests

        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment replaces certificate_file
        exporter = OTLPSpanExporter(
            endpoint=f"{endpoint}/v1/traces", headers=headers, timeout=5, certificate_file=ca, session=session,
            client_certificate_file=client[0] if client else None, client_key_file=client[1] if client else None,
        )
    try:
        return exporter.export(sdk_spans()) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


async def sdk_export(protocol: str, endpoint: str, headers: dict | None = None, ca: str | None = None,
                     client: tuple[str, str] | None = None) -> bool:
    """Export two spans with the SDK's own OTLP exporter; True when the server accepted them."""
    return await asyncio.to_thread(_sdk_export, protocol, endpoint, headers, ca, client)


async def grpc_export(target: str, metadata=(), body: bytes | None = None,
                      credentials: grpc.ChannelCredentials | None = None, timeout: float = 5) -> tuple[grpc.StatusCode, str]:
    """One raw TraceService/Export call; (status code, details)."""
    channel = grpc.aio.secure_channel(target, credentials) if credentials else grpc.aio.insecure_channel(target)
    async with channel:
        call = channel.unary_unary(f"/{SERVICES[Signal.TRACES]}/Export", request_serializer=None,
                                   response_deserializer=RESPONSE_TYPES[Signal.TRACES].FromString)
        payload = body if body is not None else traces_body()
        try:
            await call(payload, metadata=tuple(metadata), timeout=timeout)
        except grpc.aio.AioRpcError as err:
            return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


def traces_body() -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return encode_spans(sdk_spans()).SerializeToString()


async def http_post(url: str, headers: dict | None = None, body: bytes | None = None,
                    ssl_context: ssl.SSLContext | None = None) -> tuple[int, str, bytes]:
    """One raw POST; (status, content type, body)."""
    hdrs = {"Content-Type": "application/x-protobuf", **(headers or {})}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body if body is not None else traces_body(), headers=hdrs,
                                ssl=ssl_context if ssl_context is not None else True) as resp:
            return resp.status, resp.content_type, await resp.read()


def status_of(content_type: str, body: bytes) -> status_pb2.Status:
    if content_type == "application/json":
        return otlpjson.decode(body, status_pb2.Status)
    return status_pb2.Status.FromString(body)


def authenticated_receiver(ext_id: str, ext_body: str, gp: int, hp: int,
                           backend: str = "http://127.0.0.1:9", http_extra: str = "") -> str:
    """A collector whose otlp receiver (gRPC on ``gp``, HTTP on ``hp``) requires the authenticator
    ``ext_id`` (configured by ``ext_body``, indented four spaces) and forwards traces to ``backend``."""
    return f"""
extensions:
  {ext_id}:
{ext_body}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{gp}
        auth: {{authenticator: {ext_id}}}
      http:
        endpoint: 127.0.0.1:{hp}
        auth: {{authenticator: {ext_id}{http_extra}}}
exporters:
  otlphttp: {{endpoint: "{backend}", sending_queue: {{enabled: false}}, retry_on_failure: {{enabled: false}}}}
service:
  extensions: [{ext_id}]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlphttp]}}
"""
