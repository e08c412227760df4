"""One component's store: an SQLite file worked on by the client's own thread, batches committed
together, compaction and the recovery of a corrupt file."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from otelflow.extensions.file_storage.config import MIB, Config

class StorageFullError(Exception):
    """A write needed the file to grow past ``max_size``."""

    def __init__(self) -> None:
        super().__init__("the storage extension has run out of available space")


class StorageClient:
    """One component's store. Every call is a coroutine; the SQLite work runs on this client's thread,
    in call order. Batches that arrive while the thread is busy are committed together (each inside its
    own savepoint, so one failing batch does not undo the others): one commit, and with fsync one
    fsync, per group instead of per call; a caller is answered only after its commit."""

    def __init__(self, path: Path, config: Config, logger: logging.Logger):
        self.path = path
        self.config = config
        self.log = logger
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"file_storage-{path.name}")
        self._db: sqlite3.Connection | None = None
        self._waiting: collections.deque[tuple[list[tuple], asyncio.Future, asyncio.AbstractEventLoop]] = collections.deque()
        self._rebound: asyncio.Task | None = None
        self._closed = False

    async def _run(self, fn, *args):
        if self._closed:
            raise RuntimeError("storage is closed")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # -- public API ------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        return (await self.batch([("get", key)]))[0]

    async def set(self, key: str, value: bytes) -> None:
        await self.batch([("set", key, value)])

    async def delete(self, key: str) -> None:
        await self.batch([("delete", key)])

    async def batch(self, ops: Iterable[tuple]) -> list[bytes | None]:
        """Run ``("get", key)``, ``("set", key, value)`` and ``("delete", key)`` in order, in one
        transaction; the result holds each get's value (None when absent) and None for the others."""
        if self._closed:
            raise RuntimeError("storage is closed")
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._waiting.append((list(ops), done, loop))
        self._pool.submit(self._commit_waiting)
        return await done

    async def keys(self) -> list[str]:
        """Every key stored (the Walk that upstream's clients offer, without values)."""
        return await self._run(lambda: [k for (k,) in self._db.execute("SELECT key FROM kv")])

    async def compact(self) -> None:
        await self._run(self._vacuum)

    async def close(self) -> None:
        if self._closed:
            return
        if self._rebound is not None:
            self._rebound.cancel()
            await asyncio.gather(self._rebound, return_exceptions=True)
        await self._run(self._close_db)
        self._closed = True
        self._pool.shutdown(wait=False)

    # -- on the client thread --------------------------------------------------------------------

    def _open(self) -> None:
        db = sqlite3.connect(self.path, timeout=self.config.timeout, isolation_level=None)
        try:
            # Exclusive locking (set before WAL is entered, so no shared-memory index is used) holds the
            # file against a second collector, as bbolt's flock does; the OS drops it if we are killed.
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if self.config.fsync else 'NORMAL'}")
            db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
            if self.config.max_size > 0:
                page = db.execute("PRAGMA page_size").fetchone()[0]
                db.execute(f"PRAGMA max_page_count={max(1, self.config.max_size // page)}")
            db.execute("SELECT count(*) FROM kv").fetchone()
        except BaseException:
            db.close()
            raise
        self._db = db

    def _apply(self, ops: list[tuple]) -> list[bytes | None]:
        db, out = self._db, []
        for op in ops:
            kind, key = op[0], op[1]
            if kind == "get":
                row = db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
                out.append(None if row is None else bytes(row[0]))
                continue
            if kind == "set":
                db.execute("INSERT OR REPLACE INTO kv(key, value) VALUES(?, ?)", (key, op[2]))
            elif kind == "delete":
                db.execute("DELETE FROM kv WHERE key=?", (key,))
            else:
                raise ValueError("wrong operation type")
            out.append(None)
        return out

    def _commit_waiting(self) -> None:
        """Run every waiting batch in one transaction and answer each caller once it is committed."""
        group = []
        while self._waiting:
            group.append(self._waiting.popleft())
        if not group:
            return  # an earlier call took this one's batch
        batches = [ops for ops, _, _ in group]
        try:
            answers = self._commit(batches)
        except _Aborted:
            # SQLite rolled the whole transaction back (disk full, I/O error): commit each one alone
            answers = [self._commit_alone(ops) for ops in batches]
        except Exception as exc:
            answers = [(None, _storage_error(exc))] * len(group)
        for (_, done, loop), (result, error) in zip(group, answers):
            loop.call_soon_threadsafe(_answer, done, result, error)

    def _commit(self, batches: list[list[tuple]]) -> list[tuple[Any, BaseException | None]]:
        db = self._db
        if db is None:
            raise RuntimeError("storage is closed")
        answers: list[tuple[Any, BaseException | None]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for ops in batches:
                db.execute("SAVEPOINT batch")
                try:
                    answers.append((self._apply(ops), None))
                except Exception as exc:
                    if not db.in_transaction:
                        raise _Aborted(exc) from exc
                    db.execute("ROLLBACK TO batch")
                    answers.append((None, _storage_error(exc)))
                db.execute("RELEASE batch")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return answers

    def _commit_alone(self, ops: list[tuple]) -> tuple[Any, BaseException | None]:
        try:
            return self._commit([ops])[0]
        except _Aborted as exc:
            return None, _storage_error(exc.cause)
        except Exception as exc:
            return None, _storage_error(exc)

    def _sizes(self) -> tuple[int, int]:
        """(allocated bytes, bytes in use) of the database file."""
        page = self._db.execute("PRAGMA page_size").fetchone()[0]
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return pages * page, (pages - free) * page

    def _vacuum(self) -> None:
        start = time.monotonic()
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.log.info("finished compaction directory=%s elapsed=%.3fs", self.path, time.monotonic() - start)

    def _rebound_check(self) -> bool:
        c = self.config.compaction
        total, used = self._sizes()
        if used > c.rebound_trigger_threshold_mib * MIB or total < c.rebound_needed_threshold_mib * MIB:
            return False
        self._vacuum()
        return True

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- lifecycle helpers used by the extension -------------------------------------------------

    async def _rebound_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.compaction.check_interval)
            try:
                await self._run(self._rebound_check)
            except Exception as exc:  # keep checking; the store itself still works
                self.log.error("compaction failure directory=%s error=%s", self.config.compaction.directory, exc)


class _Aborted(Exception):
    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


def _storage_error(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return StorageFullError()
    return exc


def _answer(done: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if done.done():  # the caller was cancelled; the write itself stands
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


def _backup(path: Path) -> Path:
    """Move a corrupt database (and its WAL) aside as ``<file>.<UTC timestamp>.backup``."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
    backup = path.with_name(f"{path.name}.{stamp}.backup")
    os.rename(path, backup)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.rename(side, backup.with_name(backup.name + suffix))
    return backup


def _is_corrupt(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorcode", None) in (
        sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB
    )


