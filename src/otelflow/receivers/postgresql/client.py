"""The statistics queries upstream's postgresql receiver runs (its SQL, as facts), over asyncpg.

One ``Client`` is one connection to one database; each method runs one query and returns plain
rows. Database names given by the user are quoted into the ``datname IN (...)`` filter the way
upstream builds it (single-quoted), with quotes doubled so a name cannot break out of the literal.
"""

from __future__ import annotations

import ssl
from typing import Any

import asyncpg

from otelflow.config.settings import TLSClientSettings

DEFAULT_DATABASE = "postgres"


class NoLastArchive(Exception):
    """pg_stat_archiver has never archived: there is no WAL age to report (not an error upstream)."""


def ssl_argument(tls: TLSClientSettings) -> Any:
    """configtls as libpq's sslmode, as upstream maps it: insecure -> disable, skip verify -> require,
    else verify-full with the CA (and client certificate) given."""
    if tls.insecure:
        return False
    if tls.insecure_skip_verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=tls.ca_file or None, cadata=tls.ca_pem or None)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    return ctx


def filter_by_databases(query: str, databases: list[str], group_by: bool) -> str:
    if databases:
        names = ",".join("'" + db.replace("'", "''") + "'" for db in databases)
        query += f" {'AND' if 'WHERE' in query else 'WHERE'} datname IN ({names})"
    if group_by:
        query += " GROUP BY datname"
    return query + ";"


