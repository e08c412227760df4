"""file_storage: a key → bytes store on local disk that components (the persistent sending queue)
use to keep state across restarts and crashes.

Upstream keeps one bbolt file per component in ``directory``; here each file is an SQLite database
(stdlib ``sqlite3``, WAL journal, one ``kv`` table) with the same name. A commit is in the WAL before
the call returns, so it survives kill -9; with ``fsync: true`` (``synchronous=FULL``) the WAL is
fsynced on every commit and it also survives power loss. Every database call runs on the client's
own thread so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hashlib
import logging
import os
import re
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any, Iterable

from pydantic import model_validator

from otelflow.config.model import Duration, Model
from otelflow.core.component import Component, ComponentID, Factory, Host, Kind, Settings
from otelflow.core.workers.context import WorkerContext

DEFAULT_DIRECTORY = "/var/lib/otelcol/file_storage"
TEMP_DB_PREFIX = "tempdb"  # upstream's compaction scratch files, removed by cleanup_on_start
MIB = 1024 * 1024
_NAME_MAX = 255 - len("-wal")  # SQLite adds -wal beside the database file


class StorageFullError(Exception):
    """A write needed the file to grow past ``max_size``."""

    def __init__(self) -> None:
        super().__init__("the storage extension has run out of available space")


class CompactionConfig(Model):
    directory: str = DEFAULT_DIRECTORY
    on_start: bool = False
    on_rebound: bool = False
    rebound_needed_threshold_mib: int = 100
    rebound_trigger_threshold_mib: int = 10
    max_transaction_size: int = 65536  # bbolt's copy batch; VACUUM has no equivalent
    check_interval: Duration = 5.0
    cleanup_on_start: bool = False


def _stat_error(path: str, exc: OSError) -> str:
    """Go's PathError text: ``stat <path>: no such file or directory``."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return f"stat {path}: {text[:1].lower()}{text[1:]}"


class Config(Model):
    directory: str = DEFAULT_DIRECTORY
    timeout: Duration = 1.0
    max_size: int = 0
    compaction: CompactionConfig = CompactionConfig()
    fsync: bool = False
    create_directory: bool = False
    directory_permissions: str = "0750"
    recreate: bool = False

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        c = self.compaction
        dirs = [self.directory, c.directory] if (c.on_start or c.on_rebound) else [self.directory]
        for d in dirs:
            try:
                mode = os.stat(d).st_mode
            except FileNotFoundError as exc:
                if not self.create_directory:
                    raise ValueError(
                        f"directory must exist: {_stat_error(d, exc)}. You can enable the create_directory option to automatically create it"
                    ) from None
            except OSError as exc:
                raise ValueError(f"problem accessing configured directory: {d}, err: {_stat_error(d, exc)}") from None
            except ValueError:  # a NUL in the path: Go's stat fails with EINVAL
                raise ValueError(f"problem accessing configured directory: {d}, err: stat {d}: invalid argument") from None
            else:
                if not stat.S_ISDIR(mode):
                    raise ValueError(f"{d} is not a directory")
        if c.max_transaction_size < 0:
            raise ValueError("max transaction size for compaction cannot be less than 0")
        if self.max_size < 0:
            raise ValueError("max size cannot be less than 0")
        if self.max_size > 2**63 - 1:
            raise ValueError("max size is too large")
        if self.max_size > 0 and c.on_rebound:
            if c.rebound_needed_threshold_mib * MIB > self.max_size:
                raise ValueError("compaction rebound needed threshold cannot be greater than max size")
            if c.rebound_trigger_threshold_mib * MIB > self.max_size:
                raise ValueError("compaction rebound trigger threshold cannot be greater than max size")
        if c.on_rebound and c.check_interval <= 0:
            raise ValueError("compaction check interval must be positive when rebound compaction is set")
        if self.create_directory:
            self.permissions  # noqa: B018 - raises with upstream's messages
        return self

    @property
    def permissions(self) -> int:
        """``directory_permissions`` parsed as Go's ParseInt(s, 8, 32) does."""
        text = self.directory_permissions
        if not re.fullmatch(r"[+-]?[0-7]+", text) or not -(2**31) <= int(text, 8) < 2**31:
            raise ValueError("directory_permissions value must be a valid octal representation")
        perms = int(text, 8)
        if perms & 0o777 != perms:
            raise ValueError("directory_permissions contain invalid bits for file access")
        return perms


def sanitize(name: str) -> str:
    """Upstream's file-name escaping: anything but [A-Za-z0-9._-] becomes ``~XXXX`` (hex code point)."""
    return "".join(ch if (ch.isascii() and (ch.isalnum() or ch in "._-")) else f"~{ord(ch):04X}" for ch in name)


