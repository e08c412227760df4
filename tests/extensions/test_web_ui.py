"""web_ui: a collector (otlp -> embedded_store, extensions embedded_store + web_ui) fed by the real
Python SDK answers the JSON API over HTTP; bad parameters are 400s; the UI files are served when
built and a hint is given when not; start fails clearly without an embedded store."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from otelflow.config import collector, loader
from otelflow.core.component import ComponentID, Host, Kind, Settings
from otelflow.core.registry import default_registry
from otelflow.core.service import Service, StartError
from otelflow.core.telemetry import Telemetry
from otelflow.extensions import embedded_store, web_ui
from tests.backends import free_port
from tests.conftest import running
from tests.sdk import SDKApp


def test_defaults_and_registry():
    cfg = web_ui.Config()
    assert (cfg.endpoint, cfg.store) == ("localhost:4380", "embedded_store")
    assert default_registry.get(Kind.EXTENSION, "web_ui") is web_ui.factory
    with pytest.raises(ValueError, match="host:port"):
        web_ui.Config(endpoint="4380")
    with pytest.raises(ValueError, match="not a valid ID"):
        web_ui.Config(store="a/")


def _yaml(tmp_path, ui_port: int, otlp_port: int) -> str:
    return f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{otlp_port}"}}}}}}}}
exporters: {{embedded_store: {{wait_for_commit: true}}}}
extensions:
  embedded_store: {{directory: "{tmp_path}", commit_interval: 10ms}}
  web_ui: {{endpoint: "127.0.0.1:{ui_port}"}}
service:
  telemetry: {{metrics: {{level: none}}}}
  extensions: [embedded_store, web_ui]
  pipelines:
    traces: {{receivers: [otlp], exporters: [embedded_store]}}
    logs: {{receivers: [otlp], exporters: [embedded_store]}}
    metrics: {{receivers: [otlp], exporters: [embedded_store]}}
"""


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with http.get(url) as resp:
        assert resp.content_type == "application/json"
        return resp.status, await resp.json()


async def test_sdk_data_through_the_api(tmp_path, caplog):
    ui_port, otlp_port = free_port(), free_port()
    caplog.set_level(logging.INFO, logger="otelflow.extension.web_ui")
    async with running(_yaml(tmp_path, ui_port, otlp_port)):
        assert f"otelflow UI: http://127.0.0.1:{ui_port}/" in caplog.text
        app = SDKApp("http", f"http://127.0.0.1:{otlp_port}", service_name="checkout")
        await asyncio.to_thread(app.emit, 3)
        await asyncio.to_thread(app.shutdown)  # flushes; an export returns once its rows are committed
        now_us = time.time_ns() // 1000
        base = f"http://127.0.0.1:{ui_port}/api/v1"
        async with aiohttp.ClientSession() as http:
            status, services = await _get(http, f"{base}/services")
            assert status == 200
            (svc,) = services["services"]
            assert (svc["name"], svc["spans"], svc["errors"]) == ("checkout", 6, 1)
            assert now_us - 60_000_000 < svc["last_seen_us"] <= now_us

            _, ops = await _get(http, f"{base}/operations?service=checkout")
            assert [(o["name"], o["kind"], o["count"], o["errors"]) for o in ops["operations"]] == [
                ("POST /checkout", "server", 3, 0), ("charge_card", "internal", 3, 1)]

            _, found = await _get(http, f"{base}/traces?service=checkout")
            traces = found["traces"]
            assert len(traces) == 3 and all(t["span_count"] == 2 and t["root_name"] == "POST /checkout" for t in traces)
            assert [t["start_us"] for t in traces] == sorted((t["start_us"] for t in traces), reverse=True)
            _, errors = await _get(http, f"{base}/traces?status=error")
            assert [t["error_count"] for t in errors["traces"]] == [1]
            _, by_attr = await _get(http, f"{base}/traces?attr=http.status_code=200&attr=http.route=/checkout")
            assert len(by_attr["traces"]) == 3
            _, by_res = await _get(http, f"{base}/traces?attr=service.version=1.2.3&operation=charge_card&limit=2")
            assert len(by_res["traces"]) == 2

            first = traces[-1]["trace_id"]  # the oldest trace: order 0, which logged "charged order 0"
            status, trace = await _get(http, f"{base}/traces/{first.upper()}")
            assert status == 200 and trace["trace_id"] == first
            root, child = trace["spans"]
            assert (root["name"], root["parent_span_id"], child["parent_span_id"]) == ("POST /checkout", "", root["span_id"])
            assert root["attributes"]["tags"] == ["a", "b"] and root["resource"]["service.version"] == "1.2.3"
            assert root["events"][0]["name"] == "cart.loaded" and root["scope_name"] == "shop.checkout"
            assert [(lg["body"], lg["span_id"]) for lg in trace["logs"]] == [("charged order 0", child["span_id"])]

            _, logs = await _get(http, f"{base}/logs?severity=ERROR")
            assert [lg["body"] for lg in logs["logs"]] == ["payment failed for order 1"]
            _, logs = await _get(http, f"{base}/logs?q=CHARGED&service=checkout")
            assert [lg["body"] for lg in logs["logs"]] == ["charged order 2", "charged order 0"]

            _, red = await _get(http, f"{base}/red?service=checkout")
            assert red["totals"] == {"requests": 3, "errors": 0, "error_spans": 1} and len(red["points"]) == 60

            _, metrics = await _get(http, f"{base}/metrics")
            by_name = {m["name"]: m for m in metrics["metrics"]}
            assert by_name["orders_total"]["type"] == "sum" and by_name["orders_total"]["label_keys"] == ["region", "tier"]
            assert by_name["checkout.duration"]["type"] == "histogram"
            _, orders = await _get(http, f"{base}/metrics/query?name=orders_total&step_s=60")
            (series,) = orders["series"]
            assert series["labels"] == {"region": "ap-south-1", "tier": "pro"}
            # one cumulative point of 3 whose start lies in the window: 3 orders in its bucket
            assert sum((p["value"] or 0) * 60 for p in series["points"]) == pytest.approx(3.0)
            _, latency = await _get(http, f"{base}/metrics/query?name=checkout.duration&group_by=route")
            values = [p["value"] for p in latency["series"][0]["points"] if p["value"] is not None]
            assert values == [pytest.approx((12.5 + 25 + 37.5) / 3)]

            _, stats = await _get(http, f"{base}/stats")
            assert (stats["spans"], stats["logs"]) == (6, 4) and stats["metric_points"] >= 3
            assert stats["database_bytes"] > 0 and stats["oldest_us"] <= stats["newest_us"]


