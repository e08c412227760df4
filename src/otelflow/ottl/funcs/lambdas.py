"""The converters that take lambdas (All, Any, Filter, Find, MapEach, MapKeys, Reduce, When).

Upstream keeps lambda arguments behind the alpha ``ottl.functions.enableLambda`` feature gate, so
these functions exist but a statement using them is refused until the gate is on
(``--feature-gates=+ottl.functions.enableLambda``). A map is walked in its entries' order, a slice
by index; the lambda sees a map's key or a slice's int index, and the element's value.
"""

from __future__ import annotations

from typing import Any, Iterator

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from ..errors import OttlError, OttlTypeError
from ..functions import FunctionTable, Kind as K, P
from ..getters import Constant
from ..values import PMap, PSlice, get_value, new_pmap, new_pslice, set_value, to_raw, type_name

T = FunctionTable()


def _source(value: Any) -> PMap | PSlice:
    """funcutil.GetSliceOrMapValue: a map or a slice, whatever form it comes in."""
    if isinstance(value, (PMap, PSlice)):
        return value
    if isinstance(value, AnyValue):
        kind = value.WhichOneof("value")
        if kind == "kvlist_value":
            return PMap(value.kvlist_value.values)
        if kind == "array_value":
            return PSlice(value.array_value.values)
    if isinstance(value, (list, tuple)):
        return new_pslice(list(value))
    if isinstance(value, dict):
        return new_pmap(value)
    raise OttlError(f"unsupported type provided: {type_name(value)}")


def _entries(source: PMap | PSlice) -> Iterator[tuple[Any, AnyValue]]:
    if isinstance(source, PMap):
        for kv in list(source.kvs):
            yield kv.key, kv.value
    else:
        for i, v in enumerate(list(source.values)):
            yield i, v


def _where(source: PMap | PSlice, key: Any, value: AnyValue) -> str:
    shown = to_raw(value)
    if isinstance(source, PMap):
        return f"map item ({key}, {shown})"
    return f"slice item ({key}, {shown})"


def _typed(result: Any, want: type, want_name: str) -> Any:
    if isinstance(result, AnyValue):
        result = to_raw(result)
    if want is bool and type(result) is bool or want is str and isinstance(result, str):
        return result
    raise OttlError(f"lambda expression must return a value of type {want_name}, got {type_name(result)}")


def _predicate(lam, ctx, key, value) -> bool:
    return _typed(lam.call(ctx, key, value), bool, "bool")


@T.function("All", P("source", K.GETTER), P("predicate", K.LAMBDA))
def build_all(source, predicate):
    predicate.check_arity(2)

    def run(ctx):
        src = _source(source(ctx))
        for k, v in _entries(src):
            try:
                if not _predicate(predicate, ctx, k, v):
                    return False
            except OttlError as e:
                raise OttlError(f"error while evaluating lambda function on {_where(src, k, v)}: {e}") from None
        return True
    return run


@T.function("Any", P("source", K.GETTER), P("predicate", K.LAMBDA))
def build_any(source, predicate):
    predicate.check_arity(2)

    def run(ctx):
        src = _source(source(ctx))
        for k, v in _entries(src):
            try:
                if _predicate(predicate, ctx, k, v):
                    return True
            except OttlError as e:
                raise OttlError(f"error while evaluating lambda function on {_where(src, k, v)}: {e}") from None
        return False
    return run


@T.function("Filter", P("source", K.GETTER), P("predicate", K.LAMBDA))
def build_filter(source, predicate):
    predicate.check_arity(2)

    def run(ctx):
        src = _source(source(ctx))
        out = new_pmap() if isinstance(src, PMap) else new_pslice()
        for k, v in _entries(src):
            try:
                keep = _predicate(predicate, ctx, k, v)
            except OttlError as e:
                raise OttlError(f"error while evaluating lambda function on {_where(src, k, v)}: {e}") from None
            if keep:
                if isinstance(out, PMap):
                    out.kvs.add(key=k).value.CopyFrom(v)
                else:
                    out.values.add().CopyFrom(v)
        return out
    return run


