"""The transform processor through its factory: both config styles and upstream's config errors,
context inference, conditions, error modes, caches, every metric function with its exact output,
and the real Python SDK exporting over OTLP to an otelflow process with a transform config."""

from __future__ import annotations

import asyncio
import logging
import math

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.processors.transform import Config
from otelflow.processors.transform.metric_histograms import go_exp2, go_log2
from tests.backends import GRPCBackend, free_port
from tests.conftest import running
from tests.otlpclient import grpc_export, http_post
from tests.processors.test_attributes import kvs, pairs, raw
from tests.sdk import SDKApp, merged

# ---------------------------------------------------------------------------------------------
# Helpers


class Sink:
    mutates_data = False

    def __init__(self):
        self.received = []

    async def consume(self, data):
        self.received.append(data)


def build(raw_config: dict, signal: Signal, name: str = "transform"):
    cid = ComponentID.parse(name)
    factory = default_registry.get(Kind.PROCESSOR, cid.type)
    cfg = validate(factory.config, raw_config, f"processors::{name}")
    settings = Settings(id=cid, kind=Kind.PROCESSOR, telemetry=Telemetry(), signal=signal)
    sink = Sink()
    return factory.create(settings=settings, config=cfg, next=sink), sink


_SIGNALS = {ExportTraceServiceRequest: Signal.TRACES, ExportMetricsServiceRequest: Signal.METRICS,
            ExportLogsServiceRequest: Signal.LOGS}


async def run(raw_config: dict, data):
    proc, sink = build(raw_config, _SIGNALS[type(data)])
    await proc.consume(data)
    return sink.received[0]


