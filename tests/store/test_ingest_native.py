"""The native span converter (otelflow.native._spancols) gives exactly the columns of the Python
reference (ingest._spans_python) for whatever upb parses, and ValueError for whatever upb refuses."""

from __future__ import annotations

import asyncio
import math
import os
import random
import struct

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings, strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otelflow.store import ingest
from otelflow.store.database import Retention, Store
from tests.backends import HTTPBackend
from tests.sdk import SDKApp

try:
    from otelflow.native import _spancols
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("the native extension is not built (python setup.py build_ext --inplace)", allow_module_level=True)

CI = bool(os.environ.get("CI"))
I64_MIN, I64_MAX, U64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1


def assert_same(data: bytes, request: ExportTraceServiceRequest) -> dict:
    """Native columns of ``data`` equal the reference columns of ``request`` (values and types)."""
    columns, rows = _spancols.spans(data)
    ref = ingest._spans_python(request)
    assert tuple(columns) == ingest.SPAN_NAMES == _spancols.COLUMNS
    assert rows == ref.rows
    for name in ingest.SPAN_NAMES:
        assert [(type(v), v) for v in columns[name]] == [(type(v), v) for v in ref.columns[name]], name
    return columns


def same(request: ExportTraceServiceRequest) -> dict:
    return assert_same(request.SerializeToString(), request)


def check_raw(data: bytes) -> dict | None:
    """Bytes upb parses convert alike; bytes upb refuses are refused (None)."""
    try:
        request = ExportTraceServiceRequest.FromString(data)
    except DecodeError:
        with pytest.raises(ValueError):
            _spancols.spans(data)
        return None
    return assert_same(data, request)


# -- hand-encoded wire bytes ---------------------------------------------------------------------

def varint(n: int) -> bytes:
    n &= U64_MAX
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def tag(num: int, wt: int) -> bytes:
    return varint(num << 3 | wt)


def ld(num: int, data: bytes | str) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return tag(num, 2) + varint(len(data)) + data


def vi(num: int, value: int) -> bytes:
    return tag(num, 0) + varint(value)


def f64(num: int, value: int | float) -> bytes:
    return tag(num, 1) + (struct.pack("<d", value) if isinstance(value, float) else struct.pack("<Q", value))


def kv(key: bytes | str, *values: bytes) -> bytes:
    return ld(1, key) + b"".join(ld(2, v) for v in values)


def wire(span: bytes = b"", resource: bytes | None = None, scope: bytes | None = None, rs_extra: bytes = b"",
         ss_extra: bytes = b"") -> bytes:
    """A request with one resource, one scope and one span, each given as its encoded fields."""
    ss = (ld(1, scope) if scope is not None else b"") + ld(2, span) + ss_extra
    return ld(1, (ld(1, resource) if resource is not None else b"") + ld(2, ss) + rs_extra)


def span_attr(value: bytes) -> bytes:
    return wire(ld(5, "op") + ld(9, kv("k", value)))


# -- requests built with the protobuf API ----------------------------------------------------------

def av(value) -> AnyValue:
    if isinstance(value, AnyValue):
        return value
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[av(v) for v in value]))
    return AnyValue(kvlist_value=KeyValueList(values=kvs(value)))


def kvs(pairs) -> list[KeyValue]:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return [KeyValue(key=k, value=av(v)) for k, v in items]


def request(*resources) -> ExportTraceServiceRequest:
    """resources: (resource attributes or None, [(scope name, version) or None, [Span, ...]), ...])."""
    req = ExportTraceServiceRequest()
    for attrs, scopes in resources:
        rs = req.resource_spans.add()
        if attrs is not None:
            rs.resource.attributes.extend(kvs(attrs))
        for scope, spans in scopes:
            ss = rs.scope_spans.add()
            if scope is not None:
                ss.scope.name, ss.scope.version = scope
            ss.spans.extend(spans)
    return req


def one_span(**fields) -> ExportTraceServiceRequest:
    attrs = fields.pop("attributes", [])
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="op", **fields)
    span.attributes.extend(kvs(attrs))
    return request(({"service.name": "svc"}, [(("lib", "1.0"), [span])]))


