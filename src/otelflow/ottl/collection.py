"""What the components built on OTTL share: error modes, statement and condition sequences,
context inference, and walking a request's items for a context.

Upstream spreads this over pkg/ottl's ParserCollection, StatementSequence, ConditionSequence and
priorityContextInferrer; each OTTL component (transform, filter, routing, tail_sampling) uses it.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Iterator, Sequence

from google.protobuf.message import Message

from otelflow.ottl import grammar as g
from otelflow.ottl.compiler import Condition, Statement
from otelflow.ottl.treewalk import statement_functions, statement_paths
from otelflow.ottl.contexts.base import TransformContext
from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.functions import FunctionDef
from otelflow.ottl.values import new_pmap

PROPAGATE, IGNORE, SILENT = "propagate", "ignore", "silent"
ERROR_MODES = (PROPAGATE, IGNORE, SILENT)

# Upstream's defaultContextInferPriority: the most specific context first.
CONTEXT_PRIORITY = ("log", "exemplar", "datapoint", "metric", "spanevent", "span", "profile", "scope",
                    "instrumentation_scope", "resource")


def parse_error_mode(value: Any) -> str:
    """ottl.ErrorMode's UnmarshalText: case-insensitive, one of propagate/ignore/silent."""
    text = str(value).lower()
    if text not in ERROR_MODES:
        raise ValueError(f"unknown error mode {text}")
    return text


def _as_runtime_error(exc: Exception) -> OttlError:
    return exc if isinstance(exc, OttlError) else OttlError(f"{type(exc).__name__}: {exc}")


class StatementSequence:
    """Statements run in order on one item; what an error does depends on the error mode."""

    __slots__ = ("statements", "error_mode", "logger")

    def __init__(self, statements: Sequence[Statement], error_mode: str = PROPAGATE,
                 logger: logging.Logger | None = None):
        self.statements = tuple(statements)
        self.error_mode = error_mode
        self.logger = logger or logging.getLogger("otelflow.ottl")

    def execute(self, ctx: Any) -> None:
        for statement in self.statements:
            try:
                statement.execute(ctx)
            except Exception as exc:  # a statement must never take the collector down
                err = _as_runtime_error(exc)
                if self.error_mode == PROPAGATE:
                    raise OttlError(f"failed to execute statement: {statement.text}, {err}") from None
                if self.error_mode == IGNORE:
                    self.logger.warning("failed to execute statement", extra={"error": str(err), "statement": statement.text})


class ConditionSequence:
    """Conditions ORed (or ANDed) for one item; an error counts as no match outside propagate."""

    __slots__ = ("conditions", "error_mode", "logger", "all")

    def __init__(self, conditions: Sequence[Condition], error_mode: str = PROPAGATE,
                 logger: logging.Logger | None = None, all: bool = False):
        self.conditions = tuple(conditions)
        self.error_mode = error_mode
        self.logger = logger or logging.getLogger("otelflow.ottl")
        self.all = all

    def eval(self, ctx: Any) -> bool:
        matched_one = False
        for condition in self.conditions:
            try:
                match = condition.eval(ctx)
            except Exception as exc:
                err = _as_runtime_error(exc)
                if self.error_mode == PROPAGATE:
                    raise OttlError(f"failed to eval condition: {condition.text}, {err}") from None
                if self.error_mode == IGNORE:
                    self.logger.warning("failed to eval condition", extra={"error": str(err), "condition": condition.text})
                continue
            if match:
                if not self.all:
                    return True
                matched_one = True
            elif self.all:
                return False
        return self.all and matched_one


# ------------------------------------------------------------------------------ context inference


def infer_context(statements: Iterable[str] = (), conditions: Iterable[str] = (), *,
                  candidates: dict[str, Any], functions: dict[str, dict[str, FunctionDef]]) -> str:
    """Upstream's priorityContextInferrer: the most specific context named by a path prefix, moved
    to a lower context when the inferred one lacks a function or enum the statements use.

    ``candidates`` maps the context names a component accepts to their ContextDefs, ``functions``
    gives each of them its function table. Raises OttlConfigError when nothing fits."""
    priority = {name: i for i, name in enumerate(CONTEXT_PRIORITY)}
    inferred = ""
    best = None
    required_functions: set[str] = set()
    required_enums: set[str] = set()
    trees = [g.parse_statement(s) for s in statements] + [g.parse_condition(c) for c in conditions]
    for tree in trees:
        for path in statement_paths(tree):
            p = priority.get(path.context, 1 << 62)
            if not inferred or p < best:
                inferred, best = path.context, p
        required_functions.update(statement_functions(tree))
        required_enums.update(_enums(tree))
    if not inferred:
        return ""
    if not required_functions and not required_enums:
        return inferred
    problem = _validate_candidate(inferred, required_functions, required_enums, candidates, functions)
    if problem is None:
        return inferred
    if inferred not in candidates:
        raise OttlConfigError(problem)
    from otelflow.ottl.contexts import lower_contexts_for
    for name in lower_contexts_for(inferred, list(candidates)):
        if _validate_candidate(name, required_functions, required_enums, candidates, functions) is None:
            return name
    raise OttlConfigError(problem)


