"""Starting and stopping a receiver's grpc.aio server, written once: configgrpc's receive limit and
stream cap, authenticator lookup, reloading TLS, bind and cleanup when a step fails."""

from __future__ import annotations

import logging
from typing import Any, Callable

import grpc

from otelflow.core.component import Host
from otelflow.core.httpserver import lookup_authenticator
from otelflow.core.netaddr import bind_address
from otelflow.core.tls import ServerTLS
from otelflow.core.workers.context import share_ports


class GRPCEndpoint:
    """A receiver's gRPC endpoint; ``register`` adds the services to the new server before it binds."""

    def __init__(self, settings: Any, logger: logging.Logger) -> None:
        self.settings = settings
        self.log = logger
        self.auth: Any = None
        self.tls: ServerTLS | None = None
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None

    async def start(self, host: Host, register: Callable[[grpc.aio.Server], None], bind_error: str) -> int:
        """Bind and serve; ``bind_error`` is the OSError text when the address cannot be bound."""
        s = self.settings
        self.auth = lookup_authenticator(host, s)
        options = [("grpc.max_receive_message_length", s.max_recv_bytes), ("grpc.so_reuseport", int(share_ports()))]
        if s.max_concurrent_streams:
            options.append(("grpc.max_concurrent_streams", s.max_concurrent_streams))
        server = grpc.aio.server(options=options)
        register(server)
        address = bind_address(s.endpoint)
        try:
            if s.tls is not None:
                self.tls = ServerTLS(s.tls, self.log)
                await self.tls.start()
                port = server.add_secure_port(address, self.tls.grpc_credentials())
            else:
                port = server.add_insecure_port(address)
            if not port:
                raise OSError(bind_error)
            await server.start()
        except BaseException:
            if self.tls is not None:
                await self.tls.stop()
                self.tls = None
            raise
        self.server, self.port = server, port
        return port

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop; in-flight calls get ``grace`` seconds, as their data is already on its way in."""
        if self.server is not None:
            await self.server.stop(grace=grace)
            self.server = None
        if self.tls is not None:
            await self.tls.stop()
            self.tls = None
