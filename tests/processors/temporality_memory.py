"""Feeds distinct streams into a temporality processor, in process through its factory, in batches,
and prints JSON: streams tracked, RSS growth in bytes, seconds. Run in a fresh interpreter:

    python -m tests.processors.temporality_memory deltatocumulative 1000000
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry

BATCH = 10_000
START = 1_700_000_000_000_000_000


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class Discard:
    mutates_data = False

    async def consume(self, data) -> None:
        return None


def batch(first: int, temporality: int) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "memory-test"
    m = rm.scope_metrics.add().metrics.add()
    m.name, m.unit = "requests", "1"
    m.sum.aggregation_temporality = temporality
    m.sum.is_monotonic = True
    points = m.sum.data_points
    for i in range(first, first + BATCH):
        dp = points.add(start_time_unix_nano=START, time_unix_nano=START + 10**9, as_int=i)
        dp.attributes.add(key="stream").value.int_value = i
    return req


async def main(type_: str, streams: int) -> dict:
    factory = default_registry.get(Kind.PROCESSOR, type_)
    config = validate(factory.config, {}, f"processors::{type_}")
    proc = factory.create(settings=Settings(ComponentID(type_), Kind.PROCESSOR, Telemetry(), Signal.METRICS),
                          config=config, next=Discard())
    temporality = 1 if type_ == "deltatocumulative" else 2
    await proc.start(None)
    before = rss()
    t0 = time.monotonic()
    for first in range(0, streams, BATCH):
        await proc.consume(batch(first, temporality))
    elapsed = time.monotonic() - t0
    tracked = len(proc.states) if hasattr(proc, "states") else len(proc.tracker)
    grown = rss() - before
    await proc.shutdown()
    return {"streams": tracked, "rss_growth": grown, "seconds": round(elapsed, 1)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))
