"""The ``zipkin`` receiver: Zipkin v1 JSON and v2 JSON/protobuf spans over HTTP, translated to OTLP."""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.zipkin.config import Config
from otelflow.receivers.zipkin.receiver import ZipkinReceiver

factory = Factory(type="zipkin", kind=Kind.RECEIVER, config=Config, create=ZipkinReceiver,
                  signals=frozenset({Signal.TRACES}), stability="beta")

__all__ = ["Config", "ZipkinReceiver", "factory"]
