"""Cut one OTLP request into per-destination requests by routing key, staying in protobuf messages (the loadbalancing exporter's backends, the workers' owners).

Keys are those upstream hashes, so otelflow and otelcol-ref agree on the backend for: trace IDs of
spans (the 16 raw bytes), ``service`` and ``attributes`` keys of traces (``name=value|`` ...),
``service`` of metrics and logs (the bare service name), metric names, log trace IDs (lower hex), and
``attributes`` of logs and metrics (resource, then scope, then record or data-point attributes),
and the ``resource`` and ``streamID`` identities (``resource/<hex>``, ``stream/<hex>``: FNV-1a 64 over
pdatautil's MapHash of each attribute map and the scope and metric fields, as contrib's
internal/exp/metrics/identity writes them). Attribute values are written as pcommon's AsString."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otelflow.pdata.maphash import map_hash
from otelflow.pdata.govalue import value_as_string

Pick = Callable[[bytes], str]  # routing key -> backend endpoint
_SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")


def as_string(value: AnyValue) -> str:
    """pcommon.Value.AsString (pdata v1.67: NaN and infinities as "NaN", "Infinity")."""
    return value_as_string(value, js_nonfinite=True)


def _get(attrs: Iterable[KeyValue], key: str) -> AnyValue | None:
    for kv in attrs:
        if kv.key == key:
            return kv.value
    return None


_FNV64_OFFSET, _FNV64_PRIME, _U64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1
# pmetric.MetricType of each data oneof
_METRIC_TYPE = {"gauge": 1, "sum": 2, "histogram": 3, "exponential_histogram": 4, "summary": 5}


def _fnv(data: bytes, state: int = _FNV64_OFFSET) -> int:
    for b in data:
        state = ((state ^ b) * _FNV64_PRIME) & _U64
    return state


def _resource_key(resource) -> bytes:
    """identity.OfResource(r).String(): FNV-1a 64 of the MapHash of the resource attributes."""
    return b"resource/%x" % _fnv(map_hash(resource.attributes))


def _metric_state(resource, scope, metric) -> int:
    """The FNV state of identity.OfResourceMetric: resource, scope (name, version, attributes),
    then metric name, unit, type, monotonicity and temporality."""
    data = metric.WhichOneof("data") or ""
    body = getattr(metric, data) if data else None
    mono = 1 if data in ("histogram", "exponential_histogram") or (data == "sum" and body.is_monotonic) else 0
    temporality = body.aggregation_temporality if data in ("sum", "histogram", "exponential_histogram") else 0
    return _fnv(b"".join((map_hash(resource.attributes), scope.name.encode(), scope.version.encode(),
                          map_hash(scope.attributes), metric.name.encode(), metric.unit.encode(),
                          bytes((_METRIC_TYPE.get(data, 0), mono, temporality)))))


class _Builder:
    """Per-backend requests holding copies of the source's resource and scope envelopes."""

    def __init__(self, request_type, resources_field: str, scopes_field: str):
        self.request_type = request_type
        self.rf, self.sf = resources_field, scopes_field
        self.out: dict[str, object] = {}
        self._slots: dict[tuple, object] = {}

    def scope(self, endpoint: str, src_r, ri: int, src_s, si: int):
        slot = self._slots.get((endpoint, ri, si))
        if slot is None:
            req = self.out.get(endpoint)
            if req is None:
                req = self.out[endpoint] = self.request_type()
            res = self._slots.get((endpoint, ri))
            if res is None:
                res = self._slots[(endpoint, ri)] = getattr(req, self.rf).add()
                res.resource.CopyFrom(src_r.resource)
                res.schema_url = src_r.schema_url
            slot = self._slots[(endpoint, ri, si)] = getattr(res, self.sf).add()
            slot.scope.CopyFrom(src_s.scope)
            slot.schema_url = src_s.schema_url
        return slot


