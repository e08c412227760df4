"""The file_log receiver's loop: every poll_interval, plan the poll (find, fingerprint, match) and
read each file in batches in a worker thread; a batch becomes entries, goes through the operator
pipeline and is consumed; only then does the file's offset advance and the checkpoint get saved,
so a restart resumes after the last accepted batch."""

from __future__ import annotations

import asyncio
import grp
import json
import logging
import os
import pwd
import stat
import time
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otelflow import __version__
from otelflow.core.component import Component, ComponentID, Host, Kind, Settings, Signal
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.receivers.filelog.config import Config
from otelflow.stanza.convert import to_logs_request
from otelflow.stanza.entry import Entry
from otelflow.stanza.expr import ExprString
from otelflow.stanza.fileconsumer import FileReader, Finder, Splitter, Tracker, trimmer
from otelflow.stanza.fileconsumer.encoding import NOP, lookup_encoding
from otelflow.stanza.pipeline import build_pipeline

#: upstream's adapter.DefaultScopeName
DEFAULT_SCOPE = "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza"
CHECKPOINT_KEY = "file_input.knownFiles"
BATCH_TOKENS = 1000


class ValueMap:
    """The input operator's ``attributes``/``resource``: literal strings, or ExprStrings with
    ``EXPR(...)`` parts rendered per entry."""

    def __init__(self, values: dict[str, str]) -> None:
        self.static = {k: v for k, v in values.items() if "EXPR(" not in v}
        self.dynamic = [(k, ExprString(v)) for k, v in values.items() if "EXPR(" in v]

    def render(self, entry: Entry) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.static)
        for key, expr in self.dynamic:
            out[key] = expr.render(entry)
        return out


