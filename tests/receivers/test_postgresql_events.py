"""The postgresql receiver's ``db.server.query_sample`` events against the real Debian PostgreSQL of
test_postgresql.py, compared with otelcol-ref's (v0.161.0) for the same backends.

Client sessions (asyncpg) leave their last query in ``pg_stat_activity``: plain and prepared
statements, literals of every kind, comments, JSON operators, a failed statement, one left
``idle in transaction``, one still running, one whose ``application_name`` is a W3C traceparent.
Both collectors scrape the same server in turn; their first batch of log records, with pids, ports,
times and durations reduced to placeholders, must equal the golden recorded from otelcol-ref
(``OTELFLOW_RECORD_GOLDENS=1`` records it again). Obfuscation is the part most likely to drift, so
the golden holds each obfuscated text as upstream wrote it.
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

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.pdata import otlpjson
from otelflow.receivers.postgresql import Config
from otelflow.receivers.postgresql.events import parse_traceparent
from otelflow.receivers.postgresql.obfuscate import ObfuscationError, obfuscate_sql
from tests.conformance.rig import OTELCOL_REF
from tests.process import Collector
from tests.receivers.scrape_rig import ref_has
from tests.receivers.test_postgresql import PASSWORD, USER, PostgresServer, _postgres  # noqa: F401 (fixture)

GOLDEN = Path(__file__).parent / "testdata" / "postgresql" / "query_samples.json"
RECORD = os.environ.get("OTELFLOW_RECORD_GOLDENS") == "1"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

# (application_name, statement, arguments): each session's last statement is what gets sampled
SESSIONS = [
    ("where-in", "SELECT name FROM customers WHERE id = 42 AND name = 'bob' OR id IN (1, 2, 3)", ()),
    (TRACEPARENT, "UPDATE customers SET name = 'o''brien' WHERE id = -5 /* fix */", ()),
    ("prepared", "SELECT id, name FROM customers WHERE id = $1 AND name <> $2", (7, "x")),
    ("literals", "SELECT 1.5e3, .5, -2, TRUE, NULL, $$dollar body$$, E'it\\'s', 'c' || '%' -- tail", ()),
    ("json", "SELECT d->>'k', d #> '{a}', d @> '{}' FROM (SELECT '{\"k\": 1}'::jsonb AS d) t WHERE d ? 'k'", ()),
    ("insert-many", "INSERT INTO customers (name) VALUES ('a'), ('b'), ('c') RETURNING id", ()),
    ("cte", "WITH x AS (SELECT 1 AS a) SELECT a::text AS t FROM x WHERE a BETWEEN 0 AND 9", ()),
    ("failed", "SELECT 1 }", ()),
    ("in-tx", "BEGIN; SELECT count(*) FROM customers WHERE name LIKE 'c%'", ()),
]


@pytest.fixture(scope="module")
def server():
    s = PostgresServer()
    s.execute("CREATE DATABASE otelapp")
    s.execute("CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)",
              "INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 20) g", database="otelapp")
    yield s
    s.stop()


def _connect(server: PostgresServer, application: str, database: str = "otelapp"):
    return asyncpg.connect(host="127.0.0.1", port=server.port, user=USER, password=PASSWORD, database=database,
                           ssl=False, timeout=5, server_settings={"application_name": application})


class Sessions:
    """The client backends of one run; any left from an earlier run are ended first."""

    def __init__(self, server: PostgresServer):
        self.server = server
        self.conns: list[asyncpg.Connection] = []
        self.sleeping: asyncio.Task | None = None

    async def __aenter__(self) -> "Sessions":
        admin = await _connect(self.server, "admin", "postgres")
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
        await admin.close()
        for application, statement, args in SESSIONS:
            conn = await _connect(self.server, application)
            try:
                await (conn.fetch(statement, *args) if args else conn.execute(statement))
            except asyncpg.PostgresError:
                pass  # a failed statement is still the backend's last query
            self.conns.append(conn)
        sleeper = await _connect(self.server, "sleeper")
        self.conns.append(sleeper)
        self.sleeping = asyncio.ensure_future(sleeper.execute("SELECT pg_sleep(60), 'running'"))
        await asyncio.sleep(0.2)
        return self

    async def __aexit__(self, *exc) -> None:
        if self.sleeping is not None:
            self.sleeping.cancel()
        for conn in self.conns:
            conn.terminate()


def _config(endpoint: str, out: Path, **receiver) -> str:
    return json.dumps({
        "receivers": {"postgresql": {"endpoint": endpoint, "username": USER, "password": PASSWORD,
                                     "tls": {"insecure": True}, "collection_interval": "1s", "initial_delay": "0s",
                                     "events": {"db.server.query_sample": {"enabled": True}}, **receiver}},
        "exporters": {"file": {"path": str(out), "flush_interval": "100ms"}},
        "service": {"telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"logs": {"receivers": ["postgresql"], "exporters": ["file"]}}},
    })


def _read(out: Path) -> list[ExportLogsServiceRequest]:
    if not out.exists():
        return []
    lines = out.read_text().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    return [otlpjson.decode(line.encode(), ExportLogsServiceRequest) for line in lines if line.strip()]


def _wait_first(out: Path, alive, log, timeout: float = 30.0) -> ExportLogsServiceRequest:
    deadline = time.monotonic() + timeout
    while True:
        requests = _read(out)
        if requests:
            return requests[0]
        assert alive(), log()[-3000:]
        assert time.monotonic() < deadline, f"no query samples in {timeout}s:\n{log()[-3000:]}"
        time.sleep(0.1)


def run_otelflow(endpoint: str, tmp: Path, env: dict | None = None) -> tuple[ExportLogsServiceRequest, Collector]:
    out = tmp / "otelflow.json"
    collector = Collector(_config(endpoint, out), env=env).start()
    try:
        return _wait_first(out, lambda: collector.proc.poll() is None, collector.output), collector
    finally:
        collector.stop()


def run_otelcol_ref(endpoint: str, tmp: Path) -> ExportLogsServiceRequest:
    out, cfg, log = tmp / "ref.json", tmp / "ref.yaml", tmp / "ref.log"
    cfg.write_text(_config(endpoint, out))
    with open(log, "wb") as sink:
        proc = subprocess.Popen([str(OTELCOL_REF), "--config", str(cfg)], stdout=sink, stderr=subprocess.STDOUT)
        try:
            return _wait_first(out, lambda: proc.poll() is None, lambda: log.read_text(errors="replace"))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def normalise(request: ExportLogsServiceRequest, port: int) -> dict:
    """Resource and scope name kept; per record the attributes with what changes per run as placeholders."""
    assert len(request.resource_logs) == 1
    rl = request.resource_logs[0]
    resource = {a.key: a.value.string_value.replace(f"{socket.gethostname()}:{port}", "HOST:PORT")
                for a in rl.resource.attributes}
    records = []
    for sl in rl.scope_logs:
        for r in sl.log_records:
            attrs = []
            for a in r.attributes:
                kind = a.value.WhichOneof("value")
                value = getattr(a.value, kind)
                if a.key in ("postgresql.pid", "network.peer.port"):
                    value = "positive" if value > 0 else value
                elif a.key == "postgresql.query_start":
                    value = "timestamp" if value else value
                elif a.key == "postgresql.total_exec_time":
                    value = "non-negative" if value >= 0 else value
                attrs.append([a.key, kind, value])
            records.append({"scope": sl.scope.name, "event_name": r.event_name, "time_set": r.time_unix_nano > 0,
                            "observed_time": r.observed_time_unix_nano, "trace_id": r.trace_id.hex(),
                            "span_id": r.span_id.hex(), "flags": r.flags, "severity": r.severity_number,
                            "body": r.body.WhichOneof("value"), "attributes": attrs})
    return {"resource": resource, "records": sorted(records, key=lambda x: json.dumps(x, sort_keys=True))}


async def test_query_samples_match_otelcol_ref(server: PostgresServer, tmp_path: Path):
    async with Sessions(server):
        first, _ = await asyncio.to_thread(run_otelflow, server.endpoint, tmp_path)
    got = normalise(first, server.port)
    if RECORD or not GOLDEN.exists():
        if not ref_has("postgresql"):
            pytest.skip("no golden and otelcol-ref has no postgresql receiver")
        async with Sessions(server):
            ref = await asyncio.to_thread(run_otelcol_ref, server.endpoint, tmp_path)
        GOLDEN.write_text(json.dumps(normalise(ref, server.port), indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert got == expected


async def test_two_workers_sample_once(server: PostgresServer, tmp_path: Path):
    """The receiver runs in worker 0 only: an idle backend's statement is reported once in all."""
    out = tmp_path / "otelflow.json"
    async with Sessions(server):
        collector = await asyncio.to_thread(Collector(_config(server.endpoint, out), env={"OTELFLOW_WORKERS": "2"}).start)
        try:
            deadline = time.monotonic() + 30
            while len(_read(out)) < 3:
                assert collector.proc.poll() is None and time.monotonic() < deadline, collector.output()[-3000:]
                await asyncio.sleep(0.1)
        finally:
            await asyncio.to_thread(collector.stop)
    requests = _read(out)
    assert normalise(requests[0], server.port) == json.loads(GOLDEN.read_text())
    apps = [a.value.string_value for r in requests for rl in r.resource_logs for sl in rl.scope_logs
            for lr in sl.log_records for a in lr.attributes if a.key == "postgresql.application_name"]
    assert apps.count("where-in") == 1 and apps.count("sleeper") == len(requests)