TRICKY = "q\"b\\s/\x00\x01\x08\x09\x0a\x0c\x0d\x1f\x7f \u2028\u2029 é 中 \U0001d11e\U0001f600 \ud7ff\ue000\uffff"
FLOATS = [0.0, -0.0, 0.1, 1.5, -2.5e-7, 1e16, 1e22, 1.7976931348623157e308, 5e-324, 123456789.0, math.nan,
          -math.nan, math.inf, -math.inf]


def test_every_anyvalue_kind_and_nesting():
    attrs = [("s", "text"), ("t", True), ("f", False), ("i", 42), ("neg", -7), ("min", I64_MIN), ("max", I64_MAX),
             ("zero", 0), ("b", b"\x00\xffbin"), ("b1", b"x"), ("b2", b"xy"), ("b0", b""), ("none", None),
             ("empty_s", ""), ("arr", [1, "two", 3.0, None, [True, []], {}]), ("empty_arr", []), ("empty_map", {}),
             ("map", {"a": {"b": {"c": [1, {"d": b"\x01"}]}}, "n": None}),
             ("strindex", AnyValue(string_value_strindex=3))]
    attrs += [(f"d{i}", x) for i, x in enumerate(FLOATS)]
    cols = same(one_span(attributes=attrs))
    text = cols["attributes"][0]
    assert text.startswith('{"s":"text","t":true,"f":false,"i":42,"neg":-7,"min":-9223372036854775808,')
    assert '"b":"AP9iaW4=","b1":"eA==","b2":"eHk=","b0":"","none":null' in text and '"strindex":null' in text
    assert '"d1":-0.0' in text and '"d5":1e+16' in text and '"d10":NaN,"d11":NaN,"d12":Infinity,"d13":-Infinity' in text


def test_unicode_and_json_escapes_everywhere():
    span = Span(trace_id=b"\xab" * 16, span_id=b"\xcd" * 8, name=TRICKY, trace_state=TRICKY,
                status=Status(code=2, message=TRICKY))
    span.attributes.extend(kvs([(TRICKY, TRICKY), ("list", [TRICKY, {TRICKY: TRICKY}])]))
    span.events.add(name=TRICKY, time_unix_nano=5).attributes.extend(kvs({TRICKY: TRICKY}))
    span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, trace_state=TRICKY).attributes.extend(kvs({"k": TRICKY}))
    cols = same(request(({"service.name": TRICKY, TRICKY: TRICKY}, [((TRICKY, TRICKY), [span])])))
    assert cols["service"] == [TRICKY] and cols["name"] == [TRICKY]
    assert '\\"b\\\\s/\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\x7f \u2028\u2029 é 中 \U0001d11e' in cols["attributes"][0]
    assert "x" * 200_000 == same(one_span(attributes={"big": "x" * 200_000 + TRICKY}))["attributes"][0][8:200_008]


def test_duplicate_keys_keep_first_position_and_last_value():
    dup = [("a", 1), ("b", 2), ("a", "again"), ("c", None), ("b", [1]), ("a", {"x": 1, "x": 2})]
    nested = [("m", AnyValue(kvlist_value=KeyValueList(values=kvs([("x", 1), ("y", 2), ("x", 3)]))))]
    cols = same(one_span(attributes=dup + nested))
    assert cols["attributes"] == ['{"a":{"x":2},"b":[1],"c":null,"m":{"x":3,"y":2}}']
    many = [(f"k{i % 40}", i) for i in range(200)]  # past the small-map path: the hash table
    assert same(one_span(attributes=many))["attributes"][0].startswith('{"k0":160,"k1":161,')
    services = [([("service.name", "a"), ("service.name", 5)], "unknown_service"), ([("service.name", 5), ("service.name", "b")], "b"),
                ([("service.name", "")], "unknown_service"), ([("service.name", None)], "unknown_service"),
                ([("service.name", ["x"])], "unknown_service"), ([("other", "x")], "unknown_service"), ([], "unknown_service"),
                (None, "unknown_service"), ([("service.name", "é")], "é"), ([("service.name", b"")], "unknown_service"),
                ([("service.name", b"\x01\x02")], "AQI=")]  # bytes: the dict holds their base64 text, a str
    for resource, service in services:
        assert same(request((resource, [(None, [Span(name="x")])])))["service"] == [service]


