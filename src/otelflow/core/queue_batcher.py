"""``sending_queue.batch``: what upstream's queuebatch partition batcher does between the sending
queue and the sends. Requests taken from the queue join the current batch of their partition
until it reaches ``min_size`` (in the batch sizer's unit) or ``flush_timeout`` has passed since the
batch began; with ``max_size`` a batch is cut into parts of at most that size (processors/batch's
Splitter), and a remainder below ``min_size`` starts the next batch, as upstream's MergeSplit.

Merging stays in C: parts that have protobuf bytes (the client's, or a message serialised once)
are concatenated, which is a valid merge of Export*ServiceRequest messages, when the exporter sends
bytes; otherwise their resources are deep-copied into a new message. Only a batch that must be cut
is parsed into messages. This module only decides batches; the exporter sends them and settles
each request (``Part.owner``) once every batch holding some of its items is done.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Callable, Mapping

from google.protobuf.message import Message

from otelflow.config.queue_settings import QueueBatchSettings
from otelflow.core.component import Signal
from otelflow.pdata import REQUEST_TYPES
from otelflow.processors.batch.split import Splitter


class Ticket:
    """One queued request: settled once, with the first error of the batches that carried it."""

    __slots__ = ("refs", "error", "on_done")

    def __init__(self, on_done: Callable[["BaseException | None"], object]):
        self.refs = 0
        self.error: BaseException | None = None
        self.on_done = on_done

    def settle(self, error: BaseException | None):
        """Returns on_done's result when this was the last reference, else None."""
        if error is not None and self.error is None:
            self.error = error
        self.refs -= 1
        if self.refs == 0:
            return self.on_done(self.error)
        return None


class Part:
    """A request (or a piece of one) waiting in a batch, or a batch ready to send
    (``send(data, encoded)`` with ``count`` items under ``metadata``): a message, its bytes, or
    both, and the tickets of the requests it holds items of."""

    __slots__ = ("data", "encoded", "count", "size", "metadata", "owners")

    def __init__(self, data: Message | None, encoded: bytes | None, count: int, size: int,
                 metadata: Mapping[str, list[str]] | None, owners: list[Ticket]):
        self.data = data
        self.encoded = encoded
        self.count = count
        self.size = size
        self.metadata = metadata
        self.owners = owners


class _Batch:
    __slots__ = ("parts", "size", "timer")

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.size = 0
        self.timer: asyncio.TimerHandle | None = None


