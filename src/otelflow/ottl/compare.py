"""OTTL's comparison rules (upstream's ottlValueComparator).

Values of different kinds are never equal and never ordered: ``==`` and ``<`` give false, ``!=``
gives true. Ints and floats compare as numbers; maps and slices only by (deep) equality; nil equals
only nil. A nil on the left is swapped to the right, as upstream does, operator unchanged.
"""

from __future__ import annotations

from typing import Any

from otelflow.ottl.values import Duration, GoTime, PMap, PSlice, to_raw


def _prim(a: Any, b: Any, op: str) -> bool:
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def deep_equal(a: Any, b: Any) -> bool:
    """reflect.DeepEqual over AsRaw() data: an int64 never equals a float64 or a bool."""
    if type(a) is not type(b):
        if isinstance(a, (bytes, bytearray)) and isinstance(b, (bytes, bytearray)):
            return bytes(a) == bytes(b)
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b  # NaN != NaN, as in Go
    return a == b


def _equality_only(a_raw: Any, b_raw: Any, op: str) -> bool:
    if op == "==":
        return deep_equal(a_raw, b_raw)
    if op == "!=":
        return not deep_equal(a_raw, b_raw)
    return False


def compare(a: Any, b: Any, op: str) -> bool:
    if a is None:
        if b is None:
            return op in ("==", "<=", ">=")
        return compare(b, None, op)
    ta = type(a)
    if ta is bool:
        if type(b) is bool:
            return _prim(a, b, op)
        return op == "!="
    if ta is int:
        tb = type(b)
        if tb is int or tb is float:
            return _prim(a, b, op)
        return op == "!="
    if ta is float:
        tb = type(b)
        if tb is int or tb is float:
            return _prim(a, b, op)
        return op == "!="
    if ta is str:
        if type(b) is str:
            return _prim(a, b, op)
        return op == "!="
    if isinstance(a, (bytes, bytearray)):
        if b is None:
            return op == "!="
        if isinstance(b, (bytes, bytearray)):
            return _prim(bytes(a), bytes(b), op)
        return op == "!="
    if ta is Duration:
        if type(b) is Duration:
            return _prim(a.ns, b.ns, op)
        return op == "!="
    if ta is GoTime:
        if type(b) is GoTime:
            return _prim(a.ns, b.ns, op)
        return op == "!="
    if isinstance(a, (dict, PMap)):
        if isinstance(b, (dict, PMap)):
            return _equality_only(to_raw(a), to_raw(b), op)
        return op == "!="
    if isinstance(a, (list, PSlice)):
        if isinstance(b, (list, PSlice)):
            return _equality_only(to_raw(a), to_raw(b), op)
        return op == "!="
    # Other Go values (ids, status): == and != only, by value for ids, by identity otherwise.
    if op == "==":
        return type(a) is type(b) and a == b
    if op == "!=":
        return not (type(a) is type(b) and a == b)
    return False
