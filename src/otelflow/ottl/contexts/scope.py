"""The instrumentation scope context and its ``scope.*`` paths (ctxscope).

Paths: ``name``, ``version``, ``attributes``, ``attributes[...]``, ``dropped_attributes_count``,
``schema_url`` (of the ScopeSpans/ScopeMetrics/ScopeLogs holding it, ``ctx.scope_holder``), plus
``cache``. ``instrumentation_scope`` is accepted as a legacy prefix wherever ``scope`` is parsed.
"""

from __future__ import annotations

from . import resource
from ._common import map_accessor, str_field, uint32_count
from .registry import DOC_BASE, Accessor, ContextDef, PathCursor, segment_error

NAME = "scope"
LEGACY_NAME = "instrumentation_scope"
DOC_REF = DOC_BASE + "ottlscope"


def _scope(ctx):
    return ctx.scope


def _attrs(ctx):
    return ctx.scope.attributes


def _holder(ctx):
    return ctx.scope_holder


def parse_path(path: PathCursor) -> Accessor:
    """ctxscope.PathGetSetter."""
    name = path.name
    if name == "name":
        return str_field(_scope, "name")
    if name == "version":
        return str_field(_scope, "version")
    if name == "attributes":
        return map_accessor(_attrs, path.keys())
    if name == "dropped_attributes_count":
        return uint32_count(_scope, "dropped_attributes_count")
    if name == "schema_url":
        return str_field(_holder, "schema_url")
    raise segment_error(name, path.string(), NAME, DOC_REF)


def make_context(otelcol_parser=None) -> ContextDef:
    parsers = {resource.NAME: resource.parse_path, NAME: parse_path, LEGACY_NAME: parse_path}
    if otelcol_parser is not None:
        parsers["otelcol"] = otelcol_parser
    return ContextDef(NAME, DOC_REF, (NAME, resource.NAME, "otelcol"), parsers,
                      enum_error="instrumentation scope context does not provide Enum support")
