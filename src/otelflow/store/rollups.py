"""Per-minute rollups of the spans table, so that RED, the service map and Jaeger's dependencies read
thousands of rows instead of joining millions of spans.

- ``span_rollup``: per (minute, service, span name, kind, status, root?) the span count, duration sum,
  min, max and a histogram of durations;
- ``edge_rollup``: per (child minute, parent minute, parent service, child service, parent|link) the
  calls, errors and the child spans' duration histogram (the service map, /api/v1/dependencies);
- ``trace_edges`` (one row per trace with its parent->child service edges and its time extent) and
  ``trace_edge_rollup`` (the same summed per first minute and the minutes the trace starts after and
  ends in): Jaeger's dependencies, which count the traces lying wholly inside the window.

An edge needs the parent span, which is often committed after its child (a parent ends, and is
exported, last). So rollups are not appended per commit: each commit records the minutes its spans
start in (``rollup_dirty``, one small GROUP BY over the batch), and ``settle`` recomputes those
minutes, widened to the whole time extent of every trace touching them (from trace_times), from the
spans themselves. The store settles on the writer thread every few seconds and before answering a
query that reads rollups, so answers equal the raw queries' once the spans are committed.

Durations go into fixed log-scale buckets, 8 per power of two (OpenTelemetry's exponential histogram
at scale 3): a percentile read from them is the bucket's geometric middle (interpolated between the
two ranks as ``quantile_cont`` does), clamped to the group's min and max, so it is within 4.5% of the
exact value (and within 0.5 µs below 1 µs); counts, errors and sums are exact.
"""

from __future__ import annotations

from otelflow.store.schema import TRACE_KEY_SQL

# the service name as the storage exporter's sanitizer leaves it; the JSON is read only for the
# rows the store filed under unknown_service
SERVICE = """CASE WHEN service <> 'unknown_service' THEN service
    WHEN json_type(resource, '/service.name') IS NULL THEN 'missing-service-name'
    WHEN json_type(resource, '/service.name') <> 'VARCHAR' THEN 'service-name-wrong-type'
    WHEN json_extract_string(resource, '/service.name') = '' THEN 'empty-service-name'
    ELSE service END"""

MINUTE_NS = 60 * 10**9
HOUR_NS = 60 * MINUTE_NS
TRACE_SPAN_MAX_NS = 2 * HOUR_NS  # a trace longer than this marks only the minutes of its new spans dirty
LOOKAROUND_NS = HOUR_NS  # a parent (or linked producer) farther than this from its child's minutes is not joined
_CHUNK_MINUTES = 60

# Duration histogram: 8 buckets per power of two (the resolution of OpenTelemetry's exponential
# histogram at scale 3), from 1024 ns to about an hour, one column each: summing columns is what
# DuckDB does fastest, so merging a few thousand rows' histograms costs a few milliseconds.
# Bucket 0 holds durations under 1024 ns, the last one everything from about an hour up.
PER_OCTAVE = 8
BUCKETS = 256
_LOW_LOG2 = 10
HIST_COLUMNS = tuple(f"h{i}" for i in range(BUCKETS))


def bucket_sql(column: str) -> str:
    return (f"CASE WHEN {column} < {1 << _LOW_LOG2} THEN 0 ELSE "
            f"least({BUCKETS - 1}, 1 + floor((log2({column}) - {_LOW_LOG2}) * {PER_OCTAVE})::INTEGER) END")


def bucket_value(b: int) -> float:
    """The geometric middle of a bucket's durations (ns); bucket 0's middle is 512 ns."""
    if b <= 0:
        return float(1 << (_LOW_LOG2 - 1))
    return 2.0 ** (_LOW_LOG2 + (b - 0.5) / PER_OCTAVE)


