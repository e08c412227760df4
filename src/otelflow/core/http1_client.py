"""A lean keep-alive HTTP/1.1 client on asyncio.Protocol and httptools, for the otlphttp exporter.

Why not aiohttp: at a steady rate of small requests the CPU per request is dominated by the cost of
each wakeup, and aiohttp's client machinery (connector, StreamReader, response objects, timers)
roughly doubles it. Here a request is written as one bytes object and the response is parsed with
llhttp's callbacks straight into a future, so the answer costs one wakeup of the waiting task.

One :class:`HTTP1Client` serves one origin (scheme, host, port) with a small pool: idle connections
are reused (last used first), a busy one is never shared, a connection the server closed, that
errored, or whose request was cancelled is dropped. A request that fails on a *reused* connection
before any byte of the response arrived is retried once on a fresh connection (the server may have
closed an idle keep-alive connection while the request was on its way, as Go's transport retries).
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
import time
import zlib
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict


class ClientError(Exception):
    """The request could not be made or its response could not be read (no HTTP status to map)."""


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: CIMultiDict, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def content_type(self) -> str:
        """The media type without parameters, lowercased (as aiohttp's ``content_type``)."""
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


class _Conn(asyncio.Protocol):
    """One connection; at most one request in flight. ``waiter`` gets the Response or an exception."""

    __slots__ = ("transport", "parser", "waiter", "headers", "chunks", "received", "complete",
                 "closed", "reused", "last_used", "_name", "_headers_done", "_until_close")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.headers: CIMultiDict = CIMultiDict()
        self.chunks: list[bytes] = []
        self.received = False  # some byte of the current response arrived
        self.closed = False
        self.reused = False
        self.last_used = 0.0
        self._name = b""
        self._headers_done = False
        self._until_close = False

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self.waiter is None:  # bytes nobody asked for: the connection is unusable
            self._abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ClientError("unexpected protocol upgrade in response"))
        except httptools.HttpParserError as exc:
            self._fail(ClientError(f"malformed HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self._until_close:  # a body delimited by the end of the connection is now complete
            self._finish()
            return
        err = ClientError(f"connection closed before the response was complete{f': {exc}' if exc else ''}")
        err.early = not self.received  # type: ignore[attr-defined]
        waiter.set_exception(err)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name:
            if self._name:
                self._add_header(self._name, b"")
            self._name = name
        if value:
            self._add_header(self._name, value)
            self._name = b""

    def _add_header(self, name: bytes, value: bytes) -> None:
        self.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        if self._name:
            self._add_header(self._name, b"")
            self._name = b""
        self._headers_done = True
        h = self.headers
        self._until_close = "Content-Length" not in h and "chunked" not in h.get("Transfer-Encoding", "").lower()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.parser.get_status_code() < 200:  # an interim answer (1xx): the final one follows, as Go skips it
            self.headers = CIMultiDict()
            self.chunks = []
            return
        self._until_close = False
        self._finish()

    # helpers
    def _finish(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        body = b"".join(self.chunks)
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding in ("gzip", "x-gzip") and body:  # asked for with Accept-Encoding, as Go's transport
            try:
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            except zlib.error as exc:
                waiter.set_exception(ClientError(f"gzip: invalid response body: {exc}"))
                return
        status = self.parser.get_status_code()
        if not self.parser.should_keep_alive():
            self._abort()
        waiter.set_result(Response(status, self.headers, body))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self._abort()

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def start(self, loop: asyncio.AbstractEventLoop, data: bytes) -> asyncio.Future:
        self.waiter = loop.create_future()
        self.headers = CIMultiDict()
        self.chunks = []
        self.received = False
        self._headers_done = False
        self._until_close = False
        if self.closed or self.transport.is_closing():
            err = ClientError("connection closed before the request was sent")
            err.early = True  # type: ignore[attr-defined]
            self.waiter.set_exception(err)
        else:
            self.transport.write(data)
        return self.waiter


# header names the client writes itself
_OWN = frozenset(("host", "content-length"))


class HTTP1Client:
    """Keep-alive HTTP/1.1 POSTs to one URL's origin; ``close()`` ends every connection."""

    def __init__(self, url: str, ssl: _ssl.SSLContext | None = None, server_hostname: str | None = None,
                 connect_timeout: float = 30.0, keep_alive: bool = True, idle_timeout: float = 90.0,
                 max_idle: int = 100, max_conns: int = 0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported URL {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = (self.https and self.port == 443) or (not self.https and self.port == 80)
        authority = host if default else f"{host}:{self.port}"
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        self.path = path
        self._head = f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n"
        self._tail = "Accept-Encoding: gzip\r\n" + ("" if keep_alive else "Connection: close\r\n")
        self.ssl = ssl if self.https else None
        self.server_hostname = (server_hostname or self.host) if self.https else None
        self.connect_timeout = connect_timeout or None
        self.keep_alive = keep_alive
        self.idle_timeout = idle_timeout
        self.max_idle = max_idle
        # MaxConnsPerHost: requests wait for a connection once this many are open (0: no limit)
        self._slots = asyncio.Semaphore(max_conns) if max_conns > 0 else None
        self._idle: list[_Conn] = []
        self._all: set[_Conn] = set()

    def _encode(self, headers: dict[str, str], body: bytes) -> bytes:
        first = self._head
        if any(k.lower() in _OWN for k in headers):
            # as Go's client: a configured Host names the request's host, a Content-Length is not sent
            host = next((v for k, v in headers.items() if k.lower() == "host"), None)
            if host is not None:
                if "\r" in host or "\n" in host:
                    raise ClientError("invalid header field (CR or LF in a name or value)")
                first = f"POST {self.path} HTTP/1.1\r\nHost: {host}\r\n"
            headers = {k: v for k, v in headers.items() if k.lower() not in _OWN}
        block = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        n = len(headers)  # each clean field adds exactly one CR and one LF
        if block.count("\n") != n or block.count("\r") != n:
            raise ClientError("invalid header field (CR or LF in a name or value)")
        head = f"{first}{block}{self._tail}Content-Length: {len(body)}\r\n\r\n"
        try:
            return head.encode("latin-1") + body
        except UnicodeEncodeError:
            raise ClientError("invalid header field (not Latin-1)") from None

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    _Conn, self.host, self.port, ssl=self.ssl, server_hostname=self.server_hostname)
        except TimeoutError:
            raise ClientError(f"dial tcp {self.host}:{self.port}: i/o timeout (connect)") from None
        except OSError as exc:
            raise ClientError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        self._all.add(conn)
        return conn

    def _take_idle(self) -> _Conn | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.closed or conn.transport.is_closing() or (self.idle_timeout and now - conn.last_used > self.idle_timeout):
                self._drop(conn)
                continue
            return conn
        return None

    def _drop(self, conn: _Conn) -> None:
        self._all.discard(conn)
        if not conn.closed:
            conn._abort()

    async def post(self, headers: dict[str, str], body: bytes) -> Response:
        """POST ``body`` with ``headers`` (Host and Content-Length are added); return the whole response."""
        data = self._encode(headers, body)
        if self._slots is None:
            return await self._post(data)
        async with self._slots:
            return await self._post(data)

    async def _post(self, data: bytes) -> Response:
        loop = asyncio.get_running_loop()
        conn = self._take_idle()
        for _ in range(2):
            if conn is None:
                conn = await self._connect()
            try:
                resp = await conn.start(loop, data)
            except ClientError as exc:
                self._drop(conn)
                if conn.reused and getattr(exc, "early", False):
                    conn = None  # the stale keep-alive race: once more on a fresh connection
                    continue
                raise
            except BaseException:  # cancelled (the attempt's timeout) or worse: the connection is unusable
                self._drop(conn)
                raise
            if conn.closed or not self.keep_alive or len(self._idle) >= self.max_idle:
                self._drop(conn)
            else:
                conn.waiter = None
                conn.reused = True
                conn.last_used = time.monotonic()
                self._idle.append(conn)
            return resp
        raise AssertionError("unreachable")

    @property
    def connections(self) -> int:
        """Open connections (busy or idle)."""
        return len(self._all)

    async def close(self) -> None:
        for conn in list(self._all):
            self._drop(conn)
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports' connection_lost run
