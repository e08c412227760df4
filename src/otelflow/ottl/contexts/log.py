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
from ..values import get_value, value_type_name
from . import resource, scope
from ._common import (context_def, int32_field, map_accessor, next_segment, path_parser, str_field,
                      time_field, time_unix_nano, uint32_count)
from ._ids import id_path
from .keys import (expect_str, get_map_value, get_slice_value, set_map_value, set_slice_value, set_value,
                   value_as_string)
from .registry import DOC_BASE, Accessor, ContextDef, PathCursor
from .types import SpanID, TraceID

NAME = "log"
DOC_REF = DOC_BASE + "ottllog"

_SEV = ("UNSPECIFIED", "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4",
        "INFO", "INFO2", "INFO3", "INFO4", "WARN", "WARN2", "WARN3", "WARN4", "ERROR", "ERROR2", "ERROR3",
        "ERROR4", "FATAL", "FATAL2", "FATAL3", "FATAL4")
ENUMS = {f"SEVERITY_NUMBER_{s}": i for i, s in enumerate(_SEV)}


def _body() -> Accessor:
    """``body``: the body's value (PMap/PSlice/str/...); set as ctxutil.SetValue."""
    def get(ctx):
        return get_value(ctx.log.body)

    def set_(ctx, val):
        set_value(ctx.log.body, val)
    return get, set_


def _body_key(keys) -> Accessor:
    """``body[...]``: into a map or slice body; any other body cannot be indexed."""
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
    """``body.string``: the body as pcommon's AsString; set stores a string body."""
    def get(ctx):
        body = ctx.log.body
        if body.WhichOneof("value") == "string_value":
            return body.string_value
        return value_as_string(body)

    def set_(ctx, val):
        ctx.log.body.string_value = expect_str(val)
    return get, set_


_BODY = _body()
_BODY_SUBS = {"string": _body_string()}


def _body_path(path: PathCursor) -> Accessor:
    # a next segment wins over keys (upstream checks it first; keys left unused are then an error)
    if path.next() is not None:
        return next_segment(path, _BODY, _BODY_SUBS, NAME, DOC_REF)
    keys = path.keys()
    return _BODY if keys is None else _body_key(keys)


PATHS = {
    "time_unix_nano": time_unix_nano("log", "time_unix_nano"),
    "observed_time_unix_nano": time_unix_nano("log", "observed_time_unix_nano"),
    "time": time_field("log", "time_unix_nano"),
    "observed_time": time_field("log", "observed_time_unix_nano"),
    "severity_number": int32_field("log", "severity_number"),
    "severity_text": str_field("log", "severity_text"),
    "body": _body_path,
    "attributes": lambda path: map_accessor("log.attributes", path.keys()),
    "dropped_attributes_count": uint32_count("log", "dropped_attributes_count"),
    "flags": uint32_count("log", "flags"),
    "trace_id": id_path("log", "trace_id", TraceID, NAME, DOC_REF),
    "span_id": id_path("log", "span_id", SpanID, NAME, DOC_REF),
    "event_name": str_field("log", "event_name"),
}

parse_path = path_parser(NAME, DOC_REF, PATHS)
parse_path.__doc__ = "ctxlog.PathGetSetter."


def make_context(otelcol_parser=None) -> ContextDef:
    return context_def(NAME, DOC_REF, (NAME, scope.LEGACY_NAME, scope.NAME, resource.NAME, "otelcol"),
                       parse_path, (resource, scope), otelcol_parser, ENUMS)
