"""In-process micro-benchmark of the batch processor: spans per second through ``consume``.

Feeds pre-parsed 512-span ExportTraceServiceRequests (as the receiver would hand them over) into a
started BatchProcessor whose next consumer only counts, and reports the best of a few rounds. The
timing covers consume, batch cutting (MergeFrom of whole requests, or splits when a max size is set)
and the background sender handing each batch on, until every span has been handed on.

    python bench/micro_batch.py                        # send_batch_size 8192, no max
    python bench/micro_batch.py --max-size 8192        # also split at 8192
    python bench/micro_batch.py --requests 400 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from otelflow.config.model import validate  # noqa: E402
from otelflow.core.component import ComponentID, Kind, Settings, Signal  # noqa: E402
from otelflow.core.telemetry import Telemetry  # noqa: E402
from otelflow.pdata import count_spans  # noqa: E402
from otelflow.processors.batch import BatchProcessor, Config  # noqa: E402


def make_request(spans: int, seed: int = 1) -> bytes:
    """One resource, one scope, ``spans`` spans with a few attributes, as SDKs typically send."""
    rnd = random.Random(seed)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for key, value in (("service.name", "checkout"), ("service.version", "1.2.3"), ("host.name", "node-17")):
        rs.resource.attributes.add(key=key).value.string_value = value
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "shop.checkout", "0.9"
    for i in range(spans):
        span = ss.spans.add()
        span.trace_id, span.span_id, span.parent_span_id = rnd.randbytes(16), rnd.randbytes(8), rnd.randbytes(8)
        span.name = "GET /api/items"
        span.kind = 2
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        span.end_time_unix_nano = span.start_time_unix_nano + 1_500_000
        span.attributes.add(key="http.method").value.string_value = "GET"
        span.attributes.add(key="http.route").value.string_value = "/api/items"
        span.attributes.add(key="http.status_code").value.int_value = 200
        span.attributes.add(key="net.peer.name").value.string_value = "10.0.3.7"
        span.status.code = 1
    return req.SerializeToString()


class Sink:
    mutates_data = False

    def __init__(self) -> None:
        self.spans = 0
        self.batches = 0
        self.done = asyncio.Event()
        self.expect = 0

    async def consume(self, data) -> None:
        self.spans += count_spans(data)
        self.batches += 1
        if self.spans >= self.expect:
            self.done.set()


async def one_round(blob: bytes, requests: int, cfg: dict) -> tuple[float, int, int]:
    config = validate(Config, cfg, "processors::batch")
    settings = Settings(id=ComponentID("batch"), kind=Kind.PROCESSOR, telemetry=Telemetry(), signal=Signal.TRACES)
    sink = Sink()
    proc = BatchProcessor(settings, config, sink)
    data = [ExportTraceServiceRequest.FromString(blob) for _ in range(requests)]
    per_request = count_spans(data[0])
    sink.expect = per_request * requests
    await proc.start(None)
    start = time.perf_counter()
    for req in data:
        await proc.consume(req)
    await proc.shutdown()  # flushes the remainder
    await sink.done.wait()
    elapsed = time.perf_counter() - start
    return elapsed, sink.spans, sink.batches


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=512, help="spans per request")
    ap.add_argument("--requests", type=int, default=400, help="requests per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--max-size", type=int, default=0)
    ap.add_argument("--timeout", default="200ms")
    args = ap.parse_args()
    blob = make_request(args.spans)
    cfg = {"send_batch_size": args.batch_size, "send_batch_max_size": args.max_size, "timeout": args.timeout}
    print(f"request: {args.spans} spans, {len(blob)} bytes serialized; config {cfg}")
    best = None
    for r in range(args.rounds):
        elapsed, spans, batches = await one_round(blob, args.requests, cfg)
        rate = spans / elapsed
        print(f"round {r + 1}: {spans} spans in {batches} batches, {elapsed * 1000:.1f} ms, {rate:,.0f} spans/s")
        best = rate if best is None else max(best, rate)
    print(f"best: {best:,.0f} spans/s")


if __name__ == "__main__":
    asyncio.run(main())
