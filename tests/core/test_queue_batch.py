"""``sending_queue.batch``: real OTLP/HTTP and gRPC requests into a running otelflow (otlp receiver
-> otlp and otlphttp exporters) and real backends on 127.0.0.1 that record every request; the
tests check how items are grouped, and that nothing is lost or sent twice."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from otelflow.core import featuregates
from tests.backends import GRPCBackend, HTTPBackend, backends, free_port  # noqa: F401 - backends is a fixture
from tests.conftest import running
from tests.receivers.test_otlp import wait_for

TESTDATA = Path(__file__).parent / "testdata"


def request(first: int, spans: int, service: str = "svc", go_sized: bool = False) -> ExportTraceServiceRequest:
    """Spans named by their global sequence number, so order and completeness can be checked.

    ``go_sized``: every field that upstream's pdata always encodes (span status, parent_span_id,
    the scope) is present, so the request's encoded size is the size upstream's bytes sizer
    measures for it (otelflow measures the client's encoding; docs/upstream-differences.md)."""
    req = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]),
        scope_spans=[ScopeSpans(spans=[
            Span(trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name=f"s{i}")
            for i in range(first, first + spans)])])])
    if go_sized:
        for ss in req.resource_spans[0].scope_spans:
            ss.scope.SetInParent()
            for span in ss.spans:
                span.status.SetInParent()
                span.parent_span_id = b"\x01" * 8
    return req


def names(message) -> list[str]:
    return [s.name for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]


def counts(backend) -> list[int]:
    return [len(names(r.message)) for r in backend.received]


def config(port: int, http: str, grpc_: str, queue: str, receiver: str = "") -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{port}"{receiver}}}
exporters:
  otlp:
    endpoint: {grpc_}
    tls: {{insecure: true}}
    sending_queue: {queue}
  otlphttp:
    endpoint: {http}
    sending_queue: {queue}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp, otlphttp]}}
