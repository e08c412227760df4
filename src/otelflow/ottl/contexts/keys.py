"""Indexing maps and slices with a path's keys, and the value checks setters share (ctxutil).

Keys are compiled once (``compile_keys``) into ``CKey`` objects; at run time a key gives a map key
(``map_key``: a literal string, or an expression that must evaluate to a string) or a slice index
(``slice_index``: a literal int, or an expression that must evaluate to an int), raising
``OttlError`` with upstream's texts otherwise.

The map functions take the repeated ``KeyValue`` field of a map (``PMap.kvs``) or a ``PMap``; the
slice ones a repeated ``AnyValue`` field or a ``PSlice``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from ..errors import OttlError
from ..values import GoTime, PMap, PSlice, get_value, set_value as _values_set_value, value_type_name
from .base import Key
from .types import go_type_name

__all__ = [
    "CKey", "compile_keys", "get_map_value", "set_map_value", "get_indexable", "set_indexable",
    "get_slice_value", "set_slice_value", "set_value", "set_map", "get_map", "expect_type",
    "expect_str", "expect_int", "expect_float", "expect_bool", "expect_time", "ERR_SET_NIL",
    "set_message_slice", "set_float_slice", "set_uint_slice", "to_int64", "to_uint64",
    "to_uint32", "to_int32", "value_as_string",
]

ERR_SET_NIL = "setting a value to nil is not supported"

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1


def to_int64(u: int) -> int:
    """A uint64 field read as Go's int64 (``int64(ts)``)."""
    return u - (1 << 64) if u >= (1 << 63) else u


def to_uint64(i: int) -> int:
    return i & _M64


def to_uint32(i: int) -> int:
    return i & _M32


def to_int32(i: int) -> int:
    i &= _M32
    return i - (1 << 32) if i >= (1 << 31) else i


# ---------------------------------------------------------------------------------------------
# ctxutil.ExpectType


def expect_type(val: Any, ok: bool, go_type: str) -> None:
    if val is None:
        raise OttlError(ERR_SET_NIL)
    if not ok:
        raise OttlError(f"expects {go_type} but got {go_type_name(val)}")


def expect_str(val: Any) -> str:
    if type(val) is not str:
        expect_type(val, isinstance(val, str), "string")
    return val


def expect_int(val: Any) -> int:
    if type(val) is not int:
        expect_type(val, False, "int64")
    return val


def expect_float(val: Any) -> float:
    if type(val) is not float:
        expect_type(val, False, "float64")
    return val


def expect_bool(val: Any) -> bool:
    if type(val) is not bool:
        expect_type(val, False, "bool")
    return val


def expect_time(val: Any) -> GoTime:
    if type(val) is not GoTime:
        expect_type(val, isinstance(val, GoTime), "time.Time")
    return val


# ---------------------------------------------------------------------------------------------
# Keys


class CKey:
    """One compiled key: ``s`` (literal string), ``i`` (literal int) or ``g`` (expression getter)."""

    __slots__ = ("s", "i", "g")

    def __init__(self, key: Key):
        self.s = key.string
        self.i = key.int
        self.g = key.getter

    def _fetch(self, ctx, want: type, want_name: str, what: str):
        # ctxutil.FetchValueFromExpression, wrapped as its callers do
        g = self.g
        if g is None:
            raise OttlError(f"{what}: invalid key type")
        try:
            res = g(ctx)
        except OttlError as e:
            raise type(e)(f"{what}: {e}") from e
        if type(res) is not want:
            raise OttlError(f"{what}: could not resolve key for map/slice, expecting '{want_name}' "
                            f"but got '{go_type_name(res)}'")
        return res

    def map_key(self, ctx) -> str:
        s = self.s
        if s is not None:
            return s
        return self._fetch(ctx, str, "string", "unable to resolve a string index in map")

    def slice_index(self, ctx) -> int:
        i = self.i
        if i is not None:
            return i
        return self._fetch(ctx, int, "int64", "unable to resolve an integer index in slice")


def compile_keys(keys: Sequence[Key] | None) -> tuple[CKey, ...]:
    return tuple(CKey(k) for k in keys or ())


def _kvs(m):
    return m.kvs if isinstance(m, PMap) else m


def _map_find(kvs, key: str):
    for kv in kvs:
        if kv.key == key:
            return kv.value
    return None


# ---------------------------------------------------------------------------------------------
# Get / set through keys (ctxutil.GetMapValue, SetMapValue, getIndexableValue, SetIndexableValue)


