"""The ``loadbalancing`` exporter (upstream's v0.161 name ``load_balancing`` too): trace-ID (or
service, resource, metric, stream, attribute) affinity across a fleet of OTLP/gRPC backends."""

from otelflow.core.component import Factory, Kind, STABLE_SIGNALS
from otelflow.exporters.loadbalancing.config import Config
from otelflow.exporters.loadbalancing.exporter import LoadBalancingExporter

factory = Factory(
    type="loadbalancing",
    kind=Kind.EXPORTER,
    config=Config,
    create=lambda settings, config: LoadBalancingExporter(settings, config),
    signals=STABLE_SIGNALS,
    stability="beta",
)
