"""The zipkin exporter against goldens recorded from otelcol-ref's zipkin exporter (json and proto)
for the same OTLP input, both captured by a real HTTP server. JSON bodies are compared as JSON, protobuf
bodies as decoded ListOfSpans messages (tag maps compare as maps: Go writes them in random order)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config.model import ConfigError, validate
from otelflow.exporters.zipkin import Config
from otelflow.pdata import otlpjson
from otelflow.translators.zipkin import proto
from tests.exporters.helpers import started_exporter

DATA = Path(__file__).parent / "testdata" / "zipkin"
INPUTS = sorted(p.name for p in (DATA / "inputs").glob("*.json"))


class Sink:
    """A Zipkin collector stand-in on a real socket: answers each POST with the next queued status."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str, bytes]] = []
        self.statuses: list[int] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append((request.path, request.headers.get("Content-Type", ""), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 202)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]


@pytest.fixture
async def sink():
    s = Sink()
    await s.start()
    try:
        yield s
    finally:
        await s.runner.cleanup()


async def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)


def _request(name: str) -> ExportTraceServiceRequest:
    return otlpjson.decode((DATA / "inputs" / name).read_bytes(), ExportTraceServiceRequest)


@pytest.mark.parametrize("fmt", ["json", "proto"])
@pytest.mark.parametrize("name", INPUTS)
async def test_matches_upstream(sink, name, fmt):
    golden = json.loads((DATA / "goldens" / name).read_text()).get(fmt)
    exporter = await started_exporter("zipkin", {"endpoint": f"http://127.0.0.1:{sink.port}/{fmt}", "format": fmt,
                                                 "sending_queue": {"enabled": False}})
    try:
        if golden is None:  # upstream drops the batch as a permanent error and sends nothing
            with pytest.raises(Exception, match="TraceID is invalid"):
                await exporter.consume(_request(name))
            assert sink.bodies == []
            return
        await exporter.consume(_request(name))
    finally:
        await exporter.shutdown()
    [(path, content_type, body)] = sink.bodies
    assert content_type == golden["content_type"]
    if fmt == "json":
        assert json.loads(body) == golden["body"]
    else:
        assert proto.ListOfSpans.FromString(body) == proto.ListOfSpans.FromString(base64.b64decode(golden["body"]))


async def test_retries_non_2xx_then_delivers(sink):
    sink.statuses = [503, 400]
    exporter = await started_exporter("zipkin", {
        "endpoint": f"http://127.0.0.1:{sink.port}/api/v2/spans",
        "retry_on_failure": {"initial_interval": "10ms", "max_interval": "20ms"}})
    try:
        await exporter.consume(_request("k8s_and_exec.json"))
        await _wait(lambda: len(sink.bodies) == 3)
    finally:
        await exporter.shutdown()
    assert len({body for _, _, body in sink.bodies}) == 1  # the same body each attempt


def test_config_as_upstream():
    import yaml

    raw = yaml.safe_load((DATA / "config.yaml").read_text())  # upstream's testdata/config.yaml
    cfg = validate(Config, raw["zipkin/2"], "exporters::zipkin/2")
    assert (cfg.sending_queue.num_consumers, cfg.sending_queue.queue_size, cfg.tls.insecure_skip_verify) == (2, 10, True)
    assert (cfg.format, cfg.timeout, cfg.compression, cfg.retry_on_failure.max_elapsed_time) == ("proto", 5.0, "", 600.0)
    default = validate(Config, raw["zipkin"], "exporters::zipkin")
    assert (default.format, default.default_service_name) == ("json", "<missing service name>")
    with pytest.raises(ConfigError, match="endpoint required"):
        validate(Config, {}, "exporters::zipkin")
    with pytest.raises(ConfigError):
        validate(Config, {"endpoint": "http://x", "format": "thrift"}, "exporters::zipkin")
