"""Metrics processors that keep state by stream (cumulativetodelta, deltatocumulative) give the same
output with two workers as with one, while a series' points arrive over connections that the kernel
gave to different workers: each resource's streams live in one worker."""

from __future__ import annotations

import asyncio

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (AGGREGATION_TEMPORALITY_CUMULATIVE,
                                                        AGGREGATION_TEMPORALITY_DELTA, Metric, NumberDataPoint,
                                                        ResourceMetrics, ScopeMetrics, Sum)

from otelflow.core.component import Signal
from tests.backends import GRPCBackend, free_port
from tests.core.workers.harness import Workers, kv, spread_clients

START = 1_700_000_000_000_000_000
SERVICES = [f"svc{k}" for k in range(6)]
ROUTES = ["/a", "/b"]
STEPS = 8


def request(step: int, temporality: int) -> bytes:
    """Every service's ``requests`` sum at ``step``: cumulative k*(step+1)*(step+2)/2 per route, or its
    delta k*(step+1)."""
    rms = []
    for k, service in enumerate(SERVICES, start=1):
        points = []
        for r, route in enumerate(ROUTES, start=1):
            value = k * r * ((step + 1) * (step + 2) // 2 if temporality == AGGREGATION_TEMPORALITY_CUMULATIVE
                             else step + 1)
            start = START if temporality == AGGREGATION_TEMPORALITY_CUMULATIVE else START + step * 10**9
            points.append(NumberDataPoint(attributes=[kv("route", route)], start_time_unix_nano=start,
                                          time_unix_nano=START + (step + 1) * 10**9, as_int=value))
        metric = Metric(name="requests", sum=Sum(data_points=points, aggregation_temporality=temporality,
                                                 is_monotonic=True))
        rms.append(ResourceMetrics(resource={"attributes": [kv("service.name", service)]},
                                   scope_metrics=[ScopeMetrics(metrics=[metric])]))
    return ExportMetricsServiceRequest(resource_metrics=rms).SerializeToString()


def config(gp: int, sink: str, processor: str) -> str:
    return f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{gp}"}}}}}}
processors:
  {processor}: {{}}
exporters:
  otlp: {{endpoint: "{sink}", tls: {{insecure: true}}}}
service:
  pipelines:
    metrics: {{receivers: [otlp], processors: [{processor}], exporters: [otlp]}}
"""


def series(sink: GRPCBackend) -> dict[tuple[str, str], list[tuple[int, int, int, int]]]:
    """(service, route) -> [(start, time, value, temporality)] by time (the exporter's queue has several
    consumers, so arrival order is not the order of the points)."""
    out: dict = {}
    for m in sink.messages(Signal.METRICS):
        for rm in m.resource_metrics:
            service = rm.resource.attributes[0].value.string_value
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for p in metric.sum.data_points:
                        out.setdefault((service, p.attributes[0].value.string_value), []).append(
                            (p.start_time_unix_nano, p.time_unix_nano, p.as_int, metric.sum.aggregation_temporality))
    return {k: sorted(v, key=lambda p: p[1]) for k, v in out.items()}


async def run(workers: int, processor: str, temporality: int) -> dict:
    sink = await GRPCBackend().start()
    gp = free_port()
    collector = Workers(config(gp, sink.endpoint, processor), workers)
    await asyncio.to_thread(collector.start)
    try:
        if workers > 1:
            clients = await spread_clients(collector, gp, channels=6, signal="metrics")
        else:
            from tests.core.workers.harness import Clients
            clients = Clients(gp, None, grpc_channels=6, http_connections=0, signal="metrics")
        try:
            for step in range(STEPS):  # one at a time, each over the next connection: in order, all workers
                assert await clients.send_one(request(step, temporality), index=step) is None
        finally:
            await clients.close()
        expected = len(SERVICES) * len(ROUTES) * (STEPS - 1)
        for _ in range(100):
            if sum(len(v) for v in series(sink).values()) >= expected:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
    finally:
        await asyncio.to_thread(collector.stop)
        await sink.stop()
    return series(sink)


async def test_cumulativetodelta_is_the_same_with_two_workers():
    two = await run(2, "cumulativetodelta", AGGREGATION_TEMPORALITY_CUMULATIVE)
    one = await run(1, "cumulativetodelta", AGGREGATION_TEMPORALITY_CUMULATIVE)
    assert two == one
    # and it is right: after the first point of a stream (dropped: its start is before the collector's),
    # each delta is k*r*(step+1)
    assert set(one) == {(s, r) for s in SERVICES for r in ROUTES}
    for (service, route), points in one.items():
        k, r = SERVICES.index(service) + 1, ROUTES.index(route) + 1
        assert [v for _, _, v, t in points] == [k * r * (step + 1) for step in range(1, STEPS)]
        assert {t for *_, t in points} == {AGGREGATION_TEMPORALITY_DELTA}


async def test_deltatocumulative_is_the_same_with_two_workers():
    two = await run(2, "deltatocumulative", AGGREGATION_TEMPORALITY_DELTA)
    one = await run(1, "deltatocumulative", AGGREGATION_TEMPORALITY_DELTA)
    assert two == one
    for (service, route), points in one.items():
        k, r = SERVICES.index(service) + 1, ROUTES.index(route) + 1
        assert [v for _, _, v, _ in points] == [k * r * (s + 1) * (s + 2) // 2 for s in range(STEPS)]
