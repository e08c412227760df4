"""The ``resource`` processor: the attribute actions of the attributes processor (insert, update,
upsert, delete, hash, extract, convert) applied to the resource attributes of every resource, for
traces, metrics and logs, as upstream's resourceprocessor (v0.161.0).

The actions run in the attributes processor's C loop on the request's bytes when it can run them all
(attraction/native.py), and what it hands on is published with those bytes, so that batch and a
protobuf exporter send them without encoding again; otherwise the Python path (AttrProc, the
reference) changes the message in place."""

from __future__ import annotations

from google.protobuf.message import Message
from pydantic import model_validator

from otelflow.core.client import counted_as_received, encoded_as_received, received_request
from otelflow.core.component import Component, Factory, Kind, Settings, Signal, STABLE_SIGNALS
from otelflow.processors.attraction import ActionConfig, AttrProc, DropNulls, compile_actions, native_actions


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
        self.native = native_actions(self.proc.actions, settings.signal, target="resource")
        # With the C loop, what it hands on is published with its bytes (core/client.py), or nothing
        # is; without it every request is changed in place, which the graph must know of.
        self.publishes_encoded = self.native is not None
        self.as_received = False  # set by the graph: nothing before it changes requests in place

    async def consume(self, data: Message) -> None:
        done = None
        if self.native is not None:
            done = self.native.apply_encoded(data, encoded_as_received(data) if self.as_received else None)
        if done is None:
            self._apply(data)
            token = received_request.set(None)  # changed in place: the bytes before no longer match
            out = data
        else:
            # exactly the C loop's bytes: batch and a protobuf exporter take them as they are
            out, encoded = done
            token = received_request.set((out, encoded, counted_as_received(data) if self.as_received else None))
        try:
            await self.next.consume(out)
        finally:
            received_request.reset(token)

    def _apply(self, data: Message) -> None:
        """The Python path (the reference): every resource's attributes, in place."""
        process = self.proc.process
        for item in getattr(data, self.field):
            process(item.resource.attributes)


factory = Factory(
    type="resource",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: ResourceProcessor(settings, config, next),
    signals=STABLE_SIGNALS,
    stability="beta",
)
