"""Runs a validated config: start in dependency order, stop in reverse, drain on SIGTERM, reload on SIGHUP.

A reload (``reload()``, SIGHUP) swaps to a new config without dropping accepted data. Components
whose config is unchanged are carried over as they are; receivers keep their listeners and are
pointed at the new pipelines through their gates (core/reload.py). When every replaced component
may briefly run next to its successor, the new pipelines start first and the swap is instant (a
"live" handover); otherwise (a changed extension, a file, port or storage-backed exporter) the
receivers hold new requests while the old pipelines drain and the new ones start (a "paused"
handover). An invalid or unstartable config is logged and the running one stays.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from typing import Callable, Iterable

from otelflow.config.collector import CollectorConfig
from otelflow.config.errors import ConfigError, ConfigIssue
from otelflow.core.component import Component, ComponentID, Host, Kind, Settings, Signal
from otelflow.core.graph import Graph, Node
from otelflow.core.registry import Registry, default_registry
from otelflow.core.reload import (Gate, Generation, HandoverRegistry, Key, carry_over, drained, overlap_ok,
                                  same_collector_config)
from otelflow.core.telemetry import Telemetry
from otelflow.core.telemetry_server import TelemetryServer, parse_settings, process_figures
from otelflow.core.workers.context import WorkerContext
from otelflow.core.workers.exchange import Exchange
from otelflow.core.workers.placement import Absent
from otelflow.core.workers.supervisor import ready_marker

log = logging.getLogger("otelflow.service")

DEFAULT_SHUTDOWN_TIMEOUT = 30.0


class StartError(Exception):
    """A component failed to start; the ones already started were stopped again."""


class _Failed(Exception):
    """Starting part of a generation failed; what it had started was stopped again."""

    beside_old = False  # it failed while the replaced components still ran (they may have been in the way)


class Service:
    def __init__(self, cfg: CollectorConfig, registry: Registry = default_registry, telemetry: Telemetry | None = None,
                 load_config: Callable[[], CollectorConfig] | None = None,
                 on_reload: Callable[[CollectorConfig], None] | None = None,
                 worker: WorkerContext | None = None):
        self.cfg = cfg
        self.worker = worker or WorkerContext()
        # with several workers, the channel to the others (keyed data, worker 0's totals, shutdown steps)
        self.exchange = None if self.worker.single else Exchange(
            self.worker, lambda: {**self.telemetry.snapshot(), "process": process_figures()})
        self.registry = registry
        self.telemetry = telemetry or Telemetry()
        self.load_config = load_config  # re-reads the config sources on SIGHUP (runs on a worker thread)
        self.on_reload = on_reload  # told about each config that took over (the CLI re-applies logging)
        self.gen: Generation | None = None
        self.shutdown_timeout = DEFAULT_SHUTDOWN_TIMEOUT
        self.failure: str | None = None
        self._started: list[Node] = []
        self._stopping = asyncio.Event()
        self._closing = False
        self._lock = asyncio.Lock()
        self._reload_task: asyncio.Task | None = None
        self._reload_again = False
        self._draining: set[asyncio.Task] = set()
        self.telemetry_server = self._telemetry_server(parse_settings(cfg.telemetry))

    def _telemetry_server(self, settings) -> TelemetryServer:
        """Worker 0 serves :8888 for the whole collector, summing what the other workers report."""
        if not self.worker.owner:
            settings = dataclasses.replace(settings, level="none")
        server = TelemetryServer(self.telemetry, settings)
        if self.exchange is not None:
            server.peers = self.exchange.collector_snapshots
        return server

    @property
    def graph(self) -> Graph | None:
        return self.gen.graph if self.gen else None

    @property
    def extensions(self) -> list[Node]:
        return self.gen.extensions if self.gen else []

    # -- start and stop ---------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._lock:
            for warning in self.cfg.warnings:
                log.warning("%s", warning)
            gen = self._prepare(self.cfg, {}, {})
            self.gen = gen
            await self.telemetry_server.start()
            try:
                await self._start_nodes(gen.nodes(), gen.host())
            except _Failed as exc:
                self._closing = True
                await self.telemetry_server.shutdown()
                raise StartError(str(exc)) from exc.__cause__
            if self.exchange is not None:  # other workers reach this one's nodes once they run
                try:
                    await self.exchange.start()
                except OSError as exc:
                    self._closing = True
                    await self._stop_nodes(reversed(gen.nodes()))
                    await self.telemetry_server.shutdown()
                    raise StartError(str(exc)) from exc
            self._started = gen.nodes()
            self._notify(gen.extensions, "ready")
        if self.worker.directory is not None:
            ready_marker(self.worker.directory, self.worker.index).touch()  # the supervisor waits for it
        log.info("Everything is ready. Begin running and processing data.")

    async def shutdown(self, timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> None:
        """Stop receivers first so nothing new arrives, then drain processors and exporters."""
        log.info("Starting shutdown...")
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._lock.acquire(), timeout)  # let a reload in progress finish
        except asyncio.TimeoutError:
            log.error("a config reload is still running after %.0fs; stopping anyway", timeout)
        else:
            self._lock.release()
        self._notify(self.extensions, "not_ready")
        try:
            await asyncio.wait_for(self._stop_all(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            log.error("shutdown did not finish within %.0fs; data still queued is lost", timeout)
        await self.telemetry_server.shutdown()
        if self.exchange is not None:
            await self.exchange.shutdown()
        log.info("Shutdown complete.")

    async def _stop_all(self) -> None:
        if self._draining:  # old pipelines of a live reload first: they feed exporters that still run
            await asyncio.gather(*self._draining, return_exceptions=True)
        await self._stop_started()

    async def _stop_started(self) -> None:
        step = 0
        while self._started:
            node = self._started.pop()
            if self.exchange is not None:  # what other workers' earlier steps flush may still come here
                await self.exchange.wait_for_peers(step, self.shutdown_timeout)
            await self._stop_nodes([node])
            if self.exchange is not None:
                self.exchange.progress = step
            step += 1

    @staticmethod
    async def _stop_nodes(nodes: Iterable[Node]) -> None:
        for node in nodes:
            try:
                await node.component.shutdown()
            except Exception as exc:  # keep stopping the rest
                log.error("error stopping %s %s: %s", node.kind.value, node.id, exc)

    @staticmethod
    async def _start_nodes(nodes: Iterable[Node], host: Host) -> None:
        """Start ``nodes`` in order; on a failure stop those started and raise _Failed."""
        started: list[Node] = []
        for node in nodes:
            try:
                await node.component.start(host)
            except Exception as exc:
                log.error("failed to start %s %s: %s", node.kind.value, node.id, exc)
                await Service._stop_nodes(reversed(started))
                raise _Failed(f"{node.kind.value} {node.id} ({node.where}) failed to start: {exc}") from exc
            started.append(node)

    def _notify(self, nodes: Iterable[Node], hook: str) -> None:
        """Tell extensions that have a ``ready()``/``not_ready()`` hook about the service state."""
        for node in nodes:
            fn = getattr(node.component, hook, None)
            if callable(fn):
                try:
                    fn()
                except Exception as exc:
                    log.error("extension %s %s() failed: %s", node.id, hook, exc)

    def _notify_extensions(self, hook: str) -> None:
        self._notify(self.extensions, hook)

    def request_stop(self) -> None:
        self._stopping.set()

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        name = "terminated" if sig == signal.SIGTERM else "interrupt"  # as Go names the signal
        log.info("Received signal from OS", extra={"otelcol_fields": {"signal": name}})
        self.request_stop()

    async def run(self, shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> None:
        """Start, serve until SIGTERM/SIGINT (or ``request_stop``) reloading on SIGHUP, then shut down."""
        self.shutdown_timeout = shutdown_timeout
        loop = asyncio.get_running_loop()
        handled = [signal.SIGTERM, signal.SIGINT]
        for sig in handled:
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        if hasattr(signal, "SIGHUP"):
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
            handled.append(signal.SIGHUP)
        try:
            await self.start()
            await self._stopping.wait()
            await self.shutdown(shutdown_timeout)
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
        if self.failure:
            raise StartError(self.failure)

    def component(self, kind: Kind, id_: str) -> Component:
        """Look up a running component by kind and ID (tests and admin endpoints)."""
        return next(n.component for n in [*self.extensions, *self.graph.nodes] if n.kind is kind and str(n.id) == id_)

    # -- reload -----------------------------------------------------------------------------------

    def request_reload(self) -> None:
        """SIGHUP: reload once now, and once more afterwards if asked again meanwhile."""
        log.info("Received signal from OS", extra={"otelcol_fields": {"signal": "hangup"}})
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_again = True
            return
        self._reload_task = asyncio.get_running_loop().create_task(self._reload_loop(), name="otelflow-reload")

    async def _reload_loop(self) -> None:
        while True:
            self._reload_again = False
            try:
                await self.reload()
            except Exception:  # noqa: BLE001 - a reload must never take the service down silently
                log.exception("Config reload failed")
            if not self._reload_again:
                return

    async def reload(self, cfg: CollectorConfig | None = None) -> bool:
        """Swap to ``cfg`` (or to what the config sources say now); False if it is invalid or cannot
        start, in which case the running config stays."""
        async with self._lock:
            if self.gen is None or self._closing:
                return False
            loop = asyncio.get_running_loop()
            began = loop.time()
            if cfg is None:
                if self.load_config is None:
                    log.warning("Config reload requested, but this service has no config sources to read again")
                    return False
                try:
                    cfg = await asyncio.to_thread(self.load_config)
                except ConfigError as err:
                    self._log_invalid(err)
                    return False
            try:
                metrics = parse_settings(cfg.telemetry)
            except ValueError as exc:
                path, _, message = str(exc).partition(": ")
                self._log_invalid(ConfigError([ConfigIssue(path, message)]))
                return False
            if same_collector_config(self.cfg, cfg):
                log.info("Config reloaded", extra={"otelcol_fields": {"handover": "unchanged"}})
                return True
            for warning in cfg.warnings:
                log.warning("%s", warning)
            try:
                mode, new, pause = await self._handover(cfg)
            except ConfigError as err:
                self._log_invalid(err)
                return False
            except _Failed as exc:
                if not self.failure:
                    log.error("Config reload failed: %s; the running configuration is kept", exc)
                return False
            self.gen, self.cfg = new, cfg
            self._started = new.nodes()
            self._notify([n for n in new.extensions if id(n.component) not in new.reused], "ready")
            if metrics != self.telemetry_server.settings:
                await self.telemetry_server.shutdown()
                self.telemetry_server = self._telemetry_server(metrics)
                await self.telemetry_server.start()
        if self.on_reload is not None:
            try:
                self.on_reload(cfg)
            except Exception as exc:  # noqa: BLE001 - e.g. a log file that cannot be opened
                log.error("applying the reloaded telemetry settings failed: %s", exc)
        fresh = new.fresh()
        log.info("Config reloaded", extra={"otelcol_fields": {
            "handover": mode,
            "kept": len(new.reused),
            "started": len(fresh),
            "started_components": [f"{n.kind.value} {n.id}" for n in fresh],
            "pause_ms": round(pause * 1000, 1),
            "duration_ms": round((loop.time() - began) * 1000, 1),
        }})
        return True

    def _log_invalid(self, err: ConfigError) -> None:
        n = len(err.issues)
        log.error("Config reload failed: invalid configuration (%d problem%s); the running configuration is kept",
                  n, "" if n == 1 else "s")
        for issue in err.issues:
            log.error("Config reload failed: %s", issue)

    def _prepare(self, cfg: CollectorConfig, reuse: dict[Key, Component],
                 gates: dict[ComponentID, dict[Signal, Gate]]) -> Generation:
        """Create (not start) a config's components, taking over the running ones in ``reuse``."""
        extensions: list[Node] = []
        keys: dict[int, Key] = {}
        reused: set[int] = set()
        for eid in cfg.extensions:
            key: Key = (Kind.EXTENSION, eid, None)
            ext = reuse.get(key)
            if ext is None and not self.worker.owner and self.registry.get(Kind.EXTENSION, eid.type).one_instance:
                ext = Absent()  # it runs in worker 0
            elif ext is None:
                factory = self.registry.get(Kind.EXTENSION, eid.type)
                settings = Settings(id=eid, kind=Kind.EXTENSION, telemetry=self.telemetry)
                ext = factory.create(settings=settings, config=cfg.config_of(Kind.EXTENSION, eid))
            else:
                reused.add(id(ext))
            keys[id(ext)] = key
            extensions.append(Node(Kind.EXTENSION, eid, ext, "extension"))
        registry = HandoverRegistry(self.registry, reuse, gates)
        observers = [n.component for n in extensions if callable(getattr(n.component, "observe", None))]
        graph = Graph(cfg, registry, self.telemetry, self.exchange, observers)  # type: ignore[arg-type]  # a Registry look-alike
        graph.build()
        return Generation(cfg, graph, extensions, registry.gates, {**keys, **registry.keys},
                          reused | registry.reused, registry.targets)

    async def _handover(self, cfg: CollectorConfig) -> tuple[str, Generation, float]:
        old = self.gen
        assert old is not None
        new = self._prepare(cfg, carry_over(old, cfg), old.gates)
        if overlap_ok(old, new):
            try:
                pause = await self._live(old, new)
                return "live", new, pause
            except _Failed as exc:
                if not exc.beside_old:
                    raise
                log.warning("Config reload: %s; retrying with receivers paused while the old pipelines stop", exc)
                new = self._prepare(cfg, carry_over(old, cfg), old.gates)  # fresh instances again
        pause = await self._paused(old, new)
        return "paused", new, pause

    async def _live(self, old: Generation, new: Generation) -> float:
        """Start the new pipelines, switch the kept receivers over, replace the changed receivers,
        and drain the old pipelines in the background. Returns how long listeners were closed."""
        host = new.host()
        fresh = new.fresh()
        early = [n for n in fresh if n.kind is not Kind.RECEIVER]
        try:
            await self._start_nodes(early, host)
        except _Failed as exc:
            exc.beside_old = True
            raise
        lanes = {(rid, s): gate.switch(new.targets[rid][s]) for rid in new.targets for s, gate in new.gates[rid].items()}
        retired = [n for n in old.nodes() if id(n.component) not in new.reused]
        old_receivers = [n for n in retired if n.kind is Kind.RECEIVER]
        new_receivers = [n for n in fresh if n.kind is Kind.RECEIVER]
        loop = asyncio.get_running_loop()
        closed = loop.time()
        await self._stop_nodes(reversed(old_receivers))  # their requests in flight finish first
        try:
            await self._start_nodes(new_receivers, host)
        except _Failed:
            # everything back as it was: kept receivers to the old pipelines, old receivers listening
            back = [new.gates[rid][s].switch(lane.target) for (rid, s), lane in lanes.items() if lane is not None]
            try:
                await self._start_nodes(old_receivers, old.host())
            except _Failed as again:
                self._lost(f"the previous receivers could not listen again ({again})",
                           [n for n in old.nodes() if n not in old_receivers])
            await drained(back)
            await self._stop_nodes(reversed(early))
            raise
        gap = loop.time() - closed if (old_receivers and new_receivers) else 0.0
        rest = [n for n in retired if n.kind is not Kind.RECEIVER]

        async def drain() -> None:
            await drained(lanes.values())
            await self._stop_nodes(reversed(rest))  # processors flush, exporters empty their queues

        task = loop.create_task(drain(), name="otelflow-reload-drain")
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)
        return gap

    async def _paused(self, old: Generation, new: Generation) -> float:
        """Hold the kept receivers, stop and drain everything replaced, start the new components,
        then let the held requests into the new pipelines. Returns the pause."""
        loop = asyncio.get_running_loop()
        if self._draining:  # an earlier live reload still emptying its old pipelines
            await asyncio.wait(list(self._draining), timeout=self.shutdown_timeout)
        held_at = loop.time()
        lanes = [gate.hold() for rid in new.targets for gate in new.gates[rid].values()]
        retired = [n for n in old.nodes() if id(n.component) not in new.reused]
        await self._stop_nodes(reversed([n for n in retired if n.kind is Kind.RECEIVER]))
        await drained(lanes)
        try:
            await asyncio.wait_for(self._stop_nodes(reversed([n for n in retired if n.kind is not Kind.RECEIVER])),
                                   self.shutdown_timeout)
        except asyncio.TimeoutError:
            log.error("Config reload: the old pipelines did not drain within %.0fs; data still queued in them is lost",
                      self.shutdown_timeout)
        try:
            await self._bring_up(new)
        except _Failed as exc:
            # back to the previous config, reusing what is still running
            kept = {old.keys[id(n.component)]: n.component for n in old.nodes() if id(n.component) in new.reused}
            restore = self._prepare(old.cfg, kept, old.gates)
            try:
                await self._bring_up(restore)
            except _Failed as again:
                self._lost(f"the previous configuration could not be restarted ({again})",
                           [n for n in old.nodes() if id(n.component) in new.reused])
                raise
            self.gen = restore
            self._started = restore.nodes()
            self._notify([n for n in restore.extensions if id(n.component) not in restore.reused], "ready")
            raise
        return loop.time() - held_at

    def _lost(self, what: str, running: list[Node]) -> None:
        """A reload failed half-way and the old config cannot come back: stop what still runs."""
        self.failure = f"config reload failed and {what}"
        log.error("Config reload failed: %s; stopping", self.failure)
        self._started = running
        self.request_stop()

    async def _bring_up(self, gen: Generation) -> None:
        """Start a generation's new components around receivers that are holding requests."""
        host = gen.host()
        fresh = gen.fresh()
        early = [n for n in fresh if n.kind is not Kind.RECEIVER]
        await self._start_nodes(early, host)
        for rid, targets in gen.targets.items():
            for s, gate in gen.gates[rid].items():
                gate.switch(targets[s])
        try:
            await self._start_nodes([n for n in fresh if n.kind is Kind.RECEIVER], host)
        except _Failed:
            lanes = [gate.hold() for rid in gen.targets for gate in gen.gates[rid].values()]
            await drained(lanes)
            await self._stop_nodes(reversed(early))
            raise
