"""What an expression can see: the names it may read (each a reader of the input it is run on) and
the functions it may call. Callers of the engine differ only in their environment (expr-lang's
``expr.Env`` plus ``expr.Function`` options)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from otelflow.exprlang.runtime import BUILTINS


@dataclass(frozen=True)
class Function:
    """A callable name. ``with_input`` functions get the input first, then the call's arguments."""

    min_args: int
    max_args: int
    fn: Callable[..., Any]
    with_input: bool = False


@dataclass(frozen=True)
class Environment:
    """``variables`` read a value from the input; ``allow_undefined`` makes any other name nil
    (expr-lang's AllowUndefinedVariables) instead of a compile error; ``builtins`` adds expr-lang's
    builtin functions (len, int, lower, ...) to ``functions``."""

    variables: Mapping[str, Callable[[Any], Any]]
    functions: Mapping[str, Function] = field(default_factory=dict)
    builtins: bool = True
    allow_undefined: bool = True

    def variable(self, name: str) -> Callable[[Any], Any] | None:
        reader = self.variables.get(name)
        if reader is None and self.allow_undefined:
            return _nil
        return reader

    def function(self, name: str) -> Function | None:
        found = self.functions.get(name)
        if found is None and self.builtins and name in BUILTINS:
            low, high, fn = BUILTINS[name]
            return Function(low, high, fn)
        return found


def _nil(_: Any) -> None:
    return None
