"""The ``otlp`` receiver: OTLP over gRPC and HTTP (protobuf and JSON) for traces, metrics and logs."""

from otelflow.core.component import Factory, Kind
from otelflow.receivers.otlp.config import Config
from otelflow.receivers.otlp.receiver import OTLPReceiver

factory = Factory(type="otlp", kind=Kind.RECEIVER, config=Config, create=OTLPReceiver, stability="stable")

__all__ = ["Config", "OTLPReceiver", "factory"]
