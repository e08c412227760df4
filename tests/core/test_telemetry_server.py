"""Self-telemetry on /metrics: parsing service::telemetry::metrics, the exposition, and real scrapes."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest

from otelflow.core.telemetry import Telemetry
from otelflow.core.telemetry_server import TelemetryServer, parse_settings, render
from tests.backends import HTTPBackend, free_port
from tests.conftest import running

SPAN = '{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"{:016x}","name":"s"}}'


def test_defaults_match_upstream():
    s = parse_settings({})
    assert (s.level, s.host, s.port, s.enabled) == ("normal", "localhost", 8888, True)


def test_readers_address_and_level():
    s = parse_settings({"metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": 9}}}}]}})
    assert (s.host, s.port) == ("127.0.0.1", 9)
    s = parse_settings({"metrics": {"address": "0.0.0.0:7777", "level": "detailed"}})
    assert (s.host, s.port, s.level) == ("0.0.0.0", 7777, "detailed")
    assert not parse_settings({"metrics": {"level": "none"}}).enabled
    with pytest.raises(ValueError):
        parse_settings({"metrics": {"level": "loud"}})


def test_render_uses_reference_names():
    t = Telemetry()
    t.add("otelcol_receiver_accepted_spans", 3, receiver="otlp", transport="http")
    t.set("otelcol_exporter_queue_size", 0, exporter="otlphttp", data_type="traces")
    text = render(t, started=0.0)
    assert "# TYPE otelcol_receiver_accepted_spans counter" in text
    assert 'otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 3\n' in text
    assert 'otelcol_exporter_queue_size{data_type="traces",exporter="otlphttp"} 0\n' in text
    assert "# TYPE otelcol_process_uptime counter" in text
    assert "otelcol_process_memory_rss " in text and "otelcol_process_cpu_seconds " in text
    assert "_total" not in text


def _config(recv_port: int, backend: HTTPBackend, metrics: str) -> str:
    return f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{recv_port}"}}}}}}}}
exporters: {{otlphttp: {{endpoint: "{backend.endpoint}"}}}}
service:
  telemetry: {{metrics: {metrics}}}
  pipelines: {{traces: {{receivers: [otlp], exporters: [otlphttp]}}}}
"""


def _series(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


async def test_scrape_counts_what_was_sent():
    backend = await HTTPBackend().start()
    recv, mport = free_port(), free_port()
    metrics = f"{{readers: [{{pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {mport}}}}}}}}}]}}"
    try:
        async with running(_config(recv, backend, metrics)):
            body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [json.loads(SPAN.format(i + 1)) for i in range(5)]}]}]})
            async with aiohttp.ClientSession() as http:
                for _ in range(3):
                    async with http.post(f"http://127.0.0.1:{recv}/v1/traces", data=body,
                                         headers={"Content-Type": "application/json"}) as resp:
                        assert resp.status == 200
                series = {}
                for _ in range(100):
                    async with http.get(f"http://127.0.0.1:{mport}/metrics") as resp:
                        assert resp.status == 200
                        assert resp.headers["Content-Type"].startswith("text/plain")
                        series = _series(await resp.text())
                    if series.get('otelcol_exporter_sent_spans{exporter="otlphttp"}') == 15:
                        break
                    await asyncio.sleep(0.05)
        assert series['otelcol_receiver_accepted_spans{receiver="otlp",transport="http"}'] == 15
        assert series['otelcol_exporter_sent_spans{exporter="otlphttp"}'] == 15
        assert series["otelcol_process_uptime"] > 0
    finally:
        await backend.stop()
    # stopped together with the service
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http:
            await http.get(f"http://127.0.0.1:{mport}/metrics")


async def test_level_none_serves_nothing():
    backend = await HTTPBackend().start()
    recv, mport = free_port(), free_port()
    try:
        async with running(_config(recv, backend, f"{{level: none, address: '127.0.0.1:{mport}'}}")) as svc:
            assert svc.telemetry_server.port is None
            with pytest.raises(aiohttp.ClientConnectionError):
                async with aiohttp.ClientSession() as http:
                    await http.get(f"http://127.0.0.1:{mport}/metrics")
    finally:
        await backend.stop()


async def test_port_in_use_is_a_warning_not_an_error(caplog):
    mport = free_port()
    first = TelemetryServer(Telemetry(), parse_settings({"metrics": {"address": f"127.0.0.1:{mport}"}}))
    await first.start()
    try:
        second = TelemetryServer(Telemetry(), parse_settings({"metrics": {"address": f"127.0.0.1:{mport}"}}))
        with caplog.at_level(logging.WARNING, logger="otelflow.telemetry"):
            await second.start()
        assert second.port is None
        assert "cannot serve metrics" in caplog.text
        await second.shutdown()
    finally:
        await first.shutdown()