@pytest.mark.parametrize("path, status, message", [
    ("/api/v1/operations", 400, "service is required"),
    ("/api/v1/traces?limit=5000", 400, "limit must be at most 1000"),
    ("/api/v1/traces?status=broken", 400, "status must be one of"),
    ("/api/v1/traces?start_us=20&end_us=10", 400, "must not be after"),
    ("/api/v1/logs?severity=LOUD", 400, "severity must be one of"),
    ("/api/v1/red?service=s&step_s=x", 400, "step_s must be an integer"),
    ("/api/v1/metrics/query", 400, "name is required"),
    ("/api/v1/traces/not-a-trace-id", 400, "trace_id must be 32 hex digits"),
    ("/api/v1/traces/" + "0" * 32, 404, "no span or log has this trace ID"),
    ("/api/v2/everything", 404, "see /api/v1/openapi.json"),
])
async def test_errors_are_json(ui, path, status, message):
    async with aiohttp.ClientSession() as http:
        got, body = await _get(http, ui.url + path)
    assert got == status and message in body["error"]


async def test_openapi_document(ui):
    async with aiohttp.ClientSession() as http:
        status, doc = await _get(http, ui.url + "/api/v1/openapi.json")
    assert status == 200 and doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {f"/api/v1/{p}" for p in (
        "services", "operations", "traces", "traces/{trace_id}", "logs", "red", "metrics", "metrics/query", "stats",
        "doctor", "sampling/what-if", "openapi.json", "dependencies", "tail/traces", "tail/logs", "import",
        "export/trace/{trace_id}", "export/traces", "export/logs")}
    trace_params = {p["name"] for p in doc["paths"]["/api/v1/traces"]["get"]["parameters"]}
    assert trace_params == {"service", "operation", "min_duration_us", "max_duration_us", "status", "attr", "start_us",
                            "end_us", "limit", "parent_service"}
    assert "404" in doc["paths"]["/api/v1/traces/{trace_id}"]["get"]["responses"]
    assert set(doc["components"]["schemas"]["Span"]["required"]) >= {"span_id", "events", "links", "status_code"}


