"""The span event context and its ``spanevent.*`` paths (ctxspanevent).

Paths: ``time_unix_nano`` (int), ``time`` (GoTime), ``name``, ``attributes``, ``attributes[...]``,
``dropped_attributes_count``, ``event_index`` (read-only: ctx.event_index), plus ``cache``. The
context also accepts ``span.*``, ``resource.*``, ``scope.*`` and ``instrumentation_scope.*``.
"""

from __future__ import annotations

from ..errors import OttlError
from ..values import GoTime
from . import resource, scope, span
from ._common import map_accessor, str_field, uint32_count
from .keys import expect_int, expect_time, to_int64, to_uint64
from .registry import DOC_BASE, Accessor, ContextDef, PathCursor, segment_error

NAME = "spanevent"
DOC_REF = DOC_BASE + "ottlspanevent"


def _event(ctx):
    return ctx.event


def _attrs(ctx):
    return ctx.event.attributes


def _time_unix_nano() -> Accessor:
    def get(ctx):
        return to_int64(ctx.event.time_unix_nano)

    def set_(ctx, val):
        ctx.event.time_unix_nano = to_uint64(expect_int(val))
    return get, set_


def _time() -> Accessor:
    def get(ctx):
        return GoTime(to_int64(ctx.event.time_unix_nano))

    def set_(ctx, val):
        ctx.event.time_unix_nano = to_uint64(expect_time(val).ns)
    return get, set_


def parse_path(path: PathCursor) -> Accessor:
    """ctxspanevent.PathGetSetter."""
    name = path.name
    if name == "time_unix_nano":
        return _time_unix_nano()
    if name == "time":
        return _time()
    if name == "name":
        return str_field(_event, "name")
    if name == "attributes":
        return map_accessor(_attrs, path.keys())
    if name == "dropped_attributes_count":
        return uint32_count(_event, "dropped_attributes_count")
    raise segment_error(name, path.string(), NAME, DOC_REF)


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


def parse_path_with_index(path: PathCursor) -> Accessor:
    """The spanevent context's own parser: ``event_index`` on top of ctxspanevent's paths."""
    if path.name == "event_index":
        return _event_index()
    return parse_path(path)


def make_context(otelcol_parser=None) -> ContextDef:
    parsers = {
        resource.NAME: resource.parse_path,
        scope.NAME: scope.parse_path,
        scope.LEGACY_NAME: scope.parse_path,
        span.NAME: span.parse_path,
        NAME: parse_path_with_index,
    }
    if otelcol_parser is not None:
        parsers["otelcol"] = otelcol_parser
    return ContextDef(NAME, DOC_REF,
                      (NAME, span.NAME, resource.NAME, scope.LEGACY_NAME, scope.NAME, "otelcol"),
                      parsers, span.ENUMS)
