"""Config of the ``loadbalancing`` exporter, keys and defaults as upstream v0.161.0.

Upstream checks the resolver choice and the routing key when it creates the exporter, which
``otelcol validate`` does; otelflow's ``validate`` does not create components, so those checks run
with the config's validation here (same texts). Only a key that exists but that this signal does
not accept (``metric`` for traces) is refused at creation, by :func:`routing_key_for`."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from otelflow.config.model import Duration, Model, OptionalBlocks
from otelflow.config.settings import QueueSettings, RetrySettings
from otelflow.core.component import Signal
from otelflow.exporters.otlp import Config as OTLPConfig

ATTRIBUTES = "attributes"
# routing keys each signal accepts; the first is the default for an empty routing_key
ROUTING_KEYS: dict[Signal, tuple[str, ...]] = {
    Signal.TRACES: ("traceID", "service", "attributes"),
    Signal.METRICS: ("service", "resource", "metric", "streamID", "attributes"),
    Signal.LOGS: ("service", "traceID", "resource", "attributes"),
}
PLACEHOLDER_ENDPOINT = "placeholder:4317"
DEFAULT_PORT = "4317"


class Protocol(Model):
    otlp: OTLPConfig = OTLPConfig(endpoint=PLACEHOLDER_ENDPOINT)

    @field_validator("otlp", mode="before")
    @classmethod
    def _placeholder(cls, value: Any) -> Any:
        """Upstream decodes over a default whose endpoint is a placeholder, replaced per backend."""
        if value is None:
            return OTLPConfig(endpoint=PLACEHOLDER_ENDPOINT)
        if isinstance(value, dict) and "endpoint" not in value:
            return {**value, "endpoint": PLACEHOLDER_ENDPOINT}
        return value


class StaticResolver(Model):
    hostnames: list[str] = []


class DNSResolver(Model):
    hostname: str = ""
    port: str = ""
    interval: Duration = 5.0
    timeout: Duration = 1.0

    @field_validator("port", mode="before")
    @classmethod
    def _string_port(cls, value: Any) -> Any:
        """Upstream's field is a string and a YAML number is not converted (otelcol-ref refuses it)."""
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'port' expected type 'string', got unconvertible type '{type(value).__name__}'")
        return value


class K8sResolver(Model):
    service: str = ""
    ports: list[int] = []
    timeout: Duration = 1.0
    return_hostnames: bool = False


class AWSCloudMapResolver(Model):
    namespace: str = ""
    service_name: str = ""
    health_status: str = ""
    interval: Duration = 30.0
    timeout: Duration = 5.0
    port: int | None = None
    owner_account: str | None = None


class Resolver(OptionalBlocks):
    static: StaticResolver | None = None
    dns: DNSResolver | None = None
    k8s: K8sResolver | None = None
    aws_cloud_map: AWSCloudMapResolver | None = None


class Config(Model):
    timeout: Duration = 0.0  # none at this level unless set (upstream keeps resilience off here)
    retry_on_failure: RetrySettings = RetrySettings(enabled=False)
    # upstream's top-level queue is configoptional.Default: not batched unless sending_queue is written
    # (then NewDefaultQueueConfig's batch applies, pkg.exporterhelper.queueBatchEnabled included)
    sending_queue: QueueSettings = QueueSettings.model_construct(batch=None)
    protocol: Protocol = Protocol()
    resolver: Resolver = Resolver()
    routing_key: str = ""
    routing_attributes: list[str] = []

    @model_validator(mode="after")
    def _attributes(self) -> "Config":
        if self.routing_key == ATTRIBUTES and not self.routing_attributes:
            raise ValueError(f'routing_attributes must be specified when routing_key is "{ATTRIBUTES}"')
        if self.routing_key != ATTRIBUTES and self.routing_attributes:
            raise ValueError(
                f'routing_attributes can only be used when routing_key is "{ATTRIBUTES}"; got "{self.routing_key}". '
                f'Remove routing_attributes or set routing_key to "{ATTRIBUTES}"'
            )
        if self.routing_key and not any(self.routing_key in keys for keys in ROUTING_KEYS.values()):
            raise ValueError(f"unsupported routing_key: {self.routing_key}")
        check_resolver(self)
        return self


def routing_key_for(config: Config, signal: Signal) -> str:
    """The routing key this signal uses, or ValueError as upstream's create step words it."""
    accepted = ROUTING_KEYS[signal]
    key = config.routing_key or accepted[0]
    if key not in accepted:
        raise ValueError(f"cannot configure loadbalancing {signal.value} exporter: unsupported routing_key: {config.routing_key}")
    return key


def check_resolver(config: Config) -> str:
    """Which resolver is configured, with upstream's errors for none, several, or an empty static list."""
    r = config.resolver
    chosen = [name for name in ("static", "dns", "k8s", "aws_cloud_map") if getattr(r, name) is not None]
    if len(chosen) > 1:
        raise ValueError("only one resolver should be specified")
    if not chosen:
        raise ValueError("no resolvers specified for the exporter")
    if chosen[0] == "static" and not r.static.hostnames:
        raise ValueError("no endpoints specified for the static resolver")
    if chosen[0] == "dns" and not r.dns.hostname:
        raise ValueError("no hostname specified to resolve the backends")
    return chosen[0]


def endpoint_with_port(endpoint: str) -> str:
    return endpoint if ":" in endpoint else f"{endpoint}:{DEFAULT_PORT}"