def get_indexable(ctx, av: AnyValue, keys: Sequence[CKey]) -> Any:
    """The value under ``keys`` inside ``av`` (getIndexableValue); None when a map key is missing."""
    for k in keys:
        kind = av.WhichOneof("value")
        if kind == "kvlist_value":
            av = _map_find(av.kvlist_value.values, k.map_key(ctx))
            if av is None:
                return None
        elif kind == "array_value":
            i = k.slice_index(ctx)
            vals = av.array_value.values
            if i >= len(vals) or i < 0:
                raise OttlError(f"index {i} out of bounds")
            av = vals[i]
        else:
            raise OttlError(f"type {value_type_name(av)} does not support string indexing")
    return get_value(av)


def set_indexable(ctx, av: AnyValue, value: Any, keys: Sequence[CKey]) -> None:
    """Write ``value`` under ``keys`` inside ``av``, creating maps/slices in empty values
    (SetIndexableValue)."""
    for k in keys:
        kind = av.WhichOneof("value")
        if kind == "kvlist_value":
            name = k.map_key(ctx)
            kvs = av.kvlist_value.values
            found = _map_find(kvs, name)
            av = found if found is not None else kvs.add(key=name).value
        elif kind == "array_value":
            i = k.slice_index(ctx)
            vals = av.array_value.values
            if i >= len(vals) or i < 0:
                raise OttlError(f"index {i} out of bounds")
            av = vals[i]
        elif kind is None:
            if k.s is not None:
                av.kvlist_value.SetInParent()
                av = av.kvlist_value.values.add(key=k.s).value
            elif k.i is not None:
                av = _grow_empty_slice(av, k.i)
            else:
                try:
                    s_res, s_err = k._fetch(ctx, str, "string", "x"), None
                except OttlError as e:
                    s_res, s_err = None, e
                try:
                    i_res, i_err = k._fetch(ctx, int, "int64", "x"), None
                except OttlError as e:
                    i_res, i_err = None, e
                if i_err is None:
                    av = _grow_empty_slice(av, i_res)
                elif s_err is None:
                    av.kvlist_value.SetInParent()
                    av = av.kvlist_value.values.add(key=s_res).value
                else:
                    raise OttlError("neither a string nor an int index was given, this is an error in the OTTL")
        else:
            raise OttlError(f"type {value_type_name(av)} does not support string indexing")
    set_value(av, value)


def _grow_empty_slice(av: AnyValue, n: int) -> AnyValue:
    av.array_value.SetInParent()
    vals = av.array_value.values
    for _ in range(n):
        vals.add()
    return vals.add()


def get_map_value(ctx, m, keys: Sequence[CKey]) -> Any:
    """ctxutil.GetMapValue: ``m`` is a PMap or a repeated KeyValue field."""
    if not keys:
        raise OttlError("cannot get map value without keys")
    try:
        name = keys[0].map_key(ctx)
    except OttlError as e:
        raise type(e)(f"cannot get map value: {e}") from e
    av = _map_find(_kvs(m), name)
    if av is None:
        return None
    if len(keys) == 1:
        return get_value(av)
    return get_indexable(ctx, av, keys[1:])


def set_map_value(ctx, m, keys: Sequence[CKey], value: Any) -> None:
    """ctxutil.SetMapValue."""
    if not keys:
        raise OttlError("cannot set map value without keys")
    try:
        name = keys[0].map_key(ctx)
    except OttlError as e:
        raise type(e)(f"cannot set map value: {e}") from e
    kvs = _kvs(m)
    av = _map_find(kvs, name)
    if av is None:
        av = kvs.add(key=name).value
    set_indexable(ctx, av, value, keys[1:])


def _vals(s):
    return s.values if isinstance(s, PSlice) else s


def get_slice_value(ctx, s, keys: Sequence[CKey]) -> Any:
    """ctxutil.GetSliceValue over a PSlice or a repeated AnyValue field."""
    if not keys:
        raise OttlError("cannot get slice value without key")
    vals = _vals(s)
    i = keys[0].slice_index(ctx)
    if i < 0 or i >= len(vals):
        raise OttlError(f"index {i} out of bounds")
    return get_indexable(ctx, vals[i], keys[1:])


def set_slice_value(ctx, s, keys: Sequence[CKey], value: Any) -> None:
    """ctxutil.SetSliceValue."""
    if not keys:
        raise OttlError("cannot set slice value without key")
    vals = _vals(s)
    i = keys[0].slice_index(ctx)
    if i < 0 or i >= len(vals):
        raise OttlError(f"index {i} out of bounds")
    set_indexable(ctx, vals[i], value, keys[1:])


