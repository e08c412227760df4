"""The ``batch`` processor: gathers requests into batches of ``send_batch_size`` items (spans, metric
data points, log records), sends on size or on ``timeout``, splits at ``send_batch_max_size``.

Behaviour follows upstream's batchprocessor (v0.161):

* ``consume`` returns as soon as the request is part of a pending batch; exports run in a background
  task per batch (per shard when ``metadata_keys`` is set), and their errors are logged and counted,
  never returned to the caller.
* Where batch boundaries fall is decided at the moment data is added, as upstream's single batching
  goroutine decides it: add the request, then cut a batch while at least ``send_batch_size`` items
  wait (cut at ``send_batch_max_size`` when set). A timer, reset whenever a batch is cut for size,
  sends whatever waits every ``timeout``. With ``timeout: 0`` or ``send_batch_size: 0`` every
  request is sent at once, split only by ``send_batch_max_size``.
* Splitting takes the first N items in resource/scope order: whole resources and scopes while they
  fit, then part of the scope (for metrics: part of the metric's data points) that straddles the
  boundary, under a copy of its resource and scope headers. A metric split this way keeps name,
  description, unit, type, temporality and monotonicity in the part sent; like upstream, that part
  does not carry the metric's ``metadata``.

Data stays in protobuf: pending requests are kept as received (this processor owns what it is given,
``mutates_data`` is True as upstream declares) and joined with C-level ``MergeFrom`` when a batch is
cut; resource, scope and item lists are only walked where a boundary falls inside a request.

``metadata_keys``: otelflow's receivers do not carry client metadata yet. The batcher reads the
``client_metadata`` context variable of this module (a mapping of key to a list of values, keys
matched case-insensitively); whoever calls ``consume`` may set it. Each shard's exports run with
``client_metadata`` set to that shard's values, as upstream puts them on the export context.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import math
from typing import Any, Callable, Mapping, Sequence

from google.protobuf.message import Message
from pydantic import model_validator

from otelflow.config.model import Duration, Model, UInt32
from otelflow.core.component import Component, Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import Consumer, ConsumerError, PermanentError
from otelflow.core.telemetry import ITEM_NAMES
from otelflow.pdata import COUNTERS, REQUEST_TYPES

#: Client metadata of the request being consumed: ``{key: [values]}``. See the module docstring.
client_metadata: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar("client_metadata", default=None)

class Config(Model):
    timeout: Duration = 0.2
    send_batch_size: UInt32 = 8192
    send_batch_max_size: UInt32 = 0
    metadata_keys: list[str] = []
    metadata_cardinality_limit: UInt32 = 1000

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if self.send_batch_max_size > 0 and self.send_batch_max_size < self.send_batch_size:
            raise ValueError("send_batch_max_size must be greater or equal to send_batch_size")
        seen: set[str] = set()
        for key in self.metadata_keys:
            low = key.lower()
            if low in seen:
                raise ValueError(f'duplicate entry in metadata_keys: "{low}" (case-insensitive)')
            seen.add(low)
        if self.timeout < 0:
            raise ValueError("timeout must be greater or equal to 0")
        return self


TOO_MANY_BATCHERS = "too many batcher metadata-value combinations"

# --------------------------------------------------------------------------------------------------
# Splitting. A request is a list of resources, each a list of scopes; for traces and logs a scope's
# list holds the items, for metrics a scope holds metrics and each metric's data points are the items.
# --------------------------------------------------------------------------------------------------


def _copy_resource_header(src: Message, dst: Message) -> None:
    dst.resource.CopyFrom(src.resource)
    dst.schema_url = src.schema_url


def _copy_scope_header(src: Message, dst: Message) -> None:
    dst.scope.CopyFrom(src.scope)
    dst.schema_url = src.schema_url


def _points(metric: Message):
    kind = metric.WhichOneof("data")
    return getattr(metric, kind).data_points if kind else ()


def _metric_points(metric: Message) -> int:
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0


def _copy_metric_header(src: Message, dst: Message) -> None:
    """What upstream's splitMetric gives the part it sends: no ``metadata``."""
    dst.name = src.name
    dst.description = src.description
    dst.unit = src.unit
    kind = src.WhichOneof("data")
    if kind == "sum":
        dst.sum.aggregation_temporality = src.sum.aggregation_temporality
        dst.sum.is_monotonic = src.sum.is_monotonic
    elif kind in ("histogram", "exponential_histogram"):
        getattr(dst, kind).aggregation_temporality = getattr(src, kind).aggregation_temporality
    elif kind is not None:
        getattr(dst, kind).SetInParent()


