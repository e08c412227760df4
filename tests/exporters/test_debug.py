"""The debug exporter and the text renderings it prints (otelflow.pdata.otlptext)."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.telemetry import Telemetry
from otelflow.exporters import debug
from otelflow.pdata import otlptext

# 2021-03-04 05:06:07.000000123 UTC and friends
T_START = 1614834367_000000123
T_END = 1614834368_500000000
T_EVENT = 1614834368_000004560
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("eee19b7ec3c1b173")


def kv(key: str, value) -> KeyValue:
    out = KeyValue(key=key)
    set_value(out.value, value)
    return out


def set_value(target: AnyValue, value) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, list):
        target.array_value.SetInParent()
        for item in value:
            set_value(target.array_value.values.add(), item)
    elif isinstance(value, dict):
        target.kvlist_value.SetInParent()
        for k, v in value.items():
            target.kvlist_value.values.append(kv(k, v))
    else:  # pragma: no cover
        raise TypeError(value)


EVERY_TYPE = [
    kv("str", "hello world"),
    kv("int", -42),
    kv("double", 3.5),
    kv("double.big", 1e21),
    kv("double.tiny", 1.5e-7),
    kv("bool", True),
    kv("bytes", b"\x00\x01\xfe\xff"),
    kv("slice", ["a", 1, 2.5, False, None, b"hi"]),
    kv("map", {"z": 1, "a": {"nested": "<tag>&"}, "m": [1.0, "x"]}),
    KeyValue(key="empty"),
]

EVERY_TYPE_TEXT = [
    "str: Str(hello world)",
    "int: Int(-42)",
    "double: Double(3.5)",
    "double.big: Double(1e+21)",
    "double.tiny: Double(1.5e-7)",
    "bool: Bool(true)",
    "bytes: Bytes(AAH+/w==)",
    'slice: Slice(["a",1,2.5,false,null,"aGk="])',
    'map: Map({"a":{"nested":"<tag>&"},"m":[1,"x"],"z":1})',
    "empty: Empty()",
]


def traces_request() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.26.0")
    rs.resource.attributes.extend([kv("service.name", "checkout"), kv("host.cores", 8)])
    ref = rs.resource.entity_refs.add(type="service", schema_url="https://example.com/e")
    ref.id_keys.append("service.name")
    ref.description_keys.append("host.cores")
    ss = rs.scope_spans.add(schema_url="https://opentelemetry.io/schemas/1.25.0")
    ss.scope.name = "io.otelflow.test"
    ss.scope.version = "0.3.1"
    ss.scope.attributes.append(kv("scope.kind", "lib"))

    span = ss.spans.add(
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        parent_span_id=PARENT_ID,
        name="GET /cart",
        kind=2,
        trace_state="vendor=a1",
        start_time_unix_nano=T_START,
        end_time_unix_nano=T_END,
        dropped_attributes_count=3,
        dropped_events_count=0,
        dropped_links_count=1,
    )
    span.status.code = 1
    span.attributes.extend(EVERY_TYPE)
    event = span.events.add(name="cache.miss", time_unix_nano=T_EVENT, dropped_attributes_count=1)
    event.attributes.append(kv("cache.key", "cart:7"))
    span.events.add(name="retry", time_unix_nano=0)
    link = span.links.add(trace_id=TRACE_ID, span_id=PARENT_ID, trace_state="k=v", dropped_attributes_count=2)
    link.attributes.append(kv("link.reason", "follows"))

    other = ss.spans.add(name="bare", kind=4, start_time_unix_nano=0, end_time_unix_nano=T_START)
    other.status.code = 2
    other.status.message = "boom"
    return req


TRACES_DETAILED = """\
ResourceSpans #0
Resource SchemaURL: https://opentelemetry.io/schemas/1.26.0
Resource attributes:
     -> service.name: Str(checkout)
     -> host.cores: Int(8)
Resource entity refs:
     -> Entity ref #0:
          -> Type: service
          -> Schema URL: https://example.com/e
          -> ID keys:
               -> service.name
          -> Description keys:
               -> host.cores
ScopeSpans #0
ScopeSpans SchemaURL: https://opentelemetry.io/schemas/1.25.0
InstrumentationScope io.otelflow.test 0.3.1
InstrumentationScope attributes:
     -> scope.kind: Str(lib)
