"""The ``routing`` connector through a real service graph: routes by resource, span, metric, data
point and log record, move and copy, default pipelines, grouping per consumer, error modes, and
upstream's config errors."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config import collector, loader
from otelflow.config.errors import ConfigError
from otelflow.config.model import Model, validate
from otelflow.connectors.routing import Config
from otelflow.core.component import Component, Factory, Kind, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.core.registry import Registry
from otelflow.core.service import Service


class RecConfig(Model):
    pass


class Recorder(Component):
    mutates_data = False

    def __init__(self, settings, config):
        self.seen = []

    async def consume(self, data):
        self.seen.append(data)


class Source(Component):
    def __init__(self, settings, config, consumers):
        self.consumers = consumers


def registry() -> Registry:
    r = Registry()
    r.register(Factory("src", Kind.RECEIVER, RecConfig, Source))
    r.register(Factory("rec", Kind.EXPORTER, RecConfig, Recorder))
    return r


def config_text(signal: str, routing: str, outs=("a", "b", "c")) -> str:
    pipes = "\n".join(f"    {signal}/{o}: {{receivers: [routing], exporters: [rec/{o}]}}" for o in outs)
    exporters = ", ".join(f"rec/{o}: {{}}" for o in outs)
    return f"""
receivers: {{src: {{}}}}
exporters: {{{exporters}}}
connectors:
  routing:
{routing}
service:
  pipelines:
    {signal}/in: {{receivers: [src], exporters: [routing]}}
{pipes}
"""


class Running:
    def __init__(self, signal: str, routing: str, outs=("a", "b", "c")):
        reg = registry()
        self.svc = Service(collector.parse(loader.load([f"yaml:{config_text(signal, routing, outs)}"]), reg), reg)
        self.signal = Signal(signal)

    async def __aenter__(self):
        await self.svc.start()
        return self

    async def __aexit__(self, *exc):
        await self.svc.shutdown()

    async def send(self, data):
        await self.svc.component(Kind.RECEIVER, "src").consumers[self.signal].consume(data)

    def seen(self, name: str) -> list:
        return self.svc.component(Kind.EXPORTER, f"rec/{name}").seen


def traces(*resources) -> ExportTraceServiceRequest:
    """resources: (service, [(scope, [span names])])"""
    req = ExportTraceServiceRequest()
    for service, scopes in resources:
        rs = req.resource_spans.add(schema_url="https://rs")
        rs.resource.attributes.add(key="service.name").value.string_value = service
        for scope, names in scopes:
            ss = rs.scope_spans.add(schema_url="https://ss")
            ss.scope.name = scope
            for n in names:
                ss.spans.add(name=n, trace_id=b"\1" * 16, span_id=b"\2" * 8)
    return req


def shape(req) -> list:
    if isinstance(req, ExportTraceServiceRequest):
        return [(rs.resource.attributes[0].value.string_value,
                 [(ss.scope.name, [s.name for s in ss.spans]) for ss in rs.scope_spans]) for rs in req.resource_spans]
    if isinstance(req, ExportLogsServiceRequest):
        return [(rl.resource.attributes[0].value.string_value,
                 [(sl.scope.name, [r.body.string_value for r in sl.log_records]) for sl in rl.scope_logs])
                for rl in req.resource_logs]
    return [(rm.resource.attributes[0].value.string_value,
             [(sm.scope.name, [(m.name, [p.as_int for p in getattr(m, m.WhichOneof("data")).data_points])
                               for m in sm.metrics]) for sm in rm.scope_metrics]) for rm in req.resource_metrics]


ROUTE_BY_SERVICE = """
    default_pipelines: [traces/c]
    table:
      - condition: 'attributes["service.name"] == "one"'
        pipelines: [traces/a]
      - statement: 'route() where attributes["service.name"] == "two"'
        pipelines: [traces/b]
