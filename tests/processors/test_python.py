"""The ``python`` processor: the shipped examples fed by the real SDK, plugin errors under each
error_mode, a plugin edited on disk and reloaded by SIGHUP under load, and bad configs."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sqlite3
import textwrap
import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config import collector, loader
from otelflow.config.errors import ConfigError
from otelflow.core.component import Signal, STABLE_SIGNALS
from otelflow.core.registry import default_registry
from otelflow.processors.python.values import to_python
from tests.backends import GRPCBackend, free_port
from tests.conftest import running
from tests.core.test_reload import SDKStream, wait_for
from tests.process import Collector
from tests.sdk import SDKApp

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "python-processor"
TESTDATA = Path(__file__).resolve().parent / "testdata"
TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def attrs(kvs) -> dict:
    return {kv.key: to_python(kv.value) for kv in kvs}


def spans_of(messages) -> list:
    return [s for m in messages for rs in m.resource_spans for ss in rs.scope_spans for s in ss.spans]


async def export(port: int, method: str, request) -> tuple[grpc.StatusCode, str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(method, request_serializer=type(request).SerializeToString,
                                   response_deserializer=lambda b: b)
        try:
            await call(request, timeout=10)
        except grpc.aio.AioRpcError as err:
            return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


def trace_request(*names: str, **attributes) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value={"string_value": "probe"})
    ss = rs.scope_spans.add()
    for i, name in enumerate(names):
        span = ss.spans.add(name=name, trace_id=b"\1" * 16, span_id=bytes([i + 1]) * 8)
        for key, value in attributes.items():
            kv = span.attributes.add(key=key)
            if isinstance(value, int):
                kv.value.int_value = value
            else:
                kv.value.string_value = value
    return req


def pipeline_yaml(port: int, backend: int, processors: dict[str, str], pipelines: dict[str, list[str]]) -> str:
    procs = "".join(f"  {name}: {body}\n" for name, body in processors.items())
    pipes = "".join(f"    {sig}: {{receivers: [otlp], processors: [{', '.join(p)}], exporters: [otlp]}}\n"
                    for sig, p in pipelines.items())
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{port}}}
processors:
{procs}
exporters:
  otlp: {{endpoint: 127.0.0.1:{backend}, tls: {{insecure: true}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
{pipes}"""


# -- the examples, fed by the real SDK ---------------------------------------------------------


def _expected_span(sent, masked: dict[str, str], event_masked: dict[str, str]):
    """What the redaction example must make of ``sent``: the masked values, the summary, and
    every other field as the SDK sent it."""
    want = type(sent)()
    want.CopyFrom(sent)
    for kv in want.attributes:
        if kv.key in masked:
            kv.value.string_value = masked[kv.key]
    for event in want.events:
        for kv in event.attributes:
            if kv.key in event_masked:
                kv.value.string_value = event_masked[kv.key]
    keys = sorted([*masked, *(f"event.{k}" for k in event_masked)])
    if keys:
        want.attributes.add(key="redaction.masked.keys", value={"string_value": ",".join(keys)})
        want.attributes.add(key="redaction.masked.count", value={"int_value": len(keys)})
    return want


async def test_the_examples_redact_and_enrich_what_the_sdk_sends(tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLES)  # the example config names its files relative to its directory
    with sqlite3.connect(tmp_path / "regions.db") as db:
        db.execute("CREATE TABLE regions (region TEXT, city TEXT, cloud TEXT)")
        db.executemany("INSERT INTO regions VALUES (?, ?, ?)", [("ap-south-1", "Mumbai", "aws"), ("eu-west-1", "Dublin", "aws")])
    port, backend = free_port(), await GRPCBackend().start()
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:{port}}}, http: {{endpoint: 127.0.0.1:{free_port()}}}}}}}}}
processors:
  python/regions:
    file: ./enrich_lookup.py
    class: Enricher
    config: {{path: {tmp_path / "regions.db"}, table: regions, key: region, column: region, prefix: "geo.", from: item}}