def test_ids_times_kinds_status_events_links():
    spans = [
        Span(),  # every field absent
        Span(trace_id=b"\x00\x01\xfe", span_id=b"\xff", parent_span_id=b"\x10" * 8, trace_state="k=v",
             kind=5, start_time_unix_nano=U64_MAX, end_time_unix_nano=1, status=Status(code=1)),
        Span(kind=42, start_time_unix_nano=10, end_time_unix_nano=U64_MAX, status=Status(code=-3, message="m"), flags=0x301,
             dropped_attributes_count=3, dropped_events_count=4, dropped_links_count=5),
    ]
    spans[2].events.add(time_unix_nano=U64_MAX, name="e1", dropped_attributes_count=1).attributes.extend(kvs({"a": [1.5]}))
    spans[2].events.add()
    spans[2].links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, trace_state="x", flags=1).attributes.extend(kvs({"w": "r"}))
    spans[2].links.add()
    cols = same(request((None, [(None, spans)])))
    assert cols["trace_id"] == ["", "0001fe", ""] and cols["duration_ns"] == [0, 0, U64_MAX - 10]
    assert cols["kind"] == [0, 5, 42] and cols["status_code"] == [0, 1, -3] and cols["service"] == ["unknown_service"] * 3
    assert cols["events"][2] == (f'[{{"time_ns":{U64_MAX},"name":"e1","attributes":{{"a":[1.5]}}}},'
                                 '{"time_ns":0,"name":"","attributes":{}}]')
    assert cols["links"][2] == ('[{"trace_id":"01010101010101010101010101010101","span_id":"0202020202020202",'
                                '"trace_state":"x","attributes":{"w":"r"}},{"trace_id":"","span_id":"","trace_state":"","attributes":{}}]')


def test_many_resources_and_scopes_and_empty_ones():
    assert same(ExportTraceServiceRequest()) == {name: [] for name in ingest.SPAN_NAMES}
    req = request(
        ({"service.name": "a", "host": "h1"}, [(("s1", "1"), [Span(name=f"a{i}") for i in range(3)]), (None, []),
                                                (("s2", ""), [Span(name="a3")])]),
        (None, []),
        ({"service.name": "b", "r": [1, {"x": None}]}, [(None, [Span(name="b0")]), (("", "v"), [Span(name="b1")])]),
    )
    req.resource_spans[0].schema_url = req.resource_spans[0].scope_spans[0].schema_url = "https://x/1.0"
    req.resource_spans[2].scope_spans[0].scope.attributes.extend(kvs({"scope.attr": [1]}))
    cols = same(req)
    assert cols["service"] == ["a"] * 4 + ["b"] * 2 and cols["scope_name"] == ["s1"] * 3 + ["s2", "", ""]
    assert cols["resource"][-1] == '{"service.name":"b","r":[1,{"x":null}]}'


def test_deepest_nesting_upb_parses_and_beyond():
    def nested(depth: int) -> ExportTraceServiceRequest:
        req = one_span()
        value = req.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="deep").value
        for i in range(depth):  # built in place: upb copies a message by parsing it, which has the limit
            value = value.kvlist_value.values.add(key="k").value if i % 2 else value.array_value.values.add()
        value.int_value = 1
        return req

    outcomes = set()
    for depth in range(34, 42):  # around the limit: 100 nested messages below the request
        req = nested(depth)
        cols = check_raw(req.SerializeToString())
        outcomes.add(cols is None)
        if cols is None:  # upb refuses it, and so does the native walk; ingest still converts it (Python)
            assert ingest.spans(req).columns == ingest._spans_python(req).columns
    assert outcomes == {True, False}
    deep_groups = wire(ld(5, "x") + (tag(99, 3) * 101) + (tag(99, 4) * 101))
    assert check_raw(deep_groups) is None
    assert check_raw(wire(ld(5, "x") + (tag(99, 3) * 90) + vi(1, 1) + (tag(99, 4) * 90)))["name"] == ["x"]