def config_error(raw_config: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate(Config, raw_config, "processors::transform")
    return str(err.value)


def traces(*resources) -> ExportTraceServiceRequest:
    """resources: (resource attrs, [(scope name, [(span name, attrs, [event names])])])."""
    req = ExportTraceServiceRequest()
    for rattrs, scopes in resources:
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(kvs(rattrs))
        for sname, spans in scopes:
            ss = rs.scope_spans.add()
            ss.scope.name = sname
            for name, attrs, events in spans:
                span = ss.spans.add(name=name)
                span.attributes.extend(kvs(attrs))
                for e in events:
                    span.events.add(name=e)
    return req


def simple_traces() -> ExportTraceServiceRequest:
    return traces(
        ([("service.name", "cart")], [("lib", [("GET /a", [("http.method", "GET")], ["ev1"]),
                                                ("POST /b", [("http.method", "POST")], [])])]),
        ([("service.name", "pay")], [("lib2", [("charge", [], ["ev2", "ev3"])])]),
    )


def span_list(req) -> list[tuple[str, dict]]:
    return [(s.name, dict(pairs(s.attributes))) for rs in req.resource_spans for ss in rs.scope_spans
            for s in ss.spans]


def logs(*records) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for body, attrs in records:
        r = sl.log_records.add()
        r.body.string_value = body
        r.attributes.extend(kvs(attrs))
    return req


def metrics_request(*metrics: metrics_pb2.Metric) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(kvs([("service.name", "svc")]))
    sm = rm.scope_metrics.add()
    sm.scope.name = "meter"
    sm.metrics.extend(metrics)
    return req


def out_metrics(req) -> list[metrics_pb2.Metric]:
    return list(req.resource_metrics[0].scope_metrics[0].metrics)


def number_points(points) -> list[tuple]:
    out = []
    for dp in points:
        value = dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double
        out.append((dict(pairs(dp.attributes)), value, dp.start_time_unix_nano, dp.time_unix_nano))
    return out


def gauge(name: str, points: list[tuple], unit: str = "", description: str = "") -> metrics_pb2.Metric:
    """points: (attrs, value, start, time); an int value is as_int, a float as_double."""
    m = metrics_pb2.Metric(name=name, unit=unit, description=description)
    m.gauge.SetInParent()
    _add_numbers(m.gauge.data_points, points)
    return m


def sum_metric(name: str, points: list[tuple], temporality: int = 2, monotonic: bool = True,
               unit: str = "", description: str = "") -> metrics_pb2.Metric:
    m = metrics_pb2.Metric(name=name, unit=unit, description=description)
    m.sum.aggregation_temporality = temporality
    m.sum.is_monotonic = monotonic
    _add_numbers(m.sum.data_points, points)
    return m


def _add_numbers(container, points):
    for attrs, value, start, ts in points:
        dp = container.add(start_time_unix_nano=start, time_unix_nano=ts)
        dp.attributes.extend(kvs(attrs))
        if isinstance(value, int):
            dp.as_int = value
        else:
            dp.as_double = value


def histogram(name: str, points: list[dict], temporality: int = 2, unit: str = "ms",
              description: str = "") -> metrics_pb2.Metric:
    m = metrics_pb2.Metric(name=name, unit=unit, description=description)
    m.histogram.aggregation_temporality = temporality
    for p in points:
        dp = m.histogram.data_points.add()
        attrs = p.pop("attrs", [])
        for k, v in p.items():
            if isinstance(v, list):
                getattr(dp, k).extend(v)
            else:
                setattr(dp, k, v)
        dp.attributes.extend(kvs(attrs))
    return m


def exp_histogram(name: str, points: list[dict], temporality: int = 2) -> metrics_pb2.Metric:
    m = metrics_pb2.Metric(name=name, unit="s")
    m.exponential_histogram.aggregation_temporality = temporality
    for p in points:
        dp = m.exponential_histogram.data_points.add()
        attrs = p.pop("attrs", [])
        for k, v in p.items():
            if k in ("positive", "negative"):
                getattr(dp, k).offset = v[0]
                getattr(dp, k).bucket_counts.extend(v[1])
            else:
                setattr(dp, k, v)
        dp.attributes.extend(kvs(attrs))
    return m


def summary(name: str, points: list[dict], unit: str = "ms", description: str = "latency") -> metrics_pb2.Metric:
    m = metrics_pb2.Metric(name=name, unit=unit, description=description)
    for p in points:
        dp = m.summary.data_points.add(count=p["count"], sum=p["sum"], start_time_unix_nano=p.get("start", 0),
                                       time_unix_nano=p.get("time", 0))
        dp.attributes.extend(kvs(p.get("attrs", [])))
        for q, v in p.get("quantiles", []):
            dp.quantile_values.add(quantile=q, value=v)
    return m


# ---------------------------------------------------------------------------------------------
# Config


def test_defaults():
    cfg = validate(Config, {}, "processors::transform")
    assert cfg.error_mode == "ignore"  # upstream v0.161.0's default (defaultErrorModeIgnore is stable)
    assert cfg.trace_statements == cfg.metric_statements == cfg.log_statements == cfg.profile_statements == []
    assert cfg.flatten_data is False


def test_basic_style_is_one_group_with_inferred_context():
    cfg = validate(Config, {"trace_statements": ['set(span.name, "x")', 'set(resource.attributes["a"], 1)']},
                   "processors::transform")
    assert len(cfg.trace_statements) == 1
    group = cfg.trace_statements[0]
    assert group.context == "" and group.statements == ['set(span.name, "x")', 'set(resource.attributes["a"], 1)']


def test_advanced_style_keys_and_case_insensitive_values():
    cfg = validate(Config, {"error_mode": "Propagate", "log_statements": [
        {"context": "LOG", "conditions": ['body == "x"'], "statements": ['set(attributes["a"], 1)'],
         "error_mode": "SILENT", "shared_cache": True}]}, "processors::transform")
    g = cfg.log_statements[0]
    assert (cfg.error_mode, g.context, g.error_mode, g.shared_cache) == ("propagate", "log", "silent", True)


def test_groups_then_plain_strings_make_a_last_group():
    cfg = validate(Config, {"trace_statements": [
        {"context": "span", "statements": ['set(name, "a")']}, 'set(span.attributes["b"], 2)']},
        "processors::transform")
    assert [g.context for g in cfg.trace_statements] == ["span", ""]
    assert cfg.trace_statements[1].statements == ['set(span.attributes["b"], 2)']


@pytest.mark.parametrize("raw_config, message", [
    ({"trace_statements": ['set(span.name, "x")', {"context": "span", "statements": []}]},
     "processors::transform: configuring multiple configuration styles is not supported, please use only Basic "
     "configuration or only Advanced configuration"),
    ({"metric_statements": "set(metric.name, \"x\")"},
     'invalid metric_statements type, expected: array, got: %!t(string=set(metric.name, "x"))'),
    ({"log_statements": [None]},
     "invalid log_statements item: empty statement list items are not supported"),
    ({"trace_statements": [{"context": "foo"}]}, "trace_statements::0::context: unknown context foo"),
    ({"error_mode": "Loud"}, "processors::transform::error_mode: unknown error mode loud"),
    ({"trace_statements": [{"context": "span", "error_mode": "x", "statements": []}]},
     "trace_statements::0::error_mode: unknown error mode x"),
    ({"trace_statements": [{"context": "span", "statement": []}]}, "trace_statements::0::statement: unknown key"),
    ({"flatten_data": True},
     "processors::transform: 'flatten_data' requires the 'transform.flatten.logs' feature gate to be enabled"),
    ({"bogus": 1}, "processors::transform::bogus: unknown key"),
])
def test_config_shape_errors(raw_config, message):
    assert message in config_error(raw_config)


def test_statement_errors_name_the_statement_with_its_prepended_paths():
    message = config_error({"trace_statements": [{"context": "span", "statements": [
        "set(nme, 1)", "bad_fn(name)", 'set(attributes["ok"], 1)']}]})
    assert ('unable to parse OTTL statement "set(span.nme, 1)": error while parsing arguments for call to "set": '
            'invalid argument at position 0: segment "nme" from path "span.nme" is not a valid path nor a valid '
            "OTTL keyword for the span context") in message
    assert '\nunable to parse OTTL statement "bad_fn(span.name)": undefined function "bad_fn"' in message


def test_condition_errors():
    message = config_error({"log_statements": [{"context": "log", "conditions": ["nope == 1"],
                                                "statements": ['set(attributes["a"], 1)']}]})
    assert 'unable to parse OTTL condition "nope == 1"' in message
    # conditions get converters only: an editor is not a condition
    message = config_error({"log_statements": [{"context": "log", "conditions": ["set(attributes, 1)"],
                                                "statements": []}]})
    assert 'unable to parse OTTL condition "set(attributes, 1)"' in message


def test_errors_of_every_signal_and_group_are_reported_together():
    message = config_error({
        "log_statements": ["set(log.body, 1)", "x(resource.attributes)"],
        "metric_statements": [{"context": "datapoint", "statements": ["convert_sum_to_gauge()"]}],
    })
    metric_part = 'unable to parse OTTL statement "convert_sum_to_gauge()": undefined function "convert_sum_to_gauge"'
    log_part = ('unable to infer a valid context (["resource" "scope" "log"]) from statements '
                '["set(log.body, 1)" "x(resource.attributes)"] and conditions []: inferred context "log" does not '
                'support the function "x"')
    assert metric_part in message and log_part in message
    assert message.index(metric_part) < message.index(log_part)  # upstream validates metrics before logs
    assert "; unable to infer" in message


@pytest.mark.parametrize("raw_config, message", [
    ({"trace_statements": ['set(attributes["a"], 1)']},
     'unable to infer context from statements ["resource" "scope" "span" "spanevent"] and conditions '
     '["set(attributes[\\"a\\"], 1)"], path\'s first segment must be a valid context name [], and at least one '
     "context must be capable of parsing all statements"),
    ({"log_statements": ['set(span.name, "a")']},
     'unable to infer a valid context (["resource" "scope" "log"]) from statements ["set(span.name, \\"a\\")"] and '
     'conditions []: inferred context "span" is not a valid candidate'),
    ({"trace_statements": [{"context": "log", "statements": ['set(attributes["a"], 1)']}]},
     'unknown context "log" for statements: [set(attributes["a"], 1)]'),
])
def test_inference_and_context_errors(raw_config, message):
    assert message in config_error(raw_config)


def test_metric_functions_are_restricted_to_their_context():
    assert 'undefined function "convert_summary_sum_val_to_sum"' in config_error({"metric_statements": [
        {"context": "metric", "statements": ['convert_summary_sum_val_to_sum("delta", false)']}]})
    assert 'undefined function "extract_sum_metric"' in config_error({"metric_statements": [
        {"context": "datapoint", "statements": ["extract_sum_metric(true)"]}]})
    assert 'undefined function "convert_sum_to_gauge"' in config_error({"trace_statements": [
        {"context": "span", "statements": ["convert_sum_to_gauge()"]}]})


@pytest.mark.parametrize("statement, message", [
    ('convert_gauge_to_sum("sometimes", true)', "couldn't create function: unknown aggregation temporality: sometimes"),
    ('aggregate_on_attributes("avg")', "couldn't create function: invalid aggregation function: 'unsupported "
     "function: 'avg'', valid options: sum, mean, min, max, median, count"),
    ("extract_percentile_metric(100.0)",
     "couldn't create function: percentile must be greater than 0 and less than 100, got 100.000000"),
    ("extract_percentile_metric(50)", "invalid argument at position 0: must be a float"),
    ('convert_exponential_histogram_to_histogram("linear", [1.0])',
     "couldn't create function: invalid conversion function: linear, must be one of [upper, midpoint, random, uniform]"),
    ('convert_exponential_histogram_to_histogram("upper", [])',
     "couldn't create function: explicit bounds cannot be empty: []"),
    ("scale_metric(2)", "must be a float"),
])
def test_metric_function_argument_errors(statement, message):
    assert message in config_error({"metric_statements": [{"context": "metric", "statements": [statement]}]})


def test_datapoint_function_argument_errors():
    assert 'unsupported method "halve", expected "remove_explicit_bound" or "limit_buckets"' in config_error(
        {"metric_statements": [{"context": "datapoint", "statements": ['merge_histogram_buckets(1.0, "halve")']}]})
    assert 'target_value must be a positive integer when method is "limit_buckets", got 2.5' in config_error(
        {"metric_statements": [{"context": "datapoint",
                                "statements": ['merge_histogram_buckets(2.5, "limit_buckets")']}]})


def test_not_ported_functions_are_named():
    assert 'function "ParseCEF" is not supported yet by otelflow' in config_error(
        {"log_statements": [{"context": "log", "statements": ['set(attributes["x"], ParseCEF(body))']}]})


def test_profile_statements_are_accepted_and_ignored():
    cfg = validate(Config, {"profile_statements": ['set(profile.attributes["a"], 1)']}, "processors::transform")
    assert len(cfg.profile_statements) == 1


# ---------------------------------------------------------------------------------------------
# Inference and context walking


async def test_flat_statements_run_in_the_inferred_context():
    out = await run({"trace_statements": [
        'set(span.attributes["svc"], resource.attributes["service.name"])',
        'set(span.name, Concat([span.name, "!"], "")) where span.attributes["http.method"] == "GET"',
    ]}, simple_traces())
    assert span_list(out) == [("GET /a!", {"http.method": "GET", "svc": "cart"}),
                              ("POST /b", {"http.method": "POST", "svc": "cart"}),
                              ("charge", {"svc": "pay"})]


async def test_resource_only_statements_run_once_per_resource():
    out = await run({"trace_statements": [
        'set(resource.attributes["n"], Len(resource.attributes))',
        'set(resource.attributes["n"], resource.attributes["n"] + 10)',
    ]}, simple_traces())
    assert [dict(pairs(rs.resource.attributes))["n"] for rs in out.resource_spans] == [11, 11]


async def test_scope_and_spanevent_contexts():
    out = await run({"trace_statements": [
        {"context": "scope", "statements": ['set(name, Concat([name, "v2"], "-"))']},
        {"context": "spanevent", "statements": ['set(attributes["span"], span.name)',
                                                'set(attributes["scope"], instrumentation_scope.name)']},
    ]}, simple_traces())
    assert [ss.scope.name for rs in out.resource_spans for ss in rs.scope_spans] == ["lib-v2", "lib2-v2"]
    events = [(e.name, dict(pairs(e.attributes))) for rs in out.resource_spans for ss in rs.scope_spans
              for s in ss.spans for e in s.events]
    assert events == [("ev1", {"span": "GET /a", "scope": "lib-v2"}), ("ev2", {"span": "charge", "scope": "lib2-v2"}),
                      ("ev3", {"span": "charge", "scope": "lib2-v2"})]


async def test_datapoint_function_moves_inference_to_a_lower_context():
    # metric.name names the metric context, which lacks convert_summary_count_val_to_sum: the
    # inferrer moves to datapoint, where it is defined (one appended metric per summary point)
    req = metrics_request(summary("rpc", [{"count": 3, "sum": 1.5}, {"count": 4, "sum": 2.0}]))
    out = await run({"metric_statements": [
        'convert_summary_count_val_to_sum("delta", true) where metric.name == "rpc"']}, req)
    names = [m.name for m in out_metrics(out)]
    assert names == ["rpc", "rpc_count", "rpc_count"]
    assert [number_points(m.sum.data_points) for m in out_metrics(out)[1:]] == [[({}, 3, 0, 0), ({}, 4, 0, 0)]] * 2


async def test_group_conditions_are_ored_and_use_the_group_context():
    out = await run({"trace_statements": [{
        "context": "span",
        "conditions": ['name == "charge"', 'attributes["http.method"] == "POST"'],
        "statements": ['set(attributes["hit"], true)'],
    }]}, simple_traces())
    assert [n for n, a in span_list(out) if a.get("hit")] == ["POST /b", "charge"]


async def test_inferred_group_conditions_need_context_names():
    out = await run({"trace_statements": [{
        "conditions": ['resource.attributes["service.name"] == "pay"'],
        "statements": ['set(span.attributes["hit"], true)'],
    }]}, simple_traces())
    assert [n for n, a in span_list(out) if a.get("hit")] == ["charge"]
    assert "missing context name" in config_error({"trace_statements": [
        {"conditions": ['name == "x"'], "statements": ['set(span.attributes["hit"], true)']}]})


async def test_is_root_span_and_metric_condition_functions():
    req = simple_traces()
    req.resource_spans[0].scope_spans[0].spans[1].parent_span_id = b"\x01" * 8
    out = await run({"trace_statements": ['set(span.attributes["root"], IsRootSpan())']}, req)
    assert [a["root"] for _, a in span_list(out)] == [True, False, True]

    req = metrics_request(gauge("a", [([("k", "v")], 1, 0, 0)]), gauge("b", [([("k", "w")], 1, 0, 0)]),
                          gauge("c", [([], 1, 0, 0)]))
    out = await run({"metric_statements": [{"context": "metric", "conditions": ['HasAttrOnDatapoint("k", "v")'],
                                            "statements": ['set(description, "one")']},
                                           {"context": "metric", "conditions": ['HasAttrKeyOnDatapoint("k")'],
                                            "statements": ['set(unit, "has-k")']}]}, req)
    assert [(m.name, m.description, m.unit) for m in out_metrics(out)] == [
        ("a", "one", "has-k"), ("b", "", "has-k"), ("c", "", "")]


async def test_metric_statements_see_appended_metrics():
    req = metrics_request(gauge("a", [([], 1, 0, 0)]))
    out = await run({"metric_statements": [
        'copy_metric(name="b") where metric.name == "a"',
        'copy_metric(name="c") where metric.name == "b"',  # runs on the copy when the loop reaches it
    ]}, req)
    assert [m.name for m in out_metrics(out)] == ["a", "b", "c"]


async def test_exemplar_context():
    m = gauge("a", [([], 1, 0, 0)])
    m.gauge.data_points[0].exemplars.add(as_double=1.5).filtered_attributes.extend(kvs([("x", "y")]))
    out = await run({"metric_statements": [{"context": "exemplar", "statements": [
        'set(filtered_attributes["metric"], metric.name)', "set(double_value, double_value * 2)"]}]}, metrics_request(m))
    ex = out_metrics(out)[0].gauge.data_points[0].exemplars[0]
    assert ex.as_double == 3.0 and dict(pairs(ex.filtered_attributes)) == {"x": "y", "metric": "a"}


async def test_logs_and_empty_containers_are_kept():
    req = logs(("drop me", [("a", 1)]), ("keep", []))
    req.resource_logs.add().scope_logs.add()  # an empty scope stays as it is
    out = await run({"log_statements": ['set(log.body, nil) where log.body == "drop me"',
                                        'delete_key(log.attributes, "a")']}, req)
    records = out.resource_logs[0].scope_logs[0].log_records
    assert [r.body.WhichOneof("value") for r in records] == [None, "string_value"]
    assert len(out.resource_logs) == 2 and len(out.resource_logs[1].scope_logs) == 1


async def test_no_groups_passes_data_through():
    proc, sink = build({}, Signal.TRACES)
    req = simple_traces()
    await proc.consume(req)
    assert sink.received[0] is req


async def test_set_semconv_span_name():
    req = traces(([], [("lib", [
        ("GET", [("http.request.method", "GET"), ("http.route", "/users/{id}")], []),
        ("call", [("rpc.system", "grpc"), ("rpc.service", "Cart"), ("rpc.method", "Add")], []),
        ("query", [("db.system.name", "postgresql"), ("db.operation.name", "SELECT"), ("db.namespace", "shop"),
                   ("db.collection.name", "orders")], []),
        ("send", [("messaging.system", "kafka"), ("messaging.operation.name", "publish"),
                  ("messaging.destination.name", "orders")], []),
        ("plain", [("http.method", "POST")], []),
    ])]))
    spans = req.resource_spans[0].scope_spans[0].spans
    for span, kind in zip(spans, (2, 2, 3, 4, 1)):
        span.kind = kind
    out = await run({"trace_statements": [{"context": "span", "statements": [
        'set_semconv_span_name("1.37.0", "original")']}]}, req)
    assert [(n, a.get("original")) for n, a in span_list(out)] == [
        ("GET /users/{id}", "GET"), ("Cart/Add", "call"), ("SELECT shop.orders", "query"),
        ("publish orders", "send"), ("plain", None)]
    assert 'unsupported semconv version "1.20.0": must be between 1.37.0 and 1.43.0' in config_error(
        {"trace_statements": [{"context": "span", "statements": ['set_semconv_span_name("1.20.0")']}]})
    assert 'failed to parse semconv version "x": Invalid Semantic Version' in config_error(
        {"trace_statements": [{"context": "span", "statements": ['set_semconv_span_name("x")']}]})


async def test_parse_clf():
    line = '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a\\x41 HTTP/1.0" 200 2326 "http://r" "curl/8"'
    out = await run({"log_statements": [
        'merge_maps(log.attributes, ParseCLF(log.body, "combined"), "upsert") where log.body != "bad"',
        'set(log.attributes["short"], ParseCLF(log.body)) where log.body == "bad"']},
        logs((line, []), ("bad", [])))
    attrs = dict(pairs(out.resource_logs[0].scope_logs[0].log_records[0].attributes))
    assert attrs == {"clf.remote_host": "127.0.0.1", "clf.rfc931": "-", "clf.auth_user": "frank",
                     "clf.timestamp": "10/Oct/2000:13:55:36 -0700", "clf.request": "GET /aA HTTP/1.0",
                     "clf.method": "GET", "clf.request_uri": "/aA", "clf.protocol": "HTTP/1.0", "clf.status": 200,
                     "clf.bytes": 2326, "clf.referer": "http://r", "clf.user_agent": "curl/8"}
    proc, _ = build({"error_mode": "propagate", "log_statements": [
        'set(log.attributes["x"], ParseCLF(log.body))']}, Signal.LOGS)
    with pytest.raises(ConsumerError, match='invalid CLF message: does not match expected "clf" format'):
        await proc.consume(logs(("bad", [])))


# ---------------------------------------------------------------------------------------------
# Caches


async def test_cache_is_fresh_per_item():
    out = await run({"trace_statements": [{"context": "span", "statements": [
        'set(cache["n"], 0) where cache["n"] == nil',
        'set(cache["n"], cache["n"] + 1)',
        'set(attributes["n"], cache["n"])']}]}, simple_traces())
    assert [a["n"] for _, a in span_list(out)] == [1, 1, 1]


async def test_shared_cache_spans_items_groups_and_requests():
    proc, sink = build({"trace_statements": [
        {"context": "span", "shared_cache": True, "statements": [
            'set(cache["n"], 0) where cache["n"] == nil', 'set(cache["n"], cache["n"] + 1)']},
        {"context": "span", "shared_cache": True, "statements": ['set(attributes["n"], cache["n"])']},
        {"context": "span", "statements": ['set(attributes["own"], cache["n"])']},
    ]}, Signal.TRACES)
    await proc.consume(simple_traces())
    await proc.consume(simple_traces())
    first, second = sink.received
    assert [a["n"] for _, a in span_list(first)] == [3, 3, 3]
    assert [a["n"] for _, a in span_list(second)] == [6, 6, 6]  # upstream never clears the shared cache
    assert all(a.get("own") is None for _, a in span_list(second))


# ---------------------------------------------------------------------------------------------
# Error modes

FAILING = 'set(attributes["n"], Int(attributes["http.method"]))'  # "GET" is no int: fails at run time


async def test_propagate_raises_a_retryable_error_naming_the_statement(caplog):
    proc, sink = build({"error_mode": "propagate", "trace_statements": [
        {"context": "span", "statements": [FAILING, 'set(attributes["after"], true)']}]}, Signal.TRACES)
    with caplog.at_level(logging.ERROR), pytest.raises(ConsumerError) as err:
        await proc.consume(simple_traces())
    assert not err.value.permanent
    assert str(err.value) == ('failed to execute statement: set(span.attributes["n"], '
                              'Int(span.attributes["http.method"])), strconv.ParseInt: parsing "GET": invalid syntax')
    assert sink.received == []
    assert any(r.getMessage() == "failed processing traces" for r in caplog.records)


async def test_ignore_logs_and_continues(caplog):
    with caplog.at_level(logging.WARNING):
        out = await run({"trace_statements": [{"context": "span", "statements": [
            FAILING, 'set(attributes["after"], true)']}]}, simple_traces())  # default error_mode: ignore
    assert [a.get("after") for _, a in span_list(out)] == [True, True, True]
    assert sum(r.getMessage() == "failed to execute statement" for r in caplog.records) == 2  # "charge" has nil


async def test_silent_continues_without_logging(caplog):
    with caplog.at_level(logging.DEBUG):
        out = await run({"error_mode": "silent", "trace_statements": [{"context": "span", "statements": [
            FAILING, 'set(attributes["after"], true)']}]}, simple_traces())
    assert [a.get("after") for _, a in span_list(out)] == [True, True, True]
    assert not any("failed" in r.getMessage() for r in caplog.records)


async def test_group_error_mode_overrides_the_processor():
    out = await run({"error_mode": "propagate", "trace_statements": [
        {"context": "span", "error_mode": "ignore", "statements": [FAILING]},
        {"context": "span", "statements": ['set(attributes["second"], true)']}]}, simple_traces())
    assert all(a["second"] for _, a in span_list(out))
    proc, _ = build({"error_mode": "ignore", "trace_statements": [
        {"context": "span", "error_mode": "propagate", "statements": [FAILING]}]}, Signal.TRACES)
    with pytest.raises(ConsumerError):
        await proc.consume(simple_traces())


async def test_condition_errors_follow_the_error_mode():
    cond = 'Int(attributes["http.method"]) > 1'
    proc, _ = build({"error_mode": "propagate", "trace_statements": [
        {"context": "span", "conditions": [cond], "statements": ['set(attributes["x"], 1)']}]}, Signal.TRACES)
    with pytest.raises(ConsumerError, match="failed to eval condition"):
        await proc.consume(simple_traces())
    out = await run({"trace_statements": [
        {"context": "span", "conditions": [cond, 'name == "charge"'], "statements": ['set(attributes["x"], 1)']}]},
        simple_traces())
    assert [n for n, a in span_list(out) if "x" in a] == ["charge"]


async def test_metric_function_runtime_errors():
    req = metrics_request(gauge("g", [([], 1, 0, 0)]), histogram("h", [{"count": 1, "sum": 2.0}], temporality=0))
    proc, _ = build({"error_mode": "propagate", "metric_statements": [
        {"context": "metric", "statements": ["extract_sum_metric(true)"]}]}, Signal.METRICS)
    with pytest.raises(ConsumerError) as err:
        await proc.consume(req)
    assert str(err.value).endswith(
        "extract_sum_metric requires an input metric of type Histogram, ExponentialHistogram or Summary, got Gauge")
    proc, _ = build({"error_mode": "propagate", "metric_statements": [
        {"context": "metric", "statements": ["extract_count_metric(true) where metric.name == \"h\""]}]},
        Signal.METRICS)
    with pytest.raises(ConsumerError, match="got Histogram"):  # unspecified temporality
        await proc.consume(req)
    proc, _ = build({"error_mode": "propagate", "metric_statements": [
        {"context": "metric", "statements": ["scale_metric(2.0)"]}]}, Signal.METRICS)
    with pytest.raises(ConsumerError, match="unsupported metric type: 'Empty'"):
        await proc.consume(metrics_request(metrics_pb2.Metric(name="empty")))
    with pytest.raises(ConsumerError, match="exponential histograms are not supported by the 'scale_metric' function"):
        await proc.consume(metrics_request(exp_histogram("e", [{"count": 1}])))
    proc, _ = build({"error_mode": "propagate", "metric_statements": [
        {"context": "metric", "statements": ['aggregate_on_attributes("sum")']}]}, Signal.METRICS)
    with pytest.raises(ConsumerError, match="aggregate_on_attributes does not support aggregating Summary metrics"):
        await proc.consume(metrics_request(summary("s", [{"count": 1, "sum": 1.0}])))


# ---------------------------------------------------------------------------------------------
# Metric functions: exact output


async def test_convert_sum_to_gauge_and_back():
    req = metrics_request(sum_metric("s", [([("a", "b")], 5, 1, 2)], unit="By"), gauge("g", [([], 1.5, 3, 4)]))
    out = await run({"metric_statements": [{"context": "metric", "statements": ["convert_sum_to_gauge()"]}]}, req)
    s, g = out_metrics(out)
    assert s.WhichOneof("data") == "gauge" and s.unit == "By"
    assert number_points(s.gauge.data_points) == [({"a": "b"}, 5, 1, 2)]
    assert g.WhichOneof("data") == "gauge"

    req = metrics_request(gauge("g", [([], 1.5, 3, 4)]), sum_metric("s", [([], 5, 1, 2)], temporality=1))
    out = await run({"metric_statements": ['convert_gauge_to_sum("cumulative", false) where metric.name == "g"']}, req)
    g, s = out_metrics(out)
    assert g.WhichOneof("data") == "sum"
    assert (g.sum.aggregation_temporality, g.sum.is_monotonic) == (2, False)
    assert number_points(g.sum.data_points) == [({}, 1.5, 3, 4)]
    assert s.sum.aggregation_temporality == 1  # untouched


async def test_convert_summary_sum_and_count_val_to_sum():
    src = summary("rpc", [{"count": 10, "sum": 12.5, "start": 1, "time": 2, "attrs": [("m", "GET")]}])
    out = await run({"metric_statements": [{"context": "datapoint", "statements": [
        'convert_summary_sum_val_to_sum("delta", true)',
        'convert_summary_count_val_to_sum("cumulative", false, ".n")']}]}, metrics_request(src))
    metrics = out_metrics(out)
    assert [(m.name, m.unit, m.description) for m in metrics] == [
        ("rpc", "ms", "latency"), ("rpc_sum", "ms", "latency"), ("rpc.n", "ms", "latency")]
    assert (metrics[1].sum.aggregation_temporality, metrics[1].sum.is_monotonic) == (1, True)
    assert number_points(metrics[1].sum.data_points) == [({"m": "GET"}, 12.5, 1, 2)]
    assert (metrics[2].sum.aggregation_temporality, metrics[2].sum.is_monotonic) == (2, False)
    assert number_points(metrics[2].sum.data_points) == [({"m": "GET"}, 10, 1, 2)]


async def test_convert_summary_quantile_val_to_gauge():
    src = summary("rpc", [{"count": 2, "sum": 3.0, "start": 5, "time": 6, "attrs": [("m", "GET"), ("quantile", "x")],
                           "quantiles": [(0.5, 1.0), (0.99, 2.0)]}])
    out = await run({"metric_statements": ["convert_summary_quantile_val_to_gauge()",
                                           'convert_summary_quantile_val_to_gauge("q", "_q") where metric.name == "rpc"']},
                    metrics_request(src))
    metrics = out_metrics(out)
    assert [m.name for m in metrics] == ["rpc", "rpc.quantiles", "rpc_q"]
    assert number_points(metrics[1].gauge.data_points) == [
        ({"m": "GET", "quantile": 0.5}, 1.0, 5, 6), ({"m": "GET", "quantile": 0.99}, 2.0, 5, 6)]
    assert [pairs(dp.attributes) for dp in metrics[2].gauge.data_points][0] == [
        ("m", "GET"), ("quantile", "x"), ("q", 0.5)]


async def test_copy_metric():
    src = gauge("a", [([], 1, 0, 0)], unit="s", description="d")
    src.metadata.extend(kvs([("k", "v")]))
    out = await run({"metric_statements": [
        'copy_metric(name="b", unit="ms") where metric.name == "a"',
        'copy_metric(name="c", description=Concat([metric.description, "copy"], " ")) where metric.name == "b"']},
        metrics_request(src))
    metrics = out_metrics(out)
    assert [(m.name, m.unit, m.description) for m in metrics] == [("a", "s", "d"), ("b", "ms", "d"), ("c", "ms", "d copy")]
    assert all(dict(pairs(m.metadata)) == {"k": "v"} for m in metrics)


async def test_scale_metric():
    h = histogram("h", [{"count": 2, "sum": 3.0, "min": 1.0, "max": 2.0, "explicit_bounds": [1.0, 5.0],
                         "bucket_counts": [1, 1, 0]}])
    h.histogram.data_points[0].exemplars.add(as_int=3)
    h.histogram.data_points.add(count=1)  # no sum/min/max: stay absent
    req = metrics_request(gauge("g", [([], 3, 0, 0), ([], 1.5, 0, 0)]), sum_metric("s", [([], -7, 0, 0)]), h,
                          summary("q", [{"count": 4, "sum": 2.0, "quantiles": [(0.5, 1.0)]}]))
    out = await run({"metric_statements": [{"context": "metric", "statements": ['scale_metric(2.5, "kB")']}]}, req)
    g, s, h, q = out_metrics(out)
    assert [v for _, v, _, _ in number_points(g.gauge.data_points)] == [7, 3.75]
    assert [v for _, v, _, _ in number_points(s.sum.data_points)] == [-17]  # int64(-17.5) truncates
    dp = h.histogram.data_points[0]
    assert (dp.sum, dp.min, dp.max, list(dp.explicit_bounds), list(dp.bucket_counts), dp.count) == (
        7.5, 2.5, 5.0, [2.5, 12.5], [1, 1, 0], 2)
    assert dp.exemplars[0].as_int == 7
    assert not any(h.histogram.data_points[1].HasField(f) for f in ("sum", "min", "max"))
    assert (q.summary.data_points[0].sum, q.summary.data_points[0].quantile_values[0].value,
            q.summary.data_points[0].count) == (5.0, 2.5, 4)
    assert {m.unit for m in (g, s, h, q)} == {"kB"}


async def test_extract_sum_and_count_metric():
    h = histogram("h", [{"count": 3, "sum": 6.0, "attrs": [("a", "1")], "start_time_unix_nano": 1,
                         "time_unix_nano": 2}, {"count": 2}], temporality=1, description="hist")
    e = exp_histogram("e", [{"count": 4, "sum": 1.0, "time_unix_nano": 9}])
    q = summary("q", [{"count": 7, "sum": 0.0, "time": 3}])
    g = gauge("g", [([], 1, 0, 0)])
    out = await run({"metric_statements": [
        'extract_sum_metric(true) where metric.type != METRIC_DATA_TYPE_GAUGE and metric.type != METRIC_DATA_TYPE_SUM',
        'extract_count_metric(false, ".count") where metric.type != METRIC_DATA_TYPE_GAUGE and metric.type != METRIC_DATA_TYPE_SUM',
    ]}, metrics_request(h, e, q, g))
    by_name = {m.name: m for m in out_metrics(out)}
    assert [m.name for m in out_metrics(out)] == [
        "h", "e", "q", "g", "h_sum", "h.count", "e_sum", "e.count", "q_sum", "q.count"]
    hs, hc = by_name["h_sum"], by_name["h.count"]
    assert (hs.unit, hs.description, hs.sum.aggregation_temporality, hs.sum.is_monotonic) == ("ms", "hist", 1, True)
    assert number_points(hs.sum.data_points) == [({"a": "1"}, 6.0, 1, 2)]  # the point without a sum is skipped
    assert (hc.unit, hc.sum.is_monotonic) == ("1", False)
    assert number_points(hc.sum.data_points) == [({"a": "1"}, 3, 1, 2), ({}, 2, 0, 0)]
    assert by_name["q_sum"].sum.aggregation_temporality == 2  # summaries count as cumulative
    assert number_points(by_name["q_sum"].sum.data_points) == [({}, 0.0, 0, 3)]
    assert number_points(by_name["e.count"].sum.data_points) == [({}, 4, 0, 9)]


async def test_extract_sum_metric_skips_a_metric_without_sums():
    out = await run({"metric_statements": [{"context": "metric", "statements": ["extract_sum_metric(true)"]}]},
                    metrics_request(histogram("h", [{"count": 2}])))
    assert [m.name for m in out_metrics(out)] == ["h"]


async def test_extract_percentile_metric():
    h = histogram("lat", [
        {"count": 10, "explicit_bounds": [1.0, 2.0, 4.0], "bucket_counts": [2, 3, 5, 0], "attrs": [("r", "/")],
         "time_unix_nano": 7},
        {"count": 0, "explicit_bounds": [1.0], "bucket_counts": [0, 0]},  # skipped
        {"count": 4, "explicit_bounds": [1.0], "bucket_counts": [1, 3], "max": 9.0},
        {"count": 4, "bucket_counts": [4], "min": 2.0, "max": 6.0},
    ], description="latency")
    e = exp_histogram("exp", [{"count": 8, "scale": 0, "zero_count": 0, "positive": (0, [2, 2, 4])}])
    out = await run({"metric_statements": ["extract_percentile_metric(50.0)",
                                           'extract_percentile_metric(99.9, "_top") where metric.name == "lat"']},
                    metrics_request(h, e))
    by_name = {m.name: m for m in out_metrics(out)}
    assert [m.name for m in out_metrics(out)] == ["lat", "exp", "lat_p50", "lat_top", "exp_p50"]
    p50 = by_name["lat_p50"]
    assert (p50.description, p50.unit, p50.WhichOneof("data")) == ("latency (p50)", "ms", "gauge")
    # target 5 of 10: bucket (1, 2] holds 3..5 -> upper end; 2 of 4: (1, 9] with max 9 -> 1 + 1/3*8; 2 of 4 in [2, 6]
    assert number_points(p50.gauge.data_points) == [({"r": "/"}, 2.0, 0, 7), ({}, 1 + (1 / 3) * 8, 0, 0),
                                                    ({}, 4.0, 0, 0)]
    assert by_name["exp_p50"].description == "p50"
    # exponential, scale 0: target 4 of 8 falls at the end of bucket (2, 4]
    assert number_points(by_name["exp_p50"].gauge.data_points) == [({}, go_exp2(go_log2(2.0) + (go_log2(4.0) - go_log2(2.0)) * 1.0), 0, 0)]
    assert by_name["lat_top"].description == "latency (p99.9)"


async def test_aggregate_on_attributes():
    req = metrics_request(
        sum_metric("s", [([("a", "1"), ("b", "x")], 2, 5, 10), ([("a", "1"), ("b", "y")], 3, 4, 10),
                         ([("a", "2"), ("b", "x")], 7, 5, 10)], unit="1", description="d"),
        gauge("g", [([("a", "1"), ("b", "x")], 2.0, 0, 10), ([("a", "1"), ("b", "y")], 4.0, 0, 10),
                    ([("a", "1")], 9.0, 0, 11)]),
    )
    req.resource_metrics[0].scope_metrics[0].metrics[0].metadata.extend(kvs([("m", "v")]))
    out = await run({"metric_statements": [
        'aggregate_on_attributes("sum", ["a"]) where metric.name == "s"',
        'aggregate_on_attributes("mean", ["a"]) where metric.name == "g"']}, req)
    s, g = out_metrics(out)
    assert (s.name, s.unit, s.description, s.sum.aggregation_temporality, s.sum.is_monotonic) == ("s", "1", "d", 2, True)
    assert len(s.metadata) == 0  # upstream rebuilds the metric without its metadata
    assert number_points(s.sum.data_points) == [({"a": "1"}, 5, 4, 10), ({"a": "2"}, 7, 5, 10)]
    assert number_points(g.gauge.data_points) == [({"a": "1"}, 3.0, 0, 10), ({"a": "1"}, 9.0, 0, 11)]


@pytest.mark.parametrize("function, ints, doubles", [
    ("sum", 12, 12.0), ("mean", 4, 4.0), ("min", 1, 1.0), ("max", 8, 8.0), ("median", 3, 3.0), ("count", 3, 3.0),
])
async def test_aggregate_functions(function, ints, doubles):
    req = metrics_request(gauge("i", [([("k", "a")], v, 0, 1) for v in (3, 8, 1)]),
                          gauge("d", [([("k", "b")], float(v), 0, 1) for v in (3, 8, 1)]))
    out = await run({"metric_statements": [{"context": "metric", "statements": [f'aggregate_on_attributes("{function}", [])']}]}, req)
    i, d = out_metrics(out)
    assert number_points(i.gauge.data_points) == [({}, ints, 0, 1)]
    assert number_points(d.gauge.data_points) == [({}, doubles, 0, 1)]


async def test_aggregate_delta_sums_keep_start_times_apart_and_histograms_merge():
    s = sum_metric("s", [([], 1, 1, 10), ([], 2, 2, 10), ([], 3, 1, 10)], temporality=1)
    h = histogram("h", [
        {"count": 2, "sum": 3.0, "min": 1.0, "max": 2.0, "explicit_bounds": [1.0], "bucket_counts": [1, 1],
         "attrs": [("a", "x")], "time_unix_nano": 5, "start_time_unix_nano": 3},
        {"count": 1, "sum": 0.5, "min": 0.5, "max": 0.5, "explicit_bounds": [1.0], "bucket_counts": [1, 0],
         "attrs": [("a", "y")], "time_unix_nano": 5, "start_time_unix_nano": 2},
        {"count": 1, "explicit_bounds": [2.0], "bucket_counts": [0, 1], "time_unix_nano": 5},  # other bounds
    ])
    out = await run({"metric_statements": [{"context": "metric", "statements": ['aggregate_on_attributes("sum", [])']}]}, metrics_request(s, h))
    s, h = out_metrics(out)
    assert number_points(s.sum.data_points) == [({}, 4, 1, 10), ({}, 2, 2, 10)]
    first, second = h.histogram.data_points
    assert (first.count, first.sum, first.min, first.max, list(first.bucket_counts), first.start_time_unix_nano) == (
        3, 3.5, 0.5, 2.0, [2, 1], 2)
    assert list(second.explicit_bounds) == [2.0] and not second.HasField("min")


async def test_aggregate_exponential_histograms_with_offsets():
    e = exp_histogram("e", [
        {"count": 6, "zero_count": 2, "positive": (0, [1, 2]), "negative": (3, [1, 2])},
        {"count": 5, "zero_count": 1, "positive": (1, [3, 4]), "negative": (1, [5, 6])},
        {"count": 1, "zero_count": 0, "positive": (5, [1])},
    ])
    out = await run({"metric_statements": [{"context": "metric", "statements": ['aggregate_on_attributes("sum")']}]}, metrics_request(e))
    dp = out_metrics(out)[0].exponential_histogram.data_points[0]
    assert (dp.count, dp.zero_count) == (12, 3)
    assert (dp.positive.offset, list(dp.positive.bucket_counts)) == (0, [1, 5, 4, 0, 0, 1])
    assert (dp.negative.offset, list(dp.negative.bucket_counts)) == (1, [5, 6, 1, 2])


async def test_aggregate_on_attribute_value():
    req = metrics_request(sum_metric("s", [([("env", "dev")], 1, 0, 1), ([("env", "test")], 2, 0, 1),
                                           ([("env", "prod")], 4, 0, 1), ([("other", "x")], 8, 0, 1)]))
    out = await run({"metric_statements": [{"context": "metric", "statements": [
        'aggregate_on_attribute_value("sum", "env", ["dev", "test"], "non-prod")']}]}, req)
    assert number_points(out_metrics(out)[0].sum.data_points) == [
        ({"env": "non-prod"}, 3, 0, 1), ({"env": "prod"}, 4, 0, 1), ({"other": "x"}, 8, 0, 1)]


@pytest.mark.parametrize("fn, counts", [
    ("upper", [1, 2, 4, 0]),      # buckets (1,2] -> 2, (2,4] -> 4, (4,8] -> 8 and beyond -> last
    ("midpoint", [1, 2, 4, 0]),
    ("uniform", [1, 2, 4, 0]),
])
async def test_convert_exponential_histogram_to_histogram(fn, counts):
    e = exp_histogram("e", [{"count": 7, "sum": 20.0, "scale": 0, "zero_count": 0, "positive": (0, [1, 2, 4]),
                             "attrs": [("a", "b")], "time_unix_nano": 3, "start_time_unix_nano": 1}], temporality=1)
    e.metadata.extend(kvs([("m", "v")]))
    e.exponential_histogram.data_points[0].exemplars.add(as_double=1.0)
    out = await run({"metric_statements": [{"context": "metric", "statements": [
        f'convert_exponential_histogram_to_histogram("{fn}", [2.0, 4.0, 8.0, 16.0])']}]}, metrics_request(e))
    m = out_metrics(out)[0]
    assert (m.name, m.unit, m.WhichOneof("data"), m.histogram.aggregation_temporality, len(m.metadata)) == (
        "e", "s", "histogram", 1, 0)
    dp = m.histogram.data_points[0]
    assert list(dp.explicit_bounds) == [2.0, 4.0, 8.0, 16.0]
    assert len(dp.bucket_counts) == 4  # upstream makes one count per bound
    assert sum(dp.bucket_counts) == 7
    assert (dp.count, dp.sum, dp.HasField("min"), dp.HasField("max"), dp.start_time_unix_nano, dp.time_unix_nano) == (
        7, 20.0, True, True, 1, 3)
    assert dict(pairs(dp.attributes)) == {"a": "b"} and len(dp.exemplars) == 1
    if fn == "upper":
        # (1,2] fits [.., 2]: count 1 to index 0; (2,4] to index 1; (4,8] to index 2
        assert list(dp.bucket_counts) == [1, 2, 4, 0]


async def test_convert_exponential_histogram_random_keeps_the_total():
    e = exp_histogram("e", [{"count": 100, "scale": -1, "positive": (0, [30, 70])}])
    out = await run({"metric_statements": [{"context": "metric", "statements": [
        'convert_exponential_histogram_to_histogram("random", [1.0, 3.0, 10.0, 20.0])']}]}, metrics_request(e))
    assert sum(out_metrics(out)[0].histogram.data_points[0].bucket_counts) == 100


async def test_merge_histogram_buckets():
    h = histogram("h", [
        {"count": 10, "explicit_bounds": [1.0, 2.0, 5.0, 10.0], "bucket_counts": [1, 2, 3, 2, 2]},
        {"count": 3, "explicit_bounds": [1.0], "bucket_counts": [1, 2]},
        {"count": 3, "explicit_bounds": [2.0, 1.0, 5.0], "bucket_counts": [1, 1, 1, 0]},  # not increasing
    ])
    g = gauge("g", [([], 1, 0, 0)])
    out = await run({"metric_statements": [{"context": "datapoint", "statements": [
        'merge_histogram_buckets(2.0) where metric.name == "h"',
    ]}]}, metrics_request(h, g))
    a, b, c = out_metrics(out)[0].histogram.data_points
    assert (list(a.explicit_bounds), list(a.bucket_counts)) == ([1.0, 5.0, 10.0], [1, 5, 2, 2])
    assert (list(b.explicit_bounds), list(b.bucket_counts)) == ([1.0], [1, 2])
    assert (list(c.explicit_bounds), list(c.bucket_counts)) == ([1.0, 5.0], [2, 1, 0])

    h2 = histogram("h", [
        {"count": 10, "explicit_bounds": [1.0, 2.0, 5.0, 10.0], "bucket_counts": [1, 2, 3, 2, 2]},
        {"count": 3, "explicit_bounds": [2.0, 1.0, 5.0], "bucket_counts": [1, 1, 1, 0]},
    ])
    out = await run({"metric_statements": [{"context": "datapoint", "statements": [
        'merge_histogram_buckets(2, "limit_buckets")']}]}, metrics_request(h2))
    a, c = out_metrics(out)[0].histogram.data_points
    # 5 buckets into at most 2: groups of 3 -> [1+2+3, 2+2], the bound at index 2 stays
    assert (list(a.explicit_bounds), list(a.bucket_counts)) == ([5.0], [6, 4])
    assert list(c.bucket_counts) == [1, 1, 1, 0]


async def test_merge_histogram_buckets_dynamic_target_errors():
    h = histogram("h", [{"count": 1, "explicit_bounds": [1.0], "bucket_counts": [1, 0],
                         "attrs": [("t", 0.5)]}])
    proc, _ = build({"error_mode": "propagate", "metric_statements": [{"context": "datapoint", "statements": [
        'merge_histogram_buckets(attributes["t"], "limit_buckets")']}]}, Signal.METRICS)
    with pytest.raises(ConsumerError, match='target_value must be a positive integer when method is "limit_buckets", got 0.5'):
        await proc.consume(metrics_request(h))


def test_go_math_ports():
    assert go_log2(8.0) == 3.0 and go_log2(0.5) == -1.0
    assert go_exp2(3.0) == 8.0 and go_exp2(-1.0) == 0.5
    assert math.isclose(go_exp2(0.5), math.sqrt(2), rel_tol=1e-15)


# ---------------------------------------------------------------------------------------------
# End to end: the real SDK over OTLP through an otelflow collector with a transform config


def transform_config(grpc_port: int, http_port: int, backend: str, error_mode: str = "ignore") -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
processors:
  transform:
    error_mode: {error_mode}
    trace_statements:
      - statements: ['set(span.attributes["deployment"], "prod") where resource.attributes["service.name"] == "checkout"']
      - context: span
        conditions: ['kind == SPAN_KIND_SERVER']
        statements: ['set(name, Concat(["srv", name], ":"))', 'delete_key(attributes, "ratio")']
      - context: spanevent
        statements: ['set(attributes["of"], span.name)']
    log_statements:
      - 'set(log.attributes["sev"], log.severity_text)'
      - 'set(log.body, Concat(["[", log.severity_text, "] ", log.body], ""))'
    metric_statements:
      - context: metric
        statements:
          - 'extract_count_metric(true) where metric.name == "checkout.duration"'
          - 'set(metric.description, "renamed") where metric.name == "orders_total"'
      - context: datapoint
        statements: ['set(attributes["tier"], "gold") where attributes["tier"] == "pro"']
      - context: datapoint
        error_mode: propagate
        statements: ['set(attributes["n"], Int(attributes["tier"])) where metric.name == "boom"']
exporters:
  otlp:
    endpoint: {backend}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [transform], exporters: [otlp]}}
    logs: {{receivers: [otlp], processors: [transform], exporters: [otlp]}}
    metrics: {{receivers: [otlp], processors: [transform], exporters: [otlp]}}