exporters:
  otlp: {{endpoint: 127.0.0.1:{backend.port}, tls: {{insecure: true}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines:
    traces: {{exporters: [otlp]}}
    logs: {{exporters: [otlp]}}
    metrics: {{processors: [python/regions, python/enrich, batch], exporters: [otlp]}}
""")
    cfg = collector.parse(loader.load([str(EXAMPLES / "collector.yaml"), str(overrides)]), default_registry)
    from otelflow.core.service import Service

    service = Service(cfg, default_registry)
    await service.start()
    app = SDKApp("grpc", f"127.0.0.1:{port}", service_name="checkout")
    other = SDKApp("grpc", f"127.0.0.1:{port}", service_name="not-in-catalog")
    try:
        def send() -> None:
            tracer = app.tracer_provider.get_tracer("shop.signup", "1.0")
            with tracer.start_as_current_span("signup", attributes={
                "user.email": "jane.doe@example.com", "note": "card 4111 1111 1111 1111 on file",
                "http.route": "/users/jane@example.com", "retries": 3, "plain": "nothing here"}) as span:
                span.add_event("mail.sent", {"to": "bob@example.org", "size": 10})
            app.log.warning("payment by jane@example.com failed")
            app.log.info("all good")
            app.emit(2)
            app.flush()
            other.emit(1)
            other.flush()

        await asyncio.to_thread(send)
        sent_spans = {s.span_id: s for s in spans_of(app.spans.sent + other.spans.sent)}
        await wait_for(lambda: len(spans_of(backend.messages(Signal.TRACES))) >= len(sent_spans), 10, "every span")
        await wait_for(lambda: sum(len(sl.log_records) for m in backend.messages(Signal.LOGS) for rl in m.resource_logs
                                   for sl in rl.scope_logs) >= 7, 10, "every log record")
        await wait_for(lambda: any(m.name == "orders_total" for r in backend.messages(Signal.METRICS) for rm in r.resource_metrics
                                   for sm in rm.scope_metrics for m in sm.metrics), 10, "metrics")
    finally:
        await asyncio.to_thread(app.shutdown)
        await asyncio.to_thread(other.shutdown)
        await service.shutdown(timeout=20)
        await backend.stop()

    # traces: field by field against what the SDK encoded
    received = {}
    for m in backend.messages(Signal.TRACES):
        for rs in m.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    received[s.span_id] = (rs.resource, s)
    assert received.keys() == sent_spans.keys()
    for span_id, sent in sent_spans.items():
        resource, got = received[span_id]
        if sent.name == "signup":
            want = _expected_span(sent, {"user.email": "****", "note": "card **** on file"}, {"to": "****"})
        else:
            want = _expected_span(sent, {}, {})
        assert got == want, f"span {sent.name}:\n{got}\nexpected\n{want}"
        service_name = attrs(resource.attributes)["service.name"]
        catalog = {k: v for k, v in attrs(resource.attributes).items() if k.startswith("catalog.")}
        assert catalog == ({"catalog.team": "payments", "catalog.owner": "alice@example.com", "catalog.tier": "1"}
                           if service_name == "checkout" else {})
    assert attrs(received[next(k for k, s in sent_spans.items() if s.name == "signup")][1].attributes)["http.route"] \
        == "/users/jane@example.com"  # ignored_keys

    # logs: the records as sent, with bodies and attributes masked
    sent_logs = {(r.time_unix_nano, to_python(r.body)): r for m in app.logs.sent + other.logs.sent
                 for rl in m.resource_logs for sl in rl.scope_logs for r in sl.log_records}
    got_logs = {}
    for m in backend.messages(Signal.LOGS):
        for rl in m.resource_logs:
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    got_logs[r.time_unix_nano] = r
    assert len(got_logs) == len(sent_logs)
    for (t, body), sent in sent_logs.items():
        want = type(sent)()
        want.CopyFrom(sent)
        if body == "payment by jane@example.com failed":
            want.body.string_value = "payment by **** failed"
            want.attributes.add(key="redaction.body.masked", value={"bool_value": True})
        assert got_logs[t] == want, f"log {body!r}:\n{got_logs[t]}\nexpected\n{want}"

    # metrics: the SQLite lookup enriched each point by its region, the CSV one the resource
    seen = set()
    for m in backend.messages(Signal.METRICS):
        for rm in m.resource_metrics:
            service_name = attrs(rm.resource.attributes)["service.name"]
            assert ("catalog.team" in attrs(rm.resource.attributes)) == (service_name == "checkout")
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in getattr(metric, metric.WhichOneof("data")).data_points:
                        seen.add(metric.name)
                        if metric.name == "orders_total":
                            assert attrs(point.attributes) == {"region": "ap-south-1", "tier": "pro",
                                                               "geo.city": "Mumbai", "geo.cloud": "aws"}
                        elif metric.name == "checkout.duration":
                            assert attrs(point.attributes) == {"route": "/checkout"}
    assert {"orders_total", "checkout.duration", "queue.depth"} <= seen


# -- plugin errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["propagate", "ignore", "silent"])
async def test_an_exception_in_the_plugin_follows_error_mode(mode, caplog):
    caplog.set_level(logging.ERROR, logger="otelflow")
    port, backend = free_port(), await GRPCBackend().start()
    faulty = TESTDATA / "python_faulty.py"
    yaml = pipeline_yaml(port, backend.port, {"python/f": f"{{file: {faulty}, class: Faulty, error_mode: {mode}}}"},
                         {"traces": ["python/f"]})
    try:
        async with running(yaml):
            bad = [trace_request("boom", "drop-me", "ok", n=i) for i in range(5)]
            answers = [await export(port, TRACES, req) for req in bad]
            exit_answer = await export(port, TRACES, trace_request("exit"))
            good_answer = await export(port, TRACES, trace_request("fine", "drop-me"))
            await wait_for(lambda: any(s.name == "renamed" for s in spans_of(backend.messages(Signal.TRACES))), 10, "the good request")
    finally:
        await backend.stop()

    assert good_answer == (grpc.StatusCode.OK, "")
    got = backend.messages(Signal.TRACES)
    # the good request: changed, with "drop-me" gone, as the plugin asked
    assert [(s.name, attrs(s.attributes)) for s in spans_of(got[-1:])] == [("renamed", {"touched": True})]
    records = [r for r in caplog.records if "Faulty.process_traces raised" in r.getMessage()]
    if mode == "propagate":
        for code, details in [*answers, exit_answer]:
            assert code == grpc.StatusCode.INVALID_ARGUMENT  # permanent: the client must not retry
        code, details = answers[0]
        assert details.startswith("processor python/f: Faulty.process_traces raised ValueError: boom is not allowed")
        assert f"(at {faulty}:20)" in details
        assert "SystemExit: 3" in exit_answer[1]
        assert len(records) == 1 and "the request was refused" in records[0].getMessage()
        assert len(got) == 1  # nothing of the refused requests went on
        return
    # ignore / silent: every request accepted and passed on exactly as it came
    assert [a[0] for a in answers] == [grpc.StatusCode.OK] * 5 and exit_answer[0] == grpc.StatusCode.OK
    assert got[:5] == bad and got[5] == trace_request("exit")
    if mode == "ignore":
        # rate limited: one line for the six failures within LOG_EVERY seconds
        assert len(records) == 1, [r.getMessage() for r in records]
        text = records[0].getMessage()
        assert "ValueError: boom is not allowed" in text and f"{faulty}:20" in text and "passed on unchanged" in text
    else:
        assert records == []


async def test_a_plugin_by_module_name_drops_items_and_sets_fields(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTDATA))
    port, backend = free_port(), await GRPCBackend().start()
    yaml = pipeline_yaml(port, backend.port, {"python/t": "{module: python_plugins.tagger, class: Tagger, config: {tag: blue}}"},
                         {"traces": ["python/t"], "metrics": ["python/t"], "logs": ["python/t"]})
    try:
        async with running(yaml):
            req = trace_request("a", "drop-me", **{"http.status_code": 503})
            assert await export(port, TRACES, req) == (grpc.StatusCode.OK, "")
            # a request whose every span is dropped is accepted and goes nowhere
            assert await export(port, TRACES, trace_request("drop-me")) == (grpc.StatusCode.OK, "")
            metrics = ExportMetricsServiceRequest()
            metric = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
            metric.gauge.data_points.add(as_int=21)
            metric.gauge.data_points.add(as_double=1.5).attributes.add(key="debug", value={"bool_value": True})
            metrics.resource_metrics[0].scope_metrics[0].metrics.add(name="gone").sum.data_points.add(
                as_int=1).attributes.add(key="debug", value={"bool_value": True})
            assert await export(port, METRICS, metrics) == (grpc.StatusCode.OK, "")
            logs = ExportLogsServiceRequest()
            sl = logs.resource_logs.add().scope_logs.add()
            sl.log_records.add(severity_number=5, severity_text="debug", body={"string_value": "noise"})
            sl.log_records.add(severity_number=17, severity_text="error", body={"string_value": "bad"})
            assert await export(port, LOGS, logs) == (grpc.StatusCode.OK, "")
            await wait_for(lambda: all(backend.messages(s) for s in STABLE_SIGNALS), 10, "all three signals")
            await asyncio.sleep(0.3)
    finally:
        await backend.stop()
    (spans,) = [spans_of([m]) for m in backend.messages(Signal.TRACES)]
    assert [(s.name, attrs(s.attributes), s.status.code, s.status.message) for s in spans] == [
        ("a", {"http.status_code": 503, "tag": "blue"}, 2, "server error")]
    (m,) = backend.messages(Signal.METRICS)
    (metric,) = m.resource_metrics[0].scope_metrics[0].metrics  # "gone" lost its only point, and went
    assert metric.name == "m" and [(p.as_int, attrs(p.attributes)) for p in metric.gauge.data_points] == [(42, {})]
    (m,) = backend.messages(Signal.LOGS)
    assert [(r.severity_text, r.body.string_value) for r in m.resource_logs[0].scope_logs[0].log_records] == [("ERROR", "bad")]


async def test_the_plugin_in_the_docs_runs_as_documented(tmp_path):
    """docs/processors/python.md's full example, taken from the page as it is."""
    page = (ROOT / "docs" / "processors" / "python.md").read_text()
    code = next(block.split("```", 1)[0] for block in page.split("```python\n")[1:] if "class Policy" in block)
    (tmp_path / "policy.py").write_text(code)
    port, backend = free_port(), await GRPCBackend().start()
    body = f"{{file: {tmp_path / 'policy.py'}, class: Policy, config: {{env: prod, drop_routes: [/healthz]}}}}"
    yaml = pipeline_yaml(port, backend.port, {"python/p": body},
                         {"traces": ["python/p"], "metrics": ["python/p"], "logs": ["python/p"]})
    try:
        async with running(yaml):
            traces = trace_request("a", **{"http.route": "/healthz"})
            traces.resource_spans[0].scope_spans[0].spans.add(name="b").attributes.add(
                key="http.response.status_code", value={"int_value": 502})
            assert await export(port, TRACES, traces) == (grpc.StatusCode.OK, "")
            metrics = ExportMetricsServiceRequest()
            ms = metrics.resource_metrics.add().scope_metrics.add()
            point = ms.metrics.add(name="requests").sum.data_points.add(as_int=1)
            point.attributes.add(key="user_id", value={"string_value": "u-1"})
            point.attributes.add(key="route", value={"string_value": "/"})
            ms.metrics.add(name="debug.counter").sum.data_points.add(as_int=1)
            assert await export(port, METRICS, metrics) == (grpc.StatusCode.OK, "")
            logs = ExportLogsServiceRequest()
            sl = logs.resource_logs.add().scope_logs.add()
            sl.log_records.add(severity_number=5, body={"string_value": "trace noise"})
            sl.log_records.add(severity_number=13, body={"string_value": "  disk almost full  "})
            assert await export(port, LOGS, logs) == (grpc.StatusCode.OK, "")
            await wait_for(lambda: all(backend.messages(s) for s in STABLE_SIGNALS), 10, "all three signals")
    finally:
        await backend.stop()
    (m,) = backend.messages(Signal.TRACES)
    assert attrs(m.resource_spans[0].resource.attributes)["deployment.environment"] == "prod"
    assert [(s.name, s.status.code, s.status.message) for s in spans_of([m])] == [("b", 2, "server error")]
    (m,) = backend.messages(Signal.METRICS)
    assert [(x.name, [attrs(p.attributes) for p in x.sum.data_points]) for x in m.resource_metrics[0].scope_metrics[0].metrics] \
        == [("requests", [{"route": "/"}])]
    (m,) = backend.messages(Signal.LOGS)
    assert [r.body.string_value for r in m.resource_logs[0].scope_logs[0].log_records] == ["disk almost full"]


async def test_a_plugin_whose_constructor_raises_stops_the_start_naming_file_and_line():
    from otelflow.core.service import Service, StartError

    faulty = TESTDATA / "python_faulty.py"
    _, cfg = _parse(f"{{file: {faulty}, class: BadInit, config: {{path: /no/such/table.csv}}}}")
    with pytest.raises(StartError) as err:
        await Service(cfg, default_registry).start()
    text = str(err.value)
    assert "processor python/x" in text and "BadInit(config) raised FileNotFoundError" in text, text
    assert f"(at {faulty}:27)" in text, text


async def test_an_async_plugin_method_is_awaited_and_its_errors_follow_error_mode(tmp_path):
    (tmp_path / "slow.py").write_text(textwrap.dedent("""
        import asyncio

        class Slow:
            def __init__(self, config):
                pass

            async def process_logs(self, batch):
                await asyncio.sleep(0.01)  # e.g. an async lookup
                for record in batch.log_records():
                    if record.body == "fail":
                        raise RuntimeError("lookup failed")
                    record.attributes["looked.up"] = True
    """))
    port, backend = free_port(), await GRPCBackend().start()
    yaml = pipeline_yaml(port, backend.port, {"python/s": f"{{file: {tmp_path / 'slow.py'}, class: Slow}}"}, {"logs": ["python/s"]})
    try:
        async with running(yaml):
            for body in ("ok", "fail"):
                logs = ExportLogsServiceRequest()
                logs.resource_logs.add().scope_logs.add().log_records.add(body={"string_value": body})
                answers = await export(port, LOGS, logs)
                assert answers[0] == (grpc.StatusCode.OK if body == "ok" else grpc.StatusCode.INVALID_ARGUMENT)
            await wait_for(lambda: backend.messages(Signal.LOGS), 10, "the log")
    finally:
        await backend.stop()
    assert "RuntimeError: lookup failed" in answers[1] and f"{tmp_path / 'slow.py'}:12" in answers[1]
    (m,) = backend.messages(Signal.LOGS)
    assert attrs(m.resource_logs[0].scope_logs[0].log_records[0].attributes) == {"looked.up": True}


# -- bad configs ----------------------------------------------------------------------------------


def _parse(processor: str, signal_name: str = "traces"):
    text = f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:{free_port()}}}}}}}}}