async def test_an_idle_backend_is_sampled_once_a_running_one_every_tick(server: PostgresServer, tmp_path: Path):
    out = tmp_path / "otelflow.json"
    async with Sessions(server):
        collector = await asyncio.to_thread(Collector(_config(server.endpoint, out)).start)
        try:
            deadline = time.monotonic() + 30
            while len(_read(out)) < 3:
                assert collector.proc.poll() is None and time.monotonic() < deadline, collector.output()[-3000:]
                await asyncio.sleep(0.1)
        finally:
            await asyncio.to_thread(collector.stop)
    by_tick = []
    for request in _read(out)[:3]:
        apps = {}
        for r in request.resource_logs[0].scope_logs[0].log_records:
            attrs = {a.key: a.value for a in r.attributes}
            apps[attrs["postgresql.application_name"].string_value] = attrs["postgresql.total_exec_time"].double_value
        by_tick.append(apps)
    assert {"where-in", "failed", "in-tx", "sleeper"} <= set(by_tick[0])
    for later in by_tick[1:]:
        # idle in transaction is not "idle": it stays; the sleeper's duration grows
        assert "where-in" not in later and "failed" not in later and "in-tx" in later and "sleeper" in later
    assert by_tick[0]["sleeper"] < by_tick[1]["sleeper"] < by_tick[2]["sleeper"]