async def test_the_real_sdk_spans():
    backend = await HTTPBackend().start()
    try:
        app = SDKApp("http", backend.endpoint, service_name="native", extra_resource={"deploy.env": "prod"})
        await asyncio.to_thread(app.emit, 4)
        await asyncio.to_thread(app.shutdown)
    finally:
        await backend.stop()
    sent = app.sent()["traces"]
    cols = same(sent)
    assert len(cols["name"]) == 8 and set(cols["service"]) == {"native"}
    assert sum('"name":"cart.loaded"' in e for e in cols["events"]) == 4 and sum(lk != "[]" for lk in cols["links"]) == 3
    batch = ingest.spans(sent)  # the dispatch takes the native path and builds the same Batch
    assert (batch.table, batch.rows, batch.columns) == ("spans", 8, ingest._spans_python(sent).columns)


async def test_native_batch_goes_into_the_store(tmp_path):
    span = Span(trace_id=b"\xaa" * 16, span_id=b"\xbb" * 8, name="GET /", kind=2, start_time_unix_nano=10, end_time_unix_nano=25)
    span.attributes.extend(kvs([("http.status_code", 200), ("tags", ["a", TRICKY])]))
    req = request(({"service.name": "shop"}, [(("lib", "2"), [span, Span(name="bare")])]))
    store = Store(tmp_path, Retention(0, 0))
    await store.start()
    try:
        await store.write(ingest.spans(req), wait=True)
        rows = await store.read(lambda c: c.execute(
            "SELECT service, name, duration_ns, json_extract(attributes, '$.\"http.status_code\"')::INT,"
            " json_extract_string(attributes, '$.tags[1]'), trace_id FROM spans ORDER BY name").fetchall())
    finally:
        await store.close()
    assert rows == [("shop", "GET /", 15, 200, TRICKY, "aa" * 16), ("shop", "bare", 0, None, None, "")]


def test_wire_forms_upb_accepts():
    """Merges of repeated singular messages, oneof switches, unknown fields, odd wire types."""
    s_x = ld(1, "x")
    arr = lambda *vals: ld(5, b"".join(ld(1, v) for v in vals))  # noqa: E731
    kvl = lambda *pairs: ld(6, b"".join(ld(1, p) for p in pairs))  # noqa: E731
    values = [
        s_x + vi(3, 5), vi(3, 5) + s_x, arr(vi(3, 1)) + arr(vi(3, 2)), arr(vi(3, 1)) + s_x + arr(vi(3, 2)),
        arr(vi(3, 1)) + vi(99, 0) + ld(98, b"zz") + arr(vi(3, 2)), kvl(kv("a", vi(3, 1))) + kvl(kv("a", vi(3, 2)), kv("b", b"")),
        s_x + vi(8, 3), vi(8, 3) + arr(), vi(2, 2), vi(3, 1 << 63), f64(4, 0x7FF8000000000001), f64(4, 0xFFF0000000000000),
        vi(1, 5) + ld(3, b"\x01") + ld(4, b"") + ld(2, b""), kvl(kv("a", vi(3, 1)) + ld(1, "b")),
        kvl(ld(1, "a") + ld(2, s_x) + ld(2, vi(3, 4)) + vi(3, 7)), arr(ld(1, s_x) + ld(1, arr())) + tag(70, 5) + b"abcd",
        b"", tag(9, 3) + vi(1, 1) + tag(9, 4) + s_x,
    ]
    for value in values:
        assert check_raw(span_attr(value)) is not None, value
    span = (ld(1, b"\x01" * 16) + ld(1, b"\x02" * 3) + ld(5, "first") + ld(5, "name") + vi(6, U64_MAX) + ld(15, vi(3, 2))
            + ld(15, ld(2, "msg")) + vi(5, 1) + vi(7, 9) + ld(6, b"") + tag(8, 5) + b"\0\0\0\0" + f64(7, 3) + f64(8, 10)
            + ld(9, kv("k", s_x) + ld(2, vi(3, 1))) + ld(9, ld(1, "k2")) + vi(9, 1) + tag(50, 3) + ld(1, "in group")
            + tag(50, 4) + f64(60, 0) + tag(61, 5) + b"...." + ld(11, ld(2, "e") + ld(2, "e2") + f64(1, 4))
            + ld(13, ld(3, "ts") + ld(4, kv("a", vi(3, 1)))) + tag(0x1FFFFFFF, 0) + b"\x00")
    resource = ld(1, kv("service.name", vi(3, 1))) + vi(2, 4) + ld(3, ld(1, "u") + ld(3, "id") + ld(4, "d") + vi(9, 1))
    cols = check_raw(ld(1, ld(2, ld(2, span) + ld(1, ld(1, "s1") + ld(2, "v1")) + ld(1, ld(1, "s2")))
                           + ld(1, resource) + ld(1, ld(1, kv("service.name", s_x))) + ld(3, "url") + vi(3, 1)))
    assert cols["name"] == ["name"] and cols["kind"] == [-1] and (cols["status_code"], cols["status_message"]) == ([2], ["msg"])
    assert (cols["service"], cols["scope_name"], cols["scope_version"]) == (["x"], ["s2"], ["v1"])
    assert cols["attributes"] == ['{"k":1,"k2":null}'] and cols["duration_ns"] == [7]
    assert check_raw(wire(ld(5, "x") + b"\xaa\x80\x80\x80\x00\x01y"))["name"] == ["y"]  # a tag padded to 5 bytes
    # In an unknown group upb takes field number 0 (here a varint 0x5a) where a message would refuse it.
    assert check_raw(wire(ld(5, "x") + b"\x0b\x00\x5a\x0c" + ld(5, "z")))["name"] == ["z"]


