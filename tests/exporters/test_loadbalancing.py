"""The loadbalancing exporter: upstream's ring (goldens recorded from otelcol-ref), real OTLP/gRPC
sinks as backends, whole traces per gateway, and backends leaving at runtime without data loss."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import Signal
from otelflow.exporters.loadbalancing.config import Config
from otelflow.exporters.loadbalancing.ring import HashRing
from tests.exporters.helpers import started_exporter

DATA = Path(__file__).parent / "testdata" / "loadbalancing"
sys.path.insert(0, str(DATA))
import record  # noqa: E402  (sinks, trace IDs and endpoints shared with the recording script)


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
