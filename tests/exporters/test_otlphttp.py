"""The otlphttp exporter against a real OTLP/HTTP backend: URLs, encodings, retries, queue."""

import asyncio
import time

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otelflow.core.component import Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.exporters.otlphttp import Config
from otelflow.pdata import otlpjson
from tests.backends import HTTPBackend, free_port
from tests.exporters.helpers import started_exporter
from tests.receivers.test_otlp import _trace_request, wait_for

FAST_RETRY = {"initial_interval": "50ms", "max_interval": "100ms", "max_elapsed_time": "20s"}


def test_signal_urls_compose_as_upstream():
    loki = Config(endpoint="https://loki.example.com/otlp")
    assert loki.signal_url(Signal.LOGS) == "https://loki.example.com/otlp/v1/logs"
    assert Config(endpoint="http://h:4318/").signal_url(Signal.TRACES) == "http://h:4318/v1/traces"
    own = Config(endpoint="http://h:4318", metrics_endpoint="http://m/custom")
    assert own.signal_url(Signal.METRICS) == "http://m/custom"
    only_traces = Config(traces_endpoint="http://t/x")
    with pytest.raises(ValueError, match='either "endpoint" or "logs_endpoint"'):
        only_traces.signal_url(Signal.LOGS)


def _logs() -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rec = req.resource_logs.add().scope_logs.add().log_records.add()
    rec.body.string_value, rec.trace_id, rec.severity_number = "hello", b"\x07" * 16, 17
    return req


@pytest.mark.parametrize("compression", ["gzip", "zstd", "snappy", "deflate", "none"])
@pytest.mark.parametrize("encoding", ["proto", "json"])
async def test_loki_style_path_encodings_and_headers(backend, compression, encoding):
    exp = await started_exporter("otlphttp", {
        "endpoint": f"{backend.endpoint}/otlp", "compression": compression, "encoding": encoding,
        "headers": {"X-Scope-OrgID": "tenant-1"}}, Signal.LOGS)
    await exp.consume(_logs())
    await wait_for(lambda: backend.received)
    await exp.shutdown()
    got = backend.received[0]
    assert otlpjson.encode(got.message) == otlpjson.encode(_logs())  # equal as upstream sees them
    assert got.headers["X-Scope-OrgID"] == "tenant-1"
    assert got.headers.get("Content-Encoding", "none") == compression
    assert got.headers["Content-Type"] == ("application/json" if encoding == "json" else "application/x-protobuf")


async def test_retryable_statuses_are_retried_until_delivered(backend):
    backend.statuses = [503, 502, 429]
    exp = await started_exporter("otlphttp", {"endpoint": backend.endpoint, "retry_on_failure": FAST_RETRY})
    await exp.consume(_trace_request())
    await wait_for(lambda: backend.received)
    await exp.shutdown()
    assert backend.attempts == 4
    tel = exp.settings.telemetry
    assert tel.value("otelcol_exporter_sent_spans") == 1 and tel.value("otelcol_exporter_send_failed_spans") == 0


async def test_400_is_permanent_and_never_retried(backend):
    backend.statuses = [400]
    exp = await started_exporter("otlphttp", {"endpoint": backend.endpoint, "retry_on_failure": FAST_RETRY,
                                              "sending_queue": {"enabled": False}})
    with pytest.raises(PermanentError, match="HTTP Status Code 400"):
        await exp.consume(_trace_request())
    await asyncio.sleep(0.3)
    await exp.shutdown()
    assert backend.attempts == 1 and not backend.received
    assert exp.settings.telemetry.value("otelcol_exporter_send_failed_spans") == 1


async def test_retry_after_header_is_honoured(backend):
    backend.statuses, backend.retry_after = [503], "1"
    exp = await started_exporter("otlphttp", {"endpoint": backend.endpoint, "retry_on_failure": FAST_RETRY,
                                              "sending_queue": {"enabled": False}})
    started = time.monotonic()
    await exp.consume(_trace_request())
    assert time.monotonic() - started >= 0.95
    await exp.shutdown()
    assert len(backend.received) == 1


async def test_backend_down_then_back_gets_everything():
    port = free_port()
    exp = await started_exporter("otlphttp", {"endpoint": f"http://127.0.0.1:{port}", "retry_on_failure": FAST_RETRY})
    for i in range(20):
        await exp.consume(_trace_request())
    await asyncio.sleep(1.0)
    backend = await HTTPBackend(port).start()
    try:
        await wait_for(lambda: len(backend.received) == 20)
        await exp.shutdown()
        assert exp.settings.telemetry.value("otelcol_exporter_sent_spans") == 20
    finally:
        await backend.stop()


async def test_gives_up_after_max_elapsed_time_and_counts_the_loss():
    exp = await started_exporter("otlphttp", {
        "endpoint": f"http://127.0.0.1:{free_port()}", "sending_queue": {"enabled": False},
        "retry_on_failure": {"initial_interval": "50ms", "max_interval": "50ms", "max_elapsed_time": "400ms"}})
    with pytest.raises(ConsumerError):
        await exp.consume(_trace_request())
    await exp.shutdown()
    assert exp.settings.telemetry.value("otelcol_exporter_send_failed_spans") == 1


async def test_full_queue_refuses_with_a_retryable_error():
    exp = await started_exporter("otlphttp", {
        "endpoint": f"http://127.0.0.1:{free_port()}", "retry_on_failure": FAST_RETRY,
        "sending_queue": {"queue_size": 2, "num_consumers": 1}})
    for _ in range(3):  # one taken by the consumer, two queued
        await exp.consume(_trace_request())
        await asyncio.sleep(0.05)
    with pytest.raises(ConsumerError, match="sending queue is full") as err:
        await exp.consume(_trace_request())
    assert not err.value.permanent
    assert exp.settings.telemetry.value("otelcol_exporter_enqueue_failed_spans") == 1
    exp._closed = True
    for task in exp._workers:
        task.cancel()
    await exp.stop_client()


async def test_lean_client_without_proxy_and_aiohttp_through_a_proxy(backend):
    """No proxy_url: the lean HTTP/1.1 client keeps one connection; with one, the request goes to the proxy."""
    from aiohttp import web

    exp = await started_exporter("otlphttp", {"endpoint": backend.endpoint}, Signal.LOGS)
    assert exp.client is not None and exp.session is None
    for i in range(3):  # one after the other: the idle connection is reused
        await exp.consume(_logs())
        await wait_for(lambda: len(backend.received) == i + 1 and exp.client._idle)
    assert exp.client.connections == 1
    await exp.shutdown()

    seen = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append((request.method, str(request.url), request.headers["Host"]))
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        exp = await started_exporter("otlphttp", {"endpoint": "http://backend.invalid:4318",
                                                  "proxy_url": f"http://127.0.0.1:{port}"}, Signal.LOGS)
        assert exp.client is None and exp.session is not None
        await exp.consume(_logs())
        await wait_for(lambda: seen)
        await exp.shutdown()
    finally:
        await runner.cleanup()
    assert seen[0][0] == "POST" and seen[0][1].endswith("/v1/logs") and seen[0][2] == "backend.invalid:4318"
