"""The live doctor: the real Python SDK makes each common mistake against a real otelflow (the
all-in-one default config, with a short window), and each shows up on /api/v1/doctor and in
``otelflow doctor --url`` naming the service and the key; a healthy service yields nothing."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from tests.backends import free_port

SERVER, CLIENT, INTERNAL = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL

# service -> {(rule, key)} the doctor must report, and nothing else
EXPECTED = {
    "big-spans": {("span_attributes", "profile.field_122, profile.field_123, profile.field_124")},
    "metrics-app": {("metric_cardinality", "user_id")},
    "no-version": {("missing_resource_attribute", "service.version")},
    "simple-processor": {("simple_span_processor", "")},
    "frontend": set(),
    "backend": {("propagation_break", "frontend")},
    "gateway": set(),
    "inventory": {("clock_skew", "gateway")},
    "batch-job": {("lost_parent", "step")},
    "healthy": set(),
}


def _resource(name: str, version: bool = True) -> Resource:
    attrs = {"service.name": name, "deployment.environment.name": "test"}
    if version:
        attrs["service.version"] = "1.2.3"
    return Resource.create(attrs)


def _tracer(endpoint: str, name: str, *, simple: bool = False, version: bool = True, delay_ms: int = 200):
    provider = TracerProvider(resource=_resource(name, version), shutdown_on_exit=False)
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
    provider.add_span_processor(SimpleSpanProcessor(exporter) if simple else
                                BatchSpanProcessor(exporter, schedule_delay_millis=delay_ms))
    return provider, provider.get_tracer("doctor-test")


def send_mistakes(endpoint: str) -> None:
    """Each mistake once, one after the other (so no two services' spans overlap in time by chance)."""
    providers = []
    logging.getLogger("opentelemetry.attributes").setLevel(logging.ERROR)  # one warning per dropped attribute

    # a span with 250 attributes (the SDK keeps the last 128 and counts the rest as dropped)
    p, t = _tracer(endpoint, "big-spans")
    with t.start_as_current_span("load-profile") as span:
        for i in range(250):
            span.set_attribute(f"profile.field_{i:03d}", i)
    providers.append(p)

    # a counter labelled with user_id over 10k values
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint, insecure=True),
                                           export_interval_millis=60_000)
    meters = MeterProvider(resource=_resource("metrics-app"), metric_readers=[reader], shutdown_on_exit=False)
    orders = meters.get_meter("doctor-test").create_counter("orders")
    for i in range(10_000):
        orders.add(1, {"user_id": f"user-{i}", "region": "eu"})
    reader.force_flush()  # three exports of the same 10k series, as three export intervals would send
    reader.force_flush()
    meters.shutdown()

    # no service.version
    p, t = _tracer(endpoint, "no-version", version=False)
    with t.start_as_current_span("work", kind=SERVER):
        pass
    providers.append(p)

    # SimpleSpanProcessor: one request per span although traces hold three spans
    p, t = _tracer(endpoint, "simple-processor", simple=True)
    for _ in range(4):
        with t.start_as_current_span("handle", kind=SERVER):
            with t.start_as_current_span("load"):
                pass
            with t.start_as_current_span("save"):
                pass
    providers.append(p)

    # a propagation break: frontend calls backend, which starts a new trace (no context extracted)
    fp, front = _tracer(endpoint, "frontend")
    bp, back = _tracer(endpoint, "backend")
    for _ in range(4):
        with front.start_as_current_span("GET /checkout", kind=SERVER):
            with front.start_as_current_span("POST /pay", kind=CLIENT):
                time.sleep(0.002)
                with back.start_as_current_span("POST /pay", kind=SERVER, context=Context()):
                    time.sleep(0.002)
    providers += [fp, bp]

    # clock skew: inventory's clock runs 2 s behind gateway's
    gp, gateway = _tracer(endpoint, "gateway")
    ip, inventory = _tracer(endpoint, "inventory")
    for _ in range(3):
        with gateway.start_as_current_span("GET /stock", kind=SERVER):
            with gateway.start_as_current_span("GET /stock", kind=CLIENT) as call:
                ctx = trace.set_span_in_context(call)
                start = call.start_time - 2_000_000_000
                inventory.start_span("GET /stock", kind=SERVER, context=ctx, start_time=start).end(end_time=start + 1_000_000)
    providers += [gp, ip]

    # an SDK that stops mid-request: its steps are exported, the job span never is
    jp, job_tracer = _tracer(endpoint, "batch-job", delay_ms=60_000)
    job = job_tracer.start_span("job", kind=SERVER)
    ctx = trace.set_span_in_context(job)
    for _ in range(3):
        job_tracer.start_span("step", context=ctx).end()
    jp.force_flush()
    providers.append(jp)  # shut down below with the job still open: it is never exported

    # healthy: batch processor, every resource attribute, ordinary traces
    p, t = _tracer(endpoint, "healthy")
    for _ in range(5):
        with t.start_as_current_span("GET /home", kind=SERVER):
            with t.start_as_current_span("render"):
                pass
            with t.start_as_current_span("SELECT users", kind=CLIENT):
                pass
    providers.append(p)

    for provider in providers:
        provider.shutdown()


