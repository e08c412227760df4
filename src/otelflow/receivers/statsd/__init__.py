"""The ``statsd`` receiver: StatsD and DogStatsD lines over UDP, TCP or unixgram, aggregated to OTLP.

It runs in worker 0 only (``one_instance``): its aggregation is per client address over an
interval, and a unixgram socket cannot be shared between processes.
"""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.statsd.config import Config
from otelflow.receivers.statsd.receiver import StatsdReceiver

factory = Factory(type="statsd", kind=Kind.RECEIVER, config=Config, create=StatsdReceiver,
                  signals=frozenset({Signal.METRICS}), stability="beta", one_instance=True)

__all__ = ["Config", "StatsdReceiver", "factory"]
