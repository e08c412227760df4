"""The native OTTL fast path for traces (otelflow.native._ottl, Rust, built from native/ottl/).

The transform and filter processors compile their statements and conditions with the Python engine
as always (so every config error is the Python engine's); then ``transform_program`` /
``filter_program`` turn the same syntax trees into a compact program for the Rust module, or give
None when any statement or condition of the processor is outside the subset below — then the
processor runs entirely on the Python engine, as before.

At run time the request is serialized, run natively and parsed back. The native side hands a
request back to the Python engine (status ``BAIL``) whenever a statement fails under ``ignore`` or
``propagate`` (the error's text, the log line and the outcome are then the Python engine's own) or
meets a value it does not convert itself (a float to a string, a non-ASCII ToLowerCase); it never
changes the request it was given, so the Python engine starts from the original.

The subset, for groups of the span context (inferred, or ``context: span``):

* paths ``span.name``, ``span.kind``, ``span.trace_state``, ``span.status.code``,
  ``span.status.message``, ``span.trace_id.string``, ``span.span_id.string``,
  ``span.parent_span_id.string``, ``span.start_time_unix_nano``, ``span.end_time_unix_nano``,
  ``scope.name``, ``scope.version``, and ``span|resource|scope.attributes[<literal key>]``; the
  whole ``attributes`` maps as the target of the map editors;
* literals (string, int, float, bool, bytes, nil) and the span context's enums;
* editors ``set``, ``delete_key``, ``delete_matching_keys``, ``keep_matching_keys``, ``keep_keys``,
  ``limit``, ``truncate_all``, ``replace_pattern``, ``replace_all_patterns`` (literal patterns and
  replacements, without the optional function and format);
* converters ``IsMatch`` (literal pattern), ``Concat`` (a list literal), ``ToLowerCase``,
  ``ToUpperCase``; comparisons, ``and``, ``or``, ``not``, parentheses, ``where``, group conditions.
"""

from __future__ import annotations

import logging
from typing import Any

from otelflow.ottl import grammar as g
from otelflow.ottl.treewalk import prepend_context as _prepend
from otelflow.ottl.contexts import CONTEXTS

try:
    from otelflow.native import _ottl
except ImportError:  # not built (no cargo): the Python engine runs everything
    _ottl = None

log = logging.getLogger("otelflow.ottl.native")

CHANGED, UNCHANGED, BAIL = 0, 1, 2


def available() -> bool:
    return _ottl is not None


class Unsupported(Exception):
    """Outside the native subset: the processor stays on the Python engine."""


_SCALAR_PATHS = {
    ("span", "name"): "span.name",
    ("span", "kind"): "span.kind",
    ("span", "trace_state"): "span.trace_state",
    ("span", "status", "code"): "span.status.code",
    ("span", "status", "message"): "span.status.message",
    ("span", "trace_id", "string"): "span.trace_id.string",
    ("span", "span_id", "string"): "span.span_id.string",
    ("span", "parent_span_id", "string"): "span.parent_span_id.string",
    ("span", "start_time_unix_nano"): "span.start_time_unix_nano",
    ("span", "end_time_unix_nano"): "span.end_time_unix_nano",
    ("scope", "name"): "scope.name",
    ("scope", "version"): "scope.version",
}
_MAPS = {"span": "span", "resource": "resource", "scope": "scope", "instrumentation_scope": "scope"}


def _context_of(path: g.PathNode) -> str:
    ctx = path.context
    if ctx == "instrumentation_scope":
        return "scope"
    if ctx not in ("span", "resource", "scope"):
        raise Unsupported(f"path {path.text}")
    return ctx


def _names(path: g.PathNode) -> tuple[str, ...]:
    return (_context_of(path),) + tuple(f.name for f in path.fields)


def _map_target(node: Any) -> str:
    """A whole attributes map (``span.attributes``) as an editor's target."""
    if not isinstance(node, g.PathNode):
        raise Unsupported("map target is not a path")
    names = _names(node)
    if len(names) != 2 or names[1] != "attributes" or node.fields[0].keys:
        raise Unsupported(f"map target {node.text}")
    return _MAPS[names[0]]


def _path(node: g.PathNode) -> tuple:
    names = _names(node)
    keys = [k for f in node.fields for k in f.keys]
    if len(names) == 2 and names[1] == "attributes":
        if len(keys) != 1 or keys[0].string is None:
            raise Unsupported(f"attributes path {node.text}")
        return (f"{_MAPS[names[0]]}.attributes", keys[0].string)
    if keys:
        raise Unsupported(f"keyed path {node.text}")
    name = _SCALAR_PATHS.get(names)
    if name is None:
        raise Unsupported(f"path {node.text}")
    return (name,)