def start_all_in_one(tmp_path: Path, workers: int = 1) -> tuple[subprocess.Popen, int, int]:
    grpc, http, ui = free_port(), free_port(), free_port()
    log = tmp_path / "otelflow.log"
    args = [sys.executable, "-m", "otelflow", "--workers", str(workers), "--data-dir", str(tmp_path / "data"),
            "--set", f"receivers::otlp::protocols::grpc::endpoint=127.0.0.1:{grpc}",
            "--set", f"receivers::otlp::protocols::http::endpoint=127.0.0.1:{http}",
            "--set", f"extensions::web_ui::endpoint=127.0.0.1:{ui}",
            "--set", "extensions::doctor::window=2s", "--set", "extensions::doctor::interval=0.5s",
            "--set", "service::telemetry::metrics::level=none"]
    proc = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 40
    while log.read_bytes().count(b"Everything is ready") < workers:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return proc, grpc, ui


def doctor_report(ui: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui}/api/v1/doctor", timeout=10) as resp:
        return json.load(resp)


def by_service(report: dict) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for f in report["findings"]:
        out.setdefault(f["service"], set()).add((f["rule"], f["key"]))
    return out


def wait_for_findings(ui: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        report = doctor_report(ui)
        got = by_service(report)
        if all(got.get(s, set()) >= want for s, want in EXPECTED.items()) or time.monotonic() > deadline:
            return report
        time.sleep(0.3)


def check(report: dict) -> None:
    got = by_service(report)
    assert {s: got.get(s, set()) for s in EXPECTED} == EXPECTED, json.dumps(report["findings"], indent=1)
    assert {s["name"] for s in report["services"]} == set(EXPECTED)
    bomb = next(f for f in report["findings"] if f["rule"] == "metric_cardinality")
    assert bomb["severity"] == "error" and bomb["details"]["metric"] == "orders"
    assert bomb["details"]["distinct_values"] > 1000
    big = next(f for f in report["findings"] if f["rule"] == "span_attributes")
    assert big["details"]["max_attributes"] == 250 and big["details"]["dropped"] == 122
    skew = next(f for f in report["findings"] if f["rule"] == "clock_skew")
    assert 1900 <= skew["details"]["max_skew_ms"] <= 2100


def run_cli(ui: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "otelflow", "doctor", "--url", f"http://127.0.0.1:{ui}", *extra],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("workers", [1, 2])
def test_each_sdk_mistake_is_reported_by_service_and_key(tmp_path, workers):
    proc, grpc, ui = start_all_in_one(tmp_path, workers)
    try:
        send_mistakes(f"127.0.0.1:{grpc}")
        report = wait_for_findings(ui)
        check(report)
        assert report["workers"] == {"count": workers, "reporting": workers}

        cli = run_cli(ui)
        assert cli.returncode == 1, cli.stdout + cli.stderr  # error-level findings
        for service, wanted in EXPECTED.items():
            for rule, key in wanted:
                block = cli.stdout.split(f"service {service}\n", 1)[1].split("\nservice ", 1)[0]
                assert f"[{rule}]" in block and (not key or f"key={key}" in block), cli.stdout
        assert "no finding for: frontend, gateway, healthy" in cli.stdout
        as_json = json.loads(run_cli(ui, "--format", "json").stdout)
        assert by_service(as_json) == by_service(report)
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_cli_says_when_the_url_does_not_answer():
    cli = run_cli(free_port())
    assert cli.returncode == 2
    assert "does not answer" in cli.stdout + cli.stderr


def _config(grpc: int, ui: int, data: Path, limit: int) -> str:
    return f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc}"}}}}}}}}
exporters: {{embedded_store: {{}}}}
extensions:
  embedded_store: {{directory: "{data}"}}
  web_ui: {{endpoint: "127.0.0.1:{ui}"}}
  doctor: {{max_span_attributes: {limit}, window: 2s, interval: 500ms}}
service:
  extensions: [embedded_store, web_ui, doctor]
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{traces: {{receivers: [otlp], exporters: [embedded_store]}}}}
"""


def test_a_reload_that_changes_the_doctor_serves_the_new_one(tmp_path):
    """web_ui names its doctor, so a SIGHUP that restarts the doctor restarts the UI with it (no stale report)."""
    import signal

    from tests.process import Collector

    grpc, ui = free_port(), free_port()
    collector = Collector(_config(grpc, ui, tmp_path, 128)).start()
    try:
        p, t = _tracer(f"127.0.0.1:{grpc}", "wide")
        with t.start_as_current_span("op") as span:
            for i in range(100):
                span.set_attribute(f"k{i}", i)
        p.shutdown()
        deadline = time.monotonic() + 10
        while "wide" not in {s["name"] for s in doctor_report(ui)["services"]}:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert doctor_report(ui)["findings"] == []  # 100 attributes: under 128

        collector.config.write_text(_config(grpc, ui, tmp_path, 64))
        collector.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while True:
            try:
                report = doctor_report(ui)
                if report["settings"]["max_span_attributes"] == 64:
                    break
            except OSError:
                pass  # the UI restarts with the doctor
            assert time.monotonic() < deadline, collector.output()
            time.sleep(0.2)
        p, t = _tracer(f"127.0.0.1:{grpc}", "wide")
        with t.start_as_current_span("op") as span:
            for i in range(100):
                span.set_attribute(f"k{i}", i)
        p.shutdown()
        deadline = time.monotonic() + 10
        while not (found := by_service(doctor_report(ui)).get("wide")):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert {rule for rule, _ in found} == {"span_attributes"}
    finally:
        assert collector.stop() == 0
