"""The Zipkin HTTP endpoint: every path and method is served, as upstream's handler is mounted at
the root; a path containing ``api/v1/spans`` is Zipkin v1 (JSON), anything else v2 — protobuf when
Content-Type is exactly ``application/x-protobuf``, JSON otherwise.

Answers as upstream: 202 and an empty body when accepted, 400 with the decoder's message for a body
that does not translate (or does not decompress), 400 ``"Bad Request"`` when the pipeline refuses
permanently and 500 ``"Internal Server Error"`` when it refuses otherwise.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging

from aiohttp import web

from otelflow.core.client import client_metadata, metadata_of, request_metadata
from otelflow.core.component import Component, Host, Settings, Signal
from otelflow.core.compression import DecompressionError, decompress
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.core.httpserver import HTTPEndpoint, read_body
from otelflow.extensions.auth import AuthError, header_map
from otelflow.pdata import COUNTERS
from otelflow.receivers.zipkin.config import Config
from otelflow.translators.zipkin import ZipkinError, spans_from_json, spans_from_proto, to_otlp, v1_json_to_otlp

log = logging.getLogger("otelflow.receiver.zipkin")
# Bodies this large are decompressed and translated in a worker thread, off the event loop.
_THREAD_BYTES = 256 * 1024


def _text(status: int, message: str) -> web.Response:
    """Go's http.Error."""
    return web.Response(status=status, body=(message + "\n").encode(), headers={
        "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"})


class ZipkinReceiver(Component):
    def __init__(self, settings: Settings, config: Config, consumers: dict[Signal, Consumer]):
        self.settings = settings
        self.config = config
        self.consumer = consumers[Signal.TRACES]
        self.http = HTTPEndpoint(config, log)

    @property
    def port(self) -> int | None:
        return self.http.port

    def translate(self, body: bytes, v1: bool, content_type: str, debug: bool):
        parse = self.config.parse_string_tags
        if v1:
            if content_type == "application/x-thrift":
                raise ZipkinError("zipkin v1 thrift bodies are not supported by otelflow")
            return v1_json_to_otlp(body, parse)
        if content_type == "application/x-protobuf":
            return to_otlp(spans_from_proto(body, debug), parse)
        return to_otlp(spans_from_json(body), parse)

    def _cors(self, request: web.Request) -> dict[str, str]:
        """confighttp's CORS headers for an allowed Origin (empty when CORS is off or the origin is not allowed)."""
        cors = self.config.cors
        origin = request.headers.get("Origin")
        if cors is None or not origin or not any(fnmatch.fnmatchcase(origin, p) for p in cors.allowed_origins):
            return {}
        return {"Access-Control-Allow-Origin": "*" if "*" in cors.allowed_origins else origin, "Vary": "Origin"}

    def _preflight(self, request: web.Request, headers: dict[str, str]) -> web.Response:
        cors = self.config.cors
        wanted = [h.strip() for h in request.headers.get("Access-Control-Request-Headers", "").split(",") if h.strip()]
        allowed = {h.lower() for h in cors.allowed_headers} | {"content-type", "content-encoding", "x-requested-with"}
        if "*" not in cors.allowed_headers and any(h.lower() not in allowed for h in wanted):
            return web.Response(status=204)
        out = {**headers, "Access-Control-Allow-Methods": "POST"}
        if wanted:
            out["Access-Control-Allow-Headers"] = ", ".join(wanted)
        if cors.max_age:
            out["Access-Control-Max-Age"] = str(cors.max_age)
        return web.Response(status=204, headers=out)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        cors = self._cors(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers and self.config.cors:
            return self._preflight(request, cors) if cors else web.Response(status=204)
        response = await self._serve(request)
        response.headers.update(cors)
        return response

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        if self.http.auth is not None:
            try:
                await self.http.auth.authenticate(header_map(request.headers.items()))
            except AuthError as exc:
                return _text(401, str(exc))
        limit = self.config.body_limit
        raw, within = await read_body(request, limit)
        encoding = request.headers.get("Content-Encoding", "")
        v1 = "api/v1/spans" in request.path
        content_type = request.headers.get("Content-Type", "")
        debug = request.headers.get("X-B3-Flags", "") == "1"
        transport = ("http_v1_thrift" if content_type == "application/x-thrift" else "http_v1_json") if v1 else (
            "http_v2_proto" if content_type == "application/x-protobuf" else "http_v2_json")

        def work():
            body = raw
            if self.config.compression_algorithms:
                body = decompress(encoding, raw, limit, self.config.compression_algorithms, within)
            return self.translate(body[:limit], v1, content_type, debug)

        try:
            # a compressed body may inflate up to the limit (a gzip bomb): decode it off the event loop
            traces = await asyncio.to_thread(work) if len(raw) > _THREAD_BYTES or encoding else work()
        except (ZipkinError, DecompressionError) as exc:
            return _text(400, str(exc))
        count = COUNTERS[Signal.TRACES](traces)  # an empty batch is still handed on, as upstream does
        labels = {"receiver": str(self.settings.id), "transport": transport}
        metadata = metadata_of(request.headers.items()) if self.config.include_metadata else None
        token, kept = request_metadata.set(metadata), client_metadata.set(metadata)
        try:
            await self.consumer.consume(traces)
        except ConsumerError as exc:
            self.settings.telemetry.add("otelcol_receiver_refused_spans", count, **labels)
            if exc.permanent:
                return web.Response(status=400, body=b'"Bad Request"')
            return web.Response(status=500, body=b'"Internal Server Error"')
        finally:
            client_metadata.reset(kept)
            request_metadata.reset(token)
        self.settings.telemetry.add("otelcol_receiver_accepted_spans", count, **labels)
        return web.Response(status=202)

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=2**62, handler_args={"auto_decompress": False})
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self, host: Host) -> None:
        await self.http.start(host, self._app)
        log.info("Starting Zipkin receiver endpoint=%s", self.config.endpoint)

    async def shutdown(self) -> None:
        await self.http.shutdown()
