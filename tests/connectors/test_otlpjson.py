"""The ``otlp_json`` connector: log bodies holding OTLP/JSON requests become traces, metrics and logs.

A real SDK app's telemetry, written as OTLP/JSON log lines by a second real SDK logger, goes through
an otelflow process graph (otlp receiver -> logs pipeline -> otlp_json -> three pipelines ->
otlphttp) to a real HTTP backend and arrives equal to what the app sent; malformed bodies are
counted and skipped without failing the request; and the output for a recorded input equals
otelcol-ref's (tests/connectors/testdata/otlpjson/record.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otelflow.core.component import Kind, Signal, STABLE_SIGNALS
from otelflow.core.registry import default_registry
from otelflow.pdata import otlpjson
from tests.backends import HTTPBackend, free_port
from tests.conftest import running
from tests.processors.testdata.goldens import flatten as flatten_json
from tests.sdk import SDKApp, flatten

TESTDATA = Path(__file__).parent / "testdata" / "otlpjson"
SIGNALS = ("traces", "metrics", "logs")


def pipelines_yaml(exporters: dict[str, str]) -> str:
    return "\n".join(f"    {s}: {{receivers: [otlp_json], exporters: [{exporters[s]}]}}" for s in SIGNALS)


def collector_config(port: int, out_dir: Path) -> dict:
    """otlp (HTTP) -> otlp_json -> one file exporter per signal (as record.py runs otelcol-ref)."""
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "connectors": {"otlp_json": {}},
        "exporters": {f"file/{s}": {"path": str(out_dir / f"{s}.jsonl"), "flush_interval": "100ms"} for s in SIGNALS},
        "service": {
            "telemetry": {"metrics": {"level": "none"}},
            "pipelines": {"logs/in": {"receivers": ["otlp"], "exporters": ["otlp_json"]},
                          **{s: {"receivers": ["otlp_json"], "exporters": [f"file/{s}"]} for s in SIGNALS}},
        },
    }


def input_request() -> ExportLogsServiceRequest:
    """``input.json``: a list of bodies (strings, or any AnyValue as JSON) in one logs request."""
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for body in json.loads((TESTDATA / "input.json").read_text()):
        record = records.add()
        if isinstance(body, str):
            record.body.string_value = body
        else:
            record.body.int_value = body
    return request


def test_registered_under_both_names():
    for name in ("otlp_json", "otlpjson"):
        assert default_registry.get(Kind.CONNECTOR, name).type == "otlp_json"


async def test_matches_otelcol_ref(tmp_path):
    expected = json.loads((TESTDATA / "expected.json").read_text())
    port = free_port()
    import yaml

    async with running(yaml.safe_dump(collector_config(port, tmp_path))) as service:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/v1/logs", data=input_request().SerializeToString(),
                                    headers={"Content-Type": "application/x-protobuf"}) as resp:
                assert resp.status == 200, await resp.text()
        invalid = service.telemetry.value("otelflow_connector_otlp_json_invalid_records")
    got = {s: [json.loads(l) for l in (tmp_path / f"{s}.jsonl").read_text().splitlines() if l.strip()]
           if (tmp_path / f"{s}.jsonl").exists() else [] for s in SIGNALS}
    for s in SIGNALS:
        assert flatten_json(got[s]) == flatten_json(expected[s]), s
        assert len(got[s]) == len(expected[s]), f"{s}: one request per record body, as upstream"
    assert all(expected[s] for s in SIGNALS)
    # Bad bodies, per target pipeline: four that match no prefix (snake_case keys, a leading space,
    # plain text, an int body) for each of the three, plus the one of its own signal that does not
    # decode for traces and metrics. Upstream logs each (zap samples them after 10, so its log holds
    # fewer lines); otelflow counts each and logs the first.
    assert invalid == 3 * 4 + 2
    assert sum("could not extract" in l for l in expected["log_lines"]) == 2


@pytest.fixture
async def sink():
    b = await HTTPBackend().start()
    yield b
    await b.stop()


async def test_sdk_telemetry_written_as_json_log_lines_arrives_whole(sink):
    # the app whose telemetry is carried: its own exporters go to a second backend we ignore
    other = await HTTPBackend().start()
    app = SDKApp("http", other.endpoint, service_name="carried")
    try:
        await asyncio.to_thread(app.emit, 3)
        await asyncio.to_thread(app.flush)
    finally:
        await asyncio.to_thread(app.shutdown)
        await other.stop()
    sent = app.sent()

    port = free_port()
    config = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
connectors: {{otlp_json: {{}}}}
exporters: {{otlp_http: {{endpoint: "{sink.endpoint}", compression: none, retry_on_failure: {{enabled: false}}}}}}
service:
  pipelines:
    logs/in: {{receivers: [otlp], exporters: [otlp_json]}}
{pipelines_yaml({s: "otlp_http" for s in SIGNALS})}
"""
    async with running(config) as service:
        # a second real SDK app logs each request as one OTLP/JSON line, plus lines that are not requests
        shipper = SDKApp("http", f"http://127.0.0.1:{port}", service_name="shipper")
        try:
            for signal in SIGNALS:
                shipper.log.info(otlpjson.encode(sent[signal]).decode())
            shipper.log.info('{"resourceSpans": [ {"broken": ')  # right key, not JSON
            shipper.log.info("plain text")  # no request at all
            await asyncio.to_thread(shipper.logger_provider.force_flush)
        finally:
            await asyncio.to_thread(shipper.shutdown)
        for _ in range(100):
            if all(sink.messages(s) for s in STABLE_SIGNALS):
                break
            await asyncio.sleep(0.05)
        invalid = service.telemetry.value("otelflow_connector_otlp_json_invalid_records")
    for signal in [s for s in Signal if s in STABLE_SIGNALS]:
        got = sink.messages(signal)
        carried = [m for m in got if any(
            kv.value.string_value == "carried" for r in getattr(m, m.DESCRIPTOR.fields[0].name) for kv in r.resource.attributes)]
        assert len(carried) == 1, signal
        assert flatten(carried[0]) == flatten(sent[signal.value]), signal
    # the broken body is bad for the traces pipeline; each pipeline finds "plain text" invalid
    assert invalid == 1 + 3


async def test_bad_bodies_never_fail_the_request(caplog):
    port = free_port()
    config = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
connectors: {{otlp_json: {{}}}}
exporters: {{nop: {{}}}}
service:
  pipelines:
    logs/in: {{receivers: [otlp], exporters: [otlp_json]}}
    traces: {{receivers: [otlp_json], exporters: [nop]}}
"""
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for i in range(200):
        records.add().body.string_value = '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}'
    caplog.set_level(logging.ERROR)
    async with running(config) as service:
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                async with session.post(f"http://127.0.0.1:{port}/v1/logs", data=request.SerializeToString(),
                                        headers={"Content-Type": "application/x-protobuf"}) as resp:
                    assert resp.status == 200
        assert service.telemetry.value("otelflow_connector_otlp_json_invalid_records") == 400
    logged = [r for r in caplog.records if "otlp json" in r.getMessage()]
    assert len(logged) == 1, "logged once, not per record"