"""


async def test_resource_routes_move_and_the_rest_goes_to_the_defaults():
    async with Running("traces", ROUTE_BY_SERVICE) as r:
        await r.send(traces(("one", [("s", ["x"])]), ("two", [("s", ["y"])]), ("three", [("s", ["z"])]),
                            ("one", [("s", ["w"])])))
        assert [shape(m) for m in r.seen("a")] == [[("one", [("s", ["x"])]), ("one", [("s", ["w"])])]]
        assert [shape(m) for m in r.seen("b")] == [[("two", [("s", ["y"])])]]
        assert [shape(m) for m in r.seen("c")] == [[("three", [("s", ["z"])])]]
        assert r.seen("a")[0].resource_spans[0].schema_url == "https://rs"


async def test_without_defaults_unmatched_data_is_dropped():
    async with Running("traces", """
    table:
      - condition: 'attributes["service.name"] == "one"'
        pipelines: [traces/a]
""") as r:
        await r.send(traces(("two", [("s", ["y"])])))
        assert r.seen("a") == [] and r.seen("b") == [] and r.seen("c") == []


async def test_copy_routes_leave_items_for_later_routes_and_defaults():
    async with Running("traces", """
    default_pipelines: [traces/c]
    table:
      - context: span
        condition: 'name == "x"'
        action: copy
        pipelines: [traces/a]
      - context: span
        condition: 'name != "nothing"'
        pipelines: [traces/b]
""") as r:
        await r.send(traces(("one", [("s", ["x", "y"])])))
        assert [shape(m) for m in r.seen("a")] == [[("one", [("s", ["x"])])]]
        assert [shape(m) for m in r.seen("b")] == [[("one", [("s", ["x", "y"])])]]
        assert r.seen("c") == []  # everything was moved by the second route


async def test_span_routes_split_resources_and_scopes_with_their_context():
    async with Running("traces", """
    default_pipelines: [traces/c]
    table:
      - context: span
        condition: 'name == "x" or instrumentation_scope.name == "lib2"'
        pipelines: [traces/a]
""") as r:
        await r.send(traces(("one", [("lib1", ["x", "y"]), ("lib2", ["p", "q"])]), ("two", [("lib1", ["y"])])))
        assert [shape(m) for m in r.seen("a")] == [[("one", [("lib1", ["x"]), ("lib2", ["p", "q"])])]]
        assert [shape(m) for m in r.seen("c")] == [[("one", [("lib1", ["y"])]), ("two", [("lib1", ["y"])])]]
        got = r.seen("a")[0].resource_spans[0]
        assert got.schema_url == "https://rs" and got.scope_spans[0].schema_url == "https://ss"


async def test_move_drops_empty_scopes_and_resources_even_when_nothing_matched():
    async with Running("traces", """
    default_pipelines: [traces/c]
    table:
      - context: span
        condition: 'name == "nothing"'
        pipelines: [traces/a]
""") as r:
        req = traces(("one", [("lib1", []), ("lib2", ["y"])]), ("two", []))
        await r.send(req)
        assert [shape(m) for m in r.seen("c")] == [[("one", [("lib2", ["y"])])]]


async def test_routes_to_one_pipeline_share_a_request_and_several_pipelines_get_their_own():
    async with Running("traces", """
    default_pipelines: [traces/a]
    table:
      - condition: 'attributes["service.name"] == "one"'
        pipelines: [traces/a]
      - condition: 'attributes["service.name"] == "two"'
        pipelines: [traces/a, traces/b]
      - condition: 'attributes["service.name"] == "three"'
        pipelines: [traces/a, traces/b]
