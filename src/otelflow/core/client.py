"""What the client sent besides the data: the request's metadata, for the components that look at
it while the request is being handled (the routing connector's ``request`` context).

The receivers set ``request_metadata`` around the pipeline call: gRPC's incoming metadata always
(as upstream's ``metadata.FromIncomingContext`` always sees it), HTTP headers only with
``include_metadata: true`` (as upstream's ``client.Info``). It is a context variable, so it follows
the request down the awaited call chain and is lost where a component hands data to another task
(batch, queues), much as upstream loses it there. Keys are lower-case; values are lists.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Iterable, Mapping

request_metadata: ContextVar[Mapping[str, list[str]] | None] = ContextVar("otelflow_request_metadata", default=None)

# Upstream's ``client.Info.Metadata``: the metadata a receiver keeps only with ``include_metadata:
# true`` (gRPC metadata or HTTP headers), read by headers_setter's ``from_context`` and batch's
# ``metadata_keys``. Batch gives each shard's exports the shard's keys; the exporter's in-memory
# sending queue keeps it with each request; other hand-offs to another task lose it, as upstream.
client_metadata: ContextVar[Mapping[str, list[str]] | None] = ContextVar("client_metadata", default=None)

# The request message a receiver parsed, the bytes it parsed it from (None for JSON) and its item
# count, so that a step that needs it encoded (cutting by key for another worker, an exporter
# sending it on) takes the client's bytes instead of encoding again, and a step that counts it does
# not count again. Valid only for that very object (``encoded_as_received``): a copy or a new
# message does not match, and a step that changes the message in place declares ``mutates_data``,
# so whoever feeds it copies; the graph tells a step (``as_received``) whether anything before it
# may have changed the message in place. A step that hands on a new message it has the bytes of
# (attributes' C loop) sets this for the steps after it, or sets None when it changed the message in
# place, and declares ``publishes_encoded``.
received_request: ContextVar[tuple[object, bytes | None, int | None] | None] = ContextVar("otelflow_received_request", default=None)


def encoded_as_received(message: object) -> bytes | None:
    """The bytes the receiver parsed ``message`` from, if it is that message and nothing before the
    caller could have changed it (the caller's graph position guarantees the latter)."""
    received = received_request.get()
    return received[1] if received is not None and received[0] is message else None


def counted_as_received(message: object) -> int | None:
    """The receiver's item count of ``message``, on the same terms as ``encoded_as_received``."""
    received = received_request.get()
    return received[2] if received is not None and received[0] is message else None


def metadata_of(pairs: Iterable[tuple[str, object]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        if isinstance(value, bytes):  # gRPC binary ("-bin") metadata
            continue
        out.setdefault(str(key).lower(), []).append(str(value))
    return out
