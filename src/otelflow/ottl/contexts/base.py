"""What a path resolves against: the transform context of one item, and the shape of paths.

One ``TransformContext`` class serves every OTTL context: the processor fills the slots its context
needs (a span context has resource, scope and span; a datapoint context has metric and datapoint)
and reuses the object from item to item, so running a statement allocates nothing per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol


class TransformContext:
    __slots__ = (
        "resource",         # Resource message
        "resource_holder",  # ResourceSpans / ResourceMetrics / ResourceLogs (schema_url)
        "scope",            # InstrumentationScope message
        "scope_holder",     # ScopeSpans / ScopeMetrics / ScopeLogs (schema_url)
        "span",             # Span
        "event",            # Span.Event (spanevent context)
        "event_index",      # index of the event in its span (spanevent's event_index path)
        "metric",           # Metric
        "metrics",          # the repeated Metric field the metric lives in (metric functions add to it)
        "datapoint",        # Number/Histogram/ExponentialHistogram/Summary data point
        "exemplar",         # Exemplar (exemplar context; its datapoint and metric fill those slots)
        "log",              # LogRecord
        "cache",            # dict: the context's `cache` map (a PMap, made fresh per item by the processor)
        "extra",            # anything a component needs to pass to its own functions
        "locals",           # lambda arguments bound while a lambda body runs (name -> value)
    )

    def __init__(self, **slots: Any):
        for name in self.__slots__:
            setattr(self, name, slots.get(name))


@dataclass(frozen=True)
class Key:
    """One ``[...]`` index of a path or converter result: a literal string or int, or an
    expression evaluated per item (``getter(ctx)`` must then give a string or an int)."""

    string: str | None = None
    int: int | None = None
    getter: Callable[[TransformContext], Any] | None = None


@dataclass(frozen=True)
class Segment:
    """One dotted part of a path, with its keys: ``attributes["a"][0]`` is Segment("attributes", [..])."""

    name: str
    keys: tuple[Key, ...] = ()


class Path(Protocol):
    """A resolved path: read and write the value it names in a TransformContext."""

    text: str

    def get(self, ctx: TransformContext) -> Any: ...

    def set(self, ctx: TransformContext, value: Any) -> None: ...