def _single(endpoints: set[str], request) -> dict[str, object] | None:
    return {next(iter(endpoints)): request} if len(endpoints) == 1 else None


def split_traces(req: ExportTraceServiceRequest, key: str, attrs: list[str], pick: Pick) -> dict[str, object]:
    # the key of each (resource, scope, trace) batch, as upstream's SplitTraces + routing identifiers
    if key == "service":
        attrs = ["service.name"]
    owner: dict[tuple, str] = {}
    for ri, rs in enumerate(req.resource_spans):
        for si, ss in enumerate(rs.scope_spans):
            for span in ss.spans:
                batch = (ri, si, span.trace_id) if key != "traceID" else span.trace_id
                if batch not in owner:
                    owner[batch] = pick(span.trace_id if key == "traceID" else _attr_key(attrs, rs, ss, span))
    whole = _single(set(owner.values()), req)
    if whole is not None:
        return whole
    b = _Builder(ExportTraceServiceRequest, "resource_spans", "scope_spans")
    for ri, rs in enumerate(req.resource_spans):
        for si, ss in enumerate(rs.scope_spans):
            for span in ss.spans:
                endpoint = owner[(ri, si, span.trace_id) if key != "traceID" else span.trace_id]
                b.scope(endpoint, rs, ri, ss, si).spans.append(span)
    return b.out


def _attr_key(attrs: list[str], rs, ss, span) -> bytes:
    """Upstream's composite key: resource, then scope, then span attributes (and span.kind/name)."""
    parts = []
    for a in attrs:
        v = _get(rs.resource.attributes, a)
        if v is None:
            v = _get(ss.scope.attributes, a)
        if v is not None:
            parts.append(f"{a}={as_string(v)}|")
        elif a == "span.kind":
            kind = _SPAN_KINDS[span.kind] if 0 <= span.kind < len(_SPAN_KINDS) else ""
            parts.append(f"{a}={kind}|")
        elif a == "span.name":
            parts.append(f"{a}={span.name}|")
        elif (v := _get(span.attributes, a)) is not None:
            parts.append(f"{a}={as_string(v)}|")
        else:
            parts.append(f"{a}=|")
    return "".join(parts).encode()


def _found(attrs: list[str], source) -> tuple[str, list[str]]:
    """Upstream's layered attribute key: the attributes ``source`` has (in order) and those left."""
    parts, pending = [], []
    for a in attrs:
        v = _get(source, a)
        if v is None:
            pending.append(a)
        else:
            parts.append(f"{a}={as_string(v)}|")
    return "".join(parts), pending


def _log_attr(a: str, record) -> str:
    if a == "log.severity":
        return f"{a}={record.severity_text}|"
    if a == "log.body":
        return f"{a}={as_string(record.body)}|"
    v = _get(record.attributes, a)
    return f"{a}=|" if v is None else f"{a}={as_string(v)}|"


def split_logs(req: ExportLogsServiceRequest, key: str, pick: Pick, attrs: list[str] = ()) -> dict[str, object]:
    if key == "attributes":
        # resource attributes first, then the scope's, then each record's (log.severity, log.body)
        b = _Builder(ExportLogsServiceRequest, "resource_logs", "scope_logs")
        for ri, rl in enumerate(req.resource_logs):
            rkey, rpending = _found(list(attrs), rl.resource.attributes)
            for si, sl in enumerate(rl.scope_logs):
                skey, pending = _found(rpending, sl.scope.attributes)
                base = rkey + skey
                for record in sl.log_records:
                    k = base + "".join(_log_attr(a, record) for a in pending)
                    b.scope(pick(k.encode()), rl, ri, sl, si).log_records.append(record)
        return b.out
    if key == "traceID":
        b = _Builder(ExportLogsServiceRequest, "resource_logs", "scope_logs")
        for ri, rl in enumerate(req.resource_logs):
            for si, sl in enumerate(rl.scope_logs):
                for record in sl.log_records:
                    tid = record.trace_id if any(record.trace_id) else os.urandom(4) + bytes(12)
                    b.scope(pick(tid.hex().encode()), rl, ri, sl, si).log_records.append(record)
        return b.out
    out: dict[str, object] = {}
    for rl in req.resource_logs:
        if key == "service":
            v = _get(rl.resource.attributes, "service.name")
            k = (v.string_value if v is not None else "").encode()
        else:
            k = _resource_key(rl.resource)
        out.setdefault(pick(k), ExportLogsServiceRequest()).resource_logs.append(rl)
    return _single(set(out), req) or out


