"""OTLP ``AnyValue`` as plain Python values, and attributes as a mapping over ``repeated KeyValue``.

Values are converted one at a time, when read or written: the request itself stays the protobuf
message it arrived as, so a plugin that touches two attributes of a span pays for two, not for all.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, MutableMapping, Union

Value = Union[str, bool, int, float, bytes, None, "list[Value]", "dict[str, Value]"]

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value", "bytes_value"})


def to_python(value: Any) -> Value:
    """An ``AnyValue`` as str, bool, int, float, bytes, list, dict or None (when empty)."""
    kind = value.WhichOneof("value")
    if kind in _SCALARS:
        return getattr(value, kind)
    if kind == "array_value":
        return [to_python(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: to_python(kv.value) for kv in value.kvlist_value.values}
    return None


def set_value(target: Any, value: Value) -> None:
    """Write a Python value into an ``AnyValue`` (bool before int: ``True`` is an int in Python)."""
    if value is None:
        target.Clear()
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise OverflowError(f"{value} does not fit an OTLP int (64 bits)")
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        target.bytes_value = bytes(value)
    elif isinstance(value, Mapping):
        kvlist = target.kvlist_value
        kvlist.SetInParent()
        del kvlist.values[:]
        for k, v in value.items():
            set_value(kvlist.values.add(key=str(k)).value, v)
    elif isinstance(value, (list, tuple)):
        array = target.array_value
        array.SetInParent()
        del array.values[:]
        for v in value:
            set_value(array.values.add(), v)
    else:
        raise TypeError(f"an OTLP value is str, bool, int, float, bytes, list or dict, not {type(value).__name__}")


def _never() -> None:
    return None


class Attributes(MutableMapping[str, Value]):
    """A read/write mapping over a ``repeated KeyValue`` field, in place (no dict is built).

    Lookups scan the list, as OTLP attribute lists are short. ``keys()``, ``values()`` and
    ``items()`` return lists taken when called, so a loop over them may set or delete keys.
    ``to_dict()`` copies everything into a plain dict when one is really wanted.
    """

    __slots__ = ("_kvs", "_touch")

    def __init__(self, kvs: Any, touch: Callable[[], None] = _never):
        self._kvs = kvs
        self._touch = touch  # called before the first change (the batch keeps a copy for rollback)

    def _find(self, key: str) -> Any:
        for kv in self._kvs:
            if kv.key == key:
                return kv
        return None

    def __getitem__(self, key: str) -> Value:
        kv = self._find(key)
        if kv is None:
            raise KeyError(key)
        return to_python(kv.value)

    def get(self, key: str, default: Any = None) -> Any:
        kv = self._find(key)
        return default if kv is None else to_python(kv.value)

    def __contains__(self, key: object) -> bool:
        return self._find(key) is not None  # type: ignore[arg-type]

    def __setitem__(self, key: str, value: Value) -> None:
        self._touch()
        kv = self._find(key)
        if kv is None:
            kv = self._kvs.add(key=str(key))
        set_value(kv.value, value)

    def __delitem__(self, key: str) -> None:
        for i, kv in enumerate(self._kvs):
            if kv.key == key:
                self._touch()
                del self._kvs[i]
                return
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter([kv.key for kv in self._kvs])

    def __len__(self) -> int:
        return len(self._kvs)

    def keys(self) -> list[str]:  # type: ignore[override]
        return [kv.key for kv in self._kvs]

    def values(self) -> list[Value]:  # type: ignore[override]
        return [to_python(kv.value) for kv in self._kvs]

    def items(self) -> list[tuple[str, Value]]:  # type: ignore[override]
        out = []
        scalars = _SCALARS
        for kv in self._kvs:  # to_python inlined for scalars: this is the loop plugins run most
            value = kv.value
            kind = value.WhichOneof("value")
            out.append((kv.key, getattr(value, kind) if kind in scalars else to_python(value)))
        return out

    def clear(self) -> None:
        if len(self._kvs):
            self._touch()
            del self._kvs[:]

    def to_dict(self) -> dict[str, Value]:
        return {kv.key: to_python(kv.value) for kv in self._kvs}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Attributes):
            other = other.to_dict()
        return isinstance(other, Mapping) and self.to_dict() == dict(other)

    def __repr__(self) -> str:
        return f"Attributes({self.to_dict()!r})"
