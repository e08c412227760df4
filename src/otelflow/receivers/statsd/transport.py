"""The sockets the statsd receiver listens on: UDP, TCP and unixgram, all on the event loop.

Each datagram (or each newline-ended line of a TCP stream) is split into lines and handed to
``on_line(text, (network, client address))`` right away: aggregating a line is cheap, so no
queue or worker is needed. A client address is written as Go prints it ("127.0.0.1:5000",
"[::1]:5000"); a unixgram client that did not bind gets the listening path, as upstream.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from typing import Callable

from otelflow.core.netaddr import split_host_port

MAX_DATAGRAM = 65527  # upstream's read buffer: a longer datagram is cut there
OnLine = Callable[[str, tuple[str, str]], None]


def go_address(addr) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(addr)


def split_datagram(data: bytes) -> list[str]:
    return [chunk.decode("utf-8", "replace") for chunk in data[:MAX_DATAGRAM].split(b"\n") if chunk]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, network: str, local: str, on_line: OnLine):
        self.network, self.local, self.on_line = network, local, on_line

    def datagram_received(self, data: bytes, addr) -> None:
        client = (self.network, go_address(addr) if addr else self.local)
        for line in split_datagram(data):
            self.on_line(line, client)

    def error_received(self, exc: Exception) -> None:  # ICMP errors and the like: keep serving
        pass


def _family(transport: str) -> socket.AddressFamily:
    return {"4": socket.AF_INET, "6": socket.AF_INET6}.get(transport[-1:], socket.AF_UNSPEC)


class Server:
    """One listener; ``start`` binds (and raises if it cannot), ``close`` stops it."""

    def __init__(self, transport: str, endpoint: str, on_line: OnLine, permissions: int = 0o622,
                 buffer_size: int = 0):
        self.transport, self.endpoint, self.on_line = transport, endpoint, on_line
        self.permissions, self.buffer_size = permissions, buffer_size
        self._datagram: asyncio.DatagramTransport | None = None
        self._stream: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self.address: tuple | str | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        t = self.transport
        if t in ("udp", "udp4", "udp6"):
            host, port = split_host_port(self.endpoint)
            self._datagram, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(t, self.endpoint, self.on_line), local_addr=(host or None, port), family=_family(t))
            self.address = self._datagram.get_extra_info("sockname")
        elif t in ("tcp", "tcp4", "tcp6"):
            host, port = split_host_port(self.endpoint)
            self._stream = await asyncio.start_server(self._serve, host or None, port, family=_family(t))
            self.address = self._stream.sockets[0].getsockname()
        elif t == "unixgram":
            self._datagram, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(t, self.endpoint, self.on_line), sock=self._unixgram())
            self.address = self.endpoint
        else:
            raise ValueError(f'unsupported transport "{t}"')

    def _unixgram(self) -> socket.socket:
        path = self.endpoint
        try:  # a socket left behind by a killed instance, never any other file
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(path)
            if self.buffer_size > 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.buffer_size)
            os.chmod(path, self.permissions)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        client = (self.transport, go_address(writer.get_extra_info("peername")))
        rest = b""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                *lines, rest = (rest + data).split(b"\n")
                for raw in lines:
                    self._line(raw, client)
            self._line(rest, client)  # a last line without its newline still counts
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    def _line(self, raw: bytes, client: tuple[str, str]) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if text:
            self.on_line(text, client)

    async def close(self) -> None:
        if self._datagram is not None:
            self._datagram.close()
            self._datagram = None
            if self.transport == "unixgram":
                try:
                    os.unlink(self.endpoint)
                except OSError:
                    pass
        if self._stream is not None:
            self._stream.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._stream.wait_closed()
            self._stream = None