"""


def _all_spans(req):
    return [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_sdk_app_through_transform_to_a_backend(protocol):
    backend = await GRPCBackend().start()
    gp, hp = free_port(), free_port()
    try:
        async with running(transform_config(gp, hp, backend.endpoint)):
            endpoint = f"127.0.0.1:{gp}" if protocol == "grpc" else f"http://127.0.0.1:{hp}"
            app = SDKApp(protocol, endpoint)
            await asyncio.to_thread(app.emit, 2)
            await asyncio.to_thread(app.shutdown)
            sent = app.sent()

            def arrived():
                return all(backend.messages(Signal(s)) for s, m in sent.items() if m is not None)

            deadline = asyncio.get_running_loop().time() + 15
            while not arrived():
                assert asyncio.get_running_loop().time() < deadline, "data did not arrive"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
    finally:
        await backend.stop()

    spans = _all_spans(merged(backend.messages(Signal.TRACES)))
    sent_spans = _all_spans(sent["traces"])
    assert len(spans) == len(sent_spans) == 4
    for got, orig in zip(sorted(spans, key=lambda s: s.span_id), sorted(sent_spans, key=lambda s: s.span_id)):
        attrs = dict(pairs(got.attributes))
        assert attrs["deployment"] == "prod"
        if orig.kind == orig.SPAN_KIND_SERVER:
            assert got.name == "srv:" + orig.name and "ratio" not in attrs
            assert [dict(pairs(e.attributes))["of"] for e in got.events] == [got.name]
        else:
            assert got.name == orig.name
    records = [r for rl in merged(backend.messages(Signal.LOGS)).resource_logs for sl in rl.scope_logs
               for r in sl.log_records]
    assert records and all(raw(r.body).startswith(f"[{r.severity_text}] ") for r in records)
    assert all(dict(pairs(r.attributes))["sev"] == r.severity_text for r in records)
    metrics = {m.name: m for rm in merged(backend.messages(Signal.METRICS)).resource_metrics
               for sm in rm.scope_metrics for m in sm.metrics}
    assert metrics["orders_total"].description == "renamed"
    assert {dict(pairs(dp.attributes))["tier"] for dp in metrics["orders_total"].sum.data_points} == {"gold"}
    count = metrics["checkout.duration_count"]
    assert (count.unit, count.sum.is_monotonic) == ("1", True)
    assert sum(dp.as_int for dp in count.sum.data_points) == 2


def boom_metrics() -> bytes:
    req = metrics_request(sum_metric("boom", [([("tier", "pro")], 1, 0, 1)]))
    return req.SerializeToString()


async def test_a_propagated_failure_is_a_retryable_error_for_the_client():
    backend = await GRPCBackend().start()
    gp, hp = free_port(), free_port()
    try:
        async with running(transform_config(gp, hp, backend.endpoint)):
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{gp}")
            async with channel:
                call = channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                                           request_serializer=None, response_deserializer=None)
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call(boom_metrics(), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert err.value.details() == ('failed to execute statement: set(datapoint.attributes["n"], '
                                           'Int(datapoint.attributes["tier"])) where metric.name == "boom", '
                                           'strconv.ParseInt: parsing "gold": invalid syntax')
            status, _, _ = await http_post(f"http://127.0.0.1:{hp}/v1/metrics", body=boom_metrics())
            assert status == 503
            # the trace pipeline is untouched by the metric failure
            code, _ = await grpc_export(f"127.0.0.1:{gp}")
            assert code == grpc.StatusCode.OK
    finally:
        await backend.stop()
