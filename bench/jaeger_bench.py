"""Jaeger receiver throughput: otelflow vs otelcol-ref, spans/s accepted over Thrift HTTP or gRPC.

Each collector runs alone (pinned to core 1 when ``taskset`` exists) with
``jaeger -> debug (basic)``; this process (core 0) posts one pre-encoded batch of ``--spans``
spans from ``--concurrency`` senders for ``--duration`` seconds and counts accepted spans.

    python bench/jaeger_bench.py                          # thrift_http, 100-span batches, 10 s
    python bench/jaeger_bench.py --protocol grpc --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import grpc  # noqa: E402
from thriftpy2.protocol import TBinaryProtocolFactory  # noqa: E402
from thriftpy2.utils import serialize  # noqa: E402

from otelflow.receivers.jaeger.idl import api_v2  # noqa: E402
from tests.receivers.testdata.jaeger.thriftpy_idl import jaeger  # noqa: E402
from netutil import free_port  # noqa: E402 - bench/ is the script's directory
from peers import running  # noqa: E402


def thrift_body(spans: int) -> bytes:
    batch = jaeger.Batch(process=jaeger.Process(serviceName="bench", tags=[
        jaeger.Tag(key="hostname", vType=0, vStr="node-1")]), spans=[
        jaeger.Span(traceIdLow=i + 1, traceIdHigh=7, spanId=i + 1, parentSpanId=i, operationName=f"op-{i % 10}",
                    flags=1, startTime=1_700_000_000_000_000 + i, duration=250, tags=[
                        jaeger.Tag(key="span.kind", vType=0, vStr="server"),
                        jaeger.Tag(key="http.method", vType=0, vStr="GET"),
                        jaeger.Tag(key="http.status_code", vType=3, vLong=200),
                        jaeger.Tag(key="component", vType=0, vStr="net/http")])
        for i in range(spans)])
    return serialize(batch, TBinaryProtocolFactory())


def grpc_body(spans: int) -> bytes:
    def kv(key, value):
        if isinstance(value, int):
            return api_v2.KeyValue(key=key, v_type=api_v2.INT64, v_int64=value)
        return api_v2.KeyValue(key=key, v_type=api_v2.STRING, v_str=value)

    batch = api_v2.Batch(process=api_v2.Process(service_name="bench", tags=[kv("hostname", "node-1")]))
    for i in range(spans):
        span = batch.spans.add(trace_id=(7).to_bytes(8, "big") + (i + 1).to_bytes(8, "big"),
                               span_id=(i + 1).to_bytes(8, "big"), operation_name=f"op-{i % 10}", flags=1,
                               tags=[kv("span.kind", "server"), kv("http.method", "GET"), kv("http.status_code", 200),
                                     kv("component", "net/http")])
        span.start_time.seconds = 1_700_000_000
        span.duration.nanos = 250_000
    return api_v2.PostSpansRequest(batch=batch).SerializeToString()


def config(protocol: str, port: int) -> str:
    return f"""
receivers:
  jaeger:
    protocols:
      {protocol}: {{endpoint: "127.0.0.1:{port}"}}
exporters:
  debug: {{verbosity: basic}}
service:
  pipelines:
    traces: {{receivers: [jaeger], exporters: [debug]}}
"""


async def load(protocol: str, port: int, body: bytes, spans: int, concurrency: int, duration: float) -> float:
    accepted = 0
    stop = time.monotonic() + duration

    if protocol == "thrift_http":
        async with aiohttp.ClientSession() as session:
            async def sender() -> None:
                nonlocal accepted
                while time.monotonic() < stop:
                    async with session.post(f"http://127.0.0.1:{port}/api/traces", data=body,
                                            headers={"Content-Type": "application/x-thrift"}) as resp:
                        await resp.read()
                        if resp.status == 202:
                            accepted += spans
            start = time.monotonic()
            await asyncio.gather(*(sender() for _ in range(concurrency)))
    else:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/jaeger.api_v2.CollectorService/PostSpans", request_serializer=None,
                                       response_deserializer=None)

            async def sender() -> None:
                nonlocal accepted
                while time.monotonic() < stop:
                    await call(body, timeout=30)
                    accepted += spans
            start = time.monotonic()
            await asyncio.gather(*(sender() for _ in range(concurrency)))
    return accepted / (time.monotonic() - start)


async def run_peer(peer: str, args, body: bytes) -> float:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(config(args.protocol, port))
        async with running(peer, cfg, port):
            await load(args.protocol, port, body, args.spans, args.concurrency, 1.0)  # warm-up
            return await load(args.protocol, port, body, args.spans, args.concurrency, args.duration)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=["thrift_http", "grpc"], default="thrift_http")
    parser.add_argument("--spans", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {0})
    body = (thrift_body if args.protocol == "thrift_http" else grpc_body)(args.spans)
    rates = {peer: await run_peer(peer, args, body) for peer in ("otelflow", "otelcol-ref")}
    for peer, rate in rates.items():
        print(f"{peer:12s} {args.protocol}: {rate:12,.0f} spans/s")
    print(f"ratio otelflow/otelcol-ref: {rates['otelflow'] / rates['otelcol-ref']:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
