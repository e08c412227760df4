"""The ``prometheus_remote_write`` exporter: what it writes equals what otelcol-ref v0.161.0 writes
for the same OTLP input (goldens recorded by testdata/prometheusremotewrite/record.py), a real
Prometheus stores and answers it, and backend answers are handled as upstream handles them."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otelflow import __version__
from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core import featuregates
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.exporters.prometheusremotewrite import Config, PRWExporter, batches, prompb
from otelflow.exporters.prometheusremotewrite.translate import Converter, Settings as TSettings
from otelflow.pdata import otlpjson
from tests.exporters.prw_support import CaptureServer, Prometheus, normalise

DATA = Path(__file__).parent / "testdata" / "prometheusremotewrite"
CASES = json.loads((DATA / "cases.json").read_text())
STRICT_HEADERS = ("Content-Encoding", "Content-Type", "X-Prometheus-Remote-Write-Version", "X-Scope-Orgid")


def load(name: str) -> ExportMetricsServiceRequest:
    return otlpjson.decode((DATA / "inputs" / f"{name}.json").read_bytes(), ExportMetricsServiceRequest)


def exporter_config(url: str, config: dict) -> dict:
    if "http" in config:
        return {**config, "http": {**config["http"], "endpoint": url}}
    return {"endpoint": url, **config}


async def started(config: dict, telemetry: Telemetry | None = None, name: str = "") -> PRWExporter:
    factory = default_registry.get(Kind.EXPORTER, "prometheus_remote_write")
    cid = ComponentID("prometheus_remote_write", name)
    settings = Settings(id=cid, kind=Kind.EXPORTER, telemetry=telemetry or Telemetry(), signal=Signal.METRICS)
    exporter = factory.create(settings=settings, config=validate(factory.config, config, f"exporters::{cid}"))
    await exporter.start(Host())
    return exporter


# -- conformance with otelcol-ref ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
async def test_write_requests_match_upstream(case):
    golden = json.loads((DATA / f"{case['name']}.json").read_text())
    server = await CaptureServer().start()
    exporter = await started(exporter_config(server.url, case["config"]))
    try:
        for name in case["requests"]:
            await exporter.consume(load(name))
        await server.wait_for(1)
        await exporter.shutdown()
    finally:
        await server.stop()
    got = normalise([r for _, r in server.requests])
    assert got["series"] == golden["series"]
    assert got.get("metadata") == golden.get("metadata")
    headers = {k.lower(): v for k, v in server.requests[0][0].items()}
    want = {k.lower(): v for k, v in golden["headers"].items()}
    for key in STRICT_HEADERS:
        assert headers.get(key.lower()) == want.get(key.lower()), key
    assert headers["user-agent"] == f"otelflow/{__version__}"
    if case["name"] == "small_batches":
        limit = case["config"]["max_batch_size_bytes"]
        for _, req in server.requests:
            sizes = [prompb.encoded_size(ts) for ts in req.timeseries]
            assert len(sizes) == 1 or sum(sizes) < limit
        assert abs(len(server.requests) - golden["requests"]) <= 2  # upstream's order is Go map order
    else:
        assert len(server.requests) == golden["requests"]


def test_goldens_cover_every_kind_of_series():
    names = {dict(s["labels"])["__name__"] for c in ("mixed", "edge") for s in json.loads((DATA / f"{c}.json").read_text())["series"]}
    for want in ("target_info", "http_requests_total", "http_server_request_duration_seconds_bucket",
                 "gc_pause_milliseconds", "rpc_latency_milliseconds", "queue_depth", "stale_counter_bytes_total"):
        assert want in names
    edge = json.loads((DATA / "edge.json").read_text())
    assert any(s["samples"] and s["samples"][0][1] == "StaleNaN" for s in edge["series"])
    assert any("histograms" in s for s in edge["series"])
    assert not any(dict(s["labels"])["__name__"].startswith(("delta_", "only_delta")) for s in edge["series"])
