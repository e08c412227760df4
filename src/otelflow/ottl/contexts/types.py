"""Go values the context paths return beyond the value model of ``otelflow.ottl.values``.

Upstream's getters hand out some pdata types that OTTL treats as opaque values: the ids
(``pcommon.TraceID``/``pcommon.SpanID``, arrays compared by value), ``ptrace.Status``, message
slices such as ``ptrace.SpanEventSlice`` and the exponential histogram buckets. Here each is a small
wrapper with a ``go_type`` class attribute (its ``%T``), so setters can check the exact Go type
(``ctxutil.ExpectType``) and error messages can name it. Everything but the ids compares by
identity of the wrapped protobuf object, as Go's ``==`` on these structs compares their pointers.

``go_type_name(v)`` extends ``values.type_name`` with these types and the data point messages.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.metrics.v1 import metrics_pb2 as _m

from ..values import type_name as _base_type_name

__all__ = [
    "TraceID", "SpanID", "ProfileID", "Opaque", "Status", "SpanEventSlice", "SpanLinkSlice", "ExemplarSlice",
    "NumberDataPointSlice", "HistogramDataPointSlice", "ExponentialHistogramDataPointSlice",
    "SummaryDataPointSlice", "SummaryDataPointValueAtQuantileSlice",
    "ExponentialHistogramDataPointBuckets", "go_type_name", "DATAPOINT_GO_TYPES",
]


class _ID:
    """A fixed-size id; ``raw`` always holds exactly ``size`` bytes (all zero for an unset id)."""

    __slots__ = ("raw",)
    size = 0
    go_type = ""

    def __init__(self, raw: bytes = b""):
        raw = bytes(raw)
        if not raw:
            raw = bytes(self.size)
        elif len(raw) != self.size:
            raise ValueError(f"{self.go_type} needs {self.size} bytes, got {len(raw)}")
        self.raw = raw

    @classmethod
    def from_field(cls, b: bytes):
        """The id held by a protobuf bytes field (pdata reads an empty field as the zero id)."""
        obj = cls.__new__(cls)
        obj.raw = b if len(b) == cls.size else bytes(cls.size)
        return obj

    def to_field(self) -> bytes:
        """What the protobuf field stores: nothing for the zero id (pdata does not emit it)."""
        return b"" if self.is_empty() else self.raw

    def is_empty(self) -> bool:
        return not any(self.raw)

    def hex(self) -> str:
        return self.raw.hex()

    def __bytes__(self) -> bytes:
        return self.raw

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.raw == self.raw  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((self.go_type, self.raw))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.raw.hex()})"


class TraceID(_ID):
    __slots__ = ()
    size = 16
    go_type = "pcommon.TraceID"


class SpanID(_ID):
    __slots__ = ()
    size = 8
    go_type = "pcommon.SpanID"


class ProfileID(_ID):
    __slots__ = ()
    size = 16
    go_type = "pprofile.ProfileID"


class Opaque:
    """A pdata struct or slice handed out by a getter; ``obj`` is the live protobuf object
    (a message, or a repeated field for the slices)."""

    __slots__ = ("obj",)
    go_type = ""

    def __init__(self, obj: Any):
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.obj is self.obj  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return id(self.obj)

    def __len__(self) -> int:
        return len(self.obj)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.obj!r})"


def _opaque(name: str, go_type: str) -> type:
    return type(name, (Opaque,), {"__slots__": (), "go_type": go_type})


Status = _opaque("Status", "ptrace.Status")
SpanEventSlice = _opaque("SpanEventSlice", "ptrace.SpanEventSlice")
SpanLinkSlice = _opaque("SpanLinkSlice", "ptrace.SpanLinkSlice")
ExemplarSlice = _opaque("ExemplarSlice", "pmetric.ExemplarSlice")
NumberDataPointSlice = _opaque("NumberDataPointSlice", "pmetric.NumberDataPointSlice")
HistogramDataPointSlice = _opaque("HistogramDataPointSlice", "pmetric.HistogramDataPointSlice")
ExponentialHistogramDataPointSlice = _opaque(
    "ExponentialHistogramDataPointSlice", "pmetric.ExponentialHistogramDataPointSlice")
SummaryDataPointSlice = _opaque("SummaryDataPointSlice", "pmetric.SummaryDataPointSlice")
SummaryDataPointValueAtQuantileSlice = _opaque(
    "SummaryDataPointValueAtQuantileSlice", "pmetric.SummaryDataPointValueAtQuantileSlice")
ExponentialHistogramDataPointBuckets = _opaque(
    "ExponentialHistogramDataPointBuckets", "pmetric.ExponentialHistogramDataPointBuckets")

DATAPOINT_GO_TYPES = {
    _m.NumberDataPoint: "pmetric.NumberDataPoint",
    _m.HistogramDataPoint: "pmetric.HistogramDataPoint",
    _m.ExponentialHistogramDataPoint: "pmetric.ExponentialHistogramDataPoint",
    _m.SummaryDataPoint: "pmetric.SummaryDataPoint",
}


def go_type_name(v: Any) -> str:
    """Go's ``%T`` of a value as upstream would hold it."""
    gt = getattr(type(v), "go_type", None)
    if gt:
        return gt
    dp = DATAPOINT_GO_TYPES.get(type(v))
    if dp:
        return dp
    return _base_type_name(v)
