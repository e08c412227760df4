"""The ``postgresql`` receiver: PostgreSQL's statistics views as upstream's ``postgresql.*`` metrics,
and in a logs pipeline the ``db.server.query_sample`` and ``db.server.top_query`` events
(``events.py``, ``topquery.py``)."""

from __future__ import annotations

from otelflow.core.component import Component, Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import Consumer
from otelflow.receivers.postgresql.config import Config
from otelflow.receivers.postgresql.events import EventsScraper
from otelflow.receivers.postgresql.receiver import PostgresqlReceiver, instance_id, split_host_port


class Receiver(Component):
    """Upstream builds a metrics receiver and a logs receiver from one config, each with its own
    schedule and connections; this holds whichever the pipelines use."""

    def __init__(self, settings: Settings, config: Config, consumers: dict[Signal, Consumer]):
        self.metrics = PostgresqlReceiver(settings, config, consumers) if Signal.METRICS in consumers else None
        self.logs = None
        events = config.events
        if Signal.LOGS in consumers and (events.db_server_query_sample.enabled or events.db_server_top_query.enabled):
            host, port = split_host_port(config.endpoint)
            host = "/" + host if config.transport == "unix" else host
            self.logs = EventsScraper(settings, config, consumers[Signal.LOGS], instance_id(config.endpoint),
                                      host, int(port))
        self.parts: list[Component] = [p for p in (self.metrics, self.logs) if p is not None]

    async def start(self, host: Host) -> None:
        for part in self.parts:
            await part.start(host)

    async def shutdown(self) -> None:
        for part in reversed(self.parts):
            await part.shutdown()


factory = Factory(type="postgresql", kind=Kind.RECEIVER, config=Config, create=Receiver,
                  signals=frozenset({Signal.METRICS, Signal.LOGS}), stability="beta", one_instance=True)

__all__ = ["Config", "PostgresqlReceiver", "Receiver", "factory"]
