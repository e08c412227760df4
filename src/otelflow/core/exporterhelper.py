"""What upstream's exporterhelper gives every network exporter: a bounded sending queue with
consumer tasks, retries with exponential backoff (honouring server-given delays), a per-attempt
timeout, and the otelcol_exporter_* counters. Subclasses implement one attempt: ``send``.

With ``sending_queue.storage`` the queue lives on disk (core/persistent_queue.py) and shutdown
behaves as upstream's: the attempt in progress finishes, nothing more is retried, and whatever is
left stays on disk for the next start instead of being drained.

``sending_queue.batch``: core/batch_sender.py (the reader and sends) and core/queue_batcher.py."""

from __future__ import annotations

import asyncio

from google.protobuf.message import Message

from otelflow.config.settings import QueueSettings, RetrySettings
from otelflow.core.client import counted_as_received, encoded_as_received
from otelflow.core.component import Component, ComponentID, Host, Kind, Settings
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.eager import start_eager
from otelflow.core.persistent_queue import PersistentQueue
from otelflow.core.batch_sender import BatchSending, Interrupted as _Interrupted, settle_waiter as _settle_waiter
from otelflow.core.queue_batcher import QueueBatcher
from otelflow.core.sending_queue import SIZERS as _SIZERS, Backoff, BoundedQueue as _BoundedQueue
from otelflow.core.telemetry import ITEM_NAMES
from otelflow.pdata import COUNTERS


