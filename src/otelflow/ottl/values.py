"""The values OTTL expressions pass around, and how they map onto OTLP's AnyValue.

Upstream's getters return Go values: string, int64, float64, bool, []byte, nil, pcommon.Map,
pcommon.Slice, map[string]any, []any, time.Time and time.Duration. Here they are:

=====================  ==========================================================
Go                     Python
=====================  ==========================================================
string/int64/float64   ``str`` / ``int`` / ``float``
bool / nil / []byte    ``bool`` / ``None`` / ``bytes``
pcommon.Map            ``PMap``: a live view over a repeated ``KeyValue`` field
pcommon.Slice          ``PSlice``: a live view over a repeated ``AnyValue`` field
map[string]any, []any  ``dict`` / ``list`` (what literals and converters build)
time.Time              ``GoTime`` (ns since the epoch, plus a zone for formatting)
time.Duration          ``Duration`` (ns)
=====================  ==========================================================

PMap and PSlice never copy the protobuf message: reads and writes go straight to the request.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Iterator

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

__all__ = [
    "PMap", "PSlice", "GoSlice", "GoTime", "Duration", "get_value", "set_value", "to_raw", "type_name",
    "value_type_name", "new_pmap", "new_pslice", "is_int",
]


def is_int(v: Any) -> bool:
    """An int64 in Go terms: Python's bool is an int, OTTL's is not."""
    return type(v) is int


class PMap:
    """pcommon.Map: ordered keys, the first occurrence of a key wins on read (as pdata's Get)."""

    __slots__ = ("kvs",)

    def __init__(self, kvs):
        self.kvs = kvs  # RepeatedCompositeFieldContainer[KeyValue]

    def __len__(self) -> int:
        return len(self.kvs)

    def __repr__(self) -> str:
        return f"PMap({to_raw(self)!r})"

    def get(self, key: str) -> AnyValue | None:
        for kv in self.kvs:
            if kv.key == key:
                return kv.value
        return None

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def keys(self) -> list[str]:
        return [kv.key for kv in self.kvs]

    def items(self) -> Iterator[tuple[str, AnyValue]]:
        for kv in self.kvs:
            yield kv.key, kv.value

    def put_empty(self, key: str) -> AnyValue:
        """The value slot for ``key``, cleared, created at the end when missing (pdata PutEmpty)."""
        for kv in self.kvs:
            if kv.key == key:
                kv.value.Clear()
                return kv.value
        return self.kvs.add(key=key).value

    def get_or_put_empty(self, key: str) -> AnyValue:
        for kv in self.kvs:
            if kv.key == key:
                return kv.value
        return self.kvs.add(key=key).value

    def put(self, key: str, value: Any) -> None:
        set_value(self.get_or_put_empty(key), value)

    def remove(self, key: str) -> bool:
        """pdata's Remove: the last entry takes the removed entry's slot."""
        kvs = self.kvs
        for i, kv in enumerate(kvs):
            if kv.key == key:
                last = len(kvs) - 1
                if i != last:
                    kv.CopyFrom(kvs[last])
                del kvs[last]
                return True
        return False

    def remove_if(self, predicate) -> None:
        keep = [kv for kv in self.kvs if not predicate(kv.key, kv.value)]
        if len(keep) != len(self.kvs):
            snapshot = [KeyValue(key=kv.key, value=kv.value) for kv in keep]
            del self.kvs[:]
            self.kvs.extend(snapshot)

    def clear(self) -> None:
        del self.kvs[:]

    def copy_from(self, other: "PMap | dict") -> None:
        """Replace the contents (pdata CopyTo / FromRaw); safe when ``other`` aliases this map."""
        if isinstance(other, PMap):
            snapshot = [KeyValue(key=kv.key, value=kv.value) for kv in other.kvs]
            del self.kvs[:]
            self.kvs.extend(snapshot)
        else:
            fresh = [(k, v) for k, v in other.items()]
            del self.kvs[:]
            for k, v in fresh:
                self.put(k, v)

    def as_raw(self) -> dict:
        return _map_raw(self.kvs)


def _map_raw(kvs) -> dict:
    out: dict = {}
    for kv in kvs:
        if kv.key not in out:
            out[kv.key] = to_raw(kv.value)
    return out


class PSlice:
    """pcommon.Slice over a repeated AnyValue field."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values  # RepeatedCompositeFieldContainer[AnyValue]

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"PSlice({to_raw(self)!r})"

    def at(self, i: int) -> AnyValue:
        return self.values[i]

    def append(self, value: Any) -> None:
        set_value(self.values.add(), value)

    def as_raw(self) -> list:
        return [to_raw(v) for v in self.values]

    def copy_from(self, other: "PSlice | list") -> None:
        if isinstance(other, PSlice):
            snapshot = [AnyValue.FromString(v.SerializeToString()) for v in other.values]
            del self.values[:]
            self.values.extend(snapshot)
        else:
            fresh = list(other)
            del self.values[:]
            for v in fresh:
                self.append(v)


def new_pmap(raw: dict | None = None) -> PMap:
    """A map not attached to any request (pcommon.NewMap)."""
    m = PMap(KeyValueList().values)
    if raw:
        for k, v in raw.items():
            m.put(k, v)
    return m


def new_pslice(raw: list | None = None) -> PSlice:
    s = PSlice(ArrayValue().values)
    for v in raw or ():
        s.append(v)
    return s


class GoSlice(list):
    """A typed Go slice a path returns ([]uint64 bucket counts, []float64 bounds): a list whose Go
    type decides what ``set`` accepts (SetValue takes []float64, not []uint64)."""

    __slots__ = ("go_type",)

    def __init__(self, items, go_type: str):
        super().__init__(items)
        self.go_type = go_type


_SETTABLE_SLICES = ("[]string", "[]bool", "[]int64", "[]float64", "[][]uint8", "[]interface {}")


class Duration:
    """time.Duration: int64 nanoseconds."""

    __slots__ = ("ns",)

    def __init__(self, ns: int):
        self.ns = int(ns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(("d", self.ns))

    def __repr__(self) -> str:
        return f"Duration({self.ns})"


class GoTime:
    """time.Time: nanoseconds since the Unix epoch and the zone it is shown in (UTC by default)."""

    __slots__ = ("ns", "tz")

    def __init__(self, ns: int, tz: _dt.tzinfo | None = None):
        self.ns = int(ns)
        self.tz = tz or _dt.timezone.utc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(("t", self.ns))

    def __repr__(self) -> str:
        return f"GoTime({self.ns})"

    def datetime(self) -> _dt.datetime:
        """As a datetime in its zone (microsecond precision; ``ns % 1000`` is lost)."""
        secs, rem = divmod(self.ns, 1_000_000_000)
        base = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(seconds=secs, microseconds=rem // 1000)
        return base.astimezone(self.tz)


def get_value(av: AnyValue) -> Any:
    """ottlcommon.GetValue: the Go value held by an AnyValue (maps and slices as live views)."""
    kind = av.WhichOneof("value")
    if kind == "string_value":
        return av.string_value
    if kind == "int_value":
        return av.int_value
    if kind == "double_value":
        return av.double_value
    if kind == "bool_value":
        return av.bool_value
    if kind == "kvlist_value":
        return PMap(av.kvlist_value.values)
    if kind == "array_value":
        return PSlice(av.array_value.values)
    if kind == "bytes_value":
        return av.bytes_value
    return None


def to_raw(v: Any) -> Any:
    """AsRaw(): plain Python data, recursively (for comparisons, JSON and hashing)."""
    if isinstance(v, AnyValue):
        v = get_value(v)
    if isinstance(v, PMap):
        return _map_raw(v.kvs)
    if isinstance(v, PSlice):
        return [to_raw(x) for x in v.values]
    if isinstance(v, dict):
        return {k: to_raw(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_raw(x) for x in v]
    return v


def set_value(av: AnyValue, v: Any) -> None:
    """ctxutil.SetValue: write ``v`` into ``av``; nil empties it."""
    if v is None:
        av.Clear()
    elif isinstance(v, str):
        av.string_value = v
    elif isinstance(v, bool):
        av.bool_value = v
    elif isinstance(v, int):
        av.int_value = v
    elif isinstance(v, float):
        av.double_value = v
    elif isinstance(v, (bytes, bytearray)):
        av.bytes_value = bytes(v)
    elif isinstance(v, PMap):
        if av.WhichOneof("value") == "kvlist_value" and av.kvlist_value.values is v.kvs:
            return
        snapshot = [KeyValue(key=kv.key, value=kv.value) for kv in v.kvs]
        av.kvlist_value.Clear()
        av.kvlist_value.values.extend(snapshot)
    elif isinstance(v, PSlice):
        snapshot = [AnyValue.FromString(x.SerializeToString()) for x in v.values]
        av.array_value.Clear()
        av.array_value.values.extend(snapshot)
    elif isinstance(v, dict):
        fresh = list(v.items())
        av.kvlist_value.Clear()
        m = PMap(av.kvlist_value.values)
        for k, x in fresh:
            m.put(str(k), x)
    elif isinstance(v, (list, tuple)):
        if isinstance(v, GoSlice) and v.go_type not in _SETTABLE_SLICES:
            raise TypeError(f"unsupported type {v.go_type} for set operation; current value type is "
                            f"{value_type_name(av)}")
        fresh = list(v)
        av.array_value.Clear()
        s = PSlice(av.array_value.values)
        for x in fresh:
            s.append(x)
    elif isinstance(v, AnyValue):
        if v is not av:
            av.CopyFrom(v)
    else:
        raise TypeError(f"unsupported type {type_name(v)} for set operation; current value type is "
                        f"{value_type_name(av)}")


_VALUE_TYPES = {
    None: "Empty", "string_value": "Str", "int_value": "Int", "double_value": "Double",
    "bool_value": "Bool", "kvlist_value": "Map", "array_value": "Slice", "bytes_value": "Bytes",
}


def value_type_name(av: AnyValue) -> str:
    """pcommon.ValueType's String(): Str, Int, Map, ..."""
    return _VALUE_TYPES[av.WhichOneof("value")]


def type_name(v: Any) -> str:
    """Go's %T of the value a getter would return, for error messages."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (bytes, bytearray)):
        return "[]uint8"
    if isinstance(v, PMap):
        return "pcommon.Map"
    if isinstance(v, PSlice):
        return "pcommon.Slice"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, GoSlice):
        return v.go_type
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, GoTime):
        return "time.Time"
    if isinstance(v, Duration):
        return "time.Duration"
    if isinstance(v, AnyValue):
        return "pcommon.Value"
    return getattr(v, "go_type", None) or type(v).__name__
