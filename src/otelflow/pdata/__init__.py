"""Helpers over the OTLP export-request protobufs that flow through the pipelines.

Every function here walks resources and scopes, not individual items, except where upstream's
decoder itself checks each item (ID lengths).
"""

from __future__ import annotations

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import (
    ExportProfilesServiceRequest,
    ExportProfilesServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

from otelflow.core.component import Signal

REQUEST_TYPES: dict[Signal, type[Message]] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
    Signal.PROFILES: ExportProfilesServiceRequest,
}
RESPONSE_TYPES: dict[Signal, type[Message]] = {
    Signal.TRACES: ExportTraceServiceResponse,
    Signal.METRICS: ExportMetricsServiceResponse,
    Signal.LOGS: ExportLogsServiceResponse,
    Signal.PROFILES: ExportProfilesServiceResponse,
}
SIGNAL_OF = {t: s for s, t in REQUEST_TYPES.items()}


def success_response(signal: Signal) -> Message:
    """The answer to an accepted export, as upstream encodes it (an empty partial_success present)."""
    response = RESPONSE_TYPES[signal]()
    response.partial_success.SetInParent()
    return response


def signal_of(data: Message) -> Signal:
    return SIGNAL_OF[type(data)]


def count_spans(req: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def count_log_records(req: ExportLogsServiceRequest) -> int:
    return sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)


# Walks the message, or serialises and counts natively when the traffic's shape makes that cheaper (pdata/counting.py).
from otelflow.pdata.counting import count_data_points  # noqa: E402


def count_profile_samples(req: ExportProfilesServiceRequest) -> int:
    """pprofile's SampleCount: the unit upstream counts profiles in (``*_profile_samples``)."""
    return sum(len(p.samples) for rp in req.resource_profiles for sp in rp.scope_profiles for p in sp.profiles)


COUNTERS = {Signal.TRACES: count_spans, Signal.METRICS: count_data_points, Signal.LOGS: count_log_records,
            Signal.PROFILES: count_profile_samples}


def count_items(data: Message) -> int:
    """Spans, metric data points or log records: the unit upstream counts in."""
    return COUNTERS[signal_of(data)](data)


class InvalidIDError(ValueError):
    pass


def _bad(value: bytes, size: int) -> bool:
    n = len(value)
    return n != size and n != 0


try:
    from otelflow.native import _wire
except ImportError:  # the extension is optional: the pure-Python check below gives the same answer
    _wire = None

_WIRE_ROOT = {Signal.TRACES: 0, Signal.LOGS: 5, Signal.METRICS: 9} if _wire is None else {
    Signal.TRACES: _wire.TRACES, Signal.LOGS: _wire.LOGS, Signal.METRICS: _wire.METRICS}


def check_ids_encoded(signal: Signal, body: bytes, message: Message) -> None:
    """``check_ids`` for a request that arrived as protobuf bytes: walks the bytes natively when it can."""
    if _wire is not None and signal in _WIRE_ROOT:
        rc = _wire.check_ids(_WIRE_ROOT[signal], body)
        if rc == 0:
            return
        if rc == 1:
            raise InvalidIDError("invalid length for ID")
    check_ids(message)


def check_ids(data: Message) -> None:
    """Reject trace/span IDs of a length other than 16/8 bytes (or empty), as upstream's decoder does."""
    signal = signal_of(data)
    if signal is Signal.PROFILES:
        check_profile_ids(data)
    elif signal is Signal.TRACES:
        for rs in data.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    if _bad(span.trace_id, 16) or _bad(span.span_id, 8) or _bad(span.parent_span_id, 8):
                        raise InvalidIDError("invalid length for ID")
                    for link in span.links:
                        if _bad(link.trace_id, 16) or _bad(link.span_id, 8):
                            raise InvalidIDError("invalid length for ID")
    elif signal is Signal.LOGS:
        for rl in data.resource_logs:
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    if _bad(rec.trace_id, 16) or _bad(rec.span_id, 8):
                        raise InvalidIDError("invalid length for ID")
    else:
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is None or kind == "summary":
                        continue
                    for point in getattr(metric, kind).data_points:
                        for ex in point.exemplars:
                            if _bad(ex.trace_id, 16) or _bad(ex.span_id, 8):
                                raise InvalidIDError("invalid length for ID")


def check_profile_ids(data: ExportProfilesServiceRequest) -> None:
    """The IDs pprofile's decoder checks: each profile's ID (16 bytes) and the dictionary's links
    (16/8), with pdata's error texts. Profiles and links only, never samples."""
    for link in data.dictionary.link_table:
        if _bad(link.trace_id, 16):
            raise InvalidIDError("unmarshal: invalid TraceID length")
        if _bad(link.span_id, 8):
            raise InvalidIDError("unmarshal: invalid SpanID length")
    for rp in data.resource_profiles:
        for sp in rp.scope_profiles:
            for profile in sp.profiles:
                if _bad(profile.profile_id, 16):
                    raise InvalidIDError("unmarshal: invalid ProfileID length")


def remove_if(field, drop) -> None:
    """pdata's RemoveIf on a repeated field: ``drop`` sees every element in order, then the chosen
    ones go and the rest keep their order."""
    doomed = [i for i, item in enumerate(field) if drop(item)]
    if len(doomed) == len(field):
        del field[:]
        return
    for i in reversed(doomed):
        del field[i]
