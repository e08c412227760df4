"""Where a component's data goes when there are several workers: keyed routing and forwarding.

``state_key`` on a factory says which key the component keeps state by:

- ``"trace_id"``: every span of a trace must reach one instance (tail_sampling). Requests are cut
  per trace ID as the loadbalancing exporter cuts them, and each trace goes to worker
  ``trace ID mod N``.
- ``"resource"``: every series of a resource must reach one instance (spanmetrics,
  cumulativetodelta, deltatocumulative: their stream identities all contain the resource). Requests
  are cut per resource and each goes to the worker its attribute digest picks.

``one_instance`` means the component exists in worker 0 only; the others hold a :class:`Forwarder`.
"""

from __future__ import annotations

import hashlib

from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.core.client import encoded_as_received
from otelflow.core.component import Component
from otelflow.core.consumer import Consumer, combine
from otelflow.core.workers.exchange import Exchange
from otelflow.pdata.keysplit import split_traces

try:
    from otelflow.native import _route
except ImportError:  # built without a C compiler: cut the parsed message instead
    _route = None

TRACE_ID = "trace_id"
RESOURCE = "resource"
STATE_KEYS = (TRACE_ID, RESOURCE)

_RESOURCES_FIELD = {"ExportTraceServiceRequest": "resource_spans", "ExportMetricsServiceRequest": "resource_metrics",
                    "ExportLogsServiceRequest": "resource_logs"}


def resource_owner(resource, count: int) -> int:
    """The worker of a resource: a digest of its attributes in any order."""
    h = hashlib.blake2b(digest_size=8)
    for kv in sorted(kv.SerializeToString(deterministic=True) for kv in resource.attributes):
        h.update(kv)
    return int.from_bytes(h.digest(), "big") % count


def split_by_resource(request: Message, count: int) -> dict[int, Message]:
    field = _RESOURCES_FIELD[type(request).__name__]
    resources = getattr(request, field)
    owners = [resource_owner(r.resource, count) for r in resources]
    if len(set(owners)) <= 1:
        return {owners[0] if owners else 0: request}
    out: dict[int, Message] = {}
    for owner, r in zip(owners, resources):
        part = out.get(owner)
        if part is None:
            part = out[owner] = type(request)()
        getattr(part, field).append(r)
    return out


def split_by_trace_id(request: Message, count: int) -> dict[int, Message]:
    if type(request).__name__ != "ExportTraceServiceRequest":
        return split_by_resource(request, count)
    return split_traces(request, "traceID", [], lambda tid: int.from_bytes(tid[8:], "big") % count)


_SPLITTERS = {TRACE_ID: split_by_trace_id, RESOURCE: split_by_resource}


class KeyRouter:
    """Stands in front of a keyed component: its keys of this worker go straight in, the rest to
    the worker that owns them. The request itself is never changed, so it mutates what the
    component mutates."""

    def __init__(self, local: Consumer, node: str, key: str, exchange: Exchange):
        self.local = local
        self.node = node
        self.exchange = exchange
        self.index, self.count = exchange.ctx.index, exchange.ctx.count
        self.split = _SPLITTERS[key]
        self.mutates_data = local.mutates_data
        # Set by the graph when nothing before this step in its pipeline changes requests in place:
        # then a request that is still the receiver's own message still matches the client's bytes.
        self.as_received = False

    async def consume(self, data: Message) -> None:
        if self.split is split_by_trace_id and _route is not None and isinstance(data, ExportTraceServiceRequest):
            return await self._consume_encoded(data)
        parts = self.split(data, self.count)
        if len(parts) == 1:
            owner, part = next(iter(parts.items()))
            if owner == self.index:
                return await self.local.consume(part)
            return await self.exchange.send(owner, self.node, part)
        await self._deliver(parts.get(self.index), [(o, p) for o, p in parts.items() if o != self.index])

    async def _consume_encoded(self, data: ExportTraceServiceRequest) -> None:
        """Cut the encoded request (the client's bytes when still valid): spans are copied as
        bytes, remote parts are sent as cut, and a component that takes encoded requests
        (``consume_encoded``) gets its part without a parse."""
        encoded = encoded_as_received(data) if self.as_received else None
        if encoded is None:
            encoded = data.SerializeToString()
        cut = _route.split_traces(encoded, self.count)
        takes_bytes = getattr(self.local, "consume_encoded", None)
        if cut is None:  # not what the cutter understands: the parsed way
            parts = split_by_trace_id(data, self.count)
            cut = [parts.get(i) for i in range(self.count)]
        elif isinstance(cut, int):
            if cut != self.index:
                return await self.exchange.send(cut, self.node, encoded)
            return await (takes_bytes(encoded) if takes_bytes is not None else self.local.consume(data))
        local = cut[self.index]
        if local is not None and not isinstance(local, Message) and takes_bytes is None:
            local = ExportTraceServiceRequest.FromString(local)
        await self._deliver(local, [(o, p) for o, p in enumerate(cut) if o != self.index and p is not None])

    async def _deliver(self, local: Message | None, remote: list) -> None:
        """Send the remote parts first (frames go out at once), consume the local part meanwhile,
        then collect the verdicts; errors combine as upstream's multierr would."""
        pending = [(owner, self.exchange.begin_send(owner, self.node, part)) for owner, part in remote]
        errors: list[Exception] = []
        if local is not None:
            try:
                await (self.local.consume(local) if isinstance(local, Message) else self.local.consume_encoded(local))
            except Exception as exc:  # noqa: BLE001 - reported with the others below
                errors.append(exc)
        for owner, future in pending:
            try:
                await self.exchange.answer(owner, future)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
        if errors:
            raise combine(errors)


class Forwarder(Component):
    """What a worker other than 0 holds for a component that runs once: its data goes to worker 0."""

    mutates_data = False

    def __init__(self, node: str, exchange: Exchange):
        self.node = node
        self.exchange = exchange

    async def consume(self, data: Message) -> None:
        await self.exchange.send(0, self.node, data)


class Absent(Component):
    """The place of a receiver or extension that runs in worker 0 only, so that every worker's
    graph has the same steps (shutdown walks them in step with the other workers)."""