"""


async def post(port: int, body: bytes, headers: dict | None = None) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/v1/traces", data=body,
                                headers={"Content-Type": "application/x-protobuf", **(headers or {})}) as resp:
            await resp.read()
            return resp.status



async def send_all(port: int, sizes: list[int], go_sized: bool = False) -> list[str]:
    """Sends requests of the given span counts one after another; returns every span name sent."""
    first, sent = 0, []
    for n in sizes:
        req = request(first, n, go_sized=go_sized)
        assert await post(port, req.SerializeToString()) == 200
        sent += names(req)
        first += n
    return sent


def assert_each_once(backend, sent: list[str]) -> None:
    got = [n for r in backend.received for n in names(r.message)]
    # nothing lost, nothing twice; batches go out concurrently (num_consumers), so in any order
    assert sorted(got, key=lambda n: int(n[1:])) == sent
    for r in backend.received:  # within a request, in the order sent
        assert names(r.message) == sorted(names(r.message), key=lambda n: int(n[1:]))


async def test_min_size_reached_sends_one_request_of_the_clients_bytes_joined(backends):
    http, grpc_ = backends
    port = free_port()
    bodies = [request(2 * i, 2).SerializeToString() for i in range(5)]
    queue = "{batch: {min_size: 10, flush_timeout: 30s}}"
    async with running(config(port, http.endpoint, grpc_.endpoint, queue)) as service:
        for body in bodies:
            assert await post(port, body) == 200
        await wait_for(lambda: http.received and grpc_.received, timeout=5)  # long before 30s
        for e in ("otlp", "otlphttp"):
            await wait_for(lambda: service.telemetry.value("otelcol_exporter_sent_spans", exporter=e) == 10)
            assert service.telemetry.value("otelcol_exporter_queue_size", exporter=e, data_type="traces") == 0
    for backend in (http, grpc_):
        assert counts(backend) == [10]
        assert backend.received[0].body == b"".join(bodies)  # joined bytes, nothing re-encoded


async def test_flush_timeout_sends_a_batch_below_min_size(backends):
    http, grpc_ = backends
    port = free_port()
    queue = "{batch: {min_size: 1000, flush_timeout: 400ms}}"
    async with running(config(port, http.endpoint, grpc_.endpoint, queue)):
        started = time.monotonic()
        sent = await send_all(port, [2, 2, 2])
        await asyncio.sleep(0.15)
        assert not http.received and not grpc_.received  # still waiting for more
        await wait_for(lambda: http.received and grpc_.received, timeout=5)
        waited = time.monotonic() - started
        await asyncio.sleep(0.6)  # and nothing more follows
    assert 0.35 <= waited < 3
    for backend in (http, grpc_):
        assert counts(backend) == [6]
        assert_each_once(backend, sent)


async def test_max_size_splits_into_exact_sizes(backends):
    http, grpc_ = backends
    port = free_port()
    queue = "{batch: {min_size: 4, max_size: 4, flush_timeout: 30s}}"
    async with running(config(port, http.endpoint, grpc_.endpoint, queue)):
        sent = await send_all(port, [10])
        await wait_for(lambda: len(http.received) == 2 and len(grpc_.received) == 2, timeout=5)
        sent += await send_all_from(port, 10, [3])  # 2 left + 3 = 5 > 4: one of 4, one left
        await wait_for(lambda: len(http.received) == 3 and len(grpc_.received) == 3, timeout=5)
    for backend in (http, grpc_):  # the last one went out at shutdown
        assert counts(backend) == [4, 4, 4, 1]
        assert_each_once(backend, sent)


async def send_all_from(port: int, first: int, sizes: list[int]) -> list[str]:
    sent = []
    for n in sizes:
        req = request(first, n)
        assert await post(port, req.SerializeToString()) == 200
        sent += names(req)
        first += n
    return sent


async def test_bytes_sizer_groups_by_encoded_size(backends):
    http, grpc_ = backends
    port = free_port()
    size = len(request(0, 3).SerializeToString())
    queue = f"{{batch: {{sizer: bytes, min_size: {size * 3}, flush_timeout: 30s}}}}"
    async with running(config(port, http.endpoint, grpc_.endpoint, queue)):
        sent = await send_all(port, [3] * 7)
        await wait_for(lambda: len(http.received) == 2 and len(grpc_.received) == 2, timeout=5)
    for backend in (http, grpc_):
        assert counts(backend) == [9, 9, 3]
        assert all(size * 3 <= len(r.body) < size * 4 for r in backend.received[:2])  # reached min_size
        assert_each_once(backend, sent)


async def test_bytes_sizer_max_size_keeps_every_request_under_it(backends):
    http, grpc_ = backends
    port = free_port()
    limit = len(request(0, 10).SerializeToString())
    queue = f"{{batch: {{sizer: bytes, min_size: 1, max_size: {limit}, flush_timeout: 30s}}}}"
    async with running(config(port, http.endpoint, grpc_.endpoint, queue)):
        sent = await send_all(port, [35])
        await wait_for(lambda: sum(counts(http)) == 35 and sum(counts(grpc_)) == 35, timeout=5)
    for backend in (http, grpc_):
        assert all(len(r.message.SerializeToString()) <= limit for r in backend.received)
        assert len(backend.received) >= 4
        assert_each_once(backend, sent)


async def test_metadata_partition_keeps_one_batch_per_value(backends):
    http, grpc_ = backends
    port = free_port()
    queue = "{batch: {min_size: 1000, flush_timeout: 30s, partition: {metadata_keys: [X-Tenant]}}}"
    tenants = ["a", "b", "a", None, "b", "a"]
    async with running(config(port, http.endpoint, grpc_.endpoint, queue, ", include_metadata: true")):
        for i, tenant in enumerate(tenants):
            headers = {"X-Tenant": tenant} if tenant else {}
            assert await post(port, request(i, 1, service=str(tenant)).SerializeToString(), headers) == 200
    for backend in (http, grpc_):  # flushed at shutdown, one request per tenant
        groups = sorted(sorted(rs.resource.attributes[0].value.string_value for rs in r.message.resource_spans)
                        for r in backend.received)
        assert groups == [["None"], ["a", "a", "a"], ["b", "b"]]


async def test_shutdown_flushes_pending_batches(backends):
    http, grpc_ = backends
    port = free_port()
    queue = "{batch: {min_size: 1000, flush_timeout: 1h}}"
    async with running(config(port, http.endpoint, grpc_.endpoint, queue)) as service:
        sent = await send_all(port, [5, 6, 7])
        await asyncio.sleep(0.2)
        assert not http.received and not grpc_.received
        for e in ("otlp", "otlphttp"):  # requests in a batch still count in the queue (sizer: requests)
            assert service.telemetry.value("otelcol_exporter_queue_size", exporter=e, data_type="traces") == 3
            assert service.telemetry.value("otelcol_exporter_sent_spans", exporter=e) == 0
    for backend in (http, grpc_):
        assert counts(backend) == [18]
        assert_each_once(backend, sent)


async def test_requests_waiting_in_a_batch_fill_the_queue_until_it_refuses_more(backends):
    """Requests join their batch as they arrive (not via the queue's reader), yet still hold their
    place in the queue: with room for three, the fourth is refused and the three go out once."""
    http, grpc_ = backends
    port = free_port()
    queue = "{queue_size: 3, batch: {min_size: 1000, flush_timeout: 1h}}"
    async with running(config(port, http.endpoint, grpc_.endpoint, queue)) as service:
        sent = await send_all(port, [2, 2, 2])
        assert await post(port, request(100, 2).SerializeToString()) == 503  # the queue is full
        for e in ("otlp", "otlphttp"):
            assert service.telemetry.value("otelcol_exporter_queue_size", exporter=e, data_type="traces") == 3
            assert service.telemetry.value("otelcol_exporter_enqueue_failed_spans", exporter=e) == 2
    for backend in (http, grpc_):
        assert counts(backend) == [6]
        assert_each_once(backend, sent)


async def test_block_on_overflow_waits_for_a_batch_to_make_room(backends):
    """With the queue full of requests waiting in their batch, the next caller waits (not refused)
    until the flush timeout sends the batch and frees their places."""
    http, grpc_ = backends
    port = free_port()
    queue = "{queue_size: 2, block_on_overflow: true, batch: {min_size: 1000, flush_timeout: 300ms}}"
    async with running(config(port, http.endpoint, grpc_.endpoint, queue)):
        started = time.monotonic()
        sent = await send_all(port, [2, 2])
        third = request(4, 2)
        assert await post(port, third.SerializeToString()) == 200
        waited = time.monotonic() - started
        sent += names(third)
        await wait_for(lambda: sum(counts(http)) == 6 and sum(counts(grpc_)) == 6, timeout=5)
    assert waited >= 0.25  # held until the first batch went out
    for backend in (http, grpc_):
        assert counts(backend) == [4, 2]
        assert_each_once(backend, sent)


async def test_the_feature_gate_turns_batching_on_by_default(backends):
    http, grpc_ = backends
    port = free_port()
    gate = featuregates.QUEUE_BATCH_ENABLED
    assert not featuregates.REGISTRY.is_enabled(gate)  # alpha: off
    featuregates.REGISTRY.set(gate, True)
    try:
        async with running(config(port, http.endpoint, grpc_.endpoint, "{}")) as service:
            exporters = [n.component for n in service.graph.nodes if hasattr(n.component, "batch_cfg")]
            assert exporters and all(e.batch_cfg.min_size == 8192 for e in exporters)
            sent = await send_all(port, [3, 3, 3])
            await wait_for(lambda: http.received and grpc_.received, timeout=5)  # 200ms flush_timeout
    finally:
        featuregates.REGISTRY.set(gate, False)
    for backend in (http, grpc_):
        assert counts(backend) == [9]
        assert_each_once(backend, sent)


async def test_without_batch_every_request_goes_alone(backends):
    http, grpc_ = backends
    port = free_port()
    async with running(config(port, http.endpoint, grpc_.endpoint, "{}")):
        sent = await send_all(port, [3, 3, 3])
        await wait_for(lambda: len(http.received) == 3 and len(grpc_.received) == 3, timeout=5)
    for backend in (http, grpc_):
        assert counts(backend) == [3, 3, 3]
        assert_each_once(backend, sent)


async def test_wait_for_result_gives_the_caller_its_batch_result(backends):
    http, grpc_ = backends
    port = free_port()
    http.statuses = [400]  # a permanent error for the first (and only) batch
    queue = "{wait_for_result: true, batch: {min_size: 4, flush_timeout: 30s}}"
    yaml = config(port, http.endpoint, grpc_.endpoint, queue).replace(
        "exporters: [otlp, otlphttp]", "exporters: [otlphttp]")
    async with running(yaml):
        statuses = await asyncio.gather(post(port, request(0, 2).SerializeToString()),
                                        post(port, request(2, 2).SerializeToString()))
        assert statuses == [400, 400]  # both requests were in the batch the backend refused
        assert await post(port, request(4, 4).SerializeToString()) == 200
    assert counts(http) == [4]


async def test_grpc_clients_are_batched_too(backends):
    http, grpc_ = backends
    port = free_port()
    yaml = config(port, http.endpoint, grpc_.endpoint, "{batch: {min_size: 6, flush_timeout: 30s}}").replace(
        f'http: {{endpoint: "127.0.0.1:{port}"}}', f'grpc: {{endpoint: "127.0.0.1:{port}"}}')
    async with running(yaml):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            for i in range(3):
                await stub.Export(request(2 * i, 2))
        await wait_for(lambda: http.received and grpc_.received, timeout=5)
    for backend in (http, grpc_):
        assert counts(backend) == [6]


async def test_persistent_queue_with_batch_delivers_and_empties_the_store(backends, tmp_path):
    http, grpc_ = backends
    port = free_port()
    queue = "{storage: file_storage, batch: {min_size: 6, flush_timeout: 30s}}"
    yaml = config(port, http.endpoint, grpc_.endpoint, queue).replace(
        "exporters:\n", f"extensions:\n  file_storage: {{directory: {tmp_path}}}\nexporters:\n", 1).replace(
        "service:\n", "service:\n  extensions: [file_storage]\n", 1)
    async with running(yaml) as service:
        sent = await send_all(port, [2, 2, 2, 1])
        await wait_for(lambda: http.received and grpc_.received, timeout=5)
        exporters = [n.component for n in service.graph.nodes if getattr(n.component, "pqueue", None)]
        await wait_for(lambda: all(e.pqueue.size == 1 for e in exporters))  # the 1 still batching
    for backend in (http, grpc_):
        assert counts(backend) == [6, 1]
        assert_each_once(backend, sent)
    async with running(yaml):  # nothing left on disk to send again
        await asyncio.sleep(0.5)
    assert counts(http) == [6, 1] and counts(grpc_) == [6, 1]


async def test_persistent_batch_not_sent_stays_on_disk_for_the_next_start(tmp_path):
    http = await HTTPBackend().start()
    port = free_port()
    yaml = f"""
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}
extensions:
  file_storage: {{directory: {tmp_path}}}