def _copy_metric_header_full(src: Message, dst: Message) -> None:
    _copy_metric_header(src, dst)
    dst.metadata.extend(src.metadata)


def _drop_metric_metadata(metric: Message) -> None:
    metric.ClearField("metadata")


def _nothing(_: Message) -> None:
    return None


class _Level:
    """One list in the tree: how to reach it from its parent, count a child, copy a child's header."""

    __slots__ = ("children", "count", "header", "leaf")

    def __init__(self, children: Callable, count: Callable, header: Callable, leaf: "_Leaf | None" = None):
        self.children = children  # parent -> repeated field of children
        self.count = count  # child -> items under it
        self.header = header  # (src child, dst child): copy all but the child's own list
        self.leaf = leaf  # set when the children hold the items directly


class _Leaf:
    """The container whose list holds the items (a scope, or a metric for metrics)."""

    __slots__ = ("items", "head_header", "full_header", "fix_head")

    def __init__(self, items: Callable, head_header: Callable, full_header: Callable, fix_head: Callable):
        self.items = items
        self.head_header = head_header  # the header the sent (head) part gets
        self.full_header = full_header  # the header the remaining (tail) part keeps
        self.fix_head = fix_head  # turns a full header into a head header in place


def _split_leaf(child: Message, dst_children, room: int, leaf: _Leaf, copy_head: bool) -> None:
    """Split ``child`` after ``room`` items. ``copy_head``: a copy of the head goes to ``dst_children``
    and ``child`` keeps the tail; otherwise ``child`` keeps the head and a copy of the tail goes there.

    Copying a whole container in C and trimming it beats slicing item by item when most of it is
    wanted, so the cheaper of the two is used."""
    items = leaf.items(child)
    n = len(items)
    wanted = room if copy_head else n - room
    dst = dst_children.add()
    if wanted * 3 > n:
        dst.CopyFrom(child)
        if copy_head:
            del leaf.items(dst)[room:]
            leaf.fix_head(dst)
        else:
            del leaf.items(dst)[:room]
    elif copy_head:
        leaf.head_header(child, dst)
        leaf.items(dst).extend(items[:room])
    else:
        leaf.full_header(child, dst)
        leaf.items(dst).extend(items[room:])
    if copy_head:
        del items[:room]
    else:
        del items[room:]
        leaf.fix_head(child)


def _fitting(children, level: _Level, room: int) -> tuple[int, int]:
    """How many leading children fit whole into ``room`` items (stopping once room is used up), and
    the room left after them. Children with no items fit while room remains, as upstream moves them."""
    idx, n = 0, len(children)
    count = level.count
    while idx < n and room > 0:
        c = count(children[idx])
        if c > room:
            break
        room -= c
        idx += 1
    return idx, room


def _head_into(src: Message, dst: Message, levels: Sequence[_Level], depth: int, room: int) -> None:
    """Move the first ``room`` items of ``src`` into ``dst`` (appending), as upstream's split does."""
    level = levels[depth]
    children = level.children(src)
    dst_children = level.children(dst)
    idx, left = _fitting(children, level, room)
    if idx:
        dst_children.extend(children[:idx])
    if left > 0 and idx < len(children):
        child = children[idx]
        if level.leaf is not None:
            _split_leaf(child, dst_children, left, level.leaf, copy_head=True)
        else:
            part = dst_children.add()
            level.header(child, part)
            _head_into(child, part, levels, depth + 1, left)
    if idx:
        del children[:idx]


def _tail_out(src: Message, dst: Message, levels: Sequence[_Level], depth: int, room: int) -> None:
    """Keep the first ``room`` items in ``src``; move the rest into ``dst`` (which keeps full headers)."""
    level = levels[depth]
    children = level.children(src)
    dst_children = level.children(dst)
    idx, left = _fitting(children, level, room)
    start = idx
    if left > 0 and idx < len(children):
        child = children[idx]
        if level.leaf is not None:
            _split_leaf(child, dst_children, left, level.leaf, copy_head=False)
        else:
            part = dst_children.add()
            level.header(child, part)
            _tail_out(child, part, levels, depth + 1, left)
        start = idx + 1
    if start < len(children):
        dst_children.extend(children[start:])
        del children[start:]


def _scope_items(field: str) -> _Leaf:
    def items(scope):
        return getattr(scope, field)

    return _Leaf(items, _copy_scope_header, _copy_scope_header, _nothing)


