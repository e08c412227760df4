"""The native item counter (native/_counts.c) answers as the Python walk over the parsed message.

Requests are generated as raw protobuf wire bytes, not through the message classes, so that they hold
what a client may send and a serialiser never writes: a metric's data oneof switching member and
back, the same data message repeated (the decoder merges them), field numbers with another wire
type than the schema's (unknown fields), unknown fields at every level.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from google.protobuf.message import DecodeError

from otelflow.pdata import count_log_records, count_spans, counting

_counts = pytest.importorskip("otelflow.native._counts")

# FUZZ_SCALE multiplies the examples for the long run under the sanitizers (tools/asan.sh _counts).
_SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
_SETTINGS = settings(max_examples=300 * _SCALE, deadline=None, suppress_health_check=list(HealthCheck),
                     derandomize=_SCALE == 1)


def varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


# A field that is not a length-delimited occurrence of a schema field: another wire type for a known
# number, or an unknown number with any wire type.
noise = st.one_of(
    st.tuples(st.integers(1, 20), st.integers(0, 2**64 - 1)).map(lambda t: varint(t[0] << 3) + varint(t[1])),
    st.tuples(st.integers(1, 20), st.binary(min_size=8, max_size=8)).map(lambda t: varint(t[0] << 3 | 1) + t[1]),
    st.tuples(st.integers(1, 20), st.binary(min_size=4, max_size=4)).map(lambda t: varint(t[0] << 3 | 5) + t[1]),
    st.tuples(st.integers(13, 40), st.binary(max_size=6)).map(lambda t: field(t[0], t[1])),
)


def message(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Concatenated fields: some of the given children and a little noise, in any order."""
    parts = st.tuples(st.lists(children, max_size=4), st.lists(noise, max_size=2))
    return parts.flatmap(lambda t: st.permutations(t[0] + t[1])).map(b"".join)


def point() -> st.SearchStrategy[bytes]:
    # a data point's own content is opaque to the counter: a few plausible scalar fields
    return st.lists(st.one_of(
        st.integers(0, 2**63).map(lambda v: varint(2 << 3 | 1) + v.to_bytes(8, "little")),
        st.integers(0, 2**63).map(lambda v: varint(3 << 3 | 1) + v.to_bytes(8, "little")),
    ), max_size=2).map(b"".join)


def data_message() -> st.SearchStrategy[bytes]:
    # data_points (1) in every data type; aggregation_temporality (2) as a varint
    return message(st.one_of(point().map(lambda p: field(1, p)),
                             st.integers(0, 2).map(lambda v: varint(2 << 3) + varint(v))))


metric = message(st.one_of(
    st.text(max_size=5).map(lambda s: field(1, s.encode())),
    st.tuples(st.sampled_from([5, 7, 9, 10, 11]), data_message()).map(lambda t: field(*t)),
))
scope = message(st.one_of(metric.map(lambda m: field(2, m)), st.just(field(1, b""))))
resource = message(scope.map(lambda s: field(2, s)))
metrics_request = message(resource.map(lambda r: field(1, r)))

record = st.binary(max_size=8).map(lambda b: field(8, b))  # opaque content (an unknown field)
log_scope = message(record.map(lambda r: field(2, r)))
log_request = message(message(log_scope.map(lambda s: field(2, s))).map(lambda r: field(1, r)))


def _parsed(kind, body: bytes):
    try:
        return kind.FromString(body)
    except DecodeError:
        return None


@_SETTINGS
@given(metrics_request)
def test_data_points_match_the_walk(body):
    parsed = _parsed(ExportMetricsServiceRequest, body)
    if parsed is None:
        return
    assert _counts.items(_counts.METRICS, body) == counting.count_data_points_walk(parsed)
    # and on the re-encoded message, which is what count_data_points hands it
    assert _counts.items(_counts.METRICS, parsed.SerializeToString()) == counting.count_data_points_walk(parsed)


@_SETTINGS
@given(log_request)
def test_log_records_and_spans_match(body):
    logs = _parsed(ExportLogsServiceRequest, body)
    if logs is not None:
        assert _counts.items(_counts.LOGS, body) == count_log_records(logs)
    traces = _parsed(ExportTraceServiceRequest, body)  # same layout: resource 1 -> scope 2 -> item 2
    if traces is not None:
        assert _counts.items(_counts.TRACES, body) == count_spans(traces)


def test_oneof_switch_drops_the_earlier_member_and_repeats_merge():
    pt = field(1, b"")
    gauge2 = field(5, pt + pt)
    sum1 = field(7, pt)
    cases = {
        gauge2 + sum1: 1,  # switched to sum: the gauge's points are gone
        gauge2 + sum1 + gauge2: 2,  # switched back: a new gauge, not merged with the first
        gauge2 + gauge2: 4,  # the same member twice: merged
        gauge2 + varint(7 << 3) + varint(1): 2,  # sum as a varint is an unknown field
    }
    for metric_bytes, expected in cases.items():
        body = field(1, field(2, field(2, metric_bytes)))
        assert counting.count_data_points_walk(ExportMetricsServiceRequest.FromString(body)) == expected
        assert _counts.items(_counts.METRICS, body) == expected


def test_unwalkable_bytes_answer_minus_one_and_random_bytes_never_crash():
    body = field(1, field(2, field(2, field(5, field(1, b"")))))
    for cut in range(1, len(body)):
        assert _counts.items(_counts.METRICS, body[:cut]) == -1
    assert _counts.items(_counts.METRICS, varint(1 << 3 | 3) + varint(1 << 3 | 4)) == -1  # a group
    rng = random.Random(11)
    for _ in range(3000 * _SCALE):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(48)))
        for signal in (_counts.TRACES, _counts.LOGS, _counts.METRICS):
            assert _counts.items(signal, blob) >= -1
    with pytest.raises(ValueError):
        _counts.items(7, b"")


def _thin(n: int) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    for i in range(n):
        rm.scope_metrics.add().metrics.add(name=f"m{i}").gauge.data_points.add(as_int=i)
    return req


def _thick() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="h")
    for _ in range(50):
        metric.histogram.data_points.add(count=3, bucket_counts=[1, 1, 1], explicit_bounds=[1.0, 2.0])
    return req


def test_chooser_goes_native_on_thin_traffic_and_back_on_thick():
    chooser = counting._Chooser()
    thin, thick = _thin(20), _thick()
    for _ in range(counting._ENTER):
        assert chooser.count(thin) == 20
    assert chooser.native
    for _ in range(3 * counting._PROBE):
        assert chooser.count(thin) == 20
    assert chooser.native
    seen = [chooser.count(thick) for _ in range(counting._PROBE)]
    assert seen == [50] * counting._PROBE and not chooser.native  # a probe within _PROBE calls noticed
    assert chooser.count(thin) == 20 and not chooser.native  # needs _ENTER thin ones again


def test_without_the_extension_the_walk_counts(monkeypatch):
    monkeypatch.setattr(counting, "_counts", None)
    chooser = counting._Chooser()
    for _ in range(3 * counting._ENTER):
        assert chooser.count(_thin(5)) == 5
    assert not chooser.native
