"""The ``postgresql`` scraper: upstream's statistics queries turned into its ``postgresql.*`` metrics.

One scrape, in upstream's order: the database list and the per-database activity, size and
statistics (over the ``postgres`` database's connection), then per database its tables (one
resource each), the database resource itself, its indexes (one resource each) and functions, and
last the instance-wide metrics (database count, bgwriter, WAL age, replication, max connections,
locks) on a resource holding only ``service.instance.id``.

Connections are kept per database between scrapes, as upstream's connection pool (its default), and
dropped when they break so the next tick reconnects. A failure to reach or log in to the ``postgres``
database fails the scrape (counted and logged once per distinct error by the controller); a query
that fails inside a scrape is a partial error: the rest is still sent, and that error is logged once
until it stops happening.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from typing import Any

from otelflow.core import featuregates
from otelflow.core.component import Host
from otelflow.receivers.postgresql.client import DEFAULT_DATABASE, Client, NoLastArchive, ssl_argument
from otelflow.receivers.postgresql.config import Config
from otelflow.receivers.postgresql.metadata import METADATA
from otelflow.receivers.scraperhelper import ScraperReceiver, new_builder

SEPARATE_SCHEMA_ATTR = featuregates.REGISTRY.register(
    "receiver.postgresql.separateSchemaAttr", featuregates.ALPHA,
    "Moves Schema Names into dedicated Attribute")
README = "https://github.com/open-telemetry/opentelemetry-collector-contrib/blob/v0.88.0/receiver/postgresqlreceiver/README.md"
CONNECT_TIMEOUT = 15.0  # lib/pq has none (the scrape's context bounds it); asyncpg needs one

BGWRITER_SOURCES = (("bg_writes", "bgwriter"), ("backend_writes", "backend"),
                    ("buffers_checkpoints", "checkpoints"), ("buffers_written_fsync", "backend_fsync"))
BLOCK_SOURCES = ("heap_read", "heap_hit", "idx_read", "idx_hit", "toast_hit", "toast_read", "tidx_read", "tidx_hit")
DB_STATS = (("postgresql.commits", "xact_commit"), ("postgresql.rollbacks", "xact_rollback"),
            ("postgresql.deadlocks", "deadlocks"), ("postgresql.temp_files", "temp_files"),
            ("postgresql.temp.io", "temp_bytes"), ("postgresql.tup_updated", "tup_updated"),
            ("postgresql.tup_returned", "tup_returned"), ("postgresql.tup_fetched", "tup_fetched"),
            ("postgresql.tup_inserted", "tup_inserted"), ("postgresql.tup_deleted", "tup_deleted"),
            ("postgresql.blks_hit", "blks_hit"), ("postgresql.blks_read", "blks_read"))


def split_host_port(endpoint: str) -> tuple[str, str]:
    host, _, port = endpoint.rpartition(":")
    return (host[1:-1] if host.startswith("[") else host), port


def instance_id(endpoint: str) -> str:
    """``service.instance.id``: host:port, with a loopback host replaced by this machine's name."""
    host, port = split_host_port(endpoint)
    if not port:
        return "unknown:5432"
    if host.lower() == "localhost" or _is_loopback(host):
        host = socket.gethostname() or host
    return f"{host}:{port}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PostgresqlReceiver(ScraperReceiver):
    scraper_name = "postgresql"

    def __init__(self, settings, config: Config, consumers):
        super().__init__(settings, config, consumers)
        self.mb = new_builder("postgresql", config, METADATA, settings)
        self.instance = instance_id(config.endpoint)
        host, port = split_host_port(config.endpoint)
        self.host = "/" + host if config.transport == "unix" else host  # a socket directory, as lib/pq's host=/dir
        self.port = int(port)
        self.excludes = set(config.exclude_databases)
        self.separate_schema = SEPARATE_SCHEMA_ATTR.enabled
        self.clients: dict[str, Client] = {}
        self._partial_logged: set[str] = set()
        self._ssl: Any = False

    async def start_scraper(self, host: Host) -> None:
        if not self.separate_schema:
            self.log.warning("Feature gate %s is not enabled. Please see the README for more information: %s",
                             SEPARATE_SCHEMA_ATTR.id, README)
        self._ssl = await asyncio.to_thread(ssl_argument, self.config.tls)  # reads CA/cert files

    async def close_scraper(self) -> None:
        clients, self.clients = self.clients, {}
        for client in clients.values():
            await client.close()

    async def _client(self, database: str) -> Client:
        client = self.clients.get(database)
        if client is not None and not client.closed:
            return client
        cfg = self.config
        timeout = cfg.timeout if cfg.timeout > 0 else CONNECT_TIMEOUT
        client = await Client.connect(host=self.host, port=self.port, user=cfg.username, password=cfg.password,
                                      database=database, ssl_arg=self._ssl, timeout=timeout)
        self.clients[database] = client
        return client

    async def _drop_broken(self) -> None:
        for name, client in list(self.clients.items()):
            if client.closed:
                del self.clients[name]

    async def scrape(self):
        errors: list[str] = []
        try:
            return await self._scrape(errors)
        except BaseException:
            self.mb.out = []
            await self._drop_broken()
            raise
        finally:
            self._report_partial(errors)

    def _report_partial(self, errors: list[str]) -> None:
        """Partial errors: counted each time, each distinct one logged until a scrape is free of it."""
        for message in errors:
            self.settings.telemetry.add("otelcol_scraper_errored_metric_points", 1,
                                        receiver=str(self.settings.id), scraper=self.scraper_name)
            if message not in self._partial_logged:
                self.log.error("Error scraping metrics (scraper %s, partial): %s", self.scraper_name, message)
        self._partial_logged = set(errors)

    async def _try(self, errors: list[str], call, *args, default=None):
        try:
            return await call(*args)
        except NoLastArchive:
            raise
        except (OSError, asyncio.TimeoutError):
            raise
        except Exception as exc:
            errors.append(str(exc) or type(exc).__name__)
            return default

    async def _scrape(self, errors: list[str]):
        cfg = self.config
        listing = await self._client(DEFAULT_DATABASE)
        databases = list(cfg.databases) or await listing.list_databases()
        databases = [db for db in databases if db not in self.excludes]
        now = time.time_ns()
        backends = await self._try(errors, listing.backends, databases, default={})
        sizes = await self._try(errors, listing.database_sizes, databases, default={})
        stats = await self._try(errors, listing.database_stats, databases, default={})
        for stale in set(self.clients) - set(databases) - {DEFAULT_DATABASE}:
            await self.clients.pop(stale).close()

        for database in databases:
            try:
                client = await self._client(database)
            except Exception as exc:
                errors.append(str(exc) or type(exc).__name__)
                continue
            tables = await self._tables(errors, client, database, now)
            self._database(database, now, tables, backends, sizes, stats)
            await self._indexes(errors, client, database, now)
            if self.mb.enabled("postgresql.function.calls"):
                await self._functions(errors, client, database, now)
        await self._drop_broken()

        self.mb.record("postgresql.database.count", now, len(databases))
        await self._instance(errors, listing, now)
        self.mb.emit_for_resource({"service.instance.id": self.instance})
        out, self.mb.out = self.mb.out, []
        return out

    def _resource(self, database: str = "", schema: str = "", table: str = "", index: str = "") -> dict[str, str]:
        resource = {"service.instance.id": self.instance}
        for key, value in (("postgresql.database.name", database), ("postgresql.schema.name", schema),
                           ("postgresql.table.name", table), ("postgresql.index.name", index)):
            if value:
                resource[key] = value
        return resource

    async def _tables(self, errors: list[str], client: Client, database: str, now: int) -> int:
        blocks = await self._try(errors, client.blocks_read_by_table, default={})
        tables = await self._try(errors, client.table_metrics, default=[])
        mb = self.mb
        for t in tables:
            mb.record("postgresql.rows", now, t["dead"], state="dead")
            mb.record("postgresql.rows", now, t["live"], state="live")
            for op, column in (("ins", "ins"), ("del", "del"), ("upd", "upd"), ("hot_upd", "hot_upd")):
                mb.record("postgresql.operations", now, t[column], operation=op)
            mb.record("postgresql.table.size", now, t["table_size"])
            mb.record("postgresql.table.vacuum.count", now, t["vacuum_count"])
            mb.record("postgresql.sequential_scans", now, t["seq_scans"])
            io = blocks.get((t["schema"], t["table"]))
            if io is not None:
                for source in BLOCK_SOURCES:
                    mb.record("postgresql.blocks_read", now, io[source], source=source)
            if self.separate_schema:
                resource = self._resource(database, t["schema"], t["table"])
            else:
                resource = self._resource(database, table=f"{t['schema']}.{t['table']}")
            mb.emit_for_resource(resource)
        return len(tables)

    def _database(self, database: str, now: int, tables: int, backends: dict, sizes: dict, stats: dict) -> None:
        mb = self.mb
        mb.record("postgresql.table.count", now, tables)
        if database in backends:
            mb.record("postgresql.backends", now, backends[database])
        if database in sizes:
            mb.record("postgresql.db_size", now, sizes[database])
        row = stats.get(database)
        if row is not None:
            for metric, column in DB_STATS:
                mb.record(metric, now, row[column] or 0)
        mb.emit_for_resource(self._resource(database))

    async def _indexes(self, errors: list[str], client: Client, database: str, now: int) -> None:
        for ix in await self._try(errors, client.index_stats, default=[]):
            self.mb.record("postgresql.index.scans", now, ix["idx_scan"] or 0)
            self.mb.record("postgresql.index.size", now, ix["index_size"])
            schema = ix["schemaname"] if self.separate_schema else ""
            self.mb.emit_for_resource(self._resource(database, schema, ix["relname"], ix["indexrelname"]))

    async def _functions(self, errors: list[str], client: Client, database: str, now: int) -> None:
        for fn in await self._try(errors, client.function_stats, default=[]):
            self.mb.record("postgresql.function.calls", now, fn["calls"], function=fn["funcname"])
            schema = fn["schemaname"] if self.separate_schema else ""
            self.mb.emit_for_resource(self._resource(database, schema))

    async def _instance(self, errors: list[str], client: Client, now: int) -> None:
        mb = self.mb
        bg = await self._try(errors, client.bgwriter_stats)
        if bg is not None:
            mb.record("postgresql.bgwriter.buffers.allocated", now, bg["buffers_allocated"])
            for column, source in BGWRITER_SOURCES:
                if bg[column] >= 0:
                    mb.record("postgresql.bgwriter.buffers.writes", now, bg[column], source=source)
            mb.record("postgresql.bgwriter.checkpoint.count", now, bg["checkpoint_req"], type="requested")
            mb.record("postgresql.bgwriter.checkpoint.count", now, bg["checkpoint_scheduled"], type="scheduled")
            mb.record("postgresql.bgwriter.duration", now, bg["checkpoint_duration_sync"], type="sync")
            mb.record("postgresql.bgwriter.duration", now, bg["checkpoint_duration_write"], type="write")
            mb.record("postgresql.bgwriter.maxwritten", now, bg["maxwritten_count"])
        try:
            age = await self._try(errors, client.latest_wal_age_seconds)
        except NoLastArchive:
            age = None
        if age is not None:
            mb.record("postgresql.wal.age", now, age)
        for rs in await self._try(errors, client.replication_stats, default=[]):
            addr = rs["client_addr"]
            if rs["replication_bytes_pending"] >= 0:
                mb.record("postgresql.replication.data_delay", now, int(rs["replication_bytes_pending"]),
                          replication_client=addr)
            for op in ("write", "replay", "flush"):
                lag = rs[f"{op}_lag"]
                if lag >= 0:
                    mb.record("postgresql.wal.delay", now, float(lag), operation=op, replication_client=addr)
        max_conns = await self._try(errors, client.max_connections)
        if max_conns is not None:
            mb.record("postgresql.connection.max", now, max_conns)
        if mb.enabled("postgresql.database.locks"):
            for lock in await self._try(errors, client.database_locks, default=[]):
                mb.record("postgresql.database.locks", now, lock["locks"], relation=lock["relation"],
                          mode=lock["mode"], lock_type=lock["locktype"])
