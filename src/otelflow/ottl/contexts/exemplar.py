"""The exemplar context and its ``exemplar.*`` paths (ctxexemplar); ``ctx.exemplar`` is the Exemplar.

Paths: ``time_unix_nano`` (int), ``time`` (GoTime), ``double_value``, ``int_value``, ``trace_id``
(TraceID), ``trace_id.string``, ``span_id`` (SpanID), ``span_id.string``, ``filtered_attributes``,
``filtered_attributes[...]``, plus ``cache``. The context also accepts ``datapoint.*``,
``metric.*``, ``resource.*``, ``scope.*`` and ``instrumentation_scope.*``.
"""

from __future__ import annotations

from . import datapoint, metric, resource, scope
from ._common import context_def, map_accessor, path_parser, time_field, time_unix_nano, typed_field
from ._ids import id_path
from .keys import expect_float, expect_int
from .registry import DOC_BASE, ContextDef
from .types import SpanID, TraceID

NAME = "exemplar"
DOC_REF = DOC_BASE + "ottlexemplar"

PATHS = {
    "time_unix_nano": time_unix_nano("exemplar", "time_unix_nano"),
    "time": time_field("exemplar", "time_unix_nano"),
    "double_value": typed_field("exemplar", "as_double", expect_float),
    "int_value": typed_field("exemplar", "as_int", expect_int),
    "trace_id": id_path("exemplar", "trace_id", TraceID, NAME, DOC_REF),
    "span_id": id_path("exemplar", "span_id", SpanID, NAME, DOC_REF),
    "filtered_attributes": lambda path: map_accessor("exemplar.filtered_attributes", path.keys()),
}

parse_path = path_parser(NAME, DOC_REF, PATHS)
parse_path.__doc__ = "ctxexemplar.PathGetSetter."


def make_context(otelcol_parser=None) -> ContextDef:
    return context_def(NAME, DOC_REF,
                       (NAME, datapoint.NAME, resource.NAME, scope.LEGACY_NAME, scope.NAME, metric.NAME, "otelcol"),
                       parse_path, (resource, scope, metric, datapoint), otelcol_parser,
                       enum_error="exemplar context does not support enums")
