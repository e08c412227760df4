"""The exporter's sending queue on disk (``sending_queue.storage``), with a real file_storage extension,
the real otlp exporter and a real OTLP/gRPC backend that is down, up, or refusing."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config.model import validate
from otelflow.core import persistent_queue as pq_mod
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.extensions import file_storage as fs
from otelflow.extensions import health_check
from tests.backends import GRPCBackend, HTTPBackend, free_port

STORAGE = ComponentID("file_storage")
FAST_RETRY = {"initial_interval": "20ms", "max_interval": "50ms", "max_elapsed_time": "0s"}


def spans(tag: str, n: int = 1) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        span = scope.spans.add(name=f"{tag}-{i}", trace_id=b"t" * 16, span_id=i.to_bytes(8, "big"))
        span.attributes.add(key="tag", value={"string_value": tag})
    return req


def logs(tag: str) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    req.resource_logs.add().scope_logs.add().log_records.add(body={"string_value": tag})
    return req


async def storage(path) -> fs.FileStorage:
    ext = fs.FileStorage(Settings(id=STORAGE, kind=Kind.EXTENSION, telemetry=Telemetry()),
                         validate(fs.Config, {"directory": str(path)}, "extensions::file_storage"))
    await ext.start(Host())
    return ext


def exporter(port: int, telemetry: Telemetry, signal: Signal = Signal.TRACES, retry: dict | None = None, **queue):
    factory = default_registry.get(Kind.EXPORTER, "otlp")
    cfg = validate(factory.config, {
        "endpoint": f"127.0.0.1:{port}", "tls": {"insecure": True}, "timeout": "2s",
        "retry_on_failure": retry or FAST_RETRY,
        "sending_queue": {"storage": "file_storage", **queue},
    }, "exporters::otlp")
    settings = Settings(id=ComponentID("otlp"), kind=Kind.EXPORTER, telemetry=telemetry, signal=signal)
    return factory.create(settings=settings, config=cfg)


async def until(predicate, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


def tags(backend: GRPCBackend) -> list[str]:
    return [m.resource_spans[0].scope_spans[0].spans[0].attributes[0].value.string_value for m in backend.messages(Signal.TRACES)]


async def test_accepted_requests_are_on_disk_and_delivered_after_a_restart(tmp_path):
    port, tel = free_port(), Telemetry()
    ext = await storage(tmp_path)
    exp = exporter(port, tel, num_consumers=1)  # backend down
    await exp.start(Host({STORAGE: ext}))
    sent = [spans(f"r{i}", n=3) for i in range(5)]
    for i, req in enumerate(sent):
        await exp.consume(req)
        # committed before consume() returned
        assert str(i) in await exp.pqueue.client.keys()
    assert tel.value("otelcol_exporter_queue_size") == 5  # the request being retried still counts
    await exp.shutdown()  # stops retrying; nothing is dropped
    assert tel.value("otelcol_exporter_send_failed_spans") == 0
    await ext.shutdown()

    ext = await storage(tmp_path)
    exp = exporter(port, tel, num_consumers=1)
    await exp.start(Host({STORAGE: ext}))
    assert tel.value("otelcol_exporter_queue_size") == 5
    await exp.consume(spans("new"))  # queued behind what the last run left
    backend = await GRPCBackend(port).start()
    try:
        await until(lambda: len(backend.received) == 6)
        assert tags(backend) == ["r0", "r1", "r2", "r3", "r4", "new"]
        assert [m for m in backend.messages(Signal.TRACES)[:5]] == sent  # identical content
        await until(lambda: tel.value("otelcol_exporter_queue_size") == 0)
        assert await exp.pqueue.client.keys() == []
        assert tel.value("otelcol_exporter_sent_spans") == 16
    finally:
        await exp.shutdown()
        await ext.shutdown()
        await backend.stop()


@pytest.mark.parametrize("sizer, queue_size, per_request, fits", [
    ("requests", 3, 2, 3),
    ("items", 10, 4, 2),
    ("bytes", 3 * spans("x", 4).ByteSize(), 4, 3),
])
async def test_capacity_and_the_full_queue_error(tmp_path, sizer, queue_size, per_request, fits):
    tel = Telemetry()
    ext = await storage(tmp_path)
    exp = exporter(free_port(), tel, num_consumers=1, sizer=sizer, queue_size=queue_size)
    await exp.start(Host({STORAGE: ext}))
    try:
        for i in range(fits):
            await exp.consume(spans(f"{i}", per_request))
        with pytest.raises(ConsumerError, match="sending queue is full") as err:
            await exp.consume(spans("over", per_request))
        assert not err.value.permanent
        assert tel.value("otelcol_exporter_enqueue_failed_spans") == per_request
        assert len(await exp.pqueue.client.keys()) == fits  # the refused request was never written
        assert tel.value("otelcol_exporter_queue_capacity") == queue_size
    finally:
        await exp.shutdown()
        await ext.shutdown()


async def test_restored_backlog_counts_against_capacity(tmp_path):
    tel, port = Telemetry(), free_port()
    ext = await storage(tmp_path)
    exp = exporter(port, tel, queue_size=4)
    await exp.start(Host({STORAGE: ext}))
    for i in range(4):
        await exp.consume(spans(f"{i}"))
    await exp.shutdown()
    exp = exporter(port, tel, queue_size=4)
    await exp.start(Host({STORAGE: ext}))
    try:
        with pytest.raises(ConsumerError, match="sending queue is full"):
            await exp.consume(spans("over"))
    finally:
        await exp.shutdown()
        await ext.shutdown()


async def test_block_on_overflow_waits_for_space(tmp_path):
    tel, port = Telemetry(), free_port()
    ext = await storage(tmp_path)
    exp = exporter(port, tel, queue_size=2, num_consumers=1, block_on_overflow=True)
    await exp.start(Host({STORAGE: ext}))
    backend = None
    try:
        await exp.consume(spans("a"))
        await exp.consume(spans("b"))
        blocked = asyncio.ensure_future(exp.consume(spans("c")))
        await asyncio.sleep(0.3)
        assert not blocked.done()
        backend = await GRPCBackend(port).start()
        await asyncio.wait_for(blocked, 10)
        await until(lambda: len(backend.received) == 3)
        assert tags(backend) == ["a", "b", "c"]
        assert tel.value("otelcol_exporter_enqueue_failed_spans") == 0
    finally:
        await exp.shutdown()
        await ext.shutdown()
        if backend:
            await backend.stop()


async def test_permanent_errors_and_spent_retries_delete_the_request(tmp_path):
    tel, port = Telemetry(), free_port()
    backend = await GRPCBackend(port).start()
    backend.codes = [grpc.StatusCode.INVALID_ARGUMENT]
    ext = await storage(tmp_path)
    exp = exporter(port, tel, num_consumers=1, retry={"initial_interval": "20ms", "max_elapsed_time": "300ms"})
    await exp.start(Host({STORAGE: ext}))
    try:
        await exp.consume(spans("rejected", 2))
        await until(lambda: tel.value("otelcol_exporter_send_failed_spans") == 2)
        await until(lambda: tel.value("otelcol_exporter_queue_size") == 0)
        assert await exp.pqueue.client.keys() == []
        backend.codes = [grpc.StatusCode.UNAVAILABLE] * 100
        await exp.consume(spans("given up", 3))
        await until(lambda: tel.value("otelcol_exporter_send_failed_spans") == 5)
        await until(lambda: tel.value("otelcol_exporter_queue_size") == 0)
        assert await exp.pqueue.client.keys() == []
        assert backend.received == []
    finally:
        await exp.shutdown()
        await ext.shutdown()
        await backend.stop()


async def test_request_types_come_back_as_their_own_class(tmp_path):
    port = free_port()
    ext = await storage(tmp_path)
    exp = exporter(port, Telemetry(), signal=Signal.LOGS)
    await exp.start(Host({STORAGE: ext}))
    await exp.consume(logs("hello"))
    await exp.shutdown()
    exp = exporter(port, Telemetry(), signal=Signal.LOGS)
    backend = await GRPCBackend(port).start()
    await exp.start(Host({STORAGE: ext}))
    try:
        await until(lambda: len(backend.received) == 1)
        assert backend.messages(Signal.LOGS) == [logs("hello")]
    finally:
        await exp.shutdown()
        await ext.shutdown()
        await backend.stop()
    metrics = ExportMetricsServiceRequest()
    metric = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    metric.sum.data_points.add(as_int=1)
    metric.sum.data_points.add(as_int=2)
    for signal, req, count in [(Signal.METRICS, metrics, 2), (Signal.LOGS, logs("x"), 1), (Signal.TRACES, spans("y", 3), 3)]:
        back, n = pq_mod.decode(pq_mod.encode(signal, req, count))
        assert type(back) is type(req) and back == req and n == count
    with pytest.raises(ValueError, match="unknown format"):
        pq_mod.decode(b"\x09\x01\x00\x00\x00\x01")


async def test_an_unreadable_record_is_dropped_and_the_rest_delivered(tmp_path, caplog):
    port = free_port()
    ext = await storage(tmp_path)
    client = await ext.client(Kind.EXPORTER, ComponentID("otlp"), "traces")
    await client.batch([("set", "0", b"garbage"), ("set", "1", pq_mod.encode(Signal.TRACES, spans("ok"), 1))])
    await client.close()
    backend = await GRPCBackend(port).start()
    exp = exporter(port, Telemetry())
    with caplog.at_level(logging.WARNING):
        await exp.start(Host({STORAGE: ext}))
        try:
            await until(lambda: len(backend.received) == 1)
            assert tags(backend) == ["ok"]
            await until(lambda: exp.pqueue.size == 0)
            assert await exp.pqueue.client.keys() == []
        finally:
            await exp.shutdown()
            await ext.shutdown()
            await backend.stop()
    assert "Failed dispatching request 0" in caplog.text


async def test_storage_that_is_missing_or_not_storage_fails_start(tmp_path):
    exp = exporter(free_port(), Telemetry())
    with pytest.raises(RuntimeError, match="no storage client extension found"):
        await exp.start(Host())
    hc = health_check.create(Settings(id=STORAGE, kind=Kind.EXTENSION, telemetry=Telemetry()), health_check.Config())
    with pytest.raises(RuntimeError, match="requested extension is not a storage extension"):
        await exp.start(Host({STORAGE: hc}))
    factory = default_registry.get(Kind.EXPORTER, "otlp")
    with pytest.raises(ValueError, match="`wait_for_result` is not supported with a persistent queue"):
        factory.create(settings=Settings(id=ComponentID("otlp"), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=Signal.TRACES),
                       config=validate(factory.config, {"endpoint": "127.0.0.1:1", "sending_queue": {
                           "storage": "file_storage", "wait_for_result": True}}, "x"))


async def test_a_cancelled_caller_does_not_lose_a_write_that_landed(tmp_path):
    port = free_port()
    ext = await storage(tmp_path)
    exp = exporter(port, Telemetry(), num_consumers=1)
    await exp.start(Host({STORAGE: ext}))
    backend = None
    try:
        task = asyncio.ensure_future(exp.consume(spans("cancelled")))
        await asyncio.sleep(0)  # the write is submitted to the storage thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        backend = await GRPCBackend(port).start()
        await until(lambda: len(backend.received) == 1)
        assert tags(backend) == ["cancelled"]
    finally:
        await exp.shutdown()
        await ext.shutdown()
        if backend:
            await backend.stop()


async def test_otlphttp_uses_the_same_disk_queue(tmp_path):
    port, tel = free_port(), Telemetry()
    factory = default_registry.get(Kind.EXPORTER, "otlphttp")
    cfg = validate(factory.config, {"endpoint": f"http://127.0.0.1:{port}", "retry_on_failure": FAST_RETRY,
                                    "sending_queue": {"storage": "file_storage"}}, "exporters::otlphttp")

    def make():
        settings = Settings(id=ComponentID("otlphttp"), kind=Kind.EXPORTER, telemetry=tel, signal=Signal.TRACES)
        return factory.create(settings=settings, config=cfg)

    ext = await storage(tmp_path)
    exp = make()
    await exp.start(Host({STORAGE: ext}))
    await exp.consume(spans("over-http", 2))
    await exp.shutdown()
    assert (tmp_path / "exporter_otlphttp__traces").exists()
    backend = await HTTPBackend(port).start()
    exp = make()
    await exp.start(Host({STORAGE: ext}))
    try:
        await until(lambda: len(backend.received) == 1)
        assert backend.messages(Signal.TRACES) == [spans("over-http", 2)]
    finally:
        await exp.shutdown()
        await ext.shutdown()
        await backend.stop()
