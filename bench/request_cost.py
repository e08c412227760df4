#!/usr/bin/env python3
"""CPU a collector spends on one OTLP/HTTP request at a steady, moderate rate: the pass-through
question of issue 17 measured without telemetrygen's noise.

  request_cost.py --config bench/configs/passthrough-queue-batch.yaml --peers otelflow,rotel

Layout: the collector under test alone on core 1; on core 0 this script's client (one keep-alive
connection, a fixed 100-span ExportTraceServiceRequest sent ``--rate`` times a second) and the sink
the collector exports to (otelflow, otlp -> nop). The cost is the collector's time on CPU from
/proc/PID/task/*/schedstat (nanoseconds, not clock ticks) over the timed requests, divided by
their count. Peers alternate for ``--repeats`` rounds, since a single run varies by ±10 %.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from netutil import free_port, wait_port  # noqa: E402 - bench/ is the script's directory

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src")}

from bench import descendants, rotel_binary, stop  # noqa: E402

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402


def request_body(spans: int) -> bytes:
    """A request shaped like telemetrygen's: one resource, one scope, ``spans`` spans with the bench's
    two span attributes."""
    rng = random.Random(7)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for key, value in (("service.name", "telemetrygen"), ("env", "bench")):
        kv = rs.resource.attributes.add(key=key)
        kv.value.string_value = value
    ss = rs.scope_spans.add()
    ss.scope.name = "telemetrygen"
    now = time.time_ns()
    for i in range(spans):
        span = ss.spans.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8), name=f"okey-dokey-{i % 10}",
                            kind=2, start_time_unix_nano=now, end_time_unix_nano=now + 123456)
        if i % 2:
            span.parent_span_id = rng.randbytes(8)
        for key, value in (("http.url", "https://shop.example.com/checkout?card=4111111111111111"),
                           ("db.statement", "SELECT * FROM orders WHERE id = 42"),
                           ("net.peer.ip", "1.2.3.4"), ("peer.service", "telemetrygen-server")):
            kv = span.attributes.add(key=key)
            kv.value.string_value = value
    return req.SerializeToString()


def task_ns(pid: int) -> int:
    """Nanoseconds on CPU of pid's threads and its descendants' threads."""
    total = 0
    for p in descendants(pid):
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
        except (OSError, ValueError):
            pass
    return total


def start(cmd: list[str], port: int, log: Path, core: str, src: Path = REPO / "src") -> subprocess.Popen:
    with open(log, "wb") as out:
        proc = subprocess.Popen(["taskset", "-c", core, *cmd], stdout=out, stderr=subprocess.STDOUT,
                                env={**ENV, "PYTHONPATH": str(src)})
    wait_port(port, proc, 60)
    return proc


def collector(peer: str, config: Path, work: Path, sink_port: int) -> tuple[list[str], int]:
    port, grpc = free_port(), free_port()
    if peer == "rotel":
        binary = rotel_binary()
        if binary is None:
            raise SystemExit("rotel is not installed (pip install rotel==0.0.1a15)")
        return [str(binary), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}",
                "--otlp-http-endpoint", f"127.0.0.1:{port}", "--exporter", "otlp",
                "--otlp-exporter-endpoint", f"http://127.0.0.1:{sink_port}", "--otlp-exporter-protocol", "http",
                "--pid-file", str(work / "rotel.pid"), "--log-file", str(work / "rotel.log")], port
    cfg = yaml.safe_load(config.read_text())
    cfg["receivers"]["otlp"]["protocols"] = {"grpc": {"endpoint": f"127.0.0.1:{grpc}"},
                                             "http": {"endpoint": f"127.0.0.1:{port}"}}
    for exporter in cfg["exporters"].values():
        exporter["endpoint"] = f"http://127.0.0.1:{sink_port}"
    cfg.setdefault("service", {})["telemetry"] = {"metrics": {"level": "none"}}
    path = work / "collector.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return [sys.executable, "-m", "otelflow", "--config", str(path)], port


def drive(port: int, body: bytes, rate: float, count: int, pid: int, warmup: int) -> float:
    """Send warmup + count requests at ``rate``; µs of the collector's CPU per timed request."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/x-protobuf"}
    interval = 1.0 / rate
    begin = 0
    due = time.monotonic()
    for i in range(warmup + count):
        if i == warmup:
            time.sleep(0.5)  # let warm-up exports finish
            begin = task_ns(pid)
            due = time.monotonic()
        conn.request("POST", "/v1/traces", body, headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"collector answered {resp.status}")
        due += interval
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    time.sleep(0.5)  # the exports the last requests caused
    return (task_ns(pid) - begin) / count / 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=HERE / "configs" / "passthrough-queue-batch.yaml")
    ap.add_argument("--peers", default="otelflow,rotel",
                    help='otelflow, rotel, or otelflow=DIR for the otelflow of another checkout')
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--spans", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--py-spy", type=Path, help="profile otelflow's runs (py-spy, collapsed stacks) into this file;"
                    " the sampling costs CPU, so the figures of such a run are not comparable")
    args = ap.parse_args()
    os.sched_setaffinity(0, {0})
    body = request_body(args.spans)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sink_port = free_port()
        sink_cfg = work / "sink.yaml"
        sink_cfg.write_text(yaml.safe_dump({
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{sink_port}"}}}},
            "exporters": {"nop": {}},
            "service": {"telemetry": {"metrics": {"level": "none"}},
                        "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["nop"]}}}}))
        sink = start([sys.executable, "-m", "otelflow", "--config", str(sink_cfg)], sink_port, work / "sink.log", "0")
        try:
            for _ in range(args.repeats):
                for peer in args.peers.split(","):
                    # "otelflow=DIR": the otelflow of another checkout (DIR/src), to compare two commits
                    name, _, checkout = peer.partition("=")
                    cmd, port = collector(name, args.config, work, sink_port)
                    src = Path(checkout) / "src" if checkout else REPO / "src"
                    proc = start(cmd, port, work / "collector.log", "1", src)
                    spy = None
                    try:
                        time.sleep(1.0)
                        if args.py_spy and name == "otelflow":
                            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                                                    str(proc.pid), "--rate", "1000", "--format", "raw", "--nonblocking",
                                                    "-o", str(args.py_spy)], stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL)
                            time.sleep(1.0)
                        cost = drive(port, body, args.rate, args.requests, proc.pid, warmup=50)
                    finally:
                        if spy is not None:
                            spy.send_signal(2)
                            spy.wait(30)
                        stop(proc)
                    results.setdefault(peer, []).append(cost)
                    print(f"{peer:10s} {cost:7.0f} µs/request", flush=True)
        finally:
            stop(sink)
    print(f"\n{len(body)} B requests of {args.spans} spans at {args.rate:g}/s, {args.requests} timed, "
          f"{args.config.name}")
    for peer, costs in results.items():
        print(f"{peer:10s} median {statistics.median(costs):6.0f} µs/request  "
              f"({', '.join(f'{c:.0f}' for c in costs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
