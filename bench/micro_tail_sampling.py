"""Microbenchmark of the tail_sampling processor, and its memory per buffered span.

    python bench/micro_tail_sampling.py                  # throughput + in-process RSS per buffered span
    python bench/micro_tail_sampling.py --process        # also RSS per buffered span of whole collector
                                                         # processes: otelflow and otelcol-ref, same load

Load: requests of 100 traces x 4 spans (SDK-like spans, ~200 wire bytes: 5 attributes, a resource of
5 attributes), 2% of traces with an ERROR span, 2% slow, 10% /healthz. Policies: the seed's (errors,
slow, 5% probabilistic) plus its /healthz route rule at 1%.

* throughput: spans/s through ``consume`` (buffering), then through the ticks that decide and forward
  them to a no-op consumer, and both together;
* memory: RSS growth while the processor holds BUFFERED spans undecided (decision_wait 1h), divided by
  the span count; the load's own bytes are built before the first reading.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from otelflow.config.model import validate  # noqa: E402
from otelflow.core.component import ComponentID, Kind, Settings, Signal  # noqa: E402
from otelflow.core.telemetry import Telemetry  # noqa: E402
from otelflow.processors.tail_sampling import Config, factory  # noqa: E402
from netutil import free_port  # noqa: E402 - bench/ is the script's directory

POLICIES = [
    {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
    {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}},
    {"name": "probably", "type": "probabilistic", "probabilistic": {"sampling_percentage": 5}},
    {"name": "healthz", "type": "string_attribute", "string_attribute": {"key": "http.target", "values": ["/healthz"]},
     "sampling": {"sampling_percentage": 1}},
]
UPSTREAM_POLICIES = POLICIES[:3]
T0 = 1_700_000_000_000_000_000


def make_requests(n_spans: int, traces_per_request: int = 100, spans_per_trace: int = 4, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(n_spans // (traces_per_request * spans_per_trace)):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        for k, v in (("service.name", "checkout"), ("service.version", "1.2.3"), ("telemetry.sdk.language", "python"),
                     ("telemetry.sdk.name", "opentelemetry"), ("telemetry.sdk.version", "1.45.2")):
            kv = rs.resource.attributes.add()
            kv.key, kv.value.string_value = k, v
        ss = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = "shop.checkout", "0.9"
        for _t in range(traces_per_request):
            tid = rng.getrandbits(128).to_bytes(16, "big")
            kind = rng.random()
            target = "/healthz" if kind < 0.10 else "/api/items"
            root = b""
            for s in range(spans_per_trace):
                sp = ss.spans.add()
                sp.trace_id, sp.span_id = tid, rng.getrandbits(64).to_bytes(8, "big")
                if root:
                    sp.parent_span_id = root
                else:
                    root = sp.span_id
                sp.name, sp.kind = f"GET {target}" if s == 0 else f"step {s}", 2 if s == 0 else 1
                sp.start_time_unix_nano = T0 + s * 1_000_000
                sp.end_time_unix_nano = sp.start_time_unix_nano + (700_000_000 if 0.10 <= kind < 0.12 and s == 0 else 5_000_000)
                for k, v in (("http.method", "GET"), ("http.target", target), ("http.route", target), ("net.peer.ip", "10.0.0.1")):
                    kv = sp.attributes.add()
                    kv.key, kv.value.string_value = k, v
                kv = sp.attributes.add()
                kv.key, kv.value.int_value = "http.status_code", 200
                if 0.12 <= kind < 0.14 and s == spans_per_trace - 1:
                    sp.status.code = 2
        out.append(req.SerializeToString())
    return out


class Null:
    mutates_data = False

    def __init__(self):
        self.spans = 0

    async def consume(self, data):
        self.spans += sum(len(ss.spans) for rs in data.resource_spans for ss in rs.scope_spans)


def processor(cfg: dict, sink):
    config = validate(Config, cfg, "processors::tail_sampling")
    proc = factory.create(settings=Settings(ComponentID("tail_sampling"), Kind.PROCESSOR, Telemetry(), Signal.TRACES),
                          config=config, next=sink)
    proc.tick_interval = None
    return proc


def rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


async def throughput(blobs: list[bytes], n_spans: int) -> None:
    sink = Null()
    proc = processor({"decision_wait": "1s", "num_traces": 1_000_000, "policies": POLICIES}, sink)
    await proc.start(None)
    parsed = [ExportTraceServiceRequest.FromString(b) for b in blobs]
    t0 = time.perf_counter()
    for req in parsed:
        await proc.consume(req)
    t1 = time.perf_counter()
    for _ in range(3):
        await proc.tick()
    t2 = time.perf_counter()
    print(f"consume (buffer):   {n_spans / (t1 - t0):>10,.0f} spans/s")
    print(f"tick (decide+fwd):  {n_spans / (t2 - t1):>10,.0f} spans/s   ({sink.spans:,} spans forwarded)")
    print(f"end to end:         {n_spans / (t2 - t0):>10,.0f} spans/s")


async def memory(blobs: list[bytes], n_spans: int) -> None:
    proc = processor({"decision_wait": "1h", "num_traces": 1_000_000, "policies": POLICIES}, Null())
    await proc.start(None)
    gc.collect()
    before = rss()
    for b in blobs:
        await proc.consume(ExportTraceServiceRequest.FromString(b))
    gc.collect()
    after = rss()
    print(f"in-process RSS per buffered span: {(after - before) / n_spans:,.0f} bytes "
          f"({n_spans:,} spans, {len(proc.traces):,} traces, wire {sum(map(len, blobs)) / n_spans:,.0f} bytes/span)")


def go_heap(metrics_port: int | None) -> int | None:
    """otelcol's live Go heap (otelcol_process_runtime_heap_alloc_bytes), or None."""
    if metrics_port is None:
        return None
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("otelcol_process_runtime_heap_alloc_bytes"):
                return int(float(line.split()[-1]))
    return None


