"""The span event context and its ``spanevent.*`` paths (ctxspanevent).

Paths: ``time_unix_nano`` (int), ``time`` (GoTime), ``name``, ``attributes``, ``attributes[...]``,
``dropped_attributes_count``, ``event_index`` (read-only: ctx.event_index), plus ``cache``. The
context also accepts ``span.*``, ``resource.*``, ``scope.*`` and ``instrumentation_scope.*``.
"""

from __future__ import annotations

from ..errors import OttlError
from . import resource, scope, span
from ._common import context_def, map_accessor, path_parser, str_field, time_field, time_unix_nano, uint32_count
from .registry import DOC_BASE, Accessor, ContextDef

NAME = "spanevent"
DOC_REF = DOC_BASE + "ottlspanevent"

PATHS = {
    "time_unix_nano": time_unix_nano("event", "time_unix_nano"),
    "time": time_field("event", "time_unix_nano"),
    "name": str_field("event", "name"),
    "attributes": lambda path: map_accessor("event.attributes", path.keys()),
    "dropped_attributes_count": uint32_count("event", "dropped_attributes_count"),
}

parse_path = path_parser(NAME, DOC_REF, PATHS)
parse_path.__doc__ = "ctxspanevent.PathGetSetter."


def _event_index() -> Accessor:
    def get(ctx):
        i = ctx.event_index
        if i is None:
            raise OttlError("no 'event_index' property has been set")
        if i < 0:
            raise OttlError("found invalid value for 'event_index'")
        return i

    def set_(ctx, val):
        raise OttlError("the 'event_index' path cannot be modified")
    return get, set_


# The spanevent context's own parser: ``event_index`` (read-only) on top of ctxspanevent's paths.
parse_path_with_index = path_parser(NAME, DOC_REF, {**PATHS, "event_index": _event_index()})


def make_context(otelcol_parser=None) -> ContextDef:
    return context_def(NAME, DOC_REF, (NAME, span.NAME, resource.NAME, scope.LEGACY_NAME, scope.NAME, "otelcol"),
                       parse_path_with_index, (resource, scope, span), otelcol_parser, span.ENUMS)
