"""The ``http_check`` receiver (deprecated alias ``httpcheck``): synthetic HTTP checks of targets."""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.httpcheck.config import Config
from otelflow.receivers.httpcheck.receiver import HttpCheckReceiver

factory = Factory(type="http_check", kind=Kind.RECEIVER, config=Config, create=HttpCheckReceiver,
                  signals=frozenset({Signal.METRICS}), stability="alpha", one_instance=True)

__all__ = ["Config", "HttpCheckReceiver", "factory"]
