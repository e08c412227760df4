"""The ``otlp`` receiver: OTLP over gRPC and HTTP (protobuf and JSON) for traces, metrics and logs,
and for profiles behind the ``service.profilesSupport`` gate (docs/signals/profiles.md)."""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.otlp.config import Config
from otelflow.receivers.otlp.receiver import OTLPReceiver

factory = Factory(type="otlp", kind=Kind.RECEIVER, config=Config, create=OTLPReceiver, stability="stable",
                  signals=frozenset(Signal))

__all__ = ["Config", "OTLPReceiver", "factory"]
