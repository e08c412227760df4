"""The influxdb exporter: the line protocol otelflow writes equals what otelcol-ref wrote for the same
metrics in each schema (``testdata/influxdb/expected.json``, recorded by ``testdata/influxdb/record.py``
into an HTTP server that keeps the bodies); a real InfluxDB 1.6 (Debian's ``influxd``,
``scripts/install-influxdb.sh``) on free ports stores what a real SDK app sent, read back by query.

Upstream writes a point's fields in Go map order (random), so lines compare as measurement, tags,
the set of fields and the timestamp.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.exporters.influxdb import Config
from otelflow.core.component import Signal
from otelflow.exporters.influxdb.lineprotocol import encode_line
from otelflow.pdata import REQUEST_TYPES, otlpjson
from tests.backends import free_port
from tests.conftest import running
from tests.sdk import SDKApp
from tests.system import require_program

TESTDATA = Path(__file__).parent / "testdata" / "influxdb"
REPO = Path(__file__).parents[2]
# input file -> the exporters (path on the capture server -> settings) that get it
RUNS = {
    "input_telegraf.json": {"/tp1": {"metrics_schema": "telegraf-prometheus-v1"},
                            "/tp2": {"metrics_schema": "telegraf-prometheus-v2", "payload_max_lines": 3}},
    "input_otel.json": {"/otel": {"metrics_schema": "otel-v1"}},
    "input_unsupported.json": {"/tp1": {"metrics_schema": "telegraf-prometheus-v1"}},
    "input_traces.json": {"/spans": {}, "/spans-dims": {"span_dimensions": ["service.name", "http.status_code", "ok"]}},
    "input_logs.json": {"/logs": {}, "/logs-dims": {"log_record_dimensions": ["user", "body", "host.name"]}},
}


def signal_of(name: str) -> str:
    return {"input_traces.json": "traces", "input_logs.json": "logs"}.get(name, "metrics")


class Capture:
    """An HTTP server standing where InfluxDB would: keeps each request's path, query, headers, body."""

    def __init__(self):
        self.port = free_port()
        self.requests: list[dict] = []
        self.runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "query": dict(request.query), "body": (await request.read()).decode(),
                              "user_agent": request.headers.get("User-Agent", "")})
        return web.Response(status=204)

    async def __aenter__(self) -> "Capture":
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


def request_bytes(name: str) -> bytes:
    """An input file (OTLP/JSON, hex IDs) as the binary protobuf request both collectors get."""
    return otlpjson.decode((TESTDATA / name).read_bytes(), REQUEST_TYPES[Signal(signal_of(name))]).SerializeToString()


def collector_yaml(port: int, capture: int, exporters: dict[str, dict], signal: str = "metrics") -> str:
    import yaml

    exp = {f"influxdb/{i}": {"endpoint": f"http://127.0.0.1:{capture}{path}", "v1_compatibility": {"enabled": True, "db": "otel"},
                             "retry_on_failure": {"enabled": False}, **settings}
           for i, (path, settings) in enumerate(exporters.items())}
    return yaml.safe_dump({
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "exporters": exp,
        "service": {"telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {signal: {"receivers": ["otlp"], "exporters": list(exp)}}},
    }, sort_keys=False)


async def run_all(start) -> dict:
    """Each input through a collector that ``start(config_path)`` launches; what the capture got."""
    out = {}
    for name, exporters in RUNS.items():
        async with Capture() as capture:
            port = free_port()
            with tempfile.TemporaryDirectory() as tmp:
                cfg = Path(tmp) / "config.yaml"
                cfg.write_text(collector_yaml(port, capture.port, exporters, signal_of(name)))
                proc = start(cfg)
                try:
                    async with aiohttp.ClientSession() as session:
                        for _ in range(200):
                            try:
                                async with session.post(f"http://127.0.0.1:{port}/v1/{signal_of(name)}", data=request_bytes(name),
                                                        headers={"Content-Type": "application/x-protobuf"}) as resp:
                                    status = resp.status
                                break
                            except aiohttp.ClientConnectionError:
                                await asyncio.sleep(0.1)
                    await asyncio.sleep(1.0)
                finally:
                    proc.terminate()
                    await asyncio.to_thread(proc.wait, 20)
            out[name] = {"status": status, "requests": sorted(capture.requests, key=lambda r: (r["path"], r["body"]))}
    return out


def parse_line(line: str) -> tuple:
    """(measurement+tags, sorted fields, timestamp): a line with its fields in any order."""
    head, fields, ts = _split_unescaped(line, " ")
    return head, tuple(sorted(_split_unescaped(fields, ","))), ts


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i, quoted = [], "", 0, False
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur += text[i:i + 2]
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if c == sep and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    return parts


def normalise(result: dict) -> dict:
    out = {}
    for name, run in result.items():
        by_path: dict[str, list] = {}
        for r in run["requests"]:
            lines = [parse_line(l) for l in _split_unescaped(r["body"], "\n") if l]
            by_path.setdefault(r["path"], []).append((r["query"], len(lines)))
            by_path.setdefault(r["path"] + " lines", []).extend(lines)
        out[name] = {"status": run["status"], **{k: sorted(v) for k, v in by_path.items()}}
    return json.loads(json.dumps(out))


def test_golden_exists():
    assert (TESTDATA / "expected.json").exists()


async def test_writes_what_otelcol_ref_writes():
    got = await run_all(lambda cfg: subprocess.Popen(
        [sys.executable, "-m", "otelflow", "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")}))
    want = json.loads((TESTDATA / "expected.json").read_text())
    assert normalise(got) == normalise(want)
    assert want["input_telegraf.json"]["requests"] and want["input_otel.json"]["requests"]
    assert not want["input_unsupported.json"]["requests"], "upstream refuses the whole request"


