"""OTLP/HTTP: POST protobuf or JSON to one path per signal, answered with upstream's status codes.

Authentication runs as a middleware, before routing and before the body is read, as confighttp's
interceptor wraps the whole mux; only CORS preflights pass without credentials. Decompression is
the next middleware, as in confighttp: an unknown Content-Encoding, or a decoder that fails on the
body's first bytes, is answered before the path, method and Content-Type are looked at.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from google.protobuf.message import DecodeError
from google.rpc import status_pb2

from otelflow.core.client import client_metadata, metadata_of, request_metadata
from otelflow.core.component import Component, Host, Signal
from otelflow.core.compression import DecompressionError, TooLargeError, decompress
from otelflow.core.consumer import ConsumerError
from otelflow.core.httpserver import HTTPEndpoint, read_body
from otelflow.extensions.auth import AuthError, header_map
from otelflow.pdata import REQUEST_TYPES, success_response, InvalidIDError, check_ids_encoded, otlpjson
from otelflow.receivers.otlp.config import HTTPProtocol
from otelflow.receivers.otlp.mediatype import media_type

log = logging.getLogger("otelflow.receiver.otlp")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# gRPC status code for an HTTP status, as upstream's NewStatusFromMsgAndHTTPCode maps them.
_GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 12, 405: 12, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14}
# What upstream's error handler answers when the request's Content-Type is neither protobuf nor JSON.
_FALLBACK = b'{"code": 13, "message": "failed to marshal error message"}'
# Upstream serves profiles on this fixed path: the receiver has no setting for it.
PROFILES_PATH = "/v1development/profiles"


class _Reject(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _status_body(encoding: str, status: int, message: str) -> bytes:
    message = message.encode("utf-8", "replace").decode()  # a lone surrogate quoted from the input
    st = status_pb2.Status(code=_GRPC_CODE.get(status, 2), message=message)
    if encoding == JSON:
        return otlpjson.encode(st)
    return st.SerializeToString()


def _media_type(header: str) -> str:
    return media_type(header)


async def _expect_continue(request: web.BaseRequest) -> None:
    """What aiohttp's router does for ``Expect``, as Go's server does: 100 Continue before the body."""
    if request.version == HttpVersion11:
        if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
            raise web.HTTPExpectationFailed(text="Unknown Expect: %s" % request.headers.get(hdrs.EXPECT, ""))
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
    await request.writer.drain()


def _text(status: int, message: str, headers=None) -> web.Response:
    # Go writes these with Content-Type "text/plain" exactly, no charset.
    return web.Response(status=status, body=message.encode(), headers={**(headers or {}), "Content-Type": "text/plain"})


_BODY = web.RequestKey("otlp_body", bytes)
_BODY_ERROR = web.RequestKey("otlp_body_error", DecompressionError)
# A body this large is decompressed in a worker thread, not on the event loop.
_THREAD_BYTES = 256 * 1024


class HTTPServer(Component):
    def __init__(self, receiver, settings: HTTPProtocol):
        self.receiver = receiver
        self.settings = settings
        self.http = HTTPEndpoint(settings, log)
        self._json_response = {s: otlpjson.encode(success_response(s)) for s in Signal}

    @property
    def port(self) -> int | None:
        return self.http.port

    def _app(self) -> web.Server:
        """aiohttp's low-level server with the routing done here: one exact path per signal (as Go's
        mux matches them), everything else 404; authentication, then decompression, then the handler,
        as the middlewares of an Application would run them, without its per-request routing and
        middleware machinery (about a tenth of the CPU a small request costs)."""
        paths = {
            Signal.TRACES: self.settings.traces_url_path,
            Signal.METRICS: self.settings.metrics_url_path,
            Signal.LOGS: self.settings.logs_url_path,
            Signal.PROFILES: PROFILES_PATH,
        }
        routes: dict[str, object] = {}
        for signal in self.receiver.consumers:
            if paths[signal] in routes:
                raise RuntimeError(f"the URL path {paths[signal]} is set for two signals")
            routes[paths[signal]] = self._handler(signal)
        not_found = self._not_found
        decompress = self._decompress
        authenticate = self._authenticate if self.http.auth is not None else None

        async def dispatch(request: web.BaseRequest) -> web.StreamResponse:
            handler = routes.get(request.rel_url.path_safe, not_found)
            if request.headers.get(hdrs.EXPECT):
                await _expect_continue(request)
            if authenticate is not None:
                return await authenticate(request, lambda r: decompress(r, handler))
            return await decompress(request, handler)

        # aiohttp's own body limit is replaced by ours, which also bounds the decompressed size.
        return web.Server(dispatch, access_log=None, max_field_size=65536, auto_decompress=False)

    async def _not_found(self, request: web.Request) -> web.Response:
        # What Go's ServeMux answers for a path no handler is registered on.
        return web.Response(status=404, body=b"404 page not found\n", headers={
            "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"})

    def _handler(self, signal: Signal):
        request_type = REQUEST_TYPES[signal]
        response_pb = success_response(signal).SerializeToString()
        response_json = self._json_response[signal]
        deliver = self.receiver.deliver
        include_metadata = self.settings.include_metadata

        async def handle(request: web.Request) -> web.StreamResponse:
            cors = self._cors_headers(request)
            if request.method == "OPTIONS" and cors is not None:
                return self._preflight(request, cors)
            if request.method != "POST":
                return _text(405, "405 method not allowed, supported: [POST]", cors)
            encoding = _media_type(request.headers.get("Content-Type", ""))
            if encoding not in (PROTOBUF, JSON):
                return _text(415, f"415 unsupported media type, supported: [{JSON}, {PROTOBUF}]", cors)
            try:
                failure = request.get(_BODY_ERROR)
                if failure is not None:  # what the body reader found, reported after the checks above
                    raise _Reject(400, str(failure))
                body = request[_BODY]
                try:
                    if encoding == PROTOBUF:
                        message = request_type.FromString(body)
                        check_ids_encoded(signal, body, message)
                        encoded = body
                    else:
                        message = otlpjson.decode(body, request_type)  # checks ID lengths itself
                        encoded = None
                except otlpjson.OTLPJSONError as exc:
                    if exc.unquotable:  # upstream cannot encode its own error message
                        return web.Response(status=500, body=_FALLBACK, content_type=JSON, headers=cors)
                    raise _Reject(400, str(exc)) from None
                except (DecodeError, InvalidIDError, RuntimeWarning, RecursionError) as exc:
                    raise _Reject(400, str(exc) or "unable to unmarshal request") from None
                metadata = metadata_of(request.headers.items()) if include_metadata else None
                token = request_metadata.set(metadata)
                kept = client_metadata.set(metadata)
                try:
                    await deliver(signal, message, "http", encoded)
                except ConsumerError as exc:
                    raise _Reject(400 if exc.permanent else 503, str(exc)) from None
                finally:
                    client_metadata.reset(kept)
                    request_metadata.reset(token)
            except _Reject as exc:
                return web.Response(
                    status=exc.status, body=_status_body(encoding, exc.status, str(exc)), content_type=encoding, headers=cors
                )
            if encoding == PROTOBUF:
                return web.Response(status=200, body=response_pb, content_type=PROTOBUF, headers=cors)
            return web.Response(status=200, body=response_json, content_type=JSON, headers=cors)

        return handle

    @web.middleware
    async def _authenticate(self, request: web.Request, handler) -> web.StreamResponse:
        cors = self.settings.cors
        if (
            request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
            and cors is not None and cors.allowed_origins
        ):
            return await handler(request)  # the CORS handler answers preflights ahead of auth upstream
        sources = header_map(request.headers.items())
        for param in self.settings.auth.request_params:
            if param in request.query:
                sources[param.lower()] = request.query.getall(param)
        try:
            await self.http.auth.authenticate(sources)
        except AuthError as exc:
            return self._unauthorized(request, str(exc))
        return await handler(request)

    def _unauthorized(self, request: web.Request, message: str) -> web.Response:
        return self._error_handler(request, 401, message)

    @web.middleware
    async def _decompress(self, request: web.Request, handler) -> web.StreamResponse:
        """confighttp's body limit and decompressor: read at most limit + 1 bytes, decode them, and
        answer at once only what upstream's decoder refuses as it is created."""
        cors = self.settings.cors
        if (request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
                and cors is not None and cors.allowed_origins):
            return await handler(request)  # the CORS handler, outside the decompressor, answers it
        limit = self.settings.body_limit
        raw, within = await read_body(request, limit)
        encoding = request.headers.get("Content-Encoding", "")
        allowed = self.settings.compression_algorithms
        try:
            if not allowed:  # an empty list turns decompression off: the body goes on as it came
                if not within:
                    raise TooLargeError()
                body = raw
            elif len(raw) > _THREAD_BYTES:
                body = await asyncio.to_thread(decompress, encoding, raw, limit, allowed, within)
            else:
                body = decompress(encoding, raw, limit, allowed, within)
            request[_BODY] = body
        except DecompressionError as exc:
            if exc.eager:
                return self._error_handler(request, 400, str(exc))
            request[_BODY_ERROR] = exc
        return await handler(request)

    def _error_handler(self, request: web.Request, status: int, message: str) -> web.Response:
        """Upstream's errorHandler: a Status in the request's encoding, or its fixed 500 answer."""
        headers = self._cors_headers(request)
        encoding = _media_type(request.headers.get("Content-Type", "") or JSON)
        if encoding not in (PROTOBUF, JSON):
            return web.Response(status=500, body=_FALLBACK, content_type=JSON, headers=headers)
        return web.Response(status=status, body=_status_body(encoding, status, message), content_type=encoding,
                            headers=headers)

    def _cors_headers(self, request: web.Request) -> dict[str, str] | None:
        cors = self.settings.cors
        origin = request.headers.get("Origin")
        if cors is None or not origin or not any(fnmatch.fnmatchcase(origin, p) for p in cors.allowed_origins):
            return None
        allow = "*" if "*" in cors.allowed_origins else origin
        return {"Access-Control-Allow-Origin": allow, "Vary": "Origin"}

    def _preflight(self, request: web.Request, headers: dict[str, str]) -> web.Response:
        cors = self.settings.cors
        wanted = [h.strip() for h in request.headers.get("Access-Control-Request-Headers", "").split(",") if h.strip()]
        allowed = {h.lower() for h in cors.allowed_headers} | {"content-type", "content-encoding", "x-requested-with"}
        if "*" not in cors.allowed_headers and any(h.lower() not in allowed for h in wanted):
            return web.Response(status=204)
        out = dict(headers)
        out["Access-Control-Allow-Methods"] = "POST"
        if wanted:
            out["Access-Control-Allow-Headers"] = ", ".join(wanted)
        if cors.max_age:
            out["Access-Control-Max-Age"] = str(cors.max_age)
        return web.Response(status=204, headers=out)

    async def start(self, host: Host) -> None:
        await self.http.start(host, self._app)
        log.info("Starting HTTP server endpoint=%s", self.settings.endpoint)

    async def shutdown(self) -> None:
        await self.http.shutdown()