_HIST = "duration_sum HUGEINT, duration_min BIGINT, duration_max BIGINT, " + ", ".join(f"{h} UINTEGER" for h in HIST_COLUMNS)
DDL = (
    "CREATE TABLE IF NOT EXISTS span_rollup (minute BIGINT, service VARCHAR, name VARCHAR, kind TINYINT, "
    f"status_code TINYINT, root BOOLEAN, spans UBIGINT, {_HIST})",
    "CREATE TABLE IF NOT EXISTS edge_rollup (minute BIGINT, parent_minute BIGINT, parent VARCHAR, child VARCHAR, "
    f"how VARCHAR, queue BOOLEAN, calls UBIGINT, errors UBIGINT, {_HIST})",
    "CREATE TABLE IF NOT EXISTS trace_edges (first_minute BIGINT, first_ns BIGINT, stop_ns BIGINT, "
    "edges STRUCT(parent VARCHAR, child VARCHAR, calls UBIGINT)[])",
    "CREATE TABLE IF NOT EXISTS trace_edge_rollup (first_minute BIGINT, after_minute BIGINT, stop_minute BIGINT, "
    "parent VARCHAR, child VARCHAR, calls UBIGINT)",
    "CREATE TABLE IF NOT EXISTS rollup_dirty (minute BIGINT)",
)
ROLLUP_TABLES = {"span_rollup": "minute", "edge_rollup": "minute", "trace_edges": "first_minute",
                 "trace_edge_rollup": "first_minute"}

def _histogram(keys: str, source: str, count: str, inner: str = "", outer: str = "") -> str:
    """Rows of ``source`` (with column ``d``, the duration) grouped by ``keys`` with their histogram,
    named as the rollup tables' columns (insert them BY NAME). The buckets of a group are gathered in
    a map first: one lookup per column and group is far cheaper than a filter per column and row."""
    columns = ", ".join(f"coalesce(m[{i}], 0) AS {h}" for i, h in enumerate(HIST_COLUMNS))
    return f"""
        SELECT * EXCLUDE (m), {columns} FROM (
            SELECT {keys}, {outer} sum(n) AS {count}, sum(s) AS duration_sum, min(lo) AS duration_min,
                   max(hi) AS duration_max, map_from_entries(list((bk, n))) AS m
            FROM (SELECT {keys}, {inner} {bucket_sql('d')} AS bk, count(*) AS n, sum(d) AS s, min(d) AS lo,
                         max(d) AS hi
                  FROM ({source}) GROUP BY ALL)
            GROUP BY {keys})"""


_EDGE_KEYS = "minute, parent_minute, parent, child, how"
_EDGE_INNER = "bool_or(q) AS queue, count(*) FILTER (WHERE err) AS errors,"
_EDGE_OUTER = "bool_or(queue) AS queue, sum(errors) AS errors,"


def _span_rollup_sql(where: str) -> str:
    source = f"""SELECT start_ns // {MINUTE_NS} AS minute, service, name, kind, status_code,
                        parent_span_id = '' AS root, duration_ns AS d
                 FROM {where}"""
    return "INSERT INTO span_rollup BY NAME " + _histogram("minute, service, name, kind, status_code, root", source, "spans")


def _span_rollup(con, lo_ns: int, hi_ns: int) -> None:
    con.execute(_span_rollup_sql(f"spans WHERE start_ns BETWEEN {lo_ns} AND {hi_ns}"))


# At commit, in the commit's transaction: the minutes a span batch starts in. (Appending the batch's
# own span_rollup rows too would spare RED its settle, but cost 20-60% more CPU per ingested span.)
MARK_DIRTY_SQL = f"INSERT INTO rollup_dirty SELECT DISTINCT start_ns // {MINUTE_NS} FROM _otelflow_batch"


def _bounds(con, keys_sql: str, lo_ns: int, hi_ns: int) -> tuple[int, int] | None:
    """Where the traces of ``keys_sql`` (a query of trace keys) lie, from trace_times, within the
    look-around of [lo, hi]; None when none is stored."""
    row = con.execute(f"SELECT min(first_ns), max(last_ns) FROM trace_times SEMI JOIN ({keys_sql}) AS _k(k) "
                      "ON trace_key = _k.k").fetchone()
    if not row or row[0] is None:
        return None
    return max(row[0], lo_ns - LOOKAROUND_NS), min(row[1], hi_ns + LOOKAROUND_NS)