""") as r:
        await r.send(traces(("one", [("s", ["1"])]), ("two", [("s", ["2"])]), ("three", [("s", ["3"])]),
                            ("four", [("s", ["4"])])))
        # route 1 and the defaults name traces/a alone: one request; routes 2 and 3 one each
        assert sorted(shape(m) for m in r.seen("a")) == sorted([
            [("one", [("s", ["1"])]), ("four", [("s", ["4"])])],
            [("two", [("s", ["2"])])],
            [("three", [("s", ["3"])])],
        ])
        assert sorted(shape(m) for m in r.seen("b")) == [[("three", [("s", ["3"])])], [("two", [("s", ["2"])])]]


async def test_duplicate_routes_keep_the_first_and_warn(caplog):
    with caplog.at_level(logging.WARNING):
        async with Running("traces", """
    table:
      - condition: 'attributes["service.name"] == "one"'
        pipelines: [traces/a]
      - condition: 'attributes["service.name"] == "one"'
        pipelines: [traces/b]
""") as r:
            await r.send(traces(("one", [("s", ["1"])])))
            assert len(r.seen("a")) == 1 and r.seen("b") == []
    assert "already exists in the routing table, the route with target pipeline(s) \"traces/b\" will be ignored" \
        in caplog.text


BAD_CONDITION = """
    error_mode: {mode}
    default_pipelines: [traces/c]
    table:
      - context: span
        condition: 'Substring(name, 5, 1) == "f"'
        pipelines: [traces/a]
"""


async def test_propagate_refuses_the_request_and_sends_nothing():
    async with Running("traces", BAD_CONDITION.format(mode="propagate")) as r:
        with pytest.raises(ConsumerError, match="invalid range"):
            await r.send(traces(("one", [("s", ["abc"])])))
        assert r.seen("a") == [] and r.seen("c") == []


@pytest.mark.parametrize("mode", ["ignore", "silent"])
async def test_ignore_treats_a_failing_condition_as_no_match(mode):
    async with Running("traces", BAD_CONDITION.format(mode=mode)) as r:
        await r.send(traces(("one", [("s", ["abc", "abcdefg"])])))
        assert [shape(m) for m in r.seen("c")] == [[("one", [("s", ["abc"])])]]
        assert [shape(m) for m in r.seen("a")] == [[("one", [("s", ["abcdefg"])])]]


@pytest.mark.parametrize("metadata, routed", [
    ({"x-tenant": ["acme"]}, True), ({"x-tenant": ["other", "acme"]}, True), ({"X-Tenant": ["acme"]}, True),
    ({"x-tenant": ["ecorp"]}, False), (None, False),
])
async def test_request_context_routes_on_the_client_metadata(metadata, routed):
    from otelflow.core.client import request_metadata

    async with Running("traces", """
    default_pipelines: [traces/c]
    table:
      - context: request
        condition: 'request["X-Tenant"] == "acme"'
        pipelines: [traces/a]
      - context: request
        condition: 'request["X-Tenant"] != "acme"'
        action: copy
        pipelines: [traces/b]
""") as r:
        token = request_metadata.set(metadata)
        try:
            await r.send(traces(("one", [("s", ["1"])])))
        finally:
            request_metadata.reset(token)
        assert (len(r.seen("a")), len(r.seen("c"))) == ((1, 0) if routed else (0, 1))
        # != matches a request carrying another value, not one without the key
        assert len(r.seen("b")) == (1 if metadata and not routed else 0)


async def test_routes_of_another_signals_context_never_match():
    async with Running("traces", """
    default_pipelines: [traces/c]
    table:
      - context: log
        condition: 'body == "x"'
        pipelines: [traces/a]
""") as r:
        await r.send(traces(("one", [("s", ["1"])])))
        assert r.seen("a") == [] and len(r.seen("c")) == 1


def logs() -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "svc"
    sl = rl.scope_logs.add()
    sl.scope.name = "s"
    for body, sev in (("a", 9), ("b", 17), ("c", 13)):
        sl.log_records.add(severity_number=sev).body.string_value = body
    return req


async def test_log_records_route_by_severity():
    async with Running("logs", """
    default_pipelines: [logs/c]
    table:
      - context: log
        condition: 'severity_number >= SEVERITY_NUMBER_WARN'
        pipelines: [logs/a]
