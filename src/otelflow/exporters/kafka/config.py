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


class ProducerConfig(Model):
    max_message_bytes: int = 1000000
    # 0 (no response), 1 (leader wrote it: upstream's default) or -1 / "all" (all in-sync replicas)
    required_acks: int = 1
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"
    compression_params: CompressionParams | None = None
    flush_max_messages: int = 0
    allow_auto_topic_creation: bool = True

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
