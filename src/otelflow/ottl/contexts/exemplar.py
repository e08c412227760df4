"""The exemplar context and its ``exemplar.*`` paths (ctxexemplar); ``ctx.exemplar`` is the Exemplar.

Paths: ``time_unix_nano`` (int), ``time`` (GoTime), ``double_value``, ``int_value``, ``trace_id``
(TraceID), ``trace_id.string``, ``span_id`` (SpanID), ``span_id.string``, ``filtered_attributes``,
``filtered_attributes[...]``, plus ``cache``. The context also accepts ``datapoint.*``,
``metric.*``, ``resource.*``, ``scope.*`` and ``instrumentation_scope.*``.
"""

from __future__ import annotations

from ..values import GoTime
from . import datapoint, metric, resource, scope
from ._common import map_accessor
from ._ids import parse_id_path
from .keys import expect_float, expect_int, expect_time, to_int64, to_uint64
from .registry import DOC_BASE, Accessor, ContextDef, PathCursor, segment_error
from .types import SpanID, TraceID

NAME = "exemplar"
DOC_REF = DOC_BASE + "ottlexemplar"


def _ex(ctx):
    return ctx.exemplar


def _attrs(ctx):
    return ctx.exemplar.filtered_attributes


def _time_unix_nano() -> Accessor:
    def get(ctx):
        return to_int64(ctx.exemplar.time_unix_nano)

    def set_(ctx, val):
        ctx.exemplar.time_unix_nano = to_uint64(expect_int(val))
    return get, set_


def _time() -> Accessor:
    def get(ctx):
        return GoTime(to_int64(ctx.exemplar.time_unix_nano))

    def set_(ctx, val):
        ctx.exemplar.time_unix_nano = to_uint64(expect_time(val).ns)
    return get, set_


def _value(field: str, expect) -> Accessor:
    def get(ctx):
        return getattr(ctx.exemplar, field)

    def set_(ctx, val):
        setattr(ctx.exemplar, field, expect(val))
    return get, set_


def parse_path(path: PathCursor) -> Accessor:
    """ctxexemplar.PathGetSetter."""
    name = path.name
    if name == "time_unix_nano":
        return _time_unix_nano()
    if name == "time":
        return _time()
    if name == "double_value":
        return _value("as_double", expect_float)
    if name == "int_value":
        return _value("as_int", expect_int)
    if name == "trace_id":
        return parse_id_path(path, _ex, "trace_id", TraceID, NAME, DOC_REF)
    if name == "span_id":
        return parse_id_path(path, _ex, "span_id", SpanID, NAME, DOC_REF)
    if name == "filtered_attributes":
        return map_accessor(_attrs, path.keys())
    raise segment_error(name, path.string(), NAME, DOC_REF)


def make_context(otelcol_parser=None) -> ContextDef:
    parsers = {
        resource.NAME: resource.parse_path,
        scope.NAME: scope.parse_path,
        scope.LEGACY_NAME: scope.parse_path,
        metric.NAME: metric.parse_path,
        datapoint.NAME: datapoint.parse_path,
        NAME: parse_path,
    }
    if otelcol_parser is not None:
        parsers["otelcol"] = otelcol_parser
    return ContextDef(NAME, DOC_REF,
                      (NAME, datapoint.NAME, resource.NAME, scope.LEGACY_NAME, scope.NAME, metric.NAME,
                       "otelcol"),
                      parsers, enum_error="exemplar context does not support enums")
