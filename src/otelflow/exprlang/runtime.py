"""Run-time semantics of expr-lang's values (its ``runtime`` package and builtins): Go-style equality,
ordering, arithmetic, member fetch, and the type errors its VM panics with, raised as ``ExprError``."""

from __future__ import annotations

import math
from typing import Any, Callable


class ExprError(ValueError):
    """An expression failed on an input (expr-lang's runtime error)."""


def go_type(v: Any) -> str:
    """The Go type name expr-lang prints for a value in its error messages."""
    if v is None:
        return "<nil>"
    return {bool: "bool", int: "int", float: "float64", str: "string", bytes: "[]uint8",
            dict: "map[string]interface {}", list: "[]interface {}"}.get(type(v), type(v).__name__)


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def equal(a: Any, b: Any) -> bool:
    if is_num(a) and is_num(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if type(a) is not type(b):
        return False
    return bool(a == b)


def less(op: str, a: Any, b: Any) -> bool:
    if (is_num(a) and is_num(b)) or (isinstance(a, str) and isinstance(b, str)):
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    raise ExprError(f"invalid operation: {go_type(a)} {op} {go_type(b)}")


def arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (is_num(a) and is_num(b)):
        raise ExprError(f"invalid operation: {go_type(a)} {op} {go_type(b)}")
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return math.copysign(math.inf, a) if a else math.nan
        return a / b
    if op == "%":
        if not (isinstance(a, int) and isinstance(b, int)):
            raise ExprError(f"invalid operation: {go_type(a)} % {go_type(b)}")
        if b == 0:
            raise ExprError("integer divide by zero")
        return int(math.fmod(a, b))
    return float(a) ** float(b)


def fetch(obj: Any, key: Any, optional: bool = False) -> Any:
    """``obj.key`` / ``obj[key]``: missing map keys are nil, out-of-range indexes fail."""
    if obj is None:
        if optional:
            return None
        raise ExprError(f"cannot fetch {key} from <nil>")
    if isinstance(obj, dict):
        return obj.get(key) if isinstance(key, str) else None
    if isinstance(obj, (list, str)):
        if not is_num(key):
            raise ExprError(f"cannot fetch {key} from {go_type(obj)}")
        i = int(key)
        n = len(obj)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise ExprError(f"index out of range: {i} (array length is {n})")
        return obj[i]
    raise ExprError(f"cannot fetch {key} from {go_type(obj)}")


def member_of(needle: Any, haystack: Any) -> bool:
    """The ``in`` operator: map keys or array elements."""
    if isinstance(haystack, dict):
        return isinstance(needle, str) and needle in haystack
    if isinstance(haystack, list):
        return any(equal(needle, item) for item in haystack)
    if haystack is None:
        return False
    raise ExprError(f'operator "in" not defined on {go_type(haystack)}')


def string_test(op: str, a: Any, b: Any, test: Callable[[str, str], bool]) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        raise ExprError(f"invalid operation: {go_type(a)} {op} {go_type(b)}")
    return test(a, b)


def as_bool(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise ExprError(f"invalid operation: {what} {go_type(v)} (expected bool)")
    return v


def to_string(v: Any) -> str:
    """``string(v)``: Go's fmt rendering of a value."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "<nil>"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return str(v)


def fail(message: str) -> Any:
    raise ExprError(message)


def _length(v: Any) -> int:
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise ExprError(f"invalid argument for len (type {go_type(v)})")


def _to_int(v: Any) -> int:
    if is_num(v):
        return int(v)
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            raise ExprError(f'strconv.Atoi: parsing "{v}": invalid syntax') from None
    raise ExprError(f"invalid operation: int({go_type(v)})")


def _to_float(v: Any) -> float:
    if is_num(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            raise ExprError(f'strconv.ParseFloat: parsing "{v}": invalid syntax') from None
    raise ExprError(f"invalid operation: float({go_type(v)})")


def _type_name(v: Any) -> str:
    if v is None:
        return "nil"
    return {bool: "bool", int: "int", float: "float", str: "string", dict: "map", list: "array"}.get(
        type(v), "unknown")


def _str_fn(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if not all(isinstance(a, str) for a in args):
            raise ExprError(f"{name}: expected string arguments")
        return fn(*args)

    return call


#: expr-lang builtins otelflow implements: name -> (min args, max args, function of the arguments)
BUILTINS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    "len": (1, 1, _length),
    "int": (1, 1, _to_int),
    "float": (1, 1, _to_float),
    "string": (1, 1, to_string),
    "type": (1, 1, _type_name),
    "abs": (1, 1, lambda v: abs(v) if is_num(v) else arith("-", v, 0)),
    "lower": (1, 1, _str_fn("lower", str.lower)),
    "upper": (1, 1, _str_fn("upper", str.upper)),
    "trim": (1, 2, _str_fn("trim", lambda s, c=None: s.strip(c) if c is not None else s.strip(" \t\n\r\v\f"))),
    "trimPrefix": (2, 2, _str_fn("trimPrefix", lambda s, p: s[len(p):] if p and s.startswith(p) else s)),
    "trimSuffix": (2, 2, _str_fn("trimSuffix", lambda s, p: s[: -len(p)] if p and s.endswith(p) else s)),
    "split": (2, 2, _str_fn("split", lambda s, sep: s.split(sep) if sep else list(s))),
    "hasPrefix": (2, 2, _str_fn("hasPrefix", str.startswith)),
    "hasSuffix": (2, 2, _str_fn("hasSuffix", str.endswith)),
    "indexOf": (2, 2, _str_fn("indexOf", str.find)),
    "keys": (1, 1, lambda m: list(m) if isinstance(m, dict) else fail(f"cannot get keys from {go_type(m)}")),
    "values": (1, 1, lambda m: list(m.values()) if isinstance(m, dict) else fail(f"cannot get values from {go_type(m)}")),
}
