"""Import OTLP files into the store and export traces and logs from it as OTLP/JSON.

An import is read and validated whole before any row is queued: every request of the file is
parsed, then all rows go into the store's pending group at once and are committed in one
transaction, so a malformed file (refused with its line or record number) stores nothing. Accepted:
OTLP/JSON lines as the ``file`` exporter writes them (one request per line, traces, metrics and
logs mixed), one OTLP/JSON request over several lines, the file exporter's length-prefixed form
(protobuf or JSON, each record optionally zstd-compressed), and one OTLP/protobuf request. Protobuf
does not say which signal it holds: ``?signal=`` (traces by default) does.

Exports are OTLP/JSON lines as the ``file`` exporter writes them, which upstream's
``otlpjsonfile`` receiver reads back: one ExportTraceServiceRequest line, then one
ExportLogsServiceRequest line for the logs of the same traces when there are any. The store keeps
less than OTLP carries, so an export loses: dropped-attribute counts, span flags, scope attributes,
schema URLs, resource and scope of a log grouped by their text; bytes attributes come back as their
base64 text and non-string log bodies as their JSON text.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Iterator

import zstandard
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otelflow.pdata import otlpjson
from otelflow.store import ingest
from otelflow.store.query import LOG_SELECT, rows
from otelflow.store.query_traces import time_range

MAX_IMPORT_BYTES = 32 << 20  # the body is parsed whole in memory
SIGNALS = {"traces": ExportTraceServiceRequest, "metrics": ExportMetricsServiceRequest, "logs": ExportLogsServiceRequest}
_TOP_KEYS = {"resourceSpans": "traces", "resource_spans": "traces", "resourceMetrics": "metrics",
             "resource_metrics": "metrics", "resourceLogs": "logs", "resource_logs": "logs"}
_LENGTH = struct.Struct(">I")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_TABLES = {"traces": "spans", "metrics": "metric_points", "logs": "logs"}
_CONVERT = {"traces": ingest.spans, "metrics": ingest.metrics, "logs": ingest.logs}


class ImportRefused(ValueError):
    """The file cannot be imported; ``status`` is the HTTP answer (400 malformed, 413 too big)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# -- import ------------------------------------------------------------------------------------------


