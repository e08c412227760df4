"""Which component types this build has, by kind: the one place that lists them."""

from __future__ import annotations

import importlib

from otelflow.core.component import Factory, Kind

# kind -> config type -> "module:attribute" of its factory; imported on first use
_BUILTIN: dict[Kind, dict[str, str]] = {
    Kind.RECEIVER: {
        "otlp": "otelflow.receivers.otlp:factory",
        "prometheus": "otelflow.receivers.prometheus:factory",
        "host_metrics": "otelflow.receivers.hostmetrics:factory",
        "hostmetrics": "otelflow.receivers.hostmetrics:factory",  # upstream's deprecated name
        "file_log": "otelflow.receivers.filelog:factory",
        "filelog": "otelflow.receivers.filelog:factory",  # upstream's deprecated name
        "zipkin": "otelflow.receivers.zipkin:factory",
        "jaeger": "otelflow.receivers.jaeger:factory",
        "kafka": "otelflow.receivers.kafka:factory",
    },
    Kind.PROCESSOR: {
        "memory_limiter": "otelflow.processors.memory_limiter:factory",
        "batch": "otelflow.processors.batch:factory",
        "attributes": "otelflow.processors.attributes:factory",
        "resource": "otelflow.processors.resource:factory",
        "probabilistic_sampler": "otelflow.processors.probabilistic_sampler:factory",
        "tail_sampling": "otelflow.processors.tail_sampling:factory",
        "transform": "otelflow.processors.transform:factory",
        "filter": "otelflow.processors.filter:factory",
        "resource_detection": "otelflow.processors.resourcedetection:factory",
        "resourcedetection": "otelflow.processors.resourcedetection:factory",  # upstream's deprecated name
        "cumulative_to_delta": "otelflow.processors.cumulativetodelta:factory",
        "cumulativetodelta": "otelflow.processors.cumulativetodelta:factory",  # upstream's deprecated name
        "delta_to_cumulative": "otelflow.processors.deltatocumulative:factory",
        "deltatocumulative": "otelflow.processors.deltatocumulative:factory",  # upstream's deprecated name
        "python": "otelflow.processors.python:factory",
    },
    Kind.EXPORTER: {
        "otlp": "otelflow.exporters.otlp:factory",
        "otlp_grpc": "otelflow.exporters.otlp:factory",  # the name upstream gave it in v0.161
        "otlphttp": "otelflow.exporters.otlphttp:factory",
        "otlp_http": "otelflow.exporters.otlphttp:factory",
        "debug": "otelflow.exporters.debug:factory",
        "file": "otelflow.exporters.file:factory",
        "prometheus": "otelflow.exporters.prometheus:factory",
        "embedded_store": "otelflow.exporters.embedded_store:factory",
        "prometheus_remote_write": "otelflow.exporters.prometheusremotewrite:factory",
        "prometheusremotewrite": "otelflow.exporters.prometheusremotewrite:factory",  # upstream's deprecated name
        "zipkin": "otelflow.exporters.zipkin:factory",
        "kafka": "otelflow.exporters.kafka:factory",
        "loadbalancing": "otelflow.exporters.loadbalancing:factory",
        "load_balancing": "otelflow.exporters.loadbalancing:factory",  # the name upstream gave it in v0.161
    },
    Kind.CONNECTOR: {
        "forward": "otelflow.connectors.forward:factory",
        "spanmetrics": "otelflow.connectors.spanmetrics:factory",
        "span_metrics": "otelflow.connectors.spanmetrics:factory",
        "routing": "otelflow.connectors.routing:factory",
    },
    Kind.EXTENSION: {
        "health_check": "otelflow.extensions.health_check:factory",
        "healthcheck": "otelflow.extensions.health_check:factory",
        "bearertokenauth": "otelflow.extensions.bearertokenauth:factory",
        "basicauth": "otelflow.extensions.basicauth:factory",
        "file_storage": "otelflow.extensions.file_storage:factory",
        "embedded_store": "otelflow.extensions.embedded_store:factory",
        "web_ui": "otelflow.extensions.web_ui:factory",
        "doctor": "otelflow.extensions.doctor:factory",
        "pprof": "otelflow.extensions.pprof:factory",
        "zpages": "otelflow.extensions.zpages:factory",
    },
}


class Registry:
    def __init__(self, table: dict[Kind, dict[str, str]] | None = None):
        self._table = {k: dict(v) for k, v in (table or _BUILTIN).items()}
        self._loaded: dict[tuple[Kind, str], Factory] = {}

    def types(self, kind: Kind) -> list[str]:
        return sorted(self._table.get(kind, {}))

    def get(self, kind: Kind, type_: str) -> Factory | None:
        key = (kind, type_)
        if key not in self._loaded:
            target = self._table.get(kind, {}).get(type_)
            if target is None:
                return None
            module, _, attr = target.partition(":")
            self._loaded[key] = getattr(importlib.import_module(module), attr)
        return self._loaded[key]

    def register(self, factory: Factory) -> None:
        """Add a component type at run time (tests, plugins)."""
        self._table.setdefault(factory.kind, {})[factory.type] = ""
        self._loaded[(factory.kind, factory.type)] = factory


default_registry = Registry()