def test_wire_forms_upb_refuses():
    bad_utf8 = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"a\x80", b"\xf8\x88\x80\x80\x80"]
    for raw in bad_utf8:
        places = [
            wire(ld(5, raw)), wire(ld(3, raw)), wire(ld(15, ld(2, raw))), wire(ld(11, ld(2, raw))),
            wire(ld(13, ld(3, raw))), wire(ld(9, kv(raw))), span_attr(ld(1, raw)), span_attr(ld(1, raw) + vi(3, 1)),
            span_attr(ld(5, ld(1, ld(1, raw))) + vi(3, 1)), span_attr(ld(6, ld(1, kv(raw))) + vi(2, 1)),
            wire(b"", scope=ld(1, raw)), wire(b"", scope=ld(2, raw)), wire(b"", scope=ld(3, kv("k", ld(1, raw)))),
            wire(b"", resource=ld(1, kv("k", ld(1, raw)))), wire(b"", resource=ld(3, ld(3, raw))),
            wire(b"", rs_extra=ld(3, raw)), wire(b"", ss_extra=ld(3, raw)), wire(ld(11, ld(3, kv("k", ld(1, raw))))),
            wire(b"", resource=ld(1, kv("k", ld(1, raw))) + ld(1, kv("k", ld(1, "ok")))),
            wire(ld(15, ld(2, raw)) + ld(15, ld(2, "ok"))),
        ]
        for data in places:
            assert check_raw(data) is None, data
    ok = wire(ld(5, "x"))
    malformed = [
        ok[:-1], ok + b"\x00", ok + tag(1, 6), ok + tag(1, 7), ok + tag(3, 4), ok + tag(3, 3), ok + tag(3, 3) + tag(4, 4),
        ok + vi(2, 1)[:1] + b"\xff" * 10 + b"\x01", ok + b"\x88\x80\x80\x80\x80\x00", ok + tag(1, 2) + b"\xff\xff\xff\xff\x7f",
        ok + tag(9, 2) + b"\x85\x80\x80\x80\x80\x00" + b"x" * 5, ok + tag(2, 1) + b"1234567", ok + tag(2, 5) + b"123",
        wire(ld(9, ld(2, ld(6, tag(3, 3))))), wire(ld(15, tag(1, 4))), span_attr(ld(5, b"\x0a\x05ab")),
    ]
    for data in malformed:
        assert check_raw(data) is None, data
    with pytest.raises(TypeError):
        _spancols.spans("not bytes")