processors:
  python/x: {processor}
exporters: {{debug: {{}}}}
service:
  pipelines:
    {signal_name}: {{receivers: [otlp], processors: [python/x], exporters: [debug]}}
"""
    return text, collector.parse(loader.load([f"yaml:{text}"]), default_registry)


@pytest.mark.parametrize("body, message", [
    ("{module: python_plugins.tagger, file: ./x.py, class: Tagger}", '"module" and "file" are both set; use one of them'),
    ("{class: Tagger}", 'exactly one of "module" and "file" must be set'),
    ("{module: python_plugins.tagger}", 'missing required field "class"'),
    ("{module: python_plugins.tagger, class: Taggr}", "has no class 'Taggr', did you mean \"Tagger\"?"),
    ("{module: python_plugins.nothere, class: T}", "module 'python_plugins.nothere' is not on the Python path"),
    ("{file: ./no/such/plugin.py, class: T}", "plugin.py' does not exist"),
    ("{module: python_plugins.tagger, class: Tagger, error_mode: loud}", "unknown error mode loud"),
    ("{module: python_plugins.tagger, class: Tagger, colour: red}", "colour"),
    (f"{{file: {TESTDATA / 'python_syntax_error.py'}, class: Broken}}",
     f"cannot import {TESTDATA / 'python_syntax_error.py'}: {TESTDATA / 'python_syntax_error.py'}:2: SyntaxError"),
    (f"{{file: {TESTDATA / 'python_import_error.py'}, class: Broken}}",
     f"{TESTDATA / 'python_import_error.py'}:3: ZeroDivisionError: division by zero"),
])
def test_a_bad_plugin_config_is_a_config_error_with_its_yaml_path(body, message, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTDATA))
    with pytest.raises(ConfigError) as err:
        _parse(body)
    text = str(err.value)
    assert "processors::python/x" in text and message in text, text


async def test_a_class_without_the_pipelines_method_is_a_config_error_naming_class_and_method(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTDATA))
    _, cfg = _parse("{module: python_plugins.tagger, class: OnlyTraces}", "logs")
    from otelflow.core.service import Service

    with pytest.raises(ConfigError) as err:
        await Service(cfg, default_registry).start()
    text = str(err.value)
    assert "processors::python/x" in text and "class OnlyTraces" in text and "process_logs(batch)" in text, text
    assert "cannot run in a logs pipeline" in text


# -- SIGHUP ---------------------------------------------------------------------------------------

PLUGIN = """
from otelflow.processors.python.api import TracesBatch