class Client:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, *, host: str, port: int, user: str, password: str, database: str, ssl_arg: Any,
                      timeout: float, application_name: str = "otelflow") -> "Client":
        settings = {"application_name": application_name} if application_name else {}
        conn = await asyncpg.connect(host=host, port=port, user=user, password=password, database=database,
                                     ssl=ssl_arg, timeout=timeout, statement_cache_size=0, server_settings=settings)
        return cls(conn)

    @property
    def closed(self) -> bool:
        return self.conn.is_closed()

    async def close(self) -> None:
        try:
            await self.conn.close(timeout=2)
        except Exception:  # already broken: nothing to tell the server
            self.conn.terminate()

    async def list_databases(self) -> list[str]:
        rows = await self.conn.fetch("SELECT datname FROM pg_database WHERE datistemplate = false;")
        return [r[0] for r in rows]

    async def database_stats(self, databases: list[str]) -> dict[str, dict[str, int]]:
        query = filter_by_databases(
            "SELECT datname, xact_commit, xact_rollback, deadlocks, temp_files, temp_bytes, tup_updated, "
            "tup_returned, tup_fetched, tup_inserted, tup_deleted, blks_hit, blks_read FROM pg_stat_database",
            databases, False)
        return {r["datname"]: dict(r) for r in await self.conn.fetch(query) if r["datname"]}

    async def backends(self, databases: list[str]) -> dict[str, int]:
        query = filter_by_databases("SELECT datname, count(*) as count from pg_stat_activity", databases, True)
        return {r[0]: r[1] for r in await self.conn.fetch(query) if r[0]}

    async def database_sizes(self, databases: list[str]) -> dict[str, int]:
        query = filter_by_databases("SELECT datname, pg_database_size(datname) FROM pg_catalog.pg_database "
                                    "WHERE datistemplate = false", databases, False)
        return {r[0]: r[1] for r in await self.conn.fetch(query) if r[0]}

    async def table_metrics(self) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            "SELECT schemaname as schema, relname AS table, n_live_tup AS live, n_dead_tup AS dead, "
            "n_tup_ins AS ins, n_tup_upd AS upd, n_tup_del AS del, n_tup_hot_upd AS hot_upd, "
            "seq_scan AS seq_scans, pg_relation_size(relid) AS table_size, vacuum_count "
            "FROM pg_stat_user_tables;")

    async def blocks_read_by_table(self) -> dict[tuple[str, str], asyncpg.Record]:
        rows = await self.conn.fetch(
            "SELECT schemaname as schema, relname AS table, coalesce(heap_blks_read, 0) AS heap_read, "
            "coalesce(heap_blks_hit, 0) AS heap_hit, coalesce(idx_blks_read, 0) AS idx_read, "
            "coalesce(idx_blks_hit, 0) AS idx_hit, coalesce(toast_blks_read, 0) AS toast_read, "
            "coalesce(toast_blks_hit, 0) AS toast_hit, coalesce(tidx_blks_read, 0) AS tidx_read, "
            "coalesce(tidx_blks_hit, 0) AS tidx_hit FROM pg_statio_user_tables;")
        return {(r["schema"], r["table"]): r for r in rows}

    async def index_stats(self) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            "SELECT schemaname, relname, indexrelname, pg_relation_size(indexrelid) AS index_size, idx_scan "
            "FROM pg_stat_user_indexes;")

    async def function_stats(self) -> list[asyncpg.Record]:
        """Overloaded functions get their argument names appended, as upstream names them."""
        return await self.conn.fetch(
            "WITH overloaded_funcs AS (SELECT funcname FROM pg_stat_user_functions s GROUP BY s.funcname "
            "HAVING COUNT(*) > 1) SELECT s.schemaname, CASE WHEN o.funcname IS NULL OR p.proargnames IS NULL "
            "THEN p.proname ELSE p.proname || '_' || array_to_string(p.proargnames, '_') END funcname, s.calls "
            "FROM pg_proc p JOIN pg_stat_user_functions s ON p.oid = s.funcid "
            "LEFT JOIN overloaded_funcs o ON o.funcname = s.funcname;")

    async def version(self) -> str:
        return await self.conn.fetchval("SHOW server_version;")

    async def bgwriter_stats(self) -> dict[str, float]:
        """pg_stat_bgwriter before 17; from 17 the checkpoint half is in pg_stat_checkpointer and the
        backend write counters are gone (-1: not recorded)."""
        version = await self.version()
        parts = version.split(".")
        if len(parts) < 2:
            raise ValueError(f"unexpected version string: {version}")
        major = int(parts[0])
        if major < 17:
            row = await self.conn.fetchrow(
                "SELECT checkpoints_req AS checkpoint_req, checkpoints_timed AS checkpoint_scheduled, "
                "checkpoint_write_time AS checkpoint_duration_write, checkpoint_sync_time AS checkpoint_duration_sync, "
                "buffers_clean AS bg_writes, buffers_backend AS backend_writes, "
                "buffers_backend_fsync AS buffers_written_fsync, buffers_checkpoint AS buffers_checkpoints, "
                "buffers_alloc AS buffers_allocated, maxwritten_clean AS maxwritten_count FROM pg_stat_bgwriter;")
            return dict(row)
        row = await self.conn.fetchrow(
            "SELECT cp.num_requested AS checkpoint_req, cp.num_timed AS checkpoint_scheduled, "
            "cp.write_time AS checkpoint_duration_write, cp.sync_time AS checkpoint_duration_sync, "
            "cp.buffers_written AS buffers_checkpoints, bg.buffers_clean AS bg_writes, "
            "bg.buffers_alloc AS buffers_allocated, bg.maxwritten_clean AS maxwritten_count "
            "FROM pg_stat_bgwriter bg, pg_stat_checkpointer cp;")
        return {**dict(row), "backend_writes": -1, "buffers_written_fsync": -1}

    async def max_connections(self) -> int:
        return int(await self.conn.fetchval("SHOW max_connections;"))

    async def replication_stats(self) -> list[asyncpg.Record]:
        """Lags in fractional seconds (the ``postgresqlreceiver.preciselagmetrics`` gate, beta: on)."""
        try:
            return await self.conn.fetch(
                "SELECT coalesce(cast(client_addr as varchar), 'unix') AS client_addr, "
                "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), -1) AS replication_bytes_pending, "
                "extract('epoch' from coalesce(write_lag, '-1 seconds'))::decimal AS write_lag, "
                "extract('epoch' from coalesce(flush_lag, '-1 seconds'))::decimal AS flush_lag, "
                "extract('epoch' from coalesce(replay_lag, '-1 seconds'))::decimal AS replay_lag "
                "FROM pg_stat_replication;")
        except asyncpg.PostgresError as exc:
            raise RuntimeError(f"unable to query pg_stat_replication: {exc}") from None

    async def latest_wal_age_seconds(self) -> int:
        row = await self.conn.fetchrow(
            "SELECT coalesce(last_archived_time, CURRENT_TIMESTAMP) AS last_archived_wal, CURRENT_TIMESTAMP "
            "FROM pg_stat_archiver;")
        last, now = row[0], row[1]
        if last == now:
            raise NoLastArchive()
        return int((now - last).total_seconds())

    async def database_locks(self) -> list[asyncpg.Record]:
        try:
            return await self.conn.fetch(
                "SELECT relname AS relation, mode, locktype, COUNT(pid) AS locks FROM pg_locks "
                "JOIN pg_class ON pg_locks.relation = pg_class.oid GROUP BY relname, mode, locktype;")
        except asyncpg.PostgresError as exc:
            raise RuntimeError(f"unable to query pg_locks and pg_locks.relation: {exc}") from None
