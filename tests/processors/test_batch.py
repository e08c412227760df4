"""The batch processor in a running collector: otlp receiver -> batch -> otlp/otlphttp exporters ->
real OTLP backends, fed by the Python SDK or raw requests; and split-for-split agreement with the
upstream collector binary when it is built."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import random
import signal as signals
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config import collector, loader
from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Kind, Settings, Signal, STABLE_SIGNALS
from otelflow.core.consumer import PermanentError
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.pdata import REQUEST_TYPES, RESPONSE_TYPES, count_items
from otelflow.processors import batch as batchmod
from otelflow.processors.batch import BatchProcessor, Config, client_metadata
from otelflow.receivers.otlp.grpc import SERVICES
from tests.backends import GRPCBackend, HTTPBackend, free_port
from tests.conftest import running
from tests.sdk import SDKApp, flatten, merged

REF = Path(__file__).parents[2] / "bench" / ".build" / "bin" / "otelcol-ref"

# --------------------------------------------------------------------------------------------------
# Request builders: several resources and scopes, empty ones too, all five metric types
# --------------------------------------------------------------------------------------------------

METRIC_KINDS = ["gauge", "sum", "histogram", "exponential_histogram", "summary"]
T0 = 1_700_000_000_000_000_000


def _resource(res, rnd: random.Random, i: int) -> None:
    res.resource.attributes.add(key="service.name").value.string_value = f"svc-{i}"
    res.resource.attributes.add(key="host.name").value.string_value = f"node-{rnd.randint(1, 9)}"
    res.schema_url = f"https://opentelemetry.io/schemas/1.{i}.0" if rnd.random() < 0.5 else ""


def _scope(scope, i: int, j: int) -> None:
    scope.scope.name, scope.scope.version = f"lib-{i}-{j}", "1.0"
    scope.scope.attributes.add(key="scope.attr").value.int_value = j
    scope.schema_url = "https://example.com/scope" if j % 2 else ""


def traces_request(rnd: random.Random, shape: list[list[int]]) -> ExportTraceServiceRequest:
    """``shape``: per resource, the number of spans of each scope (0 allowed)."""
    req = ExportTraceServiceRequest()
    for i, scopes in enumerate(shape):
        rs = req.resource_spans.add()
        _resource(rs, rnd, i)
        for j, n in enumerate(scopes):
            ss = rs.scope_spans.add()
            _scope(ss, i, j)
            for k in range(n):
                span = ss.spans.add()
                span.trace_id, span.span_id = rnd.randbytes(16), rnd.randbytes(8)
                span.name = f"op-{i}-{j}-{k}"
                span.start_time_unix_nano, span.end_time_unix_nano = T0 + k, T0 + k + 1000
                span.attributes.add(key="k").value.int_value = k
                span.status.code = 1
    return req


def logs_request(rnd: random.Random, shape: list[list[int]]) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    for i, scopes in enumerate(shape):
        rl = req.resource_logs.add()
        _resource(rl, rnd, i)
        for j, n in enumerate(scopes):
            sl = rl.scope_logs.add()
            _scope(sl, i, j)
            for k in range(n):
                rec = sl.log_records.add()
                rec.time_unix_nano, rec.severity_number, rec.severity_text = T0 + k, 9, "INFO"
                rec.body.string_value = f"log {i}/{j}/{k} {rnd.random()}"
    return req


def metrics_request(rnd: random.Random, shape: list[list[list[tuple[str, int]]]]) -> ExportMetricsServiceRequest:
    """``shape``: per resource, per scope, the (type, number of points) of each metric."""
    req = ExportMetricsServiceRequest()
    for i, scopes in enumerate(shape):
        rm = req.resource_metrics.add()
        _resource(rm, rnd, i)
        for j, metrics in enumerate(scopes):
            sm = rm.scope_metrics.add()
            _scope(sm, i, j)
            for m_i, (kind, points) in enumerate(metrics):
                metric = sm.metrics.add()
                metric.name, metric.description, metric.unit = f"m.{i}.{j}.{m_i}", f"{kind} metric", "ms"
                metric.metadata.add(key="origin").value.string_value = "test"
                data = getattr(metric, kind)
                data.SetInParent()
                if kind == "sum":
                    data.aggregation_temporality, data.is_monotonic = 2, True
                elif kind in ("histogram", "exponential_histogram"):
                    data.aggregation_temporality = 1
                for p in range(points):
                    dp = data.data_points.add()
                    dp.start_time_unix_nano, dp.time_unix_nano = T0, T0 + p
                    dp.attributes.add(key="p").value.int_value = p
                    if kind in ("gauge", "sum"):
                        dp.as_double = p * 1.5
                    elif kind == "histogram":
                        dp.count, dp.sum = 3, 4.5
                        dp.bucket_counts.extend([1, 2])
                        dp.explicit_bounds.append(2.0)
                    elif kind == "exponential_histogram":
                        dp.count, dp.scale, dp.zero_count = 2, 3, 1
                        dp.positive.offset = 1
                        dp.positive.bucket_counts.append(1)
                    else:
                        dp.count, dp.sum = 2, 3.0
                        q = dp.quantile_values.add()
                        q.quantile, q.value = 0.5, 1.5
    return req


def random_shape(rnd: random.Random, metric: bool = False, resources: int = 3, scopes: int = 3, items: int = 7) -> list:
    shape = []
    for _ in range(rnd.randint(1, resources)):
        if metric:
            shape.append([[(rnd.choice(METRIC_KINDS), rnd.randint(0, 4)) for _ in range(rnd.randint(0, 3))]
                          for _ in range(rnd.randint(0, scopes))])
        else:
            shape.append([rnd.randint(0, items) for _ in range(rnd.randint(0, scopes))])
    return shape


def random_requests(seed: int, count: int = 12, **kw) -> list[tuple[Signal, object]]:
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        signal = rnd.choice([s for s in Signal if s in STABLE_SIGNALS])
        if signal is Signal.METRICS:
            out.append((signal, metrics_request(rnd, random_shape(rnd, metric=True, **kw))))
        elif signal is Signal.LOGS:
            out.append((signal, logs_request(rnd, random_shape(rnd, **kw))))
        else:
            out.append((signal, traces_request(rnd, random_shape(rnd, **kw))))
    return [(s, r) for s, r in out if count_items(r)]


def combined(messages: list) -> object | None:
    return merged(messages) if messages else None


def leaves(messages: list) -> list[bytes]:
    """Every span / log record / metric data point with its resource and scope (and metric identity),
    sorted: equal lists mean the same content however it was batched or split."""
    if not messages:
        return []
    if not isinstance(messages[0], ExportMetricsServiceRequest):
        return flatten(merged(messages))
    out = []
    for msg in messages:
        for rm in msg.resource_metrics:
            for sm in rm.scope_metrics:
                head = b"|".join(x.SerializeToString(deterministic=True) for x in (rm.resource, sm.scope))
                head += (rm.schema_url + "|" + sm.schema_url).encode()
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    data = getattr(m, kind)
                    ident = f"{m.name}|{m.description}|{m.unit}|{kind}|{getattr(data, 'aggregation_temporality', '')}|"
                    ident += str(getattr(data, "is_monotonic", ""))
                    out.extend(head + ident.encode() + p.SerializeToString(deterministic=True) for p in data.data_points)
    return sorted(out)


# --------------------------------------------------------------------------------------------------
# Plumbing
# --------------------------------------------------------------------------------------------------


def config_yaml(grpc_port: int, http_port: int, batch: str, exporters: str, use: str, processors: str = "[batch]") -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
processors:
  batch: {batch}
exporters:
{exporters}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: {processors}, exporters: {use}}}
    metrics: {{receivers: [otlp], processors: {processors}, exporters: {use}}}
    logs: {{receivers: [otlp], processors: {processors}, exporters: {use}}}
"""


