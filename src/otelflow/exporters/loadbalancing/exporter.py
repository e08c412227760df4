"""The load balancer: a consistent-hash ring over the resolver's backends, one ``otlp`` exporter
(with its own queue and retries) per backend, and a router that cuts each request by routing key.

When the backend list changes only the keys of added or removed ring points move (upstream's ring).
A removed backend's exporter is retired rather than simply stopped: everything still queued for it,
and any attempt that fails or is retried after the change, goes through the current ring to the new
owner, so nothing the load balancer accepted is dropped because its backend went away.

A config reload that changes the exporter starts its successor (same ID and signal) before this one
stops. This one then hands over instead of draining to its own backends. Every backend is retired
into the successor's ring, so data queued for a backend that the new list dropped, or that is down,
reaches the new owner of its key."""

from __future__ import annotations

import asyncio
import functools
import re

from google.protobuf.message import Message

from otelflow.core.component import ComponentID, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.exporterhelper import QueuedRetryExporter
from otelflow.core.telemetry import Telemetry
from otelflow.pdata import keysplit as split
from otelflow.exporters.loadbalancing.config import Config, check_resolver, endpoint_with_port, routing_key_for
from otelflow.exporters.loadbalancing.resolver import build_resolver
from otelflow.exporters.loadbalancing.ring import HashRing
from otelflow.exporters.otlp import OTLPExporter

# the running load balancer of each (component ID, signal) that started last: a reload's successor
_LATEST: dict[tuple[str, Signal], "LoadBalancingExporter"] = {}


class BackendExporter(OTLPExporter):
    """An ``otlp`` exporter for one backend that hands its data back to the router once retired."""

    def __init__(self, settings: Settings, config, reroute):
        super().__init__(settings, config)
        self.reroute = reroute
        self.retired = False
        self._retired = asyncio.Event()

    def retire(self) -> None:
        self.retired = True
        self._retired.set()

    async def consume(self, data: Message) -> None:
        if self.retired:
            await self.reroute(data)
            return
        await super().consume(data)

    async def send(self, data: Message) -> None:
        if self.retired:
            await self.reroute(data)
            return
        await super().send(data)

    async def _pause(self, delay: float) -> bool:
        """Back off as usual, but stop waiting the moment this backend is retired."""
        if self.persistent:
            return await super()._pause(delay)
        if self.retired:  # rerouting: short waits, so a ring with no backend left is not spun on
            await asyncio.sleep(min(delay, 0.1))
            return True
        try:
            await asyncio.wait_for(self._retired.wait(), delay)
        except asyncio.TimeoutError:
            pass
        return True