class Versioned:
    def __init__(self, config):
        pass

    def process_traces(self, batch: TracesBatch) -> None:
        for span in batch.spans():
            span.attributes["plugin.version"] = {version!r}
"""


def versions(backend: GRPCBackend) -> list[tuple[str, str]]:
    out = []
    for s in spans_of(backend.messages(Signal.TRACES)):
        a = attrs(s.attributes)
        out.append((a.get("tag"), a.get("plugin.version")))
    return out


class Stream(SDKStream):
    """The real SDK sending one span per millisecond, tagged ``<prefix>-<n>``."""

    def __init__(self, port: int, prefix: str):
        super().__init__(port)
        self.prefix = prefix

    def run(self) -> None:
        tracer = self.provider.get_tracer("reload")
        while not self.stopping.is_set():
            with tracer.start_as_current_span("work", attributes={"tag": f"{self.prefix}-{self.emitted}"}):
                pass
            self.emitted += 1
            time.sleep(0.001)


async def reload_all(col: Collector, workers: int) -> list[dict]:
    """SIGHUP with the YAML as it is; the "Config reloaded" fields of every worker."""
    marker = "Config reloaded"
    before = col.output().count(marker)
    col.proc.send_signal(signal.SIGHUP)
    await wait_for(lambda: col.output().count(marker) >= before + workers, 20, f"{workers} reloads")
    lines = [ln for ln in col.output().splitlines() if marker in ln][before:]
    return [json.loads(ln.split("\t")[-1]) for ln in lines]


@pytest.mark.parametrize("workers", [1, 2])
async def test_an_edited_plugin_is_reimported_on_sighup_with_the_yaml_unchanged_and_nothing_lost(tmp_path, workers):
    plugin = tmp_path / "versioned.py"
    plugin.write_text(PLUGIN.format(version="1"))
    port, backend = free_port(), await GRPCBackend().start()
    yaml = pipeline_yaml(port, backend.port, {"python/v": f"{{file: {plugin}, class: Versioned}}",
                                              "batch": "{timeout: 50ms}"}, {"traces": ["python/v", "batch"]})
    col = Collector(yaml, env={"OTELFLOW_WORKERS": str(workers)}).start()
    streams = [Stream(port, f"sdk{i}") for i in range(workers)]  # one connection each
    try:
        # a worker still starting dies of a SIGHUP (its handler is not installed yet): wait for all
        await wait_for(lambda: col.output().count("Everything is ready") >= workers, 20, "every worker")
        for stream in streams:
            stream.start()
        await wait_for(lambda: len(versions(backend)) > 200, 15, "spans through version 1")
        plugin.write_text(PLUGIN.format(version="2"))  # same size and second as version 1
        for fields in await reload_all(col, workers):
            assert "processor python/v" in fields["started_components"], fields
        count = len(versions(backend))
        await wait_for(lambda: sum(v == "2" for _, v in versions(backend)[count:]) > 200, 15, "spans through version 2")
        for fields in await reload_all(col, workers):  # nothing changed now: nothing restarts
            assert fields["handover"] == "unchanged", fields
        plugin.write_text("class Versioned(:\n")  # a broken edit: refused, version 2 keeps running
        before = col.output().count("Config reload failed")
        col.proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: col.output().count(f"{plugin}:1: SyntaxError") >= workers, 20, "the refused reloads")
        assert col.output().count("Config reload failed") > before
        count = len(versions(backend))
        await wait_for(lambda: sum(v == "2" for _, v in versions(backend)[count:]) > 100, 15, "spans through version 2")
        for stream in streams:
            await asyncio.to_thread(stream.finish)
        acked = set().union(*(s.exporter.tags for s in streams))
        emitted = sum(s.emitted for s in streams)
        await wait_for(lambda: acked <= {t for t, _ in versions(backend)}, 10, "every acknowledged span")
        got = versions(backend)
        tags = [t for t, _ in got]
        assert all(s.exporter.failed == 0 for s in streams) and len(acked) == emitted  # every span sent was accepted
        assert len(tags) == len(set(tags)) == emitted, "spans in != spans out"
        assert {v for _, v in got} == {"1", "2"}
        print(f"\nSIGHUP reload of an edited plugin, {workers} worker(s): {emitted} spans in, {len(tags)} out "
              f"({sum(v == '1' for _, v in got)} by version 1, {sum(v == '2' for _, v in got)} by version 2)")
        assert col.stop() == 0
    finally:
        col.stop(signal.SIGKILL)
        await backend.stop()
