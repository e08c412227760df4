"""The loadbalancing exporter: upstream's ring (goldens recorded from otelcol-ref), real OTLP/gRPC
sinks as backends, whole traces per gateway, and backends leaving at runtime without data loss."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.telemetry import Telemetry
from otelflow.extensions import file_storage as fs
from otelflow.exporters.loadbalancing.config import Config
from otelflow.exporters.loadbalancing.resolver import DNSResolver
from otelflow.exporters.loadbalancing.ring import HashRing
from tests.exporters.helpers import started_exporter
from tests.process import Collector

DATA = Path(__file__).parent / "testdata" / "loadbalancing"
sys.path.insert(0, str(DATA))
import record  # noqa: E402  (sinks, trace IDs and endpoints shared with the recording script)


async def _started(config: dict, host: Host):
    """The exporter started with the extensions of ``host`` (tests.exporters.helpers uses none)."""
    from otelflow.exporters.loadbalancing import factory

    settings = Settings(id=ComponentID("loadbalancing"), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=Signal.TRACES)
    exp = factory.create(settings=settings, config=validate(Config, config, "exporters::loadbalancing"))
    await exp.start(host)
    return exp


def golden(n: int) -> str:
    return (DATA / f"golden_{n}.txt").read_text().strip()


def lb_config(hostnames: list[str], **extra) -> dict:
    return {"protocol": {"otlp": {"tls": {"insecure": True}, "timeout": "2s",
                                  "retry_on_failure": {"initial_interval": "50ms", "max_interval": "200ms"}}},
            "resolver": {"static": {"hostnames": hostnames}}, **extra}


async def started_sinks(endpoints: list[str]) -> list[record.Sink]:
    sinks = [record.Sink(e) for e in endpoints]
    for s in sinks:
        await s.start()
    return sinks


@pytest.mark.parametrize("n", [3, 5])
def test_ring_matches_otelcol_ref(n):
    ring = HashRing(record.ENDPOINTS[:n])
    index = {e: str(i) for i, e in enumerate(record.ENDPOINTS)}
    mine = "".join(index[ring.endpoint_for(t)] for t in record.trace_ids())
    expected = golden(n)
    assert len(expected) == record.COUNT
    agree = sum(a == b for a, b in zip(mine, expected))
    assert agree == record.COUNT, f"{agree}/{record.COUNT} trace IDs on the same backend as otelcol-ref"


def test_ring_upstream_unit_cases():
    # consistent_hashing_test.go's lookups
    ring = HashRing(["endpoint-1", "endpoint-2"])
    assert ring.endpoint_for(bytes([1, 2, 0, 0])) == "endpoint-2"
    assert ring.endpoint_for(bytes([128, 128, 0, 0])) == "endpoint-1"
    assert ring.endpoint_for(b"ad-service-7") == "endpoint-2"
    assert ring.endpoint_for(b"get-recommendations-1") == "endpoint-2"
    assert HashRing(["a", "b"]) == HashRing(["b", "a"])


@pytest.mark.parametrize("n", [3, 5])
async def test_end_to_end_matches_otelcol_ref(n):
    """otelflow as the balancer, real gRPC sinks on the endpoints used for the goldens."""
    sinks = await started_sinks(record.ENDPOINTS[:n])
    exp = await started_exporter("loadbalancing", lb_config(record.ENDPOINTS[:n]))
    try:
        ids = record.trace_ids()
        for i in range(0, len(ids), 500):
            await exp.consume(record.request(ids[i:i + 500]))
        await exp.shutdown()
        await record.wait_for(sinks, len(ids), timeout=10)
        assert record.golden_digits(sinks, ids) == golden(n)
    finally:
        for s in sinks:
            await s.stop()


GATEWAY = """receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {listen}
exporters:
  otlp:
    endpoint: {sink}
    tls:
      insecure: true
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
"""

AGENT = """receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {listen}
exporters:
  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        tls:
          insecure: true
    resolver:
      static:
        hostnames: [{gateways}]
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [loadbalancing]
"""


async def test_two_gateways_each_see_whole_traces():
    """agent (otelflow, loadbalancing) -> two gateway otelflows -> one sink each; every trace's
    spans, sent in four requests, end up together on the gateway the ring names."""
    env = {"PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    agent, *gateways = [f"127.0.0.1:{port_free_on(['127.0.0.1'])}" for _ in range(3)]
    sinks = await started_sinks([f"127.0.0.1:{port_free_on(['127.0.0.1'])}" for _ in range(2)])
    procs = [Collector(GATEWAY.format(listen=g, sink=s.endpoint), env=env) for g, s in zip(gateways, sinks)]
    procs.append(Collector(AGENT.format(listen=agent, gateways=", ".join(gateways)), env=env))
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in procs))
        ids = record.trace_ids(400)
        for part in range(4):  # span `part` of every trace, in its own requests
            for i in range(0, len(ids), 100):
                req = record.request(ids[i:i + 100], service=f"svc-{part % 2}")
                for span in req.resource_spans[0].scope_spans[0].spans:
                    span.span_id = bytes([part + 1]) + span.span_id[1:]
                await _send_request(agent, req)
        await record.wait_for(sinks, 4 * len(ids), timeout=30)
    finally:
        for p in procs[::-1]:
            await asyncio.to_thread(p.stop)
        for s in sinks:
            await s.stop()
    ring = HashRing(gateways)
    for n, sink in enumerate(sinks):
        counts: dict[bytes, int] = {}
        for tid in sink.trace_ids:
            counts[tid] = counts.get(tid, 0) + 1
        assert all(c == 4 for c in counts.values()), "a gateway saw part of a trace"
        assert {ring.endpoint_for(t) for t in counts} == {gateways[n]}
    assert sum(len(s.trace_ids) for s in sinks) == 4 * len(ids)
    assert all(len(s.trace_ids) > 0 for s in sinks)


def port_free_on(ips: list[str]) -> int:
    """A port the kernel hands out on the first address and that is free on the others too
    (a fixed port in the ephemeral range can be taken by any client socket)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind((ips[0], 0))
            port = first.getsockname()[1]
            try:
                for ip in ips[1:]:
                    with socket.socket() as other:
                        other.bind((ip, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no port free on all of {ips}")


async def _send_request(endpoint: str, req) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                   request_serializer=ts.ExportTraceServiceRequest.SerializeToString,
                                   response_deserializer=ts.ExportTraceServiceResponse.FromString)
        await call(req, timeout=10, wait_for_ready=True)


@pytest.mark.parametrize("persistent", [False, True], ids=["memory-queue", "file-storage-queue"])
async def test_backend_leaving_dns_moves_only_its_keys_and_loses_nothing(persistent, tmp_path):
    """Three backends on 127.0.0.1-3 behind one DNS name; backend 2 dies mid-stream and then
    leaves the DNS answer: its queued and retried data goes to the new owners, other keys stay."""
    ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    port = port_free_on(ips)
    sinks = await started_sinks([f"{ip}:{port}" for ip in ips])
    answer = list(ips)

    async def lookup(hostname: str) -> list[str]:
        return list(answer)

    cfg = {**lb_config([]), "resolver": {"dns": {"hostname": "localhost", "port": str(port), "interval": "100ms"}}}
    host = Host()
    if persistent:
        cfg["protocol"]["otlp"]["sending_queue"] = {"storage": "file_storage"}
        store = fs.FileStorage(Settings(id=ComponentID("file_storage"), kind=Kind.EXTENSION, telemetry=Telemetry()),
                               validate(fs.Config, {"directory": str(tmp_path)}, "extensions::file_storage"))
        await store.start(Host())
        host = Host({ComponentID("file_storage"): store})
    exp = await _started(cfg, host)
    exp.resolver.lookup = lookup
    await exp.resolver.resolve()
    assert sorted(exp.exporters) == [f"{ip}:{port}" for ip in ips]
    assert all(e.persistent is persistent for e in exp.exporters.values())
    ids = record.trace_ids(3000)
    before, after = ids[:1500], ids[1500:]
    try:
        for i in range(0, len(before), 100):
            await exp.consume(record.request(before[i:i + 100]))
        await record.wait_for(sinks, len(before), timeout=10)
        await sinks[1].stop()  # the backend goes away; the exporter's requests to it now fail
        for i in range(0, len(after), 100):
            await exp.consume(record.request(after[i:i + 100]))  # acknowledged by the balancer
        answer.remove("127.0.0.2")  # ... and DNS stops naming it
        await record.wait_for([sinks[0], sinks[2]], len(after) + len(before) - len(sinks[1].trace_ids), timeout=15)
        await exp.shutdown()
    finally:
        for s in sinks:
            await s.stop()
        if persistent:
            await store.shutdown()
    got = {t: n for n, s in enumerate(sinks) for t in s.trace_ids}
    assert set(got) == set(ids), f"{len(set(ids) - set(got))} acknowledged trace IDs lost"
    old, new = HashRing([f"{ip}:{port}" for ip in ips]), HashRing([f"{ip}:{port}" for ip in answer])
    owner = {f"{ip}:{port}": n for n, ip in enumerate(ips)}
    for t in after:
        if old.endpoint_for(t) != f"127.0.0.2:{port}":
            assert got[t] == owner[old.endpoint_for(t)], "a key of a staying backend moved"
        else:
            assert got[t] == owner[new.endpoint_for(t)]
    assert any(old.endpoint_for(t) == f"127.0.0.2:{port}" for t in after)


async def test_k8s_resolver_refused_at_start_naming_the_api():
    with pytest.raises(ValueError, match="Kubernetes API server"):
        await started_exporter("loadbalancing", {"resolver": {"k8s": {"service": "lb.ns"}}})


async def test_routing_key_a_signal_does_not_accept_is_refused_at_creation():
    with pytest.raises(ValueError, match="cannot configure loadbalancing metrics exporter: unsupported routing_key: traceID"):
        await started_exporter("loadbalancing", lb_config(["a"], routing_key="traceID"), signal=Signal.METRICS)
    with pytest.raises(ConfigError, match="only one resolver"):
        validate(Config, {"resolver": {"static": {"hostnames": ["a"]}, "dns": {"hostname": "b"}}}, "exporters::loadbalancing")


def _logs(records: list[tuple[str, bytes]]) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    for service, tid in records:
        rl = req.resource_logs.add()
        rl.resource.attributes.add(key="service.name").value.string_value = service
        rl.scope_logs.add().log_records.add(trace_id=tid).body.string_value = service
    return req


def test_logs_by_trace_id_and_by_service_keep_every_record():
    from otelflow.pdata import keysplit as split

    ring = HashRing(record.ENDPOINTS[:3])
    ids = record.trace_ids(300)
    req = _logs([(f"svc-{i % 7}", t) for i, t in enumerate(ids)])
    parts = split.split_logs(req, "traceID", ring.endpoint_for)
    seen = {}
    for endpoint, part in parts.items():
        for rl in part.resource_logs:
            for sl in rl.scope_logs:
                for lr in sl.log_records:
                    seen[lr.trace_id] = endpoint
    # upstream hashes the lower-case hex form of a log record's trace ID
    assert seen == {t: ring.endpoint_for(t.hex().encode()) for t in ids}
    parts = split.split_logs(req, "service", ring.endpoint_for)
    for endpoint, part in parts.items():
        for rl in part.resource_logs:
            assert ring.endpoint_for(rl.resource.attributes[0].value.string_value.encode()) == endpoint
    assert sum(len(p.resource_logs) for p in parts.values()) == 300


def test_metrics_by_service_name_and_stream():
    from otelflow.pdata import keysplit as split

    ring = HashRing(record.ENDPOINTS[:5])
    req = ExportMetricsServiceRequest()
    for s in range(4):
        rm = req.resource_metrics.add()
        if s:
            rm.resource.attributes.add(key="service.name").value.string_value = f"svc-{s}"
        m = rm.scope_metrics.add().metrics.add(name=f"m{s}")
        for p in range(50):
            dp = m.sum.data_points.add(as_int=p)
            dp.attributes.add(key="p").value.int_value = p
    parts, errors = split.split_metrics(req, "service", ring.endpoint_for)
    assert len(errors) == 1 and "unable to get service name" in errors[0]
    assert sum(len(p.resource_metrics) for p in parts.values()) == 3
    parts, _ = split.split_metrics(req, "metric", ring.endpoint_for)
    for endpoint, part in parts.items():
        for rm in part.resource_metrics:
            assert all(ring.endpoint_for(m.name.encode()) == endpoint for m in rm.scope_metrics[0].metrics)
    parts, _ = split.split_metrics(req, "streamID", ring.endpoint_for)
    assert len(parts) > 1
    points = [dp.as_int for p in parts.values() for rm in p.resource_metrics for m in rm.scope_metrics[0].metrics
              for dp in m.sum.data_points]
    assert sorted(points) == sorted(list(range(50)) * 4)
    again, _ = split.split_metrics(req, "streamID", ring.endpoint_for)
    assert {k: v.SerializeToString() for k, v in again.items()} == {k: v.SerializeToString() for k, v in parts.items()}


@pytest.mark.parametrize("n", [3, 5])
async def test_service_routing_matches_otelcol_ref(n):
    """routing_key: service, 500 services: each resource goes where otelcol-ref sent it."""
    sinks = await started_sinks(record.ENDPOINTS[:n])
    exp = await started_exporter("loadbalancing", lb_config(record.ENDPOINTS[:n], routing_key="service"))
    try:
        for first in range(0, record.SERVICES, 100):
            await exp.consume(record.service_request(first, 100))
        await exp.shutdown()
        await record.wait_for(sinks, record.SERVICES, timeout=10)
        assert record.golden_digits(sinks, record.trace_ids(record.SERVICES)) == golden(f"service_{n}")
    finally:
        for s in sinks:
            await s.stop()


async def test_backend_metrics_reported():
    sinks = await started_sinks(record.ENDPOINTS[:3])
    exp = await started_exporter("loadbalancing", lb_config(record.ENDPOINTS[:3], sending_queue={"enabled": False}))
    try:
        await exp.consume(record.request(record.trace_ids(30)))
        await exp.shutdown()
    finally:
        for s in sinks:
            await s.stop()
    tel = exp.settings.telemetry
    assert tel.value("otelcol_loadbalancer_num_backends", resolver="static") == 3
    assert tel.value("otelcol_loadbalancer_num_backend_updates", resolver="static") == 1
    ring = HashRing(record.ENDPOINTS[:3])
    used = {ring.endpoint_for(t) for t in record.trace_ids(30)}
    assert tel.value("otelcol_loadbalancer_backend_outcome", success="true") == len(used)


async def test_dns_resolver_resolves_through_the_system_resolver():
    seen: list[list[str]] = []

    async def on_change(endpoints: list[str]) -> None:
        seen.append(endpoints)

    r = DNSResolver("localhost", "4317", 0.05, 1.0, logging.getLogger("test"))
    await r.start(on_change)
    await asyncio.sleep(0.2)
    await r.stop()
    assert len(seen) == 1, "an unchanged answer must not rebuild the ring"
    assert "127.0.0.1:4317" in seen[0] and seen[0] == sorted(seen[0])


async def test_static_backend_restarting_gets_its_keys_back_without_loss():
    """A listed backend that restarts keeps its keys: its exporter queues and retries meanwhile."""
    sinks = await started_sinks(record.ENDPOINTS[:3])
    exp = await started_exporter("loadbalancing", lb_config(record.ENDPOINTS[:3]))
    ids = record.trace_ids(900)
    try:
        await sinks[1].stop()
        for i in range(0, len(ids), 100):
            await exp.consume(record.request(ids[i:i + 100]))
        await asyncio.sleep(0.3)
        sinks[1] = record.Sink(record.ENDPOINTS[1])
        await sinks[1].start()
        await record.wait_for(sinks, len(ids), timeout=15)
        await exp.shutdown()
    finally:
        for s in sinks:
            await s.stop()
    ring = HashRing(record.ENDPOINTS[:3])
    for n, sink in enumerate(sinks):
        assert {ring.endpoint_for(t) for t in sink.trace_ids} == {record.ENDPOINTS[n]}
    assert sorted(t for s in sinks for t in s.trace_ids) == sorted(ids)


def test_logs_and_metrics_by_attributes_use_upstreams_layered_key():
    from otelflow.pdata import keysplit as split

    ring = HashRing(record.ENDPOINTS[:5])
    req = _logs([("checkout", t) for t in record.trace_ids(40)])
    for n, rl in enumerate(req.resource_logs):
        lr = rl.scope_logs[0].log_records[0]
        lr.severity_text = "WARN"
        lr.attributes.add(key="tenant").value.string_value = f"t{n % 9}"
    parts = split.split_logs(req, "attributes", ring.endpoint_for, ["tenant", "service.name", "log.severity"])
    for endpoint, part in parts.items():
        for rl in part.resource_logs:
            for lr in rl.scope_logs[0].log_records:
                # resource attributes first (service.name), then the record's, in configured order
                tenant = lr.attributes[0].value.string_value
                assert ring.endpoint_for(f"service.name=checkout|tenant={tenant}|log.severity=WARN|".encode()) == endpoint
    assert sum(len(rl.scope_logs[0].log_records) for p in parts.values() for rl in p.resource_logs) == 40

    mreq = ExportMetricsServiceRequest()
    m = mreq.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    for p in range(30):
        m.gauge.data_points.add(as_int=p).attributes.add(key="host").value.string_value = f"h{p}"
    parts, _ = split.split_metrics(mreq, "attributes", ring.endpoint_for, ["host", "zone"])
    for endpoint, part in parts.items():
        for dp in part.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points:
            assert ring.endpoint_for(f"host=h{dp.as_int}|zone=|".encode()) == endpoint
    assert len(parts) > 1


@pytest.mark.parametrize("n", [3, 5])
async def test_metric_routing_matches_otelcol_ref(n):
    """routing_key: metric, 500 metric names in one request: each goes where otelcol-ref sent it."""
    sinks = await started_sinks(record.ENDPOINTS[:n])
    exp = await started_exporter("loadbalancing", lb_config(record.ENDPOINTS[:n], routing_key="metric"),
                                 signal=Signal.METRICS)
    try:
        await exp.consume(record.metrics_request())
        await exp.shutdown()
        for _ in range(100):
            if sum(len(s.metric_names) for s in sinks) >= record.SERVICES:
                break
            await asyncio.sleep(0.05)
        assert record.metric_digits(sinks) == golden(f"metric_{n}")
    finally:
        for s in sinks:
            await s.stop()
