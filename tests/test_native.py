"""The native ID-length check answers exactly as the Python check on the parsed message."""

import random

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.core.component import Signal
from otelflow.pdata import InvalidIDError, check_ids, check_ids_encoded

_wire = pytest.importorskip("otelflow.native._wire")


def traces(tid=16, sid=8, pid=8, link_tid=16):
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add(name="x")
    span.trace_id, span.span_id, span.parent_span_id = b"\1" * tid, b"\2" * sid, b"\3" * pid
    span.attributes.add(key="k", value={"string_value": "v" * 300})
    span.links.add(trace_id=b"\4" * link_tid, span_id=b"\5" * 8)
    return req


def logs(tid=16, sid=8):
    req = ExportLogsServiceRequest()
    req.resource_logs.add().scope_logs.add().log_records.add(trace_id=b"\1" * tid, span_id=b"\2" * sid)
    return req


def metrics(tid=16, kind="histogram"):
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    point = getattr(metric, kind).data_points.add()
    point.exemplars.add(trace_id=b"\1" * tid, span_id=b"\2" * 8)
    return req


CASES = [
    (Signal.TRACES, traces()), (Signal.TRACES, traces(tid=0, sid=0, pid=0)), (Signal.TRACES, traces(tid=15)),
    (Signal.TRACES, traces(sid=9)), (Signal.TRACES, traces(pid=4)), (Signal.TRACES, traces(link_tid=17)),
    (Signal.LOGS, logs()), (Signal.LOGS, logs(tid=3)), (Signal.LOGS, logs(sid=7)),
    *[(Signal.METRICS, metrics(t, k)) for t in (16, 5) for k in ("gauge", "sum", "histogram", "exponential_histogram")],
]


@pytest.mark.parametrize("signal,message", CASES)
def test_native_and_python_agree(signal, message):
    body = message.SerializeToString()
    try:
        check_ids(message)
        expected = None
    except InvalidIDError:
        expected = InvalidIDError
    assert _wire.check_ids(int({Signal.TRACES: _wire.TRACES, Signal.LOGS: _wire.LOGS, Signal.METRICS: _wire.METRICS}[signal]), body) == (1 if expected else 0)
    if expected:
        with pytest.raises(InvalidIDError):
            check_ids_encoded(signal, body, message)
    else:
        check_ids_encoded(signal, body, message)


def test_random_bytes_never_crash_and_truncation_is_unknown():
    rng = random.Random(7)
    body = traces().SerializeToString()
    assert _wire.check_ids(_wire.TRACES, body[:-3]) == -1
    for _ in range(2000):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        assert _wire.check_ids(_wire.TRACES, blob) in (-1, 0, 1)


def test_trace_cutters_never_crash_on_random_or_truncated_bytes():
    _route = pytest.importorskip("otelflow.native._route")
    rng = random.Random(8)
    body = traces().SerializeToString() + traces().SerializeToString()
    for cut in range(len(body)):
        for blob in (body[:cut], bytes(b ^ 0x55 for b in body[:cut])):
            assert _route.split_traces(blob, 3) is None or isinstance(_route.split_traces(blob, 3), (int, list))
            assert _route.by_trace_id(blob, 1) is None or isinstance(_route.by_trace_id(blob, 1), list)
            assert _route.tail_cut(blob) is None or isinstance(_route.tail_cut(blob), list)
    for _ in range(2000):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        _route.split_traces(blob, 2)
        _route.by_trace_id(blob, 9)
        _route.tail_cut(blob)
