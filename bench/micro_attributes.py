#!/usr/bin/env python3
"""Per-span (per-record) cost of the seed's attribute processors (attributes/scrub, resource), in process.

Three request shapes, 512 items per request by default:
- ``telemetrygen``: what `make bench-quick` sends (4 span attributes: net.peer.ip, peer.service,
  http.url, db.statement; env on the resource);
- ``sdk``: an instrumented HTTP server span as the OpenTelemetry SDKs make it (12 attributes, with
  http.url on every span and db.statement on one in three);
- ``logs``: log records with the same http.url and db.statement (the seed's logs pipeline runs
  attributes/scrub too).

For each it prints microseconds per item of attributes/scrub (with the native action loop,
otelflow.native._attrs, and with the pure-Python reference) and of resource (Python: one list per
resource, not per span), the actions of ../shared/seed/otel-collector-config.yaml, and the parse
cost for scale. ``--profile`` adds a cProfile listing of attributes/scrub on the path in use.

  python bench/micro_attributes.py [--spans 512] [--requests 100] [--shape sdk|telemetrygen|logs] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

from inproc import cpu_us_per_item, processor, run_once  # bench/ is the script's directory

REPO = Path(__file__).resolve().parents[1]
SEED_PROCESSORS = {
    "attributes/scrub": {"actions": [{"key": "http.url", "action": "hash"},
                                     {"key": "db.statement", "action": "delete"}]},
    "resource": {"attributes": [{"key": "deployment.environment", "from_attribute": "env", "action": "insert"}]},
}


def request_type(shape: str):
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return ExportLogsServiceRequest if shape == "logs" else ExportTraceServiceRequest


def logs_request(records: int) -> bytes:
    """telemetrygen's logs with the bench's attributes (the seed's logs pipeline scrubs them too)."""
    req = request_type("logs")()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "telemetrygen"
    sl = rl.scope_logs.add()
    for i in range(records):
        rec = sl.log_records.add(time_unix_nano=1_700_000_000_000_000_000 + i, severity_number=9, severity_text="Info")
        rec.body.string_value = "the message"
        rec.attributes.add(key="app").value.string_value = "server"
        rec.attributes.add(key="http.url").value.string_value = "https://shop.example.com/checkout?card=4111111111111111"
        rec.attributes.add(key="db.statement").value.string_value = "SELECT * FROM orders WHERE id = 42"
    return req.SerializeToString()


def request(shape: str, spans: int) -> bytes:
    if shape == "logs":
        return logs_request(spans)
    req = request_type(shape)()
    rs = req.resource_spans.add()
    res = rs.resource.attributes
    res.add(key="service.name").value.string_value = "telemetrygen" if shape == "telemetrygen" else "checkout"
    res.add(key="env").value.string_value = "bench"
    if shape == "sdk":
        res.add(key="telemetry.sdk.language").value.string_value = "python"
        res.add(key="telemetry.sdk.name").value.string_value = "opentelemetry"
        res.add(key="telemetry.sdk.version").value.string_value = "1.39.1"
        res.add(key="host.name").value.string_value = "web-7f9c"
    ss = rs.scope_spans.add()
    ss.scope.name = "telemetrygen" if shape == "telemetrygen" else "opentelemetry.instrumentation.flask"
    for i in range(spans):
        sp = ss.spans.add(name="okey-dokey-0" if shape == "telemetrygen" else "GET /checkout", kind=2,
                          trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"),
                          start_time_unix_nano=1_700_000_000_000_000_000 + i,
                          end_time_unix_nano=1_700_000_000_001_000_000 + i)
        attrs = sp.attributes
        if shape == "telemetrygen":
            attrs.add(key="net.peer.ip").value.string_value = "1.2.3.4"
            attrs.add(key="peer.service").value.string_value = "telemetrygen-client"
            attrs.add(key="http.url").value.string_value = "https://shop.example.com/checkout?card=4111111111111111"
            attrs.add(key="db.statement").value.string_value = "SELECT * FROM orders WHERE id = 42"
            continue
        attrs.add(key="http.method").value.string_value = "GET"
        attrs.add(key="http.scheme").value.string_value = "https"
        attrs.add(key="http.host").value.string_value = "shop.example.com"
        attrs.add(key="http.target").value.string_value = f"/checkout?order={i}"
        attrs.add(key="http.url").value.string_value = f"https://shop.example.com/checkout?order={i}&card=4111111111111111"
        attrs.add(key="http.status_code").value.int_value = 200
        attrs.add(key="http.user_agent").value.string_value = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
        attrs.add(key="net.host.port").value.int_value = 443
        attrs.add(key="net.peer.ip").value.string_value = "10.0.3.17"
        attrs.add(key="http.route").value.string_value = "/checkout"
        attrs.add(key="http.flavor").value.string_value = "1.1"
        if i % 3 == 0:
            attrs.add(key="db.statement").value.string_value = f"SELECT * FROM orders WHERE id = {i}"
        else:
            attrs.add(key="server.duration_ms").value.double_value = 12.5
    return req.SerializeToString()


def build(name: str, native: bool, shape: str = "telemetrygen"):
    proc = processor(name, SEED_PROCESSORS[name], "logs" if shape == "logs" else "traces")
    if not native:
        native_off(proc)
    return proc


def native_off(proc) -> None:
    """Makes a processor take the pure-Python path (the reference), whichever version this is."""
    for owner in (proc, getattr(proc, "proc", None)):
        if owner is not None and hasattr(owner, "native"):
            owner.native = None




def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spans", type=int, default=512)
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--shape", choices=["telemetrygen", "sdk", "logs", "all"], default="all")
    p.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    from otelflow.processors.attraction import native as bridge

    have_native = bridge._attrs is not None
    print(f"native action loop: {'on' if have_native else 'off (not built: python setup.py build_ext --inplace; or OTELFLOW_NATIVE_ATTRS=0)'}")
    shapes = ["telemetrygen", "sdk", "logs"] if args.shape == "all" else [args.shape]
    for shape in shapes:
        body = request(shape, args.spans)
        kind = request_type(shape)
        items = "records" if shape == "logs" else "spans"
        print(f"\n{shape}: {args.spans} {items}/request, {len(body) / args.spans:.0f} bytes each (figures per item)")
        for name in SEED_PROCESSORS:
            for native in ((True, False) if have_native and name.startswith("attributes") else (False,)):
                proc = build(name, native, shape)
                best = min(cpu_us_per_item(proc, body, kind, args.spans, args.requests) for _ in range(args.repeat))
                print(f"  {name:18} {'native' if native else 'python':6} {best:6.3f} us/item")
        started = time.process_time()
        for _ in range(args.requests):
            kind.FromString(body)
        print(f"  {'(parse only)':25} {(time.process_time() - started) / (args.spans * args.requests) * 1e6:6.3f} us/item")
        if args.profile:
            proc = build("attributes/scrub", have_native, shape)
            reqs = [kind.FromString(body) for _ in range(args.requests)]
            prof = cProfile.Profile()
            prof.enable()
            for r in reqs:
                run_once(proc, r)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
