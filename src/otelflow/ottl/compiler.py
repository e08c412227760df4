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

from otelflow.ottl import grammar as g
from otelflow.ottl.compare import compare
from otelflow.ottl.contexts.base import Key, Segment
from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.functions import FunctionDef, Kind, Param
from otelflow.ottl.getters import TYPED_GETTERS, Constant
from otelflow.ottl.values import Duration, GoTime, PMap, PSlice, get_value

Getter = Callable[[Any], Any]

_MAX_INT64 = 2**63 - 1


def _wrap(v: int) -> int:
    return (v + 2**63) % 2**64 - 2**63


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
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue
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
            _prepend(tree, self.context.name, self.context_names)
        editor = self._call(tree.editor, editor=True)
        cond = self._bool(tree.where) if tree.where is not None else None
        return Statement(text, editor, cond)

    def parse_condition(self, text: str, prepend_context: bool = False) -> Condition:
        tree = g.parse_condition(text)
        if prepend_context:
            _prepend(tree, self.context.name, self.context_names)
        return Condition(text, self._bool(tree))

    def parse_value_expression(self, text: str, prepend_context: bool = False) -> ValueExpression:
        tree = g.parse_value_expression(text)
        if prepend_context:
            _prepend(tree, self.context.name, self.context_names)
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
            return _math(self._getter(node.left), node.op, self._getter(node.right))
        if isinstance(node, g.NegNode):
            return _negate(self._getter(node.operand))
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


def _prepend(tree: Any, context: str, valid: tuple[str, ...]) -> None:
    """Upstream's prependContextToStatementPaths: paths without a valid context get ``context.``."""
    for path in _paths(tree):
        if path.context not in valid:
            if path.context:
                path.fields.insert(0, g.FieldNode(path.context))
            path.context = context
            path.text = f"{context}.{path.text}"


def _paths(node: Any, scope: frozenset = frozenset()):
    """Paths a tree uses, leaving out lambda parameters (as upstream's path visitor does)."""
    if isinstance(node, g.LambdaNode):
        inner = scope | {p for p in node.params if p != "_"}
        yield from _paths(node.body_value, inner)
        yield from _paths(node.body_expr, inner)
        return
    if isinstance(node, g.PathNode):
        if (node.context or (node.fields[0].name if node.fields else "")) not in scope:
            yield node
        for f in node.fields:
            for k in f.keys:
                if k.expr is not None:
                    yield from _paths(k.expr, scope)
        return
    if isinstance(node, g.StatementNode):
        yield from _paths(node.editor, scope)
        if node.where is not None:
            yield from _paths(node.where, scope)
    elif isinstance(node, g.CallNode):
        for a in node.args:
            if a.value is not None:
                yield from _paths(a.value, scope)
        for k in node.keys:
            if k.expr is not None:
                yield from _paths(k.expr, scope)
    elif isinstance(node, g.Comparison):
        yield from _paths(node.left, scope)
        yield from _paths(node.right, scope)
    elif isinstance(node, g.BoolCall):
        yield from _paths(node.call, scope)
    elif isinstance(node, g.Not):
        yield from _paths(node.operand, scope)
    elif isinstance(node, (g.And, g.Or)):
        for o in node.operands:
            yield from _paths(o, scope)
    elif isinstance(node, g.MathNode):
        yield from _paths(node.left, scope)
        yield from _paths(node.right, scope)
    elif isinstance(node, g.NegNode):
        yield from _paths(node.operand, scope)
    elif isinstance(node, g.ListNode):
        for v in node.items:
            yield from _paths(v, scope)
    elif isinstance(node, g.MapNode):
        for _, v in node.items:
            yield from _paths(v, scope)


def statement_paths(tree: Any) -> list[g.PathNode]:
    """Every path a parsed statement or condition uses (for context inference)."""
    return list(_paths(tree))


def statement_functions(tree: Any) -> list[str]:
    """Every function name a parsed statement or condition calls (for context inference)."""
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, g.CallNode):
            names.append(node.name)
            for a in node.args:
                if a.value is not None:
                    walk(a.value)
                elif a.function_name:
                    names.append(a.function_name)
        elif isinstance(node, g.StatementNode):
            walk(node.editor)
            if node.where is not None:
                walk(node.where)
        elif isinstance(node, g.Comparison):
            walk(node.left)
            walk(node.right)
        elif isinstance(node, g.BoolCall):
            walk(node.call)
        elif isinstance(node, g.Not):
            walk(node.operand)
        elif isinstance(node, (g.And, g.Or)):
            for o in node.operands:
                walk(o)
        elif isinstance(node, g.MathNode):
            walk(node.left)
            walk(node.right)
        elif isinstance(node, g.NegNode):
            walk(node.operand)
        elif isinstance(node, g.ListNode):
            for v in node.items:
                walk(v)
        elif isinstance(node, g.MapNode):
            for _, v in node.items:
                walk(v)
        elif isinstance(node, g.LambdaNode):
            walk(node.body_value)
            walk(node.body_expr)
    walk(tree)
    return names


