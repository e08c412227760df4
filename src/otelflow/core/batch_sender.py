"""The sending side of ``sending_queue.batch`` for QueuedRetryExporter: one reader moves requests
from the queue (memory or disk) into core/queue_batcher.py's batches and up to ``num_consumers``
batches are sent at once. A request keeps its place in the queue's size, and on disk, until every
batch holding its items is done, as upstream's queue does; its caller's ``wait_for_result``
future gets that outcome."""

from __future__ import annotations

import asyncio

from otelflow.core.client import client_metadata
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.eager import start_eager
from otelflow.core.queue_batcher import Part, QueueBatcher, Ticket


class Interrupted(Exception):
    """A retry given up because the exporter is stopping; the persistent queue keeps the data."""


def settle_waiter(waiter: asyncio.Future, error: BaseException | None) -> None:
    if waiter.done():
        return
    if error is None:
        waiter.set_result(None)
    elif isinstance(error, Interrupted):
        waiter.set_exception(ConsumerError("exporter is shutting down"))
    else:
        waiter.set_exception(error)


class BatchSending:
    """Mixed into QueuedRetryExporter, whose queue, telemetry and ``_attempt`` it uses."""

    def _start_batcher(self) -> bool:
        cfg = self.batch_cfg
        if cfg is None:
            return False
        self.batcher = QueueBatcher(cfg, self.settings.signal, hasattr(self, "as_received"), self._on_batch_timeout)
        self._send_slots = asyncio.Semaphore(self.queue_cfg.num_consumers)
        # the batches of one request are dispatched together, in order, before the next request's
        self._dispatch_order = asyncio.Lock()
        return True

    async def _batch_reader(self) -> None:
        """Moves requests from the memory queue into batches; they leave the queue's size when
        their batches are done."""
        q, batcher = self.queue, self.batcher
        while True:
            async with q.changed:
                while not q.items:
                    await q.changed.wait()
                data, weight, count, encoded, waiter = q.take(release=False)
                self._in_flight += 1
            ready: list[Part] = []
            try:
                ticket = Ticket(lambda error, w=weight, f=waiter: self._release(w, f, error))
                ready = self._batch(batcher.part(data, encoded, count, client_metadata.get(), ticket), ticket)
            finally:
                await self._dispatch_all(ready)  # behind those of a request batched inline

    def _batch_inline(self, data, count: int, encoded: bytes | None, waiter) -> bool:
        """The reader's step, done by the caller when the reader has nothing in hand and nothing
        waits in the queue: the request takes its place in the queue's size and joins its batch
        at once, without waking the reader (a turn of the event loop per request). False: the
        caller queues it as usual (the queue is full, or requests are ahead of it)."""
        q = self.queue
        if self._in_flight:
            return False
        weight = q.sizer(data, count, encoded)
        if q.size + weight > q.capacity:
            return False
        q.size += weight
        self._publish_queue_size()
        ticket = Ticket(lambda error, w=weight, f=waiter: self._release(w, f, error))
        ready = self._batch(self.batcher.part(data, encoded, count, client_metadata.get(), ticket), ticket)
        if ready:
            self._in_flight += 1  # later requests queue behind these batches
            # started at once, so it holds the dispatch order before any later request's batches
            task = start_eager(asyncio.get_running_loop(), self._dispatch_all(ready))
            if task is not None:
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        return True

    async def _dispatch_all(self, ready: list[Part]) -> None:
        """One request's batches, dispatched in order; then its place in ``_in_flight`` is freed."""
        q = self.queue
        try:
            if ready:
                async with self._dispatch_order:
                    for out in ready:
                        await self._dispatch(out)
        finally:
            async with q.changed:
                self._in_flight -= 1
                q.changed.notify_all()

    async def _persistent_batch_reader(self) -> None:
        pq, batcher = self.pqueue, self.batcher
        while (item := await pq.take()) is not None:
            ticket = Ticket(lambda error, it=item: self._settle_stored(it, error))
            for out in self._batch(batcher.part(item.data, None, item.count, None, ticket), ticket):
                await self._dispatch(out)

    def _batch(self, part, ticket: Ticket) -> list[Part]:
        """The batches ``part`` completes; a request the batcher cannot take is dropped, not the reader."""
        try:
            return self.batcher.add(part)
        except Exception as exc:
            self.log.error("Batching failed. Dropping data. error=%r dropped_items=%d", exc, part.count)
            self.settings.telemetry.add(f"otelcol_exporter_send_failed_{self.item_name}", part.count, **self.labels)
            ticket.refs = 1
            done = ticket.settle(PermanentError(f"batching failed: {exc}"))
            if done is not None:
                asyncio.ensure_future(done)
            return []

    def _release(self, weight: int, waiter, error: BaseException | None):
        """A request's batches are done: it leaves the queue's size and its caller learns the
        outcome. Returns a coroutine to await only when callers may be blocked on a full queue."""
        self.queue.size -= weight
        self._publish_queue_size()
        if waiter is not None:
            settle_waiter(waiter, error)
        return self._room_made() if self.queue_cfg.blocks else None

    async def _room_made(self) -> None:
        q = self.queue
        async with q.changed:
            q.changed.notify_all()

    async def _settle_stored(self, item, error: BaseException | None) -> None:
        if isinstance(error, Interrupted):
            await self.pqueue.keep(item)  # stopping: stays on disk for the next start
        else:
            await self.pqueue.done(item)
        self._publish_queue_size()

    def _on_batch_timeout(self, out: Part) -> None:
        task = asyncio.get_running_loop().create_task(self._dispatch(out))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _dispatch(self, out: Part) -> None:
        """Send a batch once one of the ``num_consumers`` slots is free (the reader waits for it,
        as upstream's worker pool makes its queue consumer wait)."""
        await self._send_slots.acquire()
        task = asyncio.get_running_loop().create_task(self._send_batch(out))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send_batch(self, out: Part) -> None:
        try:
            client_metadata.set(out.metadata)
            try:
                error = await self._attempt(out.data, out.count, out.encoded)
            except Exception as exc:  # a bug in send must not leave the batch's requests unsettled
                self.log.error("Exporting a batch failed unexpectedly. error=%r dropped_items=%d", exc, out.count)
                error = ConsumerError(f"{type(exc).__name__}: {exc}")
            for ticket in out.owners:
                done = ticket.settle(error)
                if done is not None:
                    await done
        finally:
            self._send_slots.release()

    async def _flush_batches(self) -> None:
        """Shutdown: the batches still filling go out now; wait for every send."""
        if self.batcher is None:
            return
        for out in self.batcher.flush_all():
            await self._dispatch(out)
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)
