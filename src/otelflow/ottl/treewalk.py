"""Walking a parsed statement or condition: the paths and functions it names, and prefixing paths
with a context (the grouped config form). Lambda parameters are not paths and are skipped, as
upstream's path visitor does."""

from __future__ import annotations

from typing import Any

from otelflow.ottl import grammar as g


def prepend_context(tree: Any, context: str, valid: tuple[str, ...]) -> None:
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