def _json_request(text: bytes, where: str) -> tuple[str, Message]:
    try:  # invalid UTF-8 is replaced, as upstream's pdata reader takes it
        tree = json.loads(text.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:
        raise ImportRefused(f"{where}: not JSON: {exc}") from None
    if not isinstance(tree, dict):
        raise ImportRefused(f"{where}: an OTLP/JSON request is an object, got {type(tree).__name__}")
    signals = {_TOP_KEYS[k] for k in tree if k in _TOP_KEYS}
    if len(signals) != 1:
        raise ImportRefused(f"{where}: not an OTLP traces, metrics or logs request "
                            "(expected one of resourceSpans, resourceMetrics, resourceLogs)")
    signal = signals.pop()
    try:
        return signal, otlpjson.decode(text, SIGNALS[signal])
    except otlpjson.OTLPJSONError as exc:
        raise ImportRefused(f"{where}: {exc}") from None


def _frames(body: bytes) -> list[bytes] | None:
    """The records of a length-prefixed file, or None when the lengths do not tile the body exactly."""
    out, pos = [], 0
    while pos < len(body):
        if pos + 4 > len(body):
            return None
        (size,) = _LENGTH.unpack_from(body, pos)
        pos += 4
        if pos + size > len(body):
            return None
        out.append(body[pos:pos + size])
        pos += size
    return out


def _record(data: bytes, where: str, signal: str) -> tuple[str, Message]:
    if data.startswith(_ZSTD_MAGIC):
        try:
            data = zstandard.ZstdDecompressor().decompress(data, max_output_size=MAX_IMPORT_BYTES * 4)
        except zstandard.ZstdError as exc:
            raise ImportRefused(f"{where}: bad zstd data: {exc}") from None
    if data.lstrip()[:1] == b"{":
        return _json_request(data, where)
    message = SIGNALS[signal]()
    try:
        message.ParseFromString(data)
    except (DecodeError, RecursionError) as exc:
        raise ImportRefused(f"{where}: not an OTLP/protobuf {signal} request: {exc}") from None
    return signal, message


def parse(body: bytes, signal: str = "traces") -> list[tuple[str, Message]]:
    """Every request of an import body as (signal, request); ImportRefused names the first bad line."""
    if signal not in SIGNALS:
        raise ImportRefused(f"signal must be one of {', '.join(SIGNALS)}, got {signal!r}")
    if not body.strip():
        raise ImportRefused("the file is empty")
    start = body.lstrip()[:1]
    if start in (b"{", b"["):
        try:  # one request, perhaps pretty-printed over many lines
            json.loads(body)
        except (ValueError, RecursionError):
            pass
        else:
            return [_json_request(body, "the request")]
        out = []
        for number, line in enumerate(body.split(b"\n"), 1):
            if line.strip():
                out.append(_json_request(line, f"line {number}"))
        return out
    frames = _frames(body)
    if frames is not None and frames:
        return [_record(frame, f"record {i} (byte {_offset(frames, i)})", signal) for i, frame in enumerate(frames, 1)]
    return [_record(body, "the request", signal)]


def _offset(frames: list[bytes], number: int) -> int:
    return sum(4 + len(f) for f in frames[:number - 1])


def batches(requests: list[tuple[str, Message]]) -> list[ingest.Batch]:
    """The store rows of the requests: one batch per table, the requests of a signal merged first."""
    merged: dict[str, Message] = {}
    for signal, request in requests:
        into = merged.setdefault(signal, SIGNALS[signal]())
        into.MergeFrom(request)
    return [b for b in (_CONVERT[s](r) for s, r in merged.items()) if b.rows]


def check_limits(found: list[ingest.Batch], max_rows: int, waiting_rows: int) -> None:
    """413 when the import alone exceeds what the store queues at once; 503 when it would fit later."""
    total = sum(b.rows for b in found)
    if total > max_rows:
        raise ImportRefused(f"the file has {total} rows (spans, log records and metric points); the store takes at most "
                            f"{max_rows} at once (embedded_store max_pending_rows): split the file", 413)
    if total + waiting_rows > max_rows:
        raise ImportRefused(f"the store has {waiting_rows} rows waiting for a commit; try again in a few seconds", 503)


def imported_trace_ids(requests: list[tuple[str, Message]], limit: int = 100) -> list[str]:
    seen: dict[str, None] = {}
    for signal, request in requests:
        if signal != "traces":
            continue
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    seen.setdefault(span.trace_id.hex())
                    if len(seen) >= limit:
                        return list(seen)
    return list(seen)


# -- export ------------------------------------------------------------------------------------------


def _any(value: Any, out: AnyValue) -> None:
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, list):
        arr = out.array_value
        arr.SetInParent()
        for item in value:
            _any(item, arr.values.add())
    elif isinstance(value, dict):
        kv = out.kvlist_value
        kv.SetInParent()
        _attributes(value, kv.values)
    # None: an empty AnyValue, as stored


def _attributes(attrs: dict, out: Any) -> None:
    for key, value in attrs.items():
        kv: KeyValue = out.add()
        kv.key = key
        _any(value, kv.value)


