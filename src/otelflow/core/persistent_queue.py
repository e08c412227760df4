"""The sending queue on disk, used when an exporter's ``sending_queue.storage`` names a storage
extension (upstream's persistent queue).

Each request is committed to the store before ``offer`` returns, so whatever the exporter
acknowledged is on disk; it is deleted only once sent or given up (permanent error, retries spent).
On start, requests a previous run left behind (crash, kill -9, shutdown mid-retry) are queued again,
ahead of new ones and in their original order. Only indices and sizes live in memory; a request is
read back from disk when a consumer takes it, so a long backlog costs disk, not RAM.

Stored value: a 6-byte header (format version, signal tag, item count) then the serialized export
request. Keys are the decimal queue index.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import struct
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from otelflow.core.component import Signal
from otelflow.core.consumer import ConsumerError
from otelflow.pdata import REQUEST_TYPES

_HEADER = struct.Struct(">BBI")
_VERSION = 1
_TAG_OF = {Signal.TRACES: 1, Signal.METRICS: 2, Signal.LOGS: 3, Signal.PROFILES: 4}
_SIGNAL_OF = {tag: signal for signal, tag in _TAG_OF.items()}
_RESTORE_CHUNK = 256
_READ_RETRY_DELAY = 1.0


class QueueFullError(ConsumerError):
    def __init__(self) -> None:
        super().__init__("sending queue is full")


def encode(signal: Signal, data: Message, count: int) -> bytes:
    return _HEADER.pack(_VERSION, _TAG_OF[signal], count) + data.SerializeToString()


def decode(value: bytes) -> tuple[Message, int]:
    """The request (of the class its tag names) and its item count; ValueError when unreadable."""
    if len(value) < _HEADER.size:
        raise ValueError("stored request is too short")
    version, tag, count = _HEADER.unpack_from(value)
    if version != _VERSION or tag not in _SIGNAL_OF:
        raise ValueError(f"stored request has unknown format {version}/{tag}")
    try:
        return REQUEST_TYPES[_SIGNAL_OF[tag]].FromString(value[_HEADER.size:]), count
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ValueError(f"stored request does not decode: {exc}") from None


def weight_of(sizer: str, count: int, payload_bytes: int) -> int:
    """The same measures as the memory queue: requests, items, or the request's protobuf size."""
    return {"requests": 1, "items": count, "bytes": payload_bytes}[sizer]


@dataclass
class Item:
    index: int
    weight: int
    data: Message
    count: int


