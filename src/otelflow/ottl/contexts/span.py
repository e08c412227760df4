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
from . import resource, scope, tracestate
from ._common import (context_def, int32_field, map_accessor, message_field, message_slice, next_segment,
                      path_parser, str_field, time_field, time_unix_nano, uint32_count)
from ._ids import id_path
from .keys import expect_int, expect_str
from .registry import DOC_BASE, Accessor, ContextDef
from .types import SpanEventSlice, SpanID, SpanLinkSlice, Status, TraceID

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
_KIND_DEPRECATED = ("SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                    "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER")
_MAX_U32 = (1 << 32) - 1


def _kind_string(names: tuple, what: str) -> Accessor:
    """``kind.string`` / ``kind.deprecated_string``: the kind by name; an unknown name is an error."""
    n = len(names)
    lookup = {s: i for i, s in enumerate(names)}

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


def _trace_state_key(keys) -> Accessor:
    """``trace_state["k"]``: one member of the W3C tracestate; setting it rewrites the header."""
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


def _flags() -> Accessor:
    """``flags``: unlike the other uint32 fields, an out-of-range value is an error, not truncated."""
    def get(ctx):
        return ctx.span.flags

    def set_(ctx, val):
        v = expect_int(val)
        if v < 0 or v > _MAX_U32:
            raise OttlError(f"value {v} is out of range for uint32")
        ctx.span.flags = v
    return get, set_


_TRACE_STATE = str_field("span", "trace_state")
_KIND = int32_field("span", "kind")
_KIND_SUBS = {"string": _kind_string(_KIND_STRINGS, "string"),
              "deprecated_string": _kind_string(_KIND_DEPRECATED, "deprecated string")}
_STATUS = message_field("span", "status", Status)
_STATUS_SUBS = {"code": int32_field("span.status", "code"), "message": str_field("span.status", "message")}

PATHS = {
    "trace_id": id_path("span", "trace_id", TraceID, NAME, DOC_REF),
    "span_id": id_path("span", "span_id", SpanID, NAME, DOC_REF),
    "trace_state": lambda path: (_TRACE_STATE if (keys := path.keys()) is None else _trace_state_key(keys)),
    "parent_span_id": id_path("span", "parent_span_id", SpanID, NAME, DOC_REF),
    "name": str_field("span", "name"),
    "kind": lambda path: next_segment(path, _KIND, _KIND_SUBS, NAME, DOC_REF),
    "start_time_unix_nano": time_unix_nano("span", "start_time_unix_nano"),
    "end_time_unix_nano": time_unix_nano("span", "end_time_unix_nano"),
    "start_time": time_field("span", "start_time_unix_nano"),
    "end_time": time_field("span", "end_time_unix_nano"),
    "attributes": lambda path: map_accessor("span.attributes", path.keys()),
    "dropped_attributes_count": uint32_count("span", "dropped_attributes_count"),
    "events": message_slice("span", "events", SpanEventSlice),
    "dropped_events_count": uint32_count("span", "dropped_events_count"),
    "links": message_slice("span", "links", SpanLinkSlice),
    "dropped_links_count": uint32_count("span", "dropped_links_count"),
    "status": lambda path: next_segment(path, _STATUS, _STATUS_SUBS, NAME, DOC_REF),
    "flags": _flags(),
}

parse_path = path_parser(NAME, DOC_REF, PATHS)
parse_path.__doc__ = "ctxspan.PathGetSetter."


def make_context(otelcol_parser=None) -> ContextDef:
    return context_def(NAME, DOC_REF, (NAME, resource.NAME, scope.LEGACY_NAME, scope.NAME, "otelcol"),
                       parse_path, (resource, scope), otelcol_parser, ENUMS)