def test_truncations_and_bit_flips():
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="op", kind=2, start_time_unix_nano=1,
                end_time_unix_nano=9, status=Status(code=2, message="m"))
    span.attributes.extend(kvs([("a", "x"), ("b", [1, {"c": 2.5}]), ("a", b"\x01")]))
    span.events.add(name="e").attributes.extend(kvs({"n": -1}))
    span.links.add(trace_id=b"\x03" * 16).attributes.extend(kvs({"l": True}))
    data = request(({"service.name": "svc"}, [(("lib", "1"), [span, Span(name="second")])])).SerializeToString()
    parsed = 0
    for cut in range(len(data)):
        parsed += check_raw(data[:cut]) is not None
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        parsed += check_raw(bytes(flipped)) is not None
    assert parsed > len(data)  # many mutants are still valid protobuf: those were compared in full
    rng = random.Random(8)
    for _ in range(3000):
        blob = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(blob))
            blob[i:i + rng.randrange(3)] = bytes(rng.randrange(256) for _ in range(rng.randrange(3)))
        check_raw(bytes(blob))
    for _ in range(2000):
        check_raw(bytes(rng.randrange(256) for _ in range(rng.randrange(40))))


# -- generated requests ----------------------------------------------------------------------------

KEYS = st.sampled_from(["k", "service.name", "a\"b", "ключ", "", "😀", "\x00"]) | st.text(max_size=6)
SCALARS = st.one_of(
    st.text(max_size=12).map(lambda s: AnyValue(string_value=s)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.integers(I64_MIN, I64_MAX).map(lambda i: AnyValue(int_value=i)),
    st.floats().map(lambda f: AnyValue(double_value=f)),
    st.binary(max_size=8).map(lambda b: AnyValue(bytes_value=b)),
    st.just(AnyValue()),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
    st.lists(st.tuples(KEYS, inner), max_size=4).map(
        lambda pairs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in pairs])))),
    max_leaves=10)
ATTRS = st.lists(st.tuples(KEYS, VALUES | st.none()), max_size=5)
IDS = st.binary(max_size=17)
GEN = settings(max_examples=120 if CI else 200, deadline=None, derandomize=CI, database=None if CI else settings.default.database,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _kvs(pairs) -> list[KeyValue]:
    return [KeyValue(key=k) if v is None else KeyValue(key=k, value=v) for k, v in pairs]


@st.composite
def spans(draw) -> Span:
    span = Span(trace_id=draw(IDS), span_id=draw(IDS), parent_span_id=draw(IDS), trace_state=draw(st.text(max_size=5)),
                name=draw(st.text(max_size=10)), kind=draw(st.integers(0, 6)),
                start_time_unix_nano=draw(st.integers(0, U64_MAX)), end_time_unix_nano=draw(st.integers(0, U64_MAX)))
    if draw(st.booleans()):
        span.status.code, span.status.message = draw(st.integers(0, 2)), draw(st.text(max_size=5))
    span.attributes.extend(_kvs(draw(ATTRS)))
    for _ in range(draw(st.integers(0, 2))):
        span.events.add(time_unix_nano=draw(st.integers(0, U64_MAX)), name=draw(st.text(max_size=5))).attributes.extend(_kvs(draw(ATTRS)))
    for _ in range(draw(st.integers(0, 2))):
        span.links.add(trace_id=draw(IDS), span_id=draw(IDS), trace_state=draw(st.text(max_size=5))).attributes.extend(_kvs(draw(ATTRS)))
    return span


@st.composite
def requests(draw) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        rs = req.resource_spans.add()
        if draw(st.booleans()):
            rs.resource.attributes.extend(_kvs(draw(ATTRS)))
        for _ in range(draw(st.integers(0, 3))):
            ss = rs.scope_spans.add()
            if draw(st.booleans()):
                ss.scope.name, ss.scope.version = draw(st.text(max_size=5)), draw(st.text(max_size=5))
            ss.spans.extend(draw(st.lists(spans(), max_size=3)))
    return req


@GEN
@given(requests())
def test_generated_requests(req):
    same(req)


@GEN
@given(requests(), st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255), st.sampled_from(["flip", "cut", "set", "insert"])),
                            min_size=1, max_size=3))
def test_generated_mutations(req, edits):
    data = bytearray(req.SerializeToString() or b"\x0a\x00")
    for where, byte, how in edits:
        i = where % len(data) if data else 0
        if how == "flip":
            data[i] ^= 1 << (byte % 8)
        elif how == "cut":
            del data[i:]
        elif how == "set":
            data[i:i + 1] = bytes([byte])
        else:
            data[i:i] = bytes([byte])
        if not data:
            break
    check_raw(bytes(data))