class PersistentQueue:
    """Bounded FIFO over a storage client (``get/set/delete/batch/keys/close`` coroutines).

    ``size`` counts requests being sent as well as waiting ones, as upstream's persistent queue does:
    they hold disk space until they are done.
    """

    def __init__(self, client: Any, signal: Signal, capacity: int, sizer: str, blocks: bool, logger: logging.Logger):
        self.client = client
        self.signal = signal
        self.capacity = capacity
        self.sizer = sizer
        self.blocks = blocks
        self.log = logger
        self.size = 0
        self._pending: list[tuple[int, int]] = []  # heap of (index, weight)
        self._in_flight: dict[int, int] = {}
        self._next = 0
        self._stopped = False
        self.changed = asyncio.Condition()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def open(self) -> int:
        """Load what is on disk; returns how many requests were restored."""
        indices = sorted(int(k) for k in await self.client.keys() if k.isdigit())
        restored: list[tuple[int, int]] = []
        if self.sizer == "requests":
            restored = [(i, 1) for i in indices]
        else:
            for start in range(0, len(indices), _RESTORE_CHUNK):
                chunk = indices[start:start + _RESTORE_CHUNK]
                values = await self.client.batch([("get", str(i)) for i in chunk])
                for index, value in zip(chunk, values):
                    if value is None or len(value) < _HEADER.size:
                        self.log.warning("Failed retrieving item key=%d", index)
                        await self.client.delete(str(index))
                        continue
                    count = _HEADER.unpack_from(value)[2]
                    restored.append((index, weight_of(self.sizer, count, len(value) - _HEADER.size)))
        self._next = indices[-1] + 1 if indices else 0
        self._pending = restored  # sorted, hence a valid heap
        self.size = sum(w for _, w in restored)
        return len(restored)

    async def adopt(self, other: Any) -> int:
        """Move every request of another store (a worker that no longer runs) behind this queue's
        own, then delete them there; returns how many. Capacity is not checked, as on restore."""
        indices = sorted(int(k) for k in await other.keys() if k.isdigit())
        moved = 0
        for start in range(0, len(indices), _RESTORE_CHUNK):
            chunk = indices[start:start + _RESTORE_CHUNK]
            values = await other.batch([("get", str(i)) for i in chunk])
            writes = []
            for value in values:
                if value is None or len(value) < _HEADER.size:
                    continue
                count = _HEADER.unpack_from(value)[2]
                weight = weight_of(self.sizer, count, len(value) - _HEADER.size)
                writes.append(("set", str(self._next), value))
                heapq.heappush(self._pending, (self._next, weight))
                self.size += weight
                self._next += 1
                moved += 1
            await self.client.batch(writes)  # ours on disk before theirs go
            await other.batch([("delete", str(i)) for i in chunk])
        return moved

    # -- producer side ---------------------------------------------------------------------------

    async def offer(self, data: Message, count: int) -> None:
        """Commit the request to disk, or raise QueueFullError / ConsumerError (storage failure)."""
        value = encode(self.signal, data, count)
        weight = weight_of(self.sizer, count, len(value) - _HEADER.size)
        async with self.changed:
            while self.size + weight > self.capacity:
                if not self.blocks or self._stopped:
                    raise QueueFullError()
                await self.changed.wait()
            self.size += weight  # reserved now so concurrent offers cannot overshoot
            index = self._next
            self._next += 1
        write = asyncio.ensure_future(self.client.set(str(index), value))
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            # the caller gave up, the write goes on: queue the request if it lands
            write.add_done_callback(lambda f: asyncio.ensure_future(self._settle(index, weight, f)))
            raise
        except Exception:
            pass
        await self._settle(index, weight, write)
        if write.cancelled():
            raise ConsumerError("writing the request to storage was cancelled")
        if (exc := write.exception()) is not None:
            raise ConsumerError(f"failed to write the request to storage: {exc}") from exc

    async def _settle(self, index: int, weight: int, write: asyncio.Future) -> None:
        async with self.changed:
            if write.cancelled() or write.exception() is not None:
                self.size -= weight
            else:
                heapq.heappush(self._pending, (index, weight))
            self.changed.notify_all()

    # -- consumer side ---------------------------------------------------------------------------

    async def take(self) -> Item | None:
        """The oldest request, read back from disk; None once the queue is stopped."""
        while True:
            async with self.changed:
                while not self._pending and not self._stopped:
                    await self.changed.wait()
                if self._stopped:
                    return None
                index, weight = heapq.heappop(self._pending)
                self._in_flight[index] = weight
            try:
                value = await self.client.get(str(index))
            except Exception as exc:
                self.log.error("Failed reading request %d from storage, will try again: %s", index, exc)
                await self._requeue(index, weight)
                await asyncio.sleep(_READ_RETRY_DELAY)
                continue
            except asyncio.CancelledError:
                await asyncio.shield(self._requeue(index, weight))
                raise
            try:
                if value is None:
                    raise ValueError("value not set")
                data, count = decode(value)
            except ValueError as exc:
                self.log.warning("Failed dispatching request %d, dropping it: %s", index, exc)
                await self.done(Item(index, weight, None, 0))  # type: ignore[arg-type]
                continue
            return Item(index, weight, data, count)

    async def _requeue(self, index: int, weight: int) -> None:
        async with self.changed:
            self._in_flight.pop(index, None)
            heapq.heappush(self._pending, (index, weight))
            self.changed.notify_all()

    async def done(self, item: Item) -> None:
        """Sent or given up: delete it from disk and free its space."""
        try:
            await self.client.delete(str(item.index))
        except Exception as exc:
            self.log.error("Error deleting item from queue: %s", exc)
        await self._forget(item)

    async def keep(self, item: Item) -> None:
        """Not finished (shutting down): leave it on disk for the next start."""
        await self._forget(item)

    async def _forget(self, item: Item) -> None:
        async with self.changed:
            if self._in_flight.pop(item.index, None) is not None:
                self.size -= item.weight
            self.changed.notify_all()

    # -- lifecycle -------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Consumers get None from now on; what is still queued stays on disk."""
        async with self.changed:
            self._stopped = True
            self.changed.notify_all()

    async def close(self) -> None:
        await self.client.close()
