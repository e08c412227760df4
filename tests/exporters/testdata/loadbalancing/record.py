"""Record which backend otelcol-ref's loadbalancing exporter picks for each of 10k trace IDs.

Starts N OTLP/gRPC trace sinks on fixed 127.0.0.1 ports (backend names are part of the ring hash),
runs ``bench/.build/bin/otelcol-ref`` with otlp receiver -> loadbalancing (static resolver) and sends
one span per trace ID. Writes ``golden_<N>.txt``: one digit per trace ID (index of the sink in
``ENDPOINTS``); ``golden_service_<N>.txt`` (routing_key service, services svc-0..499) and
``golden_metric_<N>.txt`` (routing_key metric, gauges m-0..499) likewise. Run from the repo root: ``python tests/exporters/testdata/loadbalancing/record.py``.
The sinks and trace IDs are shared with the tests, which import this module."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.trace.v1 import trace_pb2

HERE = Path(__file__).parent
BASE_PORT = 47311
ENDPOINTS = [f"127.0.0.1:{BASE_PORT + i}" for i in range(5)]
COUNT = 10_000
SERVICES = 500  # routing_key: service goldens: one service per resource, svc-0 .. svc-499


def trace_ids(count: int = COUNT) -> list[bytes]:
    """Deterministic trace IDs, so goldens need not store them."""
    return [hashlib.sha256(b"lb-%d" % i).digest()[:16] for i in range(count)]


def service_request(first: int, count: int) -> ts.ExportTraceServiceRequest:
    """One resource per service ``svc-<n>``, each with one span whose trace ID is ``trace_ids()[n]``."""
    req = ts.ExportTraceServiceRequest()
    ids = trace_ids(first + count)
    for n in range(first, first + count):
        req.resource_spans.append(request([ids[n]], service=f"svc-{n}").resource_spans[0])
    return req


def request(ids: list[bytes], service: str = "svc") -> ts.ExportTraceServiceRequest:
    req = ts.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = service
    spans = rs.scope_spans.add().spans
    for n, tid in enumerate(ids):
        spans.append(trace_pb2.Span(trace_id=tid, span_id=(n + 1).to_bytes(8, "big"), name="s",
                                    start_time_unix_nano=1, end_time_unix_nano=2))
    return req


class Sink:
    """An OTLP/gRPC trace server recording every span's trace ID (and the requests) it receives."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.trace_ids: list[bytes] = []
        self.metric_names: list[str] = []
        self.requests: list[ts.ExportTraceServiceRequest] = []
        self.server: grpc.aio.Server | None = None

    async def _export(self, req: ts.ExportTraceServiceRequest, context) -> ts.ExportTraceServiceResponse:
        self.requests.append(req)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                self.trace_ids.extend(s.trace_id for s in ss.spans)
        return ts.ExportTraceServiceResponse()

    async def _export_metrics(self, req: ms.ExportMetricsServiceRequest, context) -> ms.ExportMetricsServiceResponse:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                self.metric_names.extend(m.name for m in sm.metrics)
        return ms.ExportMetricsServiceResponse()

    async def start(self) -> None:
        self.server = grpc.aio.server()
        metrics = grpc.method_handlers_generic_handler("opentelemetry.proto.collector.metrics.v1.MetricsService", {
            "Export": grpc.unary_unary_rpc_method_handler(
                self._export_metrics, request_deserializer=ms.ExportMetricsServiceRequest.FromString,
                response_serializer=ms.ExportMetricsServiceResponse.SerializeToString)})
        handler = grpc.method_handlers_generic_handler("opentelemetry.proto.collector.trace.v1.TraceService", {
            "Export": grpc.unary_unary_rpc_method_handler(
                self._export, request_deserializer=ts.ExportTraceServiceRequest.FromString,
                response_serializer=ts.ExportTraceServiceResponse.SerializeToString)})
        self.server.add_generic_rpc_handlers((handler, metrics))
        self.server.add_insecure_port(self.endpoint)
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(None)


async def send(endpoint: str, ids: list[bytes], batch: int = 500) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                   request_serializer=ts.ExportTraceServiceRequest.SerializeToString,
                                   response_deserializer=ts.ExportTraceServiceResponse.FromString)
        for i in range(0, len(ids), batch):
            await call(request(ids[i:i + batch]), timeout=10, wait_for_ready=True)


