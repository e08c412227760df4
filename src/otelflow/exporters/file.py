"""The ``file`` exporter: writes every request to a file as OTLP/JSON lines or length-prefixed
protobuf, optionally zstd-compressed, rotated by size, or split into one file per resource
attribute value (``group_by``).

All disk work (encoding, compressing, writing, rotating, flushing) runs on one worker thread per
exporter instance, so the event loop never blocks on the disk and writes stay in arrival order.
``consume`` returns once its bytes are in the writer's buffer; the buffer reaches the file every
``flush_interval`` and on shutdown.

As upstream, one instance serves every signal of a component (traces, metrics and logs of
``file/x`` share the file).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
import re
import posixpath
import struct
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Callable

import zstandard
from google.protobuf.message import Message
from pydantic import field_validator, model_validator

from otelflow.config.model import ComponentIDText, Duration, Model
from otelflow.core.component import Component, ComponentID, Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.pdata import REQUEST_TYPES, otlpjson

log = logging.getLogger(__name__)

FORMAT_JSON = "json"
FORMAT_PROTO = "proto"
COMPRESSION_ZSTD = "zstd"
DEFAULT_MAX_BACKUPS = 100
DEFAULT_MAX_MEGABYTES = 100  # what the rotating writer uses when max_megabytes is 0
DEFAULT_MAX_OPEN_FILES = 100
DEFAULT_RESOURCE_ATTRIBUTE = "fileexporter.path_segment"

# Bytes per "megabyte" of max_megabytes; a module attribute so tests can shrink it.
MEGABYTE = 1024 * 1024
# Backup names: <name>-<time>-<reason><ext>, time in this layout (Go: 2006-01-02T15-04-05.000).
BACKUP_REASON = "size"
# Write buffer of the plain (non-rotating) writer before a flush is forced.
BUFFER_SIZE = 64 * 1024
# The shortest flush period honoured (upstream accepts nanoseconds; a timer that fast would spin).
MIN_FLUSH_INTERVAL = 0.001


# ---------------------------------------------------------------------------------------------
# Config


class Rotation(Model):
    max_megabytes: int = DEFAULT_MAX_MEGABYTES
    max_days: int = 0
    max_backups: int = DEFAULT_MAX_BACKUPS
    localtime: bool = False


class GroupBy(Model):
    enabled: bool = False
    resource_attribute: str = DEFAULT_RESOURCE_ATTRIBUTE
    max_open_files: int = DEFAULT_MAX_OPEN_FILES


class CompressionParams(Model):
    level: int = 0


class Config(Model):
    path: str = ""
    append: bool = False
    # Rotation is on only when the key is present (upstream drops it otherwise).
    rotation: Rotation | None = None
    format: str = FORMAT_JSON
    encoding: ComponentIDText | None = None
    compression: str = ""
    compression_params: CompressionParams = CompressionParams()
    flush_interval: Duration = 1.0
    group_by: GroupBy = GroupBy()
    create_directory: bool = False
    directory_permissions: str = ""

    @field_validator("rotation", "group_by", "compression_params", mode="before")
    @classmethod
    def _present_means_defaults(cls, value: Any) -> Any:
        # `rotation:` with nothing under it turns rotation on with its defaults.
        return {} if value is None else value

    @field_validator("flush_interval", mode="after")
    @classmethod
    def _flush_default(cls, value: float) -> float:
        return 1.0 if value == 0 else value

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        # Same checks, order and messages as upstream's Config.Validate.
        if self.path == "":
            raise ValueError("path must be non-empty")
        if self.append and self.rotation is not None:
            raise ValueError("append and rotation enabled at the same time is not supported")
        if self.format not in (FORMAT_JSON, FORMAT_PROTO):
            raise ValueError("format type is not supported")
        if self.compression not in ("", COMPRESSION_ZSTD):
            raise ValueError("compression is not supported")
        if self.flush_interval < 0:
            raise ValueError("flush_interval must be larger than zero")
        if self.group_by.enabled:
            parts = self.path.split("*")
            if len(parts) != 2:
                raise ValueError("path must contain exactly one * when group_by is enabled")
            if parts[0] == "":
                raise ValueError("path must not start with * when group_by is enabled")
            if self.group_by.resource_attribute == "":
                raise ValueError("resource_attribute must not be empty when group_by is enabled")
        if self.create_directory:
            if self.directory_permissions == "":
                self.directory_permissions = "0755"
            # strconv.ParseInt(s, 8, 32): digits 0-7 with an optional sign, no prefix or separators
            if not re.fullmatch(r"[+-]?[0-7]+", self.directory_permissions):
                raise ValueError("directory_permissions value must be a valid octal representation")
            perms = int(self.directory_permissions, 8)
            if perms & 0o777 != perms or perms < 0:
                raise ValueError("directory_permissions contain invalid bits for file access")
        elif self.directory_permissions != "":
            raise ValueError("directory_permissions requires create_directory to be true")
        return self

    @property
    def directory_mode(self) -> int:
        return int(self.directory_permissions, 8) if self.directory_permissions else 0o755


# ---------------------------------------------------------------------------------------------
# Writers (used only from the exporter's worker thread)


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
        return megabytes * MEGABYTE

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


# ---------------------------------------------------------------------------------------------
# Encoding


_LENGTH = struct.Struct(">I")


class _Marshaller:
    """Request -> bytes on disk: encode (JSON, proto or an encoding extension), compress, frame."""

    def __init__(self, config: Config, extension: Any = None):
        self.format = config.format
        self.extension = extension
        self.zstd = zstandard.ZstdCompressor() if config.compression == COMPRESSION_ZSTD else None
        # JSON text is newline-separated; anything binary gets a 4-byte big-endian length prefix.
        self.length_prefixed = config.format == FORMAT_PROTO or config.compression != ""

    def encode(self, signal: Signal, data: Message) -> bytes:
        if self.extension is not None:
            marshal = getattr(self.extension, f"marshal_{signal.value}", None)
            if marshal is None:
                raise PermanentError(f"{signal.value} are not supported by encoding")
            body = bytes(marshal(data))
        elif self.format == FORMAT_PROTO:
            body = data.SerializeToString()
        else:
            body = otlpjson.encode(data)
        if self.zstd is not None:
            body = self.zstd.compress(body)
        return self.frame(body)

    def frame(self, body: bytes) -> bytes:
        if self.length_prefixed:
            return _LENGTH.pack(len(body) & 0xFFFFFFFF) + body
        return body + b"\n"


def read_length_prefixed(blob: bytes) -> list[bytes]:
    """Split a file written with length prefixes back into its messages."""
    out, pos = [], 0
    while pos + 4 <= len(blob):
        (size,) = _LENGTH.unpack_from(blob, pos)
        pos += 4
        out.append(blob[pos:pos + size])
        pos += size
    return out


# ---------------------------------------------------------------------------------------------
# The shared file sink: one per component, whatever the signal.


def _clean(p: str) -> str:
    """Go's path.Clean (posixpath.normpath keeps a leading '//', Clean does not)."""
    cleaned = posixpath.normpath(p) if p else "."
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


