"""Builds the component graph from the pipelines, the way upstream's service/internal/graph does.

Each pipeline is ``receivers → processors → fan-out to exporters``. A receiver used by several
pipelines is one instance whose per-signal consumer fans out to each pipeline; an exporter is one
instance per signal; a processor is one instance per pipeline; a connector is one instance per
(exporter-side signal, receiver-side signal) pair and feeds the pipelines that list it as a receiver:
its ``next`` is a ``Router`` that fans out to all of them or, for routing connectors, addresses
them by pipeline ID.

Components are created consumers-first, so creation order is a valid start order. ``start_order``
puts exporters first and receivers last, as upstream does, keeping creation order among processors
and connectors (which may depend on each other); the stop order is its reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otelflow.config.collector import CollectorConfig, Pipeline, PipelineID
from otelflow.config.errors import ConfigError, ConfigIssue, join_path
from otelflow.core.component import Component, ComponentID, Kind, Settings, Signal
from otelflow.core.consumer import Consumer, Fanout, Observed, Router
from otelflow.core.registry import Registry
from otelflow.core.telemetry import Telemetry
from otelflow.core.workers.exchange import Exchange
from otelflow.core.workers.placement import Absent, Forwarder, KeyRouter


@dataclass
class Node:
    kind: Kind
    id: ComponentID
    component: Component
    where: str  # signal or pipeline, for messages


class _PipelineEntry:
    """The head of a pipeline, declaring whether anything in the pipeline mutates data."""

    def __init__(self, head: Consumer, mutates: bool):
        self.consume = head.consume
        self.mutates_data = mutates


def fan_out(consumers: list[Consumer]) -> Consumer:
    return consumers[0] if len(consumers) == 1 else Fanout(consumers)


class Graph:
    def __init__(self, cfg: CollectorConfig, registry: Registry, telemetry: Telemetry,
                 exchange: Exchange | None = None, observers: list | None = None):
        self.cfg = cfg
        self.observers = observers or []  # extensions that watch what every receiver hands on
        self.exchange = exchange  # set when this is one of several workers
        self.registry = registry
        self.telemetry = telemetry
        self.nodes: list[Node] = []  # in creation (= start) order
        self._exporters: dict[tuple[ComponentID, Signal], Component] = {}
        self._connectors: dict[tuple[ComponentID, Signal, Signal], Component] = {}
        self._entries: dict[PipelineID, _PipelineEntry] = {}
        self._building: list[PipelineID] = []
        self._shared: dict[tuple[Kind, ComponentID], dict] = {}
        self.key_routers: list[KeyRouter] = []

    def start_order(self) -> list[Node]:
        rank = {Kind.EXPORTER: 0, Kind.PROCESSOR: 1, Kind.CONNECTOR: 1, Kind.RECEIVER: 2}
        return sorted(self.nodes, key=lambda n: rank[n.kind])

    def build(self) -> None:
        for pid in self.cfg.pipelines:
            self._entry(pid)
        receivers = sorted({r for p in self.cfg.pipelines.values() for r in p.receivers if r in self.cfg.components[Kind.RECEIVER]})
        for rid in receivers:
            consumers: dict[Signal, Consumer] = {}
            for signal in Signal:
                entries = [self._entry(pid) for pid, p in self.cfg.pipelines.items() if pid.signal is signal and rid in p.receivers]
                if entries:
                    consumers[signal] = fan_out(entries)
                    if self.observers:
                        consumers[signal] = Observed(consumers[signal], signal, self.observers)
            self._create(Kind.RECEIVER, rid, None, ",".join(s.value for s in consumers), consumers=consumers)

    def _entry(self, pid: PipelineID) -> _PipelineEntry:
        if pid in self._entries:
            return self._entries[pid]
        if pid in self._building:
            cycle = " -> ".join(str(p) for p in [*self._building[self._building.index(pid):], pid])
            raise ConfigError([ConfigIssue("service::pipelines", f"connectors form a cycle: {cycle}")])
        self._building.append(pid)
        pipe = self.cfg.pipelines[pid]
        targets: list[Consumer] = []
        for cid in pipe.exporters:
            if cid in self.cfg.components[Kind.CONNECTOR]:
                targets.extend(self._connector_instances(cid, pipe))
            else:
                targets.append(self._exporter(cid, pid.signal))
        head: Consumer = fan_out(targets)
        mutates = False
        chain: list[Consumer] = []
        for cid in reversed(pipe.processors):
            head = self._create(Kind.PROCESSOR, cid, pid.signal, str(pid), next=head)
            mutates = mutates or head.mutates_data
            chain.insert(0, head)
        # whether a step before this one may have changed the request in place: a connector hands on
        # what the pipelines feeding it had, after their processors
        changed = any(r in self.cfg.components[Kind.CONNECTOR] for r in pipe.receivers)
        for step in chain:
            if hasattr(step, "as_received"):  # a step that can use the client's bytes while they match
                step.as_received = not changed
            # a step that publishes what it hands on with its bytes (core/client.py) leaves it as received
            changed = (changed or step.mutates_data) and not getattr(step, "publishes_encoded", False)
        for target in targets:  # an exporter fed by several pipelines: only if none changes the request
            if getattr(target, "as_received", False) is not False:  # unset (None) or True so far
                target.as_received = not changed
        self._building.pop()
        entry = self._entries[pid] = _PipelineEntry(head, mutates)
        return entry

    def _exporter(self, cid: ComponentID, signal: Signal) -> Component:
        key = (cid, signal)
        if key not in self._exporters:
            self._exporters[key] = self._create(Kind.EXPORTER, cid, signal, signal.value)
        return self._exporters[key]

    def _connector_instances(self, cid: ComponentID, source_pipe: Pipeline) -> list[Component]:
        factory = self.registry.get(Kind.CONNECTOR, cid.type)
        source = source_pipe.id.signal
        out = []
        for target in Signal:
            fed = [pid for pid, p in self.cfg.pipelines.items() if pid.signal is target and cid in p.receivers]
            if not fed or (source, target) not in factory.pairs:
                continue
            key = (cid, source, target)
            if key not in self._connectors:
                nxt = Router({pid: self._entry(pid) for pid in fed})
                self._connectors[key] = self._create(
                    Kind.CONNECTOR, cid, source, f"{source.value}->{target.value}", source=source, target=target, next=nxt
                )
            out.append(self._connectors[key])
        return out

    def _create(self, kind: Kind, cid: ComponentID, signal: Signal | None, where: str, **kwargs: Any) -> Component:
        factory = self.registry.get(kind, cid.type)
        node_name = f"{kind.value}/{cid}/{where}"
        if self.exchange is not None and factory.one_instance and not self.exchange.ctx.owner:
            stand_in = Absent() if kind is Kind.RECEIVER else Forwarder(node_name, self.exchange)
            self.nodes.append(Node(kind, cid, stand_in, where))
            return stand_in
        shared = self._shared.setdefault((kind, cid), {})
        settings = Settings(id=cid, kind=kind, telemetry=self.telemetry, signal=signal, shared=shared)
        try:
            component = factory.create(settings=settings, config=self.cfg.config_of(kind, cid), **kwargs)
        except ConfigError:
            raise
        except Exception as exc:  # a factory refusing its config is a config problem
            raise ConfigError([ConfigIssue(join_path(kind.section, cid), f"cannot create {kind.value} for {where}: {exc}")]) from exc
        self.nodes.append(Node(kind, cid, component, where))
        if self.exchange is None or kind is Kind.RECEIVER or not (factory.one_instance or factory.state_key):
            return component
        self.exchange.register(node_name, signal.value, component)  # type: ignore[union-attr]
        if factory.state_key:
            router = KeyRouter(component, node_name, factory.state_key, self.exchange)  # type: ignore[arg-type]
            self.key_routers.append(router)
            return router  # type: ignore[return-value]
        return component
