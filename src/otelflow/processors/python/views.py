"""The views a plugin walks: resources, scopes, spans (events, links), metrics (data points) and
log records, each over its protobuf message, read and written in place."""

from __future__ import annotations

import enum
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .values import Attributes, Value, set_value, to_python

if TYPE_CHECKING:
    from .batch import Batch

    T = TypeVar("T")

    class _Field(Generic[T]):
        """What type checkers see: a read-only attribute of type T."""

        def __get__(self, view: Any, owner: Any = None) -> T: ...


def _field(path: str, type_: type[T]) -> _Field[T]:
    """A read-only field of the view's message (``path`` may be dotted: ``scope.name``). A property
    over ``operator.attrgetter`` reads in C, faster than a hand-written property; fields that convert
    or can be set stay hand-written (a generated setter would be slower)."""
    return property(attrgetter("_pb." + path))  # type: ignore[return-value]


class StatusCode(enum.IntEnum):
    UNSET = 0
    OK = 1
    ERROR = 2


class SpanKind(enum.IntEnum):
    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class _View:
    """One message of the request: the message, its batch, and where it sits (for ``drop``)."""

    __slots__ = ("_pb", "_b", "_c", "_i")

    def __init__(self, pb: Any, batch: Batch, container: Any, index: int):
        self._pb, self._b, self._c, self._i = pb, batch, container, index

    @property
    def proto(self) -> Any:
        """The protobuf message behind this view (counted as a change: it may be edited)."""
        self._b.touch()
        return self._pb

    def drop(self) -> None:
        """Remove this item from the request when the plugin's method returns."""
        self._b._drop(self._c, self._i)


class _Attributed(_View):
    """A message with its own ``attributes`` field."""

    __slots__ = ()

    @property
    def attributes(self) -> Attributes:
        return Attributes(self._pb.attributes, self._b.touch)


class _Named(_View):
    """A message with a ``name`` the plugin may change (span, span event, metric)."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return self._pb.name

    @name.setter
    def name(self, value: str) -> None:
        self._b.touch()
        self._pb.name = value


class _Ids(_View):
    """A message that names a span by trace and span ID (span, link, log record)."""

    __slots__ = ()

    @property
    def trace_id(self) -> str:
        """Hex, as in W3C traceparent."""
        return self._pb.trace_id.hex()

    @property
    def span_id(self) -> str:
        return self._pb.span_id.hex()


class Resource(_View):
    """A resource (``ResourceSpans``/``ResourceMetrics``/``ResourceLogs``) and its scopes."""

    __slots__ = ()

    schema_url = _field("schema_url", str)

    @property
    def attributes(self) -> Attributes:
        return Attributes(self._pb.resource.attributes, self._b.touch)

    @property
    def scopes(self) -> list["Scope"]:
        scopes = getattr(self._pb, self._b._scopes_name)
        return [Scope(s, self._b, scopes, i, self) for i, s in enumerate(scopes)]


class Scope(_View):
    """An instrumentation scope and its items: ``spans``, ``metrics`` or ``log_records``."""

    __slots__ = ("resource",)

    def __init__(self, pb: Any, batch: Batch, container: Any, index: int, resource: Resource):
        super().__init__(pb, batch, container, index)
        self.resource = resource

    name = _field("scope.name", str)
    version = _field("scope.version", str)

    @property
    def attributes(self) -> Attributes:
        return Attributes(self._pb.scope.attributes, self._b.touch)

    @property
    def spans(self) -> list["Span"]:
        spans = self._pb.spans
        return [Span(s, self._b, spans, i, self) for i, s in enumerate(spans)]

    @property
    def metrics(self) -> list["Metric"]:
        metrics = self._pb.metrics
        return [Metric(m, self._b, metrics, i, self) for i, m in enumerate(metrics)]

    @property
    def log_records(self) -> list["LogRecord"]:
        records = self._pb.log_records
        return [LogRecord(r, self._b, records, i, self) for i, r in enumerate(records)]


class _Item(_Attributed):
    """A span, metric or log record: knows its scope (and through it, its resource)."""

    __slots__ = ("scope",)

    def __init__(self, pb: Any, batch: Batch, container: Any, index: int, scope: Scope):
        super().__init__(pb, batch, container, index)
        self.scope = scope

    @property
    def resource(self) -> Resource:
        return self.scope.resource


class Span(_Named, _Ids, _Item):
    __slots__ = ()

    start_time_unix_nano = _field("start_time_unix_nano", int)
    end_time_unix_nano = _field("end_time_unix_nano", int)

    @property
    def kind(self) -> SpanKind:
        return SpanKind(self._pb.kind)

    @property
    def parent_span_id(self) -> str:
        return self._pb.parent_span_id.hex()

    @property
    def status_code(self) -> StatusCode:
        return StatusCode(self._pb.status.code)

    @status_code.setter
    def status_code(self, value: int) -> None:
        self._b.touch()
        self._pb.status.code = int(value)

    @property
    def status_message(self) -> str:
        return self._pb.status.message

    @status_message.setter
    def status_message(self, value: str) -> None:
        self._b.touch()
        self._pb.status.message = value

    @property
    def events(self) -> list["SpanEvent"]:
        events = self._pb.events
        return [SpanEvent(e, self._b, events, i) for i, e in enumerate(events)]

    @property
    def links(self) -> list["SpanLink"]:
        links = self._pb.links
        return [SpanLink(k, self._b, links, i) for i, k in enumerate(links)]


class SpanEvent(_Named, _Attributed):
    __slots__ = ()

    time_unix_nano = _field("time_unix_nano", int)


class SpanLink(_Ids, _Attributed):
    __slots__ = ()


_POINT_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


class Metric(_Named, _Item):
    __slots__ = ()

    description = _field("description", str)
    unit = _field("unit", str)

    @property
    def attributes(self) -> Attributes:
        """The metric's metadata attributes (data point attributes are on each point)."""
        return Attributes(self._pb.metadata, self._b.touch)

    @property
    def type(self) -> str:
        """``gauge``, ``sum``, ``histogram``, ``exponential_histogram``, ``summary`` (or ``""``)."""
        return self._pb.WhichOneof("data") or ""

    @property
    def data_points(self) -> list["DataPoint"]:
        kind = self._pb.WhichOneof("data")
        if kind not in _POINT_KINDS:
            return []
        points = getattr(self._pb, kind).data_points
        return [DataPoint(p, self._b, points, i, self) for i, p in enumerate(points)]


