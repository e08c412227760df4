"""The message side of core/http1: the request a handler sees and the bytes of an answer, with the
status line, headers and Date value Go's net/http server writes."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

from urllib.parse import parse_qsl

from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy

Response = tuple[int, "dict[str, str] | None", bytes]


class Request:
    """What a handler sees: method, path (percent-decoded except %2F, as aiohttp's path_safe),
    the raw query string, headers (case-insensitive multidict), the body and whether it stayed
    within the limit (``within`` False: ``body`` holds only the first limit + 1 bytes)."""

    __slots__ = ("method", "path", "query_string", "headers", "body", "within", "version", "keep_alive",
                 "_query", "_fixed")

    def __init__(self, method: str, path: str, query_string: str, headers: CIMultiDictProxy,
                 body: bytes, within: bool, version: str, keep_alive: bool) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.within = within
        self.version = version
        self.keep_alive = keep_alive
        self._query: MultiDictProxy | None = None
        self._fixed: bytes | None = None  # a canned answer (parse error, 417) instead of the handler

    @property
    def query(self) -> MultiDictProxy:
        if self._query is None:
            self._query = MultiDictProxy(MultiDict(parse_qsl(self.query_string, keep_blank_values=True)))
        return self._query


_date_second = -1
_date_value = b""


def _date() -> bytes:
    """The Date header value as Go formats it (RFC 1123 in GMT), formatted once a second."""
    global _date_second, _date_value
    now = int(time.time())
    if now != _date_second:
        _date_second, _date_value = now, formatdate(now, usegmt=True).encode()
    return _date_value


_REASONS = {s.value: s.phrase for s in HTTPStatus}


def _reason(status: int) -> str:
    return _REASONS.get(status) or "status code %d" % status


def encode_response(status: int, headers: dict[str, str] | None, body: bytes, *, head: bool = False,
                    close: bool = False) -> bytes:
    """Status line and headers as Go's server writes them, then the body."""
    parts = ["HTTP/1.1 %d %s\r\n" % (status, _reason(status))]
    if headers:
        for name, value in headers.items():
            parts.append("%s: %s\r\n" % (name, value))
    parts.append("Date: %s\r\n" % _date().decode())
    bodyless = status < 200 or status in (204, 304)
    if not bodyless:
        parts.append("Content-Length: %d\r\n" % len(body))
    if close:
        parts.append("Connection: close\r\n")
    parts.append("\r\n")
    out = "".join(parts).encode("latin-1", "replace")
    return out if bodyless or head else out + body


def error_response(status: int) -> bytes:
    """What Go answers to a request it cannot parse, and then closes the connection."""
    text = "%d %s" % (status, _reason(status))
    return (("HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%s"
             % (text, text)).encode())
