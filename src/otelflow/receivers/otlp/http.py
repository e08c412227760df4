"""OTLP/HTTP: POST protobuf or JSON to one path per signal, answered with upstream's status codes.

Served by core/http1 (llhttp on asyncio.Protocol), which hands over a request whose body is already
read, bounded by the body limit (at most limit + 1 bytes are kept). Authentication therefore runs
after the body arrived, where upstream's interceptor runs before the handler reads it; the answers
and their order are the same: authentication first, ahead of routing, as confighttp's interceptor
wraps the whole mux (only CORS preflights pass without credentials). Decompression is next, as in
confighttp: an unknown Content-Encoding, or a decoder that fails on the body's first bytes, is
answered before the path, method and Content-Type are looked at.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging

from google.protobuf.message import DecodeError
from google.rpc import status_pb2

from otelflow.core.client import client_metadata, metadata_of, request_metadata
from otelflow.core.component import Component, Host, Signal
from otelflow.core.compression import DecompressionError, TooLargeError, decompress
from otelflow.core.consumer import ConsumerError
from otelflow.core.http1 import Request, Response as Reply
from otelflow.core.httpserver import HTTPEndpoint
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


def _reply(status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> Reply:
    out = {"Content-Type": content_type}
    if headers:
        out.update(headers)
    return status, out, body


def _text(status: int, message: str, headers=None) -> Reply:
    # Go writes these with Content-Type "text/plain" exactly, no charset.
    return _reply(status, message.encode(), "text/plain", headers)


_NOT_FOUND = _reply(404, b"404 page not found\n", "text/plain; charset=utf-8", {"X-Content-Type-Options": "nosniff"})
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

    def _dispatch(self):
        """The request handler core/http1 calls, with the routing done here: one exact path per
        signal (as Go's mux matches them), everything else 404; authentication, then decompression,
        then the signal's handler, in the order confighttp's interceptors wrap upstream's mux."""
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
        cors = self.settings.cors
        cors_on = cors is not None and bool(cors.allowed_origins)

        async def dispatch(request: Request) -> Reply:
            handler = routes.get(request.path, not_found)
            if cors_on and request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
                return await handler(request, None, None)  # CORS answers preflights ahead of auth and decoding
            if authenticate is not None:
                denied = await authenticate(request)
                if denied is not None:
                    return denied
            body, failure, reply = await decompress(request)
            if reply is not None:
                return reply
            return await handler(request, body, failure)

        return dispatch

    async def _not_found(self, request: Request, body, failure) -> Reply:
        return _NOT_FOUND  # what Go's ServeMux answers for a path no handler is registered on

    def _handler(self, signal: Signal):
        request_type = REQUEST_TYPES[signal]
        response_pb = success_response(signal).SerializeToString()
        response_json = self._json_response[signal]
        deliver = self.receiver.deliver
        include_metadata = self.settings.include_metadata

        async def handle(request: Request, body: bytes | None, failure: DecompressionError | None) -> Reply:
            cors = self._cors_headers(request)
            if request.method == "OPTIONS" and cors is not None:
                return self._preflight(request, cors)
            if request.method != "POST":
                return _text(405, "405 method not allowed, supported: [POST]", cors)
            encoding = _media_type(request.headers.get("Content-Type", ""))
            if encoding not in (PROTOBUF, JSON):
                return _text(415, f"415 unsupported media type, supported: [{JSON}, {PROTOBUF}]", cors)
            try:
                if failure is not None:  # what the body reader found, reported after the checks above
                    raise _Reject(400, str(failure))
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
                        return _reply(500, _FALLBACK, JSON, cors)
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
                return _reply(exc.status, _status_body(encoding, exc.status, str(exc)), encoding, cors)
            if encoding == PROTOBUF:
                return _reply(200, response_pb, PROTOBUF, cors)
            return _reply(200, response_json, JSON, cors)

        return handle

    async def _authenticate(self, request: Request) -> Reply | None:
        """The authenticator over the headers (and the configured query parameters), or the 401."""
        sources = header_map(request.headers.items())
        for param in self.settings.auth.request_params:
            if param in request.query:
                sources[param.lower()] = request.query.getall(param)
        try:
            await self.http.auth.authenticate(sources)
        except AuthError as exc:
            return self._error_handler(request, 401, str(exc))
        return None

    async def _decompress(self, request: Request) -> tuple[bytes | None, DecompressionError | None, Reply | None]:
        """confighttp's body limit and decompressor over the (at most limit + 1) bytes read: the
        body, or the error to report after the routing checks, or the answer upstream's decoder
        gives at once as it is created."""
        limit = self.settings.body_limit
        raw, within = request.body, request.within
        encoding = request.headers.get("Content-Encoding", "")
        allowed = self.settings.compression_algorithms
        try:
            if not allowed:  # an empty list turns decompression off: the body goes on as it came
                if not within:
                    raise TooLargeError()
                return raw, None, None
            if len(raw) > _THREAD_BYTES:
                return await asyncio.to_thread(decompress, encoding, raw, limit, allowed, within), None, None
            return decompress(encoding, raw, limit, allowed, within), None, None
        except DecompressionError as exc:
            if exc.eager:
                return None, None, self._error_handler(request, 400, str(exc))
            return None, exc, None

    def _error_handler(self, request: Request, status: int, message: str) -> Reply:
        """Upstream's errorHandler: a Status in the request's encoding, or its fixed 500 answer."""
        headers = self._cors_headers(request)
        encoding = _media_type(request.headers.get("Content-Type", "") or JSON)
        if encoding not in (PROTOBUF, JSON):
            return _reply(500, _FALLBACK, JSON, headers)
        return _reply(status, _status_body(encoding, status, message), encoding, headers)

    def _cors_headers(self, request: Request) -> dict[str, str] | None:
        cors = self.settings.cors
        origin = request.headers.get("Origin")
        if cors is None or not origin or not any(fnmatch.fnmatchcase(origin, p) for p in cors.allowed_origins):
            return None
        allow = "*" if "*" in cors.allowed_origins else origin
        return {"Access-Control-Allow-Origin": allow, "Vary": "Origin"}

    def _preflight(self, request: Request, headers: dict[str, str]) -> Reply:
        cors = self.settings.cors
        wanted = [h.strip() for h in request.headers.get("Access-Control-Request-Headers", "").split(",") if h.strip()]
        allowed = {h.lower() for h in cors.allowed_headers} | {"content-type", "content-encoding", "x-requested-with"}
        if "*" not in cors.allowed_headers and any(h.lower() not in allowed for h in wanted):
            return 204, None, b""
        out = dict(headers)
        out["Access-Control-Allow-Methods"] = "POST"
        if wanted:
            out["Access-Control-Allow-Headers"] = ", ".join(wanted)
        if cors.max_age:
            out["Access-Control-Max-Age"] = str(cors.max_age)
        return 204, out, b""

    async def start(self, host: Host) -> None:
        await self.http.start_http1(host, self._dispatch, self.settings.body_limit)
        log.info("Starting HTTP server endpoint=%s", self.settings.endpoint)

    async def shutdown(self) -> None:
        await self.http.shutdown()
