"""The ``filter`` processor, driven through its factory with real OTLP requests: OTTL conditions per
context and with inferred contexts, legacy include/exclude, what is removed around dropped items,
error modes, the end of the pipeline when nothing is left, and upstream's config errors."""

from __future__ import annotations

import asyncio
import logging

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Kind, Settings, Signal, STABLE_SIGNALS
from otelflow.core.consumer import ConsumerError
from otelflow.core.telemetry import Telemetry
from otelflow.processors.filter import Config, factory


class Sink:
    mutates_data = False

    def __init__(self):
        self.got = []

    async def consume(self, data):
        self.got.append(data)


def make(cfg: dict, signal: Signal):
    config = validate(Config, cfg, "processors::filter")
    sink = Sink()
    settings = Settings(ComponentID("filter"), Kind.PROCESSOR, Telemetry(), signal)
    return factory.create(settings=settings, config=config, next=sink), sink


def run(cfg: dict, data, signal: Signal | None = None):
    signal = signal or {ExportTraceServiceRequest: Signal.TRACES, ExportMetricsServiceRequest: Signal.METRICS,
                        ExportLogsServiceRequest: Signal.LOGS}[type(data)]
    proc, sink = make(cfg, signal)
    asyncio.run(proc.consume(data))
    return proc, sink


