"""The expression language of stanza's `if`, router/filter `expr`, `EXPR(...)` values and recombine
conditions: the shared expr-lang engine (``otelflow.exprlang``) with stanza's environment, compiled
as upstream does with undefined variables allowed.

Environment: ``body`` (also ``$``), ``attributes``, ``resource``, ``timestamp`` (int ns here, a
time.Time upstream), ``env("NAME")`` and expr-lang's builtins; any other identifier is nil. Runtime
type errors raise ``ExprError`` (the operator's `on_error` then applies), as expr-lang's VM panics do.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from otelflow import exprlang
from otelflow.exprlang import Environment, ExprError, Function, go_type, to_string
from otelflow.exprlang.runtime import fail
from otelflow.stanza.entry import Entry

__all__ = ["ENTRY_ENV", "ExprError", "ExprString", "Fn", "compile_bool", "compile_expr"]

Fn = Callable[[Entry], Any]

ENTRY_ENV = Environment(
    variables={
        "body": lambda e: e.body,
        "$": lambda e: e.body,
        "attributes": lambda e: e.attributes if e.attributes is not None else {},
        "resource": lambda e: e.resource if e.resource is not None else {},
        "timestamp": lambda e: e.timestamp,
    },
    functions={"env": Function(1, 1, lambda name: os.environ.get(name, "") if isinstance(name, str)
                               else fail("env: expected a string"))},
)


def compile_expr(source: str) -> Fn:
    """Compile an expression once; the result evaluates it against an entry.

    Raises ValueError with a positioned message on a syntax error or an unknown function.
    """
    return exprlang.compile(source, ENTRY_ENV)


def compile_bool(source: str) -> Callable[[Entry], bool]:
    """An expression whose result must be a bool (expr-lang's AsBool, checked per entry)."""
    fn = compile_expr(source)

    def run(entry: Entry) -> bool:
        v = fn(entry)
        if not isinstance(v, bool):
            raise ExprError(f"expected bool, but got {go_type(v)}")
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
                raise ExprError(f"embedded expression returned non-string {to_string(value)}")
            out.append(value)
        out.append(self.literals[-1])
        return "".join(out)