class DataPoint(_Attributed):
    """A data point of any metric type; ``value`` is the number of gauge and sum points."""

    __slots__ = ("metric",)

    def __init__(self, pb: Any, batch: Batch, container: Any, index: int, metric: Metric):
        super().__init__(pb, batch, container, index)
        self.metric = metric

    def drop(self) -> None:
        """Remove this point when the method returns; a metric left with none goes too."""
        entry = self._b._point_drops.get(id(self._c))
        if entry is None:
            self._b._point_drops[id(self._c)] = (self._c, {self._i}, self.metric)
        else:
            entry[1].add(self._i)

    time_unix_nano = _field("time_unix_nano", int)
    start_time_unix_nano = _field("start_time_unix_nano", int)

    @property
    def value(self) -> int | float | None:
        """A gauge or sum point's value (int or float); None for histograms and summaries."""
        pb = self._pb
        which = pb.WhichOneof("value") if "value" in type(pb).DESCRIPTOR.oneofs_by_name else None
        return getattr(pb, which) if which else None

    @value.setter
    def value(self, number: int | float) -> None:
        self._b.touch()
        if isinstance(number, int) and not isinstance(number, bool):
            self._pb.as_int = number
        else:
            self._pb.as_double = float(number)

    @property
    def count(self) -> int | None:
        """Histogram and summary points: the count of observations."""
        return self._pb.count if hasattr(self._pb, "count") else None

    @property
    def sum(self) -> float | None:
        return self._pb.sum if hasattr(self._pb, "sum") else None


class LogRecord(_Ids, _Item):
    __slots__ = ()

    event_name = _field("event_name", str)
    time_unix_nano = _field("time_unix_nano", int)
    observed_time_unix_nano = _field("observed_time_unix_nano", int)

    @property
    def body(self) -> Value:
        return to_python(self._pb.body)

    @body.setter
    def body(self, value: Value) -> None:
        self._b.touch()
        set_value(self._pb.body, value)

    @property
    def severity_number(self) -> int:
        return self._pb.severity_number

    @severity_number.setter
    def severity_number(self, value: int) -> None:
        self._b.touch()
        self._pb.severity_number = int(value)

    @property
    def severity_text(self) -> str:
        return self._pb.severity_text

    @severity_text.setter
    def severity_text(self, value: str) -> None:
        self._b.touch()
        self._pb.severity_text = value
