"""The embedded store's tables: one row per span, log record and metric data point.

Times are unix nanoseconds (BIGINT) so that range filters stay integer comparisons and DuckDB's
per-row-group min/max skip whole groups; IDs are lowercase hex ('' when absent). Attribute maps are
JSON objects (``{"http.route": "/x", "http.status_code": 200}``) queried with DuckDB's json
functions; bytes values are base64, arrays are JSON lists, maps are nested objects.
"""

from __future__ import annotations

SCHEMA_VERSION = 3  # 2: the trace_times lookup table; 3: the per-minute rollups (rollups.py)

SPAN_COLUMNS = (
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("parent_span_id", "VARCHAR"),
    ("trace_state", "VARCHAR"),
    ("service", "VARCHAR"),  # resource service.name, "unknown_service" when absent
    ("name", "VARCHAR"),
    ("kind", "TINYINT"),  # SpanKind number: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    ("start_ns", "BIGINT"),
    ("end_ns", "BIGINT"),
    ("duration_ns", "BIGINT"),
    ("status_code", "TINYINT"),  # 0 unset, 1 ok, 2 error
    ("status_message", "VARCHAR"),
    ("attributes", "VARCHAR"),  # JSON object
    ("events", "VARCHAR"),  # JSON list of {"time_ns": int, "name": str, "attributes": {...}}
    ("links", "VARCHAR"),  # JSON list of {"trace_id": hex, "span_id": hex, "trace_state": str, "attributes": {...}}
    ("resource", "VARCHAR"),  # JSON object of resource attributes
    ("scope_name", "VARCHAR"),
    ("scope_version", "VARCHAR"),
)

LOG_COLUMNS = (
    ("time_ns", "BIGINT"),  # time_unix_nano, or observed_time_unix_nano when that is 0
    ("observed_ns", "BIGINT"),
    ("service", "VARCHAR"),
    ("severity_number", "TINYINT"),
    ("severity_text", "VARCHAR"),
    ("body", "VARCHAR"),  # a string body as is; any other AnyValue as JSON
    ("attributes", "VARCHAR"),  # JSON object
    ("resource", "VARCHAR"),  # JSON object
    ("scope_name", "VARCHAR"),
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("flags", "UINTEGER"),
    ("event_name", "VARCHAR"),
)

METRIC_COLUMNS = (
    ("time_ns", "BIGINT"),
    ("start_ns", "BIGINT"),
    ("service", "VARCHAR"),
    ("name", "VARCHAR"),
    ("description", "VARCHAR"),
    ("unit", "VARCHAR"),
    ("type", "VARCHAR"),  # gauge | sum | histogram | exponential_histogram | summary
    ("temporality", "TINYINT"),  # AggregationTemporality number: 0 unspecified, 1 delta, 2 cumulative
    ("monotonic", "BOOLEAN"),
    ("attributes", "VARCHAR"),  # JSON object of the point's attributes (its labels)
    ("value", "DOUBLE"),  # gauge/sum value; for histograms and summaries the sum
    ("count", "UBIGINT"),  # histogram/summary count; NULL for gauge/sum
    ("bounds", "DOUBLE[]"),  # explicit histogram bounds; NULL otherwise
    ("bucket_counts", "UBIGINT[]"),  # explicit histogram bucket counts; NULL otherwise
    ("resource", "VARCHAR"),  # JSON object
    ("scope_name", "VARCHAR"),
)

# Where each trace lies in time, so that fetching a trace by ID scans only the row groups of its time
# range instead of the whole trace_id column. One row per trace and commit that carried spans or logs
# of it (a long trace has a few rows), keyed by the ID's first 64 bits (a shared key only widens the
# range). ``first_ns``/``last_ns`` bound the spans' start_ns and the logs' time_ns of that commit.
TRACE_TIMES_DDL = ("CREATE TABLE IF NOT EXISTS trace_times (trace_key UBIGINT, first_ns BIGINT, last_ns BIGINT)",
                   # an ART index: DuckDB uses it for ``trace_key = <literal>`` and short literal IN lists
                   # (not for bound parameters), ~1.5 ms instead of a scan of every key
                   "CREATE INDEX IF NOT EXISTS trace_times_key ON trace_times (trace_key)")
TRACE_KEY_SQL = "TRY_CAST('0x' || substr(trace_id, 1, 16) AS UBIGINT)"


def trace_key(trace_id: str) -> int | None:
    """The trace_times key of a hex trace ID (its first 64 bits); None when it is not hex."""
    try:
        return int(trace_id[:16], 16) if trace_id else None
    except ValueError:
        return None


def index_traces_sql(source: str, time_column: str) -> str:
    """The statement that adds ``source``'s traces (a table or the batch being committed) to trace_times."""
    return (f"INSERT INTO trace_times SELECT {TRACE_KEY_SQL} AS k, min({time_column}), max({time_column}) "
            f"FROM {source} WHERE trace_id <> '' GROUP BY k HAVING k IS NOT NULL")


TABLES = {"spans": SPAN_COLUMNS, "logs": LOG_COLUMNS, "metric_points": METRIC_COLUMNS}
TIME_COLUMN = {"spans": "start_ns", "logs": "time_ns", "metric_points": "time_ns"}


def ddl() -> list[str]:
    """Statements that create the tables if they are missing (idempotent)."""
    out = ["CREATE TABLE IF NOT EXISTS otelflow_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"]
    for table, columns in TABLES.items():
        cols = ", ".join(f"{name} {type_}" for name, type_ in columns)
        out.append(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
    out.extend(TRACE_TIMES_DDL)
    from otelflow.store.rollups import DDL as ROLLUP_DDL  # rollups.py imports this module
    out.extend(ROLLUP_DDL)
    out.append(
        "INSERT INTO otelflow_meta VALUES ('schema_version', '%d') ON CONFLICT DO NOTHING" % SCHEMA_VERSION
    )
    return out


def migrate(con) -> int:
    """Create missing tables and bring an older store up to SCHEMA_VERSION in place; returns the version
    found. Version 1 stores get their trace_times built from the rows they hold (one pass over spans and
    logs), version 1 and 2 stores their rollups (a few passes over spans, an hour at a time). A store
    written by a newer otelflow raises ValueError."""
    for statement in ddl():
        con.execute(statement)
    found = int(con.execute("SELECT value FROM otelflow_meta WHERE key = 'schema_version'").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise ValueError(f"schema version {found}, this otelflow reads {SCHEMA_VERSION} and older")
    if found < SCHEMA_VERSION:
        from otelflow.store import rollups

        con.execute("BEGIN TRANSACTION")
        if found < 2:
            reindex_traces(con)  # trace_times, then the rollups
        else:
            rollups.rebuild(con)
        con.execute("UPDATE otelflow_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
        con.execute("COMMIT")
    return found


def reindex_traces(con) -> None:
    """Rebuild trace_times, then the rollups, from every stored span and log (rows inserted other than
    by the store's writer, e.g. by a test or a bulk load, are in neither)."""
    from otelflow.store import rollups

    con.execute("DELETE FROM trace_times")
    con.execute(index_traces_sql("spans", "start_ns"))
    con.execute(index_traces_sql("logs", "time_ns"))
    rollups.rebuild(con)
