"""How fast spans go into the embedded store, on one core.

Two measurements, both pinned to one CPU (``os.sched_setaffinity``):

- exporter path: ``ExportTraceServiceRequest`` messages shaped like an instrumented HTTP service's
  (resource with service/host attributes, server spans with five attributes, 100 spans per request)
  go through the embedded_store exporter's conversion and the store's group commit into a DuckDB file,
  with 8 requests in flight as a receiver would have them, until every row is committed; then the
  same with ``wait_for_commit`` (64 requests in flight, a quarter of the spans);
- end to end (``--e2e``): otelflow runs the default all-in-one config as a process pinned to CPU 0
  and telemetrygen (bench/.build/bin, ``make bench-ref``) sends OTLP/HTTP flat out from CPU 1 for
  ``--e2e-seconds``; reported are the spans the store holds, per second until they were all stored,
  and per second of the collector's CPU (receiver + exporter + store on one core).

Results go to bench/results/store_ingest.json. Target (issue 8): >= 100k spans/s on one core.

    python bench/store_ingest.py            # exporter path, 1M spans
    python bench/store_ingest.py --e2e      # plus the end-to-end run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue  # noqa: E402

from otelflow.store import ingest  # noqa: E402
from otelflow.store.database import Retention, Store  # noqa: E402
from netutil import free_port  # noqa: E402 - bench/ is the script's directory

TARGET = 100_000
ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "store_ingest.json"
TELEMETRYGEN = ROOT / ".build" / "bin" / "telemetrygen"


def make_request(spans: int, seed: int) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for key, value in (("service.name", f"svc-{seed % 5}"), ("host.name", "bench-host"), ("telemetry.sdk.language", "python")):
        rs.resource.attributes.add(key=key, value=AnyValue(string_value=value))
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.fastapi"
    now = time.time_ns()
    for i in range(spans):
        s = ss.spans.add(trace_id=os.urandom(16), span_id=os.urandom(8), parent_span_id=os.urandom(8),
                         name=f"GET /api/items/{i % 7}", kind=2,
                         start_time_unix_nano=now + i * 1000, end_time_unix_nano=now + i * 1000 + 250_000)
        s.attributes.add(key="http.request.method", value=AnyValue(string_value="GET"))
        s.attributes.add(key="http.route", value=AnyValue(string_value=f"/api/items/{i % 7}"))
        s.attributes.add(key="http.response.status_code", value=AnyValue(int_value=200))
        s.attributes.add(key="server.address", value=AnyValue(string_value="10.0.0.12"))
        s.attributes.add(key="user_agent.original", value=AnyValue(string_value="bench/1.0"))
    return req


async def exporter_path(total: int, per_request: int, in_flight: int, wait: bool) -> dict:
    requests = [make_request(per_request, seed) for seed in range(50)]
    directory = Path(tempfile.mkdtemp(prefix="otelflow-ingest-"))
    store = Store(directory, Retention(0, 0))
    await store.start()
    sent = 0
    started = time.perf_counter()
    cpu0 = time.process_time()

    async def lane(index: int) -> None:
        nonlocal sent
        i = index
        while sent < total:
            sent += per_request
            await store.write(ingest.spans(requests[i % len(requests)]), wait=wait)
            await asyncio.sleep(0)  # a receiver yields to the loop between requests
            i += in_flight

    await asyncio.gather(*(lane(i) for i in range(in_flight)))
    await store.flush()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    # the rollups of what was written (the store settles them every few seconds in the background,
    # and before a query that reads them): reported apart, as they are not on the ingest path
    settle0 = time.perf_counter()
    await store.settle()
    settle = time.perf_counter() - settle0
    count = await store.read(lambda c: c.execute("SELECT count(*) FROM spans").fetchone()[0])
    await store.close()
    size = sum(p.stat().st_size for p in directory.iterdir())
    shutil.rmtree(directory, ignore_errors=True)
    return {"wait_for_commit": wait, "in_flight": in_flight, "spans": count, "seconds": round(elapsed, 3),
            "spans_per_s": round(count / elapsed), "cpu_seconds": round(cpu, 3),
            "bytes_on_disk_per_span": round(size / count, 1), "rollups_settle_seconds": round(settle, 3)}


def end_to_end(duration: float) -> dict:
    if not TELEMETRYGEN.exists():
        return {"skipped": "telemetrygen missing: make bench-ref"}
    directory = Path(tempfile.mkdtemp(prefix="otelflow-e2e-"))
    grpc, http, ui = free_port(), free_port(), free_port()
    while len({grpc, http, ui}) < 3:
        http, ui = free_port(), free_port()
    args = [sys.executable, "-m", "otelflow", "--data-dir", str(directory / "data"),
            "--set", f"receivers::otlp::protocols::grpc::endpoint=127.0.0.1:{grpc}",
            "--set", f"receivers::otlp::protocols::http::endpoint=127.0.0.1:{http}",
            "--set", f"extensions::web_ui::endpoint=127.0.0.1:{ui}",
            "--set", "service::telemetry::metrics::level=none"]
    log = open(directory / "otelflow.log", "wb")
    proc = subprocess.Popen(["taskset", "-c", "0", *args], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while b"Everything is ready" not in (directory / "otelflow.log").read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError((directory / "otelflow.log").read_text())
            time.sleep(0.1)
        started = time.perf_counter()
        cpu0 = _cpu_seconds(proc.pid)
        # telemetrygen's rate limiter tops out near 2000 traces/s per worker and its SDK drops what
        # its queue cannot hold, so the load is many throttled workers for a fixed time (as bench.py).
        loads = [subprocess.Popen(["taskset", "-c", "1", str(TELEMETRYGEN), "traces", "--otlp-insecure", "--otlp-http",
                                   "--otlp-endpoint", f"127.0.0.1:{http}", "--workers", "20", "--rate", "2000",
                                   "--child-spans", "1", "--batch-size", "512", "--duration", f"{duration:g}s"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        for load in loads:
            load.wait(duration + 120)
        url = f"http://127.0.0.1:{ui}/api/v1/stats"
        count, last = 0, -1
        while count != last:  # until the store stops growing (pending commits are done)
            time.sleep(1.5)
            last, count = count, json.load(urllib.request.urlopen(url, timeout=30))["spans"]
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)
    return {"spans_stored": count, "load_seconds": duration, "seconds_until_stored": round(elapsed, 3),
            "spans_per_s": round(count / elapsed), "collector_cpu_seconds": round(cpu, 3),
            "spans_per_cpu_s": round(count / cpu) if cpu else None}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spans", type=int, default=1_000_000)
    p.add_argument("--per-request", type=int, default=100)
    p.add_argument("--in-flight", type=int, default=8)
    p.add_argument("--e2e", action="store_true", help="also run otelflow + telemetrygen end to end")
    p.add_argument("--e2e-seconds", type=float, default=20.0, help="how long telemetrygen sends")
    args = p.parse_args()
    os.sched_setaffinity(0, {0})
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "target_spans_per_s": TARGET,
              "exporter_path": asyncio.run(exporter_path(args.spans, args.per_request, args.in_flight, False)),
              "exporter_path_wait_for_commit": asyncio.run(exporter_path(args.spans // 4, args.per_request, 64, True))}
    if args.e2e:
        os.sched_setaffinity(0, set(range(os.cpu_count())))
        result["end_to_end"] = end_to_end(args.e2e_seconds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