def otlp_exporters(grpc_backend: GRPCBackend, http_backend: HTTPBackend | None = None, extra: str = "") -> tuple[str, str]:
    lines = f'  otlp: {{endpoint: "{grpc_backend.endpoint}", tls: {{insecure: true}}{extra}}}\n'
    if http_backend is None:
        return lines, "[otlp]"
    lines += f'  otlphttp: {{endpoint: "{http_backend.endpoint}"{extra}}}\n'
    return lines, "[otlp, otlphttp]"


# the exporter sends each batch before the next (no queue, so no concurrent senders reordering them)
IN_ORDER = ", sending_queue: {enabled: false}"


async def export_grpc(port: int, requests: list[tuple[Signal, object]]) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        for signal, req in requests:
            call = channel.unary_unary(
                f"/{SERVICES[signal]}/Export",
                request_serializer=REQUEST_TYPES[signal].SerializeToString,
                response_deserializer=RESPONSE_TYPES[signal].FromString,
            )
            await call(req, timeout=10)


async def wait_for(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def items_at(backend, signal: Signal) -> int:
    return sum(count_items(m) for m in backend.messages(signal))


def canonical(message) -> dict:
    """Protobuf as a dict without empty sub-messages: Go always writes an empty span status,
    Python does not, and the difference means nothing."""

    def prune(x):
        if isinstance(x, dict):
            out = {k: prune(v) for k, v in x.items()}
            return {k: v for k, v in out.items() if v not in ({}, [])}
        if isinstance(x, list):
            return [prune(v) for v in x]
        return x

    return prune(json_format.MessageToDict(message))


# --------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------


def test_defaults_are_upstreams():
    cfg = validate(Config, None, "processors::batch")
    assert (cfg.timeout, cfg.send_batch_size, cfg.send_batch_max_size) == (0.2, 8192, 0)
    assert (cfg.metadata_keys, cfg.metadata_cardinality_limit) == ([], 1000)
    factory = default_registry.get(Kind.PROCESSOR, "batch")
    assert factory is batchmod.factory and factory.signals == STABLE_SIGNALS


@pytest.mark.parametrize("body,where,message", [
    ("{send_batch_size: 100, send_batch_max_size: 10}", "processors::batch",
     "send_batch_max_size must be greater or equal to send_batch_size"),
    ("{metadata_keys: [Tenant, tenant]}", "processors::batch", 'duplicate entry in metadata_keys: "tenant" (case-insensitive)'),
    ("{timeout: -1s}", "processors::batch", "timeout must be greater or equal to 0"),
    ("{send_batch_size: -1}", "processors::batch::send_batch_size", "cannot parse value as 'uint32': -1 overflows uint"),
    ("{send_batch_sise: 10}", "processors::batch::send_batch_sise", 'unknown key, did you mean "send_batch_size"?'),
])
def test_bad_config_gets_upstreams_message(body, where, message):
    text = f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:1"}}}}}}}}
processors: {{batch: {body}}}
exporters: {{debug: {{}}}}
service: {{pipelines: {{traces: {{receivers: [otlp], processors: [batch], exporters: [debug]}}}}}}
"""
    with pytest.raises(ConfigError) as err:
        collector.parse(loader.load([f"yaml:{text}"]), default_registry)
    assert [(i.path, i.message) for i in err.value.issues] == [(where, message)]


def test_max_size_may_equal_batch_size_and_zero_disables_both():
    for body in ({"send_batch_size": 100, "send_batch_max_size": 100}, {"send_batch_size": 0, "send_batch_max_size": 1},
                 {"timeout": "0s"}):
        validate(Config, body, "processors::batch")


# --------------------------------------------------------------------------------------------------
# Through a running collector
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_sdk_data_arrives_identical_in_batches_no_larger_than_max(protocol):
    gb, hb = await GRPCBackend().start(), await HTTPBackend().start()
    gp, hp = free_port(), free_port()
    exporters, use = otlp_exporters(gb, hb)
    try:
        async with running(config_yaml(gp, hp, "{send_batch_size: 3, send_batch_max_size: 4, timeout: 100ms}", exporters, use)):
            app = SDKApp(protocol, f"127.0.0.1:{gp}" if protocol == "grpc" else f"http://127.0.0.1:{hp}")
            await asyncio.to_thread(app.emit, 7)
            await asyncio.to_thread(app.shutdown)
            sent = app.sent()
            for backend in (gb, hb):
                for name, expected in sent.items():
                    want = len(flatten(expected))
                    await wait_for(lambda: items_at(backend, Signal(name)) >= want)
        for backend in (gb, hb):
            for name, expected in sent.items():
                got = backend.messages(Signal(name))
                assert flatten(merged(got)) == flatten(expected), f"{name} differs at {type(backend).__name__}"
                assert all(0 < count_items(m) <= 4 for m in got), [count_items(m) for m in got]
        assert len(flatten(sent["traces"])) == 14  # 7 requests x 2 spans: several batches were needed
    finally:
        await gb.stop()
        await hb.stop()


async def test_requests_are_split_at_max_size_keeping_resource_and_scope_headers():
    gb = await GRPCBackend().start()
    gp, hp = free_port(), free_port()
    exporters, use = otlp_exporters(gb)
    exporters, use = otlp_exporters(gb, extra=IN_ORDER)
    requests = random_requests(seed=7, count=30, items=12)
    try:
        async with running(config_yaml(gp, hp, "{send_batch_size: 5, send_batch_max_size: 6, timeout: 10s}", exporters, use)):
            await export_grpc(gp, requests)
        for signal in [s for s in Signal if s in STABLE_SIGNALS]:
            sent = [r for s, r in requests if s is signal]
            got = gb.messages(signal)
            total = sum(count_items(r) for r in sent)
            sizes = [count_items(m) for m in got]
            assert sum(sizes) == total
            # cut when 5 (send_batch_size) are waiting, at most 6 (send_batch_max_size); the rest at shutdown
            assert all(5 <= s <= 6 for s in sizes[:-1]) and 0 < sizes[-1] <= 6, sizes
            assert 6 in sizes
            assert leaves(got) == leaves(sent), f"{signal.value} content differs"
            # every resource and scope that arrived is one that was sent, with its header intact
            for m in got:
                for res in getattr(m, m.DESCRIPTOR.fields[0].name):
                    assert res.resource.attributes[0].key == "service.name"
    finally:
        await gb.stop()


async def test_split_metric_keeps_its_identity_and_every_point_type():
    """A metric cut across two batches: both parts keep name, description, unit, type, temporality
    and monotonicity; the part sent first carries no metadata (upstream's splitMetric copies none)."""
    gb = await GRPCBackend().start()
    gp, hp = free_port(), free_port()
    exporters, use = otlp_exporters(gb)
    exporters, use = otlp_exporters(gb, extra=IN_ORDER)
    rnd = random.Random(3)
    req = metrics_request(rnd, [[[(kind, 5) for kind in METRIC_KINDS]]])  # 25 points, 5 per metric
    try:
        async with running(config_yaml(gp, hp, "{send_batch_size: 0, send_batch_max_size: 3, timeout: 0s}", exporters, use)):
            await export_grpc(gp, [(Signal.METRICS, req)])
            await wait_for(lambda: items_at(gb, Signal.METRICS) == 25)
        got = gb.messages(Signal.METRICS)
        assert [count_items(m) for m in got] == [3] * 8 + [1]
        assert leaves(got) == leaves([req])
        first = got[0].resource_metrics[0].scope_metrics[0].metrics[0]
        second = got[1].resource_metrics[0].scope_metrics[0].metrics[0]
        assert first.name == second.name == "m.0.0.0" and first.WhichOneof("data") == "gauge"
        assert len(first.gauge.data_points) == 3 and len(second.gauge.data_points) == 2
        assert list(first.metadata) == [] and second.metadata[0].key == "origin"
        for m in (x for msg in got for x in msg.resource_metrics[0].scope_metrics[0].metrics):
            kind = m.WhichOneof("data")
            assert m.description == f"{kind} metric" and m.unit == "ms"
            if kind == "sum":
                assert m.sum.aggregation_temporality == 2 and m.sum.is_monotonic
            if kind in ("histogram", "exponential_histogram"):
                assert getattr(m, kind).aggregation_temporality == 1
    finally:
        await gb.stop()


async def test_timeout_sends_what_waits_and_requests_in_one_period_travel_together():
    gb = await GRPCBackend().start()
    gp, hp = free_port(), free_port()
    exporters, use = otlp_exporters(gb)
    rnd = random.Random(1)
    exporters, use = otlp_exporters(gb, extra=IN_ORDER)
    small = [(Signal.TRACES, traces_request(rnd, [[5]])) for _ in range(3)]
    try:
        async with running(config_yaml(gp, hp, "{send_batch_size: 1000, timeout: 500ms}", exporters, use)):
            loop = asyncio.get_running_loop()
            start = loop.time()
            await export_grpc(gp, small[:1])
            await wait_for(lambda: len(gb.messages(Signal.TRACES)) == 1, timeout=3)
            first_wait = loop.time() - start
            assert first_wait < 1.2  # at the next tick of the 500ms timer
            # the tick just fired: two requests sent now land in the same period, so in one batch
            sent = loop.time()
            await export_grpc(gp, small[1:])
            await wait_for(lambda: len(gb.messages(Signal.TRACES)) == 2, timeout=3)
            waited = loop.time() - sent
            assert 0.25 < waited < 1.2, waited
            await asyncio.sleep(0.7)
        assert [count_items(m) for m in gb.messages(Signal.TRACES)] == [5, 10]
    finally:
        await gb.stop()


async def test_size_trigger_sends_without_waiting_for_the_timer():
    gb = await GRPCBackend().start()
    gp, hp = free_port(), free_port()
    exporters, use = otlp_exporters(gb)
    rnd = random.Random(2)
    try:
        async with running(config_yaml(gp, hp, "{send_batch_size: 10, timeout: 60s}", exporters, use)):
            await export_grpc(gp, [(Signal.LOGS, logs_request(rnd, [[4]])), (Signal.LOGS, logs_request(rnd, [[3]]))])
            await asyncio.sleep(0.3)
            assert gb.messages(Signal.LOGS) == []  # 7 < 10: waits for the (long) timer
            await export_grpc(gp, [(Signal.LOGS, logs_request(rnd, [[2, 2]]))])
            await wait_for(lambda: len(gb.messages(Signal.LOGS)) == 1, timeout=3)
            # no send_batch_max_size: the whole 11 go in one batch, as three resources
            batch = gb.messages(Signal.LOGS)[0]
            assert count_items(batch) == 11 and len(batch.resource_logs) == 3
    finally:
        await gb.stop()


async def test_shutdown_flushes_everything_pending():
    gb, hb = await GRPCBackend().start(), await HTTPBackend().start()
    gp, hp = free_port(), free_port()
    exporters, use = otlp_exporters(gb, hb)
    requests = random_requests(seed=11, count=15)
    try:
        async with running(config_yaml(gp, hp, "{send_batch_size: 100000, timeout: 60s}", exporters, use)):
            await export_grpc(gp, requests)
            await asyncio.sleep(0.2)
            assert gb.received == [] and hb.received == []
        for backend in (gb, hb):
            for signal in [s for s in Signal if s in STABLE_SIGNALS]:
                sent = [r for s, r in requests if s is signal]
                got = backend.messages(signal)
                assert len(got) == (1 if sent else 0)  # one batch per signal, sent at shutdown
                assert leaves(got) == leaves(sent)
    finally:
        await gb.stop()
        await hb.stop()


async def test_export_errors_are_logged_once_per_batch_and_counted(caplog):
    hb = await HTTPBackend().start()
    hb.statuses = [400]  # a permanent error for the first batch
    gp, hp = free_port(), free_port()
    exporters = (f'  otlphttp: {{endpoint: "{hb.endpoint}", sending_queue: {{enabled: false}}, '
                 f'retry_on_failure: {{enabled: false}}}}\n')
    rnd = random.Random(5)
    caplog.set_level(logging.WARNING, logger="otelflow.processor.batch")
    try:
        async with running(config_yaml(gp, hp, "{send_batch_size: 50, timeout: 10s}", exporters, "[otlphttp]")) as service:
            # the client is answered at once: the batch accepted the data, whatever the export does later
            await export_grpc(gp, [(Signal.TRACES, traces_request(rnd, [[30, 30]]))])
            await wait_for(lambda: hb.attempts == 1, timeout=3)
            await export_grpc(gp, [(Signal.TRACES, traces_request(rnd, [[60]]))])
            await wait_for(lambda: len(hb.received) == 1, timeout=3)
            failed = service.telemetry.value("otelflow_processor_batch_send_failed_spans", processor="batch")
            sent = service.telemetry.value("otelcol_processor_batch_batch_size_trigger_send", processor="batch")
        assert failed == 60 and sent == 1
        failures = [r for r in caplog.records if "Sender failed" in r.getMessage()]
        assert len(failures) == 1 and "dropped_items=60" in failures[0].getMessage()
    finally:
        await hb.stop()


# --------------------------------------------------------------------------------------------------
# The processor on its own: metadata keys, backpressure, split edge cases
# --------------------------------------------------------------------------------------------------


class Recorder:
    """A next consumer that records what it gets and the client metadata it was sent under."""

    mutates_data = False

    def __init__(self) -> None:
        self.got: list[tuple[object, object]] = []
        self.gate: asyncio.Event | None = None

    async def consume(self, data) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.got.append((data, client_metadata.get()))


def make_processor(config: dict, signal: Signal = Signal.TRACES) -> tuple[BatchProcessor, Recorder, Telemetry]:
    telemetry = Telemetry()
    settings = Settings(id=ComponentID("batch"), kind=Kind.PROCESSOR, telemetry=telemetry, signal=signal)
    rec = Recorder()
    return BatchProcessor(settings, validate(Config, config, "processors::batch"), rec), rec, telemetry


async def _consume_as(proc: BatchProcessor, metadata: dict | None, data) -> None:
    ctx = contextvars.copy_context()
    ctx.run(client_metadata.set, metadata)
    await asyncio.get_running_loop().create_task(proc.consume(data), context=ctx)


async def test_metadata_keys_batch_per_value_set_and_export_with_it():
    proc, rec, telemetry = make_processor({"metadata_keys": ["Tenant"], "send_batch_size": 4, "timeout": "10s",
                                           "metadata_cardinality_limit": 3})
    await proc.start(None)
    rnd = random.Random(4)
    await _consume_as(proc, {"tenant": ["a"]}, traces_request(rnd, [[3]]))
    await _consume_as(proc, {"TENANT": ["b"]}, traces_request(rnd, [[3]]))
    await _consume_as(proc, {"tenant": "a", "other": ["x"]}, traces_request(rnd, [[1]]))  # a: 4 -> sent
    await wait_for(lambda: len(rec.got) == 1, timeout=3)
    data, metadata = rec.got[0]
    assert count_items(data) == 4 and metadata == {"tenant": ["a"]}
    await _consume_as(proc, None, traces_request(rnd, [[1]]))  # no metadata: its own batch
    assert telemetry.value("otelcol_processor_batch_metadata_cardinality", processor="batch") == 3
    with pytest.raises(PermanentError, match="too many batcher metadata-value combinations"):
        await _consume_as(proc, {"tenant": ["c"]}, traces_request(rnd, [[1]]))
    await proc.shutdown()
    rest = sorted((count_items(d), str(m)) for d, m in rec.got[1:])
    assert rest == [(1, "{'tenant': []}"), (3, "{'tenant': ['b']}")]


async def test_consume_waits_while_a_cut_batch_queues_behind_a_slow_export():
    proc, rec, _ = make_processor({"send_batch_size": 2, "timeout": "10s"})
    rec.gate = asyncio.Event()
    await proc.start(None)
    rnd = random.Random(6)
    await proc.consume(traces_request(rnd, [[2]]))  # cut; the sender takes it and blocks in next
    await asyncio.sleep(0.05)
    await proc.consume(traces_request(rnd, [[2]]))  # cut; waits behind the first
    third = asyncio.ensure_future(proc.consume(traces_request(rnd, [[1]])))
    await asyncio.sleep(0.1)
    assert not third.done()  # held: memory stays bounded while next is slow
    rec.gate.set()
    await asyncio.wait_for(third, 3)
    await proc.shutdown()
    assert [count_items(d) for d, _ in rec.got] == [2, 2, 1]


def test_split_moves_whole_requests_and_copies_only_around_the_boundary():
    rnd = random.Random(8)
    req = traces_request(rnd, [[4, 0, 3], [], [5]])
    parts = batchmod.split(ExportTraceServiceRequest.FromString(req.SerializeToString()), 5)
    assert [count_items(p) for p in parts] == [5, 5, 2]
    # first part: resource 0 with scope 0 whole and one span of scope 1 (the empty scope goes with it)
    assert [len(ss.spans) for ss in parts[0].resource_spans[0].scope_spans] == [4, 0, 1]
    # second: the rest of resource 0, the empty resource 1, then 2 spans of resource 2
    assert [[len(ss.spans) for ss in rs.scope_spans] for rs in parts[1].resource_spans] == [[2], [], [3]]
    assert flatten(merged(parts)) == flatten(req)
    assert all(p.resource_spans[0].resource == req.resource_spans[i].resource for p, i in zip(parts, (0, 0, 2)))


def test_split_large_request_of_each_signal_keeps_every_item_once():
    rnd = random.Random(9)
    cases = [
        traces_request(rnd, [[300, 1, 700], [1000]]),
        logs_request(rnd, [[999], [0, 1, 1000]]),
        metrics_request(rnd, [[[(k, 120) for k in METRIC_KINDS]], [[("sum", 400)]]]),
    ]
    for req in cases:
        total = count_items(req)
        for size in (1, 7, 500, 999, total - 1):
            copy = type(req).FromString(req.SerializeToString())
            parts = batchmod.split(copy, size)
            assert [count_items(p) for p in parts[:-1]] == [size] * (len(parts) - 1)
            assert 0 < count_items(parts[-1]) <= size
            assert leaves(parts) == leaves([req])


# --------------------------------------------------------------------------------------------------
# Against the upstream collector: the same requests give the same batches
# --------------------------------------------------------------------------------------------------


def _ref_config(grpc_port: int, backend: str, batch: str) -> str:
    exporter = "otlp: {endpoint: \"%s\", tls: {insecure: true}, sending_queue: {enabled: false}, retry_on_failure: {enabled: false}}" % backend
    pipes = "\n".join(f"    {s.value}: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}" for s in [s for s in Signal if s in STABLE_SIGNALS])
    return f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}}}}}}}