def _edge_rollup(con, lo_ns: int, hi_ns: int) -> None:
    children = f"FROM spans WHERE start_ns BETWEEN {lo_ns} AND {hi_ns} AND parent_span_id <> ''"
    bounds = _bounds(con, f"SELECT DISTINCT {TRACE_KEY_SQL} {children}", lo_ns, hi_ns)
    if bounds:
        source = f"""
            SELECT c.minute, p.start_ns // {MINUTE_NS} AS parent_minute, p.service AS parent, c.service AS child,
                   'parent' AS how, c.kind = 5 OR p.kind = 4 AS q, c.status_code = 2 AS err, c.d
            FROM (SELECT hash(trace_id, parent_span_id) AS key, start_ns // {MINUTE_NS} AS minute, service, kind,
                         status_code, duration_ns AS d {children}) c
            JOIN (SELECT hash(trace_id, span_id) AS key, service, kind, start_ns FROM spans
                  WHERE start_ns BETWEEN {bounds[0]} AND {bounds[1]}) p ON p.key = c.key
            WHERE p.service <> c.service"""
        con.execute("INSERT INTO edge_rollup BY NAME " + _histogram(_EDGE_KEYS, source, "calls", _EDGE_INNER, _EDGE_OUTER))
    consumers = f"""SELECT start_ns // {MINUTE_NS} AS minute, service, status_code, duration_ns AS d,
                           unnest(from_json(links, '[{{"trace_id":"VARCHAR","span_id":"VARCHAR"}}]')) AS link
                    FROM spans WHERE start_ns BETWEEN {lo_ns} AND {hi_ns} AND kind = 5 AND links <> '[]'"""
    bounds = _bounds(con, f"SELECT TRY_CAST('0x' || substr(link.trace_id, 1, 16) AS UBIGINT) FROM ({consumers})",
                     lo_ns, hi_ns)
    if bounds:
        source = f"""
            SELECT c.minute, p.start_ns // {MINUTE_NS} AS parent_minute, p.service AS parent, c.service AS child,
                   'link' AS how, true AS q, c.status_code = 2 AS err, c.d
            FROM ({consumers}) c
            JOIN (SELECT hash(trace_id, span_id) AS key, service, start_ns FROM spans
                  WHERE start_ns BETWEEN {bounds[0]} AND {bounds[1]} AND kind = 4) p
              ON p.key = hash(c.link.trace_id, c.link.span_id)
            WHERE p.service <> c.service"""
        con.execute("INSERT INTO edge_rollup BY NAME " + _histogram(_EDGE_KEYS, source, "calls", _EDGE_INNER, _EDGE_OUTER))


