"""How an OTTL function is declared: its name, typed parameters and a builder.

Upstream declares arguments as a Go struct and builds them by reflection; here a function is a
``FunctionDef`` with ``Param`` entries. The compiler checks a call's arguments against them once, at
config load, and hands the builder compiled arguments:

* getter kinds: a callable ``get(ctx) -> value``; the typed ones (``STRING_GETTER`` ...) raise
  ``OttlTypeError`` on a value of another type, the ``*_LIKE_GETTER`` ones convert as upstream does
  and return ``None`` for nil;
* ``GETSETTER`` kinds: a ``Path`` object with ``get(ctx)`` and ``set(ctx, value)``;
* literal kinds (``STRING``, ``INT``, ``FLOAT``, ``BOOL``, ``BYTES``, ``ENUM``): the value itself;
* ``FUNCTION``: the ``FunctionDef`` of a converter named by the call (``SHA256`` in replace_pattern);
* ``LAMBDA``: a ``Lambda`` (compiler.py): ``check_arity(n)`` at build, ``call(ctx, *args)`` per use;
* an optional parameter left out: ``None``; a list parameter: a list of the above.

The builder returns the function's body, ``run(ctx) -> value``; it may raise ``OttlConfigError``
(an invalid regex, say), reported as "couldn't create function". A table of functions is an
immutable ``dict[str, FunctionDef]``; each component composes the table it offers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable


class Kind(enum.Enum):
    GETTER = "Getter"
    STRING_GETTER = "StringGetter"
    STRING_LIKE_GETTER = "StringLikeGetter"
    INT_GETTER = "IntGetter"
    INT_LIKE_GETTER = "IntLikeGetter"
    FLOAT_GETTER = "FloatGetter"
    FLOAT_LIKE_GETTER = "FloatLikeGetter"
    BOOL_GETTER = "BoolGetter"
    BOOL_LIKE_GETTER = "BoolLikeGetter"
    PMAP_GETTER = "PMapGetter"
    PSLICE_GETTER = "PSliceGetter"
    TIME_GETTER = "TimeGetter"
    DURATION_GETTER = "DurationGetter"
    BYTE_SLICE_LIKE_GETTER = "ByteSliceLikeGetter"
    GETSETTER = "GetSetter"
    PMAP_GETSETTER = "PMapGetSetter"
    PSLICE_GETSETTER = "PSliceGetSetter"
    STRING = "string"
    INT = "int64"
    FLOAT = "float64"
    BOOL = "bool"
    BYTES = "[]byte"
    ENUM = "Enum"
    FUNCTION = "FunctionGetter"
    LAMBDA = "LambdaExpression"

    @property
    def is_getter(self) -> bool:
        return self.value.endswith("Getter") and self is not Kind.FUNCTION

    @property
    def is_setter(self) -> bool:
        return self.value.endswith("Setter")

    @property
    def is_literal(self) -> bool:
        return self in (Kind.STRING, Kind.INT, Kind.FLOAT, Kind.BOOL, Kind.BYTES, Kind.ENUM)


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    optional: bool = False
    is_list: bool = False
    # A list parameter that also takes one getter giving a slice at run time (upstream's
    # SliceGetter): the builder then receives that getter instead of a list.
    runtime_slice: bool = False


@dataclass(frozen=True)
class FunctionDef:
    name: str
    params: tuple[Param, ...]
    build: Callable[..., Callable[[Any], Any]]
    # Contexts the function may be used in (upstream registers some only for one); None = all.
    contexts: frozenset[str] | None = None

    @property
    def is_editor(self) -> bool:
        return self.name[:1].islower()


@dataclass
class FunctionTable:
    """Collects FunctionDefs with decorators; ``table()`` freezes it into a plain dict."""

    defs: dict[str, FunctionDef] = field(default_factory=dict)

    def function(self, name: str, *params: Param, contexts: Iterable[str] | None = None):
        def register(build):
            if name in self.defs:
                raise RuntimeError(f"OTTL function {name} declared twice")
            self.defs[name] = FunctionDef(name, tuple(params), build,
                                          frozenset(contexts) if contexts is not None else None)
            return build
        return register

    def table(self) -> dict[str, FunctionDef]:
        return dict(self.defs)


def P(name: str, kind: Kind, *, optional: bool = False, is_list: bool = False,
      runtime_slice: bool = False) -> Param:
    return Param(name, kind, optional, is_list, runtime_slice)


def combine(*tables: dict[str, FunctionDef]) -> dict[str, FunctionDef]:
    out: dict[str, FunctionDef] = {}
    for t in tables:
        out.update(t)
    return out
