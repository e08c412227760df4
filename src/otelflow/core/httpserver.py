"""Starting and stopping the collector's aiohttp servers, written once: receivers' confighttp
endpoints (authenticator lookup, reloading TLS, bind, port discovery, cleanup when a step fails)
(aiohttp, or core/http1's lean server for OTLP/HTTP) and the small admin apps (health_check, zpages, pprof, self-telemetry)."""

from __future__ import annotations

import logging
import ssl
from typing import Any, Callable, Protocol

from aiohttp import web

from otelflow.core.component import Host
from otelflow.core.http1 import HTTP1Server, Handler
from otelflow.core.netaddr import split_host_port
from otelflow.core.tls import ServerTLS
from otelflow.core.workers.context import share_ports


async def listen(app: web.Application | web.Server, host: str | None, port: int,
                 ssl_context: ssl.SSLContext | None = None) -> tuple[web.BaseRunner, list[tuple[str, int]]]:
    """Serve ``app`` (an Application, or a low-level Server) on host:port (``None`` host: every
    interface); return the runner and the (host, port) pairs bound. If binding fails the runner is
    cleaned up and the error raised."""
    if isinstance(app, web.Server):
        runner: web.BaseRunner = web.ServerRunner(app, handle_signals=False)
    else:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True,
                       reuse_port=share_ports() or None)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    server = site._server  # noqa: SLF001 - aiohttp exposes the bound sockets only here
    addresses = [sock.getsockname()[:2] for sock in (server.sockets if server else [])]
    return runner, addresses or [(host or "", port)]


class ServerSettings(Protocol):
    """The confighttp keys this needs (HTTPServerSettings and receivers' own configs have them)."""

    endpoint: str
    tls: Any
    auth: Any


def lookup_authenticator(host: Host, settings: Any) -> Any:
    """The server authenticator named by ``settings.auth``, or None when auth is not configured."""
    if settings.auth is None:
        return None
    from otelflow.extensions.auth import server_authenticator  # extensions build on core, not the reverse
    return server_authenticator(host, settings.auth.authenticator)


class HTTPEndpoint:
    """A receiver's HTTP endpoint. ``start`` looks up the authenticator first (so the app built by
    ``make_app`` can read ``auth``), then starts TLS and binds; any failure undoes what was done."""

    def __init__(self, settings: ServerSettings, logger: logging.Logger) -> None:
        self.settings = settings
        self.log = logger
        self.auth: Any = None
        self.tls: ServerTLS | None = None
        self.runner: web.BaseRunner | HTTP1Server | None = None
        self.port: int | None = None

    async def start(self, host: Host, make_app: Callable[[], web.Application]) -> int:
        """Serve the aiohttp app ``make_app`` builds."""
        return await self._start(host, lambda h, p, ctx: listen(make_app(), h, p, ctx))

    async def start_http1(self, host: Host, make_handler: Callable[[], Handler], body_limit: int) -> int:
        """Serve the handler ``make_handler`` builds on the lean HTTP/1.1 server (core/http1)."""

        s = self.settings
        # confighttp's keys, with Go's rule that an unset IdleTimeout falls back to ReadTimeout
        idle = getattr(s, "idle_timeout", 60.0) or getattr(s, "read_timeout", 0.0)
        header = getattr(s, "read_header_timeout", 60.0)
        keep_alive = getattr(s, "keep_alives_enabled", True)

        async def bind(hostname, port, ssl_context):
            server = HTTP1Server(make_handler(), body_limit, idle, header, keep_alive)
            addresses = await server.listen(hostname, port, ssl_context, reuse_port=share_ports())
            return server, addresses
        return await self._start(host, bind)

    async def _start(self, host: Host, bind) -> int:
        s = self.settings
        self.auth = lookup_authenticator(host, s)
        hostname, port = split_host_port(s.endpoint)
        try:
            ssl_context = None
            if s.tls is not None:
                self.tls = ServerTLS(s.tls, self.log)
                await self.tls.start()
                ssl_context = await self.tls.ssl_context()
            self.runner, addresses = await bind(hostname or None, port, ssl_context)
        except BaseException:
            await self.shutdown()
            raise
        self.port = addresses[0][1] if addresses else port
        return self.port

    async def shutdown(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            if isinstance(runner, HTTP1Server):
                await runner.close()
            else:
                await runner.cleanup()
        if self.tls is not None:
            await self.tls.stop()
            self.tls = None


async def read_body(request: web.Request, limit: int) -> tuple[bytes, bool]:
    """confighttp's body limit: read at most ``limit`` + 1 bytes (never the whole of a huge body) and
    say whether the body stayed within the limit; the caller's decompressor enforces the rest."""
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks), size <= limit
