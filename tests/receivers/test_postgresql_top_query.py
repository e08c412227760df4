"""The postgresql receiver's ``db.server.top_query`` events against the real Debian PostgreSQL of
test_postgresql.py, started with ``pg_stat_statements`` preloaded (the module ships in the main
``postgresql`` package), compared with otelcol-ref's (v0.161.0).

Each run resets ``pg_stat_statements``, runs a known workload in the ``otelapp`` database and starts
a collector: its first collection reports each statement's totals (upstream has no baseline yet).
The golden holds that batch for the workload's database with what changes per run (query ids,
block counts, times) reduced to placeholders, and the obfuscated text and plan as upstream wrote
them (``OTELFLOW_RECORD_GOLDENS=1`` records it again from otelcol-ref). Later collections report
growth only, and explain a statement once while its cached plan lives.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncpg
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otelflow.config.model import validate
from otelflow.receivers.postgresql import Config
from otelflow.receivers.postgresql.config import TopQueryCollection
from otelflow.receivers.postgresql.plan import FAILED_SQL, PlanError, obfuscate_plan
from otelflow.receivers.postgresql.topquery import TopQueries, explainable
from tests.conformance.rig import OTELCOL_REF
from tests.process import Collector
from tests.receivers.scrape_rig import ref_has
from tests.receivers.test_postgresql import PASSWORD, USER, PostgresServer, _postgres  # noqa: F401 (fixture)
from tests.receivers.test_postgresql_events import _read

GOLDEN = Path(__file__).parent / "testdata" / "postgresql" / "top_queries.json"
RECORD = os.environ.get("OTELFLOW_RECORD_GOLDENS") == "1"
COUNT = "SELECT count(*) FROM customers WHERE name LIKE 'c1%' AND id > 3"

# (statement, arguments, times): literals as text, and one with protocol parameters
WORKLOAD = [
    (COUNT, (), 5),
    ("UPDATE customers SET name = 'x' WHERE id = 7", (), 2),
    ("SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.total > 10.5", (), 1),
    ("SELECT name FROM customers WHERE id = $1", (5,), 3),
    ("SELECT 1 FROM pg_sleep(0.2)", (), 1),
    ("SELECT pg_sleep(0.3)", (), 1),
    ("CREATE TEMP TABLE scratch AS SELECT 1 AS one", (), 1),  # not explainable: no plan
    ("INSERT INTO orders (customer_id, total) SELECT 1, 2.5 FROM generate_series(1, 3)", (), 1),
]


@pytest.fixture(scope="module")
def server():
    s = PostgresServer(settings={"shared_preload_libraries": "pg_stat_statements", "autovacuum": "off"})
    s.execute("CREATE EXTENSION pg_stat_statements", "CREATE DATABASE otelapp")
    s.execute("CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)",
              "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL, total numeric)",
              "INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 2000) g",
              "INSERT INTO orders (customer_id, total) SELECT g % 2000 + 1, g * 0.5 FROM generate_series(1, 500) g",
              "ANALYZE", database="otelapp")
    yield s
    s.stop()


async def _workload(server: PostgresServer, statements=WORKLOAD, reset: bool = True) -> None:
    conns = {}
    for database in ("postgres", "otelapp"):
        conns[database] = await asyncpg.connect(host="127.0.0.1", port=server.port, user=USER, password=PASSWORD,
                                                database=database, ssl=False, timeout=5)
    try:
        if reset:
            await conns["postgres"].execute("SELECT pg_stat_statements_reset()")
        for statement, args, times in statements:
            for _ in range(times):
                await (conns["otelapp"].fetch(statement, *args) if args else conns["otelapp"].execute(statement))
    finally:
        for conn in conns.values():
            await conn.close()


def _config(endpoint: str, out: Path, **top) -> str:
    return json.dumps({
        "receivers": {"postgresql": {"endpoint": endpoint, "username": USER, "password": PASSWORD,
                                     "tls": {"insecure": True}, "collection_interval": "1s", "initial_delay": "0s",
                                     "events": {"db.server.top_query": {"enabled": True}},
                                     "top_query_collection": {"collection_interval": "1s", **top}}},
        "exporters": {"file": {"path": str(out), "flush_interval": "100ms"}},
        "service": {"telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"logs": {"receivers": ["postgresql"], "exporters": ["file"]}}},
    })


def _records(request: ExportLogsServiceRequest) -> list[dict]:
    out = []
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for r in sl.log_records:
                attrs = {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in r.attributes}
                out.append(attrs)
    return out


def _wait(out: Path, enough, alive, log, timeout: float = 30.0) -> list[ExportLogsServiceRequest]:
    deadline = time.monotonic() + timeout
    while True:
        requests = _read(out)
        if enough(requests):
            return requests
        assert alive(), log()[-3000:]
        assert time.monotonic() < deadline, f"no top queries in {timeout}s:\n{log()[-3000:]}"
        time.sleep(0.1)


def _first(requests: list[ExportLogsServiceRequest]) -> bool:
    return bool(requests)


def run_otelcol_ref(endpoint: str, tmp: Path) -> ExportLogsServiceRequest:
    out, cfg, log = tmp / "ref.json", tmp / "ref.yaml", tmp / "ref.log"
    cfg.write_text(_config(endpoint, out))
    with open(log, "wb") as sink:
        proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(cfg)], stdout=sink, stderr=subprocess.STDOUT)
        try:
            return _wait(out, _first, lambda: proc.poll() is None, lambda: log.read_text(errors="replace"))[0]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def normalise(request: ExportLogsServiceRequest, port: int) -> dict:
    """The workload database's records (not the receiver's own EXPLAINs), per-run values as placeholders."""
    resources = [{a.key: a.value.string_value.replace(f"{socket.gethostname()}:{port}", "HOST:PORT")
                  for a in rl.resource.attributes} for rl in request.resource_logs]
    records = []
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for r in sl.log_records:
                attrs = []
                values = {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in r.attributes}
                if values["db.namespace"] != "otelapp" or values["db.query.text"].startswith("EXPLAIN"):
                    continue
                for a in r.attributes:
                    kind = a.value.WhichOneof("value")
                    value = getattr(a.value, kind)
                    if a.key == "postgresql.queryid" or a.key.startswith("postgresql.shared_blks"):
                        value = "set" if value != "" else value
                    elif a.key == "postgresql.total_exec_time":
                        value = "positive" if value > 0 else value
                    elif a.key == "postgresql.total_plan_time":
                        value = "non-negative" if value >= 0 else value
                    attrs.append([a.key, kind, value])
                records.append({"scope": sl.scope.name, "event_name": r.event_name, "time_set": r.time_unix_nano > 0,
                                "observed_time": r.observed_time_unix_nano, "trace_id": r.trace_id.hex(),
                                "severity": r.severity_number, "body": r.body.WhichOneof("value"),
                                "attributes": attrs})
    return {"resources": resources, "records": sorted(records, key=lambda x: json.dumps(x, sort_keys=True))}


async def test_top_queries_match_otelcol_ref(server: PostgresServer, tmp_path: Path):
    out = tmp_path / "otelflow.json"
    await _workload(server)
    collector = await asyncio.to_thread(Collector(_config(server.endpoint, out)).start)
    try:
        first = (await asyncio.to_thread(_wait, out, _first, lambda: collector.proc.poll() is None,
                                         collector.output))[0]
    finally:
        await asyncio.to_thread(collector.stop)
    got = normalise(first, server.port)
    if RECORD or not GOLDEN.exists():
        if not ref_has("postgresql"):
            pytest.skip("no golden and otelcol-ref has no postgresql receiver")
        await _workload(server)
        ref = await asyncio.to_thread(run_otelcol_ref, server.endpoint, tmp_path)
        GOLDEN.write_text(json.dumps(normalise(ref, server.port), indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert got == expected
    assert len(got["records"]) == len(WORKLOAD)


async def test_first_collection_reports_totals_then_growth_and_explains_once(server: PostgresServer, tmp_path: Path):
    out = tmp_path / "otelflow.json"
    await _workload(server)
    collector = await asyncio.to_thread(Collector(_config(server.endpoint, out)).start)
    try:
        requests = await asyncio.to_thread(_wait, out, _first, lambda: collector.proc.poll() is None,
                                           collector.output)
        first = {r["db.query.text"]: r for r in _records(requests[0]) if r["db.namespace"] == "otelapp"}
        count = first["SELECT count ( * ) FROM customers WHERE name LIKE ? AND id > ?"]
        assert count["postgresql.calls"] == 5 and count["postgresql.rows"] == 5
        assert count["postgresql.query_plan"].startswith('[{"Plan":{"Node Type":"Aggregate"')
        assert '"Filter":"( name ~ ~ ? )"' in count["postgresql.query_plan"]
        assert "c1%" not in count["postgresql.query_plan"] and count["postgresql.total_exec_time"] > 0
        seen = len(requests)
        for _ in range(3):  # three more runs of the statement, over several collections
            await _workload(server, [(COUNT, (), 1)], reset=False)
            await asyncio.sleep(1.1)
        requests = await asyncio.to_thread(_wait, out, lambda r: len(r) >= seen + 3,
                                           lambda: collector.proc.poll() is None, collector.output)
        await asyncio.sleep(1.5)
    finally:
        await asyncio.to_thread(collector.stop)
    later = [r for request in _read(out)[1:] for r in _records(request) if r["postgresql.queryid"] ==
             count["postgresql.queryid"]]
    assert sum(r["postgresql.calls"] for r in later) == 3
    assert all(r["postgresql.query_plan"] == count["postgresql.query_plan"] for r in later)
    # the plan cache: the statement was explained once however often it was reported
    conn = await asyncpg.connect(host="127.0.0.1", port=server.port, user=USER, password=PASSWORD,
                                 database="postgres", ssl=False, timeout=5)
    try:
        name = "otel_" + count["postgresql.queryid"].replace("-", "_")
        explains = await conn.fetchval("SELECT sum(calls) FROM pg_stat_statements WHERE query LIKE $1",
                                       f"EXPLAIN(FORMAT JSON) EXECUTE {name}%")
    finally:
        await conn.close()
    assert explains == 1


async def test_top_n_keeps_the_slowest(server: PostgresServer, tmp_path: Path):
    out = tmp_path / "otelflow.json"
    await _workload(server)
    collector = await asyncio.to_thread(Collector(_config(server.endpoint, out, top_n_query=2,
                                                          max_explain_each_interval=1)).start)
    try:
        first = (await asyncio.to_thread(_wait, out, _first, lambda: collector.proc.poll() is None,
                                         collector.output))[0]
    finally:
        await asyncio.to_thread(collector.stop)
    records = _records(first)
    assert [r["db.query.text"] for r in records] == ["SELECT pg_sleep ( ? )", "SELECT ? FROM pg_sleep ( ? )"]
    assert records[0]["postgresql.total_exec_time"] >= 0.3 > records[1]["postgresql.total_exec_time"] >= 0.2
    # one EXPLAIN a collection: the second statement waits for the next one
    assert records[0]["postgresql.query_plan"].startswith('[{"Plan":{"Node Type":"Result"')
    assert records[1]["postgresql.query_plan"] == ""


def test_config_defaults_follow_upstream():
    cfg = validate(Config, {"username": "u", "password": "p", "events": {"db.server.top_query": {"enabled": True}}},
                   "receivers::postgresql")
    top = cfg.top_query_collection
    assert cfg.events.db_server_top_query.enabled
    assert (top.max_rows_per_query, top.top_n_query, top.max_explain_each_interval, top.query_plan_cache_size,
            top.query_plan_cache_ttl, top.collection_interval) == (1000, 200, 1000, 1000, 3600.0, 60.0)


def _row(queryid: str, calls: int, exec_ms: float, **counters) -> dict:
    row = {"queryid": queryid, "query": "SELECT 1", "datname": "d", "rolname": "r", "calls": calls, "rows": calls,
           "total_exec_time": exec_ms, "total_plan_time": 0.0}
    for column in ("shared_blks_dirtied", "shared_blks_hit", "shared_blks_read", "shared_blks_written",
                   "temp_blks_read", "temp_blks_written"):
        row[column] = counters.get(column, 0)
    return row


def test_growth_between_collections():
    top = TopQueries(validate(TopQueryCollection, {"top_n_query": 2}, "top"))
    problems: list[str] = []
    first = top.rows([_row("a", 5, 50.0), _row("b", 1, 10.0), _row("c", 2, 30.0)], problems)
    assert [(i["queryid"], i["calls"], i["total_exec_time"]) for i in first] == [("a", 5, 0.05), ("c", 2, 0.03)]
    # a: grew; b: unchanged (dropped); c: went back (reset: reported as 0 growth, dropped)
    second = top.rows([_row("a", 7, 80.0), _row("b", 1, 10.0), _row("c", 1, 5.0)], problems)
    assert [(i["queryid"], i["calls"]) for i in second] == [("a", 2)]
    assert abs(second[0]["total_exec_time"] - 0.03) < 1e-12 and not problems
    assert top.due(time.time()) and (top.__setattr__("last", time.time()) or not top.due(time.time() + 30))
    assert top.due(top.last + 59.2)  # whole seconds, rounded up, as upstream


@pytest.mark.parametrize("query, ok", [
    ("SELECT 1", True), ("  -- why\n/* x */ with a as (select 1) select * from a", True), ("update t set a = 1", True),
    ("VALUES (1)", True), ("CREATE TABLE t (a int)", False), ("EXPLAIN SELECT 1", False), ("-- only", False),
    ("/* open", False), ("SELECT(1)", True),
])
def test_explainable(query: str, ok: bool):
    assert explainable(query) == ok


def test_plan_obfuscation():
    plan = """[
  {
    "Plan": {
      "Node Type": "Seq Scan",
      "Relation Name": "t",
      "Inner Unique": true,
      "Startup Cost": 0.00,
      "Sort Key": ["a DESC", "b"],
      "Filter": "((name)::text = 'secret'::text)",
      "Output": ["a", "b"],
      "Extra": {"Deep": "x", "Alias": "y"},
      "Index Cond": "(a = ANY ('{1,2}'::integer[]))"
    }
  }
]"""
    assert obfuscate_plan(plan) == (
        '[{"Plan":{"Node Type":"Seq Scan","Relation Name":"t","Inner Unique":"?","Startup Cost":0.00,'
        '"Sort Key":["a DESC","b"],"Filter":"( ( name ) :: text = ? :: text )","Output":["?","?"],'
        '"Extra":{"Deep":"?","Alias":"y"},"Index Cond":"( a = ANY ( ? :: integer [ ] ) )"}}]')
    assert obfuscate_plan('{"Filter": "SELECT \'open"}') == '{"Filter":"' + FAILED_SQL + '"}'
    for bad in ('[{"Plan": }]', '{"a": 1', '{"a": 1} x', ""):
        with pytest.raises(PlanError):
            obfuscate_plan(bad)


async def test_with_query_samples_two_workers_one_request_per_tick(server: PostgresServer, tmp_path: Path):
    """Both events: each tick one request, samples then top queries under resources of their own (as
    upstream's controller merges its two scrapers); with two workers the receiver runs once, so the
    totals are reported once."""
    out = tmp_path / "otelflow.json"
    config = json.loads(_config(server.endpoint, out))
    config["receivers"]["postgresql"]["events"]["db.server.query_sample"] = {"enabled": True}
    await _workload(server)
    collector = await asyncio.to_thread(Collector(json.dumps(config), env={"OTELFLOW_WORKERS": "2"}).start)
    try:
        requests = await asyncio.to_thread(_wait, out, lambda r: len(r) >= 3, lambda: collector.proc.poll() is None,
                                           collector.output)
    finally:
        await asyncio.to_thread(collector.stop)
    first = requests[0]
    assert len(first.resource_logs) == 2
    assert {r.event_name for r in first.resource_logs[0].scope_logs[0].log_records} == {"db.server.query_sample"}
    assert {r.event_name for r in first.resource_logs[1].scope_logs[0].log_records} == {"db.server.top_query"}
    calls = [r["postgresql.calls"] for request in _read(out) for r in _records(request)
             if r.get("db.query.text") == "SELECT count ( * ) FROM customers WHERE name LIKE ? AND id > ?"
             and "postgresql.calls" in r]
    assert sum(calls) == 5


async def test_without_the_extension_logged_once_and_samples_go_on(server: PostgresServer, tmp_path: Path):
    out = tmp_path / "otelflow.json"
    config = json.loads(_config(server.endpoint, out))
    config["receivers"]["postgresql"]["events"]["db.server.query_sample"] = {"enabled": True}
    await asyncio.to_thread(server.execute, "DROP EXTENSION pg_stat_statements")
    try:
        collector = await asyncio.to_thread(Collector(json.dumps(config)).start)
        try:
            await asyncio.to_thread(_wait, out, lambda r: len(r) >= 3, lambda: collector.proc.poll() is None,
                                    collector.output)
        finally:
            await asyncio.to_thread(collector.stop)
    finally:
        await asyncio.to_thread(server.execute, "CREATE EXTENSION pg_stat_statements")
    events = {r.event_name for request in _read(out) for rl in request.resource_logs for sl in rl.scope_logs
              for r in sl.log_records}
    assert events == {"db.server.query_sample"}
    output = collector.output()
    assert output.count('getTopQuery failed getting log rows: relation "pg_stat_statements" does not exist') == 1, \
        output[-3000:]
