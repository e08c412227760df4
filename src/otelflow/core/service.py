"""Runs a validated config: start in dependency order, stop in reverse, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from otelflow.config.collector import CollectorConfig
from otelflow.core.component import Component, Host, Kind, Settings
from otelflow.core.graph import Graph, Node
from otelflow.core.registry import Registry, default_registry
from otelflow.core.telemetry import Telemetry
from otelflow.core.telemetry_server import TelemetryServer, parse_settings

log = logging.getLogger("otelflow.service")

DEFAULT_SHUTDOWN_TIMEOUT = 30.0


class StartError(Exception):
    """A component failed to start; the ones already started were stopped again."""


class Service:
    def __init__(self, cfg: CollectorConfig, registry: Registry = default_registry, telemetry: Telemetry | None = None):
        self.cfg = cfg
        self.registry = registry
        self.telemetry = telemetry or Telemetry()
        self.graph = Graph(cfg, registry, self.telemetry)
        self.extensions: list[Node] = []
        self._started: list[Node] = []
        self._stopping = asyncio.Event()
        self.telemetry_server = TelemetryServer(self.telemetry, parse_settings(cfg.telemetry))

    async def start(self) -> None:
        for warning in self.cfg.warnings:
            log.warning("%s", warning)
        for eid in self.cfg.extensions:
            factory = self.registry.get(Kind.EXTENSION, eid.type)
            settings = Settings(id=eid, kind=Kind.EXTENSION, telemetry=self.telemetry)
            ext = factory.create(settings=settings, config=self.cfg.config_of(Kind.EXTENSION, eid))
            self.extensions.append(Node(Kind.EXTENSION, eid, ext, "extension"))
        self.graph.build()
        host = Host({n.id: n.component for n in self.extensions})
        await self.telemetry_server.start()
        for node in [*self.extensions, *self.graph.start_order()]:
            try:
                await node.component.start(host)
            except Exception as exc:
                log.error("failed to start %s %s: %s", node.kind.value, node.id, exc)
                await self._stop_started()
                await self.telemetry_server.shutdown()
                raise StartError(f"{node.kind.value} {node.id} ({node.where}) failed to start: {exc}") from exc
            self._started.append(node)
        self._notify_extensions("ready")
        log.info("Everything is ready. Begin running and processing data.")

    async def shutdown(self, timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> None:
        """Stop receivers first so nothing new arrives, then drain processors and exporters."""
        log.info("Starting shutdown...")
        self._notify_extensions("not_ready")
        try:
            await asyncio.wait_for(self._stop_started(), timeout)
        except asyncio.TimeoutError:
            log.error("shutdown did not finish within %.0fs; data still queued is lost", timeout)
        await self.telemetry_server.shutdown()
        log.info("Shutdown complete.")

    async def _stop_started(self) -> None:
        while self._started:
            node = self._started.pop()
            try:
                await node.component.shutdown()
            except Exception as exc:  # keep stopping the rest
                log.error("error stopping %s %s: %s", node.kind.value, node.id, exc)

    def _notify_extensions(self, hook: str) -> None:
        """Tell extensions that have a ``ready()``/``not_ready()`` hook about the service state."""
        for node in self.extensions:
            fn = getattr(node.component, hook, None)
            if callable(fn):
                try:
                    fn()
                except Exception as exc:
                    log.error("extension %s %s() failed: %s", node.id, hook, exc)

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self, shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> None:
        """Start, serve until SIGTERM/SIGINT (or ``request_stop``), then shut down."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            await self._stopping.wait()
            await self.shutdown(shutdown_timeout)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def component(self, kind: Kind, id_: str) -> Component:
        """Look up a running component by kind and ID (tests and admin endpoints)."""
        return next(n.component for n in [*self.extensions, *self.graph.nodes] if n.kind is kind and str(n.id) == id_)