Span #0
    Trace ID       : 5b8efff798038103d269b633813fc60c
    Parent ID      : eee19b7ec3c1b173
    ID             : eee19b7ec3c1b174
    Name           : GET /cart
    Kind           : Server
    TraceState     : vendor=a1
    Start time     : 2021-03-04 05:06:07.000000123 +0000 UTC
    End time       : 2021-03-04 05:06:08.5 +0000 UTC
    Status code    : Ok
    Status message : 
    DroppedAttributesCount: 3
    DroppedEventsCount: 0
    DroppedLinksCount: 1
Attributes:
""" + "".join(f"     -> {line}\n" for line in EVERY_TYPE_TEXT) + """\
Events:
SpanEvent #0
     -> Name: cache.miss
     -> Timestamp: 2021-03-04 05:06:08.00000456 +0000 UTC
     -> DroppedAttributesCount: 1
     -> Attributes::
          -> cache.key: Str(cart:7)
SpanEvent #1
     -> Name: retry
     -> Timestamp: 1970-01-01 00:00:00 +0000 UTC
     -> DroppedAttributesCount: 0
Links:
SpanLink #0
     -> Trace ID: 5b8efff798038103d269b633813fc60c
     -> ID: eee19b7ec3c1b173
     -> TraceState: k=v
     -> DroppedAttributesCount: 2
     -> Attributes::
          -> link.reason: Str(follows)
Span #1
    Trace ID       : 
    Parent ID      : 
    ID             : 
    Name           : bare
    Kind           : Producer
    Start time     : 1970-01-01 00:00:00 +0000 UTC
    End time       : 2021-03-04 05:06:07.000000123 +0000 UTC
    Status code    : Error
    Status message : boom
    DroppedAttributesCount: 0
    DroppedEventsCount: 0
    DroppedLinksCount: 0
"""


def metrics_request() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", "meter"))
    sm = rm.scope_metrics.add()
    sm.scope.name = "meter.lib"

    def point(points, attrs=(), **fields):
        p = points.add(start_time_unix_nano=T_START, time_unix_nano=T_END, **fields)
        p.attributes.extend(attrs)
        return p

    gauge = sm.metrics.add(name="temp", description="room temperature", unit="Cel")
    gauge.metadata.append(kv("source", "sensor"))
    point(gauge.gauge.data_points, [kv("room", "a")], as_double=21.5)
    p = point(gauge.gauge.data_points, [], as_int=-3)
    ex = p.exemplars.add(time_unix_nano=T_EVENT, as_int=7, trace_id=TRACE_ID, span_id=SPAN_ID)
    ex.filtered_attributes.append(kv("user", "u1"))

    total = sm.metrics.add(name="requests", unit="{request}")
    total.sum.is_monotonic = True
    total.sum.aggregation_temporality = 1
    point(total.sum.data_points, [kv("code", 200)], as_int=1024)

    hist = sm.metrics.add(name="latency", unit="ms")
    hist.histogram.aggregation_temporality = 2
    point(hist.histogram.data_points, [kv("route", "/")], count=6, sum=12.25, min=0.5, max=6.0,
          explicit_bounds=[1.0, 5.0], bucket_counts=[2, 3, 1])
    point(hist.histogram.data_points, count=0)

    exp = sm.metrics.add(name="sizes", unit="By")
    exp.exponential_histogram.aggregation_temporality = 2
    p = point(exp.exponential_histogram.data_points, count=4, sum=9.0, scale=0, zero_count=0)
    p.positive.offset = 1
    p.positive.bucket_counts.extend([1, 2])
    p.negative.offset = 0
    p.negative.bucket_counts.extend([1])

    summary = sm.metrics.add(name="rtt", unit="s")
    p = point(summary.summary.data_points, [kv("peer", "b")], count=10, sum=2.5)
    p.quantile_values.add(quantile=0.5, value=0.2)
    p.quantile_values.add(quantile=0.99, value=0.9)

    sm.metrics.add(name="nothing")
    return req


METRICS_DETAILED = """\
ResourceMetrics #0
Resource SchemaURL: 
Resource attributes:
     -> service.name: Str(meter)
ScopeMetrics #0
ScopeMetrics SchemaURL: 
InstrumentationScope meter.lib 
Metric #0
Descriptor:
     -> Name: temp
     -> Description: room temperature
     -> Unit: Cel
     -> DataType: Gauge
     -> Metadata:
          -> source: Str(sensor)
NumberDataPoints #0
Data point attributes:
     -> room: Str(a)
