"""Pieces of a config reload (SIGHUP): receiver gates, instance reuse, what is kept and what may run twice.

A reload builds the new pipeline graph next to the running one. Receivers never talk to their
pipeline directly: a :class:`Gate` stands between them, so a receiver whose config did not change
keeps its listener and is pointed at the new pipeline in one step (or told to hold requests for a
moment), and the old pipeline is drained only once no request is still inside it. Components whose
config did not change are handed over as they are (:class:`HandoverRegistry`), so unchanged
exporters keep their queues and connections and unchanged extensions are not restarted.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable

from google.protobuf.message import Message
from pydantic import BaseModel

from otelflow.config.collector import CollectorConfig
from otelflow.core.component import Component, ComponentID, Factory, Host, Kind, Signal
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.core.graph import Graph, Node
from otelflow.core.registry import Registry

HOLD_TIMEOUT = 5.0  # a held request waits this long for the new pipeline before it is refused (retryable)
ERR_RELOADING = "the collector is reloading its configuration"

Key = tuple[Kind, ComponentID, "Signal | None"]

# Exporter types that keep no local resource (port, file, database) of their own: an old and a new
# instance of the same ID may run side by side for a moment, so a reload need not pause for them.
NETWORK_EXPORTERS = frozenset({"otlp", "otlp_grpc", "otlphttp", "otlp_http", "debug"})


class _Lane:
    """One pipeline a gate feeds, with the requests still inside it."""

    def __init__(self, target: Consumer):
        self.target = target
        self.inflight = 0
        self._idle: asyncio.Future | None = None  # made only when a reload waits for the lane to empty

    async def drained(self) -> None:
        if self.inflight:
            if self._idle is None:
                self._idle = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._idle)

    def leave(self) -> None:
        self.inflight -= 1
        if self.inflight == 0 and self._idle is not None:
            if not self._idle.done():
                self._idle.set_result(None)
            self._idle = None


class Gate:
    """The consumer a receiver holds: forwards to the current pipeline, can switch or hold."""

    def __init__(self, target: Consumer):
        self._lane: _Lane | None = _Lane(target)
        self._resumed = asyncio.Event()
        self._resumed.set()

    @property
    def mutates_data(self) -> bool:
        return bool(self._lane and self._lane.target.mutates_data)

    @property
    def target(self) -> Consumer | None:
        return self._lane.target if self._lane else None

    async def consume(self, data: Message) -> None:
        lane = self._lane
        if lane is None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + HOLD_TIMEOUT
            while lane is None:
                try:
                    await asyncio.wait_for(self._resumed.wait(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    raise ConsumerError(ERR_RELOADING) from None
                lane = self._lane
        lane.inflight += 1
        try:
            await lane.target.consume(data)
        finally:
            lane.leave()

    def switch(self, target: Consumer) -> _Lane | None:
        """Send new requests to ``target`` (releasing held ones); returns the lane left behind."""
        old, self._lane = self._lane, _Lane(target)
        self._resumed.set()
        return old

    def hold(self) -> _Lane | None:
        """Make new requests wait (up to HOLD_TIMEOUT) for the next ``switch``."""
        old, self._lane = self._lane, None
        if self._resumed.is_set():
            self._resumed = asyncio.Event()
        return old


async def drained(lanes: Iterable[_Lane | None]) -> None:
    """Wait until no request is inside any of ``lanes``."""
    for lane in lanes:
        if lane is not None:
            await lane.drained()


class HandoverRegistry:
    """What the graph of a new generation builds from: returns running instances for the keys in
    ``reuse`` and puts a :class:`Gate` in front of every new receiver's consumers."""

    def __init__(self, inner: Registry, reuse: dict[Key, Component] | None = None,
                 gates: dict[ComponentID, dict[Signal, Gate]] | None = None):
        self.inner = inner
        self.reuse = reuse or {}
        self.old_gates = gates or {}
        self.gates: dict[ComponentID, dict[Signal, Gate]] = {}
        self.targets: dict[ComponentID, dict[Signal, Consumer]] = {}  # kept receiver -> its new pipelines
        self.keys: dict[int, Key] = {}  # id(component) -> key, for every component of this generation
        self.reused: set[int] = set()

    def types(self, kind: Kind) -> list[str]:
        return self.inner.types(kind)

    def get(self, kind: Kind, type_: str) -> Factory | None:
        factory = self.inner.get(kind, type_)
        if factory is None:
            return None
        return dataclasses.replace(factory, create=lambda **kw: self._create(factory, **kw))

    def _create(self, factory: Factory, *, settings, config, **kw: Any) -> Component:
        key: Key = (settings.kind, settings.id, settings.signal)
        old = self.reuse.get(key)
        if settings.kind is Kind.RECEIVER:
            consumers: dict[Signal, Consumer] = kw.pop("consumers")
            old_gates = self.old_gates.get(settings.id, {})
            if old is not None and set(old_gates) == set(consumers):
                self.targets[settings.id] = consumers
                self.gates[settings.id] = old_gates
                return self._keep(key, old)
            gates = {signal: Gate(c) for signal, c in consumers.items()}
            self.gates[settings.id] = gates
            component = factory.create(settings=settings, config=config, consumers=gates, **kw)
        elif old is not None:
            return self._keep(key, old)
        else:
            component = factory.create(settings=settings, config=config, **kw)
        self.keys[id(component)] = key
        return component

    def _keep(self, key: Key, component: Component) -> Component:
        self.keys[id(component)] = key
        self.reused.add(id(component))
        return component


def same_config(a: BaseModel | None, b: BaseModel | None) -> bool:
    if a is None or b is None or type(a) is not type(b):
        return False
    try:
        return a.model_dump() == b.model_dump()
    except Exception:  # noqa: BLE001 - a model that cannot dump: compare as pydantic does
        return a == b


