"""Trace/span id paths (``trace_id``, ``trace_id.string`` ...) shared by the span and log contexts."""

from __future__ import annotations

from ..errors import OttlError
from .keys import expect_str, expect_type
from .registry import Accessor, PathCursor, segment_error
from .types import SpanID, TraceID


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


def id_accessor(msg_of, field: str, cls) -> Accessor:
    def get(ctx):
        return cls.from_field(getattr(msg_of(ctx), field))

    def set_(ctx, val):
        if type(val) is not cls:
            expect_type(val, False, cls.go_type)
        setattr(msg_of(ctx), field, val.to_field())
    return get, set_


def id_string_accessor(msg_of, field: str, cls) -> Accessor:
    zero = "00" * cls.size
    size = cls.size

    def get(ctx):
        b = getattr(msg_of(ctx), field)
        return b.hex() if len(b) == size else zero

    def set_(ctx, val):
        raw = _parse_hex(expect_str(val), cls)
        setattr(msg_of(ctx), field, b"" if not any(raw) else raw)
    return get, set_


def parse_id_path(path: PathCursor, msg_of, field: str, cls, ctx_name: str, doc_ref: str,
                  err_text_from_next: bool = True) -> Accessor:
    """``<id>`` or ``<id>.string``; another next segment is an error naming it. Upstream builds the
    error's path text from the next segment or from the id segment; both print the whole path."""
    nxt = path.next()
    if nxt is not None:
        if nxt.name == "string":
            return id_string_accessor(msg_of, field, cls)
        raise segment_error(nxt.name, nxt.string() if err_text_from_next else path.string(), ctx_name, doc_ref)
    return id_accessor(msg_of, field, cls)
