"""One way to serve the collector's own small HTTP apps (health_check, web_ui, self-telemetry)."""

from __future__ import annotations

from aiohttp import web

from otelflow.core.netaddr import bind_address, split_host_port


async def serve(app: web.Application, endpoint: str) -> tuple[web.AppRunner, list[tuple[str, int]]]:
    """Start ``app`` on ``endpoint``; return its runner and the (host, port) pairs it listens on.

    "localhost" binds the IPv4 loopback only, never every address the name resolves to, so admin
    endpoints stay local unless configured otherwise. A bind failure cleans up and raises OSError.
    """
    host, port = split_host_port(bind_address(endpoint))
    if host == "localhost":
        host = "127.0.0.1"
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    server = site._server  # noqa: SLF001 - aiohttp exposes the bound sockets only here
    addresses = [sock.getsockname()[:2] for sock in (server.sockets if server else [])]
    return runner, addresses or [(host, port)]