def _validate_candidate(name: str, funcs: set[str], enums: set[str], candidates: dict[str, Any],
                        functions: dict[str, dict[str, FunctionDef]]) -> str | None:
    ctx = candidates.get(name)
    if ctx is None:
        return f'inferred context "{name}" is not a valid candidate'
    table = functions.get(name, {})
    for f in sorted(funcs):
        defn = table.get(f)
        if defn is None or (defn.contexts is not None and name not in defn.contexts):
            return f'inferred context "{name}" does not support the function "{f}"'
    for e in sorted(enums):
        if not ctx.has_enum(e):
            return f'inferred context "{name}" does not support the enum symbol "{e}"'
    return None


def _enums(tree: Any) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, g.EnumNode):
            found.append(node.name)
        elif isinstance(node, list):
            for x in node:
                walk(x)
        elif hasattr(node, "__dataclass_fields__"):
            for name in node.__dataclass_fields__:
                walk(getattr(node, name))
        elif isinstance(node, tuple):
            for x in node:
                walk(x)
    walk(tree)
    return found


# ------------------------------------------------------------------------------ walking items

_LAYOUT = {
    "resource_spans": ("scope_spans", "spans"),
    "resource_metrics": ("scope_metrics", "metrics"),
    "resource_logs": ("scope_logs", "log_records"),
}


def _resources(request: Message):
    for field in _LAYOUT:
        if request.DESCRIPTOR.fields_by_name.get(field) is not None:
            return getattr(request, field), _LAYOUT[field]
    raise TypeError(f"not an OTLP export request: {type(request).__name__}")


def datapoints_of(metric: Message):
    """The repeated data point field of a metric, whatever its type (None for an empty metric)."""
    kind = metric.WhichOneof("data")
    if kind is None:
        return None
    return getattr(metric, kind).data_points


def iterate_items(request: Message, context: str, ctx: TransformContext,
                  shared_cache: Any = None) -> Iterator[TransformContext]:
    """Fill ``ctx`` for each item of ``context`` in ``request`` and yield it (the same object).

    Indexes are re-read on every step, as upstream's loops do, so items appended while walking are
    visited too. The ``cache`` slot gets a fresh map per item unless ``shared_cache`` is given."""
    resources, (scope_field, item_field) = _resources(request)
    fresh_cache = shared_cache is None
    i = 0
    while i < len(resources):
        rs = resources[i]
        i += 1
        ctx.resource = rs.resource
        ctx.resource_holder = rs
        if context == "resource":
            ctx.cache = new_pmap() if fresh_cache else shared_cache
            yield ctx
            continue
        scopes = getattr(rs, scope_field)
        j = 0
        while j < len(scopes):
            ss = scopes[j]
            j += 1
            ctx.scope = ss.scope
            ctx.scope_holder = ss
            if context in ("scope", "instrumentation_scope"):
                ctx.cache = new_pmap() if fresh_cache else shared_cache
                yield ctx
                continue
            items = getattr(ss, item_field)
            if context == "metric" or context == "datapoint":
                ctx.metrics = items
            k = 0
            while k < len(items):
                item = items[k]
                k += 1
                if context == "span":
                    ctx.span = item
                elif context == "log":
                    ctx.log = item
                elif context == "metric":
                    ctx.metric = item
                elif context == "spanevent":
                    ctx.span = item
                    events = item.events
                    n = 0
                    while n < len(events):
                        ctx.event = events[n]  # event_index stays unset: no upstream component sets it
                        n += 1
                        ctx.cache = new_pmap() if fresh_cache else shared_cache
                        yield ctx
                    continue
                elif context == "datapoint":
                    ctx.metric = item
                    points = datapoints_of(item)
                    if points is None:
                        continue
                    n = 0
                    while n < len(points):
                        ctx.datapoint = points[n]
                        n += 1
                        ctx.cache = new_pmap() if fresh_cache else shared_cache
                        yield ctx
                    continue
                else:
                    raise OttlConfigError(f'context "{context}" has no items in {type(request).__name__}')
                ctx.cache = new_pmap() if fresh_cache else shared_cache
                yield ctx
