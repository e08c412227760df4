"""The native attribute action loop (otelflow.native._attrs) leaves every request exactly as the Python
reference (AttrProc on the parsed message) does, for traces, logs and metrics, on the items'
attributes (attributes processor) and on the resources' (resource processor), whatever the
attributes and actions; its SHA-256 is hashlib's; and no bytes crash it. ``FUZZ_SCALE`` multiplies
the example counts (tools/asan.sh _attrs runs this file long under AddressSanitizer)."""

from __future__ import annotations

import hashlib
import math
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from otelflow.core.component import ComponentID, Kind, Settings, Signal, STABLE_SIGNALS
from otelflow.core.registry import default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.processors.attraction import ActionConfig, compile_actions

try:
    from otelflow.native import _attrs
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("the native extension is not built (python setup.py build_ext --inplace)", allow_module_level=True)

CI = bool(os.environ.get("CI"))
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
REQUEST = {Signal.TRACES: ExportTraceServiceRequest, Signal.LOGS: ExportLogsServiceRequest,
           Signal.METRICS: ExportMetricsServiceRequest}


def gen(examples: int):
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, derandomize=CI,
                    database=None if CI else settings.default.database,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---- SHA-256 ------------------------------------------------------------------------------------

@gen(200)
@given(st.binary(max_size=300))
def test_sha256_is_hashlib(data):
    expected = hashlib.sha256(data).hexdigest()
    assert _attrs.sha256_hexdigest(data) == expected
    assert _attrs.sha256_hexdigest(data, True) == expected  # without the CPU's SHA instructions


def test_sha256_block_boundaries_and_long_input():
    for n in [*range(0, 200), 1000, 4096, 65537]:
        data = bytes(i * 7 % 251 for i in range(n))
        assert _attrs.sha256_hexdigest(data) == _attrs.sha256_hexdigest(data, True) == hashlib.sha256(data).hexdigest(), n


# ---- requests and actions -----------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "http.url", "db.statement", "", "clé"])
SCALARS = st.one_of(
    st.text(max_size=70).map(lambda s: AnyValue(string_value=s)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.one_of(st.integers(I64_MIN, I64_MAX), st.sampled_from([0, -1, I64_MIN, I64_MAX])).map(lambda i: AnyValue(int_value=i)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda x: AnyValue(double_value=x)),
    st.binary(max_size=8).map(lambda b: AnyValue(bytes_value=b)),
    st.just(AnyValue()),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
    st.lists(st.tuples(KEYS, inner), max_size=3).map(
        lambda pairs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in pairs])))),
    max_leaves=6)
