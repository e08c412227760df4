"""The ``nop`` receiver: produces nothing.

It lets a pipeline exist without a source of data (a config that runs only extensions or
connectors, or a pipeline kept while its real receiver is switched off). As upstream's, it takes no
settings, opens nothing and never calls its consumers.
"""

from __future__ import annotations

from typing import Any

from otelflow.config.model import Model
from otelflow.core.component import Component, Factory, Kind, Settings, Signal
from otelflow.core.consumer import Consumer


class Config(Model):
    """No settings: ``nop:`` or ``nop: {}``; any key is an error, as upstream's empty struct."""


class NopReceiver(Component):
    """Start and shutdown are the inherited no-ops: there is nothing to listen on or stop."""


def create(settings: Settings, config: Config, consumers: dict[Signal, Consumer], **_: Any) -> NopReceiver:
    return NopReceiver()


factory = Factory(
    type="nop",
    kind=Kind.RECEIVER,
    config=Config,
    create=create,
    signals=frozenset(Signal),
    stability="beta",
)
