"""Jaeger's collector endpoint: POST /api/traces with a Thrift (binary protocol) Batch.

Answers as upstream's handler does: 202 and no body on success; ``http.Error`` texts (400 for a
body or Content-Type it cannot use, 500 when the body cannot be read or the pipeline refuses).
"""

from __future__ import annotations

import asyncio
import html

from aiohttp import web

from otelflow.core.client import client_metadata, metadata_of, request_metadata
from otelflow.core.component import Component, Host
from otelflow.core.compression import DecompressionError, decompress
from otelflow.core.consumer import ConsumerError
from otelflow.core.httpserver import HTTPEndpoint, read_body
from otelflow.extensions.auth import AuthError, header_map
from otelflow.receivers.jaeger.config import ThriftHTTPProtocol
from otelflow.receivers.jaeger.decode import ThriftDecodeError, decode_batch
from otelflow.receivers.jaeger.receiver import HTTP, log
from otelflow.translators.jaeger import thrift_to_traces

ACCEPTED = ("application/x-thrift", "application/vnd.apache.thrift.binary")
# a body this large is decoded in a worker thread, off the event loop
_THREAD_BYTES = 256 * 1024


def http_error(status: int, message: str) -> web.Response:
    """Go's http.Error: the text plus a newline, as plain text."""
    return web.Response(status=status, body=(message + "\n").encode(), headers={
        "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"})


_TSPECIALS = set('()<>@,;:\\"/[]?= ')


def _token(text: str) -> str:
    end = 0
    while end < len(text) and 0x20 < ord(text[end]) < 0x7F and text[end] not in _TSPECIALS:
        end += 1
    return text[:end]


def parse_media_type(header: str) -> str:
    """The lower-cased media type, or ValueError with Go's mime.ParseMediaType reason (parameters
    after ";" are not checked)."""
    value = header.split(";", 1)[0].strip()
    kind = _token(value)
    if not kind:
        raise ValueError("mime: no media type")
    rest = value[len(kind):]
    if rest:
        if not rest.startswith("/"):
            raise ValueError("mime: expected slash after first token")
        sub = _token(rest[1:])
        if not sub:
            raise ValueError("mime: expected token after slash")
        if rest[1 + len(sub):]:
            raise ValueError("mime: unexpected content after media subtype")
    return value.lower()


async def _close_connection(request: web.Request, response: web.StreamResponse) -> None:
    # Go answers with "Connection: close" and closes when keep-alives are off
    response.headers["Connection"] = "close"
    response.force_close()


def _translate(body: bytes):
    batch = decode_batch(body)
    return batch, thrift_to_traces(batch)


class ThriftHTTPServer(Component):
    def __init__(self, receiver, settings: ThriftHTTPProtocol):
        self.receiver = receiver
        self.settings = settings
        self.http = HTTPEndpoint(settings, log)

    @property
    def port(self) -> int | None:
        return self.http.port

    async def _not_found(self, request: web.Request) -> web.Response:
        return http_error(404, "404 page not found")

    async def _method_not_allowed(self, request: web.Request) -> web.Response:
        return web.Response(status=405)  # gorilla/mux: no body

    async def _read(self, request: web.Request) -> bytes:
        limit = self.settings.max_request_body_size
        raw, within = await read_body(request, limit)
        encoding = request.headers.get("Content-Encoding", "")
        if len(raw) > _THREAD_BYTES:
            return await asyncio.to_thread(decompress, encoding, raw, limit, self.settings.compression_algorithms,
                                           within)
        return decompress(encoding, raw, limit, self.settings.compression_algorithms, within)

    @web.middleware
    async def _authenticate(self, request: web.Request, handler) -> web.StreamResponse:
        """confighttp's interceptor: it wraps the whole router, so every path needs credentials."""
        sources = header_map(request.headers.items())
        for param in self.settings.auth.request_params:
            if param in request.query:
                sources[param.lower()] = request.query.getall(param)
        try:
            await self.http.auth.authenticate(sources)
        except AuthError as exc:
            return http_error(401, str(exc))
        return await handler(request)

    async def _post(self, request: web.Request) -> web.Response:
        try:
            body = await self._read(request)
        except DecompressionError as exc:
            if exc.eager:  # confighttp's decompressor refuses these before the handler runs
                return http_error(400, str(exc))
            return http_error(500, html.escape(f"Unable to process request body: {exc}"))
        try:
            media = parse_media_type(request.headers.get("Content-Type", ""))
        except ValueError as exc:
            return http_error(400, html.escape(f"Cannot parse content type: {exc}"))
        if media not in ACCEPTED:
            return http_error(400, html.escape(f"Unsupported content type: {media}"))
        try:
            if len(body) > _THREAD_BYTES:
                batch, traces = await asyncio.to_thread(_translate, body)
            else:
                batch, traces = _translate(body)
        except (ThriftDecodeError, RecursionError) as exc:
            return http_error(400, html.escape(f"Unable to process request body: {exc}"))
        spans = len(batch.spans or ())
        # confighttp's client.Info: the request's headers only with include_metadata, as on otlp's http
        metadata = metadata_of(request.headers.items()) if self.settings.include_metadata else None
        token, kept = request_metadata.set(metadata), client_metadata.set(metadata)
        try:
            await self.receiver.deliver(traces, spans, HTTP)
        except ConsumerError as exc:
            return http_error(500, f"Cannot submit Jaeger batch: {exc}")
        finally:
            client_metadata.reset(kept)
            request_metadata.reset(token)
        return web.Response(status=202)

    def _app(self) -> web.Application:
        middlewares = [self._authenticate] if self.http.auth is not None else []
        app = web.Application(client_max_size=2**62, handler_args={"auto_decompress": False}, middlewares=middlewares)
        if not self.settings.keep_alives_enabled:  # upstream's default for this server
            app.on_response_prepare.append(_close_connection)
        app.router.add_route("POST", "/api/traces", self._post)
        app.router.add_route("*", "/api/traces", self._method_not_allowed)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def start(self, host: Host) -> None:
        await self.http.start(host, self._app)
        log.info("Starting HTTP server for Jaeger Thrift endpoint=%s", self.settings.endpoint)

    async def shutdown(self) -> None:
        await self.http.shutdown()
