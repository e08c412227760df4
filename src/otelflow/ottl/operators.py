"""What expressions do at run time besides calling functions: indexing a converter's result
(``Split(x, ",")[0]``) and math on ints, floats, times and durations, with upstream's rules and
error texts."""

from __future__ import annotations

from typing import Any, Callable

from otelflow.ottl.contexts.base import Key
from otelflow.ottl.errors import OttlError
from otelflow.ottl.getters import Constant
from otelflow.ottl.values import Duration, GoTime, PMap, PSlice, get_value, type_name
from otelflow.pdata.govalue import format_float_g

Getter = Callable[[Any], Any]


def _wrap(v: int) -> int:
    return (v + 2**63) % 2**64 - 2**63


def _resolve_key(ctx: Any, key: Key) -> Any:
    if key.string is not None:
        return key.string
    if key.int is not None:
        return key.int
    v = key.getter(ctx)
    if v is None:
        raise OttlError("key expression returned nil, expected an int or string")
    if isinstance(v, str) or type(v) is int:
        return v
    raise OttlError(f"key expression must evaluate to string or int, got {type(v).__name__}")


def index_value(ctx: Any, value: Any, keys: list[Key]) -> Any:
    """Keys on a converter's result (``Split(x, ",")[0]``), as upstream's getIndexedValue."""
    result = value
    for key in keys:
        k = _resolve_key(ctx, key)
        if isinstance(k, str):
            if isinstance(result, PMap):
                av = result.get(k)
                if av is None:
                    raise OttlError("key not found in map")
                result = get_value(av)
            elif isinstance(result, dict):
                if k not in result:
                    raise OttlError("key not found in map")
                result = result[k]
            else:
                raise OttlError(f"type {type_name(result)} does not support string indexing")
        else:
            if isinstance(result, PSlice):
                if k >= len(result) or k < 0:
                    raise OttlError(f"index {k} out of bounds")
                result = get_value(result.at(k))
            elif isinstance(result, (list, bytes)):
                if k >= len(result) or k < 0:
                    raise OttlError(f"index {k} out of bounds")
                result = result[k]
            else:
                raise OttlError(f"type {type_name(result)} does not support int indexing")
    return result


# ------------------------------------------------------------------------------------- math


def math_op(left: Getter, op: str, right: Getter) -> Getter:
    def run(ctx):
        x = left(ctx)
        y = right(ctx)
        tx = type(x)
        if tx is int or tx is float:
            ty = type(y)
            if ty is not int and ty is not float:
                raise OttlError(f"{_go_v(y)} must be int64 or float64")
            if tx is int and ty is int:
                if op == "+":
                    return _wrap(x + y)
                if op == "-":
                    return _wrap(x - y)
                if op == "*":
                    return _wrap(x * y)
                if y == 0:
                    raise OttlError("attempted to divide by 0")
                q = abs(x) // abs(y)
                return _wrap(q if (x >= 0) == (y >= 0) else -q)
            x, y = float(x), float(y)
            if op == "+":
                return x + y
            if op == "-":
                return x - y
            if op == "*":
                return x * y
            if y == 0:
                raise OttlError("attempted to divide by 0")
            return x / y
        if tx is GoTime:
            if op == "+":
                if type(y) is Duration:
                    return GoTime(x.ns + y.ns, x.tz)
                raise OttlError(f"time.Time must be added to time.Duration; found {_go_v(y)} instead")
            if op == "-":
                if type(y) is GoTime:
                    return Duration(x.ns - y.ns)
                if type(y) is Duration:
                    return GoTime(x.ns - y.ns, x.tz)
                raise OttlError(f"time.Time or time.Duration must be subtracted from time.Time; found {_go_v(y)} instead")
            raise OttlError("only addition and subtraction supported for time.Time and time.Duration")
        if tx is Duration:
            if op == "+":
                if type(y) is Duration:
                    return Duration(x.ns + y.ns)
                if type(y) is GoTime:
                    return GoTime(y.ns + x.ns, y.tz)
                raise OttlError(f"time.Duration must be added to time.Duration or time.Time; found {_go_v(y)} instead")
            if op == "-":
                if type(y) is Duration:
                    return Duration(x.ns - y.ns)
                raise OttlError(f"time.Duration must be subtracted from time.Duration; found {_go_v(y)} instead")
            raise OttlError("only addition and subtraction supported for time.Time and time.Duration")
        raise OttlError(f"{_go_v(x)} must be int64, float64, time.Time or time.Duration")
    if isinstance(left, Constant) and isinstance(right, Constant):
        try:
            return Constant(run(None))
        except OttlError:
            return run
    return run


def negate(inner: Getter) -> Getter:
    def run(ctx):
        v = inner(ctx)
        if type(v) is int:
            return _wrap(-v)
        if type(v) is float:
            return -v
        raise OttlError(f"unsupported unary minus operation on type {type_name(v)}")
    return run


def _go_v(v: Any) -> str:
    """fmt's %v of a value, enough for error messages."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format_float_g(v)
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in v) + "]"
    return str(v)
