"""``service::telemetry::logs``: the collector's own log lines, shaped as otelcol (zap) writes them.

Keys and defaults are upstream's (v0.161 ``LogsConfigV030``). Each line carries ``level``, ``ts``
(ISO 8601 with milliseconds, as otelcol sets it for both encodings), ``caller``, ``msg``, then
fields: ``initial_fields``, ``resource``, and ``otelcol.component.id``/``kind`` for component
loggers (``otelflow.<kind>.<id>``). A record's ``otelcol_fields`` dict (``extra=``) adds fields.

Records are formatted on the calling thread (message, sampling, stack) and encoded and written on
one writer thread, so a slow stderr pipe or disk never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import logging
import os
import queue
import sys
import threading
import time
import traceback
import uuid
from typing import Any, Optional, TextIO

from pydantic import field_validator

from otelflow import __version__
from otelflow.config.model import Duration, Model, validate

# zap level names (what the config accepts, lowercased as zap does) -> Python threshold
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "": logging.INFO, "warn": logging.WARNING,
          "warning": logging.WARNING, "error": logging.ERROR, "dpanic": logging.CRITICAL,
          "panic": logging.CRITICAL, "fatal": logging.CRITICAL}
ENCODINGS = ("console", "json")
_COMPONENT_KINDS = ("receiver", "processor", "exporter", "connector", "extension")
# service.instance.id: one per collector, kept across reloads; workers take their supervisor's
_INSTANCE_ID = os.environ.get("OTELFLOW_INSTANCE_ID") or str(uuid.uuid4())


def instance_id() -> str:
    return _INSTANCE_ID


class SamplingConfig(Model):
    enabled: bool = True
    tick: Duration = 10.0
    initial: int = 10
    thereafter: int = 100


class LogsConfig(Model):
    level: str = "info"
    development: bool = False
    encoding: str = "console"
    disable_caller: bool = False
    disable_stacktrace: bool = False
    sampling: Optional[SamplingConfig] = SamplingConfig()
    output_paths: list[str] = ["stderr"]
    error_output_paths: list[str] = ["stderr"]
    initial_fields: dict[str, Any] = {}
    processors: list[Any] = []  # OTLP export of the collector's own logs: accepted, not supported
    disable_zap_resource: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, v: Any) -> str:
        text = "" if v is None else str(v)
        if text.lower() not in LEVELS:
            raise ValueError(f'unrecognized level: "{text}"')
        return text.lower() or "info"

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        if not v:
            raise ValueError("no encoder name specified")
        if v not in ENCODINGS:
            raise ValueError(f'no encoder registered for name "{v}"')
        return v

    @property
    def threshold(self) -> int:
        return LEVELS[self.level]


def parse(telemetry: dict | None) -> LogsConfig:
    """``service::telemetry::logs`` as a checked model; raises ConfigError naming each bad key."""
    logs = (telemetry or {}).get("logs") if isinstance(telemetry, dict) else None
    return validate(LogsConfig, logs, "service::telemetry::logs")


def resource_fields(telemetry: dict | None) -> dict[str, str]:
    """The ``resource`` field otelcol adds to every line; ``service::telemetry::resource`` overrides
    it (both the legacy ``{key: value}`` map and the ``attributes: [{name, value}]`` form); a null
    value removes a key."""
    out: dict[str, Any] = {"service.instance.id": _INSTANCE_ID, "service.name": "otelflow", "service.version": __version__}
    res = (telemetry or {}).get("resource") if isinstance(telemetry, dict) else None
    if isinstance(res, dict):
        if isinstance(res.get("attributes"), list):
            pairs = [(a.get("name"), a.get("value")) for a in res["attributes"] if isinstance(a, dict)]
        else:
            pairs = [(k, v) for k, v in res.items() if k != "schema_url"]
        for key, value in pairs:
            if value is None:
                out.pop(str(key), None)
            else:
                out[str(key)] = str(value)
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------


def iso8601(ts: float) -> str:
    """Go's ``2006-01-02T15:04:05.000Z0700`` in local time, as zap's ISO8601TimeEncoder writes it."""
    local = time.localtime(ts)
    millis = int(ts * 1000) % 1000
    offset = local.tm_gmtoff or 0
    if offset == 0:
        zone = "Z"
    else:
        sign = "+" if offset > 0 else "-"
        zone = f"{sign}{abs(offset) // 3600:02d}{abs(offset) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{millis:03d}{zone}"


def level_name(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "fatal"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


def component_fields(logger_name: str) -> dict[str, str]:
    """``otelflow.exporter.otlp/tempo`` -> the component fields otelcol puts on that component's lines."""
    parts = logger_name.split(".", 2)
    if len(parts) == 3 and parts[0] == "otelflow" and parts[1] in _COMPONENT_KINDS:
        return {"otelcol.component.id": parts[2], "otelcol.component.kind": parts[1]}
    return {}


