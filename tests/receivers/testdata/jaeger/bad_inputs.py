"""Malformed input for the receiver's error answers (same bytes to otelcol-ref and otelflow)."""

from __future__ import annotations

import gzip

from thriftpy2.protocol import TBinaryProtocolFactory
from thriftpy2.utils import serialize

from otelflow.receivers.jaeger.idl import api_v2
from tests.receivers.testdata.jaeger.thriftpy_idl import jaeger
from tests.receivers.testdata.jaeger.inputs import thrift_http_body

GOOD = thrift_http_body()

# name -> (method, path, content type, body[, content encoding])
HTTP = {
    "garbage_body": ("POST", "/api/traces", "application/x-thrift", b"\x0c\x00\x01\xff\xfe garbage"),
    "truncated_body": ("POST", "/api/traces", "application/x-thrift", GOOD[: len(GOOD) // 2]),
    "missing_process": ("POST", "/api/traces", "application/x-thrift",
                        serialize(jaeger.Batch(spans=[]), TBinaryProtocolFactory())),
    "empty_body": ("POST", "/api/traces", "application/x-thrift", b""),
    "json_content_type": ("POST", "/api/traces", "application/json", GOOD),
    "no_content_type": ("POST", "/api/traces", None, GOOD),
    "bad_content_type": ("POST", "/api/traces", "thrift", GOOD),
    "vnd_thrift_ok": ("POST", "/api/traces", "application/vnd.apache.thrift.binary; charset=x", GOOD),
    "get": ("GET", "/api/traces", None, b""),
    "other_path": ("POST", "/api/other", "application/x-thrift", GOOD),
    "over_limit": ("POST", "/api/traces", "application/x-thrift", GOOD * 3),  # the scenario allows 4096 bytes
    "unknown_encoding": ("POST", "/api/traces", "application/x-thrift", GOOD, "br"),
    "gzip_ok": ("POST", "/api/traces", "application/x-thrift", gzip.compress(GOOD), "gzip"),
    "bad_gzip": ("POST", "/api/traces", "application/x-thrift", b"\x1f\x8b\x08\x00garbage", "gzip"),
}

GRPC = {
    "garbage": b"\xff\xff\xff\xff",
    "short_trace_id": api_v2.PostSpansRequest(batch=api_v2.Batch(spans=[api_v2.Span(
        trace_id=b"\x01\x02\x03", span_id=b"\x00" * 7 + b"\x01")])).SerializeToString(),
    "short_span_id": api_v2.PostSpansRequest(batch=api_v2.Batch(spans=[api_v2.Span(
        trace_id=b"\x01" * 16, span_id=b"\x01\x02")])).SerializeToString(),
    "empty": b"",
    "nanos_out_of_range": api_v2.PostSpansRequest(batch=api_v2.Batch(spans=[api_v2.Span(
        trace_id=b"\x01" * 16, span_id=b"\x01" * 8, start_time=api_v2.Timestamp(seconds=1, nanos=-5))])).SerializeToString(),
    "duration_signs": api_v2.PostSpansRequest(batch=api_v2.Batch(spans=[api_v2.Span(
        trace_id=b"\x01" * 16, span_id=b"\x01" * 8, duration=api_v2.Duration(seconds=1, nanos=-5))])).SerializeToString(),
    "log_before_year_1": api_v2.PostSpansRequest(batch=api_v2.Batch(spans=[api_v2.Span(
        trace_id=b"\x01" * 16, span_id=b"\x01" * 8, logs=[api_v2.Log(timestamp=api_v2.Timestamp(
            seconds=-62135596801))])])).SerializeToString(),
}

UDP_GARBAGE = [b"\x00\x01\x02garbage", b"\x82\x81\x01\x09emitBatch\xff\xff", b""]