exporters:
  otlphttp:
    endpoint: {http.endpoint}
    retry_on_failure: {{initial_interval: 50ms, max_interval: 50ms}}
    sending_queue: {{storage: file_storage, batch: {{min_size: 5, flush_timeout: 30s}}}}
service:
  extensions: [file_storage]
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlphttp]}}
"""
    try:
        http.statuses = [503] * 1000  # the backend is down for the whole first run
        async with running(yaml) as service:
            sent = await send_all(port, [3, 3, 2])  # 6 items: a batch that keeps failing, and 2 filling
            await wait_for(lambda: http.attempts >= 3)
            exporter = next(n.component for n in service.graph.nodes if getattr(n.component, "pqueue", None))
            assert exporter.pqueue.size == 3  # all three requests still held (sizer: requests)
        assert not http.received
        http.statuses = []
        async with running(yaml):
            await wait_for(lambda: sum(counts(http)) == 6)  # restored in order: 3 + 3 reach min_size
        assert counts(http) == [6, 2]  # the 2 at shutdown
        assert_each_once(http, sent)
    finally:
        await http.stop()


def metrics_request(first: int, points: int):
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics
    return ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[
        Metric(name="m", gauge=Gauge(data_points=[NumberDataPoint(as_int=i) for i in range(first, first + points)]))])])])


def logs_request(first: int, records: int):
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[
        LogRecord(body=AnyValue(int_value=i)) for i in range(first, first + records)])])])


def metric_items(m) -> list[int]:
    return [p.as_int for rm in m.resource_metrics for sm in rm.scope_metrics for x in sm.metrics for p in x.gauge.data_points]


def log_items(m) -> list[int]:
    return [r.body.int_value for rl in m.resource_logs for sl in rl.scope_logs for r in sl.log_records]


@pytest.mark.parametrize("signal, make, items", [("metrics", metrics_request, metric_items),
                                                 ("logs", logs_request, log_items)])
async def test_metrics_points_and_log_records_are_the_items(backends, signal, make, items):
    http, grpc_ = backends
    port = free_port()
    yaml = config(port, http.endpoint, grpc_.endpoint, "{batch: {min_size: 6, max_size: 6, flush_timeout: 30s}}")
    yaml = yaml.replace("traces: {receivers", f"{signal}: {{receivers")
    async with running(yaml):
        first = 0
        for n in (4, 4, 5):
            async with aiohttp.ClientSession() as session:
                async with session.post(f"http://127.0.0.1:{port}/v1/{signal}", data=make(first, n).SerializeToString(),
                                        headers={"Content-Type": "application/x-protobuf"}) as resp:
                    assert resp.status == 200
            first += n
        await wait_for(lambda: len(http.received) == 2 and len(grpc_.received) == 2, timeout=5)
    for backend in (http, grpc_):
        got = [items(r.message) for r in backend.received]
        assert [len(g) for g in got] == [6, 6, 1]  # 4+4 cut at 6, 2+5 cut at 6, 1 at shutdown
        assert sorted(i for g in got for i in g) == list(range(13))


# -- the same sequence through otelcol-ref ----------------------------------------------------------

SEQUENCE = [3, 5, 1, 9, 2, 2, 7, 4, 1, 6]
# one sender (num_consumers: 1), so requests arrive in the order they were sent
SCENARIOS = {
    "items_min_max": "{num_consumers: 1, batch: {min_size: 8, max_size: 10, flush_timeout: 30s}}",
    # requests larger than max_size are cut too; a remainder under min_size waits for the next
    "items_split": "{num_consumers: 1, batch: {min_size: 3, max_size: 4, flush_timeout: 30s}}",
    # encoded sizes 171 263 77 455 125 125 362 ...: 171 stays under 400, +263 reaches it
    "bytes_min": "{num_consumers: 1, batch: {sizer: bytes, min_size: 400, flush_timeout: 30s}}",
}
GOLDEN = TESTDATA / "queue_batch_counts.json"
OTELCOL_REF = next((p for p in (Path(__file__).parents[2] / "bench/.build/bin/otelcol-ref",
                                Path("/work/main/bench/.build/bin/otelcol-ref")) if p.exists()), None)


async def _otelflow_counts(http, grpc_, queue: str) -> dict:
    port = free_port()
    async with running(config(port, http.endpoint, grpc_.endpoint, queue)):
        await send_all(port, SEQUENCE, go_sized=True)
    return {"otlp": counts(grpc_), "otlphttp": counts(http)}


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_item_counts_per_request_match_the_recorded_otelcol_ref_result(backends, scenario):
    golden = json.loads(GOLDEN.read_text())
    assert golden["sequence"] == SEQUENCE
    recorded = golden["scenarios"][scenario]
    assert recorded["sending_queue"] == SCENARIOS[scenario]
    assert await _otelflow_counts(*backends, SCENARIOS[scenario]) == recorded["counts"]
    assert sum(recorded["counts"]["otlp"]) == sum(SEQUENCE)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_item_counts_per_request_match_otelcol_ref_live(backends, tmp_path, scenario):
    if OTELCOL_REF is None:
        pytest.skip("bench/.build/bin/otelcol-ref is not built (make -C bench ref)")
    http, grpc_ = backends
    port = free_port()
    cfg = tmp_path / "ref.yaml"
    cfg.write_text(config(port, http.endpoint, grpc_.endpoint, SCENARIOS[scenario]))
    proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "ref.log", "wb"))
    try:
        deadline = time.monotonic() + 30
        while True:  # ready when the receiver answers (an empty request: no items)
            try:
                async with aiohttp.ClientSession() as session:
                    await (await session.post(f"http://127.0.0.1:{port}/v1/traces", data=b"",
                                              headers={"Content-Type": "application/x-protobuf"})).read()
                break
            except aiohttp.ClientError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("otelcol-ref did not start: " + (tmp_path / "ref.log").read_text())
                await asyncio.sleep(0.2)
        await send_all(port, SEQUENCE, go_sized=True)
        await asyncio.sleep(0.5)
    finally:
        proc.terminate()  # SIGTERM: otelcol-ref sends its pending batches on shutdown
        await asyncio.to_thread(proc.wait, 30)
    ref = {"otlp": [c for c in counts(grpc_) if c], "otlphttp": [c for c in counts(http) if c]}
    golden = json.loads(GOLDEN.read_text())["scenarios"][scenario]["counts"]
    assert ref == golden, f"otelcol-ref gave {ref}; re-record {GOLDEN}"
    http.received.clear()
    grpc_.received.clear()
    assert await _otelflow_counts(http, grpc_, SCENARIOS[scenario]) == ref


# -- config: configoptional's reading of `batch`, the sizer rule, upstream's messages -------------

from otelflow.config import collector, loader  # noqa: E402
from otelflow.config.errors import ConfigError  # noqa: E402
from otelflow.core.component import Kind  # noqa: E402
from otelflow.core.registry import default_registry  # noqa: E402


def queue_of(sending_queue: str, exporter: str = "otlphttp"):
    yaml = f"""
