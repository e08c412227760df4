"""The example fleet of docs/fleet.md, end to end, into a real otelflow process.

python-api (FastAPI under opentelemetry-instrument) -> go-svc (net/http + otelhttp) -> rust-svc
(axum + tracing-opentelemetry), and python-api -> Redis stream -> queue-consumer. Every process
runs on free loopback ports; one order goes in, every service is stopped with SIGTERM (so it
flushes), then otelflow, and the file exporter's OTLP/JSON lines must hold one connected trace,
the services' logs correlated to it, and the orders_total counter.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from otelflow.pdata import otlpjson
from tests.backends import free_port
from tests.process import Collector
from tests.sdk import REQUEST_OF

ROOT = Path(__file__).resolve().parents[2]
API_DIR = ROOT / "examples" / "python-api"
GO_BIN = ROOT / "examples" / "go-svc" / "bin" / "go-svc"
RUST_BIN = ROOT / "examples" / "rust-svc" / "target" / "release" / "rust-svc"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"
SERVICES = {"python-api", "go-svc", "rust-svc", "queue-consumer"}
CLIENT, SERVER, PRODUCER, CONSUMER = 3, 2, 4, 5  # Span.SpanKind values


def _missing() -> list[str]:
    missing = [tool for tool in ("go", "cargo", "redis-server") if shutil.which(tool) is None]
    if not INSTRUMENT.exists() and shutil.which("opentelemetry-instrument") is None:
        missing.append("opentelemetry-instrument")
    try:
        import fastapi, redis, uvicorn  # noqa: F401
    except ImportError as e:
        missing.append(f"python package {e.name}")
    return missing


if _missing():
    reason = (f"the example fleet needs {', '.join(_missing())}: the Go and Rust toolchains, then "
              "bash scripts/install-fleet-deps.sh (redis-server, Python packages)")
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def collector_config(grpc: int, http: int, out: Path) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
processors:
  batch: {{timeout: 200ms}}
exporters:
  file: {{path: "{out}", flush_interval: 100ms}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [file]}}
    metrics: {{receivers: [otlp], processors: [batch], exporters: [file]}}
    logs: {{receivers: [otlp], processors: [batch], exporters: [file]}}
"""


def wait_for(predicate, what: str, procs: dict, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for name, (proc, log) in procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode} while waiting for {what}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            if predicate():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def attrs(kvs) -> dict:
    out = {}
    for kv in kvs:
        v = kv.value
        out[kv.key] = getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
    return out


def read_output(path: Path) -> dict[str, list]:
    out = {"traces": [], "metrics": [], "logs": []}
    for line in path.read_text().splitlines():
        signal_ = {"resourceSpans": "traces", "resourceMetrics": "metrics", "resourceLogs": "logs"}[next(iter(json.loads(line)))]
        out[signal_].append(otlpjson.decode(line, REQUEST_OF[signal_]))
    return out


