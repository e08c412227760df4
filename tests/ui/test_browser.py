"""The UI in a real browser against a real all-in-one otelflow.

otelflow runs as a process (OTLP in → embedded_store, web_ui serving the API and the built UI); the
real OpenTelemetry Python SDK sends a failed and a successful request with an ERROR log inside the
failed one's span; then node scripts (ui/e2e/*.mjs) drive Debian's headless Chromium through
playwright-core, click through the UI and assert what it shows. Screenshots go to artifacts/ui/.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from tests.backends import free_port
from tests.process import Collector
from tests.sdk import SDKApp

REPO = Path(__file__).resolve().parents[2]
UI_DIR = REPO / "ui"
ARTIFACTS = REPO / "artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
SERVICE = "shop-api"
LOG_TEXT = "payment declined for order 1042"
METRIC = "shop.request.duration"


def require_chromium(path: str = CHROMIUM) -> str:
    """The browser's path; without it the test skips on a developer's machine and fails in CI."""
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    message = f"{path} is missing: run `bash scripts/install-browser.sh` (as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def config(grpc: int, http: int, ui: int, directory: Path) -> str:
    pipelines = "\n".join(f"    {s}: {{receivers: [otlp], exporters: [embedded_store]}}" for s in ("traces", "metrics", "logs"))
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
exporters:
  embedded_store: {{}}
extensions:
  embedded_store: {{directory: "{directory}"}}
  web_ui: {{endpoint: "127.0.0.1:{ui}"}}
service:
  extensions: [embedded_store, web_ui]
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
{pipelines}
"""


@dataclass
class Sent:
    error_trace: str
    error_span_count: int
    log_span: str  # the span the ERROR log was emitted in
    ok_trace: str
    ok_span_count: int


def send(endpoint: str) -> Sent:
    """A failed POST (4 spans, the ERROR log inside charge_card) and a successful GET (2 spans)."""
    app = SDKApp("http", endpoint, service_name=SERVICE)
    tracer = app.tracer_provider.get_tracer("shop.http", "1.0")
    latency = app.meter_provider.get_meter("shop.http", "1.0").create_histogram(METRIC, unit="ms")
    server = trace.SpanKind.SERVER
    with tracer.start_as_current_span("POST /orders", kind=server, attributes={"http.route": "/orders"}) as root:
        with tracer.start_as_current_span("validate_cart"):
            pass
        with tracer.start_as_current_span("INSERT shop.orders", kind=trace.SpanKind.CLIENT, attributes={"db.system": "postgresql"}):
            pass
        with tracer.start_as_current_span("charge_card", kind=trace.SpanKind.CLIENT) as charge:
            charge.set_status(Status(StatusCode.ERROR, "card declined"))
            app.log.error(LOG_TEXT)
        root.set_attribute("http.response.status_code", 502)
        root.set_status(Status(StatusCode.ERROR, "payment failed"))
    latency.record(48.0, {"http.route": "/orders"})
    with tracer.start_as_current_span("GET /orders/{id}", kind=server, attributes={"http.route": "/orders/{id}"}) as ok:
        with tracer.start_as_current_span("SELECT shop.orders", kind=trace.SpanKind.CLIENT):
            app.log.info("order 1042 found")
        ok.set_attribute("http.response.status_code", 200)
    latency.record(6.5, {"http.route": "/orders/{id}"})
    app.shutdown()
    return Sent(
        error_trace=format(root.get_span_context().trace_id, "032x"), error_span_count=4,
        log_span=format(charge.get_span_context().span_id, "016x"),
        ok_trace=format(ok.get_span_context().trace_id, "032x"), ok_span_count=2,
    )


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def wait_for(what: str, check, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (urllib.error.URLError, OSError, KeyError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"the API did not show {what} within {timeout} s (last error: {last})")


@dataclass
class Shop:
    url: str
    sent: Sent
    collector: Collector


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    require_chromium()
    if not (UI_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("ui/node_modules is missing: run `make ui`")
    grpc, http, ui = free_port(), free_port(), free_port()
    collector = Collector(config(grpc, http, ui, tmp_path_factory.mktemp("store"))).start()
    url = f"http://127.0.0.1:{ui}"
    try:
        with urllib.request.urlopen(url + "/", timeout=5) as resp:
            assert b"assets/app.js" in resp.read(), "GET / should serve the built UI"
        sent = send(f"http://127.0.0.1:{http}")
        api = url + "/api/v1"
        wait_for("the failed request's spans and log", lambda: (
            len((t := get_json(f"{api}/traces/{sent.error_trace}"))["spans"]) == sent.error_span_count
            and any(log["body"] == LOG_TEXT for log in t["logs"])))
        wait_for("the successful request's spans", lambda: len(get_json(f"{api}/traces/{sent.ok_trace}")["spans"]) == sent.ok_span_count)
        wait_for(f"the metric {METRIC}", lambda: any(m["name"] == METRIC for m in get_json(f"{api}/metrics")["metrics"]))
        yield Shop(url, sent, collector)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"GET {exc.url} answered {exc.code}: {exc.read()[:300]!r} (is the UI built? run `make ui`)") from exc
    finally:
        collector.stop()


def run_script(shop: Shop, script: str, **env: str | int) -> str:
    """Runs ui/e2e/<script> with node; its output is the failure message when it fails."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "UI_URL": shop.url, "ARTIFACTS": str(ARTIFACTS), "CHROMIUM": CHROMIUM,
                **{k: str(v) for k, v in env.items()}}
    try:
        proc = subprocess.run(["node", str(UI_DIR / "e2e" / script)], cwd=UI_DIR, env=full_env,
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} did not finish in 120 s:\n{exc.stdout or ''}{exc.stderr or ''}")
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(shop.collector.output().splitlines()[-30:])
        pytest.fail(f"{script} failed (exit {proc.returncode}):\n{output}\n--- otelflow's log (tail) ---\n{tail}")
    return output


def test_error_log_leads_to_its_trace_and_the_red_charts(shop):
    out = run_script(shop, "log-to-trace.mjs", LOG_TEXT=LOG_TEXT, TRACE_ID=shop.sent.error_trace,
                     SPAN_ID=shop.sent.log_span, SPAN_COUNT=shop.sent.error_span_count, SERVICE=SERVICE,
                     REQUESTS=2, ERRORS=1)
    assert "browser test passed" in out
    for name in ("logs", "waterfall", "red"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000, f"screenshot {name}.png is missing or blank"


def test_trace_search_and_metrics_view(shop):
    out = run_script(shop, "search-and-metrics.mjs", SERVICE=SERVICE, TRACE_ID=shop.sent.error_trace,
                     OK_TRACE_ID=shop.sent.ok_trace, METRIC=METRIC, LABEL_KEY="http.route", LABEL_VALUE="/orders")
    assert "browser test passed" in out
    for name in ("trace-search", "metrics"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def test_missing_chromium_fails_under_ci_and_skips_elsewhere(monkeypatch, tmp_path):
    absent = str(tmp_path / "chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_chromium(absent)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_chromium(absent)