receivers: {{otlp: {{protocols: {{http: {{}}}}}}}}
exporters:
  {exporter}: {{endpoint: "http://127.0.0.1:1", sending_queue: {sending_queue}}}
service: {{pipelines: {{traces: {{receivers: [otlp], exporters: [{exporter}]}}}}}}
"""
    cfg = collector.parse(loader.load([f"yaml:{yaml}"]), default_registry)
    return next(iter(cfg.components[Kind.EXPORTER].values())).sending_queue


@pytest.mark.parametrize("sending_queue, expected", [
    ("{}", None),  # absent: off (the gate is off)
    ("{batch: }", ("items", 8192, 0.2)),  # present with no value: on, defaults, sizer not inherited
    ("{sizer: bytes, batch: }", ("items", 8192, 0.2)),
    ("{batch: {}}", ("items", 8192, 0.2)),
    ("{sizer: bytes, queue_size: 20000, batch: {min_size: 100}}", ("bytes", 100, 0.2)),  # inherited
    ("{sizer: bytes, queue_size: 20000, batch: {}}", ("bytes", 8192, 0.2)),  # {} is non-empty to confmap
    ("{queue_size: 2000, batch: {min_size: 100}}", ("items", 100, 0.2)),  # queue sizer not set
    ("{sizer: bytes, batch: {sizer: items, min_size: 5000}}", ("items", 5000, 0.2)),
    ("{sizer: requests, batch: {enabled: false}}", None),
    ("{batch: {enabled: true, flush_timeout: 1s}}", ("items", 8192, 1.0)),
])
def test_batch_config_as_upstream_reads_it(sending_queue, expected):
    q = queue_of(sending_queue)
    b = q.batch_settings
    assert (None if b is None else (b.sizer, b.min_size, b.flush_timeout)) == expected


@pytest.mark.parametrize("sending_queue, message", [
    ("{sizer: requests, batch: {}}", "sending_queue::batch: `batch` supports only `items` or `bytes` sizer, found \"requests\""),
    ("{batch: {sizer: requests}}", "`batch` supports only `items` or `bytes` sizer, found \"requests\""),
    ("{batch: {flush_timeout: 0s}}", "sending_queue::batch: `flush_timeout` must be positive, found 0"),
    ("{batch: {min_size: -1}}", "`min_size` must be non-negative, found -1"),
    ("{batch: {max_size: -1}}", "`max_size` must be non-negative, found -1"),
    ("{batch: {min_size: 2048, max_size: 1024}}", "`max_size` (1024) must be greater or equal to `min_size` (2048)"),
    ("{sizer: items, batch: }", "sending_queue: `min_size` must be less than or equal to `queue_size`"),
    ("{sizer: bytes, batch: {}}", "`min_size` must be less than or equal to `queue_size`"),
    ("{batch: {partition: {metadata_keys: [Key1, kEy1, key2]}}}",
     "duplicate entry in metadata_keys: \"key1\" (case-insensitive)"),
    ("{batch: {sizer: lines}}", "invalid sizer: \"lines\""),
    ('{batch: {enabled: "true"}}', "unexpected type string for 'enabled'"),
])
def test_batch_config_errors_are_upstreams(sending_queue, message):
    with pytest.raises(ConfigError) as err:
        queue_of(sending_queue)
    assert message in str(err.value)
    assert "exporters::otlphttp::sending_queue" in str(err.value)


def test_the_gate_gives_every_default_queue_a_batch_and_its_checks():
    gate = featuregates.QUEUE_BATCH_ENABLED
    assert featuregates.REGISTRY.gates()  # registered, alpha, off
    assert next(g for g in featuregates.REGISTRY.gates() if g.id == gate).stage == featuregates.ALPHA
    featuregates.REGISTRY.set(gate, True)
    try:
        assert queue_of("{}").batch_settings.min_size == 8192
        assert queue_of("{}", "otlp").batch_settings.min_size == 8192
        assert queue_of("{batch: {enabled: false}}").batch_settings is None
        with pytest.raises(ConfigError, match="`min_size` must be less than or equal to `queue_size`"):
            queue_of("{sizer: items}")  # the default batch (items, 8192) cannot fit a queue of 1000 items
    finally:
        featuregates.REGISTRY.set(gate, False)
    assert queue_of("{}").batch_settings is None