def config_error(cfg: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate(Config, cfg, "processors::filter")
    return str(err.value)


# ---------------------------------------------------------------------------------------------- data


def traces(*resources) -> ExportTraceServiceRequest:
    """resources: (service, [(scope, [span names or (name, [event names])])])"""
    req = ExportTraceServiceRequest()
    for service, scopes in resources:
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name").value.string_value = service
        for scope, spans in scopes:
            ss = rs.scope_spans.add()
            ss.scope.name = scope
            for s in spans:
                name, events = (s, []) if isinstance(s, str) else s
                span = ss.spans.add(name=name, trace_id=b"\1" * 16, span_id=b"\2" * 8)
                if name.startswith("child"):
                    span.parent_span_id = b"\3" * 8
                for e in events:
                    span.events.add(name=e)
    return req


def tshape(req) -> list:
    return [(rs.resource.attributes[0].value.string_value,
             [(ss.scope.name, [s.name if not s.events else (s.name, [e.name for e in s.events]) for s in ss.spans])
              for ss in rs.scope_spans]) for rs in req.resource_spans]


def metrics() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "svc"
    sm = rm.scope_metrics.add()
    sm.scope.name = "s"
    m = sm.metrics.add(name="http.requests")
    for v, code in ((1, "200"), (2, "500")):
        dp = m.sum.data_points.add(as_int=v)
        dp.attributes.add(key="code").value.string_value = code
    g = sm.metrics.add(name="temperature")
    g.gauge.data_points.add(as_int=7)
    h = sm.metrics.add(name="latency")
    hp = h.histogram.data_points.add(count=3)
    hp.attributes.add(key="code").value.string_value = "500"
    return req


def mshape(req) -> list:
    return [[(m.name, [p.as_int or p.count if hasattr(p, "as_int") else p.count for p in getattr(m, m.WhichOneof("data")).data_points])
             for sm in rm.scope_metrics for m in sm.metrics] for rm in req.resource_metrics]


def logs() -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    for service in ("api", "db"):
        rl = req.resource_logs.add()
        rl.resource.attributes.add(key="service.name").value.string_value = service
        sl = rl.scope_logs.add()
        sl.scope.name = "s"
        for body, sev, text in (("started", 9, "INFO"), ("slow query", 13, "WARN"), ("boom", 17, "ERROR"), ("?", 0, "")):
            r = sl.log_records.add(severity_number=sev, severity_text=text)
            r.body.string_value = body
            r.attributes.add(key="user").value.string_value = f"{service}-user"
    return req


def lshape(req) -> list:
    return [(rl.resource.attributes[0].value.string_value, [r.body.string_value for sl in rl.scope_logs for r in sl.log_records])
            for rl in req.resource_logs]


# ---------------------------------------------------------------------------------------------- traces


def test_span_conditions_drop_spans_and_then_empty_scopes_and_resources():
    data = traces(("a", [("s1", ["keep", "drop"]), ("s2", ["drop"])]), ("b", [("s1", ["drop"])]))
    proc, sink = run({"traces": {"span": ['name == "drop"']}}, data)
    assert [tshape(m) for m in sink.got] == [[("a", [("s1", ["keep"])])]]
    assert proc.telemetry.value("otelcol_processor_filter_spans_filtered", filter="filter") == 3


def test_nothing_left_ends_the_pipeline_with_success():
    proc, sink = run({"traces": {"span": ["true"]}}, traces(("a", [("s", ["x"])])))
    assert sink.got == []


def test_span_event_conditions_drop_events_only():
    data = traces(("a", [("s", [("x", ["exception", "log"]), ("y", ["exception"])])]))
    _, sink = run({"traces": {"spanevent": ['name == "exception"']}}, data)
    assert [tshape(m) for m in sink.got] == [[("a", [("s", [("x", ["log"]), "y"])])]]


def test_resource_conditions_drop_whole_resources_and_leave_empty_scopes_alone():
    data = traces(("a", [("s", ["x"])]), ("b", [("s", [])]), ("c", []))
    _, sink = run({"traces": {"resource": ['attributes["service.name"] == "a"']}}, data)
    # no span conditions: a scope without spans stays, a resource without scopes goes
    assert [tshape(m) for m in sink.got] == [[("b", [("s", [])])]]


def test_span_conditions_see_resource_scope_and_span_functions():
    data = traces(("a", [("lib", ["root", "child1"])]), ("b", [("other", ["root2"])]))
    _, sink = run({"traces": {"span": ['IsRootSpan() and instrumentation_scope.name == "lib"',
                                        'resource.attributes["service.name"] == "b"']}}, data)
    assert [tshape(m) for m in sink.got] == [[("a", [("lib", ["child1"])])]]


def test_inferred_trace_conditions_mix_contexts_in_one_list():
    data = traces(("a", [("s", [("x", ["e1", "e2"]), "y"])]), ("drop-me", [("s", ["z"])]))
    _, sink = run({"trace_conditions": ['resource.attributes["service.name"] == "drop-me"',
                                        'span.name == "y"', 'spanevent.name == "e1"']}, data)
    assert [tshape(m) for m in sink.got] == [[("a", [("s", [("x", ["e2"])])])]]


def test_structured_trace_conditions_with_context_and_scope():
    data = traces(("a", [("noisy", ["x"]), ("s", ["y", "z"])]))
    _, sink = run({"trace_conditions": [{"context": "scope", "conditions": ['name == "noisy"']},
                                        {"context": "span", "conditions": ['name == "z"']}]}, data)
    assert [tshape(m) for m in sink.got] == [[("a", [("s", ["y"])])]]


def test_conditions_without_a_context_name_need_one_when_inferred():
    assert "unable to infer context from conditions, path's first segment must be a valid context name" in \
        config_error({"trace_conditions": ['name == "x"']})
    assert 'missing context name for path "name"' in config_error({"trace_conditions": ['span.kind == 1 and name == "x"']})
    assert 'unknown context "metric" for conditions: [true]' in config_error(
        {"trace_conditions": [{"context": "metric", "conditions": ["true"]}]})
    assert "unknown context nope" in config_error({"trace_conditions": [{"context": "nope", "conditions": ["true"]}]})


ERRORING = ['Substring(name, 5, 1) == "x"', 'name == "drop"']


def test_propagate_refuses_the_request_after_walking_everything(caplog):
    data = traces(("a", [("s", ["drop", "abcdex", "keep"])]))
    proc, sink = make({"error_mode": "propagate", "traces": {"span": ERRORING}}, Signal.TRACES)
    with caplog.at_level(logging.ERROR), pytest.raises(ConsumerError) as err:
        asyncio.run(proc.consume(data))
    assert str(err.value).startswith('failed to eval condition: Substring(name, 5, 1) == "x", ')
    assert str(err.value).count("failed to eval condition") == 2  # "drop" and "keep" both failed
    assert sink.got == [] and "failed processing traces" in caplog.text


@pytest.mark.parametrize("mode", ["ignore", "silent"])
def test_ignore_and_silent_count_a_failing_condition_as_no_match(mode, caplog):
    data = traces(("a", [("s", ["drop", "abcdex", "keep"])]))
    with caplog.at_level(logging.WARNING):
        _, sink = run({"error_mode": mode, "traces": {"span": ERRORING}}, data)
    # "drop" failed the first condition, then matched the second; "abcdex" matched the first
    assert [tshape(m) for m in sink.got] == [[("a", [("s", ["keep"])])]]
    assert ("failed to eval condition" in caplog.text) is (mode == "ignore")


def test_default_error_mode_is_ignore():
    assert validate(Config, {}, "p").error_mode == "ignore"


def test_condition_groups_with_errors_but_nothing_left_succeed():
    data = traces(("a", [("s", ["abc"])]))
    _, sink = run({"trace_conditions": [{"conditions": ['span.name == "abc"'], "error_mode": "propagate"},
                                        {"conditions": ['Substring(span.name, 5, 1) == "x"'], "error_mode": "propagate"}]},
                  data)
    assert sink.got == []
    proc, sink = make({"trace_conditions": [{"conditions": ['Substring(span.name, 5, 1) == "x"'],
                                             "error_mode": "propagate"}]}, Signal.TRACES)
    with pytest.raises(ConsumerError, match="failed to eval condition"):
        asyncio.run(proc.consume(traces(("a", [("s", ["abc"])]))))


# ---------------------------------------------------------------------------------------------- metrics


def test_metric_and_datapoint_conditions():
    _, sink = run({"metrics": {"metric": ['name == "temperature"'], "datapoint": ['attributes["code"] == "500"']}},
                  metrics())
    # http.requests loses one point; latency loses its only point and goes
    assert mshape(sink.got[0]) == [[("http.requests", [1])]]
    proc, _ = run({"metrics": {"datapoint": ['attributes["code"] == "500"']}}, metrics())
    assert proc.telemetry.value("otelcol_processor_filter_datapoints_filtered") == 2


def test_has_attr_on_datapoint_functions():
    _, sink = run({"metrics": {"metric": ['HasAttrOnDatapoint("code", "500")']}}, metrics())
    # the first point carrying "code" decides: http.requests' first point is "200"
    assert mshape(sink.got[0]) == [[("http.requests", [1, 2]), ("temperature", [7])]]
    _, sink = run({"metrics": {"metric": ['HasAttrKeyOnDatapoint("code")']}}, metrics())
    assert mshape(sink.got[0]) == [[("temperature", [7])]]
    assert "HasAttrOnDatapoint" in config_error({"metrics": {"datapoint": ['HasAttrOnDatapoint("a", "b")']}})


def test_inferred_metric_conditions():
    _, sink = run({"metric_conditions": ['metric.name == "temperature"', 'datapoint.attributes["code"] == "200"']},
                  metrics())
    assert mshape(sink.got[0]) == [[("http.requests", [2]), ("latency", [3])]]


def test_legacy_metric_names_and_resource_attributes():
    _, sink = run({"metrics": {"exclude": {"match_type": "regexp", "metric_names": ["^http\\."]}}}, metrics())
    assert mshape(sink.got[0]) == [[("temperature", [7]), ("latency", [3])]]
    _, sink = run({"metrics": {"include": {"match_type": "strict", "metric_names": ["latency"]}}}, metrics())
    assert mshape(sink.got[0]) == [[("latency", [3])]]
    _, sink = run({"metrics": {"include": {"match_type": "strict",
                                           "resource_attributes": [{"key": "service.name", "value": "other"}]}}},
                  metrics())
    assert sink.got == []


def test_legacy_metric_expr_subset():
    _, sink = run({"metrics": {"include": {"match_type": "expr", "expressions": [
        'MetricName == "temperature"', 'Label("code") == "500" && MetricType == "Histogram"']}}}, metrics())
    assert mshape(sink.got[0]) == [[("temperature", [7]), ("latency", [3])]]
    _, sink = run({"metrics": {"exclude": {"match_type": "expr", "expressions": ['HasLabel("code")']}}}, metrics())
    assert mshape(sink.got[0]) == [[("temperature", [7])]]
    with pytest.raises(ValueError, match="not supported in expr expressions by otelflow"):
        make({"metrics": {"include": {"match_type": "expr", "expressions": ["len(MetricName) > 3"]}}}, Signal.METRICS)


def test_bad_match_types_fail_at_creation():
    with pytest.raises(ValueError, match="unrecognized match_type: 'glob'"):
        make({"metrics": {"include": {"match_type": "glob", "metric_names": ["x"]}}}, Signal.METRICS)


# ---------------------------------------------------------------------------------------------- logs


def test_log_record_and_resource_conditions():
    _, sink = run({"logs": {"log_record": ["severity_number < SEVERITY_NUMBER_WARN"],
                            "resource": ['attributes["service.name"] == "db"']}}, logs())
    assert [lshape(m) for m in sink.got] == [[("api", ["slow query", "boom"])]]


def test_inferred_log_conditions():
    _, sink = run({"log_conditions": ['log.body == "boom"', 'resource.attributes["service.name"] == "api"']}, logs())
    assert [lshape(m) for m in sink.got] == [[("db", ["started", "slow query", "?"])]]


def test_legacy_log_include_and_exclude():
    _, sink = run({"logs": {"include": {"match_type": "strict", "severity_number": {"min": "warn"}}}}, logs())
    assert [lshape(m) for m in sink.got] == [[("api", ["slow query", "boom"]), ("db", ["slow query", "boom"])]]
    _, sink = run({"logs": {"include": {"match_type": "strict",
                                        "severity_number": {"min": "WARN", "match_undefined": True}}}}, logs())
    assert [lshape(m) for m in sink.got] == [[("api", ["slow query", "boom", "?"]), ("db", ["slow query", "boom", "?"])]]
    _, sink = run({"logs": {"exclude": {"match_type": "regexp", "bodies": ["^s"],
                                        "resource_attributes": [{"key": "service.name", "value": "db"}]}}}, logs())
    assert [lshape(m) for m in sink.got] == [[("api", ["started", "slow query", "boom", "?"]), ("db", ["boom", "?"])]]
    _, sink = run({"logs": {"include": {"match_type": "strict", "record_attributes": [{"key": "user", "value": "api-user"}],
                                        "severity_texts": ["ERROR"]}}}, logs())
    assert [lshape(m) for m in sink.got] == [[("api", ["boom"])]]


def test_legacy_log_properties_that_are_empty_filter_nothing():
    _, sink = run({"logs": {"include": {"match_type": "strict"}}}, logs())
    assert [lshape(m) for m in sink.got] == [lshape(logs())]


def test_legacy_log_errors():
    assert "'loud' is not a valid severity: not a valid severity" in config_error(
        {"logs": {"include": {"match_type": "strict", "severity_number": {"min": "loud"}}}})
    with pytest.raises(ValueError, match="failed to build skip matcher: error creating log record body filters: unrecognized match_type: 'glob'"):
        make({"logs": {"include": {"match_type": "glob", "bodies": ["x"]}}}, Signal.LOGS)


# ---------------------------------------------------------------------------------------------- legacy spans


def test_legacy_spans_include_exclude():
    data = traces(("a", [("s", ["GET /", "POST /x"])]), ("b", [("s", ["GET /"])]))
    _, sink = run({"spans": {"include": {"match_type": "strict", "services": ["a"]},
                             "exclude": {"match_type": "regexp", "span_names": ["^POST"]}}}, data)
    assert [tshape(m) for m in sink.got] == [[("a", [("s", ["GET /"])])]]


def test_legacy_spans_validation_at_creation():
    with pytest.raises(ValueError, match='at least one of "attributes", "libraries",  or "resources"'):
        make({"spans": {"include": {"match_type": "strict"}}}, Signal.TRACES)


# ---------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize("cfg, message", [
    ({"trace_conditions": ["true", {"conditions": ["true"]}]},
     "configuring multiple configuration styles is not supported, please use only Basic configuration or only "
     "Advanced configuration"),
    ({"trace_conditions": [None]}, "condition cannot be empty"),
    ({"trace_conditions": ["span.name == \"x\""], "traces": {"span": ["true"]}},
     'cannot use context inferred trace conditions "trace_conditions" and the settings "traces.resource", '
     '"traces.span", "traces.spanevent" at the same time'),
    ({"metric_conditions": ["metric.name == \"x\""], "metrics": {"include": {"match_type": "strict"}}},
     'cannot use context inferred metric conditions "metric_conditions"'),
    ({"log_conditions": ["log.body == \"x\""], "logs": {"exclude": {"match_type": "strict"}}},
     'cannot use context inferred log conditions "log_conditions"'),
    ({"traces": {"span": ["true"]}, "spans": {"include": {"match_type": "strict", "span_names": ["x"]}}},
     'cannot use "traces.resource", "traces.span", "traces.spanevent" and the span settings "spans.include", '
     '"spans.exclude" at the same time'),
    ({"metrics": {"metric": ["true"], "exclude": {"match_type": "strict"}}},
     'cannot use "metrics.resource", "metrics.metric", "metrics.datapoint" and the settings "metrics.include", '
     '"metrics.exclude" at the same time'),
    ({"logs": {"log_record": ["true"], "include": {"match_type": "strict"}}},
     'cannot use "logs.resource", "logs.log" and the settings "logs.include", "logs.exclude" at the same time'),
    ({"error_mode": "loud"}, "unknown error mode loud"),
    ({"traces": {"span": ["Nope()"]}}, 'unable to parse OTTL condition "Nope()": undefined function "Nope"'),
    ({"traces": {"nope": ["true"]}}, "unknown key"),
])
def test_config_errors(cfg, message):
    assert message in config_error(cfg)


