"""The ``file_log`` receiver (deprecated alias ``filelog``): tails files, cuts them into log entries,
runs the stanza operators and hands OTLP logs on; checkpoints in a storage extension."""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.filelog.config import Config
from otelflow.receivers.filelog.receiver import FileLogReceiver

factory = Factory(type="file_log", kind=Kind.RECEIVER, config=Config, create=FileLogReceiver,
                  signals=frozenset({Signal.LOGS}), stability="beta",
    one_instance=True,
)

__all__ = ["Config", "FileLogReceiver", "factory"]