""") as r:
        await r.send(logs())
        assert [shape(m) for m in r.seen("a")] == [[("svc", [("s", ["b", "c"])])]]
        assert [shape(m) for m in r.seen("c")] == [[("svc", [("s", ["a"])])]]


def metrics() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "svc"
    sm = rm.scope_metrics.add()
    sm.scope.name = "s"
    m = sm.metrics.add(name="requests", description="d", unit="1")
    m.metadata.add(key="meta").value.string_value = "kept only on the original"
    m.sum.aggregation_temporality = 2
    m.sum.is_monotonic = True
    for v, code in ((1, "200"), (2, "500"), (3, "200")):
        dp = m.sum.data_points.add(as_int=v)
        dp.attributes.add(key="code").value.string_value = code
    g = sm.metrics.add(name="temp")
    g.gauge.data_points.add(as_int=7)
    return req


async def test_datapoints_route_under_a_copy_of_their_metric_without_metadata():
    async with Running("metrics", """
    default_pipelines: [metrics/c]
    table:
      - context: datapoint
        condition: 'attributes["code"] == "500"'
        pipelines: [metrics/a]
""") as r:
        await r.send(metrics())
        assert [shape(m) for m in r.seen("a")] == [[("svc", [("s", [("requests", [2])])])]]
        assert [shape(m) for m in r.seen("c")] == [[("svc", [("s", [("requests", [1, 3]), ("temp", [7])])])]]
        routed = r.seen("a")[0].resource_metrics[0].scope_metrics[0].metrics[0]
        assert (routed.description, routed.unit, routed.sum.aggregation_temporality, routed.sum.is_monotonic) == \
            ("d", "1", 2, True)
        assert len(routed.metadata) == 0
        assert len(r.seen("c")[0].resource_metrics[0].scope_metrics[0].metrics[0].metadata) == 1


async def test_metrics_route_by_name_with_copy():
    async with Running("metrics", """
    default_pipelines: [metrics/c]
    table:
      - context: metric
        condition: 'name == "temp"'
        action: copy
        pipelines: [metrics/a]
""") as r:
        await r.send(metrics())
        assert [shape(m) for m in r.seen("a")] == [[("svc", [("s", [("temp", [7])])])]]
        assert [shape(m) for m in r.seen("c")] == [[("svc", [("s", [("requests", [1, 2, 3]), ("temp", [7])])])]]


# ------------------------------------------------------------------------------------ config


@pytest.mark.parametrize("cfg, message", [
    ({}, "invalid routing table: the routing table is empty"),
    ({"table": [{"pipelines": ["traces/a"]}]}, "invalid route: no condition or statement provided"),
    ({"table": [{"condition": "true", "statement": "route()", "pipelines": ["traces/a"]}]},
     "invalid route: both condition and statement provided"),
    ({"table": [{"condition": "true"}]}, "invalid route: no pipelines defined"),
    ({"table": [{"condition": "true", "action": "send", "pipelines": ["traces/a"]}]}, "invalid Action string: send"),
    ({"table": [{"context": "scope", "condition": "true", "pipelines": ["traces/a"]}]}, "invalid context: scope"),
    ({"table": [{"context": "request", "statement": "route()", "pipelines": ["traces/a"]}]},
     "\"request\" context requires a 'condition'"),
    ({"table": [{"context": "request", "condition": 'request["a"] == "b" != "c"', "pipelines": ["traces/a"]}]},
     "condition contains multiple comparators"),
    ({"table": [{"context": "request", "condition": 'headers["a"] == "b"', "pipelines": ["traces/a"]}]},
     "condition must have format 'request[\"<name>\"] <comparator> <value>'"),
    ({"table": [{"context": "request", "condition": 'request["a"] == b', "pipelines": ["traces/a"]}]},
     "condition must have format 'request[\"<name>\"] <comparator> \"<value>\"'"),
    ({"table": [{"context": "request", "condition": 'request["a"]', "pipelines": ["traces/a"]}]},
     "condition does not contain a valid comparator"),
    ({"error_mode": "loud", "table": [{"condition": "true", "pipelines": ["traces/a"]}]}, "unknown error mode loud"),
])
def test_config_errors(cfg, message):
    with pytest.raises(ConfigError) as err:
        validate(Config, cfg, "connectors::routing")
    assert message in str(err.value)


def test_defaults():
    cfg = validate(Config, {"table": [{"condition": "true", "pipelines": ["traces/a"]}]}, "connectors::routing")
    assert cfg.error_mode == "propagate" and cfg.default_pipelines == [] and cfg.table[0].action == ""


async def test_a_route_to_a_pipeline_the_connector_does_not_feed_is_refused():
    reg = registry()
    text = config_text("traces", """
    table:
      - condition: 'true'
        pipelines: [traces/a, traces/zzz]
