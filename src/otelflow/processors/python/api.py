"""What a ``python`` processor plugin sees: typed views over the OTLP request, changed in place.

This module is the public API (import it as ``otelflow.processors.python.api``). A plugin is a
class built once with its ``config`` mapping and called once per request::

    from otelflow.processors.python.api import TracesBatch

    class Tagger:
        def __init__(self, config: dict):
            self.env = config.get("env", "dev")

        def process_traces(self, batch: TracesBatch) -> None:
            for span in batch.spans():
                span.attributes["deployment.environment"] = self.env
                if span.name == "healthz":
                    span.drop()

The views wrap the protobuf messages; nothing is copied into dicts. Reading a value converts just
that value; setting one writes it into the message. ``drop()`` marks an item; marked items are
removed when the method returns (so indices stay valid during the call), and scopes and resources
left empty go with them. ``.proto`` gives the underlying message for anything the views do not
cover. Views are valid only during the call that received them.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol

from .batch import Batch
from .values import Attributes, Value
from .views import (DataPoint, LogRecord, Metric, Resource, Scope, Span, SpanEvent, SpanKind, SpanLink,
                    StatusCode)

__all__ = [
    "Attributes", "Value", "StatusCode", "SpanKind", "TracesBatch", "MetricsBatch", "LogsBatch",
    "Resource", "Scope", "Span", "SpanEvent", "SpanLink", "Metric", "DataPoint", "LogRecord",
    "TracesPlugin", "MetricsPlugin", "LogsPlugin",
]


class TracesBatch(Batch):
    """An ``ExportTraceServiceRequest``: ``resources`` (→ ``scopes`` → ``spans``) or ``spans()``."""

    _scopes_name, _items_name = "scope_spans", "spans"

    def _resources_field(self) -> Any:
        return self._request.resource_spans

    @property
    def resources(self) -> list[Resource]:
        rs = self._request.resource_spans
        return [Resource(r, self, rs, i) for i, r in enumerate(rs)]

    def spans(self) -> Iterator[Span]:
        """Every span of every scope of every resource."""
        for resource in self.resources:
            for scope in resource.scopes:
                yield from scope.spans


class MetricsBatch(Batch):
    """An ``ExportMetricsServiceRequest``: ``resources`` (→ ``scopes`` → ``metrics`` →
    ``data_points``), or ``metrics()`` / ``data_points()``."""

    _scopes_name, _items_name = "scope_metrics", "metrics"

    def _resources_field(self) -> Any:
        return self._request.resource_metrics

    @property
    def resources(self) -> list[Resource]:
        rm = self._request.resource_metrics
        return [Resource(r, self, rm, i) for i, r in enumerate(rm)]

    def metrics(self) -> Iterator[Metric]:
        for resource in self.resources:
            for scope in resource.scopes:
                yield from scope.metrics

    def data_points(self) -> Iterator[DataPoint]:
        for metric in self.metrics():
            yield from metric.data_points


class LogsBatch(Batch):
    """An ``ExportLogsServiceRequest``: ``resources`` (→ ``scopes`` → ``log_records``) or
    ``log_records()``."""

    _scopes_name, _items_name = "scope_logs", "log_records"

    def _resources_field(self) -> Any:
        return self._request.resource_logs

    @property
    def resources(self) -> list[Resource]:
        rl = self._request.resource_logs
        return [Resource(r, self, rl, i) for i, r in enumerate(rl)]

    def log_records(self) -> Iterator[LogRecord]:
        for resource in self.resources:
            for scope in resource.scopes:
                yield from scope.log_records


class TracesPlugin(Protocol):
    """A class usable in traces pipelines (any of the three methods makes it usable for that signal;
    ``async def`` methods are awaited; ``shutdown()`` is optional)."""

    def __init__(self, config: dict[str, Any]) -> None: ...

    def process_traces(self, batch: TracesBatch) -> None: ...


class MetricsPlugin(Protocol):
    def __init__(self, config: dict[str, Any]) -> None: ...

    def process_metrics(self, batch: MetricsBatch) -> None: ...


class LogsPlugin(Protocol):
    def __init__(self, config: dict[str, Any]) -> None: ...

    def process_logs(self, batch: LogsBatch) -> None: ...