ATTRS = st.lists(st.tuples(KEYS, VALUES | st.none()), max_size=7)
RAW = st.recursive(
    st.one_of(st.text(max_size=10), st.booleans(), st.integers(I64_MIN, I64_MAX), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=4)


@st.composite
def action_configs(draw) -> dict:
    kind = draw(st.sampled_from(["insert", "update", "upsert", "delete", "hash"]))
    cfg = {"key": draw(KEYS.filter(bool)), "action": kind}
    if kind in ("insert", "update", "upsert"):
        source = draw(st.sampled_from(["value", "from_attribute", "default"]))
        if source == "value":
            cfg["value"] = draw(RAW)
        elif source == "from_attribute":
            cfg["from_attribute"] = draw(KEYS.filter(bool))
        if source != "value" and (source == "default" or draw(st.booleans())):
            cfg["default_value"] = draw(RAW)
    return cfg


def kvs(pairs) -> list[KeyValue]:
    return [KeyValue(key=k) if v is None else KeyValue(key=k, value=v) for k, v in pairs]


def draw_resource(draw, item) -> None:
    """The item's Resource: absent, present and empty, or with attributes (duplicate keys too)."""
    shape = draw(st.sampled_from(["absent", "empty", "attributes", "attributes"]))
    if shape == "empty":
        item.resource.SetInParent()
    elif shape == "attributes":
        item.resource.attributes.extend(kvs(draw(ATTRS)))
        if draw(st.booleans()):
            item.resource.dropped_attributes_count = 3


@st.composite
def requests(draw, signal: Signal):
    req = REQUEST[signal]()
    for _ in range(draw(st.integers(1, 2))):
        if signal is Signal.TRACES:
            rs = req.resource_spans.add()
            draw_resource(draw, rs)
            for _ in range(draw(st.integers(1, 2))):
                ss = rs.scope_spans.add()
                ss.scope.name = draw(st.text(max_size=3))
                for _ in range(draw(st.integers(0, 3))):
                    span = ss.spans.add(name=draw(st.text(max_size=4)), trace_id=b"\1" * 16, span_id=b"\2" * 8, kind=2)
                    span.attributes.extend(kvs(draw(ATTRS)))
                    if draw(st.booleans()):
                        span.events.add(name="e").attributes.extend(kvs(draw(ATTRS)))
                        span.status.message = "s"
        elif signal is Signal.LOGS:
            rl = req.resource_logs.add()
            draw_resource(draw, rl)
            sl = rl.scope_logs.add()
            for _ in range(draw(st.integers(0, 3))):
                rec = sl.log_records.add(severity_number=9, time_unix_nano=draw(st.integers(0, 10)))
                rec.body.string_value = draw(st.text(max_size=4))
                rec.attributes.extend(kvs(draw(ATTRS)))
        else:
            rm = req.resource_metrics.add()
            draw_resource(draw, rm)
            sm = rm.scope_metrics.add()
            for kind in draw(st.lists(st.sampled_from(["gauge", "sum", "histogram", "exponential_histogram", "summary"]),
                                      max_size=3)):
                metric = sm.metrics.add(name=kind, unit="1")
                for _ in range(draw(st.integers(1, 2))):
                    point = getattr(metric, kind).data_points.add(time_unix_nano=5)
                    point.attributes.extend(kvs(draw(ATTRS)))
    return req


def processor(signal: Signal, actions: list[dict]):
    factory = default_registry.get(Kind.PROCESSOR, "attributes")
    config = factory.config.model_validate({"actions": actions})
    settings_ = Settings(ComponentID.parse("attributes/fuzz"), Kind.PROCESSOR, Telemetry(), signal=signal)
    return factory.create(settings=settings_, config=config, next=None)


def resource_processor(signal: Signal, actions: list[dict]):
    factory = default_registry.get(Kind.PROCESSOR, "resource")
    config = factory.config.model_validate({"attributes": actions})
    settings_ = Settings(ComponentID.parse("resource/fuzz"), Kind.PROCESSOR, Telemetry(), signal=signal)
    return factory.create(settings=settings_, config=config, next=None)


def reference(proc, request):
    """The request as the Python path leaves it."""
    ref = type(request)()
    ref.CopyFrom(request)
    proc._apply(ref)
    return ref


def same(a, b) -> bool:
    return a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


def valid(actions: list[dict]) -> bool:
    try:
        compile_actions([ActionConfig.model_validate(a) for a in actions])
    except ValueError:
        return False
    return True


# ---- the native loop and the Python reference agree --------------------------------------------

@pytest.mark.parametrize("signal", [s for s in Signal if s in STABLE_SIGNALS])
@pytest.mark.parametrize("build", ["attributes", "resource"])
def test_native_equals_python(signal, build):
    make = processor if build == "attributes" else resource_processor

    @gen(150 if signal is Signal.TRACES else 70)
    @given(st.lists(action_configs(), min_size=1, max_size=5), requests(signal))
    def check(actions, request):
        assume(valid(actions))
        proc = make(signal, actions)
        assert proc.native is not None
        before = request.SerializeToString()
        out = proc.native.apply(request)
        assert out is not None
        assert same(out, reference(proc, request))
        assert request.SerializeToString() == before  # a changed request is a new message

    check()


def test_seed_actions_on_every_value_type():
    proc = processor(Signal.TRACES, [{"key": "http.url", "action": "hash"}, {"key": "db.statement", "action": "delete"}])
    values = [AnyValue(string_value="https://x/?q=1"), AnyValue(string_value=""), AnyValue(int_value=-5),
              AnyValue(int_value=I64_MAX), AnyValue(double_value=math.nan), AnyValue(double_value=-0.0),
              AnyValue(bool_value=True), AnyValue(bool_value=False), AnyValue(bytes_value=b"\0"), AnyValue(),
              AnyValue(array_value=ArrayValue()), AnyValue(kvlist_value=KeyValueList()), None]
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for value in values:
        spans.add(name="s").attributes.extend(kvs([("a", AnyValue(int_value=1)), ("db.statement", value),
                                                   ("http.url", value), ("z", None), ("http.url", value)]))
    out = proc.native.apply(req)
    assert out is not None and out is not req
    assert same(out, reference(proc, req))
    first = out.resource_spans[0].scope_spans[0].spans[0].attributes
    # delete moved the last entry into db.statement's slot; only the first http.url is hashed
    assert [kv.key for kv in first] == ["a", "http.url", "http.url", "z"]
    assert first[2].value.string_value == hashlib.sha256(b"https://x/?q=1").hexdigest()
    assert first[1].value.string_value == "https://x/?q=1"


def test_unchanged_request_is_left_alone():
    proc = processor(Signal.TRACES, [{"key": "absent", "action": "delete"}])
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add(name="s").attributes.extend(kvs([("a", AnyValue(int_value=1))]))
    assert _attrs.apply(proc.native.program, _attrs.TRACES, req.SerializeToString()) is None
    assert proc.native.apply(req) is req


def test_what_the_native_loop_does_not_run_stays_python():
    assert processor(Signal.TRACES, [{"key": "a", "action": "hash"}]).native is not None
    assert processor(Signal.TRACES, [{"pattern": "^a", "action": "hash"}]).native is None
    assert processor(Signal.TRACES, [{"key": "a", "action": "convert", "converted_type": "int"}]).native is None
    assert processor(Signal.TRACES, [{"key": "a", "action": "insert", "from_context": "metadata.x"}]).native is None
    factory = default_registry.get(Kind.PROCESSOR, "attributes")
    config = factory.config.model_validate({"actions": [{"key": "a", "action": "delete"}],
                                            "include": {"match_type": "strict", "services": ["svc"]}})
    settings_ = Settings(ComponentID.parse("attributes"), Kind.PROCESSOR, Telemetry(), signal=Signal.TRACES)
    assert factory.create(settings=settings_, config=config, next=None).native is None


def test_a_value_with_unknown_fields_falls_back_to_python():
    """The C loop refuses what it does not fully know; the processor then runs the Python path."""
    proc = processor(Signal.TRACES, [{"key": "k", "action": "hash"}])
    value = AnyValue(string_value="v").SerializeToString() + b"\xa0\x06\x01"  # field 100, varint 1
    kv = b"\x0a\x01k" + b"\x12" + bytes([len(value)]) + value
    span = b"\x2a\x01s" + b"\x4a" + bytes([len(kv)]) + kv
    scope = b"\x12" + bytes([len(span)]) + span
    body = b"\x0a" + bytes([len(scope) + 2]) + b"\x12" + bytes([len(scope)]) + scope
    req = ExportTraceServiceRequest.FromString(body)
    with pytest.raises(ValueError):
        _attrs.apply(proc.native.program, _attrs.TRACES, body)
    expected = reference(proc, req)
    assert proc.native.apply(req) is None  # refused and left alone: consume then runs the Python path
    assert same(req, ExportTraceServiceRequest.FromString(body))
    proc._apply(req)
    assert same(req, expected)
    assert req.resource_spans[0].scope_spans[0].spans[0].attributes[0].value.string_value == hashlib.sha256(b"v").hexdigest()


# ---- the resource processor's roots ---------------------------------------------------------------

def _resource_spans(*resources: bytes | None) -> bytes:
    """A traces request of ResourceSpans holding these encoded Resources (None: no resource field)."""
    span = b"\x2a\x01s"
    scope = b"\x12" + bytes([len(span)]) + span
    body = b""
    for resource in resources:
        rs = b"\x12" + bytes([len(scope)]) + scope
        if resource is not None:
            rs += b"\x0a" + bytes([len(resource)]) + resource
        body += b"\x0a" + bytes([len(rs)]) + rs
    return body


def test_an_absent_resource_gets_what_the_actions_insert_and_stays_absent_otherwise():
    insert = [{"key": "env", "value": "prod", "action": "insert"}, {"key": "x", "action": "delete"}]
    for signal in (Signal.TRACES, Signal.LOGS, Signal.METRICS):
        req = REQUEST[signal]()
        getattr(req, resource_list(signal)).add()
        proc = resource_processor(signal, insert)
        out = proc.native.apply(req)
        assert out is not req and same(out, reference(proc, req))
        item = getattr(out, resource_list(signal))[0]
        assert item.HasField("resource") and [kv.key for kv in item.resource.attributes] == ["env"]
        proc = resource_processor(signal, [{"key": "env", "action": "delete"}, {"key": "env", "action": "update", "value": 1}])
        assert proc.native.apply(req) is req  # nothing to delete or update: no Resource made up
        assert not getattr(req, resource_list(signal))[0].HasField("resource")
    # inserted and deleted again: the Python path leaves an empty Resource present, and so does C
    proc = resource_processor(Signal.TRACES, [{"key": "a", "value": 1, "action": "upsert"}, {"key": "a", "action": "delete"}])
    req = ExportTraceServiceRequest.FromString(_resource_spans(None))
    out = proc.native.apply(req)
    assert same(out, reference(proc, req)) and out.resource_spans[0].HasField("resource")
    assert len(out.resource_spans[0].resource.attributes) == 0


def test_resource_duplicate_keys_and_other_fields():
    proc = resource_processor(Signal.TRACES, [{"key": "k", "action": "hash"}, {"key": "k", "action": "delete"},
                                              {"key": "n", "from_attribute": "k", "action": "upsert"}])
    resource = Resource(attributes=kvs([("k", AnyValue(string_value="v")), ("z", None), ("k", AnyValue(int_value=2))]),
                        dropped_attributes_count=4)
    req = ExportTraceServiceRequest.FromString(_resource_spans(resource.SerializeToString(), b"", None))
    out = proc.native.apply(req)
    assert same(out, reference(proc, req))
    first = out.resource_spans[0].resource
    # delete removes the first "k" (hashed) and moves the last entry (the second "k") into its slot
    assert [(kv.key, kv.value.int_value) for kv in first.attributes] == [("k", 2), ("z", 0), ("n", 2)]
    assert first.dropped_attributes_count == 4
    assert [len(rs.scope_spans[0].spans) for rs in out.resource_spans] == [1, 1, 1]


def test_a_resource_twice_in_one_item_falls_back_to_python():
    """Two Resource fields in one ResourceSpans merge when parsed; the C loop does not merge, it refuses."""
    proc = resource_processor(Signal.TRACES, [{"key": "a", "action": "hash"}])
    one = Resource(attributes=kvs([("a", AnyValue(string_value="1"))])).SerializeToString()
    two = Resource(attributes=kvs([("b", AnyValue(string_value="2"))])).SerializeToString()
    rs = b"\x0a" + bytes([len(one)]) + one + b"\x0a" + bytes([len(two)]) + two
    body = b"\x0a" + bytes([len(rs)]) + rs
    with pytest.raises(ValueError):
        _attrs.apply(proc.native.program, _attrs.RESOURCES, body)
    req = ExportTraceServiceRequest.FromString(body)
    assert proc.native.apply_encoded(req, body) is None  # the client's bytes refused: consume runs Python
    assert [kv.key for kv in reference(proc, req).resource_spans[0].resource.attributes] == ["a", "b"]
    assert same(proc.native.apply(req), reference(proc, req))  # the message encoded again is one Resource


def test_what_the_resource_loop_does_not_run_stays_python():
    assert resource_processor(Signal.LOGS, [{"key": "a", "action": "delete"}]).native is not None
    assert resource_processor(Signal.LOGS, [{"pattern": "^a", "action": "delete"}]).native is None
    assert resource_processor(Signal.LOGS, [{"key": "a", "action": "convert", "converted_type": "int"}]).native is None


def mutated(body: bytes, edits) -> bytes:
    """``body`` with each (position, byte, op) edit applied: 0 overwrites, 1 truncates, 2 inserts."""
    out = bytearray(body)
    for pos, byte, op in edits:
        if not out:
            break
        pos %= len(out)
        if op == 0:
            out[pos] = byte
        elif op == 1:
            del out[pos:]
        else:
            out.insert(pos, byte)
    return bytes(out)


def check_answer_to_mutated(proc, root: int, request_type, body: bytes) -> None:
    """The C loop either refuses ``body`` or answers what the Python path makes of it."""
    try:
        out = _attrs.apply(proc.native.program, root, body)
    except ValueError:
        return
    try:
        parsed = request_type.FromString(body)
    except Exception:  # upb refuses the bytes: the receiver never hands them on, any answer will do
        return
    got = parsed if out is None else request_type.FromString(out)
    assert same(got, reference(proc, parsed))


def resource_list(signal: Signal) -> str:
    return {Signal.TRACES: "resource_spans", Signal.LOGS: "resource_logs", Signal.METRICS: "resource_metrics"}[signal]


@gen(150)
@given(requests(Signal.LOGS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.integers(0, 2)),
                                       min_size=1, max_size=4),
       st.lists(action_configs(), min_size=1, max_size=3))
