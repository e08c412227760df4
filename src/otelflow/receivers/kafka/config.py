"""Configuration of the ``kafka`` receiver: otelcol-contrib v0.161.0's keys and defaults
(``receiver/kafkareceiver`` over ``pkg/kafka/configkafka`` v0.162.0's client and consumer blocks).

v0.161 takes per-signal ``topics`` (a list; regexes start with ``^``), ``encoding`` and
``exclude_topics``; the older singular ``topic`` and top-level ``topic``/``encoding`` are unknown
keys there, so they are here too. Encodings are checked when the receiver is built for a signal,
as upstream checks them at start (the name could be an encoding extension's ID).

The client keys (brokers, client_id, auth, tls, metadata ...) are the shared
``otelflow.kafka.client.ClientConfig``. Values upstream accepts but otelflow cannot honour (the
independent partition workers, the records-delay histogram, the eager ``sticky`` balancer and
extension balancers) are rejected here with a message saying so."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from otelflow.config.model import Duration, Model, component_id_text
from otelflow.config.settings import RetrySettings
from otelflow.kafka.client import ClientConfig, librdkafka_settings

BUILTIN_BALANCERS = ("range", "roundrobin", "sticky", "cooperative-sticky")
# what librdkafka's partition.assignment.strategy implements
LIBRDKAFKA_BALANCERS = ("range", "roundrobin", "cooperative-sticky")


class TopicEncoding(Model):
    topics: list[str] = []
    encoding: str = "otlp_proto"
    exclude_topics: list[str] = []


def _signal(topic: str):
    class _Signal(TopicEncoding):
        topics: list[str] = Field(default_factory=lambda: [topic])

    return _Signal


TracesTopics = _signal("otlp_spans")
MetricsTopics = _signal("otlp_metrics")
LogsTopics = _signal("otlp_logs")
ProfilesTopics = _signal("otlp_profiles")


class AutoCommit(Model):
    enable: bool = True
    interval: Duration = 1.0


class MessageMarking(Model):
    after: bool = False
    on_error: bool = False
    on_permanent_error: bool = False

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: Any) -> Any:
        # upstream: on_permanent_error takes on_error's value unless it is written
        if isinstance(data, dict) and "on_permanent_error" not in data and "on_error" in data:
            return {**data, "on_permanent_error": data["on_error"]}
        return data


class PartitionProcessing(Model):
    independent: bool = False
    max_buffered_batches: int = 1


class HeaderExtraction(Model):
    extract_headers: bool = False
    headers: list[str] = []


class ErrorBackoff(RetrySettings):
    """configretry.BackOffConfig with its zero value: upstream's receiver leaves it unset (off)."""

    enabled: bool = False
    initial_interval: Duration = 0.0
    randomization_factor: float = 0.0
    multiplier: float = 0.0
    max_interval: Duration = 0.0
    max_elapsed_time: Duration = 0.0

    @model_validator(mode="after")
    def _ranges(self) -> "ErrorBackoff":
        for name in ("initial_interval", "max_elapsed_time", "max_interval", "multiplier", "randomization_factor"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} value must be greater than or equal to 0")
        if self.randomization_factor > 1:
            raise ValueError("randomization_factor value must be less than or equal to 1")
        return self


class _Enabled(Model):
    enabled: bool = False


class _TelemetryMetrics(Model):
    kafka_receiver_records_delay: _Enabled = _Enabled()


class TelemetryConfig(Model):
    metrics: _TelemetryMetrics = _TelemetryMetrics()


