"""One way to serve the collector's own small HTTP apps (health_check, web_ui, self-telemetry)."""

from __future__ import annotations

import ssl

from aiohttp import web

from otelflow.core.httpserver import listen
from otelflow.core.netaddr import bind_address, split_host_port


async def serve(app: web.Application, endpoint: str,
                ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, list[tuple[str, int]]]:
    """Start ``app`` on ``endpoint``; return its runner and the (host, port) pairs it listens on.

    "localhost" binds the IPv4 loopback only, never every address the name resolves to, so admin
    endpoints stay local unless configured otherwise. A bind failure cleans up and raises OSError.
    """
    host, port = split_host_port(bind_address(endpoint))
    if host == "localhost":
        host = "127.0.0.1"
    return await listen(app, host, port, ssl_context)
