"""The ``nop`` exporter: every request the real SDK sends is accepted and dropped, for every signal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelflow.config import collector
from otelflow.config.errors import ConfigError
from otelflow.core.component import Kind, Signal
from otelflow.core.registry import default_registry
from otelflow.exporters import nop
from otelflow.pdata import REQUEST_TYPES
from tests.backends import free_port
from tests.process import Collector
from tests.sdk import SDKApp, _exporters, flatten
from tests.test_end_to_end import read_file_output, wait_until

REPO = Path(__file__).resolve().parents[2]
OTELCOL_REF = REPO / "bench" / ".build" / "bin" / "otelcol-ref"


def _config(grpc_port: int, http_port: int, out: Path | None) -> str:
    file = f"\n  file: {{path: {out}}}" if out else ""
    exporters = "[nop, file]" if out else "[nop]"
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
exporters:
  nop:{file}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: {exporters}}}
    metrics: {{receivers: [otlp], exporters: {exporters}}}
    logs: {{receivers: [otlp], exporters: {exporters}}}
"""


def test_factory_and_config() -> None:
    assert default_registry.get(Kind.EXPORTER, "nop") is nop.factory
    assert nop.factory.signals == frozenset(Signal)
    tree = {"receivers": {"nop": None}, "exporters": {"nop": {"endpoint": "x"}},
            "service": {"pipelines": {"logs": {"receivers": ["nop"], "exporters": ["nop"]}}}}
    with pytest.raises(ConfigError) as err:
        collector.parse(tree, default_registry)
    assert [i.path for i in err.value.issues] == ["exporters::nop::endpoint"]
    for empty in (None, {}):  # `nop:` and `nop: {}` are both the whole config
        tree["exporters"]["nop"] = empty
        [model] = collector.parse(tree, default_registry).components[Kind.EXPORTER].values()
        assert isinstance(model, nop.Config)


async def test_consume_accepts_and_leaves_the_request_alone() -> None:
    exporter = nop.factory.create(settings=None, config=nop.Config())
    assert exporter.mutates_data is False
    for signal in Signal:
        request = REQUEST_TYPES[signal]()
        getattr(request, request.DESCRIPTOR.fields[0].name).add()
        before = request.SerializeToString()
        assert await exporter.consume(request) is None
        assert request.SerializeToString() == before


def _sdk_data():
    """Real SDK output: finished spans, a metrics snapshot and log records, ready for an OTLP exporter."""
    resource = Resource.create({"service.name": "nop-test"})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    with tracer_provider.get_tracer("t").start_as_current_span("parent"):
        with tracer_provider.get_tracer("t").start_as_current_span("child", attributes={"k": 1}):
            pass
    reader = InMemoryMetricReader()
    meter = MeterProvider(resource=resource, metric_readers=[reader]).get_meter("m")
    meter.create_counter("requests").add(3, {"route": "/"})
    meter.create_histogram("latency", unit="ms").record(12.5)
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    logger_provider.get_logger("l").emit(body="dropped on purpose")
    return spans.get_finished_spans(), reader.get_metrics_data(), logs.get_finished_logs()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_exports_succeed_against_nop_only(protocol: str) -> None:
    grpc_port, http_port = free_port(), free_port()
    proc = Collector(_config(grpc_port, http_port, None)).start()
    try:
        endpoint = f"127.0.0.1:{grpc_port}" if protocol == "grpc" else f"http://127.0.0.1:{http_port}"
        span_exporter, metric_exporter, log_exporter = _exporters(protocol, endpoint)
        spans, metrics, logs = _sdk_data()
        assert len(spans) == 2 and logs
        for _ in range(3):  # the same data again and again: nothing is kept, nothing refuses
            assert span_exporter.export(spans) is SpanExportResult.SUCCESS
            assert metric_exporter.export(metrics) is MetricExportResult.SUCCESS
            assert log_exporter.export(logs) is LogRecordExportResult.SUCCESS
        for exporter in (span_exporter, metric_exporter, log_exporter):
            exporter.shutdown()
    finally:
        assert proc.stop() == 0, proc.output()
    assert "Traceback" not in proc.output()


def test_nop_beside_file_takes_nothing_from_it(tmp_path: Path) -> None:
    """In a fan-out with another exporter, the other one gets every item unchanged."""
    out = tmp_path / "out.json"
    grpc_port, http_port = free_port(), free_port()
    proc = Collector(_config(grpc_port, http_port, out)).start()
    try:
        app = SDKApp("grpc", f"127.0.0.1:{grpc_port}")
        app.emit(4)
        app.shutdown()
        sent = app.sent()
        wait_until(lambda: all(sum(len(flatten(m)) for m in read_file_output(out)[s]) >= len(flatten(sent[s]))
                               for s in sent))
    finally:
        assert proc.stop() == 0, proc.output()
    got = read_file_output(out)
    for signal, message in sent.items():
        assert sorted(x for m in got[signal] for x in flatten(m)) == flatten(message), signal


@pytest.mark.skipif(not OTELCOL_REF.exists(), reason="otelcol-ref is not built (bench/README.md)")
def test_otelcol_ref_accepts_the_same_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(_config(free_port(), free_port(), tmp_path / "out.json"))
    run = subprocess.run([str(OTELCOL_REF), "validate", "--config", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    path.write_text(_config(free_port(), free_port(), None).replace("  nop:\n", "  nop: {verbosity: basic}\n"))
    run = subprocess.run([str(OTELCOL_REF), "validate", "--config", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "verbosity" in run.stderr  # upstream takes no settings either
