"""The ``nop`` exporter: accepts every request and drops it.

A placeholder end for a pipeline (a collector that runs only extensions, a throughput test that
should not pay for an exporter). As upstream's, it takes no settings, reports success at once and
never looks at the data, so it costs one awaited call per request.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from otelflow.config.model import Model
from otelflow.core.component import Component, Factory, Kind, Settings, Signal


class Config(Model):
    """No settings: ``nop:`` or ``nop: {}``; any key is an error, as upstream's empty struct."""


class NopExporter(Component):
    mutates_data = False  # never reads nor changes the request, so fan-out need not copy for it

    async def consume(self, data: Message) -> None:
        return None


def create(settings: Settings, config: Config, **_: Any) -> NopExporter:
    return NopExporter()


factory = Factory(
    type="nop",
    kind=Kind.EXPORTER,
    config=Config,
    create=create,
    signals=frozenset(Signal),
    stability="beta",
)
