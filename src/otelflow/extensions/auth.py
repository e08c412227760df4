"""What authenticator extensions share: how receivers and exporters find them, and watched secret files.

A server authenticator has ``async authenticate(headers)``, where ``headers`` maps lower-case names to
lists of values (HTTP headers or gRPC metadata), and raises AuthError to refuse (async, so that costly
password hashes run off the event loop). A client authenticator has
``http_headers()`` and ``grpc_metadata()``, read on every request so rotated secrets apply at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Callable, Iterable, Mapping

from otelflow.core.component import ComponentID, Host

# How often a watched secret file is looked at; upstream reacts to file-system events instead.
WATCH_INTERVAL = 1.0


class AuthError(Exception):
    """A request's credentials were refused; the message is what upstream's authenticator says."""


def header_map(pairs: Iterable[tuple[str, Any]]) -> dict[str, list[str]]:
    """HTTP headers or gRPC metadata as lower-case name -> values (binary metadata is skipped)."""
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        if isinstance(value, bytes):
            continue
        out.setdefault(key.lower(), []).append(value)
    return out


def _lookup(host: Host, name: str) -> Any:
    ext = host.extension(ComponentID.parse(name))
    if ext is None:
        raise ValueError(f'failed to resolve authenticator "{name}": authenticator not found')
    return ext


def server_authenticator(host: Host, name: str) -> Any:
    """The started extension ``name`` as a server authenticator, or upstream's configauth error."""
    ext = _lookup(host, name)
    if not callable(getattr(ext, "authenticate", None)) or not getattr(ext, "is_server", True):
        raise ValueError("requested authenticator is not a server authenticator")
    return ext


def http_client_authenticator(host: Host, name: str) -> Any:
    ext = _lookup(host, name)
    if not callable(getattr(ext, "http_headers", None)) or not getattr(ext, "is_client", True):
        raise ValueError("requested authenticator is not a HTTP client authenticator")
    ext.check_client()
    return ext


def grpc_client_authenticator(host: Host, name: str) -> Any:
    ext = _lookup(host, name)
    if not callable(getattr(ext, "grpc_metadata", None)) or not getattr(ext, "is_client", True):
        raise ValueError("requested authenticator is not a gRPC client authenticator")
    ext.check_client()
    return ext


def first(headers: Mapping[str, list[str]], name: str) -> str | None:
    values = headers.get(name.lower())
    return values[0] if values else None


class WatchedFile:
    """A secret kept in a file: read at start (an error if missing or empty), re-read when it changes.

    As upstream's credentialsfile helper: surrounding whitespace is trimmed, and a change that leaves the
    file unreadable or empty keeps the last value.
    """

    def __init__(self, path: str, logger: logging.Logger, on_change: Callable[[str], None] | None = None):
        self.path = path
        self.log = logger
        self.on_change = on_change
        self.value = ""
        self._stat: tuple | None = None
        self._task: asyncio.Task | None = None

    def _read(self) -> tuple[str, tuple | None]:
        with open(self.path, "rb") as fh:
            st = os.fstat(fh.fileno())
            text = fh.read().decode().strip()
        if not text:
            raise ValueError(f'credentials file "{self.path}" is empty')
        return text, (st.st_mtime_ns, st.st_size, st.st_ino)

    def _stat_now(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _changed(self) -> bool:
        now = self._stat_now()
        return now is not None and now != self._stat

    async def start(self) -> None:
        try:
            self.value, self._stat = await asyncio.to_thread(self._read)
        except (OSError, ValueError) as exc:
            raise ValueError(f'failed to read credentials file "{self.path}": {exc}') from None
        if self.on_change:
            self.on_change(self.value)
        self._task = asyncio.create_task(self._watch(), name=f"otelflow-watch-{self.path}")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if not await asyncio.to_thread(self._changed):
                continue
            try:
                value, self._stat = await asyncio.to_thread(self._read)
            except (OSError, ValueError) as exc:
                self._stat = await asyncio.to_thread(self._stat_now)  # warn once per change, not every second
                self.log.warning("failed to reload credentials file, keeping last value file=%s error=%s", self.path, exc)
                continue
            self.value = value
            if self.on_change:
                self.on_change(value)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
