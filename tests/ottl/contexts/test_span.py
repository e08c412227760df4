"""Span, resource and scope paths in the span context (expectations from upstream's ctxspan,
ctxresource and ctxscope tests)."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.ottl.contexts import CONTEXTS
from otelflow.ottl.contexts.types import SpanEventSlice, SpanID, SpanLinkSlice, Status, TraceID
from otelflow.ottl.values import GoTime

from ._util import config_error, ctx_with, resolve, run_error

TRACE_ID = bytes(range(1, 17))
SPAN_ID = bytes(range(1, 9))
PARENT_ID = bytes(range(8, 0, -1))


def make():
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url="schema_url")
    rs.resource.dropped_attributes_count = 10
    ss = rs.scope_spans.add(schema_url="scope_schema")
    ss.scope.name = "library"
    ss.scope.version = "version"
    ss.scope.dropped_attributes_count = 10
    span = ss.spans.add(trace_id=TRACE_ID, span_id=SPAN_ID, parent_span_id=PARENT_ID, name="bear",
                        kind=2, start_time_unix_nano=100_000_000, end_time_unix_nano=500_000_000,
                        dropped_attributes_count=10, dropped_events_count=20, dropped_links_count=30,
                        trace_state="state", flags=4)
    span.status.code = 1
    span.status.message = "good span"
    span.events.add(name="event")
    span.links.add(trace_id=TRACE_ID)
    ctx = ctx_with(resource=rs.resource, resource_holder=rs, scope=ss.scope, scope_holder=ss, span=span)
    return req, ctx


def get(path, ctx, context="span"):
    return resolve(context, path).get(ctx)


def put(path, ctx, val, context="span"):
    resolve(context, path).set(ctx, val)


def test_scalars_get_set():
    req, ctx = make()
    span = ctx.span
    cases = [
        ("span.name", "bear", "cat", lambda: span.name),
        ("span.kind", 2, 3, lambda: span.kind),
        ("span.kind.string", "Client", "Server", lambda: span.kind),
        ("span.kind.deprecated_string", "SPAN_KIND_SERVER", "SPAN_KIND_PRODUCER", lambda: span.kind),
        ("span.start_time_unix_nano", 100_000_000, 200_000_000, lambda: span.start_time_unix_nano),
        ("span.end_time_unix_nano", 500_000_000, 600_000_000, lambda: span.end_time_unix_nano),
        ("span.dropped_attributes_count", 10, 20, lambda: span.dropped_attributes_count),
        ("span.dropped_events_count", 20, 30, lambda: span.dropped_events_count),
        ("span.dropped_links_count", 30, 40, lambda: span.dropped_links_count),
        ("span.status.code", 1, 2, lambda: span.status.code),
        ("span.status.message", "good span", "bad span", lambda: span.status.message),
        ("span.flags", 4, 5, lambda: span.flags),
        ("span.trace_state", "state", "key=newVal", lambda: span.trace_state),
    ]
    expected_after = {"span.kind.string": 2, "span.kind.deprecated_string": 4}
    for path, orig, new, read in cases:
        assert get(path, ctx) == orig, path
        put(path, ctx, new)
        assert read() == expected_after.get(path, new), path


def test_times():
    _, ctx = make()
    assert get("span.start_time", ctx) == GoTime(100_000_000)
    assert get("span.end_time", ctx) == GoTime(500_000_000)
    put("span.start_time", ctx, GoTime(1_700_000_000_000_000_000))
    put("span.end_time", ctx, GoTime(1_700_000_000_000_000_001))
    assert ctx.span.start_time_unix_nano == 1_700_000_000_000_000_000
    assert ctx.span.end_time_unix_nano == 1_700_000_000_000_000_001
    assert run_error(resolve("span", "span.start_time").set, ctx, 5) == "expects time.Time but got int64"
    # before the epoch: stored as Go's uint64(int64), read back as the int64
    put("span.start_time_unix_nano", ctx, -1)
    assert ctx.span.start_time_unix_nano == (1 << 64) - 1
    assert get("span.start_time_unix_nano", ctx) == -1


def test_ids():
    _, ctx = make()
    tid = get("span.trace_id", ctx)
    assert isinstance(tid, TraceID) and tid.raw == TRACE_ID
    assert get("span.trace_id.string", ctx) == TRACE_ID.hex()
    assert get("span.span_id", ctx) == SpanID(SPAN_ID)
    assert get("span.span_id.string", ctx) == SPAN_ID.hex()
    assert get("span.parent_span_id", ctx) == SpanID(PARENT_ID)
    assert get("span.parent_span_id.string", ctx) == PARENT_ID.hex()

    put("span.trace_id", ctx, TraceID(bytes(range(16))))
    assert ctx.span.trace_id == bytes(range(16))
    put("span.trace_id.string", ctx, "0102030405060708090a0b0c0d0e0f10")
    assert ctx.span.trace_id == bytes(range(1, 17))
    put("span.span_id.string", ctx, "0807060504030201")
    assert ctx.span.span_id == bytes(range(8, 0, -1))
    put("span.parent_span_id", ctx, SpanID(b"\x01" * 8))
    assert ctx.span.parent_span_id == b"\x01" * 8
    put("span.parent_span_id", ctx, SpanID())  # the zero id is "no parent": nothing stored
    assert ctx.span.parent_span_id == b""
    assert get("span.parent_span_id.string", ctx) == "0" * 16

    set_tid = resolve("span", "span.trace_id").set
    assert run_error(set_tid, ctx, TRACE_ID) == "expects pcommon.TraceID but got []uint8"
    assert run_error(set_tid, ctx, SpanID(SPAN_ID)) == "expects pcommon.TraceID but got pcommon.SpanID"
    assert run_error(set_tid, ctx, None) == "setting a value to nil is not supported"
    set_s = resolve("span", "span.trace_id.string").set
    assert run_error(set_s, ctx, "0123456789abcdef0123456789abcde") == "trace ids must be 32 hex characters"
    assert run_error(set_s, ctx, "0123456789Xbcdef0123456789abcdef") == "encoding/hex: invalid byte: U+0058 'X'"
    assert run_error(resolve("span", "span.span_id.string").set, ctx, "0123456789abcde") == (
        "span ids must be 16 hex characters")


def test_trace_state_key():
    _, ctx = make()
    ctx.span.trace_state = "key1=val1,key2=val2"
    p = resolve("span", 'span.trace_state["key1"]')
    assert p.get(ctx) == "val1"
    p.set(ctx, "newVal")
    assert ctx.span.trace_state == "key1=newVal,key2=val2"
    resolve("span", 'span.trace_state["key2"]').set(ctx, "x")
    assert ctx.span.trace_state == "key2=x,key1=newVal"
    resolve("span", 'span.trace_state["key3"]').set(ctx, "y")
    assert ctx.span.trace_state == "key3=y,key2=x,key1=newVal"
    assert resolve("span", 'span.trace_state["nope"]').get(ctx) == ""
    # an invalid key or value leaves the state alone; an invalid state reads as nil
    resolve("span", 'span.trace_state["BAD"]').set(ctx, "v")
    assert ctx.span.trace_state == "key3=y,key2=x,key1=newVal"
    ctx.span.trace_state = "not a tracestate"
    assert p.get(ctx) is None
    p.set(ctx, "v")
    assert ctx.span.trace_state == "not a tracestate"
    assert config_error("span", 'span.trace_state["a"]["b"]') == (
        "must provide exactly 1 key when accessing trace_state")


def test_kind_strings():
    _, ctx = make()
    assert run_error(resolve("span", "span.kind.string").set, ctx, "bad") == "unknown span kind string, bad"
    assert run_error(resolve("span", "span.kind.deprecated_string").set, ctx, "bad") == (
        "unknown span kind deprecated string, bad")
    ctx.span.kind = 9
    assert get("span.kind.string", ctx) == ""
    assert get("span.kind.deprecated_string", ctx) == ""


def test_status_events_links():
    req, ctx = make()
    st = get("span.status", ctx)
    assert isinstance(st, Status) and st.obj.message == "good span"
    other = req.resource_spans[0].scope_spans[0].spans.add()
    other.status.code = 2
    other.events.add(name="e1")
    other.events.add(name="e2")
    other.links.add(span_id=SPAN_ID)
    octx = ctx_with(span=other)
    put("span.status", ctx, get("span.status", octx))
    assert ctx.span.status.code == 2 and ctx.span.status.message == ""
    ev = get("span.events", ctx)
    assert isinstance(ev, SpanEventSlice) and len(ev) == 1
    put("span.events", ctx, get("span.events", octx))
    assert [e.name for e in ctx.span.events] == ["e1", "e2"]
    put("span.links", ctx, get("span.links", octx))
    assert isinstance(get("span.links", ctx), SpanLinkSlice)
    assert [link.span_id for link in ctx.span.links] == [SPAN_ID]
    put("span.events", ctx, get("span.events", ctx))  # onto itself
    assert len(ctx.span.events) == 2
    put("span.links", ctx, None)
    assert len(ctx.span.links) == 0
    assert run_error(resolve("span", "span.events").set, ctx, []) == (
        "expects ptrace.SpanEventSlice but got []interface {}")
    assert run_error(resolve("span", "span.status").set, ctx, "x") == "expects ptrace.Status but got string"


def test_setter_type_checks():
    _, ctx = make()
    for path, bad, want in [
        ("span.name", 1, "expects string but got int64"),
        ("span.kind", "x", "expects int64 but got string"),
        ("span.kind", 1.0, "expects int64 but got float64"),
        ("span.dropped_attributes_count", True, "expects int64 but got bool"),
        ("span.start_time_unix_nano", None, "setting a value to nil is not supported"),
        ("span.status.code", "x", "expects int64 but got string"),
    ]:
        assert run_error(resolve("span", path).set, ctx, bad) == want, path
    set_flags = resolve("span", "span.flags").set
    assert run_error(set_flags, ctx, -1) == "value -1 is out of range for uint32"
    assert run_error(set_flags, ctx, 1 << 32) == "value 4294967296 is out of range for uint32"


def test_resource_and_scope_paths():
    req, ctx = make()
    rs = req.resource_spans[0]
    ss = rs.scope_spans[0]
    assert get("resource.dropped_attributes_count", ctx) == 10
    put("resource.dropped_attributes_count", ctx, 20)
    assert rs.resource.dropped_attributes_count == 20
    assert get("resource.schema_url", ctx) == "schema_url"
    put("resource.schema_url", ctx, "new_schema_url")
    assert rs.schema_url == "new_schema_url"
    for prefix in ("scope", "instrumentation_scope"):
        assert get(f"{prefix}.name", ctx) == ss.scope.name
        assert get(f"{prefix}.version", ctx) == ss.scope.version
        assert get(f"{prefix}.dropped_attributes_count", ctx) == ss.scope.dropped_attributes_count
        assert get(f"{prefix}.schema_url", ctx) == ss.schema_url
    put("scope.name", ctx, "lib2")
    put("scope.version", ctx, "v2")
    put("instrumentation_scope.dropped_attributes_count", ctx, 5)
    put("scope.schema_url", ctx, "s2")
    assert (ss.scope.name, ss.scope.version, ss.scope.dropped_attributes_count, ss.schema_url) == (
        "lib2", "v2", 5, "s2")
    assert run_error(resolve("span", "resource.schema_url").set, ctx, 1) == "expects string but got int64"
    # uint32 counts keep Go's truncation
    put("resource.dropped_attributes_count", ctx, (1 << 32) + 3)
    assert rs.resource.dropped_attributes_count == 3
    # the same paths in the resource and scope contexts
    assert resolve("resource", "resource.schema_url").get(ctx) == "new_schema_url"
    assert resolve("scope", "scope.name").get(ctx) == "lib2"
    assert resolve("scope", "resource.dropped_attributes_count").get(ctx) == 3


DOC = "https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/pkg/ottl/contexts/"


@pytest.mark.parametrize("text,want", [
    ("span.foo", 'segment "foo" from path "span.foo" is not a valid path nor a valid OTTL keyword for the '
                 f"span context - review {DOC}ottlspan to see all valid paths"),
    ("span.status.foo", 'segment "foo" from path "span.status.foo" is not a valid path nor a valid OTTL '
                        f"keyword for the span context - review {DOC}ottlspan to see all valid paths"),
    ("span.trace_id.bytes", 'segment "bytes" from path "span.trace_id.bytes" is not a valid path nor a '
                            f"valid OTTL keyword for the span context - review {DOC}ottlspan to see all valid paths"),
    ("resource.foo", 'segment "foo" from path "resource.foo" is not a valid path nor a valid OTTL keyword '
                     f"for the resource context - review {DOC}ottlresource to see all valid paths"),
    ("scope.foo", 'segment "foo" from path "scope.foo" is not a valid path nor a valid OTTL keyword '
                  f"for the scope context - review {DOC}ottlscope to see all valid paths"),
    ('span.name["x"]', 'the keys indexing "name" were not used by the context - this likely means you are '
                       "trying to index a path that does not support indexing"),
    ("span.name.x", 'the path section "x" was not used by the context - this likely means you are using '
                    "extra path sections"),
    ("span.attributes.x", 'the path section "x" was not used by the context - this likely means you are '
                          "using extra path sections"),
    ("resource.cache", 'access to cache must be performed using the same context, please replace '
                       '"resource.cache" with "span.cache"'),
    ('resource.cache["a"]', 'access to cache must be performed using the same context, please replace '
                            '"resource.cache[a]" with "span.cache[a]"'),
])
def test_bad_paths(text, want):
    if text == 'resource.cache["a"]':
        # upstream's original text prints string keys without quotes
        from ._util import split
        prefix, segs = split(text)
        with pytest.raises(Exception) as ei:
            CONTEXTS["span"].resolve(prefix, segs, "resource.cache[a]")
        assert str(ei.value) == want
        return
    assert config_error("span", text) == want


def test_paths_without_context_prefix():
    # without path context names (prefix ""), a first segment naming a known context selects it
    _, ctx = make()
    from ._util import split
    from otelflow.ottl.contexts import Segment
    d = CONTEXTS["span"]
    assert d.resolve("", (Segment("name"),), "name").get(ctx) == "bear"
    assert d.resolve("", (Segment("resource"), Segment("schema_url")), "resource.schema_url").get(ctx) == "schema_url"
    assert d.resolve("", (Segment("cache"),), "cache").get(ctx) is ctx.cache
    with pytest.raises(Exception) as ei:
        d.resolve("", (Segment("resource"),), "resource")
    assert str(ei.value).startswith('segment "resource" from path "resource" is not a valid path')
    with pytest.raises(Exception) as ei:
        d.resolve("log", (Segment("body"),), "log.body")
    assert str(ei.value).startswith('segment "log" from path "log.body" is not a valid path')
