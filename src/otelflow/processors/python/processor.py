"""The ``python`` processor at run time: one plugin object per component ID, called per request.

Every pipeline that lists ``python/x`` gets its own processor instance, and they share one plugin
object (built at start, in a thread, so a plugin that loads a lookup table does not hold up the
event loop; shut down after the last of them stops). The plugin's method runs on the event loop
with the request wrapped in a batch view. What it raises never reaches the collector: under
``propagate`` the request is refused as a permanent error carrying the message; under ``ignore``
the request goes on as it arrived (the batch keeps a copy before the first change) and the error is
logged, at most once per ``LOG_EVERY`` seconds per component; ``silent`` is ``ignore`` unlogged.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import time
from typing import Any, Callable

from google.protobuf.message import Message

from otelflow.core.component import Component, Host, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.ottl.collection import PROPAGATE, SILENT

from . import loader
from .api import LogsBatch, MetricsBatch, TracesBatch
from .batch import Batch
from .config import Config

METHOD = {Signal.TRACES: "process_traces", Signal.METRICS: "process_metrics", Signal.LOGS: "process_logs"}
BATCH: dict[Signal, Callable[..., Batch]] = {Signal.TRACES: TracesBatch, Signal.METRICS: MetricsBatch, Signal.LOGS: LogsBatch}
LOG_EVERY = 10.0  # seconds between two logged plugin errors of one component


class _Plugin:
    """The user's object for one component ID, shared by that ID's processors of one config."""

    def __init__(self, cls: type, config: dict[str, Any], source: loader.Source, logger: logging.Logger):
        self.cls, self.config, self.source, self.logger = cls, config, source, logger
        self.obj: Any = None
        self.users = 0
        self.last_logged = float("-inf")
        self.unlogged = 0

    async def start(self) -> None:
        try:
            self.obj = await asyncio.to_thread(self.cls, copy.deepcopy(self.config))
        except Exception as exc:
            raise RuntimeError(f"{self.cls.__name__}(config) raised {describe(exc, self.source)}") from None

    async def stop(self) -> None:
        shutdown = getattr(self.obj, "shutdown", None)
        if not callable(shutdown):
            return
        try:
            if inspect.iscoroutinefunction(shutdown):
                await shutdown()
            else:
                await asyncio.to_thread(shutdown)
        except Exception as exc:  # noqa: BLE001 - the other components still have to stop
            self.logger.error("%s.shutdown() raised %s", self.cls.__name__, describe(exc, self.source))

    def log_error(self, text: str, outcome: str) -> None:
        """Log a plugin failure now and then, with how many were not logged in between."""
        now = time.monotonic()
        if now - self.last_logged < LOG_EVERY:
            self.unlogged += 1
            return
        more = f" ({self.unlogged} more since the last one logged)" if self.unlogged else ""
        self.logger.error("%s; %s%s", text, outcome, more)
        self.last_logged, self.unlogged = now, 0


def describe(exc: BaseException, source: loader.Source) -> str:
    return f"{type(exc).__name__}: {exc} (at {loader.where_raised(exc, source.path).rstrip(': ') or 'unknown place'})"


class PythonProcessor(Component):
    mutates_data = True

    def __init__(self, settings: Settings, config: Config, next):
        self.next = next
        self.id = settings.id
        self.signal = settings.signal
        self.logger = settings.logger
        self.mode = config.error_mode
        self.method_name = METHOD[self.signal]
        source = config.source
        cls = loader.plugin_class(loader.load(source), source, config.class_)
        if not callable(getattr(cls, self.method_name, None)):
            raise loader.LoadError(f"class {cls.__name__} in {source.path or source.name} has no method "
                                   f"{self.method_name}(batch), so it cannot run in a {self.signal.value} pipeline")
        self.shared = settings.shared
        self.plugin: _Plugin = self.shared.get("plugin") or self.shared.setdefault(
            "plugin", _Plugin(cls, config.config, source, self.logger))
        self.new_batch = BATCH[self.signal]
        self.method: Callable[[Any], Any] | None = None

    async def start(self, host: Host) -> None:
        plugin = self.plugin
        if plugin.obj is None:
            await plugin.start()
        plugin.users += 1
        self.method = getattr(plugin.obj, self.method_name)

    async def shutdown(self) -> None:
        if self.method is None:
            return
        self.method = None
        self.plugin.users -= 1
        if self.plugin.users == 0:
            await self.plugin.stop()

    async def consume(self, data: Message) -> None:
        method = self.method
        if method is None:  # stopped (a request that slipped past a reload): worth a retry
            raise ConsumerError(f"processor {self.id} is not running")
        batch = self.new_batch(data, self.mode != PROPAGATE)
        try:
            result = method(batch)
            if result is not None and inspect.isawaitable(result):  # an async def method
                await result
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - a plugin's error (even SystemExit) must not stop the collector
            self._failed(batch, exc)
        else:
            if batch._apply_drops() and batch.is_empty():
                return  # everything was dropped: nothing to hand on, and the request is accepted
        await self.next.consume(data)

    def _failed(self, batch: Batch, exc: BaseException) -> None:
        text = f"{self.plugin.cls.__name__}.{self.method_name} raised {describe(exc, self.plugin.source)}"
        if self.mode == PROPAGATE:
            self.plugin.log_error(text, "the request was refused")
            raise PermanentError(f"processor {self.id}: {text}") from None
        batch._rollback()
        if self.mode != SILENT:
            self.plugin.log_error(text, "the request was passed on unchanged")
