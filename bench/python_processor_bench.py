#!/usr/bin/env python3
"""CPU per span of the ``python`` processor: no processor vs. an empty plugin vs. the redaction
example (examples/python-processor/redact_pii.py), plus the ``attributes`` processor for scale.

Requests look like an instrumented HTTP server's: ``--spans`` spans (default 100) of 10 attributes
each, one span in ten carrying an e-mail address and one in twenty a card number (what the
redaction example masks).

Two measurements:
- in process (default): the processor's ``consume`` alone, each request parsed just before,
  ``time.process_time`` around the call; best of ``--repeat`` runs;
- ``--e2e``: otelflow as a process (one worker) per config, otlp gRPC in, the ``debug`` exporter at
  basic verbosity out; the bench sends ``--requests`` requests over one gRPC channel, and the
  collector's CPU time (utime + stime from /proc, start-up excluded) is divided by the spans sent.

  python bench/python_processor_bench.py [--spans 100] [--requests 2000] [--repeat 5] [--e2e]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inproc import NullSink, cpu_us_per_item, processor  # bench/ is the script's directory
from netutil import free_port

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "python-processor"
EMPTY_PLUGIN = '''
class Empty:
    def __init__(self, config):
        pass

    def process_traces(self, batch):
        pass
'''
READ_PLUGIN = '''
class ReadAll:
    """Reads every attribute of every span, changes nothing: the API's floor for a useful plugin."""

    def __init__(self, config):
        pass

    def process_traces(self, batch):
        for span in batch.spans():
            span.attributes.items()
'''


def redact_config() -> dict:
    """python/redact as examples/python-processor/collector.yaml configures it (file made absolute)."""
    import yaml

    raw = yaml.safe_load((EXAMPLES / "collector.yaml").read_text())["processors"]["python/redact"]
    return {**raw, "file": str(EXAMPLES / raw["file"])}


def request(spans: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for key, value in (("service.name", "checkout"), ("service.version", "1.4.2"), ("telemetry.sdk.language", "python"),
                       ("host.name", "web-7f9c")):
        rs.resource.attributes.add(key=key).value.string_value = value
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.flask"
    for i in range(spans):
        sp = ss.spans.add(name="GET /checkout", kind=2, trace_id=(i + 1).to_bytes(16, "big"),
                          span_id=(i + 1).to_bytes(8, "big"), start_time_unix_nano=1_700_000_000_000_000_000 + i,
                          end_time_unix_nano=1_700_000_000_001_000_000 + i)
        a = sp.attributes
        a.add(key="http.method").value.string_value = "GET"
        a.add(key="http.scheme").value.string_value = "https"
        a.add(key="http.host").value.string_value = "shop.example.com"
        a.add(key="http.target").value.string_value = f"/checkout?order={i}"
        a.add(key="http.status_code").value.int_value = 200
        a.add(key="http.user_agent").value.string_value = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
        a.add(key="net.peer.ip").value.string_value = "10.0.3.17"
        a.add(key="http.route").value.string_value = "/checkout"
        a.add(key="enduser.id").value.string_value = f"jane.doe{i}@example.com" if i % 10 == 0 else f"user-{i}"
        a.add(key="payment.note").value.string_value = "card 4111 1111 1111 1111" if i % 20 == 0 else "paid by invoice"
    return req.SerializeToString()


# -- in process -------------------------------------------------------------------------------------


def build(kind: str, plugin_dir: Path):
    if kind == "none":
        return NullSink()
    if kind == "attributes (native hash)":
        type_, raw = "attributes", {"actions": [{"key": "enduser.id", "action": "hash"}]}
    else:
        type_ = "python"
        raw = {"empty plugin": {"file": str(plugin_dir / "empty.py"), "class": "Empty"},
               "read-all plugin": {"file": str(plugin_dir / "read_all.py"), "class": "ReadAll"},
               "redaction example": redact_config()}[kind]
    proc = processor(f"{type_}/bench", raw)
    asyncio.run(proc.start(None))
    return proc


KINDS = ["none", "attributes (native hash)", "empty plugin", "read-all plugin", "redaction example"]


def in_process(args, plugin_dir: Path) -> None:
    body = request(args.spans)
    print(f"in process: {args.spans} spans x 10 attributes per request, {len(body) / args.spans:.0f} bytes/span, "
          f"{args.requests} requests, best of {args.repeat}")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    base = None
    for kind in KINDS:
        proc = build(kind, plugin_dir)
        best = min(cpu_us_per_item(proc, body, ExportTraceServiceRequest, args.spans, args.requests)
                   for _ in range(args.repeat))
        base = best if base is None else base
        print(f"  {kind:26} {best:7.3f} us/span  (+{best - base:.3f})")


# -- end to end -------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def e2e_config(port: int, processor: str | None, plugin_dir: Path) -> str:
    import json

    procs = {"empty plugin": {"file": str(plugin_dir / "empty.py"), "class": "Empty"},
             "redaction example": redact_config()}
    block = f"processors:\n  python/bench: {json.dumps(procs[processor])}\n" if processor else ""
    chain = "[python/bench]" if processor else "[]"
    return f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:{port}}}}}}}
{block}exporters:
  debug: {{verbosity: basic}}
service:
  telemetry: {{metrics: {{level: none}}, logs: {{level: warn}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: {chain}, exporters: [debug]}}
"""


def e2e_run(processor: str | None, body: bytes, requests: int, plugin_dir: Path) -> float:
    import grpc

    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="pyproc-bench-"))
    cfg = workdir / "config.yaml"
    cfg.write_text(e2e_config(port, processor, plugin_dir))
    env = {**os.environ, "OTELFLOW_WORKERS": "1", "PYTHONPATH": str(REPO / "src")}
    log = open(workdir / "otelflow.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "otelflow", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
            deadline = time.monotonic() + 30
            while True:
                try:
                    call(body, timeout=5)
                    break
                except grpc.RpcError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError((workdir / "otelflow.log").read_text()) from None
                    time.sleep(0.1)
            for _ in range(50):  # warm up
                call(body, timeout=10)
            before = cpu_seconds(proc.pid)
            for _ in range(requests):
                call(body, timeout=10)
            return cpu_seconds(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def end_to_end(args, plugin_dir: Path) -> None:
    body = request(args.spans)
    spans = args.spans * args.requests
    print(f"\nend to end: otelflow process, otlp gRPC -> [processor] -> debug (basic); {args.requests} requests of "
          f"{args.spans} spans; median of {args.repeat} runs")
    base = None
    for kind in (None, "empty plugin", "redaction example"):
        runs = sorted(e2e_run(kind, body, args.requests, plugin_dir) / spans * 1e6 for _ in range(args.repeat))
        median = runs[len(runs) // 2]
        base = median if base is None else base
        print(f"  {kind or 'no processor':26} {median:7.2f} us CPU/span  (+{median - base:.2f})   runs: "
              + " ".join(f"{r:.2f}" for r in runs))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spans", type=int, default=100)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--e2e", action="store_true", help="also run otelflow processes (takes about a minute)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    plugin_dir = Path(tempfile.mkdtemp(prefix="pyproc-plugins-"))
    (plugin_dir / "empty.py").write_text(EMPTY_PLUGIN)
    (plugin_dir / "read_all.py").write_text(READ_PLUGIN)
    in_process(args, plugin_dir)
    if args.e2e:
        end_to_end(args, plugin_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
