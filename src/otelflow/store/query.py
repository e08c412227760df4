"""Read queries behind the JSON API: services, operations, logs, RED and stats (traces and metrics
live in query_traces and query_metrics).

Each function takes a DuckDB cursor and parameters already checked by query_params, and returns a
JSON-ready dict. User input only ever reaches SQL as bound parameters; attribute keys become JSON
Pointers (RFC 6901, ``/http.route``) passed as parameters, so dots, quotes and slashes in keys need
no quoting in SQL. The database keeps nanoseconds; the API speaks microseconds.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_NAMES = ("unset", "ok", "error")
STATUS_CODES = {name: code for code, name in enumerate(STATUS_NAMES)}


# -- helpers shared by the query modules ------------------------------------------------------------


def pointer(key: str) -> str:
    """The JSON Pointer of a top-level key: ``~`` and ``/`` escaped as RFC 6901 says."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


# values whose JSON text is the value itself: no escapes, and not a float that JSON may spell otherwise
_LITERAL = re.compile(r"-?[0-9]+|[A-Za-z_/:@ -][A-Za-z0-9_./:@ -]*")


def attr_filter(pairs: Iterable[tuple[str, str]], columns: tuple[str, ...] = ("attributes",)) -> tuple[str, list]:
    """SQL (``AND ...``) matching rows where each key's value, as text, equals the given value in any
    of ``columns``. When the value is written literally in the stored JSON, a substring test runs
    first: it is several times cheaper than parsing the JSON of every row, and never rejects a match."""
    sql, params = [], []
    for key, value in pairs:
        ptr = pointer(key)
        if _LITERAL.fullmatch(value):
            sql.append(" AND (" + " OR ".join("contains(" + c + ", ?)" for c in columns) + ")")
            params.extend([value] * len(columns))
        sql.append(" AND (" + " OR ".join(f"json_extract_string({c}, ?) = ?" for c in columns) + ")")
        params.extend([ptr, value] * len(columns))
    return "".join(sql), params


def obj(text: str | None) -> Any:
    """A JSON column as a Python value ({} when empty)."""
    return json.loads(text) if text else {}


def us(ns: int | float | None) -> int | None:
    return None if ns is None else int(ns) // 1000


def pct_us(ns: float | None) -> int | None:
    return None if ns is None else round(ns / 1000)


def kind_name(kind: int | None) -> str:
    return KINDS[kind] if kind is not None and 0 <= kind < len(KINDS) else "unspecified"


def status_name(code: int | None) -> str:
    return STATUS_NAMES[code] if code is not None and 0 <= code < len(STATUS_NAMES) else "unset"