class FileLogReceiver(Component):
    """One poll loop task; files are planned and read in worker threads, OTLP is handed on here."""

    def __init__(self, settings: Settings, config: Config, consumers: dict[Signal, Consumer]):
        self.settings = settings
        self.config = config
        self.consumer = consumers[Signal.LOGS]
        self.log: logging.Logger = settings.logger
        self.pipeline = build_pipeline(config.operators, f"receivers::{settings.id}::operators")
        self.codec = lookup_encoding(config.encoding)
        ml = config.multiline
        self.splitter = Splitter(self.codec, config.max_log_size, ml.line_start_pattern, ml.line_end_pattern,
                                 ml.omit_pattern, config.max_log_size_behavior == "truncate")
        self.trim = trimmer(config.preserve_leading_whitespaces, config.preserve_trailing_whitespaces, self.codec == NOP)
        self.tracker = Tracker(Finder(config.include, config.exclude, config.exclude_older_than), config.fingerprint_size,
                               config.start_at == "beginning", config.compression, config.max_concurrent_files, self.log)
        self.attributes = ValueMap(config.attributes)
        self.resource = ValueMap(config.resource)
        self.storage: Any = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._warned: set[str] = set()

    async def start(self, host: Host) -> None:
        if self.config.storage:
            ext = host.extension(ComponentID.parse(self.config.storage))
            if ext is None or not hasattr(ext, "client"):
                raise RuntimeError(f"storage client: storage extension '{self.config.storage}' not found")
            self.storage = await ext.client(Kind.RECEIVER, self.settings.id, "")
            raw = await self.storage.get(CHECKPOINT_KEY)
            if raw:
                try:
                    self.tracker.restore([FileReader.from_checkpoint(d) for d in json.loads(raw)])
                except (ValueError, KeyError, TypeError) as exc:
                    self.log.error("ignoring an unreadable checkpoint error=%s", exc)
        self._task = asyncio.create_task(self._run(), name=f"file_log {self.settings.id}")

    async def shutdown(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 10.0)
            except (asyncio.TimeoutError, Exception):
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        held = self.pipeline.flush(time.time_ns(), force=True)  # e.g. recombine's pending entries
        if held:
            await self._send(to_logs_request(held, DEFAULT_SCOPE, __version__))
        if self.storage is not None:
            try:
                await self._checkpoint()
                await self.storage.close()
            except Exception as exc:  # noqa: BLE001 - shutting down regardless
                self.log.error("saving the checkpoint failed error=%s", exc)
        await asyncio.to_thread(self.tracker.close_all)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad poll must not end the receiver
                self.log.exception("poll failed")
            try:
                await asyncio.wait_for(self._stop.wait(), self.config.poll_interval)
            except asyncio.TimeoutError:
                pass

    async def poll(self) -> None:
        plan = await asyncio.to_thread(self.tracker.plan)
        for reader in plan.lost:
            if not await self._drain(reader):
                return
            reader.close()
        for reader in plan.readers:
            if self._stop.is_set() or not await self._drain(reader):
                return
            if self.config.delete_after_read and reader.fd is not None:
                await asyncio.to_thread(self._delete, reader)
        held = self.pipeline.flush(time.time_ns())
        if held:
            await self._send(to_logs_request(held, DEFAULT_SCOPE, __version__))

    async def _drain(self, reader: FileReader) -> bool:
        """Read the file to its current end, batch by batch; False when stopping mid-way."""
        while not self._stop.is_set():
            result = await asyncio.to_thread(self._read_build, reader)
            if result is None:
                return True
            request, end_offset, ntokens = result
            if request is not None and not await self._send(request):
                return False
            reader.offset = end_offset
            reader.record_num += ntokens
            if self.storage is not None:
                await self._checkpoint()
        return False

    def _read_build(self, reader: FileReader) -> tuple[ExportLogsServiceRequest | None, int, int] | None:
        """In a worker thread: one batch of tokens -> entries -> operators -> OTLP."""
        try:
            batch = reader.read_batch(self.splitter, self.trim, BATCH_TOKENS, self.config.force_flush_period)
        except Exception as exc:  # noqa: BLE001 - a vanished or unreadable file is skipped
            self._warn_once(reader.path, "failed to read file path=%s error=%s", reader.path, exc)
            reader.close()
            return None
        if batch is None:
            return None
        cfg = self.config
        now = time.time_ns()
        file_attrs = self._file_attributes(reader)
        nop = self.codec == NOP
        codec = self.codec
        numbered = cfg.include_file_record_number
        entries = []
        for i, token in enumerate(batch.tokens):
            if not token:
                continue
            body: Any = token if nop else token.decode(codec, "replace")
            entry = Entry(body=body, observed_timestamp=now)
            try:  # helper.Attributer/Identifier first (EXPR() sees the body), then the file's attributes
                entry.attributes = self.attributes.render(entry)
                entry.resource = self.resource.render(entry) or None
            except Exception as exc:  # noqa: BLE001 - one entry's bad expression drops that entry only
                self._warn_once("expr", "create entry error=%s", exc)
                continue
            entry.attributes.update(file_attrs)
            if numbered:
                entry.attributes["log.file.record_number"] = batch.first_record + i
            entries.append(entry)
        out = self.pipeline.process(entries) if entries else []
        request = to_logs_request(out, DEFAULT_SCOPE, __version__) if out else None
        return request, batch.end_offset, len(batch.tokens)

    def _file_attributes(self, reader: FileReader) -> dict[str, Any]:
        """attrs.Resolver's attributes of one file."""
        cfg = self.config
        out: dict[str, Any] = {}
        if cfg.include_file_name:
            out["log.file.name"] = os.path.basename(reader.path)
        if cfg.include_file_path:
            out["log.file.path"] = reader.path
        if (cfg.include_file_owner_name or cfg.include_file_owner_group_name or cfg.include_file_permissions) \
                and reader.fd is not None:
            try:
                st = os.fstat(reader.fd.fileno())
                if cfg.include_file_permissions:
                    out["log.file.permissions"] = format(stat.S_IMODE(st.st_mode) & 0o777, "03o")
                if cfg.include_file_owner_name:
                    out["log.file.owner.name"] = pwd.getpwuid(st.st_uid).pw_name
                if cfg.include_file_owner_group_name:
                    out["log.file.owner.group.name"] = grp.getgrgid(st.st_gid).gr_name
            except (OSError, KeyError) as exc:
                self._warn_once("owner:" + reader.path, "resolving file owner failed path=%s error=%s", reader.path, exc)
        if cfg.include_file_name_resolved or cfg.include_file_path_resolved:
            resolved = os.path.realpath(reader.path)
            if cfg.include_file_name_resolved:
                out["log.file.name_resolved"] = os.path.basename(resolved)
            if cfg.include_file_path_resolved:
                out["log.file.path_resolved"] = resolved
        return out

    async def _send(self, request: ExportLogsServiceRequest) -> bool:
        """Hand a batch on; True once accepted or given up on, False when stopping while retrying."""
        retry = self.config.retry_on_failure
        delay, started = retry.initial_interval, time.monotonic()
        while True:
            try:
                await self.consumer.consume(request)
                return True
            except ConsumerError as exc:
                if exc.permanent or not retry.enabled:
                    self.log.error("ConsumeLogs() failed error=%s", exc)
                    return True
                if retry.max_elapsed_time and time.monotonic() - started + delay > retry.max_elapsed_time:
                    self.log.error("ConsumeLogs() failed, retries exhausted error=%s", exc)
                    return True
            except Exception as exc:  # noqa: BLE001
                self.log.error("ConsumeLogs() failed error=%s", exc)
                return True
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return False
            except asyncio.TimeoutError:
                delay = min(delay * 2, retry.max_interval) if retry.max_interval else delay * 2

    async def _checkpoint(self) -> None:
        doc = [r.to_checkpoint() for r in self.tracker.known()]
        await self.storage.set(CHECKPOINT_KEY, json.dumps(doc).encode())

    def _delete(self, reader: FileReader) -> None:
        try:
            if reader.fd is not None and reader.offset >= os.fstat(reader.fd.fileno()).st_size:
                os.remove(reader.path)
                reader.close()
        except OSError as exc:
            self._warn_once("delete:" + reader.path, "could not delete path=%s error=%s", reader.path, exc)

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log.warning(message, *args)
