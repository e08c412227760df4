#!/usr/bin/env python3
"""In-process cost of each step of the seed's metrics / logs path, per request, without the network.

Feeds telemetrygen-shaped requests (metrics: one resource with 100 scopes of one one-point gauge;
logs: one scope of 100 records with three attributes, as ``bench.py`` sends) through the steps the
collector runs for each, timed with CPU time, best of a few rounds:

  receive    what the OTLP receiver does with a body besides HTTP: parse, ID check, count
  limiter    memory_limiter.consume (its own work; the next step is timed apart)
  batch      batch.consume, and cutting and handing on the batches (per request)
  export     what the exporter does per batch, per request: its two counts, encode, gzip

    python bench/micro_signal_path.py                 # metrics and logs
    python bench/micro_signal_path.py --walk-only     # count metrics by walking the message (before)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest  # noqa: E402

from otelflow.config.model import validate  # noqa: E402
from otelflow.core.component import ComponentID, Kind, Settings, Signal  # noqa: E402
from otelflow.core.compression import compress  # noqa: E402
from otelflow.core.telemetry import Telemetry  # noqa: E402
from otelflow.pdata import COUNTERS, check_ids_encoded  # noqa: E402
from otelflow.processors import batch as batchmod, memory_limiter  # noqa: E402


def metrics_request(seq: int) -> bytes:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    for key, value in (("env", "bench"), ("service.name", "telemetrygen")):
        rm.resource.attributes.add(key=key).value.string_value = value
    for i in range(100):
        point = rm.scope_metrics.add().metrics.add(name="gen").gauge.data_points.add()
        point.time_unix_nano, point.as_int = 1_796_586_731_693_621_316 + seq * 100 + i, 100
    return req.SerializeToString()


def logs_request(seq: int) -> bytes:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "telemetrygen"
    sl = rl.scope_logs.add()
    for i in range(100):
        rec = sl.log_records.add(time_unix_nano=1_796_586_732_702_101_529 + seq * 100 + i, severity_number=9,
                                 severity_text="Info", dropped_attributes_count=1)
        rec.body.string_value = "the message"
        for key, value in (("app", "server"), ("db.statement", "SELECT * FROM orders WHERE id = 42"),
                           ("http.url", "https://shop.example.com/checkout?card=4111111111111111")):
            rec.attributes.add(key=key).value.string_value = value
    return req.SerializeToString()


class Timed:
    """The next consumer of a step, keeping its own CPU time apart from the step's."""

    mutates_data = False

    def __init__(self, inner=None):
        self.inner = inner
        self.spent = 0.0

    async def consume(self, data) -> None:
        t0 = time.process_time()
        if self.inner is not None:
            await self.inner(data)
        self.spent += time.process_time() - t0


class TimedCounted(Timed):
    """``Timed`` in front of a batch processor that takes the limiter's count (``consume_counted``)."""

    def __init__(self, counted):
        super().__init__()
        self.counted = counted

    async def consume_counted(self, data, n: int) -> None:
        t0 = time.process_time()
        await self.counted(data, n)
        self.spent += time.process_time() - t0


async def one_round(signal: Signal, bodies: list[bytes]) -> dict[str, float]:
    kind = {Signal.METRICS: ExportMetricsServiceRequest, Signal.LOGS: ExportLogsServiceRequest}[signal]
    count = COUNTERS[signal]

    async def export(batch) -> None:  # exporterhelper counts twice (enqueue, send); otlphttp encodes, gzips
        count(batch)
        count(batch)
        compress("gzip", batch.SerializeToString())

    exporter = Timed(export)
    tel = Telemetry()
    bcfg = validate(batchmod.Config, {"timeout": "5s", "send_batch_size": 8192}, "processors::batch")
    proc = batchmod.BatchProcessor(Settings(id=ComponentID("batch"), kind=Kind.PROCESSOR, telemetry=tel, signal=signal),
                                   bcfg, exporter)
    counted = getattr(proc, "consume_counted", None)
    after_limiter = TimedCounted(counted) if counted is not None else Timed(proc.consume)
    mcfg = validate(memory_limiter.Config, {"check_interval": "2s", "limit_mib": 1500}, "processors::memory_limiter")
    limiter = memory_limiter.factory.create(
        settings=Settings(id=ComponentID("memory_limiter"), kind=Kind.PROCESSOR, telemetry=tel, signal=signal, shared={}),
        config=mcfg, next=after_limiter)
    await proc.start(None)
    receive = 0.0
    t_all = time.process_time()
    for body in bodies:
        t0 = time.process_time()
        message = kind.FromString(body)
        check_ids_encoded(signal, body, message)
        count(message)
        receive += time.process_time() - t0
        await limiter.consume(message)
    await proc.shutdown()
    total = time.process_time() - t_all
    n = len(bodies)
    out = {"receive": receive / n, "limiter": (total - receive - after_limiter.spent) / n,
           "batch": (after_limiter.spent - exporter.spent) / n, "export": exporter.spent / n}
    out["total"] = total / n
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=820, help="requests per round (82 make one 8192-point batch)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--signals", default="metrics,logs")
    ap.add_argument("--walk-only", action="store_true", help="count data points by walking the parsed message")
    args = ap.parse_args()
    if args.walk_only:
        from otelflow.pdata import counting

        counting._counts = None
    for name in args.signals.split(","):
        signal = Signal(name)
        make = metrics_request if signal is Signal.METRICS else logs_request
        bodies = [make(i) for i in range(args.requests)]
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            got = await one_round(signal, bodies)
            best = {k: min(v, best.get(k, v)) for k, v in got.items()}
        print(f"{name:8} µs per request of 100 items: " + "  ".join(f"{k} {v * 1e6:6.1f}" for k, v in best.items()))


if __name__ == "__main__":
    asyncio.run(main())