def process_rss(name: str, argv_for, blobs: list[bytes], n_spans: int, policies: list, go: bool = False) -> None:
    """Start a collector process, send the load over OTLP/HTTP, read its VmRSS growth (and for otelcol
    its live heap, which leaves out the garbage collector's headroom)."""
    import yaml

    port = free_port()
    metrics_port = free_port() if go else None
    work = Path(tempfile.mkdtemp(prefix="ts-bench-"))
    telemetry = {"metrics": {"level": "none"}}
    if go:
        telemetry = {"metrics": {"level": "basic", "readers": [{"pull": {"exporter": {"prometheus": {
            "host": "127.0.0.1", "port": metrics_port}}}}]}}
    cfg = {"receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
           "processors": {"tail_sampling": {"decision_wait": "600s", "num_traces": 1_000_000, "policies": policies}},
           "exporters": {"debug": {}},
           "service": {"telemetry": telemetry,
                       "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["tail_sampling"], "exporters": ["debug"]}}}}
    (work / "c.yaml").write_text(yaml.safe_dump(cfg))
    log = open(work / "log", "wb")
    proc = subprocess.Popen(argv_for(work / "c.yaml"), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while b"Everything is ready" not in (work / "log").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((work / "log").read_text())
            time.sleep(0.05)
        time.sleep(1)
        warm = blobs[:5]
        for b in warm:  # warm up the receive path before the first reading
            _post(port, b)
        time.sleep(1)
        before, heap_before = rss_of(proc.pid), go_heap(metrics_port)
        for b in blobs[5:]:
            _post(port, b)
        time.sleep(3)
        after = rss_of(proc.pid)
        spans = n_spans * (len(blobs) - 5) // len(blobs)
        print(f"{name:>12} process RSS per buffered span: {(after - before) / spans:,.0f} bytes "
              f"(RSS {before / 2**20:,.0f} -> {after / 2**20:,.0f} MiB for {spans:,} spans)")
        if go:
            time.sleep(12)  # the heap metric is sampled periodically
            heap_after = go_heap(metrics_port)
            print(f"{name:>12} live Go heap per buffered span: {(heap_after - heap_before) / spans:,.0f} bytes "
                  f"(heap {heap_before / 2**20:,.0f} -> {heap_after / 2**20:,.0f} MiB); RSS then {rss_of(proc.pid) / 2**20:,.0f} MiB")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()


def _post(port: int, body: bytes) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--process", action="store_true", help="also measure whole processes (otelflow, otelcol-ref)")
    args = ap.parse_args()
    blobs = make_requests(args.spans)
    print(f"load: {args.spans:,} spans in {len(blobs)} requests of 100 traces x 4 spans")
    asyncio.run(memory(blobs, args.spans))  # first: freed memory would be reused by the next run
    asyncio.run(throughput(blobs, args.spans))
    if args.process:
        ref = REPO / "bench" / ".build" / "bin" / "otelcol-ref"
        process_rss("otelflow", lambda c: [sys.executable, "-m", "otelflow", "--config", str(c)], blobs, args.spans, POLICIES)
        if ref.exists():
            process_rss("otelcol-ref", lambda c: [str(ref), "--config", str(c)], blobs, args.spans, UPSTREAM_POLICIES, go=True)
        process_rss("otelflow(3p)", lambda c: [sys.executable, "-m", "otelflow", "--config", str(c)], blobs, args.spans, UPSTREAM_POLICIES)


if __name__ == "__main__":
    main()
