"""The files the ``file`` exporter writes: a plain buffered file, or rotation by size with
timestamped backups as upstream's lumberjack does. Used only from the exporter's worker thread."""

from __future__ import annotations

import datetime as _dt
import logging
import os
from typing import BinaryIO, Callable

from otelflow.core.consumer import PermanentError
from otelflow.exporters.file import config as _config
from otelflow.exporters.file.config import BACKUP_REASON, BUFFER_SIZE, DEFAULT_MAX_MEGABYTES, Rotation

log = logging.getLogger("otelflow.exporters.file")


class _PlainWriter:
    """The file at ``path``, truncated at open unless appending, written through a buffer."""

    def __init__(self, path: str, append: bool):
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        fd = os.open(path, flags, 0o644)
        self._file: BinaryIO = os.fdopen(fd, "ab" if append else "wb", buffering=BUFFER_SIZE)

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _backup_time(now: _dt.datetime) -> str:
    # Go's Format truncates the fraction: .000 is milliseconds, not rounded.
    return now.strftime("%Y-%m-%dT%H-%M-%S") + f".{now.microsecond // 1000:03d}"


def _parse_backup_time(text: str, local: bool) -> _dt.datetime | None:
    try:
        t = _dt.datetime.strptime(text, "%Y-%m-%dT%H-%M-%S.%f")
    except ValueError:
        return None
    if len(text.rpartition(".")[2]) != 3:
        return None
    return t.astimezone() if local else t.replace(tzinfo=_dt.timezone.utc)


class _RotatingWriter:
    """Size-based rotation with the behaviour of the Go writer upstream uses (timberjack).

    The file is opened on the first write, appending to what is there unless that write would
    overflow it. A write that would take the file past the limit first moves it aside as
    ``<name>-<time>-size<ext>`` and starts an empty one; then the oldest backups beyond
    ``max_backups`` (distinct rotation times) and those older than ``max_days`` are deleted.
    """

    def __init__(self, path: str, rotation: Rotation, clock: Callable[[], _dt.datetime] | None = None):
        self.path = path
        self.rotation = rotation
        self.clock = clock or self._now
        self._file: BinaryIO | None = None
        self._size = 0
        self._closed = False

    def _now(self) -> _dt.datetime:
        if self.rotation.localtime:
            return _dt.datetime.now().astimezone()
        return _dt.datetime.now(_dt.timezone.utc)

    @property
    def limit(self) -> int:
        megabytes = self.rotation.max_megabytes or DEFAULT_MAX_MEGABYTES
        return megabytes * _config.MEGABYTE

    def write(self, data: bytes) -> None:
        if self._closed:
            # as upstream: a write after close still lands, without rotation
            with open(self.path, "ab") as f:
                f.write(data)
            return
        n = len(data)
        if n > self.limit:
            raise PermanentError(f"write length {n} exceeds maximum file size {self.limit}")
        if self._file is None:
            self._open_existing_or_new(n)
        if self._size + n > self.limit:
            self._rotate()
        assert self._file is not None
        self._file.write(data)
        self._size += n

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- internals -------------------------------------------------------------------------

    def _open_existing_or_new(self, n: int) -> None:
        self._cleanup()
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            self._open_new()
            return
        if size + n >= self.limit:
            self._rotate()
            return
        self._file = open(self.path, "ab", buffering=BUFFER_SIZE)
        self._size = size

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._open_new()
        self._cleanup()

    def _open_new(self) -> None:
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, mode=0o755, exist_ok=True)
        mode = 0o640
        if os.path.exists(self.path):
            mode = os.stat(self.path).st_mode & 0o777
            os.rename(self.path, self.backup_name(self.clock()))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        self._file = os.fdopen(fd, "wb", buffering=BUFFER_SIZE)
        self._size = 0

    def _split(self) -> tuple[str, str, str]:
        directory, base = os.path.split(self.path)
        stem, ext = _split_ext(base)
        return directory, stem, ext

    def backup_name(self, when: _dt.datetime) -> str:
        directory, stem, ext = self._split()
        return os.path.join(directory, f"{stem}-{_backup_time(when)}-{BACKUP_REASON}{ext}")

    def backups(self) -> list[tuple[_dt.datetime, str]]:
        """Rotated files of this path, newest first."""
        directory, stem, ext = self._split()
        prefix = stem + "-"
        found = []
        try:
            names = os.listdir(directory or ".")
        except FileNotFoundError:
            return []
        for name in names:
            if not name.startswith(prefix):
                continue
            for suffix in (ext, ext + ".gz", ext + ".zst"):
                if suffix and name.endswith(suffix):
                    middle = name[len(prefix):len(name) - len(suffix)]
                    break
            else:
                if ext:
                    continue
                middle = name[len(prefix):]
            stamp, dash, reason = middle.rpartition("-")
            if not dash or not reason.isalnum():
                continue
            when = _parse_backup_time(stamp, self.rotation.localtime)
            if when is not None:
                found.append((when, os.path.join(directory, name)))
        found.sort(key=lambda item: item[0], reverse=True)
        return found

    def _cleanup(self) -> None:
        keep_backups, keep_days = self.rotation.max_backups, self.rotation.max_days
        if keep_backups <= 0 and keep_days <= 0:
            return
        files = self.backups()
        doomed: list[str] = []
        if keep_backups > 0:
            stamps: list[_dt.datetime] = []
            for when, _ in files:
                if when not in stamps:
                    stamps.append(when)
            kept = set(stamps[:keep_backups])
            doomed += [p for when, p in files if when not in kept]
            files = [(when, p) for when, p in files if when in kept]
        if keep_days > 0:
            cutoff = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(days=keep_days)
            doomed += [p for when, p in files if when < cutoff]
        for p in doomed:
            try:
                os.remove(p)
            except FileNotFoundError:
                pass


def _split_ext(base: str) -> tuple[str, str]:
    """filepath.Ext semantics: the suffix from the last dot (a leading dot counts too)."""
    dot = base.rfind(".")
    if dot == -1:
        return base, ""
    return base[:dot], base[dot:]


def migrate_legacy_backups(path: str, rotation: Rotation) -> None:
    """Rename backups named the older way (``<name>-<time><ext>``) to ``<name>-<time>-size<ext>``
    so that they count towards max_backups/max_days, as upstream does at start."""
    directory, base = os.path.split(path)
    stem, ext = _split_ext(base)
    prefix = stem + "-"
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(ext)):
            continue
        middle = name[len(prefix):len(name) - len(ext)] if ext else name[len(prefix):]
        if _parse_backup_time(middle, rotation.localtime) is None:
            continue
        source = os.path.join(directory, name)
        if os.path.isdir(source):
            continue
        target = os.path.join(directory, f"{prefix}{middle}-{BACKUP_REASON}{ext}")
        try:
            if os.path.exists(target):
                os.remove(source)
            else:
                os.rename(source, target)
        except OSError as exc:
            log.warning("Failed to migrate legacy backup %s: %s", source, exc)