class _Sink:
    def __init__(self, key: tuple[str, str], config: Config, name: str):
        self.key = key
        self.config = config
        self.name = name
        self.started = 0
        self.executor: ThreadPoolExecutor | None = None
        self.marshaller: _Marshaller | None = None
        self.writer: _PlainWriter | _RotatingWriter | None = None
        self.writers: OrderedDict[str, _PlainWriter | _RotatingWriter] = OrderedDict()
        self.flusher: asyncio.Task | None = None
        self.lock = asyncio.Lock()
        grouped = config.group_by.enabled
        if grouped:
            head, _, tail = config.path.partition("*")
            self.prefix = self._clean_prefix(head)
            self.suffix = tail

    # -- lifecycle (event loop side) -------------------------------------------------------

    async def start(self, host: Host) -> None:
        async with self.lock:
            self.started += 1
            if self.started > 1:
                return
            extension = None
            if self.config.encoding is not None:
                extension = host.extension(ComponentID.parse(self.config.encoding))
                if extension is None:
                    self.started -= 1
                    raise ValueError(f'unknown encoding "{self.config.encoding}"')
            self.marshaller = _Marshaller(self.config, extension)
            self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"otelflow-{self.name}")
            try:
                await self._run(self._open)
            except BaseException:
                self.started -= 1
                self.executor.shutdown(wait=False)
                self.executor = None
                raise
            self.flusher = asyncio.get_running_loop().create_task(self._flush_loop(), name=f"{self.name}-flush")

    async def shutdown(self) -> None:
        async with self.lock:
            if self.started == 0:
                return
            self.started -= 1
            if self.started > 0:
                return
            if self.flusher is not None:
                self.flusher.cancel()
                try:
                    await self.flusher
                except asyncio.CancelledError:
                    pass
                self.flusher = None
            executor, self.executor = self.executor, None
            if executor is not None:
                try:
                    await asyncio.get_running_loop().run_in_executor(executor, self._close)
                finally:
                    executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self.executor is not None
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def _flush_loop(self) -> None:
        interval = max(self.config.flush_interval, MIN_FLUSH_INTERVAL)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._run(self._flush)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep flushing; the next write reports a broken file
                log.warning("%s: flush failed: %s", self.name, exc)

    async def export(self, signal: Signal, data: Message) -> None:
        if self.executor is None:
            raise ConsumerError(f"{self.name}: exporter is not started")
        try:
            await self._run(self._export, signal, data)
        except ConsumerError:
            raise
        except OSError as exc:
            raise ConsumerError(f"{self.name}: {exc}") from exc
        except Exception as exc:
            raise PermanentError(f"{self.name}: {exc}") from exc

    # -- worker thread side ----------------------------------------------------------------

    def _new_writer(self, path: str) -> _PlainWriter | _RotatingWriter:
        if self.config.rotation is None:
            return _PlainWriter(path, self.config.append)
        return _RotatingWriter(path, self.config.rotation)

    def _open(self) -> None:
        cfg = self.config
        if cfg.group_by.enabled:
            return  # files open on first use
        if cfg.create_directory:
            os.makedirs(os.path.dirname(cfg.path) or ".", mode=cfg.directory_mode, exist_ok=True)
        if cfg.rotation is not None:
            migrate_legacy_backups(cfg.path, cfg.rotation)
        self.writer = self._new_writer(cfg.path)

    def _flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()
        for writer in self.writers.values():
            writer.flush()

    def _close(self) -> None:
        errors = []
        writers = ([self.writer] if self.writer is not None else []) + list(self.writers.values())
        self.writer = None
        self.writers.clear()
        for writer in writers:
            try:
                writer.close()
            except OSError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _export(self, signal: Signal, data: Message) -> None:
        assert self.marshaller is not None
        if not self.config.group_by.enabled:
            assert self.writer is not None
            self.writer.write(self.marshaller.encode(signal, data))
            return
        problems = []
        for segment, request in self._group(signal, data).items():
            try:
                self._writer_for(segment).write(self.marshaller.encode(signal, request))
            except Exception as exc:
                problems.append(str(exc))
        if problems:
            raise PermanentError("; ".join(problems))

    # -- group_by --------------------------------------------------------------------------

    @staticmethod
    def _clean_prefix(prefix: str) -> str:
        cleaned = _clean(prefix)
        if prefix.endswith("/") and not cleaned.endswith("/"):
            cleaned += "/"
        return cleaned

    def _full_path(self, segment: str) -> str:
        if segment.startswith("./"):
            segment = segment[1:]
        elif segment.startswith("../"):
            segment = segment[2:]
        full = _clean(self.prefix + segment + self.suffix)
        if full.startswith(self.prefix):
            return full
        # a segment that climbs out of the prefix is pinned under it
        return posixpath.join(self.prefix, _clean(posixpath.join("/", segment + self.suffix)).lstrip("/"))

    def _group(self, signal: Signal, data: Message) -> dict[str, Message]:
        attribute = self.config.group_by.resource_attribute
        field = {Signal.TRACES: "resource_spans", Signal.METRICS: "resource_metrics", Signal.LOGS: "resource_logs"}[signal]
        groups: dict[str, Message] = {}
        for entry in getattr(data, field):
            segment = None
            for kv in entry.resource.attributes:
                if kv.key == attribute:
                    segment = kv.value.string_value if kv.value.WhichOneof("value") == "string_value" else None
                    break
            if segment is None:
                log.debug("Resource does not contain %s attribute, dropping it", attribute)
                continue
            request = groups.get(segment)
            if request is None:
                request = groups[segment] = REQUEST_TYPES[signal]()
            getattr(request, field).add().CopyFrom(entry)
        return groups

    def _writer_for(self, segment: str) -> _PlainWriter | _RotatingWriter:
        path = self._full_path(segment)
        writer = self.writers.get(path)
        if writer is not None:
            self.writers.move_to_end(path)
            return writer
        os.makedirs(posixpath.dirname(path) or ".", mode=self.config.directory_mode, exist_ok=True)
        writer = self._new_writer(path)
        self.writers[path] = writer
        limit = max(self.config.group_by.max_open_files, 1)
        while len(self.writers) > limit:
            old_path, old = self.writers.popitem(last=False)
            try:
                old.close()
            except OSError as exc:
                log.warning("Failed to close file %s: %s", old_path, exc)
        return writer


def _sink_for(settings: Settings, config: Config) -> _Sink:
    """One sink per component ID in a service: its signals share the file, as upstream's do."""
    if "sink" not in settings.shared:
        settings.shared["sink"] = _Sink((str(settings.id), config.model_dump_json()), config, f"exporter/{settings.id}")
    return settings.shared["sink"]


class FileExporter(Component):
    mutates_data = False

    def __init__(self, settings: Settings, config: Config):
        if settings.signal is None:
            raise ValueError("the file exporter needs a signal")
        self.settings = settings
        self.config = config
        self.signal = settings.signal
        self.sink = _sink_for(settings, config)
        self._started = False

    async def start(self, host: Host) -> None:
        if self._started:
            return
        await self.sink.start(host)
        self._started = True

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.sink.shutdown()

    async def consume(self, data: Message) -> None:
        await self.sink.export(self.signal, data)


def create(settings: Settings, config: Config, **_: Any) -> FileExporter:
    return FileExporter(settings, config)


factory = Factory(
    type="file",
    kind=Kind.EXPORTER,
    config=Config,
    create=create,
    signals=frozenset(Signal),
    stability="alpha",
)

__all__ = ["Config", "FileExporter", "GroupBy", "Rotation", "factory", "read_length_prefixed"]
