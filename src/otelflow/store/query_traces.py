"""Trace search and trace-by-id.

Search runs in two steps so that its cost follows the page size rather than the store size: first
the newest trace IDs having a span that matches every filter (top-N by time), then a summary of just
those traces. The first step looks at the newest 1/256 of the range first and widens only when
that does not fill the page: rows arrive roughly in time order, so DuckDB's per-row-group min/max
lets it skip the rest of the table. Fetching traces by ID first reads where they lie in time from
the small trace_times table, so that only the row groups of that range are scanned.
"""

from __future__ import annotations

from otelflow.store.query_dependencies import PARENT_SLACK_NS
from otelflow.store.schema import trace_key
from otelflow.store.query import (LOG_SELECT, STATUS_CODES, attr_filter, kind_name, log_json, obj, rows,
                                  status_name, us)

# span and resource attributes are both searched: k8s.pod.name=... finds spans of that pod
_ATTR_COLUMNS = ("attributes", "resource")
_FIRST_WINDOW = 1 / 256  # share of the range searched first
_WIDEN = 4


def traces(cur, *, start_us: int, end_us: int, service: str | None = None, operation: str | None = None,
           min_duration_us: int | None = None, max_duration_us: int | None = None, status: str | None = None,
           attrs: list[tuple[str, str]] = (), limit: int = 20, parent_service: str | None = None) -> dict:
    where, params = [], []
    for sql, value in (("service = ?", service), ("name = ?", operation),
                       ("duration_ns >= ?", None if min_duration_us is None else min_duration_us * 1000),
                       ("duration_ns <= ?", None if max_duration_us is None else max_duration_us * 1000),
                       ("status_code = ?", None if status is None else STATUS_CODES[status])):
        if value is not None:
            where.append(f" AND {sql}")
            params.append(value)
    attr_sql, attr_params = attr_filter(attrs, _ATTR_COLUMNS)
    filters, params = "".join(where) + attr_sql, params + attr_params
    start_ns, end_ns = start_us * 1000, end_us * 1000
    if parent_service is not None:  # a service-map edge: spans called from another service's span
        filters += (" AND parent_span_id IN (SELECT span_id FROM spans WHERE start_ns BETWEEN ? AND ? AND service = ?)"
                    " AND service <> ?")
        params += [start_ns - PARENT_SLACK_NS, end_ns, parent_service, parent_service]
    width = max(1, int((end_ns - start_ns) * _FIRST_WINDOW))
    while True:
        lo = max(start_ns, end_ns - width)
        ids = [r[0] for r in cur.execute(f"""
            SELECT trace_id FROM spans WHERE start_ns BETWEEN ? AND ?{filters}
            GROUP BY trace_id ORDER BY min(start_ns) DESC LIMIT ?""", [lo, end_ns, *params, limit]).fetchall()]
        if lo == start_ns:
            return {"traces": [t for _, t in _summaries(cur, ids)]}
        if len(ids) == limit:
            # a trace that began before the window could outrank newer ones on its later spans: keep
            # the page only if it is filled by traces that began inside the window
            found = [t for start, t in _summaries(cur, ids) if start >= lo]
            if len(found) == limit:
                return {"traces": found}
        width *= _WIDEN


def _summaries(cur, ids: list[str]) -> list[tuple[int, dict]]:
    """(start in ns, summary) of each trace: root, start, duration, counts and services; newest first."""
    if not ids:
        return []
    found = rows(cur, """
        SELECT trace_id,
               coalesce(arg_min(service, start_ns) FILTER (WHERE parent_span_id = ''), arg_min(service, start_ns)) AS root_service,
               coalesce(arg_min(name, start_ns) FILTER (WHERE parent_span_id = ''), arg_min(name, start_ns)) AS root_name,
               min(start_ns) AS start, max(end_ns) AS stop, count(*) AS span_count,
               count(*) FILTER (WHERE status_code = 2) AS error_count,
               list(DISTINCT service ORDER BY service) AS services
        FROM spans WHERE start_ns BETWEEN ? AND ? AND trace_id IN (SELECT unnest(string_split(?, ',')))
        GROUP BY trace_id ORDER BY start DESC, trace_id""", [*time_range(cur, ids), ",".join(ids)])  # one string: binding a list costs ~0.1 ms an item
    return [
        (r["start"], {"trace_id": r["trace_id"], "root_service": r["root_service"], "root_name": r["root_name"],
         "start_us": us(r["start"]), "duration_us": us(max(r["stop"] - r["start"], 0)),
         "span_count": r["span_count"], "error_count": r["error_count"], "services": r["services"]})
        for r in found]


def _span_json(r: dict) -> dict:
    return {
        "trace_id": r["trace_id"], "span_id": r["span_id"], "parent_span_id": r["parent_span_id"],
        "trace_state": r["trace_state"], "service": r["service"], "name": r["name"], "kind": kind_name(r["kind"]),
        "start_us": us(r["start_ns"]), "end_us": us(r["end_ns"]), "duration_us": us(r["duration_ns"]),
        "status_code": status_name(r["status_code"]), "status_message": r["status_message"],
        "attributes": obj(r["attributes"]),
        "events": [{"time_us": us(e.get("time_ns")), "name": e.get("name", ""), "attributes": e.get("attributes", {})}
                   for e in obj(r["events"]) or []],
        "links": [{"trace_id": link.get("trace_id", ""), "span_id": link.get("span_id", ""),
                   "trace_state": link.get("trace_state", ""), "attributes": link.get("attributes", {})}
                  for link in obj(r["links"]) or []],
        "resource": obj(r["resource"]), "scope_name": r["scope_name"], "scope_version": r["scope_version"],
    }


_EVERYWHERE = (-(1 << 63), (1 << 63) - 1)


def time_range(cur, trace_ids: list[str]) -> tuple[int, int]:
    """(first, last) ns bounding every span start and log time of these traces, from trace_times;
    an empty range when none is stored, the whole time axis for an ID that is not hex (not indexed)."""
    keys = [trace_key(t) for t in trace_ids]
    if None in keys:
        return _EVERYWHERE
    if not keys:
        return 1, 0
    # the keys are inlined (they are ints): the index serves literals, not bound parameters
    row = cur.execute(f"""SELECT min(first_ns), max(last_ns) FROM trace_times
        WHERE trace_key IN ({",".join(str(k) for k in set(keys))})""").fetchone()
    return (row[0], row[1]) if row and row[0] is not None else (1, 0)


def trace(cur, *, trace_id: str) -> dict | None:
    """Every span and log of one trace, in time order; None when the store has neither."""
    lo, hi = time_range(cur, [trace_id])
    if lo > hi:
        return None
    spans = rows(cur, """
        SELECT trace_id, span_id, parent_span_id, trace_state, service, name, kind, start_ns, end_ns, duration_ns,
               status_code, status_message, attributes, events, links, resource, scope_name, scope_version
        FROM spans WHERE start_ns BETWEEN ? AND ? AND trace_id = ? ORDER BY start_ns, span_id""", [lo, hi, trace_id])
    logs = rows(cur, f"SELECT {LOG_SELECT} FROM logs WHERE time_ns BETWEEN ? AND ? AND trace_id = ? ORDER BY time_ns",
                [lo, hi, trace_id])
    if not spans and not logs:
        return None
    return {"trace_id": trace_id, "spans": [_span_json(r) for r in spans], "logs": [log_json(r) for r in logs]}