def _trace_edges(con, lo_ns: int, hi_ns: int) -> None:
    """Traces whose first span starts in [lo, hi]: their extent and edges (Jaeger's dependencies)."""
    row = con.execute(f"""SELECT max(last_ns) FROM trace_times SEMI JOIN (
        SELECT trace_key AS k FROM trace_times WHERE first_ns BETWEEN {lo_ns} AND {hi_ns}) AS _k ON trace_key = _k.k""").fetchone()
    if not row or row[0] is None:
        return
    scan_hi = min(max(row[0], hi_ns), hi_ns + LOOKAROUND_NS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _trace_edges AS
        WITH s AS (
            SELECT hash(trace_id) AS th, hash(trace_id, span_id) AS k,
                   CASE WHEN parent_span_id <> '' THEN hash(trace_id, parent_span_id) END AS pk,
                   {SERVICE} AS svc, start_ns, greatest(end_ns, start_ns + 1) AS stop, trace_id
            FROM spans WHERE start_ns BETWEEN {lo_ns} AND {scan_hi}),
        t AS (SELECT th, min(start_ns) AS first_ns, max(stop) AS stop_ns, any_value(trace_id) AS trace_id
              FROM s GROUP BY th HAVING min(start_ns) <= {hi_ns}),
        e AS (SELECT c.th, p.svc AS parent, c.svc AS child, count(*) AS calls FROM s c JOIN s p ON c.pk = p.k
              GROUP BY ALL)
        SELECT th, {TRACE_KEY_SQL} AS tk, first_ns // {MINUTE_NS} AS first_minute, first_ns, stop_ns,
               list({{'parent': parent, 'child': child, 'calls': calls}} ORDER BY parent, child) AS edges
        FROM e JOIN t USING (th) GROUP BY th, trace_id, first_ns, stop_ns""")
    # a trace with a span before lo belongs to an earlier minute: trace_times says which may have one
    # (any of its rows begins before lo; a row covers one commit, so no single row need cross lo),
    # the spans say which do (a log may be the early row)
    row = con.execute(f"""SELECT min(first_ns) FROM trace_times SEMI JOIN _trace_edges ON trace_key = tk
        WHERE first_ns < {lo_ns}""").fetchone()
    if row and row[0] is not None:
        con.execute(f"""DELETE FROM _trace_edges WHERE th IN (
            SELECT hash(trace_id) FROM spans SEMI JOIN _trace_edges ON {TRACE_KEY_SQL} = tk
            WHERE start_ns BETWEEN {max(row[0], lo_ns - LOOKAROUND_NS)} AND {lo_ns - 1})""")
    con.execute("INSERT INTO trace_edges SELECT * EXCLUDE (th, tk) FROM _trace_edges ORDER BY first_ns")
    con.execute(f"""
        INSERT INTO trace_edge_rollup
        SELECT first_minute, (first_ns - 1) // {MINUTE_NS}, stop_ns // {MINUTE_NS}, e.parent, e.child, sum(e.calls)
        FROM (SELECT first_minute, first_ns, stop_ns, unnest(edges) AS e FROM _trace_edges) GROUP BY ALL""")
    con.execute("DROP TABLE _trace_edges")


def recompute(con, first_minute: int, last_minute: int) -> None:
    """Replace every rollup row of the minutes [first, last] by what the spans say now."""
    lo_ns, hi_ns = first_minute * MINUTE_NS, (last_minute + 1) * MINUTE_NS - 1
    for table, column in ROLLUP_TABLES.items():
        con.execute(f"DELETE FROM {table} WHERE {column} BETWEEN ? AND ?", [first_minute, last_minute])
    _span_rollup(con, lo_ns, hi_ns)
    _edge_rollup(con, lo_ns, hi_ns)
    _trace_edges(con, lo_ns, hi_ns)


def runs(minutes: list[int], chunk: int = _CHUNK_MINUTES) -> list[tuple[int, int]]:
    """Sorted minutes as contiguous (first, last) runs of at most ``chunk`` minutes."""
    out: list[tuple[int, int]] = []
    for m in sorted(set(minutes)):
        if out and m == out[-1][1] + 1 and m - out[-1][0] < chunk:
            out[-1] = (out[-1][0], m)
        else:
            out.append((m, m))
    return out


def dirty_minutes(con) -> list[int]:
    """The recorded minutes, widened to the whole extent of each trace with spans or logs in them,
    and to the minutes of consumer spans linking a producer span of them (a consumer may be committed
    before the producer it links)."""
    marked = [r[0] for r in con.execute("SELECT DISTINCT minute FROM rollup_dirty WHERE minute IS NOT NULL").fetchall()]
    if not marked:
        return []
    touching = " OR ".join(f"(last_ns >= {a * MINUTE_NS} AND first_ns <= {(b + 1) * MINUTE_NS - 1})"
                           for a, b in runs(marked, chunk=1 << 62))
    found = con.execute(f"""
        SELECT DISTINCT unnest(range(lo // {MINUTE_NS}, hi // {MINUTE_NS} + 1)) FROM (
            SELECT min(first_ns) AS lo, max(last_ns) AS hi FROM trace_times
            SEMI JOIN (SELECT trace_key AS k FROM trace_times WHERE {touching}) AS _k ON trace_key = _k.k
            GROUP BY trace_key HAVING max(last_ns) - min(first_ns) <= {TRACE_SPAN_MAX_NS})""").fetchall()
    linked = []
    for a, b in runs(marked):  # consumers linking producers of these minutes (their own traces)
        lo_ns, hi_ns = a * MINUTE_NS, (b + 1) * MINUTE_NS - 1
        linked += con.execute(f"""
            SELECT DISTINCT start_ns // {MINUTE_NS} FROM (
                SELECT start_ns, unnest(from_json(links, '[{{"trace_id":"VARCHAR","span_id":"VARCHAR"}}]')) AS link
                FROM spans WHERE start_ns BETWEEN {lo_ns - LOOKAROUND_NS} AND {hi_ns + LOOKAROUND_NS}
                  AND kind = 5 AND links <> '[]')
            WHERE hash(link.trace_id, link.span_id) IN (
                SELECT hash(trace_id, span_id) FROM spans WHERE start_ns BETWEEN {lo_ns} AND {hi_ns} AND kind = 4)
            """).fetchall()
    return sorted(set(marked) | {r[0] for r in found} | {r[0] for r in linked})


def settle(con) -> int:
    """Recompute the dirty minutes (inside the caller's transaction); returns how many there were."""
    minutes = dirty_minutes(con)
    for first, last in runs(minutes):
        recompute(con, first, last)
    con.execute("DELETE FROM rollup_dirty")
    return len(minutes)


def rebuild(con) -> None:
    """Every rollup from every stored span, an hour at a time (a migration, a bulk load)."""
    for table in ROLLUP_TABLES:
        con.execute(f"DELETE FROM {table}")
    con.execute("DELETE FROM rollup_dirty")
    hours = [r[0] for r in con.execute(f"SELECT DISTINCT start_ns // {HOUR_NS} FROM spans ORDER BY 1").fetchall()]
    for h in hours:
        recompute(con, h * 60, h * 60 + 59)


def forget_before(con, cutoff_ns: int) -> None:
    """After retention deleted the spans older than ``cutoff_ns``: drop the rollups of the minutes
    before it and mark its minute (partly deleted) dirty."""
    minute = cutoff_ns // MINUTE_NS
    # a trace cut in two now begins later: the minutes it spans from the cutoff on are recomputed
    con.execute(f"""INSERT INTO rollup_dirty
        SELECT DISTINCT unnest(range({minute}, least(stop_ns, {cutoff_ns + TRACE_SPAN_MAX_NS}) // {MINUTE_NS} + 1))
        FROM trace_edges WHERE first_minute <= {minute} AND stop_ns >= {cutoff_ns}""")
    for table, column in ROLLUP_TABLES.items():
        con.execute(f"DELETE FROM {table} WHERE {column} < ?", [minute])
    con.execute("INSERT INTO rollup_dirty SELECT DISTINCT minute FROM edge_rollup WHERE parent_minute <= ?", [minute])
    con.execute("DELETE FROM edge_rollup WHERE parent_minute < ?", [minute])
    con.execute("INSERT INTO rollup_dirty VALUES (?)", [minute])


# -- reading ---------------------------------------------------------------------------------------


def percentiles(cur, table: str, where: str, params: list, keys: tuple[str, ...], qs: tuple[float, ...],
                extra: tuple[str, ...] = ()) -> dict[tuple, tuple[list[float | None], tuple]]:
    """Per group of ``keys`` the ``qs`` quantiles (ns) of the merged histograms of ``table``'s rows
    matching ``where``, ranked as ``quantile_cont`` ranks them: between the two values around rank
    q*(n-1), each the middle of its bucket, clamped to the group's min and max; with the values of
    the ``extra`` aggregates of the group."""
    sums = ", ".join(f"sum({h}::DOUBLE)" for h in HIST_COLUMNS)  # quicker than exact HUGEINT sums; exact below 2^53
    more = "".join(f"{e}, " for e in extra)
    found = cur.execute(f"SELECT {', '.join(keys)}, {more}min(duration_min), max(duration_max), {sums} FROM {table} "
                        f"WHERE {where} GROUP BY ALL", params).fetchall()
    width = len(keys) + len(extra)
    out: dict[tuple, tuple[list[float | None], tuple]] = {}
    for row in found:
        lo, hi, counts = row[width], row[width + 1], [int(c or 0) for c in row[width + 2:]]
        total = sum(counts)
        values: list[float | None] = [None] * len(qs)
        out[tuple(row[:len(keys)])] = (values, tuple(row[len(keys):width]))
        if not total:
            continue
        values.clear()
        for q in qs:
            rank = q * (total - 1)
            below, above = _bucket_of(counts, int(rank)), _bucket_of(counts, -int(-rank // 1))
            a, b = bucket_value(below), bucket_value(above)
            values.append(min(max(a + (rank - int(rank)) * (b - a), lo), hi))
    return out


def _bucket_of(counts: list[int], index: int) -> int:
    """The bucket holding the ``index``-th smallest value (0-based)."""
    seen = 0
    for b, n in enumerate(counts):
        seen += n
        if seen > index:
            return b
    return len(counts) - 1
