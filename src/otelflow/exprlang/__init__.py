"""One expr-lang (github.com/expr-lang/expr) engine for every place a config holds an expression:
stanza operators (``otelflow.stanza.expr``) and the filter processor's ``match_type: expr``
(``otelflow.exprlang.metrics``) differ only in the ``Environment`` they compile with."""

from otelflow.exprlang.compiler import Fn, UnknownName, compile
from otelflow.exprlang.environment import Environment, Function
from otelflow.exprlang.runtime import ExprError, go_type, to_string

__all__ = ["Environment", "ExprError", "Fn", "Function", "UnknownName", "compile", "go_type", "to_string"]
