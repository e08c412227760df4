"""The batcher: one pending batch and sender task per shard, cut for size as data arrives, sent on
size or on the timer (see the package docstring for upstream's behaviour it follows)."""

from __future__ import annotations

import asyncio
import collections
import math
from typing import Any

from google.protobuf.message import Message

from otelflow.core.client import counted_as_received, encoded_as_received
from otelflow.core.component import Component, Host, Settings
from otelflow.core.consumer import Consumer, ConsumerError, PermanentError
from otelflow.core.telemetry import ITEM_NAMES
from otelflow.pdata import COUNTERS
from otelflow.processors.batch.config import TOO_MANY_BATCHERS, Config, client_metadata
from otelflow.processors.batch.split import Splitter

_SIZE, _TIMEOUT = "size", "timeout"


class _Shard:
    """One pending batch with its sender task (one per distinct metadata value set)."""

    def __init__(self, proc: "BatchProcessor", metadata: dict[str, list[str]] | None):
        self.proc = proc
        self.metadata = metadata
        self.pending: collections.deque[tuple[Message, int]] = collections.deque()
        self.count = 0
        # The clients' bytes of every pending request, while each came as received (None otherwise,
        # until nothing is pending): a batch of whole requests is then those bytes joined.
        self.parts: list[bytes] | None = []
        self.ready: collections.deque[tuple[Any, int, str, list[bytes] | None]] = collections.deque()
        self.wake = asyncio.Event()
        self.space = asyncio.Event()
        self.space.set()
        self.closing = False
        self.task: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.deadline = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.deadline = loop.time() + self.proc.timeout
        self.task = loop.create_task(self._run(), name=f"batch {self.proc.settings.id}")

    # called by consume, never awaits: batch boundaries are decided here, as upstream decides them
    def add(self, data: Message, n: int, encoded: bytes | None = None) -> None:
        proc = self.proc
        was_empty = self.count == 0
        self.pending.append((data, n))
        if self.parts is not None:
            if encoded is None:
                self.parts = None
            else:
                self.parts.append(encoded)
        self.count += n
        if not proc.timed:
            while self.count > 0:
                self._cut(_SIZE)
        elif self.count >= proc.send_batch_size:
            while self.count >= proc.send_batch_size:
                self._cut(_SIZE)
            self.deadline = self.loop.time() + proc.timeout
        elif was_empty:
            # The timer runs on while idle; resume its phase rather than waking every period.
            now = self.loop.time()
            if self.deadline <= now:
                self.deadline += (math.floor((now - self.deadline) / proc.timeout) + 1) * proc.timeout
            self.wake.set()
            return
        else:
            return
        self.space.clear()
        self.wake.set()

    def _cut(self, trigger: str) -> None:
        proc = self.proc
        if self.parts is not None and (proc.send_batch_max_size <= 0 or self.count <= proc.send_batch_max_size):
            # Every pending request goes whole: an export request's only field is its repeated
            # resources, so the bytes joined are the requests joined (the join waits until needed).
            pending, n, parts = self.pending, self.count, self.parts
            self.pending, self.count, self.parts = collections.deque(), 0, []
            if n:
                self.ready.append((pending, n, trigger, parts))
            return
        batch, n = proc.splitter.take(self.pending, self.count, proc.send_batch_max_size)
        self.count -= n
        self.parts = [] if self.count == 0 else None  # what is left may be part of a request
        if n:
            self.ready.append((batch, n, trigger, None))

    async def wait_for_space(self) -> None:
        """Hold the caller while a cut batch waits behind the one being sent (upstream's bounded
        hand-off channel): memory stays bounded when the next component is slow."""
        while self.ready and not self.closing:
            await self.space.wait()

    async def _run(self) -> None:
        if self.metadata is not None:
            client_metadata.set(self.metadata)
        proc = self.proc
        loop = self.loop
        while True:
            while self.ready:
                batch, n, trigger, parts = self.ready.popleft()
                if not self.ready:
                    self.space.set()
                await proc.export(batch, n, trigger, parts)
            if self.closing:
                if self.count > 0:
                    while self.count > 0:
                        self._cut(_TIMEOUT)
                    continue
                return
            self.wake.clear()
            if proc.timed and self.count > 0:
                if loop.time() >= self.deadline:
                    self._cut(_TIMEOUT)
                    self.deadline = loop.time() + proc.timeout
                    continue
                timer = loop.call_at(self.deadline, self.wake.set)
                try:
                    await self.wake.wait()
                finally:
                    timer.cancel()
            else:
                await self.wake.wait()

    async def close(self) -> None:
        self.closing = True
        self.space.set()
        self.wake.set()
        if self.task is not None:
            await self.task