def test_resource_mutated_bytes_never_crash_and_whatever_is_answered_is_right(request, edits, actions):
    assume(valid(actions))
    proc = resource_processor(Signal.LOGS, actions)
    body = mutated(request.SerializeToString(), edits)
    check_answer_to_mutated(proc, _attrs.RESOURCES, ExportLogsServiceRequest, body)


# ---- bytes that are not what the C loop expects --------------------------------------------------

@gen(250)
@given(requests(Signal.TRACES), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.integers(0, 2)),
                                         min_size=1, max_size=4),
       st.lists(action_configs(), min_size=1, max_size=3))
def test_mutated_bytes_never_crash_and_whatever_is_answered_is_right(request, edits, actions):
    assume(valid(actions))
    proc = processor(Signal.TRACES, actions)
    body = mutated(request.SerializeToString(), edits)
    check_answer_to_mutated(proc, _attrs.TRACES, ExportTraceServiceRequest, body)


def test_random_bytes_and_every_truncation():
    proc = processor(Signal.METRICS, [{"key": "a", "action": "upsert", "value": 1}, {"key": "b", "action": "hash"}])
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    metric.histogram.data_points.add().attributes.extend(kvs([("b", AnyValue(string_value="x" * 200))]))
    metric.summary.data_points.add().attributes.extend(kvs([("a", AnyValue(int_value=2))]))
    body = req.SerializeToString()
    for cut in range(len(body)):
        for blob in (body[:cut], bytes(b ^ 0x5A for b in body[:cut])):
            try:
                _attrs.apply(proc.native.program, _attrs.METRICS, blob)
            except ValueError:
                pass
    with pytest.raises(ValueError):
        _attrs.apply(proc.native.program, 99, body)
    with pytest.raises(TypeError):
        _attrs.compile([("not", "an action")])


