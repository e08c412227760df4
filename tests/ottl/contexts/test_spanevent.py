"""Span event paths (upstream's ctxspanevent tests) and event_index."""

from __future__ import annotations

from opentelemetry.proto.trace.v1 import trace_pb2

from otelflow.ottl.values import GoTime

from ._util import config_error, ctx_with, resolve, run_error


def make(index=0):
    rs = trace_pb2.ResourceSpans()
    ss = rs.scope_spans.add()
    span = ss.spans.add(name="span")
    ev = span.events.add(name="bear", time_unix_nano=100_000_000, dropped_attributes_count=10)
    return ctx_with(resource=rs.resource, resource_holder=rs, scope=ss.scope, scope_holder=ss, span=span,
                    event=ev, event_index=index)


def test_paths():
    ctx = make()
    for path, orig, new in [("spanevent.name", "bear", "cat"), ("spanevent.time_unix_nano", 100_000_000, 5),
                            ("spanevent.dropped_attributes_count", 10, 20)]:
        p = resolve("spanevent", path)
        assert p.get(ctx) == orig
        p.set(ctx, new)
        assert p.get(ctx) == new
    resolve("spanevent", "spanevent.time").set(ctx, GoTime(7))
    assert resolve("spanevent", "spanevent.time").get(ctx) == GoTime(7)
    assert resolve("spanevent", "span.name").get(ctx) == "span"
    assert resolve("spanevent", "spanevent.event_index").get(ctx) == 0
    assert run_error(resolve("spanevent", "spanevent.event_index").set, ctx, 1) == (
        "the 'event_index' path cannot be modified")
    assert run_error(resolve("spanevent", "spanevent.event_index").get, make(None)) == (
        "no 'event_index' property has been set")
    assert run_error(resolve("spanevent", "spanevent.event_index").get, make(-1)) == (
        "found invalid value for 'event_index'")
    assert run_error(resolve("spanevent", "spanevent.name").set, ctx, 1) == "expects string but got int64"
    assert config_error("spanevent", "spanevent.foo").startswith(
        'segment "foo" from path "spanevent.foo" is not a valid path nor a valid OTTL keyword for the '
        "spanevent context")
    # event_index belongs to the spanevent context only: the span context rejects it
    assert config_error("span", "span.event_index").startswith('segment "event_index" from path')
    assert config_error("spanevent", "span.cache").startswith(
        'access to cache must be performed using the same context, please replace "span.cache" with '
        '"spanevent.cache"')