def _groups(found: list[dict]) -> Iterator[tuple[tuple, list[dict]]]:
    """Rows grouped by (resource JSON, scope name[, version]) in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for r in found:
        groups.setdefault((r["resource"], r["scope_name"], r.get("scope_version", "")), []).append(r)
    return iter(groups.items())


def traces_request(cur, trace_ids: list[str]) -> ExportTraceServiceRequest:
    """The spans of the traces as one request (empty when none is stored). Only the row groups of the
    traces' time range (from the trace_times lookup, as trace-by-id reads it) are scanned, not the whole
    trace_id column."""
    request = ExportTraceServiceRequest()
    lo, hi = time_range(cur, trace_ids)
    if lo > hi:
        return request
    found = rows(cur, """
        SELECT trace_id, span_id, parent_span_id, trace_state, name, kind, start_ns, end_ns, status_code,
               status_message, attributes, events, links, resource, scope_name, scope_version
        FROM spans WHERE start_ns BETWEEN ? AND ? AND trace_id IN (SELECT unnest(string_split(?, ',')))
        ORDER BY resource, scope_name, scope_version, trace_id, start_ns, span_id""", [lo, hi, ",".join(trace_ids)])
    rs_by_resource: dict[str, Any] = {}
    for (resource, scope_name, scope_version), spans in _groups(found):
        rs = rs_by_resource.get(resource)
        if rs is None:
            rs = rs_by_resource[resource] = request.resource_spans.add()
            _attributes(json.loads(resource), rs.resource.attributes)
        ss = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = scope_name, scope_version
        for r in spans:
            span = ss.spans.add()
            span.trace_id, span.span_id = bytes.fromhex(r["trace_id"]), bytes.fromhex(r["span_id"])
            span.parent_span_id = bytes.fromhex(r["parent_span_id"])
            span.trace_state, span.name, span.kind = r["trace_state"], r["name"], r["kind"]
            span.start_time_unix_nano, span.end_time_unix_nano = r["start_ns"], r["end_ns"]
            span.status.code, span.status.message = r["status_code"], r["status_message"]
            _attributes(json.loads(r["attributes"]), span.attributes)
            for e in json.loads(r["events"]):
                event = span.events.add()
                event.time_unix_nano, event.name = e.get("time_ns") or 0, e.get("name", "")
                _attributes(e.get("attributes") or {}, event.attributes)
            for link_row in json.loads(r["links"]):
                link = span.links.add()
                link.trace_id = bytes.fromhex(link_row.get("trace_id", ""))
                link.span_id = bytes.fromhex(link_row.get("span_id", ""))
                link.trace_state = link_row.get("trace_state", "")
                _attributes(link_row.get("attributes") or {}, link.attributes)
    return request


def logs_request(found: list[dict]) -> ExportLogsServiceRequest:
    """Log rows (LOG_SELECT columns, raw from the store) as one request."""
    request = ExportLogsServiceRequest()
    rl_by_resource: dict[str, Any] = {}
    for (resource, scope_name, _), records in _groups(found):
        rl = rl_by_resource.get(resource)
        if rl is None:
            rl = rl_by_resource[resource] = request.resource_logs.add()
            _attributes(json.loads(resource), rl.resource.attributes)
        sl = rl.scope_logs.add()
        sl.scope.name = scope_name
        for r in records:
            record = sl.log_records.add()
            record.time_unix_nano, record.observed_time_unix_nano = r["time_ns"], r["observed_ns"]
            record.severity_number, record.severity_text = r["severity_number"], r["severity_text"]
            if r["body"]:
                record.body.string_value = r["body"]
            _attributes(json.loads(r["attributes"]), record.attributes)
            record.trace_id, record.span_id = bytes.fromhex(r["trace_id"]), bytes.fromhex(r["span_id"])
            record.flags, record.event_name = r["flags"] or 0, r["event_name"]
    return request


def trace_logs(cur, trace_ids: list[str]) -> list[dict]:
    """The log rows of the traces, raw for export; like the spans, read only in their time range."""
    lo, hi = time_range(cur, trace_ids)
    if lo > hi:
        return []
    return rows(cur, f"""SELECT {LOG_SELECT}, flags FROM logs
                         WHERE time_ns BETWEEN ? AND ? AND trace_id IN (SELECT unnest(string_split(?, ',')))
                         ORDER BY resource, scope_name, time_ns""", [lo, hi, ",".join(trace_ids)])


def search_logs(cur, *, start_us: int, end_us: int, service: str | None = None, severity: int | None = None,
                q: str | None = None, trace_id: str | None = None, limit: int = 100) -> list[dict]:
    """The log search's rows (same filters and order as query.logs), raw for export."""
    where, params = ["time_ns BETWEEN ? AND ?"], [start_us * 1000, end_us * 1000]
    for sql, value in (("service = ?", service), ("severity_number >= ?", severity),
                       ("contains(lower(body), ?)", q.lower() if q else None), ("trace_id = ?", trace_id)):
        if value is not None:
            where.append(sql)
            params.append(value)
    return rows(cur, f"""SELECT {LOG_SELECT}, flags FROM logs WHERE {' AND '.join(where)}
                         ORDER BY time_ns DESC LIMIT ?""", [*params, limit])


def json_lines(*requests: Message) -> bytes:
    """OTLP/JSON lines of the non-empty requests, as the file exporter writes them."""
    out = []
    for request in requests:
        if request.ByteSize():
            out.append(otlpjson.encode(request) + b"\n")
    return b"".join(out)
