"""How long the web UI's and the Jaeger API's queries take on a store of a million spans (or 10M, 100M).

Builds a temporary DuckDB file with the embedded store's schema: 1,000,000 spans (100,000 traces of
10 spans, 10 services, 50 operations, attributes, ~2% errors) spread over the last hour, 200,000 logs
and 72,000 metric points, all with ``INSERT ... SELECT FROM range(...)`` so that building takes
seconds. Then times each API query (one warm-up, median of five) through the same functions the
web_ui extension calls, prints a table and writes bench/results/store_query.json.

    python bench/store_query.py                  # 1,000,000 spans
    python bench/store_query.py --spans 200000   # a smaller store
    nice python bench/store_query.py --spans 100000000 --store /tmp/store100m   # built once (in 10M chunks), reused
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import duckdb  # noqa: E402

from otelflow.store import jaeger_query, query, query_dependencies, query_metrics, query_traces, schema  # noqa: E402

CHUNK = 10_000_000
TARGET_MS = 100.0  # every query at 10M spans; at 100M: trace by id 50 ms, searches 500 ms
RESULTS = Path(__file__).resolve().parent / "results" / "store_query.json"


def build(path: Path, spans: int, now_ns: int) -> dict:
    con = duckdb.connect(str(path))
    for statement in schema.ddl():
        con.execute(statement)
    hour = 3600 * 10**9
    traces = spans // 10
    timings = {}
    t0 = time.perf_counter()
    # span j of trace t: j = 0 is the server root, the rest its children; traces are evenly spread
    # over the hour in arrival order, as an ingesting collector would write them
    # in chunks of CHUNK spans, in time order, so that memory stays bounded for 100M spans
    [con.execute("""
        INSERT INTO spans
        SELECT md5(t::VARCHAR) AS trace_id,
               substr(md5(i::VARCHAR), 1, 16) AS span_id,
               CASE WHEN j = 0 THEN '' ELSE substr(md5((t * 10)::VARCHAR), 1, 16) END AS parent_span_id,
               '' AS trace_state,
               'service-' || ((t + j) % 10) AS service,
               'operation-' || ((t * 7 + j * 13) % 50) AS name,
               CASE WHEN j = 0 THEN 2 WHEN j % 3 = 0 THEN 3 ELSE 1 END AS kind,
               $start + t * $gap + j * 1000000 AS start_ns,
               $start + t * $gap + j * 1000000 + dur AS end_ns,
               dur AS duration_ns,
               CASE WHEN hash(i) % 50 = 0 THEN 2 ELSE 0 END AS status_code,
               CASE WHEN hash(i) % 50 = 0 THEN 'boom' ELSE '' END AS status_message,
               '{"http.route":"/api/' || (t % 200) || '","http.status_code":'
                   || CASE WHEN hash(i) % 50 = 0 THEN 500 ELSE 200 END
                   || ',"user.id":"u' || (t % 5000) || '","retry":' || (j % 2 = 0) || '}' AS attributes,
               CASE WHEN j = 0 THEN '[{"time_ns":' || ($start + t * $gap) || ',"name":"start","attributes":{}}]'
                    ELSE '[]' END AS events,
               '[]' AS links,
               '{"service.name":"service-' || ((t + j) % 10) || '","host.name":"host-' || (t % 20) || '"}' AS resource,
               'bench' AS scope_name, '1.0' AS scope_version
        FROM (SELECT i, i // 10 AS t, i % 10 AS j, (1 + hash(i) % 1000) * 1000000 // (1 + i % 10) AS dur
              FROM range($lo, $hi) AS r(i))""", {"start": now_ns - hour, "gap": hour // traces, "lo": lo, "hi": min(spans, lo + CHUNK)})
        for lo in range(0, spans, CHUNK)]
    timings["spans_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    logs = spans // 5
    [con.execute("""
        INSERT INTO logs
        SELECT $start + i * $gap, $start + i * $gap + 1000, 'service-' || (i % 10),
               [1, 5, 9, 9, 9, 9, 13, 17][1 + i % 8], ['TRACE', 'DEBUG', 'INFO', 'INFO', 'INFO', 'INFO', 'WARN', 'ERROR'][1 + i % 8],
               'request ' || i || ' handled for user u' || (i % 5000) || CASE WHEN i % 97 = 0 THEN ' after Timeout' ELSE '' END,
               '{"code.lineno":' || (i % 300) || '}', '{"service.name":"service-' || (i % 10) || '"}', 'app',
               CASE WHEN i % 2 = 0 THEN md5((i * 5 // 10)::VARCHAR) ELSE '' END, '', 0, ''
        FROM range($lo, $hi) AS r(i)""", {"start": now_ns - hour, "gap": hour // logs, "lo": lo, "hi": min(logs, lo + CHUNK)})
        for lo in range(0, logs, CHUNK)]
    timings["logs_s"] = time.perf_counter() - t0
    # 10 services x 20 series x one point every 10 s: a cumulative counter and a gauge
    con.execute("""
        INSERT INTO metric_points
        SELECT $start + k * 10000000000, $start - 600000000000, 'service-' || (s % 10), m, '', '1',
               CASE WHEN m = 'requests' THEN 'sum' ELSE 'gauge' END, CASE WHEN m = 'requests' THEN 2 ELSE 0 END,
               m = 'requests', '{"route":"/api/' || s || '","code":"' || (200 + s % 3) || '"}',
               CASE WHEN m = 'requests' THEN k * (s + 1) ELSE (hash(k, s) % 100)::DOUBLE END, NULL, NULL, NULL,
               '{"service.name":"service-' || (s % 10) || '"}', 'bench'
        FROM range(360) AS a(k), range(100) AS b(s), (VALUES ('requests'), ('cpu')) AS c(m)""", {"start": now_ns - hour})
    t0 = time.perf_counter()
    # the writer keeps trace_times and the rollups at ingest; a bulk load builds them once
    schema.reindex_traces(con)
    timings["trace_times_and_rollups_s"] = time.perf_counter() - t0
    con.execute("CHECKPOINT")
    con.close()
    timings["file_bytes"] = path.stat().st_size
    return timings


def cases(con, now_us: int) -> dict:
    rng = {"start_us": now_us - 3600 * 10**6, "end_us": now_us}
    trace_id = con.execute("SELECT trace_id FROM spans LIMIT 1 OFFSET (SELECT count(*) // 2 FROM spans)").fetchone()[0]
    return {
        "services": lambda: query.services(con, **rng),
        "operations": lambda: query.operations(con, service="service-3", **rng),
        "traces (no filter)": lambda: query_traces.traces(con, **rng),
        "traces service+operation": lambda: query_traces.traces(con, service="service-3", operation="operation-7", **rng),
        "traces attr": lambda: query_traces.traces(con, attrs=[("http.route", "/api/42")], **rng),
        "traces min_duration": lambda: query_traces.traces(con, min_duration_us=900_000, **rng),
        "traces status=error": lambda: query_traces.traces(con, status="error", **rng),
        "traces limit=1000": lambda: query_traces.traces(con, limit=1000, **rng),
        "trace by id": lambda: query_traces.trace(con, trace_id=trace_id),
        "logs (no filter)": lambda: query.logs(con, **rng),
        "logs severity+q": lambda: query.logs(con, severity=13, q="timeout", **rng),
        "red": lambda: query.red(con, service="service-3", step_s=60, **rng),
        "metrics": lambda: query_metrics.metrics(con, **rng),
        "metric rate": lambda: query_metrics.metric_query(con, name="requests", step_s=60, group_by=["code"], **rng),
        "stats": lambda: query.stats(con),
        "dependencies": lambda: query_dependencies.dependencies(con, **rng),
        "jaeger services": lambda: {"services": jaeger_query.services(con)},
        "jaeger traces service": lambda: {"traces": jaeger_query.traces(con, jaeger_query.find_trace_ids(
            con, service="service-3", start_ns=now_us * 1000 - 3600 * 10**9, end_ns=now_us * 1000, limit=20))},
        "jaeger traces tag": lambda: {"traces": jaeger_query.traces(con, jaeger_query.find_trace_ids(
            con, service="service-3", tags={"http.route": "/api/42"}, start_ns=now_us * 1000 - 3600 * 10**9,
            end_ns=now_us * 1000, limit=20))},
        "jaeger trace by id": lambda: {"traces": jaeger_query.traces(con, [trace_id])},
        "jaeger dependencies": lambda: {"links": jaeger_query.dependencies(
            con, start_ns=now_us * 1000 - 3600 * 10**9, end_ns=now_us * 1000)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", help="time only the queries whose name contains this text, e.g. 'trace'")
    parser.add_argument("--store", type=Path, help="build the store in this directory once and reuse it on later runs")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        directory = args.store or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="otelflow-store-bench-")))
        path = directory / "otelflow.duckdb"
        info = directory / "bench.json"
        if path.exists() and info.exists() and json.loads(info.read_text())["spans"] == args.spans:
            now_ns, built = json.loads(info.read_text())["now_ns"], json.loads(info.read_text())["build"]
            print(f"reusing the store of {args.spans:,} spans in {directory}")
            con = duckdb.connect(str(path))
            t0 = time.perf_counter()
            found = schema.migrate(con)
            if found != schema.SCHEMA_VERSION:  # a store built by an older bench
                built = {**built, "migrated_from": found, "migration_s": round(time.perf_counter() - t0, 1)}
                info.write_text(json.dumps({"spans": args.spans, "now_ns": now_ns, "build": built}))
                print(f"migrated it to schema version {schema.SCHEMA_VERSION} in {time.perf_counter() - t0:.1f}s")
            con.close()
        else:
            directory.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
            now_ns = time.time_ns()
            built = build(path, args.spans, now_ns)
            info.write_text(json.dumps({"spans": args.spans, "now_ns": now_ns, "build": built}))
            print(f"built {args.spans:,} spans in {built['spans_s']:.1f}s, logs in {built['logs_s']:.1f}s, "
                  f"file {built['file_bytes'] / 2**20:.0f} MiB")
        con = duckdb.connect(str(path), read_only=True)
        results = []
        print(f"{'query':28} {'median ms':>10} {'min ms':>8} {'rows':>6}")
        for name, fn in cases(con, now_ns // 1000).items():
            if args.only and args.only not in name:
                continue
            out = fn()  # warm-up
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1000)
            count = next((len(v) for v in out.values() if isinstance(v, list)), 0)
            median = statistics.median(times)
            target = TARGET_MS if args.spans <= 10_000_000 else (50.0 if "by id" in name else 500.0)
            flag = " over target" if median > target else ""
            print(f"{name:28} {median:10.1f} {min(times):8.1f} {count:6}{flag}")
            results.append({"query": name, "median_ms": round(median, 2), "min_ms": round(min(times), 2), "rows": count})
        con.close()
    out = RESULTS if args.spans == 1_000_000 else RESULTS.with_name(f"store_query-{args.spans // 1_000_000}M.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "spans": args.spans, "rounds": args.rounds, "target_ms": TARGET_MS, "build": built,
        "duckdb": duckdb.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews the medians
        "results": results}, indent=2) + "\n")
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
