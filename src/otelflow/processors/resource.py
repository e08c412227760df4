"""The ``resource`` processor: the attribute actions of the attributes processor (insert, update,
upsert, delete, hash, extract, convert) applied to the resource attributes of every resource, for
traces, metrics and logs, as upstream's resourceprocessor (v0.161.0)."""

from __future__ import annotations

from google.protobuf.message import Message
from pydantic import model_validator

from otelflow.core.component import Component, Factory, Kind, Settings, Signal, STABLE_SIGNALS
from otelflow.processors.attraction import ActionConfig, AttrProc, DropNulls, compile_actions


class Config(DropNulls):
    attributes: list[ActionConfig] = []

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if not self.attributes:
            raise ValueError('missing required field "attributes"')
        # upstream checks the actions when it builds the processor, which `otelcol validate` does too
        compile_actions(self.attributes)
        return self


_RESOURCE_LISTS = {Signal.TRACES: "resource_spans", Signal.METRICS: "resource_metrics", Signal.LOGS: "resource_logs"}


class ResourceProcessor(Component):
    mutates_data = True

    def __init__(self, settings: Settings, config: Config, next):
        self.next = next
        self.proc = AttrProc(config.attributes, settings.logger)
        self.field = _RESOURCE_LISTS[settings.signal]

    async def consume(self, data: Message) -> None:
        process = self.proc.process
        for item in getattr(data, self.field):
            process(item.resource.attributes)
        await self.next.consume(data)


factory = Factory(
    type="resource",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: ResourceProcessor(settings, config, next),
    signals=STABLE_SIGNALS,
    stability="beta",
)
