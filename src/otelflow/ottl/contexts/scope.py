"""The instrumentation scope context and its ``scope.*`` paths (ctxscope).

Paths: ``name``, ``version``, ``attributes``, ``attributes[...]``, ``dropped_attributes_count``,
``schema_url`` (of the ScopeSpans/ScopeMetrics/ScopeLogs holding it, ``ctx.scope_holder``), plus
``cache``. ``instrumentation_scope`` is accepted as a legacy prefix wherever ``scope`` is parsed.
"""

from __future__ import annotations

from . import resource
from ._common import context_def, map_accessor, path_parser, str_field, uint32_count
from .registry import DOC_BASE, ContextDef

NAME = "scope"
LEGACY_NAME = "instrumentation_scope"
DOC_REF = DOC_BASE + "ottlscope"

PATHS = {
    "name": str_field("scope", "name"),
    "version": str_field("scope", "version"),
    "attributes": lambda path: map_accessor("scope.attributes", path.keys()),
    "dropped_attributes_count": uint32_count("scope", "dropped_attributes_count"),
    "schema_url": str_field("scope_holder", "schema_url"),
}

parse_path = path_parser(NAME, DOC_REF, PATHS)
parse_path.__doc__ = "ctxscope.PathGetSetter."


def make_context(otelcol_parser=None) -> ContextDef:
    return context_def(NAME, DOC_REF, (NAME, resource.NAME, "otelcol"), parse_path, (resource,),
                       otelcol_parser, enum_error="instrumentation scope context does not provide Enum support",
                       aliases=(LEGACY_NAME,))
