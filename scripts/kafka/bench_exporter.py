"""Spans/s through otelflow's kafka exporter into a local broker (one process, queue off, so each
request waits for the broker's acknowledgement of all its records).

Usage: python scripts/kafka/bench_exporter.py [seconds] [spans_per_request]
Runs once unkeyed and once with partition_traces_by_id (100 traces per request), 3 partitions.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from otelflow.core.component import Signal  # noqa: E402
from tests.exporters.helpers import started_exporter  # noqa: E402
from tests.kafka_broker import KafkaBroker, install  # noqa: E402


def request(spans: int) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "bench"
    ss = rs.scope_spans.add()
    traces = [os.urandom(16) for _ in range(100)]
    for i in range(spans):
        s = ss.spans.add()
        s.trace_id, s.span_id, s.name = traces[i % 100], os.urandom(8), f"op{i % 7}"
        s.start_time_unix_nano, s.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_001_000_000
        a = s.attributes.add()
        a.key, a.value.string_value = "http.route", "/checkout"
    return req


async def run(bootstrap: str, topic: str, by_id: bool, seconds: float, spans: int) -> float:
    exp = await started_exporter("kafka", {"brokers": [bootstrap], "traces": {"topic": topic},
                                           "partition_traces_by_id": by_id, "sending_queue": {"enabled": False}})
    req = request(spans)
    sent = 0
    cpu0, start = time.process_time(), time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            await asyncio.gather(*(exp.consume(req) for _ in range(8)))
            sent += 8 * spans
    finally:
        elapsed, cpu = time.monotonic() - start, time.process_time() - cpu0
        await exp.shutdown()
    print(f"partition_traces_by_id={by_id}: {sent / elapsed:,.0f} spans/s, "
          f"{cpu / sent * 1e6:.1f} CPU-s per million spans ({spans} spans/request)")
    return sent / elapsed


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    spans = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    workdir = Path(tempfile.mkdtemp(prefix="otelflow-kafka-bench-"))
    broker = KafkaBroker(workdir, install())
    broker.format()
    broker.start()
    try:
        for by_id in (False, True):
            topic = f"bench_spans_{int(by_id)}"
            broker.create_topic(topic, 3)
            asyncio.run(run(broker.bootstrap, topic, by_id, seconds, spans))
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