# ---------------------------------------------------------------------------------------------
# Whole values


def set_value(av: AnyValue, value: Any) -> None:
    """ctxutil.SetValue: nil empties the value; a type it cannot hold is an error."""
    try:
        _values_set_value(av, value)
    except TypeError:
        raise OttlError(f"unsupported type {go_type_name(value)} for set operation; current value type "
                        f"is {value_type_name(av)}") from None


def set_map(kvs, value: Any) -> None:
    """ctxutil.SetMap: replace the map (a repeated KeyValue field or PMap) with a PMap or dict;
    nil clears it."""
    target = m if isinstance((m := kvs), PMap) else PMap(kvs)
    if value is None:
        target.clear()
    elif isinstance(value, PMap):
        if value.kvs is target.kvs:
            return
        target.copy_from(value)
    elif isinstance(value, dict):
        target.copy_from(value)
    else:
        raise OttlError(f"unsupported type provided for setting a pcommon.Map: {go_type_name(value)}")


def get_map(value: Any) -> PMap:
    """ctxutil.GetMap: a PMap from nil, a PMap or a dict."""
    from ..values import new_pmap
    if value is None:
        return new_pmap()
    if isinstance(value, PMap):
        return value
    if isinstance(value, dict):
        return new_pmap(value)
    raise OttlError(f"failed to convert type {go_type_name(value)} into pcommon.Map")


def set_message_slice(dest, wrapper_type: type, value: Any) -> None:
    """ctxutil.SetPSliceValue: replace a repeated message field with a copy of another of the
    same Go type (``wrapper_type``, an ``Opaque`` subclass); nil empties it."""
    if value is None:
        del dest[:]
        return
    if type(value) is not wrapper_type:
        expect_type(value, False, wrapper_type.go_type)
    src = value.obj
    if src is dest:
        return
    snapshot = [type(m).FromString(m.SerializeToString()) for m in src]
    del dest[:]
    dest.extend(snapshot)


def set_float_slice(dest, value: Any) -> None:
    """ctxutil.SetCommonTypedSliceValues[float64] on a repeated double field."""
    if value is None:
        del dest[:]
        return
    if isinstance(value, list):
        raw = []
        for v in value:
            if type(v) is not float:
                raise OttlError(f"invalid value type provided for a slice of float64: {go_type_name(v)}")
            raw.append(v)
    elif isinstance(value, PSlice):
        raw = []
        for av in value.values:
            v = get_value(av)
            if type(v) is not float:
                raise OttlError(f"invalid value type provided for a slice of []float64: {_raw_type(av)}")
            raw.append(v)
    else:
        raise OttlError(f"invalid type provided for setting a slice of {go_type_name(value)}: float64")
    dest[:] = raw


def set_uint_slice(dest, value: Any) -> None:
    """ctxutil.SetCommonIntSliceValues[uint64] on a repeated uint64 field ([]int64 / []any of
    int64 / pcommon.Slice of ints)."""
    if value is None:
        del dest[:]
        return
    if isinstance(value, list):
        raw = []
        for v in value:
            if type(v) is not int:
                raise OttlError(f"invalid value type provided for a slice of uint64: {go_type_name(v)}, expected int64")
            raw.append(v & _M64)
    elif isinstance(value, PSlice):
        raw = []
        for av in value.values:
            if av.WhichOneof("value") != "int_value":
                raise OttlError(f"invalid value type provided for slice of uint64: {_raw_type(av)}, expected int64")
            raw.append(av.int_value & _M64)
    else:
        raise OttlError(f"cannot set a slice of {go_type_name(value)} from a value type: uint64")
    dest[:] = raw


_RAW_TYPES = {
    None: "<nil>", "string_value": "string", "int_value": "int64", "double_value": "float64",
    "bool_value": "bool", "kvlist_value": "map[string]interface {}", "array_value": "[]interface {}",
    "bytes_value": "[]uint8",
}


def _raw_type(av: AnyValue) -> str:
    """%T of ``Value.AsRaw()``."""
    return _RAW_TYPES[av.WhichOneof("value")]


def value_as_string(av: AnyValue) -> str:
    """pcommon.Value.AsString()."""
    from otelflow.pdata.govalue import value_as_string as _vas
    return _vas(av, js_nonfinite=True, empty_bytes_null=True)


Getter = Callable[[Any], Any]