class LoadBalancingExporter(QueuedRetryExporter):
    def __init__(self, settings: Settings, config: Config):
        super().__init__(settings, config.sending_queue, config.retry_on_failure, config.timeout)
        self.config = config
        self.signal = settings.signal
        self.routing_key = routing_key_for(config, self.signal)
        self.resolver_kind = check_resolver(config)
        self._resolver_label = "aws" if self.resolver_kind == "aws_cloud_map" else self.resolver_kind
        self.ring = HashRing(())
        self._names: dict[str, str] = {}  # ring endpoint -> endpoint with port
        self.exporters: dict[str, BackendExporter] = {}
        self._retiring: set[asyncio.Task] = set()
        self._change = asyncio.Lock()
        self.resolver = None
        self.host: Host | None = None
        self._successor: LoadBalancingExporter | None = None
        # as upstream: the backends' exporters report no telemetry of their own
        self._backend_telemetry = Telemetry()

    # -- backends --------------------------------------------------------------------------------

    def _backend(self, endpoint: str) -> BackendExporter:
        cfg = self.config.protocol.otlp.model_copy(update={"endpoint": endpoint})
        # one ID per backend: a persistent queue's storage is keyed by it
        sid = ComponentID("otlp", "_".join(filter(None, (self.settings.id.name, re.sub(r"[^\w.-]", "_", endpoint)))))
        s = Settings(id=sid, kind=Kind.EXPORTER, telemetry=self._backend_telemetry, signal=self.signal)
        s.logger = self.log.getChild(endpoint)
        return BackendExporter(s, cfg, self.route)

    async def on_backends(self, endpoints: list[str]) -> None:
        """Rebuild the ring; start exporters for new backends and retire those that left."""
        async with self._change:
            ring = HashRing(endpoints)
            if ring == self.ring:
                return
            wanted = {e: endpoint_with_port(e) for e in endpoints}
            for name in set(wanted.values()) - set(self.exporters):
                exp = self._backend(name)
                try:
                    await exp.start(self.host)
                except Exception as exc:  # as upstream: logged, the backend is left out
                    self.log.error("failed to start new exporter for endpoint %s: %s", name, exc)
                    continue
                self.exporters[name] = exp
            self.ring, self._names = ring, wanted
            for name in set(self.exporters) - set(wanted.values()):
                exp = self.exporters.pop(name)
                exp.retire()
                task = asyncio.create_task(self._drain(exp))
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)
            tel = self.settings.telemetry
            tel.set("otelcol_loadbalancer_num_backends", len(self.exporters), resolver=self._resolver_label)
            tel.add("otelcol_loadbalancer_num_backend_updates", 1, resolver=self._resolver_label)
            self.log.info("backends now %s", sorted(self.exporters))

    @staticmethod
    async def _drain(exp: BackendExporter) -> None:
        """Stop a retired backend once its data went elsewhere; a persistent queue is emptied first
        (its workers reroute every item) instead of being left on disk for a backend that is gone."""
        try:
            while exp.pqueue is not None and exp.pqueue.size > 0:
                await asyncio.sleep(0.05)
        finally:
            await exp.shutdown()

    def _pick(self, key: bytes) -> str:
        return self._names.get(self.ring.endpoint_for(key), "")

    # -- data path -------------------------------------------------------------------------------

    async def route(self, data: Message, depth: int = 0) -> None:
        """Split ``data`` over the current ring and hand each part to its backend's exporter."""
        if self._successor is not None:
            await self._successor.route(data)
            return
        if not self.ring:
            raise ConsumerError('couldn\'t find the exporter for the endpoint ""')
        pick = functools.lru_cache(maxsize=4096)(self._pick)
        if self.signal is Signal.TRACES:
            parts = split.split_traces(data, self.routing_key, self.config.routing_attributes, pick)
        elif self.signal is Signal.LOGS:
            parts = split.split_logs(data, self.routing_key, pick, self.config.routing_attributes)
        else:
            parts, errors = split.split_metrics(data, self.routing_key, pick, self.config.routing_attributes)
            for error in errors:
                self.log.error("failed to export metric: %s", error)
            if errors and not parts:
                raise PermanentError("; ".join(errors))
        failures = []
        for endpoint, part in parts.items():
            exp = self.exporters.get(endpoint)
            try:
                if exp is not None:
                    ok = "false"
                    try:
                        await exp.consume(part)
                        ok = "true"
                    finally:
                        self.settings.telemetry.add("otelcol_loadbalancer_backend_outcome", 1, endpoint=endpoint, success=ok)
                elif endpoint in self._names.values() or depth >= 2:
                    raise ConsumerError(f'couldn\'t find the exporter for the endpoint "{endpoint}"')
                else:  # the ring changed while this request was being cut: cut the part again
                    await self.route(part, depth + 1)
            except ConsumerError as exc:
                failures.append(str(exc))
        if failures:
            raise ConsumerError("; ".join(failures))

    async def send(self, data: Message) -> None:
        await self.route(data)

    async def start_client(self, host: Host) -> None:
        self.host = host
        self.resolver = build_resolver(self.resolver_kind, self.config, self.log)
        await self.resolver.start(self.on_backends)
        _LATEST[self._key] = self

    @property
    def _key(self) -> tuple[str, Signal]:
        return str(self.settings.id), self.signal

    async def stop_client(self) -> None:
        if self.resolver is not None:
            await self.resolver.stop()
        successor = _LATEST.get(self._key)
        if successor is self:
            del _LATEST[self._key]
            successor = None
        async with self._change:
            exporters, self.exporters = list(self.exporters.values()), {}
            if successor is not None and not successor.persistent and not any(e.persistent for e in exporters):
                # a reload started our replacement: what is still queued here follows its ring
                self.log.info("handing queued data over to the reloaded load balancer")
                self._successor = successor
                for exp in exporters:
                    exp.reroute = successor.route
                    exp.retire()
        for task in list(self._retiring):  # a persistent queue not yet emptied stays on disk
            task.cancel()
        await asyncio.gather(*(e.shutdown() for e in exporters), *self._retiring, return_exceptions=True)