class Config(ClientConfig):
    # configkafka.ConsumerConfig
    session_timeout: Duration = 10.0
    heartbeat_interval: Duration = 3.0
    group_id: str = "otel-collector"
    initial_offset: str = "latest"
    autocommit: AutoCommit = AutoCommit()
    min_fetch_size: int = 1
    max_fetch_size: int = 1048576
    max_fetch_wait: Duration = 0.25
    max_partition_fetch_size: int = 1048576
    group_rebalance_strategies: list[str] = []
    group_instance_id: str = ""
    # the receiver's own keys
    logs: LogsTopics = LogsTopics()  # type: ignore[valid-type]
    metrics: MetricsTopics = MetricsTopics()  # type: ignore[valid-type]
    traces: TracesTopics = TracesTopics()  # type: ignore[valid-type]
    profiles: ProfilesTopics = ProfilesTopics()  # type: ignore[valid-type]
    message_marking: MessageMarking = MessageMarking()
    partition_processing: PartitionProcessing = PartitionProcessing()
    header_extraction: HeaderExtraction = HeaderExtraction()
    error_backoff: ErrorBackoff = ErrorBackoff()
    telemetry: TelemetryConfig = TelemetryConfig()

    @field_validator("group_rebalance_strategies")
    @classmethod
    def _strategies(cls, value: list[str]) -> list[str]:
        for strategy in value:
            if not strategy.strip():
                raise ValueError("group_rebalance_strategies entries cannot be empty")
            if strategy in LIBRDKAFKA_BALANCERS:
                continue
            if strategy not in BUILTIN_BALANCERS:
                try:
                    component_id_text(strategy)
                except ValueError as exc:
                    raise ValueError(
                        f'group rebalance strategy "{strategy}" is not a built-in strategy '
                        f"({', '.join(BUILTIN_BALANCERS)}) or a valid extension ID: {exc}") from None
            raise ValueError(f'group rebalance strategy "{strategy}": otelflow\'s Kafka client (librdkafka) '
                             f"implements only {', '.join(LIBRDKAFKA_BALANCERS)}")
        eager = {s for s in value if s != "cooperative-sticky"}
        if eager and len(eager) != len(value):
            raise ValueError("group_rebalance_strategies: librdkafka cannot mix cooperative-sticky "
                             "with the eager range/roundrobin strategies")
        return value

    @model_validator(mode="after")
    def _checks(self) -> "Config":
        if self.initial_offset not in ("latest", "earliest"):
            raise ValueError("initial_offset should be one of 'latest' or 'earliest'. "
                             f"configured value {self.initial_offset}")
        for name in ("min_fetch_size", "max_fetch_size", "max_partition_fetch_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} ({getattr(self, name)}) must be non-negative")
        if self.max_fetch_size < self.min_fetch_size:
            raise ValueError(f"max_fetch_size ({self.max_fetch_size}) cannot be less than "
                             f"min_fetch_size ({self.min_fetch_size})")
        for signal in ("logs", "metrics", "traces", "profiles"):
            _check_exclude(signal, getattr(self, signal))
        pp = self.partition_processing
        if pp.independent and pp.max_buffered_batches <= 0:
            raise ValueError("partition_processing.max_buffered_batches must be greater than zero")
        if pp.independent and not self.autocommit.enable:
            raise ValueError("partition_processing.independent requires autocommit.enable")
        if pp.independent:
            raise ValueError("partition_processing.independent: otelflow does not implement independent "
                             "partition workers; partitions of one fetch are processed concurrently")
        if self.telemetry.metrics.kafka_receiver_records_delay.enabled:
            raise ValueError("telemetry::metrics::kafka_receiver_records_delay: otelflow does not "
                             "record this histogram")
        return self

    def topics_of(self, signal: str) -> TopicEncoding:
        return getattr(self, signal)

    def consumer_settings(self) -> dict[str, Any]:
        """librdkafka consumer settings for the client and consumer blocks (not the group's topics)."""
        conf = librdkafka_settings(self)
        # the receiver marks (stores) offsets itself, before or after processing as configured
        conf.update({
            "group.id": self.group_id,
            "session.timeout.ms": int(self.session_timeout * 1000),
            "heartbeat.interval.ms": int(self.heartbeat_interval * 1000),
            "auto.offset.reset": "earliest" if self.initial_offset == "earliest" else "latest",
            "enable.auto.offset.store": False,
            "enable.auto.commit": self.autocommit.enable,
            "fetch.min.bytes": max(1, self.min_fetch_size),
            "fetch.max.bytes": max(1, self.max_fetch_size),
            "fetch.wait.max.ms": int(self.max_fetch_wait * 1000),
            "max.partition.fetch.bytes": max(1, self.max_partition_fetch_size),
            # franz-go's default balancer when none is given
            "partition.assignment.strategy": ",".join(self.group_rebalance_strategies) or "cooperative-sticky",
        })
        if self.autocommit.enable:
            conf["auto.commit.interval.ms"] = max(1, int(self.autocommit.interval * 1000))
        if self.group_instance_id:
            conf["group.instance.id"] = self.group_instance_id
        # librdkafka wants receive.message.max.bytes >= fetch.max.bytes + 512
        conf["receive.message.max.bytes"] = max(100_000_000, conf["fetch.max.bytes"] + 512)
        return conf


def _check_exclude(signal: str, block: TopicEncoding) -> None:
    if not block.exclude_topics:
        return
    if not any(t.startswith("^") for t in block.topics):
        raise ValueError(f"{signal}.exclude_topics is configured but none of the configured {signal}.topics "
                         "use regex pattern (must start with '^')")
    for pattern in block.exclude_topics:
        if pattern == "":
            raise ValueError(f"{signal}.exclude_topics contains empty string, which would match all topics")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{signal}.exclude_topic contains invalid regex pattern: {exc}") from None
