"""exporterhelper's in-memory sending queue (bounded by a sizer) and its retry backoff, used by
core/exporterhelper.py (and the backoff by the kafka receiver)."""

from __future__ import annotations

import asyncio
import collections
import random
import time

from google.protobuf.message import Message

from otelflow.config.queue_settings import RetrySettings
from otelflow.core.client import client_metadata


_RNG = random.Random()


class Backoff:
    """Exponential backoff as upstream configures it (randomised, capped, bounded in total time)."""

    def __init__(self, retry: RetrySettings, rng: random.Random | None = None):
        self.retry = retry
        self.rng = rng or _RNG  # one generator: seeding a new one per request costs ~10 µs
        self.current = retry.initial_interval
        self.started = time.monotonic()

    def next_delay(self) -> float | None:
        """Seconds to wait before the next attempt, or None when max_elapsed_time would be passed."""
        r = self.retry
        delta = r.randomization_factor * self.current
        delay = self.current - delta + self.rng.random() * (2 * delta)
        self.current = min(self.current * r.multiplier, r.max_interval)
        elapsed = time.monotonic() - self.started
        if r.max_elapsed_time and elapsed + delay > r.max_elapsed_time:
            return None
        return delay


class BoundedQueue:
    """FIFO bounded by request count or item count (upstream's ``sizer``)."""

    def __init__(self, capacity: int, sizer):
        self.capacity = capacity
        self.sizer = sizer
        # each request with its weight and the client metadata it came with (kept as upstream's queue keeps the context)
        self.items: collections.deque[tuple[Message, int, object]] = collections.deque()
        self.size = 0
        self.changed = asyncio.Condition()

    def offer(self, data: Message | None, count: int, encoded: bytes | None = None, waiter=None) -> bool:
        weight = self.sizer(data, count, encoded)
        if self.size + weight > self.capacity:
            return False
        self.items.append((data, weight, client_metadata.get(), count, encoded, waiter))
        self.size += weight
        return True

    def take(self, release: bool = True):
        """The oldest request, its weight in the queue, its item count (counted when offered), the
        client's bytes of it when it is sent on as received, and its caller's future
        (``wait_for_result``). ``release=False``: it keeps its weight until ``release``."""
        data, weight, metadata, count, encoded, waiter = self.items.popleft()
        if release:
            self.size -= weight
        client_metadata.set(metadata)  # in the taking worker's own context
        return data, weight, count, encoded, waiter


SIZERS = {
    "requests": lambda data, count, encoded: 1,
    "items": lambda data, count, encoded: count,
    "bytes": lambda data, count, encoded: data.ByteSize() if encoded is None else len(encoded),
}