async def test_refused_login_is_logged_once_and_the_collector_keeps_serving(server: PostgresServer, tmp_path: Path):
    good_out, bad = tmp_path / "good.json", tmp_path / "bad.json"
    config = json.loads(_config(server.endpoint, good_out))
    config["receivers"]["postgresql/bad"] = {**config["receivers"]["postgresql"], "password": "wrong"}
    config["exporters"]["file/bad"] = {"path": str(bad)}
    config["service"]["pipelines"]["logs/bad"] = {"receivers": ["postgresql/bad"], "exporters": ["file/bad"]}
    async with Sessions(server):
        collector = await asyncio.to_thread(Collector(json.dumps(config)).start)
        try:
            deadline = time.monotonic() + 30
            while len(_read(good_out)) < 3:
                assert collector.proc.poll() is None and time.monotonic() < deadline, collector.output()[-3000:]
                await asyncio.sleep(0.1)
        finally:
            await asyncio.to_thread(collector.stop)
    output = collector.output()
    assert output.count("password authentication failed") == 1, output[-3000:]
    assert not bad.exists() or not _read(bad)


def test_config_follows_upstream():
    cfg = validate(Config, {"username": "u", "password": "p", "events": {"db.server.query_sample": {"enabled": True}}},
                   "receivers::postgresql")
    assert cfg.events.db_server_query_sample.enabled and cfg.query_sample_collection.max_rows_per_query == 1000
    with pytest.raises(ConfigError):
        validate(Config, {"username": "u", "password": "p", "query_sample_collection": {"max_rows": 1}},
                 "receivers::postgresql")


@pytest.mark.parametrize("query, text", [
    ("select * from t where a = 'x' and b in (1, 2, 3)", "select * from t where a = ? and b in ( ? )"),
    ("INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO t VALUES ( ? )"),
    ("SELECT a AS b FROM t -- why\n", "SELECT a AS b FROM t"),
    ("SELECT x::int, y ->> 'k' FROM t;", "SELECT x :: int, y ->> ? FROM t"),
    ("SELECT $1, $2", "SELECT ?"),
    ("SELECT $tag$ body $tag$", "SELECT ?"),
    ("SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = 1)", "SELECT * FROM t WHERE a IN ( SELECT b FROM u WHERE c = ? )"),
])
def test_obfuscation(query: str, text: str):
    assert obfuscate_sql(query) == text


@pytest.mark.parametrize("query", ["SELECT 'open", "/* open", "SELECT 1 }", "   "])
def test_obfuscation_refuses_what_it_cannot_read(query: str):
    with pytest.raises(ObfuscationError):
        obfuscate_sql(query)


@pytest.mark.parametrize("value, ok", [
    (TRACEPARENT, True),
    ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", False),  # version 0 allows nothing more
    ("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-09-extra", True),
    ("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", False),
    ("00-00000000000000000000000000000000-b7ad6b7169203331-01", False),
    ("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", False),
    ("billing", False),
])
def test_traceparent(value: str, ok: bool):
    assert (parse_traceparent(value) is not None) == ok
