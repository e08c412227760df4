"""The span context and its ``span.*`` paths (ctxspan).

Paths: ``trace_id`` (TraceID), ``trace_id.string``, ``span_id`` (SpanID), ``span_id.string``,
``parent_span_id`` (SpanID), ``parent_span_id.string``, ``trace_state`` (string),
``trace_state[key]``, ``name``, ``kind`` (int), ``kind.string``, ``kind.deprecated_string``,
``start_time_unix_nano``, ``end_time_unix_nano`` (int), ``start_time``, ``end_time`` (GoTime),
``attributes``, ``attributes[...]``, ``dropped_attributes_count``, ``events``
(ptrace.SpanEventSlice), ``dropped_events_count``, ``links`` (ptrace.SpanLinkSlice),
``dropped_links_count``, ``status`` (ptrace.Status), ``status.code``, ``status.message``, ``flags``,
plus ``cache``. The context also accepts ``resource.*``, ``scope.*`` and ``instrumentation_scope.*``.
"""

from __future__ import annotations

from ..errors import OttlConfigError, OttlError
from ..values import GoTime
from . import resource, scope
from ._common import map_accessor, str_field, uint32_count
from ._ids import parse_id_path
from .keys import (expect_int, expect_str, expect_time, expect_type, set_message_slice, to_int32,
                   to_int64, to_uint64)
from .registry import DOC_BASE, Accessor, ContextDef, PathCursor, segment_error
from .types import SpanEventSlice, SpanID, SpanLinkSlice, Status, TraceID
from . import tracestate

NAME = "span"
DOC_REF = DOC_BASE + "ottlspan"

ENUMS = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
    "STATUS_CODE_UNSET": 0,
    "STATUS_CODE_OK": 1,
    "STATUS_CODE_ERROR": 2,
}