processors: {{batch: {batch}}}
exporters:
  {exporter}
service:
  pipelines:
{pipes}
"""


async def _through_upstream(tmp_path: Path, requests, batch: str) -> list:
    backend = await GRPCBackend().start()
    port = free_port()
    cfg = tmp_path / "ref.yaml"
    cfg.write_text(_ref_config(port, backend.endpoint, batch) + "  telemetry: {metrics: {level: none}}\n")
    log = open(tmp_path / "ref.log", "wb")
    proc = subprocess.Popen([str(REF), "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                await asyncio.wait_for(export_grpc(port, []), 0.5)
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                    await asyncio.wait_for(ch.channel_ready(), 0.5)
                break
            except (asyncio.TimeoutError, grpc.aio.AioRpcError):
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "ref.log").read_text()
        await export_grpc(port, requests)
        proc.send_signal(signals.SIGTERM)
        while proc.poll() is None:
            await asyncio.sleep(0.05)
        return [(r.signal, r.message) for r in backend.received]
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        await backend.stop()


async def _through_otelflow(requests, batch: str) -> list:
    backend = await GRPCBackend().start()
    port = free_port()
    try:
        async with running(_ref_config(port, backend.endpoint, batch)):
            await export_grpc(port, requests)
        return [(r.signal, r.message) for r in backend.received]
    finally:
        await backend.stop()


@pytest.mark.skipif(not os.access(REF, os.X_OK), reason="the upstream reference collector is not built (bench/Makefile)")
@pytest.mark.parametrize("batch", [
    "{timeout: 0s, send_batch_size: 2, send_batch_max_size: 3}",
    "{timeout: 10s, send_batch_size: 5, send_batch_max_size: 7}",
    "{timeout: 10s, send_batch_size: 6}",
])
async def test_batches_equal_upstream_collectors(tmp_path, batch):
    requests = random_requests(seed=hash(batch) % 1000, count=25)
    ref = await _through_upstream(tmp_path, requests, batch)
    ours = await _through_otelflow(requests, batch)
    for signal in [s for s in Signal if s in STABLE_SIGNALS]:
        want = [canonical(m) for s, m in ref if s is signal]
        got = [canonical(m) for s, m in ours if s is signal]
        assert got == want, f"{signal.value}: upstream sent {len(want)} batches, otelflow {len(got)}"