def test_registered_for_every_signal():
    from otelflow.core.registry import default_registry
    assert default_registry.get(Kind.PROCESSOR, "filter").signals == STABLE_SIGNALS


# ---------------------------------------------------------------------------------------------- end to end


def test_sdk_through_an_otelflow_process_with_filter(tmp_path):
    import signal as signals

    from tests.backends import free_port
    from tests.process import Collector
    from tests.sdk import SDKApp
    from tests.test_end_to_end import read_file_output

    port, out = free_port(), tmp_path / "out.jsonl"
    collector = Collector(f"""
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}
processors:
  filter:
    error_mode: ignore
    traces:
      span: ['name == "charge_card"']
      spanevent: ['name == "cart.loaded"']
    metrics:
      metric: ['name == "queue.depth"']
    log_conditions: ['log.severity_number < SEVERITY_NUMBER_WARN']
exporters:
  file: {{path: "{out}", flush_interval: 100ms}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [filter], exporters: [file]}}
    metrics: {{receivers: [otlp], processors: [filter], exporters: [file]}}
    logs: {{receivers: [otlp], processors: [filter], exporters: [file]}}
""").start()
    try:
        app = SDKApp("http", f"http://127.0.0.1:{port}")
        app.emit(4)
        app.shutdown()
        assert collector.stop() == 0, collector.output()
        got = read_file_output(out)
        spans = [s for m in got["traces"] for rs in m.resource_spans for ss in rs.scope_spans for s in ss.spans]
        assert [s.name for s in spans] == ["POST /checkout"] * 4
        assert all(len(s.events) == 0 for s in spans)
        names = {m.name for r in got["metrics"] for rm in r.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
        assert names == {"orders_total", "checkout.duration"}
        bodies = [lr.body.string_value for m in got["logs"] for rl in m.resource_logs for sl in rl.scope_logs
                  for lr in sl.log_records]
        assert bodies == ["payment failed for order 1", "payment failed for order 3", "done"]
    finally:
        collector.stop(signals.SIGKILL)
