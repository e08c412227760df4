"""Cutting batches of at most N items off the front of pending requests, as upstream's split does.

Splitting takes the first N items in resource/scope order: whole resources and scopes while they
fit, then part of the scope (for metrics: part of the metric's data points) that straddles the
boundary, under a copy of its resource and scope headers. Whole requests are joined by copying their
resources (C deep copies); lists are only walked where a boundary falls inside a request.
"""

from __future__ import annotations

import collections
from typing import Callable, Sequence

from google.protobuf.message import Message

from otelflow.core.component import Signal
from otelflow.pdata import COUNTERS, REQUEST_TYPES

# A request is a list of resources, each a list of scopes; for traces and logs a scope's list holds
# the items, for metrics a scope holds metrics and each metric's data points are the items.


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
                self.join(out, pending.popleft()[0])
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
                    self.join(out, req)
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

    def join(self, out: Message, req: Message) -> None:
        """Append ``req``'s resources to ``out``, as ``MergeFrom`` would. Copying resource by resource
        (upb deep-copies a message in C) takes about half the time of ``MergeFrom``, which serialises
        the request and parses it back: 27 against 68 µs for a request of 100 log records."""
        dst = self.resources(out)
        for res in self.resources(req):
            dst.add().CopyFrom(res)

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
