"""What upstream's exporterhelper gives every network exporter: a bounded sending queue with
consumer tasks, retries with exponential backoff (honouring server-given delays), a per-attempt
timeout, and the otelcol_exporter_* counters. Subclasses implement one attempt: ``send``."""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time

from google.protobuf.message import Message

from otelflow.config.settings import QueueSettings, RetrySettings
from otelflow.core.component import Component, Host, Settings
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.telemetry import ITEM_NAMES
from otelflow.pdata import COUNTERS


class Backoff:
    """Exponential backoff as upstream configures it (randomised, capped, bounded in total time)."""

    def __init__(self, retry: RetrySettings, rng: random.Random | None = None):
        self.retry = retry
        self.rng = rng or random.Random()
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


class _BoundedQueue:
    """FIFO bounded by request count or item count (upstream's ``sizer``)."""

    def __init__(self, capacity: int, sizer):
        self.capacity = capacity
        self.sizer = sizer
        self.items: collections.deque[tuple[Message, int]] = collections.deque()
        self.size = 0
        self.changed = asyncio.Condition()

    def offer(self, data: Message, count: int) -> bool:
        weight = self.sizer(data, count)
        if self.size + weight > self.capacity:
            return False
        self.items.append((data, weight))
        self.size += weight
        return True

    def take(self) -> tuple[Message, int]:
        data, weight = self.items.popleft()
        self.size -= weight
        return data, weight


_SIZERS = {
    "requests": lambda data, count: 1,
    "items": lambda data, count: count,
    "bytes": lambda data, count: data.ByteSize(),
}


class QueuedRetryExporter(Component):
    mutates_data = False

    def __init__(self, settings: Settings, queue: QueueSettings, retry: RetrySettings, timeout: float):
        self.settings = settings
        self.log = settings.logger
        self.queue_cfg = queue
        self.retry_cfg = retry
        self.timeout = timeout
        self.count = COUNTERS[settings.signal]
        self.item_name = ITEM_NAMES[settings.signal]
        self.labels = {"exporter": str(settings.id)}
        self.queue = _BoundedQueue(queue.queue_size, _SIZERS[queue.sizer]) if queue.enabled else None
        self._workers: list[asyncio.Task] = []
        self._in_flight = 0
        self._closed = False

    async def send(self, data: Message) -> None:
        """One attempt. Raise ConsumerError (retryable, optionally with retry_after) or PermanentError."""
        raise NotImplementedError

    async def start_client(self, host: Host) -> None:
        return None

    async def stop_client(self) -> None:
        return None

    # -- data path -------------------------------------------------------------------------------

    async def consume(self, data: Message) -> None:
        if self._closed:
            raise ConsumerError("exporter is shutting down")
        count = self.count(data)
        if self.queue is None:
            await self._send_with_retry(data, count, raise_errors=True)
            return
        q = self.queue
        if not q.offer(data, count):
            if not self.queue_cfg.blocks:
                self.settings.telemetry.add(f"otelcol_exporter_enqueue_failed_{self.item_name}", count, **self.labels)
                raise ConsumerError("sending queue is full")
            async with q.changed:
                while not q.offer(data, count):
                    await q.changed.wait()
        self._publish_queue_size()
        async with q.changed:
            q.changed.notify_all()

    async def _worker(self) -> None:
        q = self.queue
        while True:
            async with q.changed:
                while not q.items:
                    await q.changed.wait()
                data, _ = q.take()
                self._in_flight += 1
                q.changed.notify_all()
            self._publish_queue_size()
            try:
                await self._send_with_retry(data, self.count(data), raise_errors=False)
            finally:
                async with q.changed:
                    self._in_flight -= 1
                    q.changed.notify_all()

    async def _send_with_retry(self, data: Message, count: int, raise_errors: bool) -> None:
        backoff = Backoff(self.retry_cfg)
        tel = self.settings.telemetry
        while True:
            try:
                await asyncio.wait_for(self.send(data), self.timeout or None)
                tel.add(f"otelcol_exporter_sent_{self.item_name}", count, **self.labels)
                return
            except PermanentError as exc:
                error: ConsumerError = exc
                self.log.error("Exporting failed. The error is not retryable. Dropping data. error=%s dropped_items=%d", exc, count)
            except (ConsumerError, asyncio.TimeoutError, OSError) as exc:
                error = exc if isinstance(exc, ConsumerError) else ConsumerError(f"{type(exc).__name__}: {exc}")
                delay = backoff.next_delay() if self.retry_cfg.enabled else None
                if delay is not None:
                    delay = max(delay, error.retry_after or 0.0)
                    self.log.info("Exporting failed. Will retry the request after interval. error=%s interval=%.3fs", error, delay)
                    await asyncio.sleep(delay)
                    continue
                reason = "no more retries left" if self.retry_cfg.enabled else "retries are disabled"
                self.log.error("Exporting failed. Dropping data (%s). error=%s dropped_items=%d", reason, error, count)
            tel.add(f"otelcol_exporter_send_failed_{self.item_name}", count, **self.labels)
            if raise_errors:
                raise error
            return

    def _publish_queue_size(self) -> None:
        tel = self.settings.telemetry
        tel.set("otelcol_exporter_queue_size", self.queue.size, data_type=self.settings.signal.value, **self.labels)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        await self.start_client(host)
        if self.queue is not None:
            self.settings.telemetry.set(
                "otelcol_exporter_queue_capacity", self.queue.capacity, data_type=self.settings.signal.value, **self.labels
            )
            self._workers = [asyncio.create_task(self._worker()) for _ in range(self.queue_cfg.num_consumers)]

    async def shutdown(self) -> None:
        """Refuse new data, deliver everything queued (the service bounds how long), then close."""
        self._closed = True
        q = self.queue
        if q is not None and self._workers:
            async with q.changed:
                while q.items or self._in_flight:
                    await q.changed.wait()
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers.clear()
        await self.stop_client()
