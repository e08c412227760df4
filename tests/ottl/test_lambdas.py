"""Lambda arguments: the feature gate, parameters in scope, and paths that are not paths."""

from __future__ import annotations

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otelflow.core import featuregates
from otelflow.ottl.collection import infer_context
from otelflow.ottl.compiler import Parser
from otelflow.ottl.contexts import CONTEXTS
from otelflow.ottl.contexts.base import TransformContext
from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.funcs import STANDARD
from otelflow.ottl.values import PMap, to_raw


@pytest.fixture
def lambdas():
    gate = featuregates.OTTL_LAMBDA
    featuregates.REGISTRY.set(gate, True)
    yield Parser(CONTEXTS["span"], STANDARD)
    featuregates.REGISTRY.set(gate, False)


def _span() -> Span:
    span = Span(name="GET /x")
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        span.attributes.add(key=key).value.int_value = value
    return span


def _run(parser: Parser, statement: str, span: Span, prepend: bool = False) -> dict:
    parser.parse_statement(statement, prepend_context=prepend).execute(TransformContext(span=span))
    return to_raw(PMap(span.attributes))


def test_refused_while_the_gate_is_off():
    parser = Parser(CONTEXTS["span"], STANDARD)
    with pytest.raises(OttlConfigError, match="require the `ottl.functions.enableLambda` feature gate"):
        parser.parse_statement('set(span.attributes["x"], Any(span.attributes, (k, v) => true))')


def test_each_converter(lambdas):
    span = _span()
    _run(lambdas, 'set(span.attributes["f"], Filter(span.attributes, (k, v) => v >= 2))', span)
    _run(lambdas, 'set(span.attributes["m"], MapEach([1, 2], (i, v) => v + i))', span)
    _run(lambdas, 'set(span.attributes["r"], Reduce([1, 2, 3], 10, (acc, i, v) => acc - v))', span)
    _run(lambdas, 'set(span.attributes["k"], MapKeys(span.attributes["f"], (k, v) => "same"))', span)
    out = _run(lambdas, 'set(span.attributes["w"], When(() => span.name == "GET /x", 1, 2))', span)
    assert out["f"] == {"b": 2, "c": 3}
    assert out["m"] == [1, 3]
    assert out["r"] == 4
    assert out["k"] == {"same": 3}  # a later value overwrites the first key's value, in its slot
    assert out["w"] == 1


def test_nested_lambdas_see_outer_parameters_and_blank_ones_bind_nothing(lambdas):
    out = _run(lambdas, 'set(span.attributes["n"], Any([[1], [2, 3]], (i, v) => Any(v, (_, w) => w == 3 and i == 1)))',
               _span())
    assert out["n"] is True


def test_a_parameter_is_not_a_path(lambdas):
    with pytest.raises(OttlConfigError, match='local identifier "k.x" cannot use "." to access nested fields'):
        lambdas.parse_statement('set(span.attributes["x"], Any(span.attributes, (k, v) => k.x == 1))')
    with pytest.raises(OttlConfigError, match='duplicate local identifier "k"'):
        lambdas.parse_statement('set(span.attributes["x"], Any(span.attributes, (k, k) => true))')
    with pytest.raises(OttlConfigError, match="exactly 2 formal"):
        lambdas.parse_statement('set(span.attributes["x"], Any(span.attributes, (k) => true))')


def test_grouped_form_does_not_prefix_parameters(lambdas):
    out = _run(lambdas, 'set(attributes["x"], Any(attributes, (k, v) => k == "b"))', _span(), prepend=True)
    assert out["x"] is True


def test_inference_ignores_parameters(lambdas):
    contexts = {name: CONTEXTS[name] for name in ("resource", "scope", "span", "spanevent")}
    functions = {name: STANDARD for name in contexts}
    assert infer_context(['set(span.attributes["x"], Any(resource.attributes, (k, v) => v == 1))'],
                         candidates=contexts, functions=functions) == "span"


def test_a_predicate_must_give_a_bool(lambdas):
    stmt = lambdas.parse_statement('set(span.attributes["x"], Any([1], (i, v) => "yes"))')
    with pytest.raises(OttlError, match="lambda expression must return a value of type bool, got string"):
        stmt.execute(TransformContext(span=_span()))