StartTimestamp: 2021-03-04 05:06:07.000000123 +0000 UTC
Timestamp: 2021-03-04 05:06:08.5 +0000 UTC
Value: 21.500000
NumberDataPoints #1
StartTimestamp: 2021-03-04 05:06:07.000000123 +0000 UTC
Timestamp: 2021-03-04 05:06:08.5 +0000 UTC
Value: -3
Exemplars:
Exemplar #0
     -> Trace ID: 5b8efff798038103d269b633813fc60c
     -> Span ID: eee19b7ec3c1b174
     -> Timestamp: 2021-03-04 05:06:08.00000456 +0000 UTC
     -> Value: 7
     -> FilteredAttributes:
          -> user: Str(u1)
Metric #1
Descriptor:
     -> Name: requests
     -> Description: 
     -> Unit: {request}
     -> DataType: Sum
     -> IsMonotonic: true
     -> AggregationTemporality: Delta
NumberDataPoints #0
Data point attributes:
     -> code: Int(200)
StartTimestamp: 2021-03-04 05:06:07.000000123 +0000 UTC
Timestamp: 2021-03-04 05:06:08.5 +0000 UTC
Value: 1024
Metric #2
Descriptor:
     -> Name: latency
     -> Description: 
     -> Unit: ms
     -> DataType: Histogram
     -> AggregationTemporality: Cumulative
HistogramDataPoints #0
Data point attributes:
     -> route: Str(/)
StartTimestamp: 2021-03-04 05:06:07.000000123 +0000 UTC
Timestamp: 2021-03-04 05:06:08.5 +0000 UTC
Count: 6
Sum: 12.250000
Min: 0.500000
Max: 6.000000
ExplicitBounds #0: 1.000000
ExplicitBounds #1: 5.000000
Buckets #0, Count: 2
Buckets #1, Count: 3
Buckets #2, Count: 1
HistogramDataPoints #1
StartTimestamp: 2021-03-04 05:06:07.000000123 +0000 UTC
Timestamp: 2021-03-04 05:06:08.5 +0000 UTC
Count: 0
Metric #3
Descriptor:
     -> Name: sizes
     -> Description: 
     -> Unit: By
     -> DataType: ExponentialHistogram
     -> AggregationTemporality: Cumulative
ExponentialHistogramDataPoints #0
StartTimestamp: 2021-03-04 05:06:07.000000123 +0000 UTC
Timestamp: 2021-03-04 05:06:08.5 +0000 UTC
Count: 4
Sum: 9.000000
Bucket [-2.000000, -1.000000), Count: 1
Bucket (2.000000, 4.000000], Count: 1
Bucket (4.000000, 8.000000], Count: 2
Metric #4
Descriptor:
     -> Name: rtt
     -> Description: 
     -> Unit: s
     -> DataType: Summary
SummaryDataPoints #0
Data point attributes:
     -> peer: Str(b)
StartTimestamp: 2021-03-04 05:06:07.000000123 +0000 UTC
Timestamp: 2021-03-04 05:06:08.5 +0000 UTC
Count: 10
Sum: 2.500000
QuantileValue #0: Quantile 0.500000, Value 0.200000
QuantileValue #1: Quantile 0.990000, Value 0.900000
Metric #5
Descriptor:
     -> Name: nothing
     -> Description: 
     -> Unit: 
     -> DataType: Empty
"""


def logs_request() -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add(schema_url="s://r")
    rl.resource.attributes.append(kv("service.name", "api"))
    sl = rl.scope_logs.add()
    rec = sl.log_records.add(
        time_unix_nano=T_START,
        observed_time_unix_nano=T_END,
        severity_number=17,
        severity_text="ERROR",
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        flags=1,
        event_name="db.failure",
    )
    set_value(rec.body, {"msg": "connection reset", "attempt": 3})
    rec.attributes.extend([kv("db.system", "postgresql"), kv("retry", False)])
    plain = sl.log_records.add(severity_number=0)
    plain.body.string_value = "line one\nline two"
    return req


LOGS_DETAILED = """\
ResourceLog #0
Resource SchemaURL: s://r
Resource attributes:
     -> service.name: Str(api)
ScopeLogs #0
ScopeLogs SchemaURL: 
InstrumentationScope  
LogRecord #0
ObservedTimestamp: 2021-03-04 05:06:08.5 +0000 UTC
Timestamp: 2021-03-04 05:06:07.000000123 +0000 UTC
SeverityText: ERROR
SeverityNumber: Error(17)
EventName: db.failure
Body: Map({"attempt":3,"msg":"connection reset"})
Attributes:
     -> db.system: Str(postgresql)
     -> retry: Bool(false)