_KIND_STRINGS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
_KIND_FROM_STRING = {s: i for i, s in enumerate(_KIND_STRINGS)}
_KIND_DEPRECATED = ("SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                    "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER")
_KIND_FROM_DEPRECATED = {s: i for i, s in enumerate(_KIND_DEPRECATED)}
_MAX_U32 = (1 << 32) - 1


def _span(ctx):
    return ctx.span


def _attrs(ctx):
    return ctx.span.attributes


def _time_unix_nano(field: str) -> Accessor:
    def get(ctx):
        return to_int64(getattr(ctx.span, field))

    def set_(ctx, val):
        setattr(ctx.span, field, to_uint64(expect_int(val)))
    return get, set_


def _time(field: str) -> Accessor:
    def get(ctx):
        return GoTime(to_int64(getattr(ctx.span, field)))

    def set_(ctx, val):
        setattr(ctx.span, field, to_uint64(expect_time(val).ns))
    return get, set_


def _kind() -> Accessor:
    def get(ctx):
        return ctx.span.kind

    def set_(ctx, val):
        ctx.span.kind = to_int32(expect_int(val))
    return get, set_


def _kind_string(names: tuple, lookup: dict, what: str) -> Accessor:
    n = len(names)

    def get(ctx):
        k = ctx.span.kind
        return names[k] if 0 <= k < n else ""

    def set_(ctx, val):
        s = expect_str(val)
        k = lookup.get(s)
        if k is None:
            raise OttlError(f"unknown span kind {what}, {s}")
        ctx.span.kind = k
    return get, set_


def _trace_state() -> Accessor:
    def get(ctx):
        return ctx.span.trace_state

    def set_(ctx, val):
        ctx.span.trace_state = expect_str(val)
    return get, set_


def _trace_state_key(keys) -> Accessor:
    if len(keys) != 1:
        raise OttlConfigError("must provide exactly 1 key when accessing trace_state")
    key = keys[0]

    def get(ctx):
        members = tracestate.parse(ctx.span.trace_state)
        if members is None:
            return None
        s = key.s
        if s is None:
            raise OttlError("trace_state indexing type must be a string")
        return tracestate.get(members, s)

    def set_(ctx, val):
        v = expect_str(val)
        members = tracestate.parse(ctx.span.trace_state)
        if members is None:
            return
        s = key.s
        if s is None:
            raise OttlError("trace_state indexing type must be a string")
        updated = tracestate.insert(members, s, v)
        if updated is not None:
            ctx.span.trace_state = tracestate.to_string(updated)
    return get, set_


def _events() -> Accessor:
    def get(ctx):
        return SpanEventSlice(ctx.span.events)

    def set_(ctx, val):
        set_message_slice(ctx.span.events, SpanEventSlice, val)
    return get, set_


def _links() -> Accessor:
    def get(ctx):
        return SpanLinkSlice(ctx.span.links)

    def set_(ctx, val):
        set_message_slice(ctx.span.links, SpanLinkSlice, val)
    return get, set_


def _status() -> Accessor:
    def get(ctx):
        return Status(ctx.span.status)

    def set_(ctx, val):
        if type(val) is not Status:
            expect_type(val, False, Status.go_type)
        dest = ctx.span.status
        if val.obj is not dest:
            dest.CopyFrom(val.obj)
    return get, set_


def _status_code() -> Accessor:
    def get(ctx):
        return ctx.span.status.code

    def set_(ctx, val):
        ctx.span.status.code = to_int32(expect_int(val))
    return get, set_


def _status_message() -> Accessor:
    def get(ctx):
        return ctx.span.status.message

    def set_(ctx, val):
        ctx.span.status.message = expect_str(val)
    return get, set_


def _flags() -> Accessor:
    def get(ctx):
        return ctx.span.flags

    def set_(ctx, val):
        v = expect_int(val)
        if v < 0 or v > _MAX_U32:
            raise OttlError(f"value {v} is out of range for uint32")
        ctx.span.flags = v
    return get, set_


def parse_path(path: PathCursor) -> Accessor:
    """ctxspan.PathGetSetter."""
    name = path.name
    if name == "trace_id":
        return parse_id_path(path, _span, "trace_id", TraceID, NAME, DOC_REF)
    if name == "span_id":
        return parse_id_path(path, _span, "span_id", SpanID, NAME, DOC_REF)
    if name == "trace_state":
        keys = path.keys()
        if keys is None:
            return _trace_state()
        return _trace_state_key(keys)
    if name == "parent_span_id":
        return parse_id_path(path, _span, "parent_span_id", SpanID, NAME, DOC_REF)
    if name == "name":
        return str_field(_span, "name")
    if name == "kind":
        nxt = path.next()
        if nxt is not None:
            if nxt.name == "string":
                return _kind_string(_KIND_STRINGS, _KIND_FROM_STRING, "string")
            if nxt.name == "deprecated_string":
                return _kind_string(_KIND_DEPRECATED, _KIND_FROM_DEPRECATED, "deprecated string")
            raise segment_error(nxt.name, nxt.string(), NAME, DOC_REF)
        return _kind()
    if name == "start_time_unix_nano":
        return _time_unix_nano("start_time_unix_nano")
    if name == "end_time_unix_nano":
        return _time_unix_nano("end_time_unix_nano")
    if name == "start_time":
        return _time("start_time_unix_nano")
    if name == "end_time":
        return _time("end_time_unix_nano")
    if name == "attributes":
        return map_accessor(_attrs, path.keys())
    if name == "dropped_attributes_count":
        return uint32_count(_span, "dropped_attributes_count")
    if name == "events":
        return _events()
    if name == "dropped_events_count":
        return uint32_count(_span, "dropped_events_count")
    if name == "links":
        return _links()
    if name == "dropped_links_count":
        return uint32_count(_span, "dropped_links_count")
    if name == "status":
        nxt = path.next()
        if nxt is not None:
            if nxt.name == "code":
                return _status_code()
            if nxt.name == "message":
                return _status_message()
            raise segment_error(nxt.name, nxt.string(), NAME, DOC_REF)
        return _status()
    if name == "flags":
        return _flags()
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
    return ContextDef(NAME, DOC_REF, (NAME, resource.NAME, scope.LEGACY_NAME, scope.NAME, "otelcol"),
                      parsers, ENUMS)
