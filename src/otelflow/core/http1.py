"""A lean HTTP/1.1 server on asyncio.Protocol and httptools (llhttp), for the OTLP/HTTP receiver.

Why not aiohttp: at a steady rate of small requests the CPU per request is dominated by the cost of
each wakeup, and aiohttp's server machinery (StreamReader, request/response objects, writer, its
keep-alive timer) roughly doubles it. This server parses with llhttp's callbacks, keeps the body
in a list of chunks (at most limit + 1 bytes, as confighttp's MaxBytesReader would read), runs one
handler per connection at a time (pipelined requests are answered in order), started at once and
made a task only if it has to wait, and writes each response as one bytes object with the headers
Go's server sends.

A handler takes a :class:`Request` and returns ``(status, headers, body)``; ``headers`` is a dict
or None and should carry Content-Type.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
from typing import Awaitable, Callable
from urllib.parse import unquote

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from otelflow.core.eager import start_eager
from otelflow.core.http1_message import Request, Response, encode_response, error_response

__all__ = ["HTTP1Server", "Handler", "Request", "Response", "encode_response"]

log = logging.getLogger("otelflow.http1")

Handler = Callable[["Request"], Awaitable[Response]]

# aiohttp's limit on one header field (the receiver set max_field_size=65536), and Go's total
# (DefaultMaxHeaderBytes plus the 4 KiB slack it allows) for the whole header block.
MAX_FIELD_SIZE = 65536
MAX_HEADER_BYTES = (1 << 20) + 4096
# A connection stops reading once this many parsed requests wait for their answers.
_MAX_PENDING = 16
_SLASH = re.compile("%2[fF]")


class _Protocol(asyncio.Protocol):
    """One connection: llhttp's callbacks build requests; ``_serve`` answers them in order."""

    def __init__(self, server: "HTTP1Server") -> None:
        self.server = server
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: collections.deque[Request] = collections.deque()
        self.task: asyncio.Task | None = None
        self.paused = False
        self.closed = False
        self.in_message = False
        self.in_headers = True  # waiting for a request line: its bytes count toward the header limit
        self.continue_due = False
        self.eof = False
        self.writable: asyncio.Future | None = None
        self.last_active = self.loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.header_bytes = 0

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        # A handler already running finishes (as aiohttp lets it); its answer has nowhere to go.
        self.closed = True
        self.server.connections.discard(self)
        self.resume_writing()
        if self._timer is not None:
            self._timer.cancel()
        self._stop_header_timer()
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.closed or self.parser is None:
            return
        if self.in_headers:
            self.header_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            # Go ignores h2c and websocket upgrades on this server: go on reading HTTP/1.1.
            rest = data[exc.args[0]:] if exc.args and isinstance(exc.args[0], int) else b""
            self.parser = httptools.HttpRequestParser(self)
            if rest:
                self.data_received(rest)
        except httptools.HttpParserError as exc:  # a callback's own exception is its __context__
            refused = exc.__context__
            self._fail(refused.status if isinstance(refused, _Refused) else 400)
        if self.in_headers and self.header_bytes > MAX_HEADER_BYTES:
            self._fail(431)
        elif self.in_headers and self.in_message and self._header_timer is None and not self.closed:
            # part of a request line or header block came: the rest must follow within
            # read_header_timeout (Go's ReadHeaderTimeout; a request that arrives whole arms nothing)
            timeout = self.server.read_header_timeout
            if timeout > 0:
                self._header_timer = self.loop.call_later(timeout, self._headers_too_slow)
        if self.pending and self.task is None:
            # answered here when the handler need not wait (the usual case: the pipeline only
            # queues), else by a task that starts where the handler stopped
            self.task = start_eager(self.loop, self._serve())

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.in_headers and self.in_message:
            self.close()  # as Go's server: the read deadline passes and the connection is closed

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def eof_received(self) -> bool | None:
        # The client finished sending (half-close): answer what it sent, then close.
        if self.busy():
            self.eof = True
            return True
        return None

    def pause_writing(self) -> None:
        # The client does not read its answers: stop answering (reading stops once requests pile up).
        if self.writable is None:
            self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        if self.writable is not None:
            if not self.writable.done():
                self.writable.set_result(None)
            self.writable = None

    # -- llhttp callbacks

    def on_message_begin(self) -> None:
        self.in_message = True
        self._reset()
        self.header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) > MAX_FIELD_SIZE or len(value) > MAX_FIELD_SIZE:
            raise _Refused(431)
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.in_headers = False  # the rest of this message is body
        self._stop_header_timer()
        if self.parser.get_http_version() == "1.1":
            expect = self._header("expect")
            if expect is not None and expect.lower() == "100-continue":
                if not self.pending and self.task is None:
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                else:
                    self.continue_due = True  # after the answers ahead of it

    def on_body(self, chunk: bytes) -> None:
        limit = self.server.body_limit
        if self.size > limit:
            return  # over the limit: the rest is read and dropped
        self.size += len(chunk)
        if self.size > limit:
            chunk = chunk[:len(chunk) - (self.size - limit - 1)]
        self.chunks.append(chunk)

    def on_message_complete(self) -> None:
        parser = self.parser
        self.in_message = False
        self.in_headers = True
        self.continue_due = False
        try:
            parsed = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            raise _Refused(400) from None
        path = (parsed.path or b"/").decode("latin-1")
        if "%" in path:
            path = unquote(_SLASH.sub("%252F", path))
        version = parser.get_http_version()
        request = Request(
            parser.get_method().decode("latin-1"), path, (parsed.query or b"").decode("latin-1"),
            CIMultiDictProxy(CIMultiDict(self.headers)),
            self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks),
            self.size <= self.server.body_limit, version,
            parser.should_keep_alive() and self.server.keep_alive and not self.server.closing)
        expect = self._header("expect")
        if version == "1.1" and expect is not None and expect.lower() != "100-continue":
            request._fixed = encode_response(  # what aiohttp answered for an unknown Expect
                417, {"Content-Type": "text/plain; charset=utf-8"}, ("Unknown Expect: %s" % expect).encode())
        self._reset()
        self._enqueue(request)

    # -- answering

    def _header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def _enqueue(self, request: Request) -> None:
        self.pending.append(request)
        if len(self.pending) >= _MAX_PENDING and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def _fail(self, status: int) -> None:
        """A request llhttp refused: answered after the ones ahead of it, then the connection closes."""
        if self.parser is None:
            return
        self.parser = None
        request = Request("", "", "", CIMultiDictProxy(CIMultiDict()), b"", True, "1.1", False)
        request._fixed = error_response(status)
        self._enqueue(request)

    async def _serve(self) -> None:
        handler = self.server.handler
        try:
            while self.pending and not self.closed:
                if self.writable is not None:
                    await self.writable
                    continue
                request = self.pending[0]
                data = request._fixed
                if data is None:
                    try:
                        status, headers, body = await handler(request)
                    except Exception:  # noqa: BLE001 - a handler bug answers 500, the server goes on
                        log.exception("HTTP handler failed")
                        status, headers, body = 500, {"Content-Type": "text/plain; charset=utf-8"}, \
                            b"500 Internal Server Error"
                    keep = request.keep_alive and not self.server.closing
                    data = encode_response(status, headers, body, head=request.method == "HEAD", close=not keep)
                else:
                    keep = request.keep_alive
                if self.closed:
                    return
                if self.pending:
                    self.pending.popleft()
                self.transport.write(data)
                if not keep or (self.eof and not self.pending):
                    self.closed = True
                    self.transport.close()
                    return
                if self.paused and len(self.pending) < _MAX_PENDING // 2:
                    self.paused = False
                    self.transport.resume_reading()
                if self.continue_due and not self.pending:
                    self.continue_due = False
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        finally:
            self.task = None
            self.last_active = self.loop.time()
            self.server._idle_changed()

    # -- idleness

    def idle(self) -> bool:
        return self.task is None and not self.pending and not self.in_message

    def busy(self) -> bool:
        """A request is in hand (parsed, being answered or waiting for its answer)."""
        return not self.closed and (self.task is not None or bool(self.pending))

    def _arm_idle(self) -> None:
        timeout = self.server.idle_timeout
        if timeout > 0 and not self.closed:
            self._timer = self.loop.call_at(self.last_active + timeout, self._check_idle)

    def _check_idle(self) -> None:
        self._timer = None
        if self.closed:
            return
        if self.idle() and self.loop.time() - self.last_active >= self.server.idle_timeout:
            self.close()
            return
        if not self.idle():
            self.last_active = self.loop.time()
        self._arm_idle()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()


