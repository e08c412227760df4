"""The store queries behind the Jaeger query API, with the matching rules of Jaeger v2's memory
storage (the reference the differential test compares with).

A trace matches a search when one of its spans passes every filter at once: service, operation,
start time, duration and each tag, where a tag matches the span's attributes, its resource's or
one of its events' (compared as text, as pcommon's AsString would write the value). Whole traces
are returned, newest first.
"""

from __future__ import annotations

from otelflow.store.query import pointer, rows
from otelflow.store.query_traces import time_range
from otelflow.store.rollups import MINUTE_NS, SERVICE
from otelflow.translators.jaeger import ui_model

_SANITIZED = frozenset(("missing-service-name", "service-name-wrong-type", "empty-service-name", "unknown_service"))
_SPAN_KINDS = {"": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_KIND_NAMES = {v: k for k, v in _SPAN_KINDS.items()}
_TOP_SPANS_MAX = 1 << 20
_DEPENDENCY_SLACK_NS = 3600 * 10**9  # how far before the window a trace's other spans are looked for
_SPAN_SELECT = """trace_id, span_id, parent_span_id, trace_state, name, kind, start_ns, end_ns, status_code,
    status_message, attributes, events, links, resource, scope_name, scope_version"""


def _service_filter(service: str) -> tuple[str, list]:
    if service in _SANITIZED:
        return f" AND service = 'unknown_service' AND ({SERVICE}) = ?", [service]
    return " AND service = ?", [service]


def services(cur) -> list[str]:
    return sorted(r[0] for r in cur.execute(f"SELECT DISTINCT {SERVICE} FROM spans").fetchall())


def operations(cur, service: str, span_kind: str = "") -> list[tuple[str, str]]:
    """(name, span kind) pairs of a service; ``span_kind`` '' means every kind."""
    where, params = _service_filter(service)
    if span_kind:
        if span_kind not in _SPAN_KINDS:
            return []
        where += " AND kind = ?"
        params.append(_SPAN_KINDS[span_kind])
    found = cur.execute(f"SELECT DISTINCT name, kind FROM spans WHERE true{where} ORDER BY name, kind", params).fetchall()
    return [(name, _KIND_NAMES.get(kind, "")) for name, kind in found]


def _tag_filter(key: str, value: str) -> tuple[str, list]:
    if key == "error":  # Jaeger's memory store reads the error tag as the span status
        return " AND status_code = ?", [2 if value == "true" else 1]
    ptr = pointer(key)
    sql = "json_extract_string(attributes, ?) = ? OR json_extract_string(resource, ?) = ?"
    params: list = [ptr, value, ptr, value]
    if '"' not in key and "\\" not in key:
        sql += " OR (events <> '[]' AND list_contains(json_extract_string(events, ?), ?))"
        params += ['$[*].attributes."' + key + '"', value]
    return f" AND ({sql})", params


def find_trace_ids(cur, *, service: str, operation: str = "", tags: dict[str, str] | None = None,
                   start_ns: int, end_ns: int, min_duration_ns: int = 0, max_duration_ns: int = 0,
                   limit: int = 100) -> list[str]:
    """IDs of the newest traces with a span passing every filter, newest first."""
    where, params = _service_filter(service)
    if operation:
        where += " AND name = ?"
        params.append(operation)
    # an end not after the start is stored by Jaeger as a 1 ns span
    if min_duration_ns:
        where += " AND greatest(duration_ns, 1) >= ?"
        params.append(min_duration_ns)
    if max_duration_ns:
        where += " AND greatest(duration_ns, 1) <= ?"
        params.append(max_duration_ns)
    for key, value in (tags or {}).items():
        sql, extra = _tag_filter(key, value)
        where += sql
        params += extra
    # The newest matching spans, as a top-N (a heap over the scan, no grouping of the whole range),
    # until they name ``limit`` traces; a trace ranks by its newest matching span. The newest part of
    # the range is searched first (row-group min/max skip the rest) and widened while it holds fewer
    # than the spans asked for: a full page from the part is the page of the whole range.
    fetch = limit * 4
    width = max(1, (end_ns - start_ns) >> 8)
    while True:
        lo = max(start_ns, end_ns - width)
        found = cur.execute(f"""
            SELECT trace_id FROM spans WHERE start_ns BETWEEN ? AND ?{where}
            ORDER BY start_ns DESC, trace_id LIMIT ?""", [lo, end_ns, *params, fetch]).fetchall()
        if len(found) < fetch and lo > start_ns:
            width *= 4
            continue
        ids = list(dict.fromkeys(r[0] for r in found))
        if len(ids) >= limit or len(found) < fetch:
            return ids[:limit]
        if fetch >= _TOP_SPANS_MAX:  # traces with very many matching spans: group instead
            return [r[0] for r in cur.execute(f"""
                SELECT trace_id FROM spans WHERE start_ns BETWEEN ? AND ?{where}
                GROUP BY trace_id ORDER BY max(start_ns) DESC, trace_id LIMIT ?""",
                                              [start_ns, end_ns, *params, limit]).fetchall()]
        fetch *= 8


def traces(cur, trace_ids: list[str]) -> list[dict]:
    """Jaeger UI traces for the given IDs, in that order; IDs the store does not have are skipped."""
    if not trace_ids:
        return []
    # list_contains filters while scanning (a few times quicker here than IN, which joins), only the
    # row groups of the traces' time range
    found = rows(cur, f"""SELECT {_SPAN_SELECT} FROM spans
        WHERE start_ns BETWEEN ? AND ? AND list_contains(?, trace_id) ORDER BY trace_id, start_ns, span_id""",
                 [*time_range(cur, trace_ids), trace_ids])
    by_trace: dict[str, list[dict]] = {}
    for r in found:
        by_trace.setdefault(r["trace_id"], []).append(r)
    out = []
    for trace_id in trace_ids:
        trace = ui_model.trace_json(by_trace.get(trace_id, ()))
        if trace is not None:
            out.append(trace)
    return out


def dependencies_raw(cur, *, start_ns: int, end_ns: int) -> list[dict]:
    """Parent service -> child service call counts over the traces that began after ``start_ns`` and
    ended before ``end_ns`` (both strict, as Jaeger's memory store counts them). Spans join on one
    64-bit hash of (trace ID, span ID), about twice as quick as the two strings."""
    found = cur.execute(f"""
        WITH s AS (
            SELECT hash(trace_id) AS th, hash(trace_id, span_id) AS k,
                   CASE WHEN parent_span_id <> '' THEN hash(trace_id, parent_span_id) END AS pk,
                   {SERVICE} AS svc, start_ns, greatest(end_ns, start_ns + 1) AS stop
            FROM spans WHERE start_ns > ? AND start_ns < ?),
        e AS (SELECT c.th, p.svc AS parent, c.svc AS child FROM s c JOIN s p ON c.pk = p.k),
        t AS (SELECT th FROM s GROUP BY th HAVING min(start_ns) > ? AND max(stop) < ?)
        SELECT parent, child, count(*) FROM e SEMI JOIN t USING (th) GROUP BY ALL ORDER BY 1, 2""",
                        [start_ns - _DEPENDENCY_SLACK_NS, end_ns, start_ns, end_ns]).fetchall()
    return [{"parent": parent, "child": child, "callCount": calls} for parent, child, calls in found]


def dependencies(cur, *, start_ns: int, end_ns: int) -> list[dict]:
    """``dependencies_raw`` from the rollups: the traces lying wholly inside the window (from its first
    span's start to its last span's end; Jaeger's rule) are summed per minute in trace_edge_rollup
    for those clear of the window's first and last minute, and read one by one from trace_edges for
    those that begin or end in them, so that any window is answered exactly."""
    first, last = max(0, start_ns) // MINUTE_NS, max(0, end_ns) // MINUTE_NS
    calls: dict[tuple[str, str], int] = {}
    edge = (first + 1) * MINUTE_NS  # traces beginning up to here begin in the window's first minute
    for parent, child, n in cur.execute("""
            SELECT parent, child, sum(calls) FROM trace_edge_rollup
            WHERE first_minute BETWEEN ? AND ? AND after_minute > ? AND stop_minute < ? GROUP BY ALL""",
                                        [first, last, first, last]).fetchall() + cur.execute("""
            WITH b AS MATERIALIZED (  -- the traces one by one: filter on the time columns, then unnest
                SELECT edges FROM trace_edges WHERE first_ns BETWEEN ? AND ? AND stop_ns < ?
                UNION ALL
                SELECT edges FROM trace_edges WHERE stop_ns BETWEEN ? AND ? AND first_ns > ?)
            SELECT e.parent, e.child, sum(e.calls) FROM (SELECT unnest(edges) AS e FROM b) GROUP BY ALL""",
                                        [start_ns + 1, edge, end_ns, last * MINUTE_NS, end_ns - 1, edge]).fetchall():
        calls[(parent, child)] = calls.get((parent, child), 0) + int(n)
    return [{"parent": p, "child": c, "callCount": n} for (p, c), n in sorted(calls.items())]