class BatchProcessor(Component):
    mutates_data = True

    def __init__(self, settings: Settings, config: Config, next_: Consumer):
        self.settings = settings
        self.config = config
        self.next = next_
        self.log = settings.logger
        signal = settings.signal
        self.count_items = COUNTERS[signal]
        self.splitter = Splitter(signal)
        self.timeout = config.timeout
        self.send_batch_size = config.send_batch_size
        self.send_batch_max_size = config.send_batch_max_size
        self.timed = config.timeout > 0 and config.send_batch_size > 0
        self.metadata_keys = sorted(k.lower() for k in config.metadata_keys)
        self.metadata_limit = config.metadata_cardinality_limit
        self.shards: dict[tuple, _Shard] = {}
        self.single: _Shard | None = None
        self.started = False
        self.closed = False
        self.labels = {"processor": str(settings.id)}
        self.item_name = ITEM_NAMES[signal]
        self.failures = 0
        self.as_received = False  # set by the graph: nothing before it changes requests in place
        # the next component when it takes the batch's count along (an exporter), so it need not count
        self.hand_on = getattr(next_, "consume_counted", None)
        # ... and when it sends a batch as bytes without the message (a protobuf exporter): batches
        # of requests that came as received are then the clients' bytes joined, never re-encoded
        self.hand_on_encoded = getattr(next_, "consume_encoded", None) if getattr(next_, "accepts_encoded", False) else None

    # -- data path -------------------------------------------------------------------------------

    async def consume(self, data: Message) -> None:
        n = counted_as_received(data) if self.as_received else None
        await self.consume_counted(data, self.count_items(data) if n is None else n)

    @property
    def _keeps_encoded(self) -> bool:
        return self.as_received and self.hand_on_encoded is not None

    async def consume_counted(self, data: Message, n: int) -> None:
        """``consume`` for a caller that has just counted ``data``'s items (and not changed it since):
        the memory limiter in front counts every request anyway, and counting metrics is not free."""
        if n == 0:
            return  # upstream drops requests without items on arrival
        if not self.started or self.closed:
            await self.next.consume(data)  # not started, or shut down: hand it on unbatched
            return
        shard = self.single if self.single is not None else self._shard()
        if shard.ready and not shard.closing:
            await shard.wait_for_space()
        if shard.closing:
            await self.next.consume(data)  # shut down: hand it on unbatched rather than lose it
            return
        shard.add(data, n, encoded_as_received(data) if self._keeps_encoded else None)

    def _shard(self) -> _Shard:
        info = client_metadata.get()
        lowered: dict[str, Any] = {}
        if info:
            for k, v in info.items():
                lowered[str(k).lower()] = v
        values = []
        for key in self.metadata_keys:
            got = lowered.get(key)
            if got is None:
                values.append(())
            elif isinstance(got, (str, bytes)):
                values.append((got if isinstance(got, str) else got.decode(),))
            else:
                values.append(tuple(str(x) for x in got))
        key = tuple(values)
        shard = self.shards.get(key)
        if shard is None:
            if self.metadata_limit and len(self.shards) >= self.metadata_limit:
                raise PermanentError(TOO_MANY_BATCHERS)
            shard = _Shard(self, {k: list(v) for k, v in zip(self.metadata_keys, values)})
            self.shards[key] = shard
            if self.started:
                shard.start()
            self._publish_cardinality()
        return shard

    async def export(self, batch: Any, n: int, trigger: str, parts: list[bytes] | None = None) -> None:
        """Send one batch: a message, or with ``parts`` the pending requests (a deque of (message,
        count)) whose clients' bytes ``parts`` are, joined into a message only if the next needs one."""
        tel = self.settings.telemetry
        if parts is not None:
            pending, built = batch, []

            def build() -> Message:  # once, however many exporters ask
                if not built:
                    built.append(self.splitter.take(pending, n, 0)[0])
                return built[0]

            if self.hand_on_encoded is None:
                batch = build()
        try:
            if parts is not None and self.hand_on_encoded is not None:
                await self.hand_on_encoded(b"".join(parts), n, build)
            elif self.hand_on is not None:
                await self.hand_on(batch, n)
            else:
                await self.next.consume(batch)
        except Exception as exc:  # noqa: BLE001 - a failed export must not stop the sender
            self.failures += 1
            tel.add(f"otelflow_processor_batch_send_failed_{self.item_name}", n, **self.labels)
            if isinstance(exc, ConsumerError):
                self.log.warning("Sender failed. error=%s dropped_items=%d", exc, n)
            else:
                self.log.warning("Sender failed. error=%r dropped_items=%d", exc, n, exc_info=exc)
            return
        tel.add(
            "otelcol_processor_batch_batch_size_trigger_send" if trigger == _SIZE else "otelcol_processor_batch_timeout_trigger_send",
            1,
            **self.labels,
        )
        tel.add("otelcol_processor_batch_batch_send_size_sum", n, **self.labels)
        tel.add("otelcol_processor_batch_batch_send_size_count", 1, **self.labels)

    def _publish_cardinality(self) -> None:
        size = 1 if not self.metadata_keys else len(self.shards)
        self.settings.telemetry.set("otelcol_processor_batch_metadata_cardinality", size, **self.labels)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        self.started = True
        if not self.metadata_keys:
            self.single = _Shard(self, None)
            self.shards[()] = self.single
        for shard in self.shards.values():
            shard.start()
        self._publish_cardinality()

    async def shutdown(self) -> None:
        """Send everything still pending, then stop the senders."""
        self.closed = True
        await asyncio.gather(*(shard.close() for shard in list(self.shards.values())))
