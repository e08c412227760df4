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
import logging
import os
import posixpath
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from google.protobuf.message import Message

from otelflow.core.component import Component, ComponentID, Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.exporters.file.config import Config, GroupBy, MIN_FLUSH_INTERVAL, Rotation
from otelflow.exporters.file.encoding import _Marshaller, read_length_prefixed
from otelflow.exporters.file.writers import _PlainWriter, _RotatingWriter, migrate_legacy_backups
from otelflow.exporters.file.writers import _backup_time  # noqa: F401 - tests name backups with it
from otelflow.pdata import REQUEST_TYPES

log = logging.getLogger(__name__)


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
        field = {Signal.TRACES: "resource_spans", Signal.METRICS: "resource_metrics", Signal.LOGS: "resource_logs",
                 Signal.PROFILES: "resource_profiles"}[signal]
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
                if signal is Signal.PROFILES:
                    # the samples index into the request's dictionary: each file gets it whole (upstream
                    # v0.161.0 writes grouped profiles without it, leaving the indices dangling)
                    request.dictionary.CopyFrom(data.dictionary)
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
    one_instance=True,
)

__all__ = ["Config", "FileExporter", "GroupBy", "Rotation", "factory", "read_length_prefixed"]
