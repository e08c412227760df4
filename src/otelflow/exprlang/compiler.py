"""Compile expr-lang source, once, into a Python closure over an input: a Pratt parser with
expr-lang's operator precedences whose nodes are closures, names and calls resolved through an
``Environment``. Syntax errors, unknown functions and (in strict environments) unknown names are
``ValueError``s with expr-lang's positioned message; failures while running are ``ExprError``."""

from __future__ import annotations

import re
from typing import Any, Callable

from otelflow.exprlang import runtime as rt
from otelflow.exprlang.environment import Environment
from otelflow.exprlang.lexer import WORD_OPS, Token, tokens
from otelflow.exprlang.runtime import ExprError
from otelflow.pdata.goregexp import compile_go_regex

Fn = Callable[[Any], Any]

_BINARY = {
    "or": 10, "||": 10, "and": 15, "&&": 15,
    "==": 20, "!=": 20, "<": 20, ">": 20, ">=": 20, "<=": 20,
    "in": 20, "matches": 20, "contains": 20, "startsWith": 20, "endsWith": 20,
    "+": 30, "-": 30, "*": 60, "/": 60, "%": 60, "**": 100, "^": 100, "??": 500,
}
_RIGHT = {"**", "^"}
_UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
_NEGATABLE = {"in", "matches", "contains", "startsWith", "endsWith"}
_MISSING = object()


