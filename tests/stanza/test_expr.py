"""The expression language: expr-lang's semantics for the subset operator configs use."""

from __future__ import annotations

import re

import pytest

from otelflow.stanza.entry import Entry
from otelflow.stanza.expr import ExprError, ExprString, compile_bool, compile_expr


@pytest.fixture
def entry() -> Entry:
    return Entry(
        body={"a": 1.0, "s": "hello world", "l": [1, 2, 3], "m": {"k": "v"}, "t": True},
        attributes={"log.file.path": "/var/log/x.log", "n": 5},
        resource={"host": "h1"},
        timestamp=42,
    )


@pytest.mark.parametrize(
    "source, expected",
    [
        ("body.a == 1", True),  # int/float compare numerically
        ("1 == 1.0", True),
        ("true == 1", False),  # bool is not a number
        ('"1" == 1', False),  # mismatched types are unequal, not an error
        ("body.missing == nil", True),
        ("attributes.n > 4 and attributes.n <= 5", True),
        ('attributes["log.file.path"] startsWith "/var"', True),
        ('body.s endsWith "world"', True),
        ('body.s contains "o w"', True),
        ('body.s matches "^hel+o\\\\s"', True),
        ('body.s not matches "^x"', True),
        ('"k" in body.m', True),
        ('"z" not in body.m', True),
        ("2 in body.l", True),
        ("body.l[-1]", 3),
        ("body.l[0] + body.l[1]", 3),
        ("body['m']['k']", "v"),
        ("body.missing ?? 'd'", "d"),
        ("body.a ?? 'd'", 1.0),
        ("body.a > 0 ? 'pos' : 'neg'", "pos"),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 % 3", 1),
        ("2 ** 3 ** 2", 512.0),  # right associative
        ("-attributes.n", -5),
        ('"a" + "b"', "ab"),
        ("len(body.s)", 11),
        ("len(body.m)", 1),
        ('upper("x") + lower("Y")', "Xy"),
        ("not true or true", True),
        ("!false && !!true", True),
        ("not false == true", True),  # `not` binds tighter than == (expr-lang precedence)
        ("resource.host", "h1"),
        ("$.a", 1.0),  # $ is the body
        ("timestamp", 42),
        ("unknown_variable", None),
        ("body?.nope?.deeper", None),
        ("type(body.l)", "array"),
        ("int('12') + 1", 13),
        ("string(3.0)", "3"),
        ("`raw\\n`", "raw\\n"),
        ('"tab\\t"', "tab\t"),
        ("0x10 + 1_000", 1016),
        ("[1, 'a'][1]", "a"),
        ("{'k': 1}.k", 1),
    ],
)
def test_values(entry: Entry, source: str, expected: object) -> None:
    result = compile_expr(source)(entry)
    assert result == expected and type(result) is type(expected)


def test_nil_attributes_map_reads_as_empty() -> None:
    assert compile_expr("attributes.x")(Entry(body="b")) is None
    assert compile_expr('"x" in resource')(Entry(body="b")) is False


@pytest.mark.parametrize(
    "source, message",
    [
        ("body.missing.deeper", "cannot fetch deeper from <nil>"),
        ("body.a < 'x'", "invalid operation: float64 < string"),
        ("body.a and true", "expected bool"),
        ("body.s + 1", "invalid operation: string + int"),
        ("body.a contains 'x'", "invalid operation"),
        ("body.l[10]", "index out of range"),
        ("body.s.x", "cannot fetch x from string"),
        ("1 % 0", "integer divide by zero"),
    ],
)
def test_runtime_errors(entry: Entry, source: str, message: str) -> None:
    with pytest.raises(ExprError, match=re.escape(message)):
        compile_expr(source)(entry)


@pytest.mark.parametrize("source", ["", "body ==", "(1", "foo(1)", "body..x", "1 +* 2", "'unterminated", "len(1, 2)", "a ? b"])
def test_syntax_errors_raise_value_error(source: str) -> None:
    with pytest.raises(ValueError):
        compile_expr(source)


def test_bad_regex_is_a_compile_error() -> None:
    with pytest.raises(ValueError, match="error parsing regexp"):
        compile_expr('body matches "("')


def test_compile_bool_rejects_non_bool(entry: Entry) -> None:
    assert compile_bool("body.a == 1")(entry) is True
    with pytest.raises(ExprError, match="expected bool, but got string"):
        compile_bool("body.s")(entry)


def test_env_function(entry: Entry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTELFLOW_EXPR_TEST", "yes")
    assert compile_expr('env("OTELFLOW_EXPR_TEST") == "yes"')(entry) is True
    assert compile_expr('env("OTELFLOW_EXPR_UNSET_VAR")')(entry) == ""


def test_expr_string(entry: Entry) -> None:
    assert ExprString("path=EXPR(attributes['log.file.path']) host=EXPR(resource.host)!").render(entry) == (
        "path=/var/log/x.log host=h1!"
    )
    assert ExprString("no expressions").render(entry) == "no expressions"
    with pytest.raises(ExprError, match="non-string"):
        ExprString("EXPR(body.a)").render(entry)
    with pytest.raises(ValueError, match="compile embedded expression"):
        ExprString("EXPR(body ==)")


def test_compiled_once_evaluated_many() -> None:
    fn = compile_expr("body.i % 2 == 0")
    assert [fn(Entry(body={"i": i})) for i in range(4)] == [True, False, True, False]