def _levels(signal: Signal) -> list[_Level]:
    if signal is Signal.METRICS:
        metric_leaf = _Leaf(_points, _copy_metric_header, _copy_metric_header_full, _drop_metric_metadata)

        def scope_count(sm):
            return sum(_metric_points(m) for m in sm.metrics)

        def resource_count(rm):
            return sum(scope_count(sm) for sm in rm.scope_metrics)

        return [
            _Level(lambda req: req.resource_metrics, resource_count, _copy_resource_header),
            _Level(lambda rm: rm.scope_metrics, scope_count, _copy_scope_header),
            _Level(lambda sm: sm.metrics, _metric_points, _copy_metric_header, leaf=metric_leaf),
        ]
    res_field, scope_field, item_field = {
        Signal.TRACES: ("resource_spans", "scope_spans", "spans"),
        Signal.LOGS: ("resource_logs", "scope_logs", "log_records"),
    }[signal]

    def scope_len(scope):
        return len(getattr(scope, item_field))

    def resource_count(res):
        return sum(len(getattr(s, item_field)) for s in getattr(res, scope_field))

    return [
        _Level(lambda req: getattr(req, res_field), resource_count, _copy_resource_header),
        _Level(lambda res: getattr(res, scope_field), scope_len, _copy_scope_header, leaf=_scope_items(item_field)),
    ]


class Splitter:
    """Takes batches of at most N items off the front of a list of pending requests."""

    def __init__(self, signal: Signal):
        self.new = REQUEST_TYPES[signal]
        self.levels = _levels(signal)
        self.resources = self.levels[0].children
        self.resource_count = self.levels[0].count

    def take(self, pending: collections.deque, total: int, size: int) -> tuple[Message, int]:
        """Remove up to ``size`` items (0: all) from ``pending`` ((request, count) pairs holding
        ``total`` items) and return them as one request with its item count."""
        if size <= 0 or total <= size:
            out, _ = pending.popleft()
            while pending:
                out.MergeFrom(pending.popleft()[0])
            return out, total
        out: Message | None = None
        room = size
        while room > 0 and pending:
            req, n = pending[0]
            if n < room or (n == room and self._no_trailing_empty(req)):
                pending.popleft()
                if out is None:
                    out = req
                else:
                    out.MergeFrom(req)
                room -= n
                continue
            if out is None and room > n - room:
                # The request is mostly head: send it trimmed, keep a copy of the smaller tail.
                tail = self.new()
                _tail_out(req, tail, self.levels, 0, room)
                pending[0] = (tail, n - room)
                out = req
            else:
                if out is None:
                    out = self.new()
                _head_into(req, out, self.levels, 0, room)
                pending[0] = (req, n - room)
            room = 0
        return out, size - room

    def _no_trailing_empty(self, req: Message) -> bool:
        """Upstream stops at the exact item count, leaving resources without items after it behind."""
        resources = self.resources(req)
        return not resources or self.resource_count(resources[-1]) > 0


def split(data: Message, size: int) -> list[Message]:
    """Cut one request into requests of at most ``size`` items, as the batcher would send them."""
    signal = next(s for s, t in REQUEST_TYPES.items() if isinstance(data, t))
    splitter = Splitter(signal)
    total = COUNTERS[signal](data)
    pending = collections.deque([(data, total)])
    out = []
    while total > 0:
        batch, n = splitter.take(pending, total, size)
        total -= n
        out.append(batch)
    return out


# --------------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------------

_SIZE, _TIMEOUT = "size", "timeout"


class _Shard:
    """One pending batch with its sender task (one per distinct metadata value set)."""

    def __init__(self, proc: "BatchProcessor", metadata: dict[str, list[str]] | None):
        self.proc = proc
        self.metadata = metadata
        self.pending: collections.deque[tuple[Message, int]] = collections.deque()
        self.count = 0
        self.ready: collections.deque[tuple[Message, int, str]] = collections.deque()
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
    def add(self, data: Message, n: int) -> None:
        proc = self.proc
        was_empty = self.count == 0
        self.pending.append((data, n))
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
        batch, n = self.proc.splitter.take(self.pending, self.count, self.proc.send_batch_max_size)
        self.count -= n
        if n:
            self.ready.append((batch, n, trigger))

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
                batch, n, trigger = self.ready.popleft()
                if not self.ready:
                    self.space.set()
                await proc.export(batch, n, trigger)
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

    # -- data path -------------------------------------------------------------------------------

    async def consume(self, data: Message) -> None:
        n = self.count_items(data)
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
        shard.add(data, n)

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

    async def export(self, batch: Message, n: int, trigger: str) -> None:
        tel = self.settings.telemetry
        try:
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


factory = Factory(
    type="batch",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: BatchProcessor(settings, config, next),
    signals=frozenset(Signal),
    stability="beta",
)
