"""Interop of the ``kafka`` exporter with upstream's: the same OTLP requests go into otelflow and into
otelcol-ref (v0.161.0, built by ``make bench-ref``), both producing to one real Apache Kafka broker
(tests/kafka_broker.py) under different topic names, traces and logs keyed by trace ID; the records are read back with confluent-kafka
and must agree: count, keys, partition per key and, per (partition, key) in offset order, the parsed
protobuf payloads. Skipped where otelcol-ref is not built (CI has no Go toolchain)."""

from __future__ import annotations

import asyncio
import subprocess
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.backends import free_port
from tests.conftest import running
from tests.conformance.rig import OTELCOL_REF, wait_port
from tests.exporters.test_kafka import read_topic
from tests.kafka_broker import kafka_broker  # noqa: F401 - the session fixture

pytestmark = pytest.mark.skipif(not OTELCOL_REF.exists(),
                                reason=f"{OTELCOL_REF} is missing (build it with `make bench-ref`)")
PARTITIONS = 3
SIGNALS = {"traces": ExportTraceServiceRequest, "metrics": ExportMetricsServiceRequest,
           "logs": ExportLogsServiceRequest}
T0 = 1_700_000_000_000_000_000


def _attrs(**kv: str) -> list[KeyValue]:
    return [KeyValue(key=k.replace("_", "."), value=AnyValue(string_value=v)) for k, v in kv.items()]


def _tid(i: int) -> bytes:
    return bytes([i]) * 8 + bytes(range(8))


# Two requests, several resources; trace 1 is in both requests. In SHARED, traces 2 and 4 also have
# spans under two resources of one request.
DISJOINT = [[("checkout", [1, 2, 2]), ("cart", [3])], [("checkout", [1, 4]), ("payment", [5, 6, 5])]]
SHARED = [[("checkout", [1, 2, 2]), ("cart", [2, 3])], [("checkout", [1, 4]), ("payment", [5, 4, 6])]]


def trace_requests(plan: list) -> list[ExportTraceServiceRequest]:
    out, sid = [], 0
    for resources in plan:
        req = ExportTraceServiceRequest()
        for service, tids in resources:
            rs = req.resource_spans.add()
            rs.resource.attributes.extend(_attrs(service_name=service, host_name="h1"))
            ss = rs.scope_spans.add()
            ss.scope.name = "interop"
            for t in tids:
                sid += 1
                ss.spans.append(Span(trace_id=_tid(t), span_id=sid.to_bytes(8, "big"), name=f"op{sid}",
                                     kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=T0 + sid,
                                     end_time_unix_nano=T0 + sid + 1000, attributes=_attrs(n=str(sid))))
        out.append(req)
    return out


def metric_requests() -> list[ExportMetricsServiceRequest]:
    out = []
    for r in range(2):
        req = ExportMetricsServiceRequest()
        for service in ("checkout", "cart", "payment"):
            rm = req.resource_metrics.add()
            rm.resource.attributes.extend(_attrs(service_name=service))
            sm = rm.scope_metrics.add()
            sm.scope.name = "interop"
            sm.metrics.append(Metric(name=f"{service}.load", unit="1", gauge=Gauge(data_points=[
                NumberDataPoint(time_unix_nano=T0 + r, as_double=r + 0.5, attributes=_attrs(core="0"))])))
        out.append(req)
    return out


def log_requests(shared: bool) -> list[ExportLogsServiceRequest]:
    """Keyed by trace ID too; unless ``shared``, the two resources never share a trace ID."""
    out = []
    for r, tids in enumerate([[1, 2, 1, 0], [3, 0, 2]]):
        req = ExportLogsServiceRequest()
        for service in ("checkout", "cart"):
            rl = req.resource_logs.add()
            rl.resource.attributes.extend(_attrs(service_name=service))
            sl = rl.scope_logs.add()
            for i, t in enumerate(tids):
                if service == "cart" and not shared:  # the empty trace ID counts as shared too
                    t += 10
                sl.log_records.append(LogRecord(time_unix_nano=T0 + i, trace_id=_tid(t) if t else b"",
                                                body=AnyValue(string_value=f"{service} {r}.{i}")))
        out.append(req)
    return out


def collector_yaml(http_port: int, bootstrap: str, prefix: str) -> str:
    """Queue off: each HTTP answer comes after the broker acknowledged, so record order is fixed."""
    return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{http_port}"}}
exporters:
  kafka:
    brokers: ["{bootstrap}"]
    sending_queue: {{enabled: false}}
    partition_traces_by_id: true
    partition_logs_by_trace_id: true
    traces: {{topic: {prefix}_traces, encoding: otlp_proto}}
    metrics: {{topic: {prefix}_metrics, encoding: otlp_proto}}
    logs: {{topic: {prefix}_logs, encoding: otlp_proto}}
