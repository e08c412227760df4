"""OTTL contexts: what paths mean for each kind of item (upstream's pkg/ottl/contexts).

``CONTEXTS`` maps each context name to its ``ContextDef`` (see ``registry``): ``resource``,
``scope``, ``span``, ``spanevent``, ``metric``, ``datapoint``, ``exemplar`` and ``log``.

For context inference (upstream's ``context_inferrer.go``):

* ``CONTEXT_PRIORITY``: the inferrer's default priority list, most specific first; a path context
  not in it (``otelcol``, or a name that is no context) ranks last;
* ``ContextDef.lower_contexts``: the contexts that list this one among their path context names,
  i.e. the contexts whose items live inside this one's (resource → scope, span, ...). Upstream
  builds this per ParserCollection from the contexts the component registers, so filter it with
  ``lower_contexts_for(name, registered)``, which also sorts by priority.
"""

from __future__ import annotations

from typing import Iterable

from . import datapoint, exemplar, log, metric, resource, scope, span, spanevent
from .base import Key, Path, Segment, TransformContext
from .registry import ContextDef, PathCursor, ResolvedPath

__all__ = [
    "CONTEXTS", "CONTEXT_PRIORITY", "ContextDef", "ResolvedPath", "PathCursor", "TransformContext",
    "Key", "Segment", "Path", "lower_contexts_for", "priority_of",
]

CONTEXT_PRIORITY: tuple[str, ...] = (
    "log",
    "exemplar",
    "datapoint",
    "metric",
    "spanevent",
    "span",
    "profile",
    "scope",
    "instrumentation_scope",
    "resource",
)

_PRIORITY = {name: i for i, name in enumerate(CONTEXT_PRIORITY)}
_LAST = 1 << 62


def priority_of(context: str) -> int:
    """The context's rank in CONTEXT_PRIORITY (lower wins); unknown names rank last."""
    return _PRIORITY.get(context, _LAST)


def _build() -> dict[str, ContextDef]:
    defs = [m.make_context() for m in (resource, scope, span, spanevent, metric, datapoint, exemplar, log)]
    out = {d.name: d for d in defs}
    for d in defs:
        lower = [o.name for o in defs if o is not d and d.name in o.path_context_names]
        d.lower_contexts = tuple(sorted(lower, key=priority_of))
    return out


CONTEXTS: dict[str, ContextDef] = _build()


def lower_contexts_for(context: str, registered: Iterable[str]) -> list[str]:
    """ParserCollection.getLowerContexts for a collection registering ``registered``: every
    registered context (other than ``context``) whose path context names include ``context``,
    sorted by priority. ``context`` may be a path context name such as ``instrumentation_scope``."""
    out = []
    for name in registered:
        d = CONTEXTS.get(name)
        if d is not None and name != context and context in d.path_context_names:
            out.append(name)
    out.sort(key=priority_of)
    return out
