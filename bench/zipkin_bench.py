"""Zipkin receiver throughput: otelflow vs otelcol-ref, time to accept N v2 batches.

Each collector runs alone (pinned to core 1 when ``taskset`` exists) with ``zipkin -> debug
(basic)``; this process (core 0) posts the same pre-encoded batch of ``--spans`` spans ``--batches``
times from ``--concurrency`` senders and reports accepted spans per second and the ratio.

    python bench/zipkin_bench.py                           # v2 JSON, 2000 batches of 100 spans
    python bench/zipkin_bench.py --format proto --batches 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import aiohttp  # noqa: E402

from otelflow.translators.zipkin import proto  # noqa: E402
from netutil import free_port  # noqa: E402 - bench/ is the script's directory
from peers import running  # noqa: E402


def spans(n: int) -> list[dict]:
    return [{
        "traceId": f"{7:016x}{i + 1:016x}", "id": f"{i + 1:016x}", "parentId": f"{i + 1000:016x}",
        "name": f"op-{i % 10}", "kind": "SERVER", "timestamp": 1_700_000_000_000_000 + i, "duration": 250,
        "localEndpoint": {"serviceName": f"svc-{i % 3}", "ipv4": "10.0.0.1", "port": 8080},
        "remoteEndpoint": {"serviceName": "peer", "ipv4": "10.0.0.2"},
        "annotations": [{"timestamp": 1_700_000_000_000_100 + i, "value": "wr"}],
        "tags": {"http.method": "GET", "http.status_code": "200", "component": "net/http", "user.id": str(i)},
    } for i in range(n)]


def body(fmt: str, n: int) -> bytes:
    items = spans(n)
    if fmt == "json":
        return json.dumps(items).encode()
    message = proto.ListOfSpans()
    for s in items:
        ps = message.spans.add(trace_id=bytes.fromhex(s["traceId"]), id=bytes.fromhex(s["id"]),
                               parent_id=bytes.fromhex(s["parentId"]), name=s["name"], kind=2,
                               timestamp=s["timestamp"], duration=s["duration"])
        ps.local_endpoint.service_name = s["localEndpoint"]["serviceName"]
        ps.local_endpoint.ipv4 = bytes([10, 0, 0, 1])
        ps.local_endpoint.port = 8080
        ps.remote_endpoint.service_name = "peer"
        ps.annotations.add(timestamp=s["annotations"][0]["timestamp"], value="wr")
        ps.tags.update(s["tags"])
    return message.SerializeToString()


def config(port: int) -> str:
    return f"""
receivers:
  zipkin: {{endpoint: "127.0.0.1:{port}"}}
exporters:
  debug: {{verbosity: basic}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    traces: {{receivers: [zipkin], exporters: [debug]}}
"""


async def load(port: int, payload: bytes, content_type: str, batches: int, concurrency: int) -> tuple[int, float]:
    remaining = batches
    accepted = 0
    async with aiohttp.ClientSession() as session:
        async def sender() -> None:
            nonlocal remaining, accepted
            while remaining > 0:
                remaining -= 1
                async with session.post(f"http://127.0.0.1:{port}/api/v2/spans", data=payload,
                                        headers={"Content-Type": content_type}) as resp:
                    await resp.read()
                    accepted += resp.status == 202
        start = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return accepted, time.monotonic() - start


async def run_peer(peer: str, args, payload: bytes, content_type: str) -> float:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(config(port))
        async with running(peer, cfg, port):
            await load(port, payload, content_type, max(10, args.batches // 10), args.concurrency)  # warm-up
            accepted, elapsed = await load(port, payload, content_type, args.batches, args.concurrency)
            assert accepted == args.batches, f"{peer}: only {accepted} of {args.batches} batches accepted"
            return accepted * args.spans / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", choices=["json", "proto"], default="json")
    parser.add_argument("--spans", type=int, default=100)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {0})
    payload = body(args.format, args.spans)
    content_type = "application/json" if args.format == "json" else "application/x-protobuf"
    rates = {peer: await run_peer(peer, args, payload, content_type) for peer in ("otelflow", "otelcol-ref")}
    for peer, rate in rates.items():
        print(f"{peer:12s} zipkin v2 {args.format}: {rate:12,.0f} spans/s")
    print(f"ratio otelflow/otelcol-ref: {rates['otelflow'] / rates['otelcol-ref']:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