# ------------------------------------------------------------------------------------- indexing


def _resolve_key(ctx: Any, key: Key) -> Any:
    if key.string is not None:
        return key.string
    if key.int is not None:
        return key.int
    v = key.getter(ctx)
    if v is None:
        raise OttlError("key expression returned nil, expected an int or string")
    if isinstance(v, str) or type(v) is int:
        return v
    raise OttlError(f"key expression must evaluate to string or int, got {type(v).__name__}")


def index_value(ctx: Any, value: Any, keys: list[Key]) -> Any:
    """Keys on a converter's result (``Split(x, ",")[0]``), as upstream's getIndexedValue."""
    from otelflow.ottl.values import type_name
    result = value
    for key in keys:
        k = _resolve_key(ctx, key)
        if isinstance(k, str):
            if isinstance(result, PMap):
                av = result.get(k)
                if av is None:
                    raise OttlError("key not found in map")
                result = get_value(av)
            elif isinstance(result, dict):
                if k not in result:
                    raise OttlError("key not found in map")
                result = result[k]
            else:
                raise OttlError(f"type {type_name(result)} does not support string indexing")
        else:
            if isinstance(result, PSlice):
                if k >= len(result) or k < 0:
                    raise OttlError(f"index {k} out of bounds")
                result = get_value(result.at(k))
            elif isinstance(result, (list, bytes)):
                if k >= len(result) or k < 0:
                    raise OttlError(f"index {k} out of bounds")
                result = result[k]
            else:
                raise OttlError(f"type {type_name(result)} does not support int indexing")
    return result


# ------------------------------------------------------------------------------------- math


def _math(left: Getter, op: str, right: Getter) -> Getter:
    def run(ctx):
        x = left(ctx)
        y = right(ctx)
        tx = type(x)
        if tx is int or tx is float:
            ty = type(y)
            if ty is not int and ty is not float:
                raise OttlError(f"{_go_v(y)} must be int64 or float64")
            if tx is int and ty is int:
                if op == "+":
                    return _wrap(x + y)
                if op == "-":
                    return _wrap(x - y)
                if op == "*":
                    return _wrap(x * y)
                if y == 0:
                    raise OttlError("attempted to divide by 0")
                q = abs(x) // abs(y)
                return _wrap(q if (x >= 0) == (y >= 0) else -q)
            x, y = float(x), float(y)
            if op == "+":
                return x + y
            if op == "-":
                return x - y
            if op == "*":
                return x * y
            if y == 0:
                raise OttlError("attempted to divide by 0")
            return x / y
        if tx is GoTime:
            if op == "+":
                if type(y) is Duration:
                    return GoTime(x.ns + y.ns, x.tz)
                raise OttlError(f"time.Time must be added to time.Duration; found {_go_v(y)} instead")
            if op == "-":
                if type(y) is GoTime:
                    return Duration(x.ns - y.ns)
                if type(y) is Duration:
                    return GoTime(x.ns - y.ns, x.tz)
                raise OttlError(f"time.Time or time.Duration must be subtracted from time.Time; found {_go_v(y)} instead")
            raise OttlError("only addition and subtraction supported for time.Time and time.Duration")
        if tx is Duration:
            if op == "+":
                if type(y) is Duration:
                    return Duration(x.ns + y.ns)
                if type(y) is GoTime:
                    return GoTime(y.ns + x.ns, y.tz)
                raise OttlError(f"time.Duration must be added to time.Duration or time.Time; found {_go_v(y)} instead")
            if op == "-":
                if type(y) is Duration:
                    return Duration(x.ns - y.ns)
                raise OttlError(f"time.Duration must be subtracted from time.Duration; found {_go_v(y)} instead")
            raise OttlError("only addition and subtraction supported for time.Time and time.Duration")
        raise OttlError(f"{_go_v(x)} must be int64, float64, time.Time or time.Duration")
    if isinstance(left, Constant) and isinstance(right, Constant):
        try:
            return Constant(run(None))
        except OttlError:
            return run
    return run


def _negate(inner: Getter) -> Getter:
    def run(ctx):
        v = inner(ctx)
        if type(v) is int:
            return _wrap(-v)
        if type(v) is float:
            return -v
        from otelflow.ottl.values import type_name
        raise OttlError(f"unsupported unary minus operation on type {type_name(v)}")
    return run


def _go_v(v: Any) -> str:
    """fmt's %v of a value, enough for error messages."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        from otelflow.pdata.govalue import format_float_g
        return format_float_g(v)
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in v) + "]"
    return str(v)