service:
  telemetry: {{metrics: {{level: none}}}}  # no :8888, which other collectors may hold
  pipelines:
    traces: {{receivers: [otlp], exporters: [kafka]}}
    metrics: {{receivers: [otlp], exporters: [kafka]}}
    logs: {{receivers: [otlp], exporters: [kafka]}}
"""


async def send_all(port: int, requests: dict[str, list]) -> None:
    async with aiohttp.ClientSession() as session:
        for signal, reqs in requests.items():
            for req in reqs:  # one at a time, each acknowledged before the next
                async with session.post(f"http://127.0.0.1:{port}/v1/{signal}", data=req.SerializeToString(),
                                        headers={"Content-Type": "application/x-protobuf"}) as resp:
                    assert resp.status == 200, (signal, resp.status, await resp.text())


def normalized(msg):
    """Clear singular, non-oneof sub-messages that are present but empty: upstream's pdata encodes
    e.g. an unset span ``status`` as an explicit empty message, otelflow leaves it out; proto3
    decodes both to the same defaults, so this is not a disagreement."""
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        if not hasattr(value, "DESCRIPTOR"):  # repeated (OTLP has no map fields)
            for item in value:
                normalized(item)
        elif field.containing_oneof is None and value.ByteSize() == 0:
            msg.ClearField(field.name)
        else:
            normalized(value)
    return msg


def grouped(records: list, cls) -> dict[tuple[int, bytes | None], list]:
    """(partition, key) -> parsed payloads in offset order."""
    out: dict[tuple[int, bytes | None], list] = defaultdict(list)
    for rec in sorted(records, key=lambda r: (r.partition(), r.offset())):
        out[(rec.partition(), rec.key())].append(normalized(cls.FromString(rec.value())))
    return dict(out)


@pytest.mark.parametrize("plan", [
    pytest.param(DISJOINT, id="trace-per-resource"),
    # one record per (resource, scope, trace ID), as batchpersignal splits upstream
    pytest.param(SHARED, id="trace-across-resources"),
])
async def test_records_agree_with_otelcol_ref(kafka_broker, tmp_path: Path, plan: list):
    requests = {"traces": trace_requests(plan), "metrics": metric_requests(), "logs": log_requests(plan is SHARED)}
    run = "shared" if plan is SHARED else "disjoint"
    for prefix in (f"flow_{run}", f"ref_{run}"):
        kafka_broker.create_topic(f"{prefix}_traces", PARTITIONS)
        # unkeyed records (metrics, logs without a trace ID) go where the producer picks at random:
        # one partition, so that choice cannot differ
        kafka_broker.create_topic(f"{prefix}_metrics", 1)
        kafka_broker.create_topic(f"{prefix}_logs", 1)

    port = free_port()
    async with running(collector_yaml(port, kafka_broker.bootstrap, f"flow_{run}")):
        await send_all(port, requests)

    port = free_port()
    config = tmp_path / "ref.yaml"
    config.write_text(collector_yaml(port, kafka_broker.bootstrap, f"ref_{run}"))
    with open(tmp_path / "ref.log", "wb") as log:
        proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            await asyncio.to_thread(wait_port, port, proc, 20)
            await send_all(port, requests)
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 20)

    n_traces = len({s.trace_id for r in requests["traces"] for rs in r.resource_spans
                    for ss in rs.scope_spans for s in ss.spans})
    # one record per trace ID per request at least: request 1 holds 3 traces, request 2 holds 4
    minimum = {"traces": 7, "metrics": 2, "logs": 10}
    assert n_traces == 6
    for signal, cls in SIGNALS.items():
        ref = await asyncio.to_thread(read_topic, kafka_broker.bootstrap, f"ref_{run}_{signal}", minimum[signal], 15)
        flow = await asyncio.to_thread(read_topic, kafka_broker.bootstrap, f"flow_{run}_{signal}", minimum[signal], 15)
        assert len(ref) >= minimum[signal], (signal, len(ref), (tmp_path / "ref.log").read_text()[-2000:])
        assert len(flow) == len(ref), f"{signal}: {len(flow)} records from otelflow, {len(ref)} from upstream"
        assert sorted(r.key() or b"" for r in flow) == sorted(r.key() or b"" for r in ref), signal
        g_flow, g_ref = grouped(flow, cls), grouped(ref, cls)
        assert set(g_flow) == set(g_ref), f"{signal}: (partition, key) differ"
        for k in g_ref:
            assert g_flow[k] == g_ref[k], f"{signal} {k}: payloads differ\notelflow: {g_flow[k]}\nupstream: {g_ref[k]}"
        if signal == "traces":  # keyed by hex trace ID, spread over the partitions
            assert {k for _, k in g_ref} == {_tid(t).hex().encode() for t in range(1, 7)}
            assert len({p for p, _ in g_ref}) > 1
