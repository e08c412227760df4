"""The ``host_metrics`` receiver (deprecated alias ``hostmetrics``): host and process metrics from
upstream's scrapers, read with psutil and /proc."""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.hostmetrics.config import Config
from otelflow.receivers.hostmetrics.receiver import HostMetricsReceiver

factory = Factory(type="host_metrics", kind=Kind.RECEIVER, config=Config, create=HostMetricsReceiver,
                  signals=frozenset({Signal.METRICS}), stability="beta",
    one_instance=True,
)

__all__ = ["Config", "HostMetricsReceiver", "factory"]
