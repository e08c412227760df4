"""Where the backends come from: a fixed list, or a DNS name re-resolved every ``interval``.

A resolver calls ``on_change`` with the sorted endpoint list whenever it differs from the last one,
as upstream's do. ``k8s`` and ``aws_cloud_map`` are accepted in the config (upstream's keys) but
refused at start: they need the Kubernetes EndpointSlice API or the AWS Cloud Map
DiscoverInstances API, which otelflow does not talk to."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

from otelflow.exporters.loadbalancing.config import Config

OnChange = Callable[[list[str]], Awaitable[None]]
Lookup = Callable[[str], Awaitable[list[str]]]


class UnsupportedResolver(ValueError):
    pass


async def lookup_ips(hostname: str) -> list[str]:
    """IP addresses of ``hostname`` through the system resolver, off the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class StaticResolver:
    def __init__(self, hostnames: list[str]):
        self.endpoints = sorted(hostnames)

    async def start(self, on_change: OnChange) -> None:
        await on_change(list(self.endpoints))

    async def stop(self) -> None:
        return None


class DNSResolver:
    """Resolves at start (a failure is logged, not fatal) and then every ``interval``."""

    def __init__(self, hostname: str, port: str, interval: float, timeout: float, log: logging.Logger,
                 lookup: Lookup = lookup_ips):
        self.hostname, self.port = hostname, port
        self.interval, self.timeout = interval or 5.0, timeout or 1.0
        self.log = log
        self.lookup = lookup
        self.endpoints: list[str] = []
        self._task: asyncio.Task | None = None
        self._on_change: OnChange | None = None

    async def resolve(self) -> None:
        try:
            ips = await asyncio.wait_for(self.lookup(self.hostname), self.timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            self.log.warning("failed to resolve %s: %s", self.hostname, exc)
            return
        backends = sorted(
            (f"{ip}:{self.port}" if self.port else ip) if ":" not in ip else (f"[{ip}]:{self.port}" if self.port else f"[{ip}]")
            for ip in ips
        )
        if backends != self.endpoints:
            self.endpoints = backends
            if self._on_change is not None:
                await self._on_change(list(backends))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.resolve()

    async def start(self, on_change: OnChange) -> None:
        self._on_change = on_change
        await self.resolve()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


def build_resolver(kind: str, config: Config, log: logging.Logger) -> StaticResolver | DNSResolver:
    r = config.resolver
    if kind == "static":
        return StaticResolver(r.static.hostnames)
    if kind == "dns":
        return DNSResolver(r.dns.hostname, r.dns.port, r.dns.interval, r.dns.timeout, log)
    api = {"k8s": "the Kubernetes API server (EndpointSlices of the service)",
           "aws_cloud_map": "the AWS Cloud Map DiscoverInstances API"}[kind]
    raise UnsupportedResolver(f"the {kind} resolver needs {api}, which otelflow does not support; "
                              "use the static or dns resolver (a headless service name works with dns)")