class UnknownName(ValueError):
    """A name or function the environment does not define (``name`` says which)."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


def compile(source: str, env: Environment) -> Fn:  # noqa: A001 - mirrors expr.Compile
    """The program for ``source`` in ``env``: call it with an input to evaluate."""
    if not isinstance(source, str) or not source.strip():
        raise ValueError("unexpected token EOF (1:1)")
    return _Parser(source, env).parse()


class _Parser:
    def __init__(self, source: str, env: Environment) -> None:
        self.source = source
        self.env = env
        self.toks = tokens(source)
        self.i = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def next(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> ValueError:
        pos = (tok or self.peek())[2]
        return ValueError(self.positioned(message, pos))

    def positioned(self, message: str, pos: int) -> str:
        return f"{message} (1:{pos + 1})\n | {self.source}\n | {'.' * pos}^"

    def expect(self, op: str) -> None:
        kind, value, _ = self.peek()
        if kind != "op" or value != op:
            raise self.error(f"unexpected token {self._describe()}; expected {op!r}")
        self.i += 1

    def _describe(self) -> str:
        kind, value, _ = self.peek()
        return "EOF" if kind == "eof" else f"{value!r}"

    def is_op(self, op: str) -> bool:
        kind, value, _ = self.peek()
        return kind == "op" and value == op

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
                left = lambda x, f=inner: not f(x)  # noqa: E731
        if min_prec == 0 and self.is_op("?"):
            self.i += 1
            yes = self.expression(0)
            self.expect(":")
            no = self.expression(0)
            cond = left
            left = lambda x: yes(x) if rt.as_bool(cond(x), "?:") else no(x)  # noqa: E731
        return left

    def binary(self, op: str, a: Fn, b: Fn) -> Fn:
        if op in ("and", "&&"):
            return lambda x: rt.as_bool(a(x), op) and rt.as_bool(b(x), op)
        if op in ("or", "||"):
            return lambda x: rt.as_bool(a(x), op) or rt.as_bool(b(x), op)
        if op == "==":
            return lambda x: rt.equal(a(x), b(x))
        if op == "!=":
            return lambda x: not rt.equal(a(x), b(x))
        if op in ("<", ">", "<=", ">="):
            return lambda x: rt.less(op, a(x), b(x))
        if op in ("+", "-", "*", "/", "%", "**", "^"):
            return lambda x: rt.arith(op, a(x), b(x))
        if op == "??":
            def coalesce(x: Any) -> Any:
                v = a(x)
                return b(x) if v is None else v
            return coalesce
        if op == "in":
            return lambda x: rt.member_of(a(x), b(x))
        if op == "matches":
            return _matches(a, b)
        if op == "contains":
            return lambda x: rt.string_test(op, a(x), b(x), lambda s, t: t in s)
        if op == "startsWith":
            return lambda x: rt.string_test(op, a(x), b(x), str.startswith)
        return lambda x: rt.string_test(op, a(x), b(x), str.endswith)

    def unary(self) -> Fn:
        kind, value, _ = self.peek()
        if kind == "op" and value in _UNARY:
            self.i += 1
            operand = self.expression(_UNARY[value])
            if value in ("not", "!"):
                return lambda x: not rt.as_bool(operand(x), "!")
            sign = value

            def signed(x: Any) -> Any:
                v = operand(x)
                if not rt.is_num(v):
                    raise ExprError(f"invalid operation: {sign}{rt.go_type(v)}")
                return -v if sign == "-" else v
            return signed
        return self.postfix(self.primary())

    def primary(self) -> Fn:
        tok = self.next()
        kind, value, _ = tok
        if kind == "lit":
            return _constant(value)
        if kind == "name":
            if self.is_op("("):
                return self.call(value, tok)
            reader = self.env.variable(value)
            if reader is None:
                raise UnknownName(self.positioned(f"unknown name {value}", tok[2]), value)
            return reader
        if kind == "op" and value == "(":
            inner = self.expression(0)
            self.expect(")")
            return inner
        if kind == "op" and value == "[":
            items = self.sequence("]")
            return lambda x: [f(x) for f in items]
        if kind == "op" and value == "{":
            return self.map_literal()
        self.i -= 1
        raise self.error(f"unexpected token {self._describe()}")

    def map_literal(self) -> Fn:
        pairs: list[tuple[Fn, Fn]] = []
        while not self.is_op("}"):
            k_kind, k_value, _ = self.next()
            if k_kind not in ("lit", "name"):
                raise self.error("a map key must be a quoted string or an identifier")
            key = _constant(k_value)
            self.expect(":")
            pairs.append((key, self.expression(0)))
            if self.peek()[1] != ",":
                break
            self.i += 1
        self.expect("}")
        return lambda x: {k(x): v(x) for k, v in pairs}

    def sequence(self, close: str) -> list[Fn]:
        items: list[Fn] = []
        while not self.is_op(close):
            items.append(self.expression(0))
            if not self.is_op(","):
                break
            self.i += 1
        self.expect(close)
        return items

    def call(self, name: str, tok: Token) -> Fn:
        self.expect("(")
        args = self.sequence(")")
        found = self.env.function(name)
        if found is None:
            raise UnknownName(self.positioned(f"unknown function {name}", tok[2]), name)
        low, high, fn = found.min_args, found.max_args, found.fn
        if not low <= len(args) <= high:
            raise self.error(f"invalid number of arguments for {name} (expected {low}, got {len(args)})", tok)
        if found.with_input:
            return lambda x: fn(x, *(a(x) for a in args))
        if len(args) == 1:
            only = args[0]
            return lambda x: fn(only(x))
        return lambda x: fn(*(a(x) for a in args))

    def postfix(self, base: Fn) -> Fn:
        while True:
            kind, value, _ = self.peek()
            if kind != "op" or value not in (".", "?.", "["):
                return base
            self.i += 1
            optional = value == "?."
            if value in (".", "?.") and not self.is_op("["):
                k_kind, key, _ = self.next()
                if k_kind != "name" and not (k_kind == "op" and key in WORD_OPS):
                    self.i -= 1
                    raise self.error(f"expected name; got {self._describe()}")
                base = _member(base, _constant(key), optional)
                continue
            if value == "?.":
                self.expect("[")
            index = self.expression(0)
            self.expect("]")
            base = _member(base, index, optional)


def _constant(value: Any) -> Fn:
    fn = lambda x: value  # noqa: E731
    fn.constant = value  # type: ignore[attr-defined]
    return fn


def _member(base: Fn, key: Fn, optional: bool) -> Fn:
    const = getattr(key, "constant", _MISSING)
    if const is not _MISSING:
        return lambda x: rt.fetch(base(x), const, optional)
    return lambda x: rt.fetch(base(x), key(x), optional)


def _matches(a: Fn, b: Fn) -> Fn:
    """``matches`` with Go regexp syntax; a constant pattern is compiled (and checked) once."""
    const = getattr(b, "constant", _MISSING)
    if isinstance(const, str):
        try:
            pattern = compile_go_regex(const)
        except ValueError as exc:
            raise ValueError(f"error parsing regexp: {exc}") from None
        return lambda x: _match(a(x), pattern)

    def dynamic(x: Any) -> bool:
        p = b(x)
        if not isinstance(p, str):
            raise ExprError(f"invalid operation: matches {rt.go_type(p)}")
        try:
            return _match(a(x), compile_go_regex(p))
        except ValueError as exc:
            raise ExprError(f"error parsing regexp: {exc}") from None
    return dynamic


def _match(value: Any, pattern: re.Pattern) -> bool:
    if not isinstance(value, str):
        raise ExprError(f"invalid operation: {rt.go_type(value)} matches string")
    return pattern.search(value) is not None
