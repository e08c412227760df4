"""The log context and its ``log.*`` paths (ctxlog).

Paths: ``time_unix_nano``, ``observed_time_unix_nano`` (int), ``time``, ``observed_time`` (GoTime),
``severity_number`` (int), ``severity_text``, ``body`` (the body's value: PMap/PSlice/str/...),
``body[...]`` (into a map or slice body), ``body.string`` (AsString; set stores a string),
``attributes``, ``attributes[...]``, ``dropped_attributes_count``, ``flags``, ``trace_id``
(TraceID), ``trace_id.string``, ``span_id`` (SpanID), ``span_id.string``, ``event_name``, plus
``cache``. The context also accepts ``resource.*``, ``scope.*`` and ``instrumentation_scope.*``.
"""

from __future__ import annotations

from ..errors import OttlError
from ..values import GoTime, get_value, value_type_name
from . import resource, scope
from ._common import map_accessor, str_field, uint32_count
from ._ids import parse_id_path
from .keys import (expect_int, expect_str, expect_time, get_map_value, get_slice_value, set_map_value,
                   set_slice_value, set_value, to_int32, to_int64, to_uint32, to_uint64, value_as_string)
from .registry import DOC_BASE, Accessor, ContextDef, PathCursor, segment_error
from .types import SpanID, TraceID

NAME = "log"
DOC_REF = DOC_BASE + "ottllog"

_SEV = ("UNSPECIFIED", "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4",
        "INFO", "INFO2", "INFO3", "INFO4", "WARN", "WARN2", "WARN3", "WARN4", "ERROR", "ERROR2", "ERROR3",
        "ERROR4", "FATAL", "FATAL2", "FATAL3", "FATAL4")
ENUMS = {f"SEVERITY_NUMBER_{s}": i for i, s in enumerate(_SEV)}


def _log(ctx):
    return ctx.log


def _attrs(ctx):
    return ctx.log.attributes


def _time_unix_nano(field: str) -> Accessor:
    def get(ctx):
        return to_int64(getattr(ctx.log, field))

    def set_(ctx, val):
        setattr(ctx.log, field, to_uint64(expect_int(val)))
    return get, set_


def _time(field: str) -> Accessor:
    def get(ctx):
        return GoTime(to_int64(getattr(ctx.log, field)))

    def set_(ctx, val):
        setattr(ctx.log, field, to_uint64(expect_time(val).ns))
    return get, set_


def _severity_number() -> Accessor:
    def get(ctx):
        return ctx.log.severity_number

    def set_(ctx, val):
        ctx.log.severity_number = to_int32(expect_int(val))
    return get, set_


def _body() -> Accessor:
    def get(ctx):
        return get_value(ctx.log.body)

    def set_(ctx, val):
        set_value(ctx.log.body, val)
    return get, set_


def _body_key(keys) -> Accessor:
    def get(ctx):
        body = ctx.log.body
        kind = body.WhichOneof("value")
        if kind == "kvlist_value":
            return get_map_value(ctx, body.kvlist_value.values, keys)
        if kind == "array_value":
            return get_slice_value(ctx, body.array_value.values, keys)
        raise OttlError(f"log bodies of type {value_type_name(body)} cannot be indexed")

    def set_(ctx, val):
        body = ctx.log.body
        kind = body.WhichOneof("value")
        if kind == "kvlist_value":
            return set_map_value(ctx, body.kvlist_value.values, keys, val)
        if kind == "array_value":
            return set_slice_value(ctx, body.array_value.values, keys, val)
        raise OttlError(f"log bodies of type {value_type_name(body)} cannot be indexed")
    return get, set_


def _body_string() -> Accessor:
    def get(ctx):
        body = ctx.log.body
        if body.WhichOneof("value") == "string_value":
            return body.string_value
        return value_as_string(body)

    def set_(ctx, val):
        ctx.log.body.string_value = expect_str(val)
    return get, set_


def _flags() -> Accessor:
    def get(ctx):
        return ctx.log.flags

    def set_(ctx, val):
        ctx.log.flags = to_uint32(expect_int(val))
    return get, set_


def parse_path(path: PathCursor) -> Accessor:
    """ctxlog.PathGetSetter."""
    name = path.name
    if name == "time_unix_nano":
        return _time_unix_nano("time_unix_nano")
    if name == "observed_time_unix_nano":
        return _time_unix_nano("observed_time_unix_nano")
    if name == "time":
        return _time("time_unix_nano")
    if name == "observed_time":
        return _time("observed_time_unix_nano")
    if name == "severity_number":
        return _severity_number()
    if name == "severity_text":
        return str_field(_log, "severity_text")
    if name == "body":
        nxt = path.next()
        if nxt is not None:
            if nxt.name == "string":
                return _body_string()
            raise segment_error(nxt.name, nxt.string(), NAME, DOC_REF)
        keys = path.keys()
        if keys is None:
            return _body()
        return _body_key(keys)
    if name == "attributes":
        return map_accessor(_attrs, path.keys())
    if name == "dropped_attributes_count":
        return uint32_count(_log, "dropped_attributes_count")
    if name == "flags":
        return _flags()
    if name == "trace_id":
        return parse_id_path(path, _log, "trace_id", TraceID, NAME, DOC_REF)
    if name == "span_id":
        return parse_id_path(path, _log, "span_id", SpanID, NAME, DOC_REF)
    if name == "event_name":
        return str_field(_log, "event_name")
    raise segment_error(name, path.string(), NAME, DOC_REF)


def make_context(otelcol_parser=None) -> ContextDef:
    parsers = {
        resource.NAME: resource.parse_path,
        scope.NAME: scope.parse_path,
        scope.LEGACY_NAME: scope.parse_path,
        NAME: parse_path,
    }
    if otelcol_parser is not None:
        parsers["otelcol"] = otelcol_parser
    return ContextDef(NAME, DOC_REF, (NAME, scope.LEGACY_NAME, scope.NAME, resource.NAME, "otelcol"),
                      parsers, ENUMS)
