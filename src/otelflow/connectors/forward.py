"""The ``forward`` connector: passes data unchanged from one pipeline to others of the same signal."""

from __future__ import annotations

from otelflow.config.model import Model
from otelflow.core.component import Component, Factory, Kind, Settings, Signal
from otelflow.core.consumer import Consumer


class Config(Model):
    pass


class Forward(Component):
    def __init__(self, next: Consumer):
        self.consume = next.consume
        self.mutates_data = next.mutates_data


factory = Factory(
    type="forward",
    kind=Kind.CONNECTOR,
    config=Config,
    create=lambda settings, config, source, target, next: Forward(next),
    pairs=frozenset((s, s) for s in Signal),
)
