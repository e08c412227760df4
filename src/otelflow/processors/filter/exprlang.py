"""The subset of expr-lang that the legacy ``match_type: expr`` metric filter needs
(internal/filter/filterexpr): a metric matches when the expression is true for any of its data
points, with ``MetricName``, ``MetricType`` ("Gauge", "Sum", "Histogram", "ExponentialHistogram",
"Summary"), ``HasLabel("k")`` and ``Label("k")`` (the point's string attribute, or "").

Supported: string, number and boolean literals, those names and calls, ``==``, ``!=``, ``<``,
``<=``, ``>``, ``>=``, ``matches``, ``contains``, ``startsWith``, ``endsWith``, ``in [..]``,
``!``/``not``, ``&&``/``and``, ``||``/``or`` and parentheses. Anything else is refused at load.
"""

from __future__ import annotations

import re
from typing import Any, Callable

_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<num>\d+(?:\.\d+)?)|"""
                    r"""(?P<op>==|!=|<=|>=|&&|\|\||[()<>!,\[\]])|(?P<name>[A-Za-z_][A-Za-z0-9_]*))""")
_TYPES = {"gauge": "Gauge", "sum": "Sum", "histogram": "Histogram", "exponential_histogram": "ExponentialHistogram",
          "summary": "Summary"}


class ExprError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExprError(f"unexpected character {text[pos:].strip()[:1]!r} in expression {text!r}")
        pos = m.end()
        if m.group("str") is not None:
            raw = m.group("str")
            out.append(("lit", bytes(raw[1:-1], "utf-8").decode("unicode_escape")))
        elif m.group("num") is not None:
            n = m.group("num")
            out.append(("lit", float(n) if "." in n else int(n)))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        else:
            out.append(("name", m.group("name")))
    out.append(("end", None))
    return out


Env = dict  # MetricName, MetricType, attrs (dict of the point's attributes: key -> AnyValue)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, op: str):
        t = self.take()
        if t != ("op", op):
            raise ExprError(f"expected {op!r} in expression {self.text!r}")

    def parse(self) -> Callable[[Env], Any]:
        e = self.or_()
        if self.peek()[0] != "end":
            raise ExprError(f"unexpected {self.peek()[1]!r} in expression {self.text!r}")
        return e

    def or_(self):
        left = self.and_()
        while self.peek() in (("op", "||"), ("name", "or")):
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda env: bool(a(env)) or bool(b(env)))(left, right)
        return left

    def and_(self):
        left = self.not_()
        while self.peek() in (("op", "&&"), ("name", "and")):
            self.take()
            right = self.not_()
            left = (lambda a, b: lambda env: bool(a(env)) and bool(b(env)))(left, right)
        return left

    def not_(self):
        if self.peek() in (("op", "!"), ("name", "not")):
            self.take()
            inner = self.not_()
            return lambda env: not inner(env)
        return self.compare()

    def compare(self):
        left = self.primary()
        kind, op = self.peek()
        if kind == "op" and op in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.primary()
            return _binary(op, left, right)
        if kind == "name" and op in ("matches", "contains", "startsWith", "endsWith", "in"):
            self.take()
            if op == "in":
                self.expect("[")
                items = []
                while self.peek() != ("op", "]"):
                    items.append(self.primary())
                    if self.peek() == ("op", ","):
                        self.take()
                self.expect("]")
                return lambda env: left(env) in [i(env) for i in items]
            right = self.primary()
            if op == "matches":
                return lambda env: re.search(right(env), left(env)) is not None
            fn = {"contains": str.__contains__, "startsWith": str.startswith, "endsWith": str.endswith}[op]
            return lambda env: fn(left(env), right(env))
        return left

    def primary(self):
        kind, value = self.take()
        if kind == "lit":
            return lambda env: value
        if kind == "op" and value == "(":
            e = self.or_()
            self.expect(")")
            return e
        if kind == "name":
            if value in ("true", "false"):
                const = value == "true"
                return lambda env: const
            if value in ("MetricName", "MetricType"):
                return lambda env: env[value]
            if value in ("HasLabel", "Label"):
                self.expect("(")
                arg = self.primary()
                self.expect(")")
                if value == "HasLabel":
                    return lambda env: arg(env) in env["attrs"]
                return lambda env: _str(env["attrs"].get(arg(env)))
        raise ExprError(f"{value!r} is not supported in expr expressions by otelflow (expression {self.text!r})")


def _str(value) -> str:
    if value is None or value.WhichOneof("value") != "string_value":
        return ""
    return value.string_value


def _binary(op: str, left, right):
    import operator
    fn = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
          ">=": operator.ge}[op]
    return lambda env: fn(left(env), right(env))


class ExprMatcher:
    """filterexpr.Matcher over one metric: true when the expression holds for some data point."""

    def __init__(self, expressions: list[str]):
        self.programs = [_Parser(e).parse() for e in expressions]

    def matches(self, metric) -> bool:
        kind = metric.WhichOneof("data")
        if kind is None:
            return False
        mtype = _TYPES[kind]
        for program in self.programs:
            for dp in getattr(metric, kind).data_points:
                env = {"MetricName": metric.name, "MetricType": mtype,
                       "attrs": {kv.key: kv.value for kv in dp.attributes}}
                if program(env) is True:
                    return True
        return False
