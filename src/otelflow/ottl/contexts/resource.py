"""The resource context and its ``resource.*`` paths (ctxresource).

Paths: ``attributes``, ``attributes[...]``, ``dropped_attributes_count``, ``schema_url`` (of the
ResourceSpans/ResourceMetrics/ResourceLogs holding it, ``ctx.resource_holder``), plus ``cache``.
"""

from __future__ import annotations

from ._common import map_accessor, str_field, uint32_count
from .registry import DOC_BASE, Accessor, ContextDef, PathCursor, segment_error

NAME = "resource"
DOC_REF = DOC_BASE + "ottlresource"


def _attrs(ctx):
    return ctx.resource.attributes


def _res(ctx):
    return ctx.resource


def _holder(ctx):
    return ctx.resource_holder


def parse_path(path: PathCursor) -> Accessor:
    """ctxresource.PathGetSetter."""
    name = path.name
    if name == "attributes":
        return map_accessor(_attrs, path.keys())
    if name == "dropped_attributes_count":
        return uint32_count(_res, "dropped_attributes_count")
    if name == "schema_url":
        return str_field(_holder, "schema_url")
    raise segment_error(name, path.string(), NAME, DOC_REF)


def make_context(otelcol_parser=None) -> ContextDef:
    parsers = {NAME: parse_path}
    if otelcol_parser is not None:
        parsers["otelcol"] = otelcol_parser
    return ContextDef(NAME, DOC_REF, (NAME, "otelcol"), parsers,
                      enum_error="resource context does not provide Enum support")
