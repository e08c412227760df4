"""Entries -> ExportLogsServiceRequest, as upstream's adapter.ConvertEntries builds plog.Logs.

Resources are grouped by content (same attributes = same ResourceLogs, in first-seen order), scopes
by scope_name within a resource; an empty scope name takes the receiver's default scope name and
version (upstream's pkg.stanza.addDefaultScopeName gate, beta, on).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ScopeLogs

from otelflow.ottl.funcs.gotime import format_time
from otelflow.ottl.values import GoTime
from otelflow.stanza.entry import SEVERITY_NAMES, Entry

_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def to_logs_request(
    entries: Iterable[Entry], default_scope_name: str = "", default_scope_version: str = ""
) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resources: dict[Any, tuple[Any, dict[str, ScopeLogs]]] = {}
    for entry in entries:
        key = _resource_key(entry.resource)
        slot = resources.get(key)
        if slot is None:
            rl = request.resource_logs.add()
            if entry.resource:
                put_map(entry.resource, rl.resource.attributes)
            slot = resources[key] = (rl, {})
        rl, scopes = slot
        sl = scopes.get(entry.scope_name)
        if sl is None:
            sl = scopes[entry.scope_name] = rl.scope_logs.add()
            if entry.scope_name:
                sl.scope.name = entry.scope_name
            else:
                sl.scope.name = default_scope_name
                sl.scope.version = default_scope_version
        fill_record(entry, sl.log_records.add())
    return request


def fill_record(entry: Entry, record: LogRecord) -> None:
    if entry.timestamp:
        record.time_unix_nano = entry.timestamp
    record.observed_time_unix_nano = entry.observed_timestamp
    record.severity_number = entry.severity if 0 <= entry.severity < len(SEVERITY_NAMES) else 0
    if entry.severity_text:
        record.severity_text = entry.severity_text
    elif 0 < entry.severity < len(SEVERITY_NAMES):
        record.severity_text = SEVERITY_NAMES[entry.severity]
    if entry.attributes:
        put_map(entry.attributes, record.attributes)
    if entry.body is not None:
        put_value(entry.body, record.body)
    if entry.trace_id:
        record.trace_id = entry.trace_id[:16].ljust(16, b"\0")
    if entry.span_id:
        record.span_id = entry.span_id[:8].ljust(8, b"\0")
    if entry.trace_flags:
        record.flags = entry.trace_flags[0]


def put_map(values: dict[str, Any], dest: Any) -> None:
    """Append a Python map to a repeated KeyValue field."""
    for key, value in values.items():
        kv = dest.add()
        kv.key = key
        put_value(value, kv.value)


def put_value(value: Any, dest: AnyValue) -> None:
    """upstream's upsertToAttributeVal: Python types onto AnyValue; None leaves it empty."""
    if value is None:
        return
    if isinstance(value, bool):
        dest.bool_value = value
    elif isinstance(value, str):
        dest.string_value = value
    elif isinstance(value, (bytes, bytearray)):
        dest.bytes_value = bytes(value)
    elif isinstance(value, int):
        # Go converts uint64 to int64 by wrapping; Python ints beyond either range become text.
        if value > _UINT64_MAX or value < _INT64_MIN:
            dest.string_value = str(value)
        else:
            dest.int_value = value - 2**64 if value >= 2**63 else value
    elif isinstance(value, float):
        dest.double_value = value
    elif isinstance(value, dict):
        dest.kvlist_value.SetInParent()
        put_map(value, dest.kvlist_value.values)
    elif isinstance(value, (list, tuple)):
        dest.array_value.SetInParent()
        for item in value:
            put_value(item, dest.array_value.values.add())
    elif isinstance(value, GoTime):  # a syslog timestamp left in place: fmt's %v of a time.Time
        dest.string_value = format_time(value, "2006-01-02 15:04:05.999999999 -0700 MST")
    else:
        dest.string_value = str(value)


def _resource_key(resource: dict[str, Any] | None) -> Any:
    """A hashable identity for a resource map's content (upstream hashes sorted key/values)."""
    if not resource:
        return ()
    return tuple(sorted((k, _freeze(v)) for k, v in resource.items()))


def _freeze(value: Any) -> Any:
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return (type(value).__name__, value)
    try:
        return ("json", json.dumps(value, sort_keys=True, default=str))
    except (TypeError, ValueError):
        return ("repr", repr(value))
