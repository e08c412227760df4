"""Log paths (upstream's ctxlog tests)."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otelflow.ottl.contexts.types import SpanID, TraceID
from otelflow.ottl.values import GoTime, PMap, PSlice, to_raw

from ._util import config_error, ctx_with, resolve, run_error


def make(body="body"):
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    sl = rl.scope_logs.add()
    log = sl.log_records.add(time_unix_nano=100_000_000, observed_time_unix_nano=500_000_000,
                             severity_number=9, severity_text="blue", dropped_attributes_count=10,
                             flags=4, trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)),
                             event_name="event")
    from otelflow.ottl.values import set_value
    set_value(log.body, body)
    return ctx_with(resource=rl.resource, resource_holder=rl, scope=sl.scope, scope_holder=sl, log=log)


def test_scalars():
    ctx = make()
    log = ctx.log
    for path, orig, new, read in [
        ("log.time_unix_nano", 100_000_000, 200_000_000, lambda: log.time_unix_nano),
        ("log.observed_time_unix_nano", 500_000_000, 200_000_000, lambda: log.observed_time_unix_nano),
        ("log.severity_number", 9, 17, lambda: log.severity_number),
        ("log.severity_text", "blue", "red", lambda: log.severity_text),
        ("log.dropped_attributes_count", 10, 20, lambda: log.dropped_attributes_count),
        ("log.flags", 4, 5, lambda: log.flags),
        ("log.event_name", "event", "new_event", lambda: log.event_name),
        ("log.trace_id.string", bytes(range(1, 17)).hex(), "0" * 31 + "1", lambda: log.trace_id.hex()),
        ("log.span_id.string", bytes(range(1, 9)).hex(), "0" * 15 + "2", lambda: log.span_id.hex()),
    ]:
        p = resolve("log", path)
        assert p.get(ctx) == orig, path
        p.set(ctx, new)
        assert read() == new, path
    assert resolve("log", "log.trace_id").get(ctx) == TraceID(b"\x00" * 15 + b"\x01")
    resolve("log", "log.span_id").set(ctx, SpanID(b"\x07" * 8))
    assert log.span_id == b"\x07" * 8
    assert resolve("log", "log.time").get(ctx) == GoTime(200_000_000)
    resolve("log", "log.observed_time").set(ctx, GoTime(42))
    assert log.observed_time_unix_nano == 42
    assert run_error(resolve("log", "log.severity_text").set, ctx, 1) == "expects string but got int64"


def test_body():
    ctx = make()
    body = resolve("log", "log.body")
    assert body.get(ctx) == "body"
    assert resolve("log", "log.body.string").get(ctx) == "body"
    body.set(ctx, {"a": {"b": [1, 2]}})
    got = body.get(ctx)
    assert isinstance(got, PMap) and to_raw(got) == {"a": {"b": [1, 2]}}
    assert resolve("log", 'log.body["a"]["b"][1]').get(ctx) == 2
    resolve("log", 'log.body["a"]["c"]').set(ctx, "x")
    assert to_raw(body.get(ctx)) == {"a": {"b": [1, 2], "c": "x"}}
    assert resolve("log", "log.body.string").get(ctx) == '{"a":{"b":[1,2],"c":"x"}}'
    body.set(ctx, [1, {"k": "v"}])
    assert isinstance(body.get(ctx), PSlice)
    assert resolve("log", 'log.body[1]["k"]').get(ctx) == "v"
    resolve("log", "log.body[0]").set(ctx, "first")
    assert to_raw(body.get(ctx)) == ["first", {"k": "v"}]
    assert run_error(resolve("log", "log.body[5]").get, ctx) == "index 5 out of bounds"
    body.set(ctx, 1.5)
    assert resolve("log", "log.body.string").get(ctx) == "1.5"
    assert run_error(resolve("log", 'log.body["a"]').get, ctx) == "log bodies of type Double cannot be indexed"
    assert run_error(resolve("log", 'log.body["a"]').set, ctx, 1) == "log bodies of type Double cannot be indexed"
    body.set(ctx, b"\x01\x02")
    assert resolve("log", "log.body.string").get(ctx) == "AQI="
    resolve("log", "log.body.string").set(ctx, "s")
    assert body.get(ctx) == "s"
    body.set(ctx, None)
    assert body.get(ctx) is None
    assert resolve("log", "log.body.string").get(ctx) == ""
    assert run_error(body.set, ctx, GoTime(1)) == "unsupported type time.Time for set operation; current value type is Empty"


def test_bad_paths():
    doc = "https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/pkg/ottl/contexts/ottllog"
    assert config_error("log", "log.body.foo") == (
        f'segment "foo" from path "log.body.foo" is not a valid path nor a valid OTTL keyword for the log '
        f"context - review {doc} to see all valid paths")
    assert config_error("log", 'log.body["a"].string') == (
        'the keys indexing "body" were not used by the context - this likely means you are trying to '
        "index a path that does not support indexing")
    assert config_error("log", "span.name").startswith('segment "span" from path "span.name"')