Trace ID: 5b8efff798038103d269b633813fc60c
Span ID: eee19b7ec3c1b174
Flags: 1
LogRecord #1
ObservedTimestamp: 1970-01-01 00:00:00 +0000 UTC
Timestamp: 1970-01-01 00:00:00 +0000 UTC
SeverityText: 
SeverityNumber: Unspecified(0)
Body: Str(line one
line two)
Trace ID: 
Span ID: 
Flags: 0
"""


# ---------------------------------------------------------------------------------------------
# Detailed text


def test_traces_detailed_text():
    assert otlptext.traces_text(traces_request()) == TRACES_DETAILED


def test_metrics_detailed_text():
    assert otlptext.metrics_text(metrics_request()) == METRICS_DETAILED


def test_logs_detailed_text():
    assert otlptext.logs_text(logs_request()) == LOGS_DETAILED


def test_empty_requests_render_nothing():
    assert otlptext.traces_text(ExportTraceServiceRequest()) == ""
    assert otlptext.metrics_text(ExportMetricsServiceRequest()) == ""
    assert otlptext.logs_text(ExportLogsServiceRequest()) == ""


def test_upstream_exponential_histogram_buckets():
    # Scale 1 and -1 buckets, zero bucket and min/max, as upstream's own test data has them.
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="e", unit="1")
    metric.exponential_histogram.aggregation_temporality = 1
    p = metric.exponential_histogram.data_points.add(count=5, sum=0.15, scale=1, zero_count=1)
    p.negative.offset = -1
    p.negative.bucket_counts.extend([1, 1])
    p.positive.offset = 1
    p.positive.bucket_counts.extend([1, 1])
    q = metric.exponential_histogram.data_points.add(count=3, sum=1.25, min=0, max=1, scale=-1, zero_count=1)
    q.positive.offset = -1
    q.positive.bucket_counts.extend([1, 1])
    lines = otlptext.metrics_text(req).splitlines()
    start = lines.index("ExponentialHistogramDataPoints #0")
    assert lines[start + 3:start + 10] == [
        "Count: 5",
        "Sum: 0.150000",
        "Bucket [-1.414214, -1.000000), Count: 1",
        "Bucket [-1.000000, -0.707107), Count: 1",
        "Bucket [0, 0], Count: 1",
        "Bucket (1.414214, 2.000000], Count: 1",
        "Bucket (2.000000, 2.828427], Count: 1",
    ]
    assert lines[-6:] == [
        "Sum: 1.250000",
        "Min: 0.000000",
        "Max: 1.000000",
        "Bucket [0, 0], Count: 1",
        "Bucket (0.250000, 1.000000], Count: 1",
        "Bucket (1.000000, 4.000000], Count: 1",
    ]


@pytest.mark.parametrize(
    "value, text",
    [
        (AnyValue(double_value=15.0), "15"),
        (AnyValue(double_value=-0.0), "-0"),
        (AnyValue(double_value=1e-7), "1e-7"),
        (AnyValue(double_value=123456789.125), "123456789.125"),
        (AnyValue(double_value=float("nan")), "json: unsupported value: NaN"),
        (AnyValue(double_value=float("-inf")), "json: unsupported value: -Inf"),
        (AnyValue(string_value="a\u2028b"), "a\u2028b"),
        (AnyValue(int_value=-(2**63)), str(-(2**63))),
    ],
)
def test_value_as_string(value, text):
    assert otlptext.value_as_string(value) == text


def test_value_as_string_json_escapes():
    v = AnyValue()
    set_value(v, ["a\u2028b", 'q"\\', "\n\t\x01", "é"])
    assert otlptext.value_as_string(v) == '["a\\u2028b","q\\"\\\\","\\n\\t\\u0001","é"]'


def test_timestamp_format():
    assert otlptext.format_timestamp(0) == "1970-01-01 00:00:00 +0000 UTC"
    assert otlptext.format_timestamp(1_000_000_000) == "1970-01-01 00:00:01 +0000 UTC"
    assert otlptext.format_timestamp(1_500_000) == "1970-01-01 00:00:00.0015 +0000 UTC"
    # uint64 values past int64 wrap to before 1970, as Go's time.Unix(0, int64(ts)) does
    assert otlptext.format_timestamp(2**64 - 1) == "1969-12-31 23:59:59.999999999 +0000 UTC"


# ---------------------------------------------------------------------------------------------
# Normal text


def test_traces_normal_text():
    assert otlptext.traces_normal(traces_request()) == (
        "ResourceTraces #0 [https://opentelemetry.io/schemas/1.26.0] service.name=checkout host.cores=8\n"
        "ScopeTraces #0 io.otelflow.test@0.3.1 [https://opentelemetry.io/schemas/1.25.0] scope.kind=lib\n"
        "GET /cart 5b8efff798038103d269b633813fc60c eee19b7ec3c1b174 str=hello world int=-42 double=3.5 "
        "double.big=1e+21 double.tiny=1.5e-7 bool=true bytes=AAH+/w== "
        'slice=["a",1,2.5,false,null,"aGk="] map={"a":{"nested":"<tag>&"},"m":[1,"x"],"z":1} empty=\n'
        "bare  \n"
    )


def test_metrics_normal_text():
    assert otlptext.metrics_normal(metrics_request()) == (
        "ResourceMetrics #0 service.name=meter\n"
        "ScopeMetrics #0 meter.lib\n"
        "temp{room=a} 21.5\n"
        "temp{} -3\n"
        "requests{code=200} 1024\n"
        "latency{route=/} count=6 sum=12.25 min=0.5 max=6 le1=2 le5=3 1\n"
        "latency{} count=0\n"
        "sizes{} count=4 sum=9\n"
        "rtt{peer=b} count=10 sum=2.500000 q0.5=0.2 q0.99=0.9\n"
    )


def test_metrics_normal_large_values_use_go_v_formatting():
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="g")
    metric.gauge.data_points.add(as_double=1234567.0)
    metric.gauge.data_points.add(as_double=0.00001)
    assert otlptext.metrics_normal(req).splitlines()[2:] == ["g{} 1.234567e+06", "g{} 1e-05"]


def test_logs_normal_text():
    # Upstream numbers each scope with its resource's index and always puts a space after the body.
    req = logs_request()
    req.resource_logs.add().scope_logs.add().scope.version = "2"
    assert otlptext.logs_normal(req) == (
        "ResourceLog #0 [s://r] service.name=api\n"
        "ScopeLog #0\n"
        '{"attempt":3,"msg":"connection reset"} db.system=postgresql retry=false\n'
        "line one\nline two \n"
        "ResourceLog #1\n"
        "ScopeLog #1 @2\n"
    )


# ---------------------------------------------------------------------------------------------
# The exporter


def settings(signal: Signal, name: str = "") -> Settings:
    return Settings(id=ComponentID("debug", name), kind=Kind.EXPORTER, telemetry=Telemetry(), signal=signal)


def make(signal: Signal, **cfg) -> debug.DebugExporter:
    config = validate(debug.Config, cfg, "exporters::debug")
    exporter = debug.factory.create(settings=settings(signal), config=config)
    exporter.sampler.clock = lambda: 0.0  # one sampling tick for the whole test
    return exporter


def test_factory_shape():
    f = debug.factory
    assert f.type == "debug" and f.kind is Kind.EXPORTER
    assert f.signals == frozenset(Signal)
    cfg = validate(debug.Config, None, "exporters::debug")
    assert cfg.verbosity is debug.Verbosity.BASIC
    assert (cfg.sampling_initial, cfg.sampling_thereafter, cfg.use_internal_logger) == (2, 1, True)


def test_config_errors():
    with pytest.raises(ConfigError, match=r'exporters::debug::verbosty: unknown key, did you mean "verbosity"\?'):
        validate(debug.Config, {"verbosty": "detailed"}, "exporters::debug")
    with pytest.raises(ConfigError, match='unknown metrics level "loud"'):
        validate(debug.Config, {"verbosity": "loud"}, "exporters::debug")
    with pytest.raises(ConfigError, match='verbosity level "None" is not supported'):
        validate(debug.Config, {"verbosity": "none"}, "exporters::debug")


def test_config_accepts_sending_queue_and_any_case_verbosity():
    cfg = validate(debug.Config, {"verbosity": "Detailed", "sending_queue": {"enabled": True, "queue_size": 10}}, "x")
    assert cfg.verbosity is debug.Verbosity.DETAILED
    assert cfg.sending_queue is not None and cfg.sending_queue.queue_size == 10
    assert validate(debug.Config, {"sending_queue": None}, "x").sending_queue is not None


async def test_basic_logs_one_summary_line_per_request(caplog):
    exporter = make(Signal.TRACES)
    await exporter.start(Host())
    with caplog.at_level(logging.INFO, logger="otelflow.exporter.debug"):
        await exporter.consume(traces_request())
    await exporter.shutdown()
    assert [r.getMessage() for r in caplog.records] == ["Traces"]
    assert caplog.records[0].otelcol_fields == {"resource spans": 1, "spans": 2}


async def test_basic_summaries_for_metrics_and_logs(caplog):
    metrics, logs = make(Signal.METRICS), make(Signal.LOGS)
    with caplog.at_level(logging.INFO, logger="otelflow.exporter.debug"):
        await metrics.consume(metrics_request())
        await logs.consume(logs_request())
    assert [(r.getMessage(), r.otelcol_fields) for r in caplog.records] == [
        ("Metrics", {"resource metrics": 1, "metrics": 6, "data points": 7}),
        ("Logs", {"resource logs": 1, "log records": 2}),
    ]


async def test_detailed_with_internal_logger(caplog):
    exporter = make(Signal.LOGS, verbosity="detailed")
    with caplog.at_level(logging.INFO, logger="otelflow.exporter.debug"):
        await exporter.consume(logs_request())
    await exporter.shutdown()
    assert [r.getMessage() for r in caplog.records] == ["Logs", LOGS_DETAILED]
    assert caplog.records[0].otelcol_fields == {"resource logs": 1, "log records": 2}


async def test_normal_with_internal_logger(caplog):
    exporter = make(Signal.METRICS, verbosity="normal")
    with caplog.at_level(logging.INFO, logger="otelflow.exporter.debug"):
        await exporter.consume(metrics_request())
    await exporter.shutdown()
    assert caplog.records[1].getMessage() == otlptext.metrics_normal(metrics_request())


async def test_stdout_output_when_internal_logger_is_off(capsys, caplog):
    exporter = make(Signal.TRACES, verbosity="detailed", use_internal_logger=False)
    with caplog.at_level(logging.DEBUG):
        await exporter.consume(traces_request())
        await exporter.shutdown()
    assert not [r for r in caplog.records if r.name.startswith("otelflow.exporter")]
    out = capsys.readouterr().out
    # zap's console layout without time and level: message, tab, fields; then the text block
    assert out == 'Traces\t{"resource spans": 1, "spans": 2}\n' + TRACES_DETAILED + "\n"


async def test_stdout_basic(capsys):
    exporter = make(Signal.LOGS, use_internal_logger=False)
    await exporter.consume(logs_request())
    await exporter.consume(ExportLogsServiceRequest())
    await exporter.shutdown()
    assert capsys.readouterr().out == (
        'Logs\t{"resource logs": 1, "log records": 2}\n'
        'Logs\t{"resource logs": 0, "log records": 0}\n'
    )


async def test_output_paths_stderr_and_a_file(capsys, tmp_path):
    target = tmp_path / "debug.out"
    exporter = make(Signal.LOGS, use_internal_logger=False, output_paths=f"stderr,{target}")  # comma string -> list
    await exporter.consume(logs_request())
    await exporter.shutdown()
    line = 'Logs\t{"resource logs": 1, "log records": 2}\n'
    assert capsys.readouterr() == ("", line)
    assert target.read_text() == line


async def test_sampling_initial_then_every_nth(caplog):
    exporter = make(Signal.TRACES, sampling_initial=2, sampling_thereafter=3)
    with caplog.at_level(logging.INFO, logger="otelflow.exporter.debug"):
        for _ in range(8):
            await exporter.consume(traces_request())
    # entries 1, 2, then 5 and 8 (every third after the first two)
    assert len(caplog.records) == 4


def test_sampler_resets_each_tick():
    now = [0.0]
    sampler = debug.Sampler(1, 0, clock=lambda: now[0])
    assert [sampler.allow("m") for _ in range(3)] == [True, False, False]
    now[0] = 1.5
    assert sampler.allow("m") is True
    assert sampler.allow("other") is True


async def test_does_not_mutate_input():
    exporter = make(Signal.TRACES, verbosity="detailed", use_internal_logger=False)
    req = traces_request()
    before = req.SerializeToString()
    assert exporter.mutates_data is False
    await exporter.consume(req)
    await exporter.shutdown()
    assert req.SerializeToString() == before
