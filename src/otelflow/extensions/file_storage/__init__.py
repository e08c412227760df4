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
import os
import sqlite3
from pathlib import Path
from typing import Any

from otelflow.core.component import Component, ComponentID, Factory, Host, Kind, Settings
from otelflow.core.workers.context import WorkerContext
from otelflow.extensions.file_storage.client import StorageClient, StorageFullError, _backup, _is_corrupt
from otelflow.extensions.file_storage.config import TEMP_DB_PREFIX, Config, file_name, sanitize

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