def mentions(config: BaseModel, ids: set[ComponentID]) -> bool:
    """Whether any string in ``config`` names one of ``ids`` (an auth, storage or store reference)."""
    if not ids:
        return False
    names = {str(i) for i in ids}
    try:
        tree = config.model_dump()
    except Exception:  # noqa: BLE001 - cannot look inside: assume it depends
        return True
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if node in names:
                return True
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple, set)):
            stack.extend(node)
    return False


def may_run_twice(kind: Kind, cid: ComponentID, config: BaseModel) -> bool:
    """Whether an old and a new instance of this component may run at once during a handover.

    Processors and connectors hold only memory. Network exporters too, unless their queue lives in
    a storage extension (both would open the same file). Receivers never: they share the listener."""
    if kind in (Kind.PROCESSOR, Kind.CONNECTOR):
        return True
    if kind is Kind.EXPORTER and cid.type in ("loadbalancing", "load_balancing"):
        # no port or file of its own; a successor takes over its queues (unless they live in storage)
        queues = (config.sending_queue, config.protocol.otlp.sending_queue)
        return not any(getattr(q, "enabled", True) and getattr(q, "storage", None) for q in queues)
    if kind is Kind.EXPORTER and cid.type in NETWORK_EXPORTERS:
        queue = getattr(config, "sending_queue", None)
        return not (queue is not None and getattr(queue, "enabled", True) and getattr(queue, "storage", None))
    return False


def same_collector_config(a: CollectorConfig, b: CollectorConfig) -> bool:
    """Whether two parsed configs would run the same components the same way (a SIGHUP from
    logrotate, say): then a reload has nothing to do and pipelines keep their batches and state."""
    if a.pipelines != b.pipelines or a.extensions != b.extensions or a.telemetry != b.telemetry:
        return False
    for kind in Kind:
        left, right = a.components.get(kind, {}), b.components.get(kind, {})
        if left.keys() != right.keys() or not all(same_config(left[k], right[k]) for k in left):
            return False
    return True


@dataclass
class Generation:
    """One config's running components: extensions, the pipeline graph and the receivers' gates."""

    cfg: CollectorConfig
    graph: Graph
    extensions: list[Node]
    gates: dict[ComponentID, dict[Signal, Gate]]
    keys: dict[int, Key]
    reused: set[int] = field(default_factory=set)  # id() of components carried over from the previous one
    targets: dict[ComponentID, dict[Signal, Consumer]] = field(default_factory=dict)  # carried-over receivers

    def nodes(self) -> list[Node]:
        return [*self.extensions, *self.graph.start_order()]

    def fresh(self) -> list[Node]:
        return [n for n in self.nodes() if id(n.component) not in self.reused]

    def host(self) -> Host:
        host = Host({n.id: n.component for n in self.extensions})
        host.generation = self  # the running config and components, for zpages' pages
        return host


def carry_over(old: Generation, cfg: CollectorConfig) -> dict[Key, Component]:
    """The running components that ``cfg`` may keep: same config, and no extension they name restarts."""
    gone = {e for e in old.cfg.extensions if e not in cfg.extensions or not same_config(
        old.cfg.config_of(Kind.EXTENSION, e), cfg.components[Kind.EXTENSION].get(e))}
    grew = True
    while grew:  # an extension that names a restarting one (web_ui -> embedded_store) restarts too
        grew = False
        for e in old.cfg.extensions:
            if e not in gone and mentions(old.cfg.config_of(Kind.EXTENSION, e), gone):
                gone.add(e)
                grew = True
    reuse: dict[Key, Component] = {
        (Kind.EXTENSION, n.id, None): n.component for n in old.extensions if n.id not in gone}

    def unchanged(kind: Kind, cid: ComponentID) -> bool:
        new_cfg = cfg.components[kind].get(cid)
        return same_config(old.cfg.config_of(kind, cid), new_cfg) and not mentions(new_cfg, gone)

    # an exporter is one instance per signal sharing state: keep all of them or none
    needed: dict[ComponentID, set[Signal]] = {}
    for pid, pipe in cfg.pipelines.items():
        for cid in pipe.exporters:
            if cid in cfg.components[Kind.EXPORTER]:
                needed.setdefault(cid, set()).add(pid.signal)
    exporters: dict[ComponentID, dict[Signal, Component]] = {}
    for node in old.graph.nodes:
        if id(node.component) not in old.keys:
            continue  # a worker's stand-in for a component that runs in worker 0 (core/workers)
        kind, cid, sig = old.keys[id(node.component)]
        if kind is Kind.EXPORTER:
            exporters.setdefault(cid, {})[sig] = node.component
        elif kind is Kind.RECEIVER and unchanged(kind, cid):
            reuse[(kind, cid, None)] = node.component
    for cid, by_signal in exporters.items():
        if needed.get(cid) == set(by_signal) and unchanged(Kind.EXPORTER, cid):
            reuse.update({(Kind.EXPORTER, cid, s): c for s, c in by_signal.items()})
    return reuse


def overlap_ok(old: Generation, new: Generation) -> bool:
    """Whether the new components may start while the ones they replace still run."""
    replaced = {(n.kind, n.id) for n in old.nodes() if id(n.component) not in new.reused}
    for node in new.fresh():
        if node.kind is Kind.RECEIVER or (node.kind, node.id) not in replaced:
            continue
        if not (may_run_twice(node.kind, node.id, old.cfg.config_of(node.kind, node.id))
                and may_run_twice(node.kind, node.id, new.cfg.config_of(node.kind, node.id))):
            return False
    return True
