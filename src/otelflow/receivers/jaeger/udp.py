"""The Jaeger agent's UDP side: one ``emitBatch`` Thrift message per datagram.

As upstream's UDP server: a datagram is cut at ``max_packet_size``, queued if fewer than
``queue_size`` wait (else dropped), and ``workers`` tasks decode and deliver. A datagram that does
not decode, or that the pipeline refuses, is dropped and counted; the socket keeps serving.
"""

from __future__ import annotations

import asyncio
import socket

from otelflow.core.component import Component, Host
from otelflow.core.consumer import ConsumerError
from otelflow.core.netaddr import split_host_port
from otelflow.receivers.jaeger.config import UDPProtocol
from otelflow.receivers.jaeger.decode import ThriftDecodeError, decode_emit_batch
from otelflow.receivers.jaeger.receiver import UDP_BINARY, UDP_COMPACT, log
from otelflow.translators.jaeger import thrift_to_traces
from otelflow.core.workers.context import share_ports

DROPPED = "otelflow_receiver_jaeger_dropped_datagrams"
_LOG_EVERY = 1000


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: "AgentServer"):
        self.server = server

    def datagram_received(self, data: bytes, addr) -> None:
        self.server.received(data)

    def error_received(self, exc: Exception) -> None:  # ICMP errors and the like: keep serving
        log.debug("UDP socket error: %s", exc)


class AgentServer(Component):
    def __init__(self, receiver, settings: UDPProtocol, compact: bool):
        self.receiver = receiver
        self.settings = settings
        self.compact = compact
        self.transport_name = UDP_COMPACT if compact else UDP_BINARY
        self.transport: asyncio.DatagramTransport | None = None
        self.queue: asyncio.Queue[bytes] | None = None
        self.workers: list[asyncio.Task] = []
        self.port: int | None = None
        self.dropped: dict[str, int] = {"queue_full": 0, "undecodable": 0, "refused": 0}

    def _drop(self, reason: str, detail: object = None) -> None:
        self.dropped[reason] += 1
        labels = {"receiver": str(self.receiver.settings.id), "transport": self.transport_name, "reason": reason}
        self.receiver.settings.telemetry.add(DROPPED, 1, **labels)
        if self.dropped[reason] % _LOG_EVERY == 1:  # the first one, then one in a thousand
            log.warning("Dropped a datagram on %s (%s, %d so far): %s", self.settings.endpoint, reason,
                        self.dropped[reason], detail)

    def received(self, data: bytes) -> None:
        data = data[: self.settings.max_packet_size]
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self._drop("queue_full")

    async def _work(self) -> None:
        queue, deliver = self.queue, self.receiver.deliver
        while True:
            data = await queue.get()
            try:
                await self._handle(data, deliver)
            finally:
                queue.task_done()

    async def _handle(self, data: bytes, deliver) -> None:
        try:
            batch = decode_emit_batch(data, self.compact)
            if batch is None:
                return
            traces = thrift_to_traces(batch)
        except (ThriftDecodeError, RecursionError) as exc:
            self._drop("undecodable", exc)
            return
        try:
            await deliver(traces, len(batch.spans or ()), self.transport_name)
        except ConsumerError as exc:
            self._drop("refused", exc)

    def _socket(self) -> socket.socket:
        host, port = split_host_port(self.settings.endpoint)
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_DGRAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        try:
            if self.settings.socket_buffer_size > 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.settings.socket_buffer_size)
            if share_ports():
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    async def start(self, host: Host) -> None:
        s = self.settings
        if s.workers <= 0:
            raise ValueError(f"number of processors must be greater than 0, called with {s.workers}")
        # an unbuffered Go channel (queue_size 0) still hands a packet to an idle worker: one slot
        self.queue = asyncio.Queue(maxsize=max(s.queue_size, 1))
        sock = self._socket()
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self.port = sock.getsockname()[1]
        self.workers = [asyncio.create_task(self._work(), name=f"jaeger-{self.transport_name}-{i}")
                        for i in range(s.workers)]
        kind = "Compact" if self.compact else "Binary"
        log.info("Starting UDP server for %s Thrift endpoint=%s", kind, s.endpoint)

    async def shutdown(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.queue is not None:  # let the workers finish what was already received
            try:
                await asyncio.wait_for(self.queue.join(), timeout=5.0)
            except asyncio.TimeoutError:
                pass
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        self.workers.clear()

