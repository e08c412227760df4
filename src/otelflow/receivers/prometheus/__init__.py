"""The ``prometheus`` receiver: scrapes Prometheus targets and turns their samples into OTLP metrics."""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.prometheus.config import Config
from otelflow.receivers.prometheus.receiver import PrometheusReceiver

factory = Factory(type="prometheus", kind=Kind.RECEIVER, config=Config, create=PrometheusReceiver,
                  signals=frozenset({Signal.METRICS}), stability="beta",
    one_instance=True,
)

__all__ = ["Config", "PrometheusReceiver", "factory"]