""")
    svc = Service(collector.parse(loader.load([f"yaml:{text}"]), reg), reg)
    with pytest.raises(ConfigError, match='pipeline not found: missing consumer: "traces/zzz"'):
        await svc.start()
    await svc.shutdown()


async def test_an_invalid_statement_is_a_config_error():
    reg = registry()
    text = config_text("traces", """
    table:
      - condition: 'attributes["x"] == '
        pipelines: [traces/a]
""")
    svc = Service(collector.parse(loader.load([f"yaml:{text}"]), reg), reg)
    with pytest.raises(ConfigError, match="statement has invalid syntax"):
        await svc.start()
    await svc.shutdown()


# ------------------------------------------------------------------------------------ end to end


def test_sdk_apps_routed_by_service_and_tenant_header_in_an_otelflow_process(tmp_path, monkeypatch):
    import signal as signals

    from tests.backends import free_port
    from tests.process import Collector
    from tests.sdk import SDKApp
    from tests.test_end_to_end import read_file_output

    port = free_port()
    outs = {n: tmp_path / f"{n}.jsonl" for n in ("checkout", "acme", "other")}
    pipes = "\n".join(f"    {s}/{n}: {{receivers: [routing/{s}], exporters: [file/{n}]}}"
                      for s in ("traces", "logs") for n in outs)
    exporters = "\n".join(f"  file/{n}: {{path: \"{p}\", flush_interval: 100ms}}" for n, p in outs.items())
    # one routing connector per signal: a connector instance only feeds the pipelines of its signal
    routers = "\n".join(f"""  routing/{s}:
    default_pipelines: [{s}/other]
    table:
      - condition: 'attributes["service.name"] == "checkout"'
        pipelines: [{s}/checkout]
      - context: request
        condition: 'request["x-tenant"] == "acme"'
        pipelines: [{s}/acme]""" for s in ("traces", "logs"))
    collector = Collector(f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{port}"}}}}}}
exporters:
{exporters}
connectors:
{routers}
service:
  pipelines:
    traces/in: {{receivers: [otlp], exporters: [routing/traces]}}
    logs/in: {{receivers: [otlp], exporters: [routing/logs]}}
{pipes}
""").start()
    try:
        apps = []
        for name in ("checkout", "billing", "admin"):
            # billing's exporters send the gRPC metadata x-tenant: acme
            if name == "billing":
                monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
            else:
                monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS", raising=False)
            apps.append(SDKApp("grpc", f"127.0.0.1:{port}", service_name=name))
        for app in apps:
            app.emit(2)
            app.shutdown()
        assert collector.stop() == 0, collector.output()
        services = {}
        for name, path in outs.items():
            got = read_file_output(path)
            resources = [rs.resource for m in got["traces"] for rs in m.resource_spans] + \
                [rl.resource for m in got["logs"] for rl in m.resource_logs]
            services[name] = sorted({a.value.string_value for r in resources for a in r.attributes
                                     if a.key == "service.name"})
        assert services["checkout"] == ["checkout"]
        assert services["acme"] == ["billing"] and services["other"] == ["admin"]
    finally:
        collector.stop(signals.SIGKILL)
