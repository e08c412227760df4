"""Every map path (attributes, metadata, filtered_attributes, cache) in every context: the cases of
upstream's attribute tests (get the value, set a new one, check the item)."""

from __future__ import annotations

import pytest
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from otelflow.ottl.values import PMap, PSlice, new_pmap, to_raw

from ._util import ctx_with, fill_attributes, resolve, run_error


def _items():
    rs = trace_pb2.ResourceSpans()
    ss = rs.scope_spans.add()
    span = ss.spans.add()
    ev = span.events.add()
    rm = metrics_pb2.ResourceMetrics()
    sm = rm.scope_metrics.add()
    metric = sm.metrics.add(name="m")
    dp = metric.sum.data_points.add()
    ex = dp.exemplars.add()
    rl = logs_pb2.ResourceLogs()
    sl = rl.scope_logs.add()
    log = sl.log_records.add()
    cache = new_pmap()
    ctx = ctx_with(resource=rs.resource, resource_holder=rs, scope=ss.scope, scope_holder=ss, span=span,
                   event=ev, event_index=0, metric=metric, datapoint=dp, exemplar=ex, log=log, cache=cache)
    return ctx, {
        "resource.attributes": rs.resource.attributes,
        "scope.attributes": ss.scope.attributes,
        "span.attributes": span.attributes,
        "spanevent.attributes": ev.attributes,
        "metric.metadata": metric.metadata,
        "datapoint.attributes": dp.attributes,
        "exemplar.filtered_attributes": ex.filtered_attributes,
        "log.attributes": log.attributes,
        "cache": cache.kvs,
    }


CASES = [
    # (context, path)
    ("resource", "resource.attributes"),
    ("scope", "scope.attributes"),
    ("span", "instrumentation_scope.attributes"),
    ("span", "span.attributes"),
    ("spanevent", "spanevent.attributes"),
    ("metric", "metric.metadata"),
    ("datapoint", "datapoint.attributes"),
    ("exemplar", "exemplar.filtered_attributes"),
    ("log", "log.attributes"),
    ("log", "log.cache"),
    ("span", "span.cache"),
    ("resource", "resource.cache"),
]


def _field(fields, path):
    key = path if path in fields else path.replace("instrumentation_scope", "scope")
    return fields["cache" if path.endswith(".cache") else key]


@pytest.mark.parametrize("context,path", CASES)
def test_map_path(context, path):
    ctx, fields = _items()
    kvs = _field(fields, path)
    fill_attributes(kvs)
    whole = resolve(context, path)
    got = whole.get(ctx)
    assert isinstance(got, PMap) and got.kvs is kvs

    cases = [
        ('["str"]', "val", "newVal"),
        ('["bool"]', True, False),
        ('["int"]', 10, 20),
        ('["double"]', 1.2, 2.4),
        ('["bytes"]', b"\x01\x03\x02", b"\x02\x03\x04"),
        ('["arr_str"]', ["one", "two"], ["new"]),
        ('["arr_bool"]', [True, False], [False]),
        ('["arr_int"]', [2, 3], [20]),
        ('["arr_float"]', [1.0, 2.0], [2.0]),
        ('["arr_bytes"]', [b"\x01\x02\x03", b"\x02\x03\x04"], [b"\x09\x06\x04"]),
        ('["slice"][0]["map"]', "pass", "new"),
        ('["new"][2][0]', None, "new"),
        ('["missing"]', None, {"k": "v"}),
    ]
    for suffix, orig, new in cases:
        p = resolve(context, path + suffix)
        got = p.get(ctx)
        assert to_raw(got) == orig, suffix
        if isinstance(orig, list):
            assert isinstance(got, PSlice)
        p.set(ctx, new)
        assert to_raw(p.get(ctx)) == new, suffix
    raw = to_raw(got_map := whole.get(ctx))
    assert raw["new"] == [None, None, ["new"]]
    assert raw["slice"] == [{"map": "new"}]
    # an unsupported value type is an error
    assert run_error(resolve(context, path + '["str"]').set, ctx, object()).startswith("unsupported type")
    # nil empties the value but keeps the key
    resolve(context, path + '["str"]').set(ctx, None)
    assert "str" in got_map.keys() and to_raw(got_map)["str"] is None

    # the whole map: from a dict, a PMap, nil; anything else is an error
    whole.set(ctx, {"a": 1})
    assert to_raw(whole.get(ctx)) == {"a": 1}
    whole.set(ctx, new_pmap({"b": [1]}))
    assert to_raw(whole.get(ctx)) == {"b": [1]}
    assert run_error(whole.set, ctx, "x") == "unsupported type provided for setting a pcommon.Map: string"
    whole.set(ctx, None)
    assert len(kvs) == 0


def test_map_path_with_expression_key():
    ctx, fields = _items()
    fields["span.attributes"].add(key="k").value.string_value = "v"
    from otelflow.ottl.contexts import CONTEXTS, Key, Segment
    p = CONTEXTS["span"].resolve("span", (Segment("attributes", (Key(getter=lambda c: c.span.name),)),),
                                 "span.attributes[span.name]")
    ctx.span.name = "k"
    assert p.get(ctx) == "v"
    ctx.span.name = "other"
    assert p.get(ctx) is None
    p.set(ctx, 1)
    assert to_raw(PMap(fields["span.attributes"])) == {"k": "v", "other": 1}
