"""The ``jaeger`` receiver: Jaeger spans over gRPC, Thrift/HTTP and Thrift/UDP, translated to OTLP."""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.jaeger.config import Config
from otelflow.receivers.jaeger.receiver import JaegerReceiver

factory = Factory(type="jaeger", kind=Kind.RECEIVER, config=Config, create=JaegerReceiver,
                  signals=frozenset({Signal.TRACES}), stability="beta")

__all__ = ["Config", "JaegerReceiver", "factory"]
