"""Unit cases for the Zipkin translators: the Go behaviours the goldens rely on, pinned one by one
(encoding/json quirks of zipkin-go's model, net.IP formatting, strconv parsing, Go's sort, the
serializers' rounding)."""

from __future__ import annotations

import json
import random

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.pdata import otlpjson
from otelflow.translators.zipkin import (TranslationError, ZipkinError, from_otlp, spans_from_json, spans_from_proto,
                                         to_json, to_otlp, to_proto, v1_json_to_otlp)
from otelflow.translators.zipkin.gosort import go_sort
from otelflow.translators.zipkin.model import ip_string, parse_ip
from otelflow.translators.zipkin.to_otlp import typed_value


def _span(**fields) -> bytes:
    return json.dumps([{"traceId": "1", "id": "2", **fields}]).encode()


def test_go_sort_small_batches_reverse_equal_keys():
    # insertion sort with a non-strict Less moves each equal element in front of the previous ones
    items = [(0, i) for i in range(5)]
    go_sort(items, lambda x, y: x[0] <= y[0])
    assert items == [(0, 4), (0, 3), (0, 2), (0, 1), (0, 0)]


@pytest.mark.parametrize("n", [13, 64, 500])
def test_go_sort_sorts(n):
    rng = random.Random(n)
    items = [rng.randrange(5) for _ in range(n)]
    go_sort(items, lambda x, y: x <= y)
    assert items == sorted(items)


@pytest.mark.parametrize("raw,text", [
    (bytes([10, 0, 0, 1]), "10.0.0.1"),
    (bytes(10) + b"\xff\xff" + bytes([1, 2, 3, 4]), "1.2.3.4"),
    (bytes.fromhex("20010db8000000000000000000000001"), "2001:db8::1"),
    (b"\x01\x02\x03", "?010203"),
])
def test_ip_string_is_gos(raw, text):
    assert ip_string(raw) == text


def test_parse_ip_is_gos():
    assert parse_ip("1.2.3.4") == bytes(10) + b"\xff\xff\x01\x02\x03\x04"
    assert parse_ip("fe80::1%eth0") is None and parse_ip("01.2.3.4") is None and parse_ip("300.1.1.1") is None


@pytest.mark.parametrize("text,expected", [
    ("007", ("int_value", 7)), ("-3", ("int_value", -3)), ("99999999999999999999", ("int_value", 2**63 - 1)),
    ("1.50", ("double_value", 1.5)), ("1e5", ("string_value", "1e5")), ("1.", ("string_value", "1.")),
    (" 1", ("string_value", " 1")), ("True", ("string_value", "True")), ("false", ("bool_value", False)),
    ("\u0661", ("string_value", "\u0661")),  # Go's \d is ASCII only
])
def test_parse_string_tags(text, expected):
    assert typed_value(text, True) == expected
    assert typed_value(text, False) == ("string_value", text)


def test_json_fields_as_encoding_json_reads_them():
    [span] = spans_from_json(b'[{"TraceID": "1", "id": "5", "ID": "", "NAME": "a", "name": "b", "parentId": null,'
                             b' "tags": {"k": null}}]')
    assert (span.trace_low, span.id, span.name, span.parent_id, span.tags) == (1, 5, "b", None, {"k": ""})
    [span] = spans_from_json(b'[{"traceId": "1", "id": 12345}]')  # zipkin-go strips a byte from each end
    assert span.id == 0x234


@pytest.mark.parametrize("body,message", [
    (_span(timestamp=1.5), "cannot unmarshal number 1.5"),
    (_span(id="xyz"), "invalid syntax"),
    (_span(traceId=""), "valid traceId required"),
    (_span(id=""), "valid span id required"),
    (_span(tags=[]), "cannot unmarshal array"),
    (_span(localEndpoint={"port": 70000}), "uint16"),
    (b"[1]", "cannot unmarshal number"),
    (b"[NaN]", "invalid character"),
])
def test_json_errors(body, message):
    with pytest.raises(ZipkinError, match=message):
        spans_from_json(body)


def test_proto_round_trip_keeps_the_span():
    request = otlpjson.decode(json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {"name": "lib", "version": "1"}, "spans": [{
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7", "name": "Op", "kind": 3,
            "startTimeUnixNano": "1700000000000001000", "endTimeUnixNano": "1700000000000002000",
            "attributes": [{"key": "network.peer.address", "value": {"stringValue": "10.0.0.9"}},
                           {"key": "n", "value": {"intValue": "3"}}],
            "events": [{"timeUnixNano": "1700000000000001500", "name": "e"}]}]}]}]}), ExportTraceServiceRequest)
    back = to_otlp(spans_from_proto(to_proto(from_otlp(request))), parse_string_tags=True)
    [rs] = back.resource_spans
    [ss] = rs.scope_spans
    [span] = ss.spans
    original = request.resource_spans[0].scope_spans[0].spans[0]
    assert (ss.scope.name, ss.scope.version, span.name, span.kind) == ("lib", "1", "Op", 3)
    assert (span.trace_id, span.span_id) == (original.trace_id, original.span_id)
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (1700000000000001000, 1700000000000002000)
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert attrs["network.peer.address"].string_value == "10.0.0.9" and attrs["n"].int_value == 3
    assert [(e.name, e.time_unix_nano) for e in span.events] == [("e", 1700000000000001000)]  # proto truncates µs


@pytest.mark.parametrize("start,end,duration", [(1_700_000_000_000_000_000, 1_700_000_000_000_000_400, 1),
                                               (1_700_000_000_000_000_000, 1_700_000_000_000_001_499, 1),
                                               (1_700_000_000_000_000_000, 1_700_000_000_000_001_500, 2)])
def test_json_serializer_rounds_like_zipkin_go(start, end, duration):
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(
        trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="MiXeD", start_time_unix_nano=start, end_time_unix_nano=end)
    [out] = json.loads(to_json(from_otlp(request)))
    assert (out["duration"], out["name"], out["localEndpoint"]) == (duration, "mixed", {
        "serviceName": "otlpresourcenoservicename"})
    span.end_time_unix_nano = start - 1
    with pytest.raises(TranslationError, match="valid duration required"):
        to_json(from_otlp(request))


def test_v1_status_precedence():
    def status(*pairs):
        body = json.dumps([{"traceId": "5af7183fb1d4cf5f", "id": "6b221d5bc9e6496c", "timestamp": 1, "duration": 1,
                            "binaryAnnotations": [{"key": k, "value": v} for k, v in pairs]}]).encode()
        s = v1_json_to_otlp(body).resource_spans[0].scope_spans[0].spans[0]
        return s.status.code, s.status.message, sorted(kv.key for kv in s.attributes)

    assert status(("error", "x"), ("http.status_code", "200")) == (2, "", ["http.status_code"])
    assert status(("http.status_code", "503"), ("http.status_message", "busy")) == (
        2, "busy", ["http.status_code", "http.status_message"])
    assert status(("census.status_code", "0"), ("otel.status_code", "2")) == (1, "", [])
    assert status(("error", ""), ("otel.status_description", "why")) == (2, "why", [])
