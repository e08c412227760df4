"""The ``postgresql`` receiver against a private Debian PostgreSQL 15 (scripts/install-postgresql.sh),
its output compared with otelcol-ref's (v0.148.0 postgresqlreceiver) for the same server.

The server is our own ``initdb`` + ``postgres``, run as the package's ``postgres`` user (postgres
refuses root) in a temp dir on a free loopback port: trust over the socket, scram-sha-256 over TCP.
The golden holds the shape of one scrape (names, units, types, data point attribute value sets, and
per metric the set of resources with database/table/index names) and the values that do not move
(database and table counts, max connections, the test tables' operations, sizes, scans
and function calls). ``OTELFLOW_RECORD_GOLDENS=1`` records it again.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import pytest

from otelflow.receivers.postgresql import Config
from otelflow.receivers.postgresql.client import filter_by_databases
from tests.backends import free_port
from tests.process import Collector
from tests.receivers.scrape_rig import config, metric_names, read, ref_has, run_otelcol_ref, run_otelflow, shape
from tests.system import require_program

GOLDEN = Path(__file__).parent / "testdata" / "postgresql" / "golden.json"
RECORD = os.environ.get("OTELFLOW_RECORD_GOLDENS") == "1"
BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), Path("/nonexistent"))
USER, PASSWORD = "otel", "s3cret"
VALUE_KEYS = ("state", "operation", "source", "type", "function")
RESOURCE_KEYS = ("postgresql.database.name", "postgresql.table.name", "postgresql.index.name",
                 "postgresql.schema.name", "service.instance.id")
STABLE = ("postgresql.table.count", "postgresql.database.count", "postgresql.connection.max",
          # the test database's own tables: nothing touches them after the fixture
          "postgresql.operations", "postgresql.table.size", "postgresql.index.size", "postgresql.index.scans",
          "postgresql.sequential_scans", "postgresql.function.calls", "postgresql.table.vacuum.count")
OPTIONAL = ("postgresql.blks_hit", "postgresql.blks_read", "postgresql.deadlocks", "postgresql.sequential_scans",
            "postgresql.temp.io", "postgresql.temp_files", "postgresql.tup_deleted", "postgresql.tup_fetched",
            "postgresql.tup_inserted", "postgresql.tup_returned", "postgresql.tup_updated",
            "postgresql.function.calls", "postgresql.database.locks")

@pytest.fixture(autouse=True, scope="module")
def _postgres():
    require_program(str(BIN / "postgres"), "scripts/install-postgresql.sh")


class PostgresServer:
    """initdb + postgres of our own, as the ``postgres`` user: loopback, a free port, its own dir."""

    def __init__(self, tls: bool = False, settings: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="otelflow-pg-"))
        owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []} if owner else {}
        if owner:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if owner:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        subprocess.run([str(BIN / "initdb"), "-D", str(self.dir / "data"), "-U", USER, f"--pwfile={pwfile}",
                        "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8"],
                       check=True, capture_output=True, cwd=self.dir, **run_as)
        ssl_args: list[str] = []
        if tls:  # a self-signed certificate for 127.0.0.1, kept by the server's user
            self.cert = self.dir / "cert.pem"
            key = self.dir / "key.pem"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                            "-out", str(self.cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
            os.chmod(key, 0o600)
            if owner:
                for f in (self.cert, key):
                    os.chown(f, owner.pw_uid, owner.pw_gid)
            ssl_args = ["-c", "ssl=on", "-c", f"ssl_cert_file={self.cert}", "-c", f"ssl_key_file={key}"]
        for name, value in (settings or {}).items():  # e.g. shared_preload_libraries=pg_stat_statements
            ssl_args += ["-c", f"{name}={value}"]
        self.log = open(self.dir / "postgres.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "postgres"), "-D", str(self.dir / "data"), "-p", str(self.port), "-k", str(self.dir),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "track_functions=all",
             "-c", "max_connections=40", "-c", "shared_buffers=16MB", *ssl_args],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir, **run_as)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.execute("SELECT 1")
                break
            except (OSError, asyncpg.CannotConnectNowError):
                assert self.proc.poll() is None and time.monotonic() < deadline, \
                    (self.dir / "postgres.log").read_text(errors="replace")[-2000:]
                time.sleep(0.1)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def execute(self, *statements: str, database: str = "postgres") -> None:
        async def run() -> None:
            conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                                         database=database, ssl=False, timeout=5)
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()
        asyncio.run(run())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    s = PostgresServer()
    s.execute("CREATE DATABASE otelapp")
    s.execute(
        "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)",
        "CREATE SCHEMA shop",
        "CREATE TABLE shop.orders (id serial PRIMARY KEY, customer_id int NOT NULL, total numeric)",
        "CREATE INDEX orders_customer_idx ON shop.orders (customer_id)",
        "INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 50) g",
        "INSERT INTO shop.orders (customer_id, total) SELECT g % 50 + 1, g * 1.5 FROM generate_series(1, 200) g",
        "DELETE FROM shop.orders WHERE id > 190",
        "CREATE FUNCTION shop.order_count() RETURNS bigint LANGUAGE plpgsql AS "
        "$$ BEGIN RETURN (SELECT count(*) FROM shop.orders); END $$",
        "SELECT shop.order_count()",
        "SELECT count(*) FROM customers WHERE id = 7",
        database="otelapp")
    yield s
    s.stop()


def _receivers(endpoint: str, interval: str = "1h", **extra) -> dict:
    return {"postgresql": {"endpoint": endpoint, "username": USER, "password": PASSWORD, "tls": {"insecure": True},
                           "collection_interval": interval, "initial_delay": "0s",
                           "metrics": {name: {"enabled": True} for name in OPTIONAL}, **extra}}


def _scraped(requests) -> bool:
    return any("postgresql.database.count" in metric_names(r) for r in requests)


def _resources(request) -> dict[str, list[str]]:
    """Per metric, every resource it came on (the per-table and per-index resources vary in order)."""
    out: dict[str, set[str]] = {}
    for rm in request.resource_metrics:
        res = {a.key: a.value.string_value for a in rm.resource.attributes}
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, set()).add(json.dumps(res, sort_keys=True))
    return {name: sorted(v) for name, v in out.items()}


def _normalised(requests, port: int) -> dict:
    first = next(r for r in requests if "postgresql.database.count" in metric_names(r))
    got = shape([first], VALUE_KEYS, resource_value_keys=RESOURCE_KEYS, stable=STABLE)
    for name, resources in _resources(first).items():
        got[name]["resource"] = resources
    text = json.dumps(got).replace(f"{socket.gethostname()}:{port}", "HOST:PORT")
    return json.loads(text)


def test_output_matches_otelcol_ref(server: PostgresServer, tmp_path: Path):
    requests, _ = run_otelflow(_receivers(server.endpoint), tmp_path, _scraped)
    got = _normalised(requests, server.port)
    if RECORD or not GOLDEN.exists():
        if not ref_has("postgresql"):
            pytest.skip("no golden and otelcol-ref has no postgresql receiver")
        ref, _ = run_otelcol_ref(_receivers(server.endpoint), tmp_path, _scraped)
        GOLDEN.write_text(json.dumps(_normalised(ref, server.port), indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert got == expected


def test_values_follow_the_server(server: PostgresServer, tmp_path: Path):
    """Values read back from the views the receiver queries (sizes and row counts of our tables)."""
    requests, _ = run_otelflow(_receivers(server.endpoint, databases=["otelapp"]), tmp_path, _scraped)
    first = next(r for r in requests if "postgresql.database.count" in metric_names(r))
    points: dict[tuple, int] = {}
    for rm in first.resource_metrics:
        res = {a.key: a.value.string_value for a in rm.resource.attributes}
        for m in rm.scope_metrics[0].metrics:
            body = getattr(m, m.WhichOneof("data"))
            for dp in body.data_points:
                attrs = tuple(sorted((a.key, a.value.string_value) for a in dp.attributes))
                points[(m.name, res.get("postgresql.table.name", ""), res.get("postgresql.index.name", ""), attrs)] = (
                    dp.as_int if dp.HasField("as_int") else dp.as_double)
    assert points[("postgresql.database.count", "", "", ())] == 1
    assert points[("postgresql.table.count", "", "", ())] == 2
    assert points[("postgresql.operations", "shop.orders", "", (("operation", "ins"),))] == 200
    assert points[("postgresql.operations", "shop.orders", "", (("operation", "del"),))] == 10
    assert points[("postgresql.function.calls", "", "", (("function", "order_count"),))] == 1
    assert points[("postgresql.connection.max", "", "", ())] == 40
    assert points[("postgresql.table.size", "public.customers", "", ())] == 8192
    assert points[("postgresql.index.size", "orders", "orders_customer_idx", ())] >= 8192
    assert points[("postgresql.index.scans", "customers", "customers_pkey", ())] >= 1


def test_refused_login_and_missing_database_are_logged_once_and_the_rest_keeps_serving(server: PostgresServer,
                                                                                     tmp_path: Path):
    """A wrong password fails every scrape of that receiver; a database that does not exist is a partial
    error (the other database's metrics still go out). Each is logged once; the good receiver delivers."""
    receivers = {**_receivers(server.endpoint, "400ms", databases=["otelapp"]),
                 "postgresql/locked": {"endpoint": server.endpoint, "username": USER, "password": "wrong",
                                       "tls": {"insecure": True}, "collection_interval": "400ms",
                                       "initial_delay": "0s"},
                 "postgresql/missing": {"endpoint": server.endpoint, "username": USER, "password": PASSWORD,
                                        "tls": {"insecure": True}, "collection_interval": "400ms",
                                        "initial_delay": "0s", "databases": ["otelapp", "nope"]}}

    def six(requests) -> bool:  # three ticks of the two receivers that deliver
        return sum("postgresql.database.count" in metric_names(r) for r in requests) >= 6

    requests, log = run_otelflow(receivers, tmp_path, six, timeout=30)
    errors = [line for line in log.splitlines() if "Error scraping metrics (scraper postgresql)" in line]
    assert len(errors) == 1, log
    assert 'password authentication failed for user "otel"' in errors[0]
    partial = [line for line in log.splitlines() if "Error scraping metrics (scraper postgresql, partial)" in line]
    assert len(partial) == 1 and 'database "nope" does not exist' in partial[0], log
    names = {a.value.string_value for r in requests for rm in r.resource_metrics for a in rm.resource.attributes
             if a.key == "postgresql.database.name"}
    assert names == {"otelapp"}

def test_unreachable_server_is_bounded_and_keeps_retrying(tmp_path: Path):
    """Nothing listens: each scrape fails at once (refused), the collector stays up and keeps trying."""
    port = free_port()
    receivers = {"postgresql": {"endpoint": f"127.0.0.1:{port}", "username": USER, "password": PASSWORD,
                                "collection_interval": "300ms", "initial_delay": "0s"}}
    collector = Collector(config(receivers, tmp_path / "out.json")).start()
    try:
        time.sleep(2)
        assert collector.proc.poll() is None
        log = collector.output()
    finally:
        collector.stop()
    assert log.count("Error scraping metrics (scraper postgresql)") == 1, log


def test_config_follows_upstream():
    cfg = Config.model_validate({"username": "u", "password": "p"})
    assert cfg.endpoint == "localhost:5432" and cfg.collection_interval == 10
    assert not cfg.tls.insecure and cfg.tls.insecure_skip_verify  # upstream: sslmode=require by default
    with pytest.raises(ValueError, match="missing username.*missing password"):
        Config.model_validate({})
    with pytest.raises(ValueError, match="'transport' must be 'tcp' or 'unix'"):
        Config.model_validate({"username": "u", "password": "p", "transport": "udp"})
    with pytest.raises(ValueError, match="must be in the form <host>:<port>"):
        Config.model_validate({"username": "u", "password": "p", "endpoint": "localhost"})
    assert filter_by_databases("SELECT a FROM t", ["x", "o'k"], True) == \
        "SELECT a FROM t WHERE datname IN ('x','o''k') GROUP BY datname;"


def test_unix_socket_transport(server: PostgresServer, tmp_path: Path):
    """transport: unix takes <socket dir>:<port> (trust login over the socket here)."""
    receivers = _receivers(f"{server.dir}:{server.port}", databases=["otelapp"], transport="unix")
    requests, _ = run_otelflow(receivers, tmp_path, _scraped)
    assert any("postgresql.table.size" in metric_names(r) for r in requests)


def test_server_that_never_answers_is_bounded_by_the_timeout(tmp_path: Path):
    """A listener that accepts and stays silent: each scrape ends at `timeout`, logged once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    receivers = {"postgresql": {"endpoint": f"127.0.0.1:{port}", "username": USER, "password": PASSWORD,
                                "tls": {"insecure": True}, "collection_interval": "300ms", "timeout": "500ms",
                                "initial_delay": "0s"}}
    collector = Collector(config(receivers, tmp_path / "out.json")).start()
    try:
        time.sleep(2.5)
        assert collector.proc.poll() is None
        log = collector.output()
    finally:
        collector.stop()
        listener.close()
    errors = [line for line in log.splitlines() if "Error scraping metrics (scraper postgresql)" in line]
    assert len(errors) == 1 and ("deadline" in errors[0] or "timeout" in errors[0].lower()), log


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl missing")
def test_tls_modes_against_an_ssl_server(server: PostgresServer, tmp_path: Path):
    """Upstream's default (require, no verification) and verify-full with the CA log in; verify-full
    without the CA fails, logged once; the default against a server without SSL fails too."""
    secure = PostgresServer(tls=True)
    try:
        base = {"username": USER, "password": PASSWORD, "collection_interval": "1h", "initial_delay": "0s",
                "databases": ["postgres"]}
        receivers = {"postgresql": {"endpoint": secure.endpoint, **base},
                     "postgresql/verified": {"endpoint": secure.endpoint, **base,
                                             "tls": {"insecure_skip_verify": False, "ca_file": str(secure.cert)}},
                     "postgresql/untrusted": {"endpoint": secure.endpoint, **base,
                                              "tls": {"insecure_skip_verify": False}},
                     "postgresql/plain": {"endpoint": server.endpoint, **base}}

        def two(requests) -> bool:
            return sum("postgresql.database.count" in metric_names(r) for r in requests) >= 2

        requests, log = run_otelflow(receivers, tmp_path, two, stop_after=lambda c: time.sleep(1))
    finally:
        secure.stop()
    assert sum("postgresql.database.count" in metric_names(r) for r in requests) == 2
    errors = [line for line in log.splitlines() if "Error scraping metrics (scraper postgresql)" in line]
    assert len(errors) == 2, log
    assert any("CERTIFICATE_VERIFY_FAILED" in e for e in errors), log
    assert any("SSL" in e and "CERTIFICATE" not in e for e in errors), log


def test_connections_killed_by_the_server_are_made_again(server: PostgresServer, tmp_path: Path):
    """pg_terminate_backend on the receiver's kept connections: a later scrape reconnects and delivers."""
    receivers = _receivers(server.endpoint, "300ms", databases=["otelapp"])
    killed = {"at": 0}

    def kill_then_two_more(requests) -> bool:
        scrapes = sum("postgresql.database.count" in metric_names(r) for r in requests)
        if scrapes >= 1 and not killed["at"]:
            server.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'otelflow'")
            killed["at"] = scrapes
        return bool(killed["at"]) and scrapes >= killed["at"] + 2

    requests, log = run_otelflow(receivers, tmp_path, kill_then_two_more, timeout=30)
    assert killed["at"], log
    assert sum("postgresql.table.size" in metric_names(r) for r in requests) >= killed["at"] + 2


def test_separate_schema_attr_gate(server: PostgresServer):
    """With receiver.postgresql.separateSchemaAttr on, the schema is its own resource attribute."""
    from otelflow.core.component import ComponentID, Kind, Settings, Signal
    from otelflow.core.telemetry import Telemetry
    from otelflow.receivers.postgresql.receiver import SEPARATE_SCHEMA_ATTR, PostgresqlReceiver

    cfg = Config.model_validate(_receivers(server.endpoint, databases=["otelapp"])["postgresql"])
    before = SEPARATE_SCHEMA_ATTR.enabled
    SEPARATE_SCHEMA_ATTR.enabled = True
    try:
        receiver = PostgresqlReceiver(Settings(ComponentID("postgresql"), Kind.RECEIVER, Telemetry()), cfg,
                                      {Signal.METRICS: None})
    finally:
        SEPARATE_SCHEMA_ATTR.enabled = before

    async def one_scrape():
        await receiver.start_scraper(None)
        try:
            return await receiver.scrape()
        finally:
            await receiver.close_scraper()

    resources = {tuple(sorted((a.key, a.value.string_value) for a in rm.resource.attributes
                              if a.key != "service.instance.id"))
                 for rm in asyncio.run(one_scrape())}
    assert (("postgresql.database.name", "otelapp"), ("postgresql.schema.name", "shop"),
            ("postgresql.table.name", "orders")) in resources
    assert (("postgresql.database.name", "otelapp"), ("postgresql.index.name", "orders_customer_idx"),
            ("postgresql.schema.name", "shop"), ("postgresql.table.name", "orders")) in resources
    assert (("postgresql.database.name", "otelapp"), ("postgresql.schema.name", "shop")) in resources  # function


def test_two_workers_scrape_once(server: PostgresServer, tmp_path: Path):
    """one_instance: with two workers only worker 0 scrapes, so each tick is one scrape, not two."""
    run_otelflow(_receivers(server.endpoint, databases=["otelapp"]), tmp_path, _scraped,
                 stop_after=lambda c: time.sleep(2), env={"OTELFLOW_WORKERS": "2"})
    assert sum("postgresql.database.count" in metric_names(r) for r in read(tmp_path / "otelflow.json")) == 1