class _Refused(Exception):
    """Raised in an llhttp callback: answer ``status`` and close."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class HTTP1Server:
    """Listening sockets plus the live connections, so shutdown can close the idle ones at once and
    let the ones with a request in hand answer it first (as aiohttp's runner cleanup did)."""

    def __init__(self, handler: Handler, body_limit: int, idle_timeout: float = 60.0,
                 read_header_timeout: float = 60.0, keep_alive: bool = True) -> None:
        """The timeouts are confighttp's (0: none); ``keep_alive`` False closes after each answer."""
        self.handler = handler
        self.body_limit = body_limit
        self.idle_timeout = idle_timeout
        self.read_header_timeout = read_header_timeout
        self.keep_alive = keep_alive
        self.loop = asyncio.get_running_loop()
        self.connections: set[_Protocol] = set()
        self.closing = False
        self.server: asyncio.base_events.Server | None = None
        self._drained: asyncio.Event | None = None

    async def listen(self, host: str | None, port: int, ssl_context=None, reuse_port: bool = False) -> list[tuple[str, int]]:
        self.server = await self.loop.create_server(
            lambda: _Protocol(self), host, port, ssl=ssl_context, reuse_address=True,
            reuse_port=reuse_port or None)
        return [sock.getsockname()[:2] for sock in self.server.sockets]

    def _idle_changed(self) -> None:
        if self.closing and self._drained is not None and not any(c.busy() for c in self.connections):
            self._drained.set()

    async def close(self, timeout: float = 10.0) -> None:
        """Stop listening, close idle connections, wait up to ``timeout`` for the busy ones to answer,
        then cancel what is left."""
        self.closing = True
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            if not conn.busy():
                conn.close()
        if any(c.busy() for c in self.connections):
            self._drained = asyncio.Event()
            try:
                await asyncio.wait_for(self._drained.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        for conn in list(self.connections):
            if conn.task is not None:
                conn.task.cancel()  # still waiting after the timeout, as aiohttp's cleanup cancels them
            conn.close()
        if self.server is not None:
            try:
                await asyncio.wait_for(self.server.wait_closed(), 1.0)
            except asyncio.TimeoutError:
                pass
            self.server = None
