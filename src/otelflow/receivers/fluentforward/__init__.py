"""The ``fluent_forward`` receiver (alias ``fluentforward``): Fluentd Forward protocol logs to OTLP.

It runs in worker 0 only (``one_instance``): a Unix socket cannot be shared between processes.
"""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.fluentforward.config import Config
from otelflow.receivers.fluentforward.receiver import FluentForwardReceiver

factory = Factory(type="fluent_forward", kind=Kind.RECEIVER, config=Config, create=FluentForwardReceiver,
                  signals=frozenset({Signal.LOGS}), stability="beta", one_instance=True)

__all__ = ["Config", "FluentForwardReceiver", "factory"]
