"""The embedded store's tables: one row per span, log record and metric data point.

Times are unix nanoseconds (BIGINT) so that range filters stay integer comparisons and DuckDB's
per-row-group min/max skip whole groups; IDs are lowercase hex ('' when absent). Attribute maps are
JSON objects (``{"http.route": "/x", "http.status_code": 200}``) queried with DuckDB's json
functions; bytes values are base64, arrays are JSON lists, maps are nested objects.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

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

TABLES = {"spans": SPAN_COLUMNS, "logs": LOG_COLUMNS, "metric_points": METRIC_COLUMNS}
TIME_COLUMN = {"spans": "start_ns", "logs": "time_ns", "metric_points": "time_ns"}


def ddl() -> list[str]:
    """Statements that create the tables if they are missing (idempotent)."""
    out = ["CREATE TABLE IF NOT EXISTS otelflow_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"]
    for table, columns in TABLES.items():
        cols = ", ".join(f"{name} {type_}" for name, type_ in columns)
        out.append(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
    out.append(
        "INSERT INTO otelflow_meta VALUES ('schema_version', '%d') ON CONFLICT DO NOTHING" % SCHEMA_VERSION
    )
    return out
