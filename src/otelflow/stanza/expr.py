"""The expression language of stanza's `if`, router/filter `expr`, `EXPR(...)` values and recombine
conditions: the subset of expr-lang (v1.17, as upstream compiles it with undefined variables allowed)
that operator configs use.

Sources are parsed once (a Pratt parser with expr-lang's precedences) into Python closures over an
entry. Environment: ``body`` (also ``$``), ``attributes``, ``resource``, ``timestamp`` (int ns here,
a time.Time upstream) and ``env("NAME")``; any other identifier is nil. Runtime type errors raise
``ExprError`` (the operator's `on_error` then applies), as expr-lang's VM panics do.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Callable

from otelflow.pdata.goregexp import compile_go_regex
from otelflow.stanza.entry import Entry

Fn = Callable[[Entry], Any]


class ExprError(ValueError):
    """An expression failed on an entry (expr-lang's runtime error)."""


# --- lexer -------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>0[xX][0-9a-fA-F_]+|(?:\d[\d_]*)?\.\d[\d_]*(?:[eE][+-]?\d+)?|\d[\d_]*(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>\?\?|\?\.|\.\.|==|!=|<=|>=|&&|\|\||\*\*|[-+*/%^<>!?:.,()\[\]{}|])
    )""",
    re.VERBOSE,
)
_WORD_OPS = {"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith"}
_BINARY = {
    "or": 10, "||": 10, "and": 15, "&&": 15,
    "==": 20, "!=": 20, "<": 20, ">": 20, ">=": 20, "<=": 20,
    "in": 20, "matches": 20, "contains": 20, "startsWith": 20, "endsWith": 20,
    "+": 30, "-": 30, "*": 60, "/": 60, "%": 60, "**": 100, "^": 100, "??": 500,
}
_RIGHT = {"**", "^"}
_UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
_NEGATABLE = {"in", "matches", "contains", "startsWith", "endsWith"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _tokens(source: str) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        m = _TOKEN.match(source, pos)
        if m is None or m.end() == pos:
            col = len(source[pos:]) - len(source[pos:].lstrip()) + pos
            raise ValueError(f"unexpected token {source[col]!r} (1:{col + 1})")
        kind = m.lastgroup or ""
        text = m.group(kind)
        start = m.start(kind)
        if kind == "num":
            clean = text.replace("_", "")
            value: Any = int(clean, 16) if clean[:2] in ("0x", "0X") else (
                float(clean) if any(c in clean for c in ".eE") else int(clean))
            out.append(("lit", value, start))
        elif kind == "str":
            out.append(("lit", _unquote(text), start))
        elif kind == "name":
            if text in ("true", "false"):
                out.append(("lit", text == "true", start))
            elif text in ("nil",):
                out.append(("lit", None, start))
            elif text in _WORD_OPS:
                out.append(("op", text, start))
            else:
                out.append(("name", text, start))
        else:
            out.append(("op", text, start))
        pos = m.end()
    out.append(("eof", None, len(source)))
    return out


def _unquote(text: str) -> str:
    if text[0] == "`":
        return text[1:-1]
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            out.append(chr(int(body[i + 2:i + 2 + width], 16)))
            i += 2 + width
        else:
            raise ValueError(f"invalid char escape \\{nxt}")
    return "".join(out)


# --- runtime semantics (expr-lang's runtime package) ----------------------------------------------
def _go_type(v: Any) -> str:
    if v is None:
        return "<nil>"
    return {bool: "bool", int: "int", float: "float64", str: "string", bytes: "[]uint8",
            dict: "map[string]interface {}", list: "[]interface {}"}.get(type(v), type(v).__name__)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _equal(a: Any, b: Any) -> bool:
    if _is_num(a) and _is_num(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _less(op: str, a: Any, b: Any) -> bool:
    if (_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str)):
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    raise ExprError(f"invalid operation: {_go_type(a)} {op} {_go_type(b)}")


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (_is_num(a) and _is_num(b)):
        raise ExprError(f"invalid operation: {_go_type(a)} {op} {_go_type(b)}")
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
            raise ExprError(f"invalid operation: {_go_type(a)} % {_go_type(b)}")
        if b == 0:
            raise ExprError("integer divide by zero")
        return int(math.fmod(a, b))
    return float(a) ** float(b)


def _fetch(obj: Any, key: Any, optional: bool = False) -> Any:
    if obj is None:
        if optional:
            return None
        raise ExprError(f"cannot fetch {key} from <nil>")
    if isinstance(obj, dict):
        return obj.get(key) if isinstance(key, str) else None
    if isinstance(obj, (list, str)):
        if not _is_num(key):
            raise ExprError(f"cannot fetch {key} from {_go_type(obj)}")
        i = int(key)
        n = len(obj)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise ExprError(f"index out of range: {i} (array length is {n})")
        return obj[i]
    raise ExprError(f"cannot fetch {key} from {_go_type(obj)}")


def _in(needle: Any, haystack: Any) -> bool:
    if isinstance(haystack, dict):
        return isinstance(needle, str) and needle in haystack
    if isinstance(haystack, list):
        return any(_equal(needle, item) for item in haystack)
    if haystack is None:
        return False
    raise ExprError(f'operator "in" not defined on {_go_type(haystack)}')


def _strings(op: str, a: Any, b: Any) -> None:
    if not (isinstance(a, str) and isinstance(b, str)):
        raise ExprError(f"invalid operation: {_go_type(a)} {op} {_go_type(b)}")


def _bool(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise ExprError(f"invalid operation: {what} {_go_type(v)} (expected bool)")
    return v


def _length(v: Any) -> int:
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise ExprError(f"invalid argument for len (type {_go_type(v)})")


def _to_int(v: Any) -> int:
    if _is_num(v):
        return int(v)
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            raise ExprError(f'strconv.Atoi: parsing "{v}": invalid syntax') from None
    raise ExprError(f"invalid operation: int({_go_type(v)})")


def _to_float(v: Any) -> float:
    if _is_num(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            raise ExprError(f'strconv.ParseFloat: parsing "{v}": invalid syntax') from None
    raise ExprError(f"invalid operation: float({_go_type(v)})")


def _to_string(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "<nil>"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return str(v)


def _type_name(v: Any) -> str:
    if v is None:
        return "nil"
    return {bool: "bool", int: "int", float: "float", str: "string", dict: "map", list: "array"}.get(type(v), "unknown")


def _str_fn(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if not all(isinstance(a, str) for a in args):
            raise ExprError(f"{name}: expected string arguments")
        return fn(*args)

    return call


#: builtin name -> (min args, max args, function)
_BUILTINS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    "len": (1, 1, _length),
    "int": (1, 1, _to_int),
    "float": (1, 1, _to_float),
    "string": (1, 1, _to_string),
    "type": (1, 1, _type_name),
    "abs": (1, 1, lambda v: abs(v) if _is_num(v) else _arith("-", v, 0)),
    "lower": (1, 1, _str_fn("lower", str.lower)),
    "upper": (1, 1, _str_fn("upper", str.upper)),
    "trim": (1, 2, _str_fn("trim", lambda s, c=None: s.strip(c) if c is not None else s.strip(" \t\n\r\v\f"))),
    "trimPrefix": (2, 2, _str_fn("trimPrefix", lambda s, p: s[len(p):] if p and s.startswith(p) else s)),
    "trimSuffix": (2, 2, _str_fn("trimSuffix", lambda s, p: s[: -len(p)] if p and s.endswith(p) else s)),
    "split": (2, 2, _str_fn("split", lambda s, sep: s.split(sep) if sep else list(s))),
    "hasPrefix": (2, 2, _str_fn("hasPrefix", str.startswith)),
    "hasSuffix": (2, 2, _str_fn("hasSuffix", str.endswith)),
    "indexOf": (2, 2, _str_fn("indexOf", str.find)),
    "keys": (1, 1, lambda m: list(m) if isinstance(m, dict) else _raise(f"cannot get keys from {_go_type(m)}")),
    "values": (1, 1, lambda m: list(m.values()) if isinstance(m, dict) else _raise(f"cannot get values from {_go_type(m)}")),
    "env": (1, 1, lambda name: os.environ.get(name, "") if isinstance(name, str) else _raise("env: expected a string")),
}


def _raise(message: str) -> Any:
    raise ExprError(message)


def _env(name: str) -> Fn:
    if name in ("body", "$"):
        return lambda e: e.body
    if name == "attributes":
        return lambda e: e.attributes if e.attributes is not None else {}
    if name == "resource":
        return lambda e: e.resource if e.resource is not None else {}
    if name == "timestamp":
        return lambda e: e.timestamp
    return lambda e: None  # undefined variables are nil (AllowUndefinedVariables)


# --- parser / compiler ---------------------------------------------------------------------------
class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.toks = _tokens(source)
        self.i = 0

    def peek(self) -> tuple[str, Any, int]:
        return self.toks[self.i]

    def next(self) -> tuple[str, Any, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: tuple[str, Any, int] | None = None) -> ValueError:
        pos = (tok or self.peek())[2]
        return ValueError(f"{message} (1:{pos + 1})\n | {self.source}\n | {'.' * pos}^")

    def expect(self, op: str) -> None:
        kind, value, _ = self.peek()
        if kind != "op" or value != op:
            raise self.error(f"unexpected token {self._describe()}; expected {op!r}")
        self.i += 1

    def _describe(self) -> str:
        kind, value, _ = self.peek()
        return "EOF" if kind == "eof" else f"{value!r}"

    def parse(self) -> Fn:
        fn = self.expression(0)
        if self.peek()[0] != "eof":
            raise self.error(f"unexpected token {self._describe()}")
        return fn

    def expression(self, min_prec: int) -> Fn:
        left = self.unary()
        while True:
            kind, op, _ = self.peek()
            if kind != "op":
                break
            negate = False
            if op == "not" and self.toks[self.i + 1][0] == "op" and self.toks[self.i + 1][1] in _NEGATABLE:
                negate = True
                op = self.toks[self.i + 1][1]
            if op not in _BINARY or _BINARY[op] < min_prec or (_BINARY[op] == min_prec and op not in _RIGHT):
                break
            self.i += 2 if negate else 1
            prec = _BINARY[op]
            right = self.expression(prec if op in _RIGHT else prec + 1)
            left = self.binary(op, left, right)
            if negate:
                inner = left
                left = lambda e, f=inner: not f(e)  # noqa: E731
        if min_prec == 0 and self.peek()[0] == "op" and self.peek()[1] == "?":
            self.i += 1
            yes = self.expression(0)
            self.expect(":")
            no = self.expression(0)
            cond = left
            left = lambda e: yes(e) if _bool(cond(e), "?:") else no(e)  # noqa: E731
        return left

    def binary(self, op: str, a: Fn, b: Fn) -> Fn:
        if op in ("and", "&&"):
            return lambda e: _bool(a(e), op) and _bool(b(e), op)
        if op in ("or", "||"):
            return lambda e: _bool(a(e), op) or _bool(b(e), op)
        if op == "==":
            return lambda e: _equal(a(e), b(e))
        if op == "!=":
            return lambda e: not _equal(a(e), b(e))
        if op in ("<", ">", "<=", ">="):
            return lambda e: _less(op, a(e), b(e))
        if op in ("+", "-", "*", "/", "%", "**", "^"):
            return lambda e: _arith(op, a(e), b(e))
        if op == "??":
            def coalesce(e: Entry) -> Any:
                v = a(e)
                return b(e) if v is None else v
            return coalesce
        if op == "in":
            return lambda e: _in(a(e), b(e))
        if op == "matches":
            return self.matches(a, b)
        if op == "contains":
            return lambda e: _str2(op, a(e), b(e), lambda x, y: y in x)
        if op == "startsWith":
            return lambda e: _str2(op, a(e), b(e), str.startswith)
        return lambda e: _str2(op, a(e), b(e), str.endswith)

    def matches(self, a: Fn, b: Fn) -> Fn:
        const = getattr(b, "constant", _MISSING)
        if isinstance(const, str):
            try:
                pattern = compile_go_regex(const)
            except ValueError as exc:
                raise ValueError(f"error parsing regexp: {exc}") from None
            return lambda e: _match(a(e), pattern)

        def dynamic(e: Entry) -> bool:
            p = b(e)
            if not isinstance(p, str):
                raise ExprError(f"invalid operation: matches {_go_type(p)}")
            try:
                return _match(a(e), compile_go_regex(p))
            except ValueError as exc:
                raise ExprError(f"error parsing regexp: {exc}") from None
        return dynamic

    def unary(self) -> Fn:
        kind, value, _ = self.peek()
        if kind == "op" and value in _UNARY:
            self.i += 1
            operand = self.expression(_UNARY[value])
            if value in ("not", "!"):
                return lambda e: not _bool(operand(e), "!")
            sign = value

            def signed(e: Entry) -> Any:
                v = operand(e)
                if not _is_num(v):
                    raise ExprError(f"invalid operation: {sign}{_go_type(v)}")
                return -v if sign == "-" else v
            return signed
        return self.postfix(self.primary())

    def primary(self) -> Fn:
        tok = self.next()
        kind, value, _ = tok
        if kind == "lit":
            return _constant(value)
        if kind == "name":
            if self.peek()[0] == "op" and self.peek()[1] == "(":
                return self.call(value, tok)
            return _env(value)
        if kind == "op" and value == "(":
            inner = self.expression(0)
            self.expect(")")
            return inner
        if kind == "op" and value == "[":
            items = self.sequence("]")
            return lambda e: [f(e) for f in items]
        if kind == "op" and value == "{":
            pairs: list[tuple[Fn, Fn]] = []
            while not (self.peek()[0] == "op" and self.peek()[1] == "}"):
                k_kind, k_value, _ = self.next()
                key = _constant(k_value) if k_kind in ("lit", "name") else None
                if key is None:
                    raise self.error("a map key must be a quoted string or an identifier")
                self.expect(":")
                pairs.append((key, self.expression(0)))
                if self.peek()[1] != ",":
                    break
                self.i += 1
            self.expect("}")
            return lambda e: {k(e): v(e) for k, v in pairs}
        self.i -= 1
        raise self.error(f"unexpected token {self._describe()}")

    def sequence(self, close: str) -> list[Fn]:
        items: list[Fn] = []
        while not (self.peek()[0] == "op" and self.peek()[1] == close):
            items.append(self.expression(0))
            if not (self.peek()[0] == "op" and self.peek()[1] == ","):
                break
            self.i += 1
        self.expect(close)
        return items

    def call(self, name: str, tok: tuple[str, Any, int]) -> Fn:
        self.expect("(")
        args = self.sequence(")")
        if name not in _BUILTINS:
            raise self.error(f"unknown function {name}", tok)
        low, high, fn = _BUILTINS[name]
        if not low <= len(args) <= high:
            raise self.error(f"invalid number of arguments for {name} (expected {low}, got {len(args)})", tok)
        if len(args) == 1:
            only = args[0]
            return lambda e: fn(only(e))
        return lambda e: fn(*(a(e) for a in args))

    def postfix(self, base: Fn) -> Fn:
        while True:
            kind, value, _ = self.peek()
            if kind != "op" or value not in (".", "?.", "["):
                return base
            self.i += 1
            optional = value == "?."
            if value in (".", "?.") and not (self.peek()[0] == "op" and self.peek()[1] == "["):
                k_kind, key, _ = self.next()
                if k_kind != "name" and not (k_kind == "op" and key in _WORD_OPS):
                    self.i -= 1
                    raise self.error(f"expected name; got {self._describe()}")
                base = _member(base, _constant(key), optional)
                continue
            if value == "?.":
                self.expect("[")
            index = self.expression(0)
            self.expect("]")
            base = _member(base, index, optional)


_MISSING = object()


def _constant(value: Any) -> Fn:
    fn = lambda e: value  # noqa: E731
    fn.constant = value  # type: ignore[attr-defined]
    return fn


def _member(base: Fn, key: Fn, optional: bool) -> Fn:
    const = getattr(key, "constant", _MISSING)
    if const is not _MISSING:
        return lambda e: _fetch(base(e), const, optional)
    return lambda e: _fetch(base(e), key(e), optional)


def _str2(op: str, a: Any, b: Any, test: Callable[[str, str], bool]) -> bool:
    _strings(op, a, b)
    return test(a, b)


def _match(value: Any, pattern: re.Pattern) -> bool:
    if not isinstance(value, str):
        raise ExprError(f"invalid operation: {_go_type(value)} matches string")
    return pattern.search(value) is not None


def compile_expr(source: str) -> Fn:
    """Compile an expression once; the result evaluates it against an entry.

    Raises ValueError with a positioned message on a syntax error or an unknown function.
    """
    if not isinstance(source, str) or not source.strip():
        raise ValueError("unexpected token EOF (1:1)")
    return _Parser(source).parse()


def compile_bool(source: str) -> Callable[[Entry], bool]:
    """An expression whose result must be a bool (expr-lang's AsBool, checked per entry)."""
    fn = compile_expr(source)

    def run(entry: Entry) -> bool:
        v = fn(entry)
        if not isinstance(v, bool):
            raise ExprError(f"expected bool, but got {_go_type(v)}")
        return v

    return run


class ExprString:
    """A value with embedded `EXPR(...)` parts (upstream's ExprStringConfig), rendered to a string."""

    def __init__(self, text: str) -> None:
        self.literals: list[str] = []
        self.parts: list[Fn] = []
        start = 0
        while True:
            i = text.find("EXPR(", start)
            if i == -1:
                break
            nxt = text.find("EXPR(", i + 5)
            end = text.rfind(")", i, len(text) if nxt == -1 else nxt)
            if end == -1:
                break
            self.literals.append(text[start:i])
            try:
                self.parts.append(compile_expr(text[i + 5:end]))
            except ValueError as exc:
                raise ValueError(f"compile embedded expression: {exc}") from None
            start = end + 1
        self.literals.append(text[start:])

    def render(self, entry: Entry) -> str:
        out: list[str] = []
        for literal, part in zip(self.literals, self.parts):
            out.append(literal)
            value = part(entry)
            if not isinstance(value, str):
                raise ExprError(f"embedded expression returned non-string {_to_string(value)}")
            out.append(value)
        out.append(self.literals[-1])
        return "".join(out)