def _literal(node: g.Literal) -> tuple:
    kind = node.kind.removesuffix("_negated")
    if kind not in ("string", "int", "float", "bool", "bytes", "nil"):
        raise Unsupported(f"literal {node.kind}")
    if kind == "nil":
        return ("lit", "nil")
    return ("lit", kind, node.value)


def _string_literal(node: Any) -> str:
    if not (isinstance(node, g.Literal) and node.kind == "string"):
        raise Unsupported("argument must be a string literal")
    return node.value


def _int_literal(node: Any) -> int:
    if not (isinstance(node, g.Literal) and node.kind in ("int", "int_negated")):
        raise Unsupported("argument must be an int literal")
    return node.value


def _bool_literal(node: Any) -> bool:
    if not (isinstance(node, g.Literal) and node.kind == "bool"):
        raise Unsupported("argument must be a bool literal")
    return node.value


# Parameter names of the supported functions, in order (for named arguments).
_PARAMS = {
    "set": ("target", "value"),
    "delete_key": ("target", "key"),
    "delete_matching_keys": ("target", "pattern"),
    "keep_matching_keys": ("target", "pattern"),
    "keep_keys": ("target", "keys"),
    "limit": ("target", "limit", "priority_keys"),
    "truncate_all": ("target", "limit", "utf8_safe", "truncation_marker"),
    "replace_pattern": ("target", "regex_pattern", "replacement", "function", "replacement_format"),
    "replace_all_patterns": ("target", "mode", "regex_pattern", "replacement", "function", "replacement_format"),
    "IsMatch": ("target", "pattern"),
    "Concat": ("vals", "delimiter"),
    "ToLowerCase": ("target",),
    "ToUpperCase": ("target",),
}


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and name[i - 1] != "_":
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _args(call: g.CallNode) -> dict[str, Any]:
    params = _PARAMS.get(call.name)
    if params is None:
        raise Unsupported(f"function {call.name}")
    if call.keys:
        raise Unsupported(f"keys on {call.name}()")
    out: dict[str, Any] = {}
    for i, a in enumerate(call.args):
        if a.value is None:
            raise Unsupported("function-name argument")
        name = params[i] if a.name is None else (_snake(a.name) if _snake(a.name) in params else a.name)
        out[name] = a.value
    return out


def _string_like_item(node: Any) -> tuple:
    """A Concat/IsMatch item: a literal is converted once, as the StringLikeGetter does at load."""
    if isinstance(node, g.Literal):
        from otelflow.ottl.getters import as_string_like
        if node.kind == "nil":
            return ("lit", "nil")
        return ("lit", "string", as_string_like(node.value))
    return _expr(node)


def _expr(node: Any) -> tuple:
    if isinstance(node, g.Literal):
        return _literal(node)
    if isinstance(node, g.EnumNode):
        return ("lit", "int", CONTEXTS["span"].parse_enum(node.name))
    if isinstance(node, g.PathNode):
        return ("path", _path(node))
    if isinstance(node, g.CallNode) and not node.is_editor:
        a = _args(node)
        if node.name == "Concat":
            vals = a.get("vals")
            if not isinstance(vals, g.ListNode):
                raise Unsupported("Concat of a runtime slice")
            return ("concat", [_string_like_item(v) for v in vals.items], _string_literal(a["delimiter"]))
        if node.name in ("ToLowerCase", "ToUpperCase"):
            return ("lower" if node.name == "ToLowerCase" else "upper", _expr(a["target"]))
        if node.name == "IsMatch":
            return ("ismatch", _string_like_item(a["target"]), _string_literal(a["pattern"]))
    raise Unsupported(f"value {type(node).__name__}")


def _cond(node: Any) -> tuple:
    if isinstance(node, g.BoolConst):
        return ("const", node.value)
    if isinstance(node, g.Comparison):
        return ("cmp", node.op, _expr(node.left), _expr(node.right))
    if isinstance(node, g.BoolCall):
        if node.call.name != "IsMatch":
            raise Unsupported(f"boolean converter {node.call.name}")
        return ("call", _expr(node.call))
    if isinstance(node, g.Not):
        return ("not", _cond(node.operand))
    if isinstance(node, g.And):
        return ("and", [_cond(o) for o in node.operands])
    if isinstance(node, g.Or):
        return ("or", [_cond(o) for o in node.operands])
    raise Unsupported(f"condition {type(node).__name__}")