class Capture:
    def __init__(self):
        self.got = []

    async def consume(self, data) -> None:
        self.got.append(data)


def test_consume_hands_on_what_the_python_path_would():
    factory = default_registry.get(Kind.PROCESSOR, "attributes")
    config = factory.config.model_validate({"actions": [{"key": "http.url", "action": "hash"},
                                                        {"key": "db.statement", "action": "delete"}]})
    settings_ = Settings(ComponentID.parse("attributes/scrub"), Kind.PROCESSOR, Telemetry(), signal=Signal.LOGS)
    native, python = Capture(), Capture()
    fast = factory.create(settings=settings_, config=config, next=native)
    slow = factory.create(settings=settings_, config=config, next=python)
    slow.native = None
    assert fast.native is not None
    req = ExportLogsServiceRequest()
    records = req.resource_logs.add().scope_logs.add().log_records
    records.add().attributes.extend(kvs([("db.statement", AnyValue(string_value="SELECT 1")), ("x", None),
                                         ("http.url", AnyValue(string_value="https://a/?b"))]))
    for proc, req_ in ((fast, req), (slow, ExportLogsServiceRequest.FromString(req.SerializeToString()))):
        try:
            proc.consume(req_).send(None)
        except StopIteration:
            pass
    assert same(native.got[0], python.got[0])
    assert [kv.key for kv in native.got[0].resource_logs[0].scope_logs[0].log_records[0].attributes] == ["http.url", "x"]
