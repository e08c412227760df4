"""How the kafka exporter cuts a batch into keyed records, with upstream's keys and partitioner.

- traces by ID / logs by trace ID: one request per trace ID (batchpersignal's split), key = the
  lower-hex trace ID; log records without a trace ID go together, unkeyed;
- metrics / logs by resource attributes: one request per resource, key = ``pdatautil.MapHash`` of
  the resource attributes (two xxhash64 sums of the canonical form, 16 raw bytes; all zeros for an
  empty map);
- partition = Sarama's hash partitioner over the key (upstream's default ``sarama_compat``)."""

from __future__ import annotations

from otelflow.pdata.maphash import map_hash

try:
    from otelflow.native import _route
except ImportError:  # no compiler at install time: the parsed cut below does the same
    _route = None

_ZERO_ID = bytes(16)


def sarama_partition(key: bytes, partitions: int) -> int:
    """FNV-1a 32-bit of the key read as int32; Go's truncated modulo, negated when negative."""
    h = 0x811C9DC5
    for b in key:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    signed = h - (1 << 32) if h & 0x80000000 else h
    return abs(signed) % partitions


def by_resource(request, field: str) -> list[tuple[bytes, object]]:
    """One request per resource entry, keyed by the MapHash of its attributes."""
    out = []
    for res in getattr(request, field):
        part = type(request)()
        getattr(part, field).append(res)
        out.append((map_hash(res.resource.attributes), part))
    return out


def by_trace_id(request, field: str, scope_field: str, leaf_field: str) -> list[tuple[bytes | None, object]]:
    """One request per (resource, scope, trace ID), as upstream's batchpersignal splits: a trace
    seen under two resources or scopes becomes two records with the same key. Keyed by lower hex."""
    out: list[tuple[bytes | None, object]] = []
    for res in getattr(request, field):
        for scope in getattr(res, scope_field):
            batches: dict[bytes, object] = {}
            for leaf in getattr(scope, leaf_field):
                tid = leaf.trace_id
                slot = batches.get(tid)
                if slot is None:
                    req = type(request)()
                    r = getattr(req, field).add()
                    r.resource.CopyFrom(res.resource)
                    r.schema_url = res.schema_url
                    slot = batches[tid] = getattr(r, scope_field).add()
                    slot.scope.CopyFrom(scope.scope)
                    slot.schema_url = scope.schema_url
                    out.append((tid.hex().encode() if tid and tid != _ZERO_ID else None, req))
                getattr(slot, leaf_field).append(leaf)
    return out


#: The field number of the trace ID in a Span and in a LogRecord.
SPAN_TRACE_ID, LOG_TRACE_ID = 1, 9


def encoded_by_trace_id(request, id_field: int, zero_key: bytes | None) -> list[tuple[bytes | None, bytes]] | None:
    """``by_trace_id`` on the encoded request in C (items copied as bytes, no message built per
    trace), as (key, encoded part); None when the native module is missing or does not understand
    the bytes, and the caller cuts the parsed message instead. ``zero_key`` keys the parts with an
    empty or all-zero trace ID."""
    if _route is None:
        return None
    parts = _route.by_trace_id(request.SerializeToString(), id_field)
    if parts is None:
        return None
    return [(tid.hex().encode() if tid and tid != _ZERO_ID else zero_key, body) for tid, body in parts]