@pytest.fixture(scope="module")
def fleet():
    build = subprocess.run(["bash", str(ROOT / "scripts" / "build-fleet.sh")], capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, f"build-fleet.sh failed:\n{build.stdout}\n{build.stderr}"

    work = Path(tempfile.mkdtemp(prefix="otelflow-fleet-"))
    out = work / "fleet.jsonl"
    grpc, http = free_port(), free_port()
    ports = {name: free_port() for name in ("redis", "go", "rust", "api")}
    procs: dict[str, tuple[subprocess.Popen, Path]] = {}

    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc}",
        "OTEL_RESOURCE_ATTRIBUTES": "service.version=0.1.0,deployment.environment=test",
    }
    python_otel = {
        **otel,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS": "healthz",
        "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "ORDERS_STREAM": "orders",
        "PYTHONPATH": str(API_DIR),
    }
    instrument = str(INSTRUMENT if INSTRUMENT.exists() else shutil.which("opentelemetry-instrument"))

    def start(name: str, argv: list[str], env: dict, cwd: Path | None = None) -> None:
        log = work / f"{name}.log"
        proc = subprocess.Popen(argv, env={**base, **env}, cwd=cwd, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        procs[name] = (proc, log)

    collector = Collector(collector_config(grpc, http, out))
    try:
        start("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(ports["redis"]), "--save", "",
                        "--appendonly", "no", "--dir", str(work)], {})
        collector.start()
        start("rust-svc", [str(RUST_BIN)], {**otel, "RUST_SVC_ADDR": f"127.0.0.1:{ports['rust']}"})
        start("go-svc", [str(GO_BIN)], {**otel, "GO_SVC_ADDR": f"127.0.0.1:{ports['go']}",
                                        "RUST_SVC_URL": f"http://127.0.0.1:{ports['rust']}"})
        wait_for(lambda: listening(ports["redis"]), "redis", procs)
        start("queue-consumer", [instrument, sys.executable, str(API_DIR / "consumer.py")],
              {**python_otel, "OTEL_SERVICE_NAME": "queue-consumer"})
        start("python-api", [instrument, sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1",
                             "--port", str(ports["api"]), "--no-access-log"],
              {**python_otel, "OTEL_SERVICE_NAME": "python-api", "GO_SVC_URL": f"http://127.0.0.1:{ports['go']}"},
              cwd=API_DIR)
        for name in ("rust", "go", "api"):
            wait_for(lambda: listening(ports[name]), name, procs)

        import redis

        queue = redis.Redis(port=ports["redis"], decode_responses=True)
        wait_for(lambda: any(g["name"] == "fulfilment" for g in queue.xinfo_groups("orders")), "the consumer group", procs)

        request = urllib.request.Request(f"http://127.0.0.1:{ports['api']}/orders", method="POST",
                                         data=json.dumps({"sku": "widget", "quantity": 2}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=20) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "accepted" and answer["price_cents"] == "1250", answer

        def consumed() -> bool:
            group = next(g for g in queue.xinfo_groups("orders") if g["name"] == "fulfilment")
            return group["pending"] == 0 and group["last-delivered-id"] == answer["job"]

        wait_for(consumed, "the consumer to process the job", procs)
        time.sleep(1.5)  # at least one periodic metric export of orders_total

        logs = {}
        for name in ("python-api", "queue-consumer", "go-svc", "rust-svc"):
            proc, log = procs[name]
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise AssertionError(f"{name} did not stop on SIGTERM:\n{log.read_text(errors='replace')[-4000:]}")
            logs[name] = log.read_text(errors="replace")
            assert code in (0, -signal.SIGTERM), f"{name} exited with {code}:\n{logs[name][-4000:]}"
        assert collector.stop() == 0, collector.output()
        yield read_output(out), logs
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        collector.stop(signal.SIGKILL, timeout=10)


def spans_of(output) -> list[tuple[dict, object]]:
    return [(attrs(rs.resource.attributes), span) for req in output["traces"] for rs in req.resource_spans
            for ss in rs.scope_spans for span in ss.spans]


def one(items, what):
    assert len(items) == 1, f"expected one {what}, got {len(items)}"
    return items[0]


def the_trace(output):
    spans = spans_of(output)
    server = one([s for r, s in spans if r["service.name"] == "python-api" and s.kind == SERVER and s.name == "POST /orders"], "python-api server span")
    return server.trace_id, [(r, s) for r, s in spans if s.trace_id == server.trace_id]


def find(spans, service, kind=None, name=None):
    return one([s for r, s in spans if r["service.name"] == service and (kind is None or s.kind == kind)
                and (name is None or s.name == name)], f"{service} span kind={kind} name={name}")


def test_one_trace_spans_every_service(fleet):
    output, _ = fleet
    trace_id, spans = the_trace(output)
    assert {r["service.name"] for r, _ in spans} == SERVICES
    assert len(spans) >= 10, [(r["service.name"], s.name) for r, s in spans]


def test_parent_child_links_cross_every_hop(fleet):
    output, _ = fleet
    _, spans = the_trace(output)
    api_server = find(spans, "python-api", SERVER)
    place = find(spans, "python-api", name="place-order")
    api_client = find(spans, "python-api", CLIENT)
    publish = find(spans, "python-api", PRODUCER)
    go_server = find(spans, "go-svc", SERVER)
    check = find(spans, "go-svc", name="check-stock")
    go_client = find(spans, "go-svc", CLIENT)
    rust_server = find(spans, "rust-svc", SERVER)
    consume = find(spans, "queue-consumer", CONSUMER, "consume")

    assert place.parent_span_id == api_server.span_id
    assert api_client.parent_span_id == place.span_id
    assert publish.parent_span_id == place.span_id
    assert go_server.parent_span_id == api_client.span_id, "go-svc did not continue python-api's traceparent"
    assert check.parent_span_id == go_server.span_id
    assert go_client.parent_span_id == check.span_id
    assert rust_server.parent_span_id == go_client.span_id, "rust-svc did not continue go-svc's traceparent"
    assert consume.parent_span_id == publish.span_id or any(l.span_id == publish.span_id for l in consume.links)

    assert attrs(place.attributes) == {"shop.sku": "widget", "shop.quantity_bucket": "2-9"}
    assert attrs(go_server.attributes)["http.route"] == "/stock/{sku}" and go_server.name == "GET /stock/{sku}"
    assert attrs(rust_server.attributes)["http.route"] == "/price/{sku}"
    assert attrs(consume.attributes)["messaging.message.id"] == attrs(publish.attributes)["messaging.message.id"]


def test_every_resource_names_service_and_environment(fleet):
    output, _ = fleet
    seen = set()
    for signal_, field in (("traces", "resource_spans"), ("metrics", "resource_metrics"), ("logs", "resource_logs")):
        for req in output[signal_]:
            for res in getattr(req, field):
                a = attrs(res.resource.attributes)
                assert a.get("service.name") in SERVICES, (signal_, a)
                assert a.get("deployment.environment") == "test", (signal_, a)
                assert a.get("service.version") == "0.1.0", (signal_, a)
                seen.add((signal_, a["service.name"]))
    assert {s for sig, s in seen if sig == "traces"} == SERVICES
    assert {s for sig, s in seen if sig == "logs"} == SERVICES


def test_logs_carry_the_trace_and_span_ids(fleet):
    output, _ = fleet
    trace_id, spans = the_trace(output)
    records = [(attrs(rl.resource.attributes)["service.name"], lr) for req in output["logs"] for rl in req.resource_logs
               for sl in rl.scope_logs for lr in sl.log_records]

    def log(service, text):
        return one([lr for s, lr in records if s == service and text in lr.body.string_value], f"{service} log {text!r}")

    expected = {
        ("python-api", "placing order for widget"): find(spans, "python-api", name="place-order"),
        ("go-svc", "checking stock"): find(spans, "go-svc", SERVER),
        ("go-svc", "stock checked"): find(spans, "go-svc", name="check-stock"),
        ("rust-svc", "priced item"): find(spans, "rust-svc", SERVER),
        ("queue-consumer", "fulfilling order for widget"): find(spans, "queue-consumer", CONSUMER),
    }
    for (service, text), span in expected.items():
        record = log(service, text)
        assert record.trace_id == trace_id, (service, text)
        assert record.span_id == span.span_id, (service, text, span.name)


def test_orders_total_counter(fleet):
    output, _ = fleet
    points = [(attrs(rm.resource.attributes), m, dp) for req in output["metrics"] for rm in req.resource_metrics
              for sm in rm.scope_metrics for m in sm.metrics if m.name == "orders_total" for dp in m.sum.data_points]
    assert points, "no orders_total data point"
    for resource, metric, dp in points:
        assert resource["service.name"] == "python-api"
        assert metric.sum.is_monotonic
        assert attrs(dp.attributes) == {"shop.sku": "widget", "status": "accepted"}
        assert dp.as_int == 1
