#!/usr/bin/env python3
"""Per-span cost of the OTTL benchmark pipeline's two processors, in process (no network).

Builds requests shaped like telemetrygen's (the load of `make bench-ottl`: 512 spans per request,
http.url and db.statement span attributes, env on the resource), runs them through the
transform/bench and filter/bench processors of bench/configs/ottl-traces.yaml, and prints
microseconds per span for each. `--profile` adds a cProfile listing of the transform.

  python bench/micro_ottl.py [--spans 512] [--requests 200] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path

from inproc import processor  # bench/ is the script's directory

import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "bench" / "configs" / "ottl-traces.yaml"


def telemetrygen_like(spans: int) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "telemetrygen"
    rs.resource.attributes.add(key="env").value.string_value = "bench"
    ss = rs.scope_spans.add()
    ss.scope.name = "telemetrygen"
    for i in range(spans):
        sp = ss.spans.add(name="okey-dokey-0", kind=2 if i % 2 else 3, trace_id=i.to_bytes(16, "big"),
                          span_id=(i + 1).to_bytes(8, "big"), start_time_unix_nano=1, end_time_unix_nano=2)
        sp.attributes.add(key="net.peer.ip").value.string_value = "1.2.3.4"
        sp.attributes.add(key="peer.service").value.string_value = "telemetrygen-client"
        sp.attributes.add(key="http.url").value.string_value = "https://shop.example.com/checkout?card=4111111111111111"
        sp.attributes.add(key="db.statement").value.string_value = "SELECT * FROM orders WHERE id = 42"
    return req.SerializeToString()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spans", type=int, default=512)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    cfg = yaml.safe_load(CONFIG.read_text())
    body = telemetrygen_like(args.spans)
    procs = {name: processor(name, cfg["processors"][name]) for name in ("transform/bench", "filter/bench")}
    loop = asyncio.new_event_loop()
    total = args.spans * args.requests
    for name, proc in procs.items():
        reqs = [ExportTraceServiceRequest.FromString(body) for _ in range(args.requests)]
        started = time.process_time()
        for r in reqs:
            loop.run_until_complete(proc.consume(r))
        took = time.process_time() - started
        print(f"{name:16} {took / total * 1e6:6.2f} us/span  ({total:,} spans)")
    parse = time.process_time()
    for _ in range(args.requests):
        ExportTraceServiceRequest.FromString(body)
    print(f"{'(parse only)':16} {(time.process_time() - parse) / total * 1e6:6.2f} us/span")
    if args.profile:
        reqs = [ExportTraceServiceRequest.FromString(body) for _ in range(args.requests)]
        prof = cProfile.Profile()
        prof.enable()
        for r in reqs:
            loop.run_until_complete(procs["transform/bench"].consume(r))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
