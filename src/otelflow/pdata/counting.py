"""Counting a metrics request's data points, natively when the traffic's shape makes that cheaper.

Upstream counts metrics in data points, and a metrics request is counted by the receiver, the memory
limiter, the batch processor and the exporter. On the parsed message that is a walk over every
metric in Python: a wrapper object, ``WhichOneof`` and ``len`` per metric, about 0.7-1 µs a metric
(~100 µs for telemetrygen's request of 100 scopes holding one one-point gauge each). Serialising the
request (C) and counting the bytes (``native/_counts.c``) costs about 3 ns a byte instead: ~12 µs for
that request, but 10 ms for 3 MB of histograms that the walk counts in 30 µs. Which one is cheaper
depends on the bytes per metric, which is not known before either has run, so the choice follows
the traffic: the walk also notes whether the request was "thin" (no more points than scopes plus
metrics, and no histogram or summary: a few dozen bytes per metric), and after ``_ENTER``
consecutive thin requests counting goes native; one request in ``_PROBE`` then has its first
``_SAMPLE`` scopes and metrics looked at (a bounded cost whatever the request's size: the exporter
counts whole batches) to notice when the traffic thickens. A wrong guess costs at most ``_PROBE``
serialisations. Spans and log records sit in lists one level lower, where ``len`` per scope is
already cheap: those are counted in Python.

Every native count equals the walk's (``tests/test_native_metrics.py`` fuzzes the two against each
other on arbitrary encodings).
"""

from __future__ import annotations

from google.protobuf.message import Message

try:
    from otelflow.native import _counts
except ImportError:  # the extension is optional: the walk gives the same answers
    _counts = None

_ENTER = 8  # consecutive thin requests before counting natively
_PROBE = 16  # while native, one request in this many is sampled to check the shape still holds
_SAMPLE = 64  # scopes and metrics looked at in a sample
_THIN_KINDS = frozenset(("gauge", "sum"))


def count_data_points_walk(req: Message) -> int:
    """The reference: the data points of every metric, read from the parsed message."""
    return _walk(req)[0]


def _looks_thin(req: Message) -> bool:
    """Whether the first ``_SAMPLE`` scopes and metrics are thin (see ``_walk``)."""
    points = nodes = 0
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            nodes += 1
            for metric in sm.metrics:
                nodes += 1
                kind = metric.WhichOneof("data")
                if kind is not None:
                    if kind not in _THIN_KINDS:
                        return False
                    points += len(getattr(metric, kind).data_points)
                if nodes >= _SAMPLE:
                    break
            if nodes >= _SAMPLE:
                return points <= nodes
    return points <= nodes


def _walk(req: Message) -> tuple[int, bool]:
    """(data points, whether the request is thin)."""
    points = nodes = 0
    thin = True
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            nodes += 1
            for metric in sm.metrics:
                nodes += 1
                kind = metric.WhichOneof("data")
                if kind is not None:
                    points += len(getattr(metric, kind).data_points)
                    if kind not in _THIN_KINDS:
                        thin = False
    return points, thin and points <= nodes


class _Chooser:
    """Native or walk, from the shape of the recent traffic (see the module docstring)."""

    __slots__ = ("thin_run", "native", "calls")

    def __init__(self) -> None:
        self.thin_run = 0
        self.native = False
        self.calls = 0

    def count(self, req: Message) -> int:
        if self.native:
            self.calls += 1
            if self.calls % _PROBE or _looks_thin(req):
                try:
                    n = _counts.items(_counts.METRICS, req.SerializeToString())
                except Exception:  # noqa: BLE001 - e.g. nesting past the encoder's limit: the walk still counts
                    n = -1
                if n >= 0:
                    return n
        points, thin = _walk(req)
        if thin:
            self.thin_run += 1
            if self.thin_run >= _ENTER and _counts is not None:
                self.native = True
        else:
            self.thin_run = 0
            self.native = False
        return points


_chooser = _Chooser()


def count_data_points(req: Message) -> int:
    """Data points in an ExportMetricsServiceRequest (upstream counts metrics in points)."""
    return _chooser.count(req)


def data_points_encoded(body: bytes) -> int | None:
    """Data points in an encoded ExportMetricsServiceRequest that parses, counted on the bytes (a few
    ns a byte); None when the native helper is missing or does not walk them (count the message)."""
    if _counts is None:
        return None
    n = _counts.items(_counts.METRICS, body)
    return n if n >= 0 else None