async def wait_for(sinks: list[Sink], total: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while sum(len(s.trace_ids) for s in sinks) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


def golden_digits(sinks: list[Sink], ids: list[bytes]) -> str:
    owner: dict[bytes, set[int]] = defaultdict(set)
    for n, sink in enumerate(sinks):
        for tid in sink.trace_ids:
            owner[tid].add(n)
    assert all(len(owner[t]) == 1 for t in ids), "a trace ID reached no sink or several"
    return "".join(str(next(iter(owner[t]))) for t in ids)


def metrics_request() -> ms.ExportMetricsServiceRequest:
    """``SERVICES`` gauges named m-0 .. m-499 in one resource (routing_key: metric goldens)."""
    req = ms.ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    for n in range(SERVICES):
        sm.metrics.add(name=f"m-{n}").gauge.data_points.add(as_int=n, time_unix_nano=1)
    return req


def metric_digits(sinks: list[Sink]) -> str:
    owner = {name: n for n, s in enumerate(sinks) for name in s.metric_names}
    return "".join(str(owner[f"m-{n}"]) for n in range(SERVICES))


METRICS_CONFIG = """receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
exporters:
  loadbalancing:
    routing_key: metric
    protocol:
      otlp:
        tls:
          insecure: true
    resolver:
      static:
        hostnames: [{hostnames}]
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [loadbalancing]
"""


async def record_metrics(n: int, binary: Path) -> str:
    sinks = [Sink(e) for e in ENDPOINTS[:n]]
    for s in sinks:
        await s.start()
    port = BASE_PORT + 21
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as cfg:
        cfg.write(METRICS_CONFIG.format(port=port, hostnames=", ".join(ENDPOINTS[:n])))
        cfg.flush()
        proc = subprocess.Popen([str(binary), "--config", cfg.name], stderr=subprocess.DEVNULL)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                                           request_serializer=ms.ExportMetricsServiceRequest.SerializeToString,
                                           response_deserializer=ms.ExportMetricsServiceResponse.FromString)
                await call(metrics_request(), timeout=10, wait_for_ready=True)
            deadline = time.monotonic() + 30
            while sum(len(s.metric_names) for s in sinks) < SERVICES and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            return metric_digits(sinks)
        finally:
            proc.terminate()
            proc.wait()
            for s in sinks:
                await s.stop()


CONFIG = """receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
exporters:
  loadbalancing:
    routing_key: {key}
    protocol:
      otlp:
        tls:
          insecure: true
    resolver:
      static:
        hostnames: [{hostnames}]
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [loadbalancing]
"""


async def send_services(endpoint: str) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                   request_serializer=ts.ExportTraceServiceRequest.SerializeToString,
                                   response_deserializer=ts.ExportTraceServiceResponse.FromString)
        for first in range(0, SERVICES, 100):
            await call(service_request(first, 100), timeout=10, wait_for_ready=True)


async def record(n: int, binary: Path, key: str = "traceID") -> str:
    sinks = [Sink(e) for e in ENDPOINTS[:n]]
    for s in sinks:
        await s.start()
    port = BASE_PORT + 20
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as cfg:
        cfg.write(CONFIG.format(port=port, hostnames=", ".join(ENDPOINTS[:n]), key=key))
        cfg.flush()
        proc = subprocess.Popen([str(binary), "--config", cfg.name], stderr=subprocess.DEVNULL)
        try:
            ids = trace_ids() if key == "traceID" else trace_ids(SERVICES)
            await (send(f"127.0.0.1:{port}", ids) if key == "traceID" else send_services(f"127.0.0.1:{port}"))
            await wait_for(sinks, len(ids))
            return golden_digits(sinks, ids)
        finally:
            proc.terminate()
            proc.wait()
            for s in sinks:
                await s.stop()


def main() -> None:
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/.build/bin/otelcol-ref")
    for n in (3, 5):
        digits = asyncio.run(record(n, binary))
        (HERE / f"golden_{n}.txt").write_text(digits + "\n")
        print(n, {d: digits.count(d) for d in sorted(set(digits))})
        digits = asyncio.run(record(n, binary, key="service"))
        (HERE / f"golden_service_{n}.txt").write_text(digits + "\n")
        print(n, "service", {d: digits.count(d) for d in sorted(set(digits))})
        digits = asyncio.run(record_metrics(n, binary))
        (HERE / f"golden_metric_{n}.txt").write_text(digits + "\n")
        print(n, "metric", {d: digits.count(d) for d in sorted(set(digits))})


if __name__ == "__main__":
    main()
