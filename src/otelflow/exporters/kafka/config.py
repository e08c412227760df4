"""Configuration of the ``kafka`` exporter: upstream v0.161.0's keys and defaults for the parts
otelflow implements (the shared client settings of ``otelflow.kafka`` -- brokers, client id, auth,
tls, metadata -- per-signal topic and encoding, trace-ID partitioning, producer settings, timeout,
sending queue, retries). Keys otelflow does not implement yet (record headers, metadata-derived
topics/keys, record_partitioner, ...) are rejected as unknown rather than silently ignored."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from otelflow.config.model import Duration, Model
from otelflow.config.settings import QueueSettings, RetrySettings
from otelflow.kafka.client import ClientConfig

Encoding = Literal["otlp_proto", "otlp_json"]


class SignalConfig(Model):
    topic: str = ""
    encoding: Encoding = "otlp_proto"


class TracesConfig(SignalConfig):
    topic: str = "otlp_spans"


class MetricsConfig(SignalConfig):
    topic: str = "otlp_metrics"


class LogsConfig(SignalConfig):
    topic: str = "otlp_logs"


class CompressionParams(Model):
    level: int = 0


_MIN_BROKER_WRITE = 100 << 20  # franz-go's floor (and default) for one write to a broker
_INT32_MAX = 2**31 - 1


class ProducerConfig(Model):
    """configkafka v0.162.0 ProducerConfig."""

    max_message_bytes: int = 1000000
    max_broker_write_bytes: int = _MIN_BROKER_WRITE  # checked as upstream; librdkafka has no such cap
    # 0 (no response), 1 (leader wrote it: upstream's default) or -1 / "all" (all in-sync replicas)
    required_acks: int = 1
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"
    compression_params: CompressionParams | None = None
    flush_max_messages: int = 10000  # -> batch.num.messages
    allow_auto_topic_creation: bool = True
    linger: Duration = 0.01  # -> linger.ms

    @model_validator(mode="after")
    def _sizes(self) -> "ProducerConfig":
        if self.max_message_bytes < 0:
            raise ValueError(f"max_message_bytes ({self.max_message_bytes}) must be non-negative")
        if self.max_message_bytes > _INT32_MAX:
            raise ValueError(f"max_message_bytes ({self.max_message_bytes}) must not exceed {_INT32_MAX}")
        w = self.max_broker_write_bytes
        if w < 0:
            raise ValueError(f"max_broker_write_bytes ({w}) must be non-negative")
        if w < _MIN_BROKER_WRITE:
            raise ValueError(f"max_broker_write_bytes ({w}) must be at least {_MIN_BROKER_WRITE} "
                             f"({_MIN_BROKER_WRITE >> 20} MiB, franz-go minimum)")
        if w > _INT32_MAX:
            raise ValueError(f"max_broker_write_bytes ({w}) must not exceed {_INT32_MAX}")
        if self.max_message_bytes > w:
            raise ValueError(f"max_message_bytes ({self.max_message_bytes}) cannot be greater than "
                             f"max_broker_write_bytes ({w})")
        if self.flush_max_messages < 1:
            raise ValueError(f"flush_max_messages ({self.flush_max_messages}) must be at least 1")
        return self

    @field_validator("required_acks", mode="before")
    @classmethod
    def _acks(cls, value: object) -> object:
        if value == "all":
            return -1
        if isinstance(value, int) and not isinstance(value, bool) and not -1 <= value <= 1:
            raise ValueError(f"expected 'all' (-1), 0, or 1; configured value is {value}")
        return value


class Config(ClientConfig):
    timeout: Duration = 5.0
    sending_queue: QueueSettings = QueueSettings()
    retry_on_failure: RetrySettings = RetrySettings()
    producer: ProducerConfig = ProducerConfig()
    traces: TracesConfig = TracesConfig()
    metrics: MetricsConfig = MetricsConfig()
    logs: LogsConfig = LogsConfig()
    partition_traces_by_id: bool = False
    partition_metrics_by_resource_attributes: bool = False
    partition_logs_by_resource_attributes: bool = False
    partition_logs_by_trace_id: bool = False

    @model_validator(mode="after")
    def _exclusive(self) -> "Config":
        if self.partition_logs_by_resource_attributes and self.partition_logs_by_trace_id:
            raise ValueError("partition_logs_by_resource_attributes and partition_logs_by_trace_id cannot both be enabled")
        return self