@T.function("Find", P("source", K.GETTER), P("predicate", K.LAMBDA), P("mapper", K.LAMBDA, optional=True))
def build_find(source, predicate, mapper):
    predicate.check_arity(2)
    if mapper is not None:
        mapper.check_arity(2)

    def run(ctx):
        src = _source(source(ctx))
        for k, v in _entries(src):
            try:
                match = _predicate(predicate, ctx, k, v)
            except OttlError as e:
                raise OttlError(f"error while evaluating lambda function on {_where(src, k, v)}: {e}") from None
            if match:
                if mapper is None:
                    return get_value(v)
                try:
                    result = mapper.call(ctx, k, v)
                except OttlError as e:
                    raise OttlError(f"error while evaluating mapper lambda function on item ({k}, {to_raw(v)}): {e}") from None
                return get_value(result) if isinstance(result, AnyValue) else result
        return None
    return run


def _copy_result(result: Any, dest: AnyValue, src, k, v) -> None:
    try:
        set_value(dest, result)
    except TypeError as e:
        raise OttlError(f"error while converting lambda function result on {_where(src, k, v)}: {e}") from None


@T.function("MapEach", P("source", K.GETTER), P("mapper", K.LAMBDA))
def build_map_each(source, mapper):
    mapper.check_arity(2)

    def run(ctx):
        src = _source(source(ctx))
        out = new_pmap() if isinstance(src, PMap) else new_pslice()
        for k, v in _entries(src):
            try:
                result = mapper.call(ctx, k, v)
            except OttlError as e:
                raise OttlError(f"error while evaluating lambda function on {_where(src, k, v)}: {e}") from None
            dest = out.kvs.add(key=k).value if isinstance(out, PMap) else out.values.add()
            _copy_result(result, dest, src, k, v)
        return out
    return run


@T.function("MapKeys", P("source", K.PMAP_GETTER), P("key_mapper", K.LAMBDA))
def build_map_keys(source, key_mapper):
    key_mapper.check_arity(2)

    def run(ctx):
        src = source(ctx)
        out = new_pmap()
        seen: dict[str, AnyValue] = {}
        for k, v in _entries(src):
            try:
                new_key = _typed(key_mapper.call(ctx, k, v), str, "string")
            except OttlError as e:
                raise OttlError(f"error while evaluating lambda function on {_where(src, k, v)}: {e}") from None
            if new_key in seen:
                seen[new_key].CopyFrom(v)
                continue
            slot = out.kvs.add(key=new_key).value
            slot.CopyFrom(v)
            seen[new_key] = slot
        return out
    return run


@T.function("Reduce", P("source", K.GETTER), P("seed", K.GETTER), P("accumulator", K.LAMBDA))
def build_reduce(source, seed, accumulator):
    accumulator.check_arity(3)

    def run(ctx):
        src = _source(source(ctx))
        acc = seed(ctx)
        for k, v in _entries(src):
            try:
                acc = accumulator.call(ctx, acc, k, v)
            except OttlError as e:
                what = "map" if isinstance(src, PMap) else "slice"
                raise OttlError(f"error while evaluating accumulator function on {what} item ({k}, {to_raw(v)}): {e}") from None
            if isinstance(acc, AnyValue):
                acc = get_value(acc)
        return acc
    return run


@T.function("When", P("condition", K.LAMBDA), P("true_value", K.GETTER), P("false_value", K.GETTER))
def build_when(condition, true_value, false_value):
    condition.check_arity(0)
    tv = true_value.value if isinstance(true_value, Constant) else None
    fv = false_value.value if isinstance(false_value, Constant) else None

    def run(ctx):
        try:
            match = _typed(condition.call(ctx), bool, "bool")
        except (OttlError, OttlTypeError) as e:
            raise OttlError(f"error while evaluating lambda function: {e}") from None
        if match:
            return tv if tv is not None else true_value(ctx)
        return fv if fv is not None else false_value(ctx)
    return run

TABLE = T.table()