def test_line_protocol_escaping_and_formats():
    line = encode_line("m e,a", {"b": "x y", "a": "1=2,3", "empty": "", "": "v"},
                       {"f": 1.0, "i": 7, "s": 'say "hi"\\', "big": 1234567.0, "nan": float("nan")}, 5)
    assert line == 'm\\ e\\,a,a=1\\=2\\,3,b=x\\ y f=1,i=7i,s="say \\"hi\\"\\\\",big=1.234567e+06 5\n'


@pytest.mark.parametrize("raw, message", [
    ({"precision": "h"}, 'invalid precision "h", must be one of: ns, ms, s, us'),
    ({"span_dimensions": ["a", "a"]}, "duplicate span dimension(s) configured: a"),
    ({"metrics_schema": "x"}, "schema 'x' not recognized"),
])
def test_config_errors(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(Config, {"endpoint": "http://x", **raw}, "exporters::influxdb")


def test_write_urls_as_upstream():
    v2 = validate(Config, {"endpoint": "http://h:8086", "org": "o", "bucket": "b", "token": "t"}, "e")
    assert v2.write_url() == ("http://h:8086/api/v2/write?bucket=b&org=o&precision=ns", {"Authorization": "Token t"})
    v1 = validate(Config, {"endpoint": "http://h:8086/", "v1_compatibility": {"enabled": True, "db": "d"}}, "e")
    assert v1.write_url() == ("http://h:8086/write?db=d&precision=ns", {})


# -- a real InfluxDB ---------------------------------------------------------------------------------

@pytest.fixture
async def influxd(tmp_path):
    binary = require_program(shutil.which("influxd") or "/usr/bin/influxd", "scripts/install-influxdb.sh")
    http_port, rpc_port = free_port(), free_port()
    conf = tmp_path / "influxdb.conf"
    conf.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{tmp_path}/meta"
[data]
  dir = "{tmp_path}/data"
  wal-dir = "{tmp_path}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
""")
    proc = subprocess.Popen([binary, "-config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http_port}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with session.get(f"{url}/ping") as resp:
                        if resp.status == 204:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert time.monotonic() < deadline, "influxd did not start"
                await asyncio.sleep(0.1)
            async with session.post(f"{url}/query", data={"q": "CREATE DATABASE otel"}) as resp:
                assert resp.status == 200
        yield url
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)


async def query(url: str, q: str) -> list[dict]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/query", params={"db": "otel", "q": q}) as resp:
            body = await resp.json()
    series = body["results"][0].get("series", [])
    return [dict(zip(s["columns"], row)) for s in series for row in s["values"]]


async def test_sdk_metrics_read_back_from_a_real_influxdb(influxd):
    port = free_port()
    config = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
exporters:
  influxdb/v1:
    endpoint: {influxd}
    v1_compatibility: {{enabled: true, db: otel}}
  influxdb/v2schema:
    endpoint: {influxd}
    metrics_schema: telegraf-prometheus-v2
    v1_compatibility: {{enabled: true, db: otel}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    metrics: {{receivers: [otlp], exporters: [influxdb/v1, influxdb/v2schema]}}
    traces: {{receivers: [otlp], exporters: [influxdb/v1]}}
    logs: {{receivers: [otlp], exporters: [influxdb/v1]}}
"""
    async with running(config):
        app = SDKApp("http", f"http://127.0.0.1:{port}", service_name="shop")
        await asyncio.to_thread(app.emit, 3)
        await asyncio.to_thread(app.shutdown)
        for _ in range(100):
            rows = await query(influxd, 'SELECT * FROM "orders_total"')
            prom = await query(influxd, 'SELECT * FROM "prometheus"')
            if rows and prom:
                break
            await asyncio.sleep(0.1)
    assert rows  # one point per SDK export (it exports the cumulative total at each collection)
    row = rows[-1]
    assert all(r["counter"] == 3 for r in rows) and row["region"] == "ap-south-1" and row["tier"] == "pro"
    assert row["service.name"] == "shop" and row["otel.library.name"] == "shop.metrics"
    hist = (await query(influxd, 'SELECT * FROM "checkout.duration"'))[-1]
    assert hist["count"] == 3 and hist["sum"] == 12.5 + 25 + 37.5 and hist["+Inf"] == 3
    assert any(r.get("orders_total") == 3 for r in prom)
    for _ in range(100):
        spans = await query(influxd, 'SELECT * FROM "spans"')
        logs = await query(influxd, 'SELECT * FROM "logs" WHERE "body" =~ /order/')
        if len(spans) == 6 and len(logs) == 3:
            break
        await asyncio.sleep(0.1)
    assert sorted(r["span.name"] for r in spans) == ["POST /checkout"] * 3 + ["charge_card"] * 3
    assert {r["service.name"] for r in spans} == {"shop"}
    assert sum(r.get("otel.status_code") == "Error" for r in spans) == 1
    assert sorted(r["body"] for r in logs) == ["charged order 0", "charged order 2", "payment failed for order 1"]
    assert all(len(r["trace_id"]) == 32 for r in logs)
    buckets = [r for r in prom if r.get("checkout.duration_bucket") is not None]
    assert {r["le"] for r in buckets} >= {"+Inf"} and max(r["checkout.duration_bucket"] for r in buckets) == 3


async def test_refusals_are_permanent_and_5xx_retried():
    attempts = []

    async def handle(request):
        attempts.append(request.path)
        return web.Response(status=400 if request.path == "/bad" else 503, text="nope")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sink = free_port()
    await web.TCPSite(runner, "127.0.0.1", sink).start()
    port = free_port()
    config = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
exporters:
  influxdb/bad: {{endpoint: "http://127.0.0.1:{sink}/bad", sending_queue: {{enabled: false}}}}
  influxdb/busy:
    endpoint: "http://127.0.0.1:{sink}/busy"
    sending_queue: {{enabled: false}}
    retry_on_failure: {{initial_interval: 10ms, max_interval: 10ms, max_elapsed_time: 200ms}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    metrics/a: {{receivers: [otlp], exporters: [influxdb/bad]}}
    metrics/b: {{receivers: [otlp], exporters: [influxdb/busy]}}
"""
    try:
        async with running(config):
            async with aiohttp.ClientSession() as session:
                async with session.post(f"http://127.0.0.1:{port}/v1/metrics", data=request_bytes("input_telegraf.json"),
                                        headers={"Content-Type": "application/x-protobuf"}) as resp:
                    await resp.read()
    finally:
        await runner.cleanup()
    assert attempts.count("/bad") == 1
    assert attempts.count("/busy") > 2


def test_a_span_dimension_found_twice_does_not_fail_the_request():
    """Upstream panics in its debug logging (odd key/value count) when a span dimension is in both
    the resource and the span, failing the request; otelflow writes the span as upstream's code would
    without the panic: the later value is the tag and also goes into ``attributes``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from otelflow.exporters.influxdb.records import span_lines

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "a"
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.start_time_unix_nano, span.end_time_unix_nano = b"\1" * 16, b"\2" * 8, 10, 20
    kv = span.attributes.add()
    kv.key, kv.value.string_value = "service.name", "b"
    (line,) = list(span_lines(rs, frozenset({"service.name"})))
    assert line.startswith("spans,service.name=b,") and 'attributes="{\\"service.name\\":\\"b\\"}"' in line