class QueuedRetryExporter(BatchSending, Component):
    """``send(data)`` is one attempt. A subclass that can put the client's own bytes on the wire sets
    ``self.as_received = None`` in its constructor and takes ``send(data, encoded)``: the graph then
    sets ``as_received`` when nothing before the exporter may change requests in place, and a request
    that is the very message the receiver parsed is sent as the bytes it was parsed from."""

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
        # the series written per request or per send, keyed once
        self._queue_size_series = settings.telemetry.series(
            "otelcol_exporter_queue_size", data_type=settings.signal.value, **self.labels)
        self._sent_series = settings.telemetry.series(f"otelcol_exporter_sent_{self.item_name}", **self.labels)
        self.persistent = bool(queue.enabled and queue.storage)
        if self.persistent and queue.wait_for_result:
            raise ValueError("`wait_for_result` is not supported with a persistent queue configured with `storage`")
        self.queue = _BoundedQueue(queue.queue_size, _SIZERS[queue.sizer]) if queue.enabled and not self.persistent else None
        self.pqueue: PersistentQueue | None = None  # opened in start()
        self._stopping = asyncio.Event()
        self._workers: list[asyncio.Task] = []
        self._in_flight = 0
        self._closed = False
        self.batch_cfg = queue.batch_settings if queue.enabled else None
        self.batcher: QueueBatcher | None = None  # made in start(): its timers need the running loop
        self._send_slots: asyncio.Semaphore | None = None
        self._sending: set[asyncio.Task] = set()
        if type(self).consume is QueuedRetryExporter.consume:  # a subclass's own consume must not be bypassed
            self.consume_counted = self._consume_counted

    async def send(self, data: Message) -> None:
        """One attempt. Raise ConsumerError (retryable, optionally with retry_after) or PermanentError."""
        raise NotImplementedError

    async def start_client(self, host: Host) -> None:
        return None

    async def stop_client(self) -> None:
        return None

    # -- data path -------------------------------------------------------------------------------

    @property
    def accepts_encoded(self) -> bool:
        """Whether ``consume_encoded`` may be used: the exporter sends protobuf bytes as they are
        and no subclass ``consume`` would be bypassed."""
        return hasattr(self, "as_received") and "consume_counted" in self.__dict__

    async def consume(self, data: Message) -> None:
        await self._consume_counted(data, None)

    async def consume_encoded(self, encoded: bytes, count: int, build) -> None:
        """A request given as its protobuf bytes and item count; ``build()`` makes the message, for
        the paths that need one (the persistent queue). Only when ``accepts_encoded``."""
        await self._consume_counted(None, count, encoded, build)

    async def _consume_counted(self, data: Message | None, count: int | None, encoded: bytes | None = None,
                               build=None) -> None:
        """``consume`` for a caller that knows ``data``'s item count (the batch processor)."""
        if self._closed:
            raise ConsumerError("exporter is shutting down")
        if encoded is None and getattr(self, "as_received", None):
            encoded = encoded_as_received(data)
            if count is None:
                count = counted_as_received(data)
        if count is None:
            count = self.count(data)
        if self.persistent:
            await self._offer_persistent(data if data is not None else build(), count)
            return
        if self.queue is None:
            await self._send_with_retry(data, count, raise_errors=True, encoded=encoded)
            return
        q = self.queue
        waiter = asyncio.get_running_loop().create_future() if self.queue_cfg.wait_for_result else None
        if self._take_now(data, count, encoded, waiter):
            if waiter is not None:
                await asyncio.shield(waiter)  # the request's (or its batch's) result
            return
        if not q.offer(data, count, encoded, waiter):
            if not self.queue_cfg.blocks:
                self.settings.telemetry.add(f"otelcol_exporter_enqueue_failed_{self.item_name}", count, **self.labels)
                raise ConsumerError("sending queue is full")
            async with q.changed:
                while not q.offer(data, count, encoded, waiter):
                    await q.changed.wait()
        self._publish_queue_size()
        async with q.changed:
            q.changed.notify_all()
        if waiter is not None:
            await asyncio.shield(waiter)  # the request's (or its batch's) result

    def _take_now(self, data, count: int, encoded: bytes | None, waiter) -> bool:
        """What a consumer of the queue would do with this request, done by its caller when the
        queue is empty and a consumer is free: joined to its batch, or its send started at once
        (and made a task only when it has to wait for the network). Saves the turn of the event
        loop that waking a consumer costs per request. False: queue it as usual."""
        q = self.queue
        if q.items:
            return False  # requests are ahead of this one
        if self.batcher is not None:
            return self._batch_inline(data, count, encoded, waiter)
        if self._in_flight >= self.queue_cfg.num_consumers or q.sizer(data, count, encoded) > q.capacity:
            return False
        self._in_flight += 1
        task = start_eager(asyncio.get_running_loop(), self._send_taken(data, count, encoded, waiter))
        if task is not None:
            self._sending.add(task)  # held until its send ends (``_send_taken`` lets go of it)
        return True

    async def _send_taken(self, data, count: int, encoded: bytes | None, waiter) -> None:
        """One request taken from the queue (``_in_flight`` counts it): sent, retried, settled."""
        q = self.queue
        try:
            if waiter is None:
                await self._send_with_retry(data, count, raise_errors=False, encoded=encoded)
            else:
                _settle_waiter(waiter, await self._attempt(data, count, encoded))
        finally:
            self._in_flight -= 1
            # a done callback would cost a turn of the event loop per request
            self._sending.discard(asyncio.current_task())
            # wake the consumers only when one has a request to take (or shutdown waits for the
            # last send): waking all num_consumers of them after every send was ten task steps
            if q.items or self._closed:
                async with q.changed:
                    q.changed.notify_all()

    async def _worker(self) -> None:
        q = self.queue
        limit = self.queue_cfg.num_consumers
        while True:
            async with q.changed:
                # requests sent by their callers (``_take_now``) count against num_consumers too
                while not q.items or self._in_flight >= limit:
                    await q.changed.wait()
                data, _, count, encoded, waiter = q.take()
                self._in_flight += 1
                q.changed.notify_all()
            self._publish_queue_size()
            await self._send_taken(data, count, encoded, waiter)

    async def _attempt(self, data, count: int, encoded: bytes | None) -> BaseException | None:
        """_send_with_retry's outcome as a value: None when sent."""
        try:
            await self._send_with_retry(data, count, raise_errors=True, encoded=encoded)
        except (ConsumerError, _Interrupted) as exc:
            return exc
        return None

    async def _offer_persistent(self, data: Message, count: int) -> None:
        if self.pqueue is None:
            raise ConsumerError("exporter is not started")
        try:
            await self.pqueue.offer(data, count)
        except ConsumerError:
            self.settings.telemetry.add(f"otelcol_exporter_enqueue_failed_{self.item_name}", count, **self.labels)
            raise
        self._publish_queue_size()

    async def _persistent_worker(self) -> None:
        pq = self.pqueue
        while (item := await pq.take()) is not None:
            self._publish_queue_size()
            try:
                await self._send_with_retry(item.data, item.count, raise_errors=False)
            except _Interrupted:
                await pq.keep(item)
                continue
            except asyncio.CancelledError:
                await asyncio.shield(pq.keep(item))
                raise
            await pq.done(item)
            self._publish_queue_size()

    async def _pause(self, delay: float) -> bool:
        """Wait before a retry; False when a persistent queue is stopping (the data stays on disk)."""
        if not self.persistent:
            await asyncio.sleep(delay)
            return True
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except asyncio.TimeoutError:
            return True
        return False

    async def _send_with_retry(self, data: Message, count: int, raise_errors: bool, encoded: bytes | None = None) -> None:
        backoff = Backoff(self.retry_cfg)
        tel = self.settings.telemetry
        while True:
            try:
                # asyncio.timeout, unlike wait_for, runs the attempt without a task of its own
                async with asyncio.timeout(self.timeout or None):
                    if encoded is None:
                        await self.send(data)
                    else:
                        await self.send(data, encoded)
                tel.add_to(self._sent_series, count)
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
                    if await self._pause(delay):
                        continue
                    self.log.info("Stopping before the retry; the request stays in storage for the next start. error=%s", error)
                    raise _Interrupted()
                reason = "no more retries left" if self.retry_cfg.enabled else "retries are disabled"
                self.log.error("Exporting failed. Dropping data (%s). error=%s dropped_items=%d", reason, error, count)
            tel.add(f"otelcol_exporter_send_failed_{self.item_name}", count, **self.labels)
            if raise_errors:
                raise error
            return

    def _publish_queue_size(self) -> None:
        size = self.pqueue.size if self.pqueue is not None else self.queue.size
        self.settings.telemetry.set_to(self._queue_size_series, size)

    # -- lifecycle -------------------------------------------------------------------------------

    async def _open_persistent_queue(self, host: Host) -> PersistentQueue:
        """Upstream's checks and messages: the named extension must run and be a storage extension."""
        cfg = self.queue_cfg
        sid = ComponentID.parse(cfg.storage)
        ext = host.extension(sid)
        if ext is None:
            raise RuntimeError(f'no storage client extension found: "{sid}" is not among the running extensions')
        if not callable(getattr(ext, "client", None)):
            raise RuntimeError(f'requested extension is not a storage extension: "{sid}"')
        client = await ext.client(Kind.EXPORTER, self.settings.id, self.settings.signal.value)
        pq = PersistentQueue(client, self.settings.signal, cfg.queue_size, cfg.sizer, cfg.blocks, self.log)
        try:
            restored = await pq.open()
        except BaseException:
            await client.close()
            raise
        if restored:
            self.log.info("Moved items left from the previous run back to the queue numberOfItems=%d", restored)
        orphans = getattr(ext, "orphans", None)
        if callable(orphans):  # queues of workers that no longer run (core/workers): this one sends them
            for other in await orphans(Kind.EXPORTER, self.settings.id, self.settings.signal.value):
                moved = await pq.adopt(other)
                await ext.discard(other)
                self.log.info("Took over the queue of a worker that no longer runs numberOfItems=%d", moved)
        return pq

    async def start(self, host: Host) -> None:
        if self.persistent:
            self.pqueue = await self._open_persistent_queue(host)
            try:
                await self.start_client(host)
            except BaseException:
                await self.pqueue.close()
                self.pqueue = None
                raise
            self.settings.telemetry.set(
                "otelcol_exporter_queue_capacity", self.pqueue.capacity, data_type=self.settings.signal.value, **self.labels
            )
            self._publish_queue_size()
            if self._start_batcher():
                self._workers = [asyncio.create_task(self._persistent_batch_reader())]
            else:
                self._workers = [asyncio.create_task(self._persistent_worker()) for _ in range(self.queue_cfg.num_consumers)]
            return
        await self.start_client(host)
        if self.queue is not None:
            self.settings.telemetry.set(
                "otelcol_exporter_queue_capacity", self.queue.capacity, data_type=self.settings.signal.value, **self.labels
            )
            if self._start_batcher():
                self._workers = [asyncio.create_task(self._batch_reader())]
            else:
                self._workers = [asyncio.create_task(self._worker()) for _ in range(self.queue_cfg.num_consumers)]

    async def shutdown(self) -> None:
        """Refuse new data, deliver everything queued (the service bounds how long), then close."""
        self._closed = True
        if self.pqueue is not None:
            await self._shutdown_persistent()
            return
        q = self.queue
        if q is not None and self._workers:
            async with q.changed:
                while q.items or self._in_flight:
                    await q.changed.wait()
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers.clear()
            await self._flush_batches()
        await self.stop_client()

    async def _shutdown_persistent(self) -> None:
        """Finish the attempts in progress, retry nothing, keep the rest on disk, then close."""
        self._stopping.set()
        await self.pqueue.stop()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        await self._flush_batches()  # one attempt each; what fails stays on disk
        await self.pqueue.close()
        self.pqueue = None
        await self.stop_client()
