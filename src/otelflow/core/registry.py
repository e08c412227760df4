"""Which component types this build has, by kind: the one place that lists them."""

from __future__ import annotations

import importlib

from otelflow.core.component import Factory, Kind

# kind -> config type -> "module:attribute" of its factory; imported on first use. One line per type,
# under upstream's current name; the names upstream still accepts for it are in ALIASES.
_BUILTIN: dict[Kind, dict[str, str]] = {
    Kind.RECEIVER: {
        "otlp": "otelflow.receivers.otlp:factory",
        "prometheus": "otelflow.receivers.prometheus:factory",
        "host_metrics": "otelflow.receivers.hostmetrics:factory",
        "file_log": "otelflow.receivers.filelog:factory",
        "zipkin": "otelflow.receivers.zipkin:factory",
        "jaeger": "otelflow.receivers.jaeger:factory",
        "kafka": "otelflow.receivers.kafka:factory",
        "nop": "otelflow.receivers.nop:factory",
        "statsd": "otelflow.receivers.statsd:factory",
        "fluent_forward": "otelflow.receivers.fluentforward:factory",
        "http_check": "otelflow.receivers.httpcheck:factory",
        "redis": "otelflow.receivers.redis:factory",
        "nginx": "otelflow.receivers.nginx:factory",
        "postgresql": "otelflow.receivers.postgresql:factory",
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
        "cumulative_to_delta": "otelflow.processors.cumulativetodelta:factory",
        "delta_to_cumulative": "otelflow.processors.deltatocumulative:factory",
        "python": "otelflow.processors.python:factory",
        "metrics_transform": "otelflow.processors.metricstransform:factory",
    },
    Kind.EXPORTER: {
        "otlp_grpc": "otelflow.exporters.otlp:factory",
        "otlp_http": "otelflow.exporters.otlphttp:factory",
        "debug": "otelflow.exporters.debug:factory",
        "file": "otelflow.exporters.file:factory",
        "prometheus": "otelflow.exporters.prometheus:factory",
        "embedded_store": "otelflow.exporters.embedded_store:factory",
        "prometheus_remote_write": "otelflow.exporters.prometheusremotewrite:factory",
        "zipkin": "otelflow.exporters.zipkin:factory",
        "kafka": "otelflow.exporters.kafka:factory",
        "load_balancing": "otelflow.exporters.loadbalancing:factory",
        "nop": "otelflow.exporters.nop:factory",
        "influxdb": "otelflow.exporters.influxdb:factory",
    },
    Kind.CONNECTOR: {
        "forward": "otelflow.connectors.forward:factory",
        "span_metrics": "otelflow.connectors.spanmetrics:factory",
        "routing": "otelflow.connectors.routing:factory",
        "otlp_json": "otelflow.connectors.otlpjson:factory",
    },
    Kind.EXTENSION: {
        "health_check": "otelflow.extensions.health_check:factory",
        "bearertokenauth": "otelflow.extensions.bearertokenauth:factory",
        "basicauth": "otelflow.extensions.basicauth:factory",
        "file_storage": "otelflow.extensions.file_storage:factory",
        "embedded_store": "otelflow.extensions.embedded_store:factory",
        "web_ui": "otelflow.extensions.web_ui:factory",
        "doctor": "otelflow.extensions.doctor:factory",
        "pprof": "otelflow.extensions.pprof:factory",
        "zpages": "otelflow.extensions.zpages:factory",
        "headers_setter": "otelflow.extensions.headers_setter:factory",
    },
}


# Type aliases upstream v0.161.0 registers (metadata.yaml `deprecated_type`, passed to the factory as
# WithDeprecatedTypeAlias): kind -> current name -> older name. Either name of a pair reaches the
# factory registered under the other, so a type listed above by either name answers to both. Only
# pairs upstream registers belong here: otelcol rejects any other spelling, and so should otelflow.
ALIASES: dict[Kind, dict[str, str]] = {
    Kind.RECEIVER: {
        "host_metrics": "hostmetrics",
        "file_log": "filelog",
        "fluent_forward": "fluentforward",
        "http_check": "httpcheck",
    },
    Kind.PROCESSOR: {
        "resource_detection": "resourcedetection",
        "cumulative_to_delta": "cumulativetodelta",
        "delta_to_cumulative": "deltatocumulative",
        "metrics_transform": "metricstransform",
    },
    Kind.EXPORTER: {
        "otlp_grpc": "otlp",
        "otlp_http": "otlphttp",
        "load_balancing": "loadbalancing",
        "prometheus_remote_write": "prometheusremotewrite",
    },
    Kind.CONNECTOR: {
        "span_metrics": "spanmetrics",
        "otlp_json": "otlpjson",
    },
    Kind.EXTENSION: {},
}


class Registry:
    def __init__(self, table: dict[Kind, dict[str, str]] | None = None,
                 aliases: dict[Kind, dict[str, str]] | None = None):
        self._table = {k: dict(v) for k, v in (table or _BUILTIN).items()}
        self._loaded: dict[tuple[Kind, str], Factory] = {}
        pairs = ALIASES if aliases is None else aliases
        # name -> the other name of its pair, both ways; and which names are the old spellings
        self._other = {k: {**v, **{old: new for new, old in v.items()}} for k, v in pairs.items()}
        self._deprecated = {k: set(v.values()) for k, v in pairs.items()}

    def _resolve(self, kind: Kind, type_: str) -> str | None:
        """The name ``type_`` is registered under: itself, or the other name of its alias pair."""
        names = self._table.get(kind, {})
        if type_ in names:
            return type_
        other = self._other.get(kind, {}).get(type_)
        return other if other in names else None

    def types(self, kind: Kind) -> list[str]:
        """Every name a config may use for ``kind``, aliases included."""
        names = set(self._table.get(kind, {}))
        names |= {o for n in names if (o := self._other.get(kind, {}).get(n))}
        return sorted(names)

    def canonical_types(self, kind: Kind) -> list[str]:
        """One name per type: upstream's current one (an alias only stands in for its type)."""
        return sorted({n for n in self.types(kind) if n not in self._deprecated.get(kind, set())})

    def aliases(self, kind: Kind, type_: str) -> list[str]:
        """The other names ``type_`` answers to (upstream's deprecated spellings)."""
        other = self._other.get(kind, {}).get(type_)
        return [other] if other is not None and self._resolve(kind, other) is not None else []

    def get(self, kind: Kind, type_: str) -> Factory | None:
        key = (kind, type_)
        if key not in self._loaded:
            name = self._resolve(kind, type_)
            if name is None:
                return None
            target = self._table[kind][name]
            if (kind, name) in self._loaded:  # registered at run time, or loaded under the other name
                self._loaded[key] = self._loaded[(kind, name)]
            else:
                module, _, attr = target.partition(":")
                self._loaded[key] = getattr(importlib.import_module(module), attr)
        return self._loaded[key]

    def register(self, factory: Factory) -> None:
        """Add a component type at run time (tests, plugins)."""
        self._table.setdefault(factory.kind, {})[factory.type] = ""
        self._loaded[(factory.kind, factory.type)] = factory


default_registry = Registry()
