"""The ``fluent_forward`` receiver: Fluentd's Forward protocol over TCP or a Unix socket.

Each connection is read as a stream of msgpack events; what one read brings is decoded into one
OTLP request and handed to the pipeline, and only when the pipeline has accepted it are the
``{"ack": chunk}`` answers written for the events that asked (``chunk`` option), so a client never
sees an ack for data the collector could still lose. If the pipeline refuses, or takes longer
than 30 s (upstream's bound), the connection is closed without those acks and the client resends.
A malformed frame is counted (``otelcol_fluent_parse_failures``), logged the first time, and
closes only its connection. Heartbeats (UDP on the TCP address) are echoed, as upstream does.
"""

from __future__ import annotations

import asyncio
import os
import stat

import msgpack
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otelflow.core.component import Component, Host, Settings, Signal
from otelflow.core.consumer import Consumer, ConsumerError
from otelflow.core.netaddr import split_host_port
from otelflow.receivers.fluentforward.config import ACK_WAIT_TIMEOUT, MAX_CONNECTIONS, Config
from otelflow.receivers.fluentforward.decode import decode_event, unpacker

READ_SIZE = 64 * 1024
_ACK_PREFIX = b"\x81\xa3ack"  # a one-entry map whose key is "ack"
TRANSPORT = "http"  # the transport label upstream's obsreport gives this receiver


class _Heartbeat(asyncio.DatagramProtocol):
    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if data:  # upstream reads one byte and echoes it back
            self.transport.sendto(data[:1], addr)

    def error_received(self, exc: Exception) -> None:
        pass


class FluentForwardReceiver(Component):
    def __init__(self, settings: Settings, config: Config, consumers: dict[Signal, Consumer]):
        self.settings = settings
        self.config = config
        self.consumer = consumers[Signal.LOGS]
        self.log = settings.logger
        self.telemetry = settings.telemetry
        self._labels = {"receiver": str(settings.id)}
        self._server: asyncio.base_events.Server | None = None
        self._heartbeat: asyncio.DatagramTransport | None = None
        self._connections: dict[asyncio.Task, asyncio.StreamWriter] = {}
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._failures = 0
        self.address: tuple | str | None = None

    # -- telemetry ------------------------------------------------------------------------------
    def _add(self, name: str, value: int) -> None:
        self.telemetry.add(name, value, **self._labels)

    def _parse_failure(self, exc: BaseException, peer: object) -> None:
        self._failures += 1
        self._add("otelcol_fluent_parse_failures", 1)
        if self._failures == 1 or self._failures % 1000 == 0:
            self.log.warning("Closed a Forward connection from %s on a malformed frame (%d so far): %s",
                             peer, self._failures, exc)

    # -- the pipeline -----------------------------------------------------------------------------
    async def _deliver(self, records: list, bounded: bool) -> bool:
        request = ExportLogsServiceRequest()
        request.resource_logs.add().scope_logs.add().log_records.extend(records)
        count = len(records)
        self._add("otelcol_fluent_records_generated", count)
        labels = {**self._labels, "transport": TRANSPORT}
        try:
            if bounded:  # the pipeline keeps going if the wait ends; the client just gets no ack
                await asyncio.wait_for(asyncio.shield(self.consumer.consume(request)), ACK_WAIT_TIMEOUT)
            else:
                await self.consumer.consume(request)
        except (ConsumerError, asyncio.TimeoutError) as exc:
            self.telemetry.add("otelcol_receiver_refused_log_records", count, **labels)
            self.log.debug("The pipeline did not take %d Forward record(s): %s", count, exc)
            return False
        self.telemetry.add("otelcol_receiver_accepted_log_records", count, **labels)
        return True

    # -- connections ------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections[task] = writer
        peer = writer.get_extra_info("peername") or "a unix socket client"
        try:
            async with self._slots:
                self._add("otelcol_fluent_opened_connections", 1)
                try:
                    await self._read(reader, writer, peer)
                finally:
                    self._add("otelcol_fluent_closed_connections", 1)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object) -> None:
        events = unpacker()
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            events.feed(data)
            records: list = []
            chunks: list[str] = []
            bad: BaseException | None = None
            try:
                for event in events:
                    chunk = decode_event(event, records)
                    self._add("otelcol_fluent_events_parsed", 1)
                    if chunk:
                        chunks.append(chunk)
            except Exception as exc:  # anything a client sends must not reach further than here
                bad = exc
            if records or chunks:
                delivered = await self._deliver(records, bool(chunks))
                if not delivered and chunks:
                    return  # closed without acks: the client resends
                for chunk in chunks:  # the chunk's bytes echoed as they came, as a msgpack str
                    writer.write(_ACK_PREFIX + msgpack.packb(chunk.encode("utf-8", "surrogateescape"),
                                                             use_bin_type=False))
                await writer.drain()
            if bad is not None:
                self._parse_failure(bad, peer)
                return

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, host: Host) -> None:
        path = self.config.unix_path
        if path is not None:
            try:  # a socket left behind by a killed instance, never any other file
                if stat.S_ISSOCK(os.stat(path).st_mode):
                    os.unlink(path)
            except FileNotFoundError:
                pass
            self._server = await asyncio.start_unix_server(self._serve, path)
            self.address = path
        else:
            host_name, port = split_host_port(self.config.endpoint) if self.config.endpoint else ("", 0)
            self._server = await asyncio.start_server(self._serve, host_name or None, port)
            self.address = self._server.sockets[0].getsockname()
            try:
                loop = asyncio.get_running_loop()
                self._heartbeat, _ = await loop.create_datagram_endpoint(
                    _Heartbeat, local_addr=(host_name or None, self.address[1]))
            except BaseException:
                self._server.close()
                raise
        self.log.info("Forward protocol receiver listening on %s", self.config.endpoint or self.address)

    async def shutdown(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.close()
            self._heartbeat = None
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._connections.values()):
            writer.transport.abort()  # stop reading; a delivery under way finishes first
        tasks = list(self._connections)
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._server = None
        if self.config.unix_path is not None:
            try:
                os.unlink(self.config.unix_path)
            except OSError:
                pass
