"""What every rule looks at: the validated config (typed, with upstream's defaults, so a rule judges
what will run, not only what was written), and the questions several rules ask of it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterator

from pydantic import BaseModel

from otelflow.config.collector import CollectorConfig, Pipeline, PipelineID
from otelflow.config.errors import join_path
from otelflow.config.settings import GRPCServerSettings, HTTPServerSettings
from otelflow.core.component import ComponentID, Kind
from otelflow.core.registry import Registry
from otelflow.doctor import addresses
from otelflow.doctor.addresses import Address

#: Exporters that send over the network (push), by canonical type.
NETWORK_EXPORTERS = frozenset({"otlp", "otlphttp", "zipkin", "kafka", "loadbalancing", "prometheus_remote_write"})


@dataclass(frozen=True)
class Server:
    """One listening endpoint of a component."""

    kind: Kind
    id: ComponentID
    path: str  # YAML path of the block holding ``endpoint``
    settings: BaseModel
    address: Address

    @property
    def tls(self) -> bool:
        return getattr(self.settings, "tls", None) is not None

    @property
    def auth(self) -> bool:
        return getattr(self.settings, "auth", None) is not None


@dataclass(frozen=True)
class Target:
    """One place an exporter sends to."""

    id: ComponentID
    path: str  # YAML path of the key naming the destination
    address: Address
    plaintext: bool  # no TLS at all
    unverified: bool  # TLS without checking the server's certificate


@dataclass
class LintContext:
    cfg: CollectorConfig
    registry: Registry

    # -- components ---------------------------------------------------------------------------------

    def type_of(self, kind: Kind, cid: ComponentID) -> str:
        """The canonical type (``otlp_http`` and ``otlphttp`` are both ``otlphttp``)."""
        factory = self.registry.get(kind, cid.type)
        return factory.type if factory is not None else cid.type

    def of_type(self, kind: Kind, *types: str) -> Iterator[tuple[ComponentID, Any]]:
        for cid, model in self.cfg.components.get(kind, {}).items():
            if self.type_of(kind, cid) in types:
                yield cid, model

    @staticmethod
    def path(kind: Kind, cid: ComponentID, *rel: object) -> str:
        return join_path(kind.section, cid, *rel)

    # -- pipelines ----------------------------------------------------------------------------------

    @property
    def pipelines(self) -> dict[PipelineID, Pipeline]:
        return self.cfg.pipelines

    @staticmethod
    def pipeline_path(pid: PipelineID, *rel: object) -> str:
        return join_path("service::pipelines", pid, *rel)

    def processor_types(self, pipe: Pipeline) -> list[str]:
        return [self.type_of(Kind.PROCESSOR, cid) for cid in pipe.processors]

    def is_connector(self, cid: ComponentID) -> bool:
        return cid in self.cfg.components.get(Kind.CONNECTOR, {})

    def used(self, kind: Kind, cid: ComponentID) -> bool:
        if kind is Kind.EXTENSION:
            return cid in self.cfg.extensions
        return any(cid in (*p.receivers, *p.processors, *p.exporters) for p in self.pipelines.values())

    def in_use(self, kind: Kind, *types: str) -> Iterator[tuple[ComponentID, Any]]:
        """The components of these types that a pipeline (or service::extensions) uses: only those
        start, so most rules look at only those."""
        return ((cid, model) for cid, model in self.of_type(kind, *types) if self.used(kind, cid))

    def downstream(self, pid: PipelineID) -> set[PipelineID]:
        """Pipelines that data leaving ``pid`` through connectors reaches, ``pid`` included."""
        seen, todo = {pid}, [pid]
        while todo:
            pipe = self.pipelines[todo.pop()]
            for cid in pipe.exporters:
                if not self.is_connector(cid):
                    continue
                for qid, q in self.pipelines.items():
                    if cid in q.receivers and qid not in seen:
                        seen.add(qid)
                        todo.append(qid)
        return seen

    def network_exporter(self, cid: ComponentID) -> bool:
        return not self.is_connector(cid) and self.type_of(Kind.EXPORTER, cid) in NETWORK_EXPORTERS

    # -- endpoints ----------------------------------------------------------------------------------

    @cached_property
    def servers(self) -> list[Server]:
        """Every listening endpoint of the receivers (OTLP, Jaeger, Zipkin ...)."""
        out = []
        for cid, model in self.cfg.components.get(Kind.RECEIVER, {}).items():
            for rel, sub in _walk(model):
                if _is_server(sub):
                    address = addresses.server(getattr(sub, "endpoint", "") or "")
                    if address is not None and getattr(sub, "transport", "tcp") != "unix":
                        out.append(Server(Kind.RECEIVER, cid, self.path(Kind.RECEIVER, cid, *rel), sub, address))
        return out

    @cached_property
    def servers_in_use(self) -> list[Server]:
        """The servers of the receivers that a pipeline uses."""
        return [s for s in self.servers if self.used(Kind.RECEIVER, s.id)]

    @cached_property
    def targets(self) -> list[Target]:
        """Every destination of the network exporters."""
        out = []
        for cid, model in self.cfg.components.get(Kind.EXPORTER, {}).items():
            out.extend(_targets(self, cid, self.type_of(Kind.EXPORTER, cid), model))
        return out

    @cached_property
    def targets_in_use(self) -> list[Target]:
        """The destinations of the exporters that a pipeline uses."""
        return [t for t in self.targets if self.used(Kind.EXPORTER, t.id)]

    @cached_property
    def production_looking(self) -> bool:
        """Listening beyond this machine, or sending to another one: a deployed collector, not a laptop."""
        return any(not s.address.loopback for s in self.servers) or any(t.address.remote for t in self.targets)


def _walk(model: BaseModel, rel: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], BaseModel]]:
    yield rel, model
    for name, info in type(model).model_fields.items():
        value = getattr(model, name, None)
        if isinstance(value, BaseModel):
            yield from _walk(value, (*rel, info.alias or name))


def _is_server(model: BaseModel) -> bool:
    from otelflow.receivers.jaeger.config import UDPProtocol

    return isinstance(model, (GRPCServerSettings, HTTPServerSettings, UDPProtocol))


def _targets(ctx: LintContext, cid: ComponentID, type_: str, model: Any) -> list[Target]:
    path = lambda *rel: ctx.path(Kind.EXPORTER, cid, *rel)  # noqa: E731
    out: list[Target] = []

    def add(rel: tuple, endpoint: str, tls: Any, default_port: int | None, grpc: bool) -> None:
        address = addresses.client(endpoint, default_port)
        if address is None:
            return
        insecure = bool(getattr(tls, "insecure", False))
        if grpc:  # grpc: "http://" or insecure means plaintext; otherwise TLS
            plaintext = address.scheme == "http" or (insecure and address.scheme != "https")
        else:  # http: the scheme decides
            plaintext = address.scheme != "https"
        unverified = not plaintext and bool(getattr(tls, "insecure_skip_verify", False))
        out.append(Target(cid, path(*rel), address, plaintext, unverified))

    if type_ == "otlp":
        add(("endpoint",), model.endpoint, model.tls, 4317, grpc=True)
    elif type_ in ("otlphttp", "zipkin"):
        add(("endpoint",), model.endpoint, model.tls, None, grpc=False)
        for key in ("traces_endpoint", "metrics_endpoint", "logs_endpoint"):
            if getattr(model, key, ""):
                add((key,), getattr(model, key), model.tls, None, grpc=False)
    elif type_ == "prometheus_remote_write":
        add(("endpoint",), model.client.endpoint, model.client.tls, None, grpc=False)
    elif type_ == "loadbalancing":
        otlp, resolver = model.protocol.otlp, model.resolver
        if resolver.static is not None:
            for i, host in enumerate(resolver.static.hostnames):
                add(("resolver", "static", "hostnames", i), host, otlp.tls, 4317, grpc=True)
        if resolver.dns is not None and resolver.dns.hostname:
            add(("resolver", "dns", "hostname"), f"{resolver.dns.hostname}:{resolver.dns.port or 4317}", otlp.tls, 4317, grpc=True)
    elif type_ == "kafka":
        for i, broker in enumerate(model.brokers):
            address = addresses.client(broker, 9092)
            if address is not None:
                tls = model.tls  # none, or insecure, is plaintext for the Kafka client
                plaintext = tls is None or bool(getattr(tls, "insecure", False))
                out.append(Target(cid, path("brokers", i), address, plaintext,
                                  not plaintext and bool(getattr(tls, "insecure_skip_verify", False))))
    return out
