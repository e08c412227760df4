"""Cutting file bytes into tokens as upstream's split/trim packages do: newline (or a multiline
``line_start_pattern``/``line_end_pattern``) boundaries, a ``max_log_size`` cut when no boundary
comes within that many bytes, whitespace trimming, and the flush of an unterminated tail.

A split works on one buffer with indices (no per-token copies of the rest); ``used`` is how far
the caller may advance its offset once the tokens are accepted.
"""

from __future__ import annotations

import re
from typing import Callable

from otelflow.pdata.goregexp import compile_go_regex
from otelflow.stanza.fileconsumer.encoding import NOP

_SPACE = b" \t\r\n"
Trim = Callable[[bytes], bytes]


def trimmer(preserve_leading: bool, preserve_trailing: bool, nop: bool = False) -> Trim | None:
    """trim.Config.Func (None is trim.Nop); the nop encoding is never trimmed."""
    if nop or (preserve_leading and preserve_trailing):
        return None
    if preserve_leading:
        return lambda t: t.rstrip(_SPACE)
    if preserve_trailing:
        return lambda t: t.lstrip(_SPACE)
    return lambda t: t.strip(_SPACE)


def _compile(pattern: str) -> re.Pattern[bytes] | None:
    """Go's ``(?m)<pattern>`` over bytes (Go matches UTF-8 bytes directly)."""
    if not pattern:
        return None
    translated = compile_go_regex("(?m)" + pattern)
    return re.compile(translated.pattern.encode("utf-8"), translated.flags & ~re.UNICODE & ~re.ASCII)


class Splitter:
    """One receiver's split function; stateless, so one instance serves every file."""

    def __init__(self, codec: str, max_log_size: int, line_start: str = "", line_end: str = "",
                 omit: bool = False, truncate: bool = False) -> None:
        self.nop = codec == NOP
        self.max = max_log_size
        self.newline = b"\n" if self.nop else "\n".encode(codec)
        self.cr = b"\r" if self.nop else "\r".encode(codec)
        self.start = _compile(line_start)
        self.end = _compile(line_end)
        self.omit = omit
        self.truncate = truncate

    def split(self, data: bytes, flush: bool, max_tokens: int, at_eof: bool | None = None,
              start: int = 0) -> tuple[list[bytes], int]:
        """Up to ``max_tokens`` tokens from ``data[start:]`` and the bytes they consume.

        ``at_eof``: ``data`` reaches the end of the file (bufio's atEOF; defaults to ``flush``).
        ``flush``: force_flush_period elapsed (or a whole gzip stream was read), so an unterminated
        tail left after the boundaries are found becomes a token, as upstream's flush.State does.
        """
        if at_eof is None:
            at_eof = flush
        tokens: list[bytes] = []
        pos, size, mx = start, len(data), self.max
        while pos < size and len(tokens) < max_tokens:
            limit = min(size, pos + mx)
            adv, tok = self._next(data, pos, limit, at_eof and limit == size)
            if tok is None and adv == 0:
                if limit - pos < mx:
                    if flush and limit == size:
                        tokens.append(data[pos:size])
                        pos = size
                    break  # wait for more data
                adv, tok = mx, data[pos:pos + mx]  # trim.ToLength: no boundary within max_log_size
                if self.truncate:
                    tokens.append(tok)
                    pos += adv
                    skip = self._skip(data, pos, flush)
                    if skip is None:
                        break
                    pos = skip
                    continue
            pos += adv
            if tok is not None:
                tokens.append(tok)
        return tokens, pos - start

    def _skip(self, data: bytes, pos: int, flush: bool) -> int | None:
        """After a truncated token: the offset after the rest of that entry, None when unknown yet."""
        size = len(data)
        while pos < size:
            limit = min(size, pos + self.max)
            adv, tok = self._next(data, pos, limit, False)
            if adv or tok is not None:
                return pos + adv
            if limit - pos < self.max:
                return size if flush else None
            pos = limit
        return pos

    def _next(self, data: bytes, pos: int, limit: int, eof: bool) -> tuple[int, bytes | None]:
        """One step of upstream's split func over ``data[pos:limit]``: (advance, token)."""
        if self.nop:
            return (limit - pos, data[pos:limit]) if eof else (0, None)
        if self.start is not None:
            return self._line_start(data, pos, limit, eof)
        if self.end is not None:
            return self._line_end(data, pos, limit, eof)
        i = data.find(self.newline, pos, limit)
        if i >= 0:
            tok = data[pos:i]
            if tok.endswith(self.cr):
                tok = tok[:-len(self.cr)]
            return i - pos + len(self.newline), tok
        return 0, None

    def _line_start(self, data: bytes, pos: int, limit: int, eof: bool) -> tuple[int, bytes | None]:
        assert self.start is not None
        first = self.start.search(data, pos, limit)
        if first is None:
            return 0, None
        if first.start() != pos:
            return first.start() - pos, data[pos:first.start()]
        if first.end() == limit:
            return 0, None
        second = None
        for m in self.start.finditer(data, first.end(), limit):
            if m.start() > first.end():
                second = m
                break
        if second is None:
            return 0, None
        return second.start() - pos, data[first.end() if self.omit else pos:second.start()]

    def _line_end(self, data: bytes, pos: int, limit: int, eof: bool) -> tuple[int, bytes | None]:
        assert self.end is not None
        m = self.end.search(data, pos, limit)
        if m is None:
            return 0, None
        if m.end() == limit - 1 and not eof:
            return 0, None
        return m.end() - pos, data[pos:m.start() if self.omit else m.end()]
