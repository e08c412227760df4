"""The embedded DuckDB database: one writer thread with group commit, concurrent reader threads.

DuckDB pays a fixed cost of milliseconds per INSERT, so rows are committed in large groups: every
``commit_interval``, as soon as ``commit_rows`` are pending, or at once when a writer asked to wait
for its commit (then whatever arrived while the previous commit ran shares the next one). Rows that
have not been committed yet are bounded by ``max_pending_rows``; past it writes are refused with a
retryable error, which the receivers turn into back-pressure on the clients. Readers use their own
cursors (DuckDB's MVCC gives them a consistent snapshot while the writer appends).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import duckdb
import pyarrow as pa

from otelflow.store import rollups
from otelflow.store.ingest import Batch
from otelflow.store.schema import SCHEMA_VERSION, TABLES, TIME_COLUMN, index_traces_sql, migrate

log = logging.getLogger("otelflow.store")

T = TypeVar("T")
DB_FILE = "otelflow.duckdb"

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "TINYINT": pa.int8(),
    "BIGINT": pa.int64(),
    "UINTEGER": pa.uint32(),
    "UBIGINT": pa.uint64(),
    "BOOLEAN": pa.bool_(),
    "DOUBLE": pa.float64(),
    "DOUBLE[]": pa.list_(pa.float64()),
    "UBIGINT[]": pa.list_(pa.uint64()),
}
_TRACE_TIMES = {table: index_traces_sql("_otelflow_batch", TIME_COLUMN[table]) for table in ("spans", "logs")}
ARROW_SCHEMAS = {table: pa.schema([(n, _ARROW_TYPES[t]) for n, t in cols]) for table, cols in TABLES.items()}


class StoreError(Exception):
    """The database cannot be opened or written."""


class StoreFull(StoreError):
    """Too many rows wait for a commit: the caller should retry later."""


@dataclass
class Retention:
    max_age: float = 72 * 3600.0  # seconds; 0 keeps data forever
    max_size_bytes: int = 1 << 30  # 0 means no size limit
    check_interval: float = 60.0


class Store:
    def __init__(self, directory: Path, retention: Retention | None = None, *, commit_interval: float = 1.0,
                 commit_rows: int = 100_000, max_pending_rows: int = 1_000_000, readers: int = 4,
                 rollup_interval: float = 10.0):
        self.directory = Path(directory).expanduser()
        self.path = self.directory / DB_FILE
        self.retention = retention or Retention()
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self._readers = concurrent.futures.ThreadPoolExecutor(readers, thread_name_prefix="store-reader")
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self.commit_interval = commit_interval
        self.commit_rows = commit_rows
        self.max_pending_rows = max_pending_rows
        self._pending: dict[str, Batch] = {}
        self._pending_rows = 0
        self._committing_rows = 0
        self._waiters: list[asyncio.Future] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        # called on the event loop with the batches of each successful commit (live tail); must be cheap
        self.listeners: list[Callable[[list[Batch]], None]] = []
        # rollups (rollups.py): minutes are marked dirty at commit and recomputed on the writer thread
        # at most every ``rollup_interval`` (stretched to 5x the last settle's duration) and before a
        # query that reads them
        self.rollup_interval = rollup_interval
        self._dirty = False
        self._settled_at = 0.0
        self._settle_cost = 0.0

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._open)
        self._wake = asyncio.Event()
        self._tasks = [asyncio.create_task(self._flush_loop(), name="store-flush")]
        if self.retention.max_age or self.retention.max_size_bytes:
            self._tasks.append(asyncio.create_task(self._retention_loop(), name="store-retention"))
        log.info("Embedded store at %s", self.path)

    def _open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(self.path))
        except (OSError, duckdb.Error) as exc:
            hint = " (is another otelflow using this data directory? give each its own --data-dir)" if "lock" in str(exc).lower() else ""
            raise StoreError(f"cannot open the store at {self.path}: {exc}{hint}") from exc
        # DuckDB sizes its pool by the machine's cores; a process pinned to fewer (taskset, cgroups)
        # would pay for threads fighting over them.
        self._threads = _usable_cpus()
        con.execute(f"SET threads = {self._threads}")
        try:
            found = migrate(con)
        except (ValueError, duckdb.Error) as exc:
            con.close()
            raise StoreError(f"the store at {self.path} cannot be opened: {exc}; use a new --data-dir or remove the old one") from exc
        if found != SCHEMA_VERSION:
            log.info("Store at %s migrated from schema version %d to %d", self.path, found, SCHEMA_VERSION)
        self._dirty = bool(con.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0])
        self._settled_at = time.monotonic()
        self._con = con

    async def close(self) -> None:
        """Commit what is pending, then close the database."""
        self._closing = True
        self._wake.set()
        for task in self._tasks:
            if task.get_name() == "store-retention":
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._readers.shutdown, True)
        if self._con is not None:
            await loop.run_in_executor(self._writer, self._close)
        self._writer.shutdown(wait=True)

    def _close(self) -> None:
        # DuckDB waits in close() for cursors still open, so the readers' cursors go first.
        for cursor in self._cursors:
            cursor.close()
        self._cursors.clear()
        try:
            self._settle()
        except Exception as exc:  # the dirty minutes stay recorded: settled after the next open
            log.error("settling the rollups failed: %s", exc)
        con, self._con = self._con, None
        try:
            con.execute("CHECKPOINT")
        finally:
            con.close()

    # -- writing ---------------------------------------------------------------------------------

    async def write(self, batch: Batch, wait: bool = False) -> None:
        """Queue rows for a commit; with ``wait``, return only once they are committed."""
        if not batch.rows:
            return
        if self._closing or self._con is None:
            raise StoreError("the store is closed")
        if self._pending_rows + self._committing_rows + batch.rows > self.max_pending_rows:
            raise StoreFull(f"the store has {self._pending_rows + self._committing_rows} rows waiting for a commit; try again later")
        pending = self._pending.get(batch.table)
        if pending is None:
            self._pending[batch.table] = batch
        else:
            pending.extend(batch)
        self._pending_rows += batch.rows
        if not wait:
            if self._pending_rows >= self.commit_rows:
                self._wake.set()
            return
        done = asyncio.get_running_loop().create_future()
        self._waiters.append(done)
        self._wake.set()
        await done

    async def flush(self) -> None:
        """Return once every row written so far is committed."""
        if not self._pending_rows and not self._committing_rows:
            return
        done = asyncio.get_running_loop().create_future()
        self._waiters.append(done)
        self._wake.set()
        await done

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.commit_interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            batches, waiters = self._pending, self._waiters
            self._pending, self._waiters = {}, []
            self._committing_rows, self._pending_rows = self._pending_rows, 0
            if batches:
                try:
                    await loop.run_in_executor(self._writer, self._commit, list(batches.values()))
                except Exception as exc:  # every waiter learns of it; the loop keeps serving
                    log.error("store write failed, %d rows lost: %s", self._committing_rows, exc)
                    error = StoreError(f"store write failed: {exc}")
                    for w in waiters:
                        if not w.done():
                            w.set_exception(error)
                else:
                    for w in waiters:
                        if not w.done():
                            w.set_result(None)
                    for listener in self.listeners:
                        try:
                            listener(list(batches.values()))
                        except Exception:  # a listener's bug must not stop commits
                            log.exception("store commit listener failed")
            else:  # a flush() that came while the previous commit ran: that commit holds its rows
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
            self._committing_rows = 0
            if self._dirty and not self._closing and \
                    time.monotonic() - self._settled_at >= max(self.rollup_interval, 5 * self._settle_cost):
                try:
                    await loop.run_in_executor(self._writer, self._settle)
                except Exception as exc:  # queries read the raw data's last settled state; retried later
                    log.error("settling the rollups failed: %s", exc)
            if self._closing and not self._pending:
                return

    def _commit(self, batches: list[Batch]) -> None:
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            for batch in batches:
                table = pa.Table.from_pydict(batch.columns, schema=ARROW_SCHEMAS[batch.table])
                con.register("_otelflow_batch", table)
                try:
                    con.execute(f"INSERT INTO {batch.table} SELECT * FROM _otelflow_batch")
                    if batch.table in _TRACE_TIMES:
                        # on one thread these GROUP BYs of a batch cost half the CPU (and time) they
                        # do on two; ``threads`` is global, so readers have one for these ms
                        con.execute("SET threads = 1")
                        try:
                            con.execute(_TRACE_TIMES[batch.table])
                            if batch.table == "spans":  # the minutes the rollups must recompute
                                con.execute(rollups.MARK_DIRTY_SQL)
                                self._dirty = True
                        finally:
                            con.execute(f"SET threads = {self._threads}")
                finally:
                    con.unregister("_otelflow_batch")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise

    # -- rollups ---------------------------------------------------------------------------------

    async def settle(self) -> None:
        """Bring the rollups up to date with every committed span (before a query that reads them).
        A failure is logged, not raised: the query then reads the rollups as last settled."""
        if self._dirty and self._con is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(self._writer, self._settle)
            except Exception as exc:
                log.error("settling the rollups failed: %s", exc)

    def _settle(self) -> None:
        """Recompute the dirty minutes' rollups in one transaction. Writer thread only."""
        if not self._dirty or self._con is None:
            return
        con, t0 = self._con, time.monotonic()
        con.execute("BEGIN TRANSACTION")
        try:
            minutes = rollups.settle(con)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        self._dirty = False
        self._settled_at = time.monotonic()
        self._settle_cost = self._settled_at - t0
        log.debug("settled the rollups of %d minutes in %.3fs", minutes, self._settle_cost)

    # -- reading ---------------------------------------------------------------------------------

    async def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn(cursor)`` on a reader thread with that thread's own cursor."""
        if self._con is None:
            raise StoreError("the store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read, fn)

    def _read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None or getattr(self._local, "owner", None) is not self._con:
            cursor = self._local.cursor = self._con.cursor()
            self._local.owner = self._con
            with self._cursors_lock:
                self._cursors.append(cursor)
        return fn(cursor)

    def database_bytes(self) -> int:
        """Bytes the database occupies on disk (file plus write-ahead log)."""
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                total += path.stat().st_size
            except OSError:
                pass
        return total

    # -- retention -------------------------------------------------------------------------------

    async def _retention_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                deleted = await loop.run_in_executor(self._writer, self.apply_retention)
                if deleted:
                    log.info("Retention removed %d rows", deleted)
            except Exception as exc:
                log.error("retention failed: %s", exc)
            await asyncio.sleep(self.retention.check_interval)

    def apply_retention(self, now_ns: int | None = None) -> int:
        """Delete rows older than max_age, then the oldest rows until the data fits max_size. Writer thread only."""
        con = self._con
        now_ns = now_ns or time.time_ns()
        deleted = 0
        if self.retention.max_age:
            cutoff = now_ns - int(self.retention.max_age * 1e9)
            for table, column in TIME_COLUMN.items():
                deleted += _count(con.execute(f"DELETE FROM {table} WHERE {column} < ?", [cutoff]))
            con.execute("DELETE FROM trace_times WHERE last_ns < ?", [cutoff])
        limit = self.retention.max_size_bytes
        if limit:
            used = self._used_bytes()
            rounds = 0
            while used > limit and rounds < 8:
                # drop the oldest share of every table that would bring it under the limit, plus a margin;
                # the share is of the tables' own blocks (the rest, derived tables and metadata, stays)
                share = min(1.0, (used - limit * 0.9) / max(1, self._table_bytes()))
                for table, column in TIME_COLUMN.items():
                    row = con.execute(f"SELECT quantile_disc({column}, ?) FROM {table}", [share]).fetchone()
                    if row and row[0] is not None:
                        deleted += _count(con.execute(f"DELETE FROM {table} WHERE {column} <= ?", [row[0]]))
                con.execute("CHECKPOINT")
                new_used = self._used_bytes()
                if new_used > limit and new_used >= used * 0.95:
                    # DuckDB frees a row group's blocks only once all its rows are gone: rewrite the tables
                    self._compact()
                    new_used = self._used_bytes()
                if new_used >= used:
                    break
                used, rounds = new_used, rounds + 1
        if deleted:
            # the rollups of the minutes before the oldest span left go; its minute is recomputed
            oldest = con.execute("SELECT min(start_ns) FROM spans").fetchone()[0]
            rollups.forget_before(con, now_ns if oldest is None else oldest)
            self._dirty = True
            # a trace's lookup rows go once none of its rows can remain
            con.execute("""DELETE FROM trace_times WHERE last_ns < least(
                coalesce((SELECT min(start_ns) FROM spans), 9223372036854775807),
                coalesce((SELECT min(time_ns) FROM logs), 9223372036854775807))""")
            con.execute("CHECKPOINT")
        return deleted

    def _compact(self) -> None:
        """Rewrite each table without its deleted rows so that their blocks return to the free list."""
        con = self._con
        order = {**TIME_COLUMN, **rollups.ROLLUP_TABLES}  # the rollups are small, but hold blocks too
        # on one thread the copy fills whole row groups; parallel writers leave one partial row group
        # (and its blocks) each, which made the result up to twice the size, varying run to run
        con.execute("SET threads = 1")
        try:
            for table in order:
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(f"CREATE TABLE {table}__compact AS SELECT * FROM {table} ORDER BY {order[table]}")
                    con.execute(f"DROP TABLE {table}")
                    con.execute(f"ALTER TABLE {table}__compact RENAME TO {table}")
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise
        finally:
            con.execute(f"SET threads = {self._threads}")
        con.execute("CHECKPOINT")

    def _table_bytes(self) -> int:
        """Bytes of the blocks holding the spans, logs and metric points."""
        con = self._con
        size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
        return int(size) * sum(con.execute(f"SELECT count(DISTINCT block_id) FROM pragma_storage_info('{t}')").fetchone()[0]
                               for t in TABLES)

    def _used_bytes(self) -> int:
        """Live data size: DuckDB's used blocks (a file keeps its size after deletes and reuses the space)."""
        row = self._con.execute("SELECT block_size, used_blocks FROM pragma_database_size()").fetchone()
        return int(row[0]) * int(row[1]) if row else 0


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _count(result: Any) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0