def _editor(call: g.CallNode) -> tuple:
    a = _args(call)
    name = call.name
    if name == "set":
        if not isinstance(a.get("target"), g.PathNode):
            raise Unsupported("set target")
        return ("set", _path(a["target"]), _expr(a["value"]))
    if name == "delete_key":
        return ("delete_key", _map_target(a["target"]), _string_literal(a["key"]))
    if name in ("delete_matching_keys", "keep_matching_keys"):
        return (name, _map_target(a["target"]), _string_literal(a["pattern"]))
    if name == "keep_keys":
        keys = a.get("keys")
        if not isinstance(keys, g.ListNode):
            raise Unsupported("keep_keys keys")
        return ("keep_keys", _map_target(a["target"]), [_string_literal(k) for k in keys.items])
    if name == "limit":
        keys = a.get("priority_keys")
        if not isinstance(keys, g.ListNode):
            raise Unsupported("limit priority_keys")
        return ("limit", _map_target(a["target"]), _int_literal(a["limit"]), [_string_literal(k) for k in keys.items])
    if name == "truncate_all":
        safe = True if a.get("utf8_safe") is None else _bool_literal(a["utf8_safe"])
        marker = "" if a.get("truncation_marker") is None else _string_literal(a["truncation_marker"])
        return ("truncate_all", _map_target(a["target"]), _int_literal(a["limit"]), safe, marker)
    if name in ("replace_pattern", "replace_all_patterns"):
        if a.get("function") is not None or a.get("replacement_format") is not None:
            raise Unsupported(f"{name} with a function")
        if name == "replace_pattern":
            if not isinstance(a.get("target"), g.PathNode):
                raise Unsupported("replace_pattern target")
            return ("replace_pattern", _path(a["target"]), _string_literal(a["regex_pattern"]),
                    _string_literal(a["replacement"]))
        return ("replace_all_patterns", _map_target(a["target"]), _string_literal(a["mode"]),
                _string_literal(a["regex_pattern"]), _string_literal(a["replacement"]))
    raise Unsupported(f"editor {name}")


def _tree(text: str, statement: bool) -> Any:
    tree = g.parse_statement(text) if statement else g.parse_condition(text)
    # Every path of a compiled statement has a valid context, or gets the span one prepended:
    # doing it again here is what the Python compilation did (and a no-op when it was not asked).
    _prepend(tree, "span", CONTEXTS["span"].path_context_names)
    return tree


def statement_spec(text: str) -> tuple:
    tree = _tree(text, True)
    return (_editor(tree.editor), _cond(tree.where) if tree.where is not None else None)


def condition_spec(text: str) -> tuple:
    return _cond(_tree(text, False))


def _allow_nil() -> bool:
    from otelflow.core import featuregates
    return featuregates.REGISTRY.is_enabled(featuregates.OTTL_SET_ALLOW_NIL)


def _build(spec: tuple, what: str):
    try:
        return _ottl.Program(spec)
    except ValueError as exc:  # a pattern the regex crate refuses, say: stay on the Python engine
        log.debug("OTTL native program refused for %s: %s", what, exc)
        return None


def transform_program(groups) -> Any:
    """The native program for a traces transform processor's compiled groups, or None."""
    if _ottl is None or not groups:
        return None
    try:
        spec_groups = []
        for grp in groups:
            if grp.context != "span":
                raise Unsupported(f"context {grp.context}")
            stmts = [statement_spec(s.text) for s in grp.statements.statements]
            conds = None
            if grp.conditions is not None:
                conds = [condition_spec(c.text) for c in grp.conditions.conditions]
            spec_groups.append((grp.statements.error_mode, conds, stmts))
    except Unsupported as exc:
        log.debug("transform stays on the Python OTTL engine: %s", exc)
        return None
    return _build(("transform", _allow_nil(), spec_groups), "transform")


def filter_program(plan) -> Any:
    """The native program for a traces filter processor's plan (span-level OTTL conditions only)."""
    from otelflow.ottl.collection import ConditionSequence
    if _ottl is None or plan.empty:
        return None
    try:
        walks = []
        if plan.groups:
            for grp in plan.groups:
                if set(grp.levels) - {"span"}:
                    raise Unsupported(f"levels {sorted(grp.levels)}")
                walks.append(grp.levels.get("span"))
        else:
            if plan.resource is not None or plan.scope is not None or plan.sub is not None:
                raise Unsupported("resource, scope or span event conditions")
            walks.append(plan.item)
        spec_groups = []
        for seq in walks:
            if seq is None:
                spec_groups.append(("silent", None))
                continue
            if not isinstance(seq, ConditionSequence) or seq.all:
                raise Unsupported("legacy span matching")
            spec_groups.append((seq.error_mode, [condition_spec(c.text) for c in seq.conditions]))
    except Unsupported as exc:
        log.debug("filter stays on the Python OTTL engine: %s", exc)
        return None
    return _build(("filter", spec_groups), "filter")
