"""--feature-gates: stages, errors, and a gate changing what OTTL's set() does with nil."""

from __future__ import annotations

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otelflow.cli import main
from otelflow.core import featuregates
from otelflow.core.featuregates import ALPHA, BETA, DEPRECATED, STABLE, GateError, Registry
from otelflow.ottl.compiler import Parser
from otelflow.ottl.contexts import CONTEXTS
from otelflow.ottl.contexts.base import TransformContext
from otelflow.ottl.funcs import STANDARD


def test_stages_set_the_default_and_what_may_change():
    reg = Registry()
    reg.register("a", ALPHA, "")
    reg.register("b", BETA, "")
    reg.register("s", STABLE, "")
    reg.register("d", DEPRECATED, "")
    assert [g.enabled for g in reg.gates()] == [False, True, False, True]
    reg.apply("+a, -b")
    assert reg.is_enabled("a") and not reg.is_enabled("b")
    reg.apply("b")
    assert reg.is_enabled("b")
    with pytest.raises(GateError, match='feature gate "s" is stable, can not be disabled'):
        reg.apply("-s")
    with pytest.raises(GateError, match='feature gate "d" is deprecated, can not be enabled'):
        reg.apply("+d")
    with pytest.raises(GateError, match='no such feature gate "x"'):
        reg.apply("+x")


def test_cli_refuses_an_unknown_gate(capsys):
    assert main(["--feature-gates=+no.such.gate", "components"]) == 1
    assert 'no such feature gate "no.such.gate"' in capsys.readouterr().err


def test_cli_knows_gates_that_components_register(capsys):
    """A component's module registers its gates when imported, after the flags are read: the CLI
    imports the components before it applies --feature-gates."""
    try:
        assert main(["--feature-gates=receiver.postgresql.separateSchemaAttr", "components"]) == 0
        assert featuregates.REGISTRY.is_enabled("receiver.postgresql.separateSchemaAttr")
    finally:
        featuregates.REGISTRY.set("receiver.postgresql.separateSchemaAttr", False)


def _set_nil(span: Span) -> None:
    stmt = Parser(CONTEXTS["span"], STANDARD).parse_statement('set(span.attributes["a"], span.attributes["missing"])')
    stmt.execute(TransformContext(span=span))


def test_set_allow_nil_gate():
    gate = featuregates.OTTL_SET_ALLOW_NIL
    assert featuregates.REGISTRY.is_enabled(gate)  # beta: on by default, as in v0.161.0
    span = Span()
    span.attributes.add(key="a").value.string_value = "kept?"
    _set_nil(span)
    assert span.attributes[0].value.WhichOneof("value") is None  # nil written: an empty value
    featuregates.REGISTRY.set(gate, False)
    try:
        span.attributes[0].value.string_value = "kept"
        _set_nil(span)
        assert span.attributes[0].value.string_value == "kept"  # nil skipped
    finally:
        featuregates.REGISTRY.set(gate, True)