def rows(cur, sql: str, params: list) -> list[dict]:
    """Run a query and return its rows as dicts keyed by column name."""
    result = cur.execute(sql, params)
    names = [d[0] for d in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


def buckets(start_us: int, end_us: int, step_s: int) -> int:
    """How many ``step_s`` buckets cover [start, end] (at least one)."""
    step_us = step_s * 1_000_000
    return max(1, -(-(end_us - start_us) // step_us))


# -- services and operations ------------------------------------------------------------------------


def services(cur, *, start_us: int, end_us: int) -> dict:
    found = rows(cur, """
        SELECT service AS name, count(*) AS spans, count(*) FILTER (WHERE status_code = 2) AS errors,
               max(start_ns) AS last_ns
        FROM spans WHERE start_ns BETWEEN ? AND ? GROUP BY service ORDER BY service""",
        [start_us * 1000, end_us * 1000])
    return {"services": [{"name": r["name"], "spans": r["spans"], "errors": r["errors"], "last_seen_us": us(r["last_ns"])}
                         for r in found]}


def operations(cur, *, service: str, start_us: int, end_us: int) -> dict:
    found = rows(cur, """
        SELECT name, kind, count(*) AS count, count(*) FILTER (WHERE status_code = 2) AS errors,
               quantile_cont(duration_ns, [0.5, 0.95, 0.99]) AS p
        FROM spans WHERE service = ? AND start_ns BETWEEN ? AND ?
        GROUP BY name, kind ORDER BY count DESC, name, kind""",
        [service, start_us * 1000, end_us * 1000])
    return {"operations": [
        {"name": r["name"], "kind": kind_name(r["kind"]), "count": r["count"], "errors": r["errors"],
         "p50_us": pct_us(r["p"][0]), "p95_us": pct_us(r["p"][1]), "p99_us": pct_us(r["p"][2])}
        for r in found]}


# -- logs -------------------------------------------------------------------------------------------

LOG_SELECT = """time_ns, observed_ns, service, severity_number, severity_text, body, attributes, resource,
    scope_name, trace_id, span_id, event_name"""


def log_json(r: dict) -> dict:
    return {"time_us": us(r["time_ns"]), "observed_us": us(r["observed_ns"]), "service": r["service"],
            "severity_number": r["severity_number"], "severity_text": r["severity_text"], "body": r["body"],
            "attributes": obj(r["attributes"]), "resource": obj(r["resource"]), "scope_name": r["scope_name"],
            "trace_id": r["trace_id"], "span_id": r["span_id"], "event_name": r["event_name"]}


def logs(cur, *, start_us: int, end_us: int, service: str | None = None, severity: int | None = None,
         q: str | None = None, trace_id: str | None = None, limit: int = 100) -> dict:
    where, params = ["time_ns BETWEEN ? AND ?"], [start_us * 1000, end_us * 1000]
    if service is not None:
        where.append("service = ?")
        params.append(service)
    if severity is not None:
        where.append("severity_number >= ?")
        params.append(severity)
    if q is not None:
        where.append("contains(lower(body), ?)")
        params.append(q.lower())
    if trace_id is not None:
        where.append("trace_id = ?")
        params.append(trace_id)
    # newest part of the range first, widened until it holds a page (a full page from it is the page
    # of the whole range): row-group min/max then skip the older row groups
    start_ns, end_ns = params[0], params[1]
    width = max(1, (end_ns - start_ns) >> 8)
    while True:
        params[0] = max(start_ns, end_ns - width)
        found = rows(cur, f"SELECT {LOG_SELECT} FROM logs WHERE {' AND '.join(where)} ORDER BY time_ns DESC LIMIT ?",
                     [*params, limit])
        if len(found) >= limit or params[0] == start_ns:
            return {"logs": [log_json(r) for r in found]}
        width *= 4


# -- RED: rate, errors, duration of a service's entry spans ----------------------------------------


def red(cur, *, service: str, start_us: int, end_us: int, step_s: int, operation: str | None = None) -> dict:
    """Entry spans (server or consumer kind, or without a parent) per bucket; empty buckets as zeros.
    ``error_spans`` counts every error span of the service, entry or not: a service whose spans are
    all internal (a worker, a library) has no requests but its failures still show.

    A step of whole minutes reads the per-minute span_rollup (rollups.py): the buckets then begin at
    the minute the range starts in (the first point's ``t_us`` is that minute; as many points as
    otherwise), the last one takes everything up to the end of the minute the range ends in, and
    percentiles come from the duration histogram (within 4.5%).
    Other steps read the spans (``red_raw``)."""
    if step_s % 60 == 0 and start_us >= 0:
        return _red_rollup(cur, service=service, start_us=start_us, end_us=end_us, step_s=step_s, operation=operation)
    return red_raw(cur, service=service, start_us=start_us, end_us=end_us, step_s=step_s, operation=operation)


def red_raw(cur, *, service: str, start_us: int, end_us: int, step_s: int, operation: str | None = None) -> dict:
    """``red`` from the spans, with exact percentiles and buckets from ``start_us`` itself."""
    n = buckets(start_us, end_us, step_s)
    start_ns, step_ns = start_us * 1000, step_s * 1_000_000_000
    params = [start_ns, step_ns, n - 1, service, start_ns, end_us * 1000]
    extra = ""
    if operation is not None:
        extra = " AND name = ?"
        params.append(operation)
    entry = "(kind IN (2, 5) OR parent_span_id = '')"
    found = rows(cur, f"""
        SELECT least((start_ns - ?) // ?, ?) AS b, count(*) FILTER (WHERE {entry}) AS requests,
               count(*) FILTER (WHERE {entry} AND status_code = 2) AS errors,
               count(*) FILTER (WHERE status_code = 2) AS error_spans,
               quantile_cont(duration_ns, [0.5, 0.95, 0.99]) FILTER (WHERE {entry}) AS p
        FROM spans
        WHERE service = ? AND start_ns BETWEEN ? AND ?{extra}
        GROUP BY b""", params)
    return _red_points(service, operation, start_us, step_s, n, {r["b"]: r for r in found})


def _red_rollup(cur, *, service: str, start_us: int, end_us: int, step_s: int, operation: str | None) -> dict:
    from otelflow.store.rollups import MINUTE_NS, percentiles

    n = buckets(start_us, end_us, step_s)  # as many points as the raw query gives
    start_ns = start_us * 1000 // MINUTE_NS * MINUTE_NS
    start_us = start_ns // 1000
    where = "service = ? AND minute BETWEEN ? AND ?" + ("" if operation is None else " AND name = ?")
    params = [start_ns, step_s * 1_000_000_000, n - 1, service, start_ns // MINUTE_NS, end_us * 1000 // MINUTE_NS]
    if operation is not None:
        params.append(operation)
    bucket = f"least((minute * {MINUTE_NS} - ?) // ?, ?)"
    entry = "(kind IN (2, 5) OR root)"
    found = rows(cur, f"""
        SELECT {bucket} AS b, coalesce(sum(spans) FILTER (WHERE {entry}), 0) AS requests,
               coalesce(sum(spans) FILTER (WHERE {entry} AND status_code = 2), 0) AS errors,
               coalesce(sum(spans) FILTER (WHERE status_code = 2), 0) AS error_spans
        FROM span_rollup WHERE {where} GROUP BY b""", params)
    p = percentiles(cur, "span_rollup", f"{where} AND {entry}", params, (f"{bucket} AS b",), (0.5, 0.95, 0.99))
    by_bucket = {r["b"]: {**r, "requests": int(r["requests"]), "errors": int(r["errors"]),
                          "error_spans": int(r["error_spans"]), "p": p.get((r["b"],), (None,))[0]} for r in found}
    return _red_points(service, operation, start_us, step_s, n, by_bucket)


# rollups: settle the dirty minutes before answering (web_ui)
red.reads_rollups = True  # type: ignore[attr-defined]


def _red_points(service: str, operation: str | None, start_us: int, step_s: int, n: int, by_bucket: dict) -> dict:
    points = []
    for i in range(n):
        r = by_bucket.get(i)
        req, err, err_spans = (r["requests"], r["errors"], r["error_spans"]) if r else (0, 0, 0)
        p = (r["p"] if r else None) or (None, None, None)
        points.append({"t_us": start_us + i * step_s * 1_000_000, "requests": req, "errors": err,
                       "rate": req / step_s, "error_rate": err / step_s, "error_spans": err_spans,
                       "p50_us": pct_us(p[0]), "p95_us": pct_us(p[1]), "p99_us": pct_us(p[2])})
    totals = {"requests": sum(p["requests"] for p in points), "errors": sum(p["errors"] for p in points),
              "error_spans": sum(p["error_spans"] for p in points)}
    return {"service": service, "operation": operation, "step_s": step_s, "points": points, "totals": totals}


# -- stats ------------------------------------------------------------------------------------------


def stats(cur, *, database_bytes: int = 0) -> dict:
    r = rows(cur, """
        SELECT (SELECT count(*) FROM spans) AS spans, (SELECT count(*) FROM logs) AS logs,
               (SELECT count(*) FROM metric_points) AS metric_points,
               least((SELECT min(start_ns) FROM spans), (SELECT min(time_ns) FROM logs),
                     (SELECT min(time_ns) FROM metric_points)) AS oldest,
               greatest((SELECT max(start_ns) FROM spans), (SELECT max(time_ns) FROM logs),
                        (SELECT max(time_ns) FROM metric_points)) AS newest""", [])[0]
    return {"spans": r["spans"], "logs": r["logs"], "metric_points": r["metric_points"],
            "database_bytes": database_bytes, "oldest_us": us(r["oldest"]), "newest_us": us(r["newest"])}
