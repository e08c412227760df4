"""tail_sampling's cut of a request into per-trace fragments: the C cut on the encoded request gives
what the Python cut of the parsed message gives, fragment for fragment and in the same order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.processors.tail_sampling.store import Headers, cut, cut_encoded, frags_wire

_route = pytest.importorskip("otelflow.native._route")

trace_ids = st.sampled_from([b"", b"\x01" * 16, b"\x02" * 16, bytes(range(16)), b"\x07" * 8])
span = st.fixed_dictionaries({"trace_id": trace_ids, "name": st.text(max_size=4),
                              "parent_span_id": st.sampled_from([b"", b"\x09" * 8]),
                              "attrs": st.integers(0, 2)})
scope = st.fixed_dictionaries({"name": st.none() | st.text(max_size=3), "schema_url": st.sampled_from(["", "s"]),
                               "spans": st.lists(span, max_size=5)})
resource = st.fixed_dictionaries({"service": st.none() | st.text(max_size=3), "schema_url": st.sampled_from(["", "r"]),
                                  "scopes": st.lists(scope, max_size=3)})


def build(resources: list[dict]) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for r in resources:
        rs = req.resource_spans.add(schema_url=r["schema_url"])
        if r["service"] is not None:
            rs.resource.attributes.add(key="service.name").value.string_value = r["service"]
        for s in r["scopes"]:
            ss = rs.scope_spans.add(schema_url=s["schema_url"])
            if s["name"] is not None:
                ss.scope.name = s["name"]
            for sp in s["spans"]:
                out = ss.spans.add(trace_id=sp["trace_id"], name=sp["name"], parent_span_id=sp["parent_span_id"])
                for i in range(sp["attrs"]):
                    out.attributes.add(key=f"k{i}").value.int_value = i
    return req


@settings(max_examples=300, deadline=None)
@given(st.lists(resource, max_size=4), st.booleans())
def test_native_cut_equals_the_python_cut(resources, want_root):
    req = build(resources)
    expected = cut(req, Headers(), want_root)
    got = cut_encoded(req.SerializeToString(), Headers(), want_root)
    assert got is not None
    assert list(got) == list(expected)
    for tid, (frags, count, root) in expected.items():
        assert got[tid] == [frags, count, root]
        # the fragments of a trace are that trace's spans as a request of their own
        again = ExportTraceServiceRequest.FromString(frags_wire(got[tid][0]))
        assert sum(len(ss.spans) for rs in again.resource_spans for ss in rs.scope_spans) == count


def test_headers_of_one_resource_are_one_object_across_requests():
    req = build([{"service": "a", "schema_url": "", "scopes": [
        {"name": "l", "schema_url": "", "spans": [{"trace_id": b"\x01" * 16, "name": "x", "parent_span_id": b"", "attrs": 0},
                                                   {"trace_id": b"\x02" * 16, "name": "y", "parent_span_id": b"", "attrs": 0}]}]}])
    headers = Headers()
    first = cut_encoded(req.SerializeToString(), headers, False)
    second = cut_encoded(req.SerializeToString(), headers, False)
    heads = {id(entry[0][0]) for got in (first, second) for entry in got.values()}
    assert len(heads) == 1


def test_what_the_native_cut_does_not_understand_is_left_to_the_python_cut():
    req = build([{"service": "a", "schema_url": "", "scopes": [
        {"name": "l", "schema_url": "", "spans": [{"trace_id": b"\x01" * 16, "name": "x", "parent_span_id": b"", "attrs": 0}]}]}])
    body = req.SerializeToString()
    assert cut_encoded(body[:-2], Headers(), False) is None  # truncated
    twice = body[:2] + req.resource_spans[0].SerializeToString()[:0] + body[2:]  # unchanged bytes
    assert cut_encoded(twice, Headers(), False) is not None
    # a resource sent twice in one ResourceSpans merges when parsed: the C cut declines
    rs = req.resource_spans[0]
    inner = rs.SerializeToString()
    resource_field = b"\x0a" + bytes([len(rs.resource.SerializeToString())]) + rs.resource.SerializeToString()
    doubled = resource_field + inner
    assert cut_encoded(b"\x0a" + bytes([len(doubled)]) + doubled, Headers(), False) is None