_POINT_FIELDS = {"gauge": "data_points", "sum": "data_points", "histogram": "data_points",
                 "exponential_histogram": "data_points", "summary": "data_points"}


def split_metrics(req: ExportMetricsServiceRequest, key: str, pick: Pick,
                  attrs: list[str] = ()) -> tuple[dict[str, object], list[str]]:
    """Per-backend requests and the errors of resources that could not be routed (no service.name)."""
    errors: list[str] = []
    if key in ("service", "resource"):
        out: dict[str, object] = {}
        for rm in req.resource_metrics:
            if key == "service":
                v = _get(rm.resource.attributes, "service.name")
                if v is None:
                    attrs = {kv.key: as_string(kv.value) for kv in rm.resource.attributes}
                    errors.append(f"unable to get service name from resource metric with attributes: {attrs}")
                    continue
                k = v.string_value.encode()
            else:
                k = _resource_key(rm.resource)
            out.setdefault(pick(k), ExportMetricsServiceRequest()).resource_metrics.append(rm)
        return (out if errors else _single(set(out), req) or out), errors
    b = _Builder(ExportMetricsServiceRequest, "resource_metrics", "scope_metrics")
    for ri, rm in enumerate(req.resource_metrics):
        rattr, rpending = _found(list(attrs), rm.resource.attributes) if key == "attributes" else ("", [])
        for si, sm in enumerate(rm.scope_metrics):
            if key == "attributes":
                sattr, pending = _found(rpending, sm.scope.attributes)
                point_key = functools.partial(_attr_point_key, rattr + sattr, pending)
            for metric in sm.metrics:
                if key == "metric":
                    b.scope(pick(metric.name.encode()), rm, ri, sm, si).metrics.append(metric)
                    continue
                if key == "streamID":
                    point_key = functools.partial(_stream_point_key, _metric_state(rm.resource, sm.scope, metric))
                _split_points(b, rm, ri, sm, si, metric, point_key, pick)
    return b.out, errors


def _attr_point_key(base: str, pending: list[str], point) -> bytes:
    return (base + "".join(f"{a}={'' if (v := _get(point.attributes, a)) is None else as_string(v)}|"
                           for a in pending)).encode()


def _stream_point_key(state: int, point) -> bytes:
    return b"stream/%x" % _fnv(map_hash(point.attributes), state)


def _split_points(b: _Builder, rm, ri: int, sm, si: int, metric, point_key: Callable[[object], bytes], pick: Pick) -> None:
    """One metric's data points grouped by the backend of each point's key."""
    data = metric.WhichOneof("data")
    if data is None:
        b.scope(pick(metric.name.encode()), rm, ri, sm, si).metrics.append(metric)
        return
    groups: dict[str, list] = {}
    for point in getattr(metric, data).data_points:
        groups.setdefault(pick(point_key(point)), []).append(point)
    if len(groups) == 1:
        b.scope(next(iter(groups)), rm, ri, sm, si).metrics.append(metric)
        return
    template = type(metric)()
    template.CopyFrom(metric)
    del getattr(template, data).data_points[:]
    for endpoint, points in groups.items():
        m = b.scope(endpoint, rm, ri, sm, si).metrics.add()
        m.CopyFrom(template)
        getattr(m, data).data_points.extend(points)
