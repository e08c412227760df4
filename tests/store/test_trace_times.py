"""The trace_times lookup: kept by the writer, trimmed by retention, built when an old store opens."""

from __future__ import annotations

import os
import time

import duckdb

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.store import ingest, query_traces, schema
from otelflow.store.database import DB_FILE, Retention, Store

S = 10**9


def _spans(trace_id: bytes, starts: list[int], service: str = "svc") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
    ss = rs.scope_spans.add()
    for i, start in enumerate(starts):
        ss.spans.add(trace_id=trace_id, span_id=os.urandom(8), name=f"op{i}", kind=2,
                     start_time_unix_nano=start, end_time_unix_nano=start + 1000)
    return req


def _log(trace_id: bytes, time_ns: int) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name", value=AnyValue(string_value="svc"))
    rl.scope_logs.add().log_records.add(time_unix_nano=time_ns, trace_id=trace_id, body=AnyValue(string_value="hi"))
    return req


async def test_a_trace_written_in_several_commits_is_found_whole_with_its_logs(tmp_path):
    store = Store(tmp_path, Retention(0, 0))
    await store.start()
    try:
        now = time.time_ns()
        tid, other = os.urandom(16), os.urandom(16)
        await store.write(ingest.spans(_spans(tid, [now - 100 * S, now - 99 * S])), wait=True)
        await store.write(ingest.spans(_spans(other, [now - 50 * S] * 5)), wait=True)
        # a late span and a log after it, in later commits: the lookup widens the trace's range
        await store.write(ingest.spans(_spans(tid, [now - 10 * S], service="late")), wait=True)
        await store.write(ingest.logs(_log(tid, now - 5 * S)), wait=True)
        found = await store.read(lambda c: query_traces.trace(c, trace_id=tid.hex()))
        assert [s["name"] for s in found["spans"]] == ["op0", "op1", "op0"]
        assert [s["service"] for s in found["spans"]] == ["svc", "svc", "late"]
        assert [g["body"] for g in found["logs"]] == ["hi"]
        assert await store.read(lambda c: query_traces.trace(c, trace_id=os.urandom(16).hex())) is None
        assert await store.read(lambda c: query_traces.trace(c, trace_id="not-hex")) is None
        # one lookup row per trace and commit: tid has three (two span commits, one log commit)
        keys = await store.read(lambda c: c.execute(
            "SELECT trace_key, count(*) FROM trace_times GROUP BY 1 ORDER BY 2").fetchall())
        assert keys == [(int(other.hex()[:16], 16), 1), (int(tid.hex()[:16], 16), 3)]
        summary = await store.read(lambda c: query_traces.traces(c, start_us=(now - 200 * S) // 1000,
                                                                    end_us=now // 1000, service="late"))
        assert [(t["trace_id"], t["span_count"]) for t in summary["traces"]] == [(tid.hex(), 3)]
    finally:
        await store.close()


async def test_retention_drops_lookup_rows_with_their_traces(tmp_path):
    store = Store(tmp_path, Retention(max_age=3600, max_size_bytes=0))
    await store.start()
    try:
        now = time.time_ns()
        old, new = os.urandom(16), os.urandom(16)
        await store.write(ingest.spans(_spans(old, [now - 7200 * S])), wait=True)
        await store.write(ingest.spans(_spans(new, [now - 60 * S])), wait=True)
        await store.read(lambda c: None)
        store._writer.submit(store.apply_retention).result()
        keys = await store.read(lambda c: [r[0] for r in c.execute("SELECT trace_key FROM trace_times").fetchall()])
        assert keys == [int(new.hex()[:16], 16)]
    finally:
        await store.close()


async def test_a_version_1_store_is_migrated_on_open(tmp_path):
    # a store as otelflow wrote it before trace_times: version 1, spans and logs only
    con = duckdb.connect(str(tmp_path / DB_FILE))
    con.execute("CREATE TABLE otelflow_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    for table, columns in schema.TABLES.items():
        con.execute(f"CREATE TABLE {table} ({', '.join(f'{n} {t}' for n, t in columns)})")
    con.execute("INSERT INTO otelflow_meta VALUES ('schema_version', '1')")
    tid = "ab" * 16
    con.execute("""INSERT INTO spans VALUES (?, 'cd' || 'cdcdcdcdcdcdcd', '', '', 'svc', 'op', 2, 5000, 6000, 1000, 0, '',
                   '{}', '[]', '[]', '{"service.name":"svc"}', 's', '1')""", [tid])
    con.execute("INSERT INTO logs VALUES (9000, 9000, 'svc', 9, 'INFO', 'b', '{}', '{}', 'l', ?, '', 0, '')", [tid])
    con.close()
    store = Store(tmp_path, Retention(0, 0))
    await store.start()
    try:
        version = await store.read(lambda c: c.execute(
            "SELECT value FROM otelflow_meta WHERE key = 'schema_version'").fetchone()[0])
        assert version == str(schema.SCHEMA_VERSION)
        bounds = await store.read(lambda c: c.execute("SELECT trace_key, first_ns, last_ns FROM trace_times ORDER BY 2").fetchall())
        assert bounds == [(int(tid[:16], 16), 5000, 5000), (int(tid[:16], 16), 9000, 9000)]
        found = await store.read(lambda c: query_traces.trace(c, trace_id=tid))
        assert len(found["spans"]) == 1 and len(found["logs"]) == 1
    finally:
        await store.close()


async def test_a_store_from_a_newer_otelflow_is_refused(tmp_path):
    con = duckdb.connect(str(tmp_path / DB_FILE))
    for statement in schema.ddl():
        con.execute(statement)
    con.execute("UPDATE otelflow_meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    store = Store(tmp_path, Retention(0, 0))
    try:
        await store.start()
    except Exception as exc:
        assert "schema version 99" in str(exc)
    else:
        await store.close()
        raise AssertionError("a newer store was opened")
