"""The resource context and its ``resource.*`` paths (ctxresource).

Paths: ``attributes``, ``attributes[...]``, ``dropped_attributes_count``, ``schema_url`` (of the
ResourceSpans/ResourceMetrics/ResourceLogs holding it, ``ctx.resource_holder``), plus ``cache``.
"""

from __future__ import annotations

from ._common import context_def, map_accessor, path_parser, str_field, uint32_count
from .registry import DOC_BASE, ContextDef

NAME = "resource"
DOC_REF = DOC_BASE + "ottlresource"

PATHS = {
    "attributes": lambda path: map_accessor("resource.attributes", path.keys()),
    "dropped_attributes_count": uint32_count("resource", "dropped_attributes_count"),
    "schema_url": str_field("resource_holder", "schema_url"),
}

parse_path = path_parser(NAME, DOC_REF, PATHS)
parse_path.__doc__ = "ctxresource.PathGetSetter."


def make_context(otelcol_parser=None) -> ContextDef:
    return context_def(NAME, DOC_REF, (NAME, "otelcol"), parse_path, otelcol_parser=otelcol_parser,
                       enum_error="resource context does not provide Enum support")
