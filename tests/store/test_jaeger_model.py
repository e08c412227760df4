"""The Go text forms the Jaeger API reproduces, checked against what Go 1.26 prints for the same
inputs (time.ParseDuration, Duration.String, encoding/json floats, Time.String), so that the
differential test's rare paths do not depend on the reference binary being built."""

from __future__ import annotations

import pytest

from otelflow.store.jaeger_api import parse_duration, parse_trace_id
from otelflow.translators.jaeger import ui_model


@pytest.mark.parametrize("text,ns,error", [
    ("1.5s", 1_500_000_000, None), ("300ms", 300_000_000, None), ("2h45m", 9_900_000_000_000, None),
    ("-1us", -1000, None), ("1µs", 1000, None), ("0", 0, None), (".5s", 500_000_000, None),
    ("1.s", 1_000_000_000, None), ("+3m", 180_000_000_000, None), ("1h1h", 7_200_000_000_000, None),
    ("5.123456789123s", 5_123_456_789, None),
    ("", 0, 'time: invalid duration ""'), ("1", 0, 'time: missing unit in duration "1"'),
    ("abc", 0, 'time: invalid duration "abc"'), ("1x", 0, 'time: unknown unit "x" in duration "1x"'),
    ("9999999999h", 0, 'time: invalid duration "9999999999h"'),
])
def test_parse_duration_as_go(text, ns, error):
    if error is None:
        assert parse_duration(text) == ns
    else:
        with pytest.raises(ValueError, match="^" + error.replace(".", r"\.") + "$"):
            parse_duration(text)


def test_go_text_forms():
    assert [ui_model.go_duration(n) for n in (0, 999, 1500, 1_500_000, 1_500_000_000, 61_000_000_000,
                                               3_600_000_000_000, -2000, 3_723_004_000_000, 123_456_789)] == [
        "0s", "999ns", "1.5µs", "1.5ms", "1.5s", "1m1s", "1h0m0s", "-2µs", "1h2m3.004s", "123.456789ms"]
    floats = (1.5, 2.0, 1e21, 1.5e22, 1e-7, 1.2345e-05, 0.1, 123456789.125, -3.0, 1e20, 1 / 3)
    assert [ui_model.as_string(f) for f in floats] == [
        "1.5", "2", "1e+21", "1.5e+22", "1e-7", "0.000012345", "0.1", "123456789.125", "-3",
        "100000000000000000000", "0.3333333333333333"]
    assert ui_model.go_time(1_765_000_000_123_456_000) == "2025-12-06 05:46:40.123456 +0000 UTC"
    assert ui_model.as_string({"b": [1, 2.5, "<x>"], "a": True}) == '{"a":true,"b":[1,2.5,"\\u003cx\\u003e"]}'


def test_trace_ids():
    assert parse_trace_id("ABC") == "0" * 29 + "abc"
    assert ui_model.jaeger_id("0" * 29 + "abc", 32) == "0" * 13 + "abc"
    with pytest.raises(ValueError, match='strconv.ParseUint: parsing "xyz": invalid syntax'):
        parse_trace_id("xyz")
    with pytest.raises(ValueError, match="cannot be longer than 32"):
        parse_trace_id("a" * 33)


def test_span_model_rules():
    """Tags, references and warnings for one span as Jaeger derives them from OTLP."""
    row = {"trace_id": "0" * 16 + "1" * 16, "span_id": "2" * 16, "parent_span_id": "3" * 16, "trace_state": "k=v",
           "name": "op", "kind": 2, "start_ns": 5_000, "end_ns": 5_000, "status_code": 2, "status_message": "bad",
           "attributes": '{"ip": 167772167, "telemetry.sdk.name": "x", "z": [1]}',
           "events": '[{"time_ns": 6000, "name": "boom", "attributes": {"b": 1, "a": 2}}]',
           "links": '[{"trace_id": "", "span_id": "4444444444444444", "trace_state": "", "attributes": {}}]',
           "resource": '{"service.name": ""}', "scope_name": "lib", "scope_version": ""}
    t = ui_model.trace_json([row])
    span = t["spans"][0]
    assert span["traceID"] == "1" * 16
    assert [(k["key"], k["value"]) for k in span["tags"]] == [
        ("error", True), ("ip", "10.0.0.7"), ("otel.scope.name", "lib"), ("otel.status_code", "ERROR"),
        ("otel.status_description", "bad"), ("span.kind", "server"), ("w3c.tracestate", "k=v"), ("z", "[1]")]
    assert span["references"] == [{"refType": "CHILD_OF", "traceID": "1" * 16, "spanID": "3" * 16}]
    assert [f["key"] for f in span["logs"][0]["fields"]] == ["event", "a", "b"]
    assert span["duration"] == 0 and len(span["warnings"]) == 3
    assert span["warnings"][0].startswith("Negative duration detected")
    assert span["warnings"][1] == "invalid parent span IDs=3333333333333333; skipping clock skew adjustment"
    assert span["warnings"][2].startswith("Invalid span reference removed")
    assert t["processes"]["p1"] == {"serviceName": "empty-service-name",
                                    "tags": [{"key": "telemetry.sdk.name", "type": "string", "value": "x"}]}


def test_duplicate_spans_listed_once():
    row = {"trace_id": "a" * 32, "span_id": "b" * 16, "parent_span_id": "", "trace_state": "", "name": "op",
           "kind": 1, "start_ns": 1000, "end_ns": 5000, "status_code": 0, "status_message": "", "attributes": "{}",
           "events": "[]", "links": "[]", "resource": '{"service.name": "s"}', "scope_name": "", "scope_version": ""}
    assert len(ui_model.trace_json([row, dict(row)])["spans"]) == 1
    other = {**row, "name": "op2"}  # same span ID, different content: both, with Jaeger's warning
    spans = ui_model.trace_json([row, other])["spans"]
    assert [s["warnings"] for s in spans] == [None, ["duplicate span IDs; skipping clock skew adjustment"]]