class QueueBatcher:
    """Per-partition current batches. ``add`` returns the batches that became ready; a batch whose
    ``flush_timeout`` passes goes to ``on_timeout``; ``flush_all`` empties everything (shutdown)."""

    def __init__(self, cfg: QueueBatchSettings, signal: Signal, sends_bytes: bool,
                 on_timeout: Callable[[Part], None]):
        self.cfg = cfg
        self.bytes_sizer = cfg.sizer == "bytes"
        self.sends_bytes = sends_bytes
        self.new = REQUEST_TYPES[signal]
        self.splitter = Splitter(signal)
        self.keys = [k.lower() for k in cfg.partition.metadata_keys]
        self.on_timeout = on_timeout
        self.batches: dict[tuple, _Batch] = {}

    # -- sizes and parts ---------------------------------------------------------------------------

    def part(self, data: Message | None, encoded: bytes | None, count: int,
             metadata: Mapping[str, list[str]] | None, ticket: Ticket) -> Part:
        """A request as it enters: measured once (items from its count, bytes from its bytes or
        its message's ByteSize, both without walking it in Python)."""
        if self.bytes_sizer:
            size = len(encoded) if encoded is not None else data.ByteSize()
        else:
            size = count
        ticket.refs += 1
        return Part(data, encoded, count, size, metadata, [ticket])

    def _key(self, metadata: Mapping[str, list[str]] | None) -> tuple:
        if not self.keys or not metadata:
            return ()
        return tuple((k, tuple(v)) for k in self.keys if (v := metadata.get(k)))

    # -- batching ----------------------------------------------------------------------------------

    def add(self, part: Part) -> list[Part]:
        cfg = self.cfg
        key = self._key(part.metadata)
        batch = self.batches.get(key)
        if batch is None:
            batch = _Batch()
        total = batch.size + part.size
        if cfg.max_size and total > cfg.max_size:
            pieces = self._cut(batch.parts + [part])
            self._stop_timer(batch)
            self.batches.pop(key, None)
            last = pieces[-1]
            if last.size < cfg.min_size:
                pieces.pop()
                rest = _Batch()
                rest.parts.append(last)
                rest.size = last.size
                self._start(key, rest)
            return [self._outgoing([p], key) for p in pieces]
        batch.parts.append(part)
        batch.size = total
        if total >= cfg.min_size:
            self._stop_timer(batch)
            self.batches.pop(key, None)
            return [self._outgoing(batch.parts, key)]
        if batch.timer is None:
            self._start(key, batch)
        return []

    def flush_all(self) -> list[Part]:
        out = []
        for key, batch in list(self.batches.items()):
            self._stop_timer(batch)
            out.append(self._outgoing(batch.parts, key))
        self.batches.clear()
        return out

    def _start(self, key: tuple, batch: _Batch) -> None:
        self.batches[key] = batch
        batch.timer = asyncio.get_running_loop().call_later(self.cfg.flush_timeout, self._expire, key, batch)

    @staticmethod
    def _stop_timer(batch: _Batch) -> None:
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None

    def _expire(self, key: tuple, batch: _Batch) -> None:
        if self.batches.get(key) is batch:
            del self.batches[key]
            batch.timer = None
            self.on_timeout(self._outgoing(batch.parts, key))

    # -- merging and cutting -----------------------------------------------------------------------

    def _metadata(self, parts: list[Part], key: tuple):
        """Upstream's context for a batch: with partition keys only those keys; without, the
        request's own when the batch is one request, none when requests were merged."""
        if self.keys:
            return {k: list(v) for k, v in key}
        first = parts[0]
        if len(first.owners) == 1 and all(p.owners == first.owners for p in parts[1:]):
            return first.metadata
        return None

    def _outgoing(self, parts: list[Part], key: tuple) -> Part:
        """The parts merged into one batch to send."""
        owners = [t for p in parts for t in p.owners]  # one reference per part that holds it
        count = sum(p.count for p in parts)
        size = sum(p.size for p in parts)
        metadata = self._metadata(parts, key)
        if len(parts) == 1:
            p = parts[0]
            return Part(p.data, p.encoded, count, size, metadata, owners)
        if self.sends_bytes:
            joined = b"".join(p.encoded if p.encoded is not None else p.data.SerializeToString() for p in parts)
            return Part(None, joined, count, size, metadata, owners)
        out = self.new()
        for p in parts:
            self.splitter.join(out, p.data if p.data is not None else self.new.FromString(p.encoded))
        return Part(out, None, count, size, metadata, owners)

    def _owned(self, p: Part) -> Message:
        """A message the splitter may change: the queue's messages may be shared with other
        exporters, so they are copied (in C); bytes are parsed."""
        if p.encoded is not None:
            return self.new.FromString(p.encoded)
        copy = self.new()
        copy.CopyFrom(p.data)
        return copy

    def _cut(self, parts: list[Part]) -> list[Part]:
        """The parts' items in order, cut into pieces of at most max_size; each piece names the
        requests it holds items of, so each request is settled after all its pieces."""
        limit = self.cfg.max_size
        total = sum(p.count for p in parts)
        if total <= 1:  # nothing to cut between (bytes over the limit in a lone item or in empty resources)
            joined = self._outgoing(parts, ())
            joined.metadata = None
            return [joined]
        total_size = sum(p.size for p in parts)
        pending = collections.deque((self._owned(p), p.count) for p in parts)
        # item ranges of the requests, to know which pieces hold items of which request
        ranges, start = [], 0
        for p in parts:
            ranges.append((start, start + p.count, p.owners))
            start += p.count
        pieces: list[Part] = []
        taken = 0
        while taken < total:
            if self.bytes_sizer:
                msg, n, size = self._take_bytes(pending, total - taken, limit, total_size, total)
            else:
                msg, n = self.splitter.take(pending, total - taken, limit)
                size = n
            owners = self._owners(ranges, taken, taken + n)
            pieces.append(Part(msg, None, n, size, None, owners))
            taken += n
        # requests with no items travel with the first piece
        for lo, hi, owners in ranges:
            if lo == hi and not any(t in pieces[0].owners for t in owners):
                pieces[0].owners.extend(owners)
        for piece in pieces:
            for t in piece.owners:
                t.refs += 1
        for p in parts:
            for t in p.owners:
                t.refs -= 1  # the parts are replaced by the pieces
        # a piece of one request keeps that request's metadata (merged ones have none, as upstream)
        metadata = {id(p.owners[0]): p.metadata for p in parts if len(p.owners) == 1}
        for piece in pieces:
            piece.metadata = metadata.get(id(piece.owners[0])) if len(piece.owners) == 1 else None
        return pieces

    @staticmethod
    def _owners(ranges, lo: int, hi: int) -> list[Ticket]:
        out: list[Ticket] = []
        for a, b, owners in ranges:
            if a < hi and b > lo:
                for t in owners:
                    if t not in out:
                        out.append(t)
        return out

    def _take_bytes(self, pending, left: int, limit: int, total_size: int, total_count: int):
        """Cut by bytes: guess the item count from the average item size, then take fewer while
        the piece's encoding is over the limit (a single item over it goes alone)."""
        want = max(1, limit * total_count // max(total_size, 1))
        while True:
            msg, n = self.splitter.take(pending, left, want)
            size = msg.ByteSize()
            if size <= limit or n <= 1:
                return msg, n, size
            pending.appendleft((msg, n))
            want = max(1, min(n - 1, n * limit // size))