_SKIP_FRAMES = (os.path.dirname(logging.__file__), os.path.abspath(__file__))
_RUNNERS = tuple(os.path.dirname(m.__file__) for m in (asyncio, concurrent.futures)) + (threading.__file__, "<frozen")


def _call_stack() -> str:
    """The caller's stack, innermost first, as zap prints a Go stack (function, then file:line);
    it ends where the event loop or a worker thread called in, since what lies below is the same
    for every line."""
    lines = []
    for f in reversed(traceback.extract_stack()):
        if f.filename.startswith(_SKIP_FRAMES):
            continue
        if f.filename.startswith(_RUNNERS):
            break
        lines.append(f"{f.name}\n\t{f.filename}:{f.lineno}")
    return "\n".join(lines)


class Encoder:
    """Builds zap's entry (prepare, on the logging thread) and its text (encode, on the writer)."""

    def __init__(self, cfg: LogsConfig, resource: dict[str, str]):
        self.json = cfg.encoding == "json"
        self.caller = not cfg.disable_caller
        self.stack_level = None if cfg.disable_stacktrace else (logging.WARNING if cfg.development else logging.ERROR)
        self.base_fields: dict[str, Any] = dict(cfg.initial_fields)
        if not cfg.disable_zap_resource and resource:
            self.base_fields["resource"] = resource
        worker = os.environ.get("OTELFLOW_WORKER_INDEX")
        if worker is not None:  # one of several worker processes (core/workers): say which
            self.base_fields["worker"] = int(worker)

    def prepare(self, record: logging.LogRecord, message: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"level": level_name(record.levelno), "ts": iso8601(record.created)}
        if not record.name.startswith("otelflow") and record.name != "root":
            entry["logger"] = record.name
        if self.caller:
            folder = os.path.basename(os.path.dirname(record.pathname))
            entry["caller"] = f"{folder}/{record.filename}:{record.lineno}" if folder else f"{record.filename}:{record.lineno}"
        entry["msg"] = message
        fields = {**self.base_fields, **component_fields(record.name)}
        extra = getattr(record, "otelcol_fields", None)
        if isinstance(extra, dict):
            fields.update(extra)
        stack = None
        if record.exc_info and record.exc_info[1] is not None:
            fields["error"] = str(record.exc_info[1])
            stack = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif self.stack_level is not None and record.levelno >= self.stack_level:
            stack = _call_stack()
        return {"entry": entry, "fields": fields, "stack": stack if self.stack_level is not None else None}

    def encode(self, item: dict[str, Any]) -> str:
        entry, fields, stack = item["entry"], item["fields"], item["stack"]
        if self.json:
            out = {**entry, **fields}
            if stack:
                out["stacktrace"] = stack
            return json.dumps(out, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        cols = [entry["ts"], entry["level"]]
        if "logger" in entry:
            cols.append(entry["logger"])
        if "caller" in entry:
            cols.append(entry["caller"])
        cols.append(entry["msg"])
        if fields:
            cols.append(json.dumps(fields, ensure_ascii=False, default=str))
        return "\t".join(cols) + ("\n" + stack if stack else "") + "\n"


class Sampler:
    """zap's sampler: per level and message, the first ``initial`` lines of each ``tick`` pass, then
    every ``thereafter``-th (none when 0). Counters sit in fixed buckets, as zap's do."""

    BUCKETS = 4096

    def __init__(self, tick: float, initial: int, thereafter: int):
        self.tick, self.initial, self.thereafter = tick, initial, thereafter
        self._counts: dict[int, list] = {}
        self._lock = threading.Lock()

    def allow(self, levelno: int, message: str, now: float) -> bool:
        key = hash((levelno, message)) % self.BUCKETS
        with self._lock:
            slot = self._counts.get(key)
            if slot is None or now > slot[1]:
                slot = self._counts[key] = [0, now + self.tick]
            slot[0] += 1
            n = slot[0]
        return not (n > self.initial and (self.thereafter == 0 or (n - self.initial) % self.thereafter != 0))


# --------------------------------------------------------------------------------------------------
# Sinks and the writer thread
# --------------------------------------------------------------------------------------------------


class SinkError(Exception):
    pass


def open_sink(path: str) -> tuple[TextIO, bool]:
    """A zap output path: ``stdout``, ``stderr``, a file path or an absolute ``file://`` URL.
    Returns the stream and whether it is ours to close."""
    if path == "stdout":
        return sys.stdout, False
    if path == "stderr":
        return sys.stderr, False
    target = path
    scheme, sep, rest = path.partition(":")
    if sep and len(scheme) > 1 and not os.path.isabs(path):  # a URL (not C:\ on Windows)
        if scheme != "file":
            raise SinkError(f'open sink "{path}": no sink found for scheme "{scheme}"')
        host_path = rest[2:] if rest.startswith("//") else ""
        host, slash, file_path = host_path.partition("/")
        if host not in ("", "localhost") or not slash:
            raise SinkError(f'open sink "{path}": file URLs must leave host empty or use localhost and give an absolute path')
        target = "/" + file_path
    try:
        return open(target, "a", encoding="utf-8"), True
    except OSError as exc:
        raise SinkError(f'open sink "{path}": open {target}: {(exc.strerror or str(exc)).lower()}') from None


class _Writer:
    """Encodes queued entries and writes them to every sink; stops after draining the queue."""

    _STOP = object()

    def __init__(self, encoder: Encoder, sinks: list[tuple[TextIO, bool]], errors: list[tuple[TextIO, bool]]):
        self.encoder, self.sinks, self.errors = encoder, sinks, errors
        self.queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="otelflow-log-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            items = [self.queue.get()]
            while True:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(i is self._STOP for i in items)
            text = "".join(self.encoder.encode(i) for i in items if i is not self._STOP)
            if text:
                for stream, _ in self.sinks:
                    try:
                        stream.write(text)
                        stream.flush()
                    except Exception as exc:  # noqa: BLE001 - report on the error outputs, keep going
                        self.report(f"write error: {exc}")
            if stop:
                return

    def report(self, text: str) -> None:
        for stream, _ in self.errors:
            try:
                stream.write(f"{iso8601(time.time())}\t{text}\n")
                stream.flush()
            except Exception:  # noqa: BLE001 - nowhere left to report to
                pass

    def stop(self) -> None:
        self.queue.put(self._STOP)
        self.thread.join(timeout=5)
        for stream, owned in {id(s): (s, o) for s, o in [*self.sinks, *self.errors]}.values():
            if owned:
                try:
                    stream.close()
                except OSError:
                    pass


class Handler(logging.Handler):
    """Root handler: filters, samples and prepares on the calling thread; the writer does the I/O."""

    def __init__(self, cfg: LogsConfig, writer: _Writer):
        super().__init__(level=cfg.threshold)
        self.threshold = cfg.threshold
        self.writer = writer
        self.encoder = writer.encoder
        s = cfg.sampling
        self.sampler = Sampler(s.tick, s.initial, s.thereafter) if s is not None and s.enabled else None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # libraries' own debug chatter (asyncio, grpc, aiohttp) is not the collector's debug log
            if record.levelno < logging.INFO and not record.name.startswith("otelflow"):
                return
            message = record.getMessage()
            if self.sampler is not None and not self.sampler.allow(record.levelno, message, record.created):
                return
            self.writer.queue.put(self.encoder.prepare(record, message))
        except Exception:  # noqa: BLE001
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        exc = sys.exc_info()[1]
        self.writer.report(f"cannot log {record.name} line: {exc}")


# --------------------------------------------------------------------------------------------------
# Installing
# --------------------------------------------------------------------------------------------------

_lock = threading.Lock()
_current: tuple[Handler, LogsConfig, dict] | None = None


def configure(cfg: LogsConfig, resource: dict[str, str] | None = None) -> None:
    """Route every log record through ``cfg``; replaces what an earlier call installed. Raises
    SinkError (the running setup stays) when an output cannot be opened."""
    global _current
    resource = resource_fields(None) if resource is None else resource
    sinks: list[tuple[TextIO, bool]] = []
    try:
        for path in cfg.output_paths:
            sinks.append(open_sink(path))
        errors = [open_sink(path) for path in cfg.error_output_paths]
    except SinkError:
        for stream, owned in sinks:
            if owned:
                stream.close()
        raise
    writer = _Writer(Encoder(cfg, resource), sinks, errors)
    handler = Handler(cfg, writer)
    root = logging.getLogger()
    with _lock:
        previous, _current = _current, (handler, cfg, resource)
        for old in list(root.handlers):
            root.removeHandler(old)
        root.addHandler(handler)
        root.setLevel(cfg.threshold)
    if previous is not None:
        previous[0].writer.stop()
    if cfg.processors:
        logging.getLogger("otelflow.service").warning(
            "service::telemetry::logs::processors is not supported: the collector's own logs are not exported")


def reconfigure(telemetry: dict | None) -> bool:
    """Apply the logs section of a reloaded config if it differs; True when something changed."""
    cfg, resource = parse(telemetry), resource_fields(telemetry)
    if _current is not None and _current[1] == cfg and _current[2] == resource:
        return False
    configure(cfg, resource)
    return True


def shutdown() -> None:
    """Write out what is queued and close the outputs (at exit)."""
    global _current
    with _lock:
        current, _current = _current, None
        if current is not None:
            logging.getLogger().removeHandler(current[0])
    if current is not None:
        current[0].writer.stop()


atexit.register(shutdown)