async def test_ui_files_or_a_hint(ui, tmp_path):
    static = tmp_path / "static"
    ui.ext.static_root = static
    async with aiohttp.ClientSession() as http:
        async with http.get(ui.url + "/") as resp:  # not built: a hint, and the API still answers
            assert resp.status == 503 and resp.content_type == "text/plain"
            assert "UI assets are not built: run `make ui`" in await resp.text()
        assert (await _get(http, ui.url + "/api/v1/stats"))[0] == 200
        (static / "assets").mkdir(parents=True)
        (static / "index.html").write_text("<!doctype html><title>otelflow</title>")
        (static / "assets" / "app.js").write_text("console.log('hi')")
        (static / "assets" / "app.css").write_text("body{}")
        (tmp_path / "secret.txt").write_text("not for you")
        async with http.get(ui.url + "/") as resp:
            assert resp.status == 200 and resp.content_type == "text/html" and "otelflow" in await resp.text()
        for name, ctype in (("app.js", "text/javascript"), ("app.css", "text/css")):
            async with http.get(f"{ui.url}/assets/{name}") as resp:
                assert resp.status == 200 and resp.content_type == ctype
        for bad in ("/assets/missing.js", "/assets/%2E%2E/%2E%2E/secret.txt", "/assets/.hidden"):
            async with http.get(ui.url + bad) as resp:
                assert resp.status == 404, bad


def test_packaged_ui_directory_is_found():
    root = web_ui.static_root()
    assert root is not None and str(root).endswith("static")


class _UI:
    def __init__(self, ext: web_ui.WebUI):
        self.ext = ext
        self.url = f"http://127.0.0.1:{ext.port}"


def _settings(kind_id: str) -> Settings:
    return Settings(id=ComponentID.parse(kind_id), kind=Kind.EXTENSION, telemetry=Telemetry())


@pytest.fixture
async def ui(tmp_path):
    """web_ui started on its own over a real, empty embedded store."""
    store = embedded_store.create(_settings("embedded_store"), embedded_store.Config(directory=str(tmp_path / "db")))
    await store.start(Host())
    ext = web_ui.create(_settings("web_ui"), web_ui.Config(endpoint=f"127.0.0.1:{free_port()}"))
    await ext.start(Host({ComponentID("embedded_store"): store}))
    try:
        yield _UI(ext)
    finally:
        await ext.shutdown()
        await store.shutdown()


async def test_store_not_open_yet_is_503_and_localhost_is_loopback_only(tmp_path):
    # web_ui may start before the store (extensions start in config order): the API says 503 meanwhile
    store = embedded_store.create(_settings("embedded_store/x"), embedded_store.Config(directory=str(tmp_path)))
    ext = web_ui.create(_settings("web_ui"), web_ui.Config(endpoint=f"localhost:{free_port()}", store="embedded_store/x"))
    await ext.start(Host({ComponentID("embedded_store", "x"): store}))
    try:
        assert ext.addresses and all(addr == ("127.0.0.1", ext.port) for addr in ext.addresses)
        async with aiohttp.ClientSession() as http:
            status, body = await _get(http, f"http://127.0.0.1:{ext.port}/api/v1/services")
            assert status == 503 and "not open" in body["error"]
            await store.start(Host())
            status, body = await _get(http, f"http://127.0.0.1:{ext.port}/api/v1/services")
            assert status == 200 and body == {"services": []}
    finally:
        await ext.shutdown()
        await store.shutdown()


@pytest.mark.parametrize("with_health_check, store, message", [
    (False, "embedded_store", 'store "embedded_store" is not an extension of this service'),
    (True, "health_check", 'extension "health_check" is not an embedded_store'),
])
async def test_start_fails_without_an_embedded_store(with_health_check, store, message):
    other = f"health_check: {{endpoint: '127.0.0.1:{free_port()}'}}" if with_health_check else ""
    yaml = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{free_port()}"}}}}}}}}
exporters: {{debug: {{}}}}
extensions:
  web_ui: {{endpoint: "127.0.0.1:{free_port()}", store: {store}}}
  {other}
service:
  telemetry: {{metrics: {{level: none}}}}
  extensions: [{"health_check, " if with_health_check else ""}web_ui]
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
"""
    service = Service(collector.parse(loader.load([f"yaml:{yaml}"]), default_registry))
    with pytest.raises(StartError, match=message):
        await service.start()
