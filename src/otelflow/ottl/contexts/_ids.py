"""Trace/span id paths (``trace_id``, ``trace_id.string`` ...) shared by the span and log contexts."""

from __future__ import annotations

from operator import attrgetter

from ..errors import OttlError
from ._common import next_segment
from .keys import expect_str, expect_type
from .registry import Accessor, PathCursor
from .types import TraceID


def _parse_hex(s: str, cls) -> bytes:
    """ctxcommon.ParseTraceID / ParseSpanID (hex.DecodedLen, then hex.Decode's errors)."""
    b = s.encode("utf-8", "surrogateescape")
    if len(b) // 2 != cls.size:
        raise OttlError("trace ids must be 32 hex characters" if cls is TraceID
                        else "span ids must be 16 hex characters")
    for c in b:
        if c not in _HEX:
            ch = chr(c)
            shown = f" '{ch}'" if ch.isprintable() or ch == " " else ""
            raise OttlError(f"encoding/hex: invalid byte: U+{c:04X}{shown}")
    if len(b) % 2:
        raise OttlError("encoding/hex: odd length hex string")
    return bytes.fromhex(s)


_HEX = frozenset(b"0123456789abcdefABCDEF")


def id_accessor(msg: str, field: str, cls) -> Accessor:
    """``<id>``: the bytes field as a TraceID/SpanID; set from a value of that type."""
    read, msg_of = attrgetter(f"{msg}.{field}"), attrgetter(msg)

    def get(ctx):
        return cls.from_field(read(ctx))

    def set_(ctx, val):
        if type(val) is not cls:
            expect_type(val, False, cls.go_type)
        setattr(msg_of(ctx), field, val.to_field())
    return get, set_


def id_string_accessor(msg: str, field: str, cls) -> Accessor:
    """``<id>.string``: the id as lowercase hex (all zeros when unset); set from hex, all zeros
    clearing the field."""
    read, msg_of = attrgetter(f"{msg}.{field}"), attrgetter(msg)
    zero = "00" * cls.size
    size = cls.size

    def get(ctx):
        b = read(ctx)
        return b.hex() if len(b) == size else zero

    def set_(ctx, val):
        raw = _parse_hex(expect_str(val), cls)
        setattr(msg_of(ctx), field, b"" if not any(raw) else raw)
    return get, set_


def id_path(msg: str, field: str, cls, ctx_name: str, doc_ref: str):
    """The PATHS entry of ``<id>`` / ``<id>.string`` for the id field ``msg.field``; another next
    segment is an error naming it. Both accessors are built once, here."""
    plain = id_accessor(msg, field, cls)
    subs = {"string": id_string_accessor(msg, field, cls)}

    def parse(path: PathCursor) -> Accessor:
        return next_segment(path, plain, subs, ctx_name, doc_ref)
    return parse