def file_name(kind: Kind, component: ComponentID, name: str) -> str:
    """``<kind>_<type>_<name>[_<storage name>]``, hashed when too long for the file system."""
    raw = f"{kind.value}_{component.type}_{component.name}" + (f"_{name}" if name else "")
    raw = sanitize(raw)
    if len(raw.encode()) > _NAME_MAX:
        return hashlib.sha256(raw.encode()).hexdigest()
    return raw


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


class FileStorage(Component):
    def __init__(self, settings: Settings, config: Config):
        self.settings = settings
        self.config = config
        self.log = settings.logger
        self._clients: list[StorageClient] = []

    async def start(self, host: Host) -> None:
        await asyncio.to_thread(self._prepare_directories)

    def _prepare_directories(self) -> None:
        c = self.config.compaction
        dirs = [self.config.directory, c.directory] if (c.on_start or c.on_rebound) else [self.config.directory]
        if self.config.create_directory:
            for d in dirs:
                if not os.path.exists(d):
                    os.makedirs(d, self.config.permissions)
        if c.cleanup_on_start:
            for entry in Path(c.directory).glob(f"{TEMP_DB_PREFIX}*"):
                try:
                    entry.unlink()
                    self.log.debug("cleanup deletedFile=%s", entry)
                except OSError as exc:
                    self.log.info("cleanup errors error=%s", exc)

    async def client(self, kind: Kind, component: ComponentID, name: str = "") -> StorageClient:
        """Open (creating if needed) the store of one component; ``name`` tells apart several stores
        of the same component (the exporter queue uses the signal)."""
        stored = file_name(kind, component, name)
        worker = WorkerContext.from_env()
        if worker is not None and worker.index > 0:
            # each worker keeps its own queue; worker 0 keeps the name a single process uses, and a
            # restarted worker finds its own file again
            stored += f"_worker{worker.index}"
        return await self._client_at(Path(self.config.directory) / stored)

    async def orphans(self, kind: Kind, component: ComponentID, name: str = "") -> list["StorageClient"]:
        """The stores of workers that no longer run (the collector was started with fewer workers
        than wrote them) that fall to this worker: worker j's store goes to worker j mod N. The
        owner empties each into its own store and then ``discard``s it."""
        worker = WorkerContext.from_env()
        index, count = (worker.index, worker.count) if worker is not None else (0, 1)
        base = file_name(kind, component, name) + "_worker"
        found = []
        for path in sorted(Path(self.config.directory).glob(base + "*")):
            suffix = path.name[len(base):]
            if suffix.isdigit() and int(suffix) >= count and int(suffix) % count == index:
                found.append(await self._client_at(path))
        return found

    async def discard(self, client: "StorageClient") -> None:
        """Close an emptied store of a worker that no longer runs and delete its file."""
        await client.close()
        if client in self._clients:
            self._clients.remove(client)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{client.path}{suffix}").unlink(missing_ok=True)

    async def _client_at(self, path: Path) -> "StorageClient":
        client = StorageClient(path, self.config, self.log)
        try:
            await client._run(self._open, client)
        except BaseException:
            client._pool.shutdown(wait=False)
            raise
        if self.config.compaction.on_start:
            try:
                await client.compact()
            except Exception as exc:
                self.log.error("compaction on start failed error=%s", exc)
        if self.config.compaction.on_rebound:
            client._rebound = asyncio.create_task(client._rebound_loop())
        self._clients.append(client)
        return client

    def _open(self, client: StorageClient) -> None:
        try:
            client._open()
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
                raise TimeoutError(f"timeout: {client.path} is locked by another process") from None
            raise
        except sqlite3.DatabaseError as exc:
            if not (self.config.recreate and _is_corrupt(exc)):
                raise
            backup = _backup(client.path)
            self.log.warning("Database corruption detected, recreating database file file=%s error=%s", client.path, exc)
            self.log.info("Corrupted database file renamed original=%s backup=%s", client.path, backup)
            client._open()

    async def shutdown(self) -> None:
        """Close stores whose owners did not (owners normally close their own)."""
        for client in self._clients:
            try:
                await client.close()
            except Exception as exc:
                self.log.error("closing %s failed: %s", client.path, exc)
        self._clients.clear()


def create(settings: Settings, config: Config, **_: Any) -> FileStorage:
    return FileStorage(settings, config)


factory = Factory(type="file_storage", kind=Kind.EXTENSION, config=Config, create=create, stability="beta")

__all__ = ["Config", "FileStorage", "StorageClient", "StorageFullError", "factory", "file_name", "sanitize"]
