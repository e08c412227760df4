"""The ``debug`` exporter: writes what it receives to the collector's log or to stdout.

Per request it logs a one-line summary with counts (``basic``); with ``normal`` it adds about one
line per item, with ``detailed`` every field of every item (the text of
:mod:`otelflow.pdata.otlptext`). Output is rate-limited like upstream's zap sampler: per message,
the first ``sampling_initial`` each second, then every ``sampling_thereafter``-th.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TextIO

from google.protobuf.message import Message
from pydantic import field_validator, model_validator

from otelflow.config.model import Model
from otelflow.config.settings import QueueSettings
from otelflow.core.component import Component, Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.pdata import count_data_points, count_log_records, count_profile_samples, count_spans
from otelflow.pdata import otlptext
from otelflow.pdata.otlptext_profiles import profiles_normal, profiles_text


class Verbosity(str, enum.Enum):
    BASIC = "basic"
    NORMAL = "normal"
    DETAILED = "detailed"


class Config(Model):
    verbosity: Verbosity = Verbosity.BASIC
    sampling_initial: int = 2
    sampling_thereafter: int = 1
    use_internal_logger: bool = True
    # where to write when use_internal_logger is false: "stdout", "stderr" or file paths (appended to);
    # unset means stdout
    output_paths: list[str] | None = None
    # Accepted for compatibility; requests are written as they arrive (see docs/exporters/debug.md).
    sending_queue: QueueSettings | None = None

    @field_validator("verbosity", mode="before")
    @classmethod
    def _verbosity(cls, value: Any) -> Any:
        # configtelemetry.Level unmarshals case-insensitively; "none" exists there but not here.
        if isinstance(value, str):
            lowered = value.lower()
            if lowered in {v.value for v in Verbosity}:
                return lowered
            if lowered == "none":
                raise ValueError('verbosity level "None" is not supported')
            raise ValueError(f'unknown metrics level "{lowered}"')
        return value

    @model_validator(mode="after")
    def _output_paths(self) -> "Config":
        if self.use_internal_logger and self.output_paths is not None:
            raise ValueError("output_paths is not supported when use_internal_logger is true")
        if not self.use_internal_logger and self.output_paths is not None and not self.output_paths:
            raise ValueError("output_paths must not be empty when use_internal_logger is false")
        return self

    @field_validator("sending_queue", mode="before")
    @classmethod
    def _queue_present(cls, value: Any) -> Any:
        return {} if value is None else value


class Sampler:
    """zap's sampler: per (level, message) and per one-second tick, log the first ``initial``
    entries, then every ``thereafter``-th (none when ``thereafter`` is 0)."""

    TICK = 1.0
    _BUCKETS = 4096  # like zap, counters are kept per hash bucket, not per exact message

    def __init__(self, initial: int, thereafter: int, clock: Callable[[], float] = time.monotonic):
        self.initial = initial
        self.thereafter = thereafter
        self.clock = clock
        self._counters: dict[int, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, message: str) -> bool:
        key = hash(message) % self._BUCKETS
        now = self.clock()
        with self._lock:
            counter = self._counters.get(key)
            if counter is None or now >= counter[0]:
                counter = self._counters[key] = [now + self.TICK, 0]
            counter[1] += 1
            n = counter[1]
        if n <= self.initial:
            return True
        if self.thereafter <= 0:
            return False
        return (n - self.initial) % self.thereafter == 0


def _fields(pairs: list[tuple[str, int]]) -> str:
    # zap's console encoder writes the fields as a JSON object with spaces after ':' and ','.
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


def _summary(signal: Signal, data: Message) -> tuple[str, list[tuple[str, int]]]:
    if signal is Signal.TRACES:
        return "Traces", [("resource spans", len(data.resource_spans)), ("spans", count_spans(data))]
    if signal is Signal.METRICS:
        metrics = sum(len(sm.metrics) for rm in data.resource_metrics for sm in rm.scope_metrics)
        return "Metrics", [
            ("resource metrics", len(data.resource_metrics)),
            ("metrics", metrics),
            ("data points", count_data_points(data)),
        ]
    if signal is Signal.PROFILES:
        return "Profiles", [("resource profiles", len(data.resource_profiles)), ("sample records", count_profile_samples(data))]
    return "Logs", [("resource logs", len(data.resource_logs)), ("log records", count_log_records(data))]


_DETAILED: dict[Signal, Callable[[Any], str]] = {
    Signal.TRACES: otlptext.traces_text,
    Signal.METRICS: otlptext.metrics_text,
    Signal.LOGS: otlptext.logs_text,
    Signal.PROFILES: profiles_text,
}
_NORMAL: dict[Signal, Callable[[Any], str]] = {
    Signal.TRACES: otlptext.traces_normal,
    Signal.METRICS: otlptext.metrics_normal,
    Signal.LOGS: otlptext.logs_normal,
    Signal.PROFILES: profiles_normal,
}

# One writer thread for stdout shared by every debug exporter: keeps lines whole and in order.
_stdout_lock = threading.Lock()
_stdout_executor: ThreadPoolExecutor | None = None


def _stdout_pool() -> ThreadPoolExecutor:
    global _stdout_executor
    with _stdout_lock:
        if _stdout_executor is None:
            _stdout_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otelflow-debug-stdout")
        return _stdout_executor


class DebugExporter(Component):
    mutates_data = False

    def __init__(self, settings: Settings, config: Config, stream: TextIO | None = None):
        if settings.signal is None:
            raise ValueError("the debug exporter needs a signal")
        self.settings = settings
        self.config = config
        self.signal = settings.signal
        self.logger: logging.Logger = settings.logger
        self.sampler = Sampler(config.sampling_initial, config.sampling_thereafter)
        self._stream = stream  # None: output_paths at write time (tests may swap it)
        self._files: dict[str, TextIO] = {}
        self._render = None
        if config.verbosity is Verbosity.DETAILED:
            self._render = _DETAILED[self.signal]
        elif config.verbosity is Verbosity.NORMAL:
            self._render = _NORMAL[self.signal]
        # Rendering and writing for normal/detailed happen off the event loop, one at a time.
        self._executor: ThreadPoolExecutor | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self) -> None:
        if not self.config.use_internal_logger:
            await asyncio.get_running_loop().run_in_executor(_stdout_pool(), self._flush_stdout)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- data path -------------------------------------------------------------------------

    async def consume(self, data: Message) -> None:
        message, fields = _summary(self.signal, data)
        if self._render is None and self.config.use_internal_logger:
            # basic: a single short log call, cheap enough to make in place
            self._emit_log(message, fields)
            return
        loop = asyncio.get_running_loop()
        pool = _stdout_pool() if not self.config.use_internal_logger else self._pool()
        try:
            await loop.run_in_executor(pool, self._write, data, message, fields)
        except Exception as exc:  # rendering or writing failed
            raise ConsumerError(f"debug exporter: {exc}") from exc

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"otelflow-{self.settings.id}")
        return self._executor

    def _write(self, data: Message, message: str, fields: list[tuple[str, int]]) -> None:
        """Runs on a worker thread: summary line, then the rendered text if verbosity asks for it."""
        if self.config.use_internal_logger:
            self._emit_log(message, fields)
            if self._render is not None:
                text = self._render(data)
                if self.sampler.allow(text):
                    self.logger.info("%s", text)
            return
        out: list[str] = []
        if self.sampler.allow(message):
            out.append(f"{message}\t{_fields(fields)}\n")
        if self._render is not None:
            text = self._render(data)
            if self.sampler.allow(text):
                out.append(text + "\n")
        if out:
            text = "".join(out)
            for stream in self._streams():
                stream.write(text)
                stream.flush()

    def _streams(self) -> list[TextIO]:
        """The outputs, opened on first use (on the writer thread, not the event loop)."""
        if self._stream is not None:
            return [self._stream]
        streams = []
        for target in self.config.output_paths or ["stdout"]:
            if target in ("stdout", "stderr"):
                streams.append(sys.stdout if target == "stdout" else sys.stderr)
                continue
            if target not in self._files:
                self._files[target] = open(target, "a", encoding="utf-8")  # noqa: SIM115 - closed at shutdown
            streams.append(self._files[target])
        return streams

    def _emit_log(self, message: str, fields: list[tuple[str, int]]) -> None:
        if self.sampler.allow(message):
            # the counts are fields, as zap writes them: the log setup puts them after the message
            self.logger.info("%s", message, extra={"otelcol_fields": dict(fields)})

    def _flush_stdout(self) -> None:
        for stream in [self._stream] if self._stream is not None else [sys.stdout, sys.stderr]:
            try:
                stream.flush()
            except (OSError, ValueError):  # closed or unflushable stdout: nothing to sync, as upstream
                pass
        for file in self._files.values():
            file.close()
        self._files.clear()


def create(settings: Settings, config: Config, **_: Any) -> DebugExporter:
    return DebugExporter(settings, config)


factory = Factory(
    type="debug",
    kind=Kind.EXPORTER,
    config=Config,
    create=create,
    signals=frozenset(Signal),
    stability="development",
)

__all__ = ["Config", "DebugExporter", "Sampler", "Verbosity", "factory"]
