"""The ``postgresql`` receiver: PostgreSQL's statistics views as upstream's ``postgresql.*`` metrics."""

from otelflow.core.component import Factory, Kind, Signal
from otelflow.receivers.postgresql.config import Config
from otelflow.receivers.postgresql.receiver import PostgresqlReceiver

factory = Factory(type="postgresql", kind=Kind.RECEIVER, config=Config, create=PostgresqlReceiver,
                  signals=frozenset({Signal.METRICS}), stability="beta", one_instance=True)

__all__ = ["Config", "PostgresqlReceiver", "factory"]
