"""Syntax tree to closures: statements and conditions compiled once, run per item.

A ``Parser`` is bound to one context (span, log, datapoint, ...) and one function table, as
upstream's ``ottl.Parser[K]``. Everything that can be checked without data is checked here, with
upstream's messages: unknown functions and paths, argument counts, literal argument types, enums.
What remains for run time are the checks upstream also leaves there (a typed getter meeting a
value of another type, a failed conversion).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.ottl import grammar as g
from otelflow.ottl.compare import compare
from otelflow.ottl.contexts.base import Key, Segment
from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.functions import FunctionDef, Kind, Param
from otelflow.ottl.getters import TYPED_GETTERS, Constant
from otelflow.ottl.operators import index_value, math_op, negate
from otelflow.ottl.treewalk import prepend_context as prefix_paths
from otelflow.ottl.values import get_value

Getter = Callable[[Any], Any]

_MAX_INT64 = 2**63 - 1


@dataclass(eq=False)
class Statement:
    text: str
    editor: Callable[[Any], Any]
    condition: Callable[[Any], bool] | None

    def execute(self, ctx: Any) -> bool:
        """Run the editor where the condition holds; returns whether it did."""
        cond = self.condition
        if cond is not None and not cond(ctx):
            return False
        self.editor(ctx)
        return True


@dataclass(eq=False)
class Condition:
    text: str
    eval: Callable[[Any], bool]


@dataclass(eq=False)
class ValueExpression:
    text: str
    get: Getter


class Lambda:
    """A lambda argument (``(k, v) => ...``), behind upstream's alpha ottl.functions.enableLambda gate.

    Its arguments are bound in ``ctx.locals`` while the body runs, so nested lambdas see the outer
    ones' bindings, as upstream's chained activations do."""

    __slots__ = ("params", "body", "is_predicate", "constant")

    def __init__(self, params: list[str], body: Callable[[Any], Any], is_predicate: bool):
        self.params = params
        self.body = body
        self.is_predicate = is_predicate
        self.constant = body.value if isinstance(body, Constant) else _NO_CONSTANT

    def check_arity(self, n: int) -> None:
        if len(self.params) != n:
            raise OttlConfigError(f"lambda should be defined with exactly {n} formal(s), but has {len(self.params)}")

    def call(self, ctx: Any, *args: Any) -> Any:
        if self.constant is not _NO_CONSTANT:
            return self.constant
        outer = ctx.locals
        bound = dict(outer) if outer else {}
        for name, value in zip(self.params, args):
            if name != "_":
                bound[name] = _normalize(value)
        ctx.locals = bound
        try:
            return self.body(ctx)
        finally:
            ctx.locals = outer


_NO_CONSTANT = object()


def _normalize(value: Any) -> Any:
    """ottlcommon.NormalizeValue: an AnyValue becomes the Go value it holds."""
    return get_value(value) if isinstance(value, AnyValue) else value


class Parser:
    def __init__(self, context: Any, functions: dict[str, FunctionDef],
                 not_supported: dict[str, str] | None = None):
        self.context = context
        self.functions = functions
        self.not_supported = not_supported or {}
        self.context_names = tuple(context.path_context_names)
        self._scopes: list[set[str]] = []  # lambda parameters in scope, innermost last

    # ---------------------------------------------------------------- entry points
    def parse_statement(self, text: str, prepend_context: bool = False) -> Statement:
        tree = g.parse_statement(text)
        if prepend_context:
            prefix_paths(tree, self.context.name, self.context_names)
        editor = self._call(tree.editor, editor=True)
        cond = self._bool(tree.where) if tree.where is not None else None
        return Statement(text, editor, cond)

    def parse_condition(self, text: str, prepend_context: bool = False) -> Condition:
        tree = g.parse_condition(text)
        if prepend_context:
            prefix_paths(tree, self.context.name, self.context_names)
        return Condition(text, self._bool(tree))

    def parse_value_expression(self, text: str, prepend_context: bool = False) -> ValueExpression:
        tree = g.parse_value_expression(text)
        if prepend_context:
            prefix_paths(tree, self.context.name, self.context_names)
        return ValueExpression(text, self._getter(tree))

    # ---------------------------------------------------------------- booleans
    def _bool(self, node: g.BoolExpr) -> Callable[[Any], bool]:
        if isinstance(node, g.BoolConst):
            value = node.value
            return lambda ctx: value
        if isinstance(node, g.Comparison):
            left, right, op = self._getter(node.left), self._getter(node.right), node.op
            return lambda ctx: compare(left(ctx), right(ctx), op)
        if isinstance(node, g.BoolCall):
            call = self._call(node.call)

            def converter_bool(ctx):
                v = call(ctx)
                if type(v) is not bool:
                    raise OttlError(f"value returned from Converter in constExpr is not a bool: {v}")
                return v
            return converter_bool
        if isinstance(node, g.Not):
            inner = self._bool(node.operand)
            return lambda ctx: not inner(ctx)
        if isinstance(node, g.And):
            parts = [self._bool(o) for o in node.operands]
            return lambda ctx: all(p(ctx) for p in parts)
        if isinstance(node, g.Or):
            parts = [self._bool(o) for o in node.operands]
            return lambda ctx: any(p(ctx) for p in parts)
        raise OttlConfigError(f"unsupported boolean expression {node!r}")

    # ---------------------------------------------------------------- values
    def _getter(self, node: Any) -> Getter:
        if isinstance(node, g.Literal):
            return Constant(node.value)
        if isinstance(node, g.EnumNode):
            return Constant(self._enum(node.name))
        if isinstance(node, g.PathNode):
            return self._path(node).get
        if isinstance(node, g.CallNode):
            if node.is_editor:
                raise OttlConfigError(f"converter names must start with an uppercase letter but got '{node.name}'")
            return self._call(node)
        if isinstance(node, g.ListNode):
            items = [self._getter(v) for v in node.items]
            if all(isinstance(i, Constant) for i in items):
                return Constant([i.value for i in items])
            return lambda ctx: [i(ctx) for i in items]
        if isinstance(node, g.MapNode):
            items = [(k, self._getter(v)) for k, v in node.items]
            if all(isinstance(v, Constant) for _, v in items):
                return Constant({k: v.value for k, v in items})
            return lambda ctx: {k: v(ctx) for k, v in items}
        if isinstance(node, g.MathNode):
            return math_op(self._getter(node.left), node.op, self._getter(node.right))
        if isinstance(node, g.NegNode):
            return negate(self._getter(node.operand))
        if isinstance(node, g.LambdaNode):
            raise OttlConfigError("lambda expressions are only valid as function arguments")
        raise OttlConfigError(f"unsupported value {node!r}")

    def _enum(self, name: str) -> int:
        return self.context.parse_enum(name)

    def _in_scope(self, name: str) -> bool:
        return any(name in frame for frame in self._scopes)

    def _local(self, node: g.PathNode) -> Any:
        """A lambda parameter used as a path: its bound value, indexed by its keys; read-only."""
        if node.context or len(node.fields) > 1:
            raise OttlConfigError(f'local identifier "{node.text}" cannot use "." to access nested fields')
        name = node.fields[0].name
        keys = [self._key(k) for k in node.fields[0].keys]

        def get(ctx):
            bound = ctx.locals
            if bound is None or name not in bound:
                raise OttlError(f'local identifier "{name}" evaluated outside of an active local scope')
            value = bound[name]
            if keys:
                try:
                    return index_value(ctx, value, keys)
                except OttlError as e:
                    raise OttlError(f'cannot index local identifier "{name}": {e}') from None
            return value

        def set_(ctx, value):
            raise OttlError(f'local identifier "{node.text}" cannot be set')
        return _LocalPath(node.text, get, set_)

    def _lambda(self, node: Any) -> Lambda:
        from otelflow.core import featuregates
        if not isinstance(node, g.LambdaNode):
            raise OttlConfigError("must be a lambda expression")
        if not featuregates.REGISTRY.is_enabled(featuregates.OTTL_LAMBDA):
            raise OttlConfigError(f"lambda expression arguments require the `{featuregates.OTTL_LAMBDA}` "
                                  "feature gate to be enabled")
        frame: set[str] = set()
        for name in node.params:
            if name == "_":
                continue
            if name in frame:
                raise OttlConfigError(f'duplicate local identifier "{name}"')
            frame.add(name)
        self._scopes.append(frame)
        try:
            if node.body_expr is not None:
                return Lambda(node.params, self._bool(node.body_expr), True)
            return Lambda(node.params, self._getter(node.body_value), False)
        finally:
            self._scopes.pop()

    def _path(self, node: g.PathNode):
        first = node.context or (node.fields[0].name if node.fields else "")
        if self._scopes and self._in_scope(first):
            return self._local(node)
        prefix = node.context
        if prefix:
            if prefix not in self.context_names:
                raise OttlConfigError(
                    f'context "{prefix}" from path "{node.text}" is not valid, it must be replaced by one of: '
                    f"{_names_text(self.context_names)}")
        else:
            raise OttlConfigError(
                f'missing context name for path "{node.text}", possibly valid options are: '
                f"{_names_text(self.context_names, node.text)}")
        segments = tuple(Segment(f.name, tuple(self._key(k) for k in f.keys)) for f in node.fields)
        return self.context.resolve(prefix, segments, node.text)

    def _key(self, key: g.KeyNode) -> Key:
        if key.string is not None:
            return Key(string=key.string)
        if key.int is not None:
            return Key(int=key.int)
        getter = self._getter(key.expr)
        if isinstance(getter, Constant):
            v = getter.value
            if isinstance(v, str):
                return Key(string=v)
            if type(v) is int:
                return Key(int=v)
        return Key(getter=getter)

    # ---------------------------------------------------------------- functions
    def _lookup(self, name: str, pos: int) -> FunctionDef:
        defn = self.functions.get(name)
        if defn is None:
            if name in self.not_supported:
                raise OttlConfigError(f'function "{name}" is not supported yet by otelflow: {self.not_supported[name]}')
            close = difflib.get_close_matches(name, list(self.functions), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise OttlConfigError(f'undefined function "{name}"{hint}')
        if defn.contexts is not None and self.context.name not in defn.contexts:
            raise OttlConfigError(f'undefined function "{name}" (only available in the {", ".join(sorted(defn.contexts))} '
                                  f"context{'s' if len(defn.contexts) > 1 else ''})")
        return defn

    def _call(self, node: g.CallNode, editor: bool = False) -> Getter:
        defn = self._lookup(node.name, node.pos)
        try:
            kwargs = self._arguments(node, defn)
        except OttlConfigError as e:
            raise OttlConfigError(f'error while parsing arguments for call to "{node.name}": {e}') from None
        try:
            run = defn.build(**kwargs)
        except OttlConfigError as e:
            raise OttlConfigError(f"couldn't create function: {e}") from None
        if node.keys:
            keys = [self._key(k) for k in node.keys]
            inner = run

            def run(ctx, inner=inner, keys=keys):  # noqa: F811 - keys applied to the result
                return index_value(ctx, inner(ctx), keys)
        return run

    def _arguments(self, node: g.CallNode, defn: FunctionDef) -> dict[str, Any]:
        params = defn.params
        seen_named = False
        for a in node.args:
            if a.name is not None:
                seen_named = True
            elif seen_named:
                raise OttlConfigError("unnamed argument used after named argument")
        required = sum(1 for p in params if not p.optional)
        if len(node.args) < required or len(node.args) > len(params):
            raise OttlConfigError(f"incorrect number of arguments. Expected: {len(params)} Received: {len(node.args)}")
        by_name = {p.name: p for p in params}
        out: dict[str, Any] = {p.name: None for p in params}
        for i, arg in enumerate(node.args):
            if arg.name is None:
                param = params[i]
            else:
                param = by_name.get(_snake(arg.name)) or by_name.get(arg.name)
                if param is None:
                    raise OttlConfigError(f"no such parameter: {arg.name}")
            try:
                out[param.name] = self._argument(arg, param)
            except OttlConfigError as e:
                raise OttlConfigError(f"invalid argument at position {i}: {e}") from None
        return out

    def _argument(self, arg: g.ArgNode, param: Param) -> Any:
        if param.kind is Kind.FUNCTION:
            if isinstance(arg.value, g.EnumNode):
                name = arg.value.name
            elif arg.function_name is not None:
                name = arg.function_name
            else:
                raise OttlConfigError("invalid function name given")
            defn = self.functions.get(name)
            if defn is None:
                raise OttlConfigError(f"undefined function {name}")
            return defn
        if arg.value is None:
            raise OttlConfigError(f'"{arg.function_name}" is not a valid value: converters are called with "()"')
        if param.is_list:
            if not isinstance(arg.value, g.ListNode):
                if param.runtime_slice:
                    return self._getter(arg.value)
                raise OttlConfigError(f"must be a list of type {param.kind.value}")
            out = []
            for i, item in enumerate(arg.value.items):
                try:
                    out.append(self._single(item, param.kind))
                except OttlConfigError as e:
                    raise OttlConfigError(f"error while parsing list argument at index {i}: {e}") from None
            return out
        return self._single(arg.value, param.kind)

    def _single(self, value: Any, kind: Kind) -> Any:
        if kind is Kind.LAMBDA:
            return self._lambda(value)
        if kind is Kind.ENUM:
            if not isinstance(value, g.EnumNode) or not self.context.has_enum(value.name):
                raise OttlConfigError("must be an Enum")
            return self.context.parse_enum(value.name)
        if kind is Kind.STRING:
            if not (isinstance(value, g.Literal) and value.kind == "string"):
                raise OttlConfigError("must be a string")
            return value.value
        if kind is Kind.FLOAT:
            if not (isinstance(value, g.Literal) and value.kind == "float"):
                raise OttlConfigError("must be a float")
            return value.value
        if kind is Kind.INT:
            if not (isinstance(value, g.Literal) and value.kind == "int"):
                raise OttlConfigError("must be an int")
            return value.value
        if kind is Kind.BOOL:
            if not (isinstance(value, g.Literal) and value.kind == "bool"):
                raise OttlConfigError("must be a bool")
            return value.value
        if kind is Kind.BYTES:
            if not (isinstance(value, g.Literal) and value.kind == "bytes"):
                raise OttlConfigError("slice parameter must be a byte slice literal")
            return value.value
        if kind.is_setter:
            if not isinstance(value, g.PathNode):
                raise OttlConfigError("must be a path")
            return self._path(value)
        return TYPED_GETTERS[kind](self._getter(value))


@dataclass(eq=False)
class _LocalPath:
    text: str
    get: Callable[[Any], Any]
    set: Callable[[Any, Any], None]


def _snake(name: str) -> str:
    """Named arguments match parameters as upstream's strcase.ToCamel does: ``resolveConflicts``
    and ``resolve_conflicts`` both name the parameter ``resolve_conflicts``."""
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and name[i - 1] != "_":
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _names_text(names: tuple[str, ...], path: str = "") -> str:
    if path:
        return ", ".join(f'"{n}.{path}"' for n in names)
    return ", ".join(f'"{n}"' for n in names)
