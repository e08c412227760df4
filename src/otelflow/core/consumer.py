"""The data path contract: ``await consumer.consume(request)`` accepts or raises.

Data is always the OTLP export request protobuf (traces, metrics or logs). A consumer that changes
the message it is given says so with ``mutates_data``; fan-out then hands it a copy.
"""

from __future__ import annotations

import logging
from typing import Protocol, Sequence

from google.protobuf.message import Message


class ConsumerError(Exception):
    """Data not accepted, and worth retrying (the default for errors on the data path)."""

    permanent = False

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ConsumerError):
    """Data rejected for good: retrying the same data cannot succeed."""

    permanent = True


def is_permanent(exc: BaseException) -> bool:
    return bool(getattr(exc, "permanent", False))


class Consumer(Protocol):
    mutates_data: bool

    async def consume(self, data: Message) -> None: ...


def copy_message(data: Message) -> Message:
    clone = type(data)()
    clone.CopyFrom(data)
    return clone


class Fanout:
    """Hands one request to several consumers, copying only for those that mutate it.

    Read-only consumers share the original. Mutating consumers each get a copy, except that the last
    one takes the original when nobody else reads it. The fan-out itself counts as mutating when it
    may hand the original on to a mutator, so that whoever feeds it copies first.
    """

    def __init__(self, consumers: Sequence[Consumer]):
        self.readers = [c for c in consumers if not c.mutates_data]
        self.mutators = [c for c in consumers if c.mutates_data]
        self.mutates_data = bool(self.mutators)
        # every consumer sends protobuf bytes as they are (exporters): a batch may come as bytes
        self.accepts_encoded = all(getattr(c, "accepts_encoded", False) for c in consumers)

    async def consume_encoded(self, encoded: bytes, count: int, build) -> None:
        """A request as its protobuf bytes (only when ``accepts_encoded``): bytes are not changed by
        anyone, so every consumer shares them."""
        errors: list[BaseException] = []
        for consumer in (*self.mutators, *self.readers):
            try:
                await consumer.consume_encoded(encoded, count, build)
            except ConsumerError as exc:
                errors.append(exc)
        if errors:
            raise combine(errors)

    async def consume(self, data: Message) -> None:
        errors: list[BaseException] = []
        last_mutator = len(self.mutators) - 1
        for i, consumer in enumerate(self.mutators):
            own = data if (i == last_mutator and not self.readers) else copy_message(data)
            await _call(consumer, own, errors)
        for consumer in self.readers:
            await _call(consumer, data, errors)
        if errors:
            raise combine(errors)


class Observed:
    """A receiver's consumer that first shows each request to extensions watching the traffic.

    An observer (an extension with ``observe(signal, data)``) reads the request before any processor
    can change it; it must not mutate it and must stay cheap, since it runs on every request. What
    it raises is logged once per observer and otherwise ignored: watching never refuses data.
    """

    def __init__(self, consumer: Consumer, signal, observers: Sequence):
        self.consumer = consumer
        self.signal = signal
        self.observers = list(observers)
        self.mutates_data = consumer.mutates_data
        self._failed: set[int] = set()

    async def consume(self, data: Message) -> None:
        for observer in self.observers:
            try:
                observer.observe(self.signal, data)
            except Exception:
                if id(observer) not in self._failed:
                    self._failed.add(id(observer))
                    logging.getLogger(__name__).exception("an extension watching the traffic failed; it is skipped for this request")
        await self.consumer.consume(data)


class Router:
    """What a connector sends to: every pipeline that lists it as a receiver, and each of them by ID.

    ``consume`` fans out to all of them (as upstream's connector router does as a plain consumer);
    ``consumer(*ids)`` gives the consumer of just those pipelines (upstream's ``Consumer(ids...)``):
    the pipeline's own consumer for one ID, a new fan-out for several. IDs are pipeline IDs or
    their text ("traces/name"). An ID the connector does not feed raises ``ValueError`` with
    upstream's ``missing consumer: "<id>"`` text (all missing IDs, joined by "; ").
    """

    def __init__(self, pipelines: dict):
        self.pipelines = {str(pid): consumer for pid, consumer in pipelines.items()}
        consumers = list(self.pipelines.values())
        everything = consumers[0] if len(consumers) == 1 else Fanout(consumers)
        self.consume = everything.consume
        self.mutates_data = everything.mutates_data

    def pipeline_ids(self) -> list[str]:
        return list(self.pipelines)

    def consumer(self, *ids) -> Consumer:
        if not ids:
            raise ValueError("missing consumers")
        missing = [f'missing consumer: "{pid}"' for pid in ids if str(pid) not in self.pipelines]
        if missing:
            raise ValueError("; ".join(missing))
        chosen = [self.pipelines[str(pid)] for pid in ids]
        return chosen[0] if len(chosen) == 1 else Fanout(chosen)


async def _call(consumer: Consumer, data: Message, errors: list[BaseException]) -> None:
    try:
        await consumer.consume(data)
    except ConsumerError as exc:
        errors.append(exc)


def combine(errors: Sequence[BaseException]) -> ConsumerError:
    """As upstream's multierr: permanent if any part is permanent."""
    if len(errors) == 1 and isinstance(errors[0], ConsumerError):
        return errors[0]
    message = "; ".join(str(e) for e in errors)
    return PermanentError(message) if any(is_permanent(e) for e in errors) else ConsumerError(message)
