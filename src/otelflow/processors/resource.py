"""The ``resource`` processor: the attribute actions of the attributes processor (insert, update,
upsert, delete, hash, extract, convert) applied to the resource attributes of every resource, for
traces, metrics and logs, as upstream's resourceprocessor (v0.161.0).

When the attributes processor's C loop can run all the actions (attraction/native.py), it rewrites
the request's bytes and what the processor hands on is published with them, so that batch and a
protobuf exporter send them without encoding again. With the client's bytes at hand the message is
changed in place by the Python path (a few resource attributes: cheaper than parsing the C loop's
output, ~4 against ~20 µs for 100 spans); without them, as attributes does, the C loop's output is
parsed. Otherwise the Python path (AttrProc, the reference) alone changes the message in place."""

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
        encoded = None
        count = counted_as_received(data) if self.as_received else None
        if self.native is not None:
            received = encoded_as_received(data) if self.as_received else None
            if received is not None:
                encoded = self.native.rewrite(received)
                if encoded is not None and encoded is not received:
                    # The bytes from the C loop, the message from the Python path in place: a few
                    # resource attributes cost less than parsing the whole request again, and the
                    # two agree (tests/test_native_attrs.py fuzzes that).
                    self._apply(data)
            else:  # no client's bytes to edit (something before changed the request): as attributes
                done = self.native.apply_encoded(data)
                if done is not None:
                    data, encoded = done
        if encoded is None:
            self._apply(data)
            token = received_request.set(None)  # changed in place: the bytes before no longer match
        else:
            # exactly what the C loop wrote: batch and a protobuf exporter take these bytes as they are
            token = received_request.set((data, encoded, count))
        try:
            await self.next.consume(data)
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
