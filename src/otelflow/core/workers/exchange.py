"""How workers hand data to each other: framed calls over a Unix socket per worker (``wire``).

A worker registers the consumers that other workers may feed (a keyed processor, a connector, an
exporter that runs once) under a node name that is the same in every worker, because every worker
builds the same graph from the same config. ``send`` serializes a request once and the peer parses it
once; the answer carries the consumer's verdict, so the receiver that took the data in answers its
client with what the owning worker said (accepted, retryable or permanent).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import struct
import time
from typing import Any, Callable

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import ExportProfilesServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.core.consumer import Consumer, ConsumerError, PermanentError
from otelflow.core.workers import wire
from otelflow.core.workers.context import WorkerContext
from otelflow.core.workers.totals import Totals

log = logging.getLogger("otelflow.workers")

PEER_WAIT = 10.0  # how long data waits for a worker that is starting or restarting before it is refused
_REQUEST_TYPES = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
    "profiles": ExportProfilesServiceRequest,
}
_NODE = struct.Struct("!H")  # a consume call's payload: node name length, node name, encoded request


class Exchange:
    """This worker's end: a server for its peers and a connection to each of them."""

    def __init__(self, ctx: WorkerContext, snapshot: Callable[[], dict[str, Any]]):
        self.ctx = ctx
        self.snapshot = snapshot  # this worker's self-telemetry, for worker 0's /metrics
        self.nodes: dict[str, tuple[Consumer, type[Message]]] = {}
        self.progress = -1  # shutdown steps this worker has finished (see wait_for_peers)
        self._server: asyncio.AbstractServer | None = None
        self._served: set[wire.ServerConnection] = set()
        self._peers: dict[int, wire.ClientConnection] = {}
        self._connecting: dict[int, asyncio.Task] = {}
        self.incarnation = f"{os.getpid()}-{time.time()}"  # tells a restarted worker from its predecessor
        self._totals: Totals | None = None

    # -- serving --------------------------------------------------------------------------------

    def register(self, node: str, signal: str, consumer: Consumer) -> None:
        self.nodes[node] = (consumer, _REQUEST_TYPES[signal])

    async def start(self) -> None:
        path = self.ctx.socket_path(self.ctx.index)
        path.unlink(missing_ok=True)  # left by a worker that died
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(self._connection, str(path))

    def _connection(self) -> wire.ServerConnection:
        conn = wire.ServerConnection(self._handle)
        self._served.add(conn)
        return conn

    async def _handle(self, op: int, payload: bytes) -> tuple[int, bytes]:
        if op == wire.CONSUME:
            return await self._consume(payload)
        if op == wire.TELEMETRY:
            return wire.OK, json.dumps({**self.snapshot(), "incarnation": self.incarnation}).encode()
        if op == wire.PROGRESS:
            return wire.OK, str(self.progress).encode()
        return wire.PERMANENT, f"unknown call {op}".encode()

    async def _consume(self, payload: bytes) -> tuple[int, bytes]:
        (size,) = _NODE.unpack_from(payload)
        node = payload[_NODE.size:_NODE.size + size].decode()
        target = self.nodes.get(node)
        if target is None:
            return wire.RETRYABLE, f"worker {self.ctx.index} has no pipeline node {node} (yet)".encode()
        consumer, request_type = target
        takes_bytes = getattr(consumer, "consume_encoded", None)
        if takes_bytes is not None:  # a part another worker cut from a request a receiver parsed
            return await self._verdict(takes_bytes(payload[_NODE.size + size:]))
        try:
            request = request_type.FromString(payload[_NODE.size + size:])
        except Exception as exc:  # noqa: BLE001 - a peer sent what it encoded itself: should not happen
            return wire.PERMANENT, f"unparseable request from another worker: {exc}".encode()
        return await self._verdict(consumer.consume(request))

    @staticmethod
    async def _verdict(call) -> tuple[int, bytes]:
        try:
            await call
        except PermanentError as exc:
            return wire.PERMANENT, str(exc).encode()
        except ConsumerError as exc:
            return wire.RETRYABLE, str(exc).encode()
        return wire.OK, b""

    async def shutdown(self) -> None:
        for conn in self._peers.values():
            if conn.transport is not None:
                conn.transport.close()
        self._peers.clear()
        if self._server is not None:
            self._server.close()
            tasks = [t for conn in self._served for t in conn.tasks]
            if tasks:  # answers still being worked out finish first
                await asyncio.wait(tasks, timeout=5)
            for conn in self._served:
                if conn.transport is not None:
                    conn.transport.close()
            self._server = None
        self.ctx.socket_path(self.ctx.index).unlink(missing_ok=True)

    # -- calling peers --------------------------------------------------------------------------

    async def _peer(self, index: int, wait: float) -> wire.ClientConnection:
        """The connection to worker ``index``, (re)connecting for up to ``wait`` seconds."""
        conn = self._peers.get(index)
        if conn is not None and conn.usable:
            return conn
        task = self._connecting.get(index)
        if task is None or task.done():
            task = self._connecting[index] = asyncio.get_running_loop().create_task(self._connect(index, wait))
        return await asyncio.shield(task)

    async def _connect(self, index: int, wait: float) -> wire.ClientConnection:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        path = str(self.ctx.socket_path(index))
        while True:
            try:
                _, conn = await loop.create_unix_connection(wire.ClientConnection, path)
            except OSError as exc:
                if loop.time() >= deadline:
                    raise ConsumerError(f"worker {index} is not reachable (waited {wait:.0f}s): {exc}") from None
                await asyncio.sleep(0.05)  # a worker that is starting or restarting
                continue
            self._peers[index] = conn
            return conn

    async def _call(self, index: int, op: int, payload: bytes, wait: float) -> tuple[int, bytes]:
        conn = await self._peer(index, wait)
        try:
            return await conn.call(op, payload)
        except ConnectionError as exc:
            raise ConsumerError(f"worker {index} went away: {exc}") from None

    async def send(self, index: int, node: str, request: Message | bytes) -> None:
        """Hand ``request`` (a message, or one already encoded) to ``node`` in worker ``index``;
        raises as that consumer raised."""
        await self.answer(index, self.begin_send(index, node, request))

    def begin_send(self, index: int, node: str, request: Message | bytes) -> asyncio.Future:
        """Put the call on the wire now when the peer is connected (no task needed), else start
        connecting; ``answer`` turns what comes back into the consumer's verdict."""
        body = request.SerializeToString() if isinstance(request, Message) else request
        name = node.encode()
        payload = b"".join((_NODE.pack(len(name)), name, body))
        conn = self._peers.get(index)
        if conn is not None and conn.usable:
            future = conn.call(wire.CONSUME, payload)
        else:
            future = asyncio.ensure_future(self._call(index, wire.CONSUME, payload, PEER_WAIT))
        return future

    async def answer(self, index: int, future: asyncio.Future) -> None:
        try:
            status, answer = await future
        except ConnectionError as exc:
            raise ConsumerError(f"worker {index} went away: {exc}") from None
        if status != wire.OK:
            message = answer.decode("utf-8", "replace")
            raise (PermanentError if status == wire.PERMANENT else ConsumerError)(message)

    async def collector_snapshots(self, timeout: float = 2.0) -> list[dict[str, Any]]:
        """What worker 0 adds to its own telemetry for the collector's totals (see ``totals``)."""
        async def one(index: int) -> dict[str, Any] | None:
            try:
                _, answer = await asyncio.wait_for(self._call(index, wire.TELEMETRY, b"", timeout), timeout)
                return json.loads(answer)
            except (ConsumerError, asyncio.TimeoutError, ValueError):
                return None
        peers = [i for i in range(self.ctx.count) if i != self.ctx.index]
        answers = dict(zip(peers, await asyncio.gather(*(one(i) for i in peers))))
        answers[self.ctx.index] = {"incarnation": self.incarnation, "counters": self.snapshot().get("counters", [])}
        if self._totals is None:
            self._totals = await asyncio.to_thread(Totals, self.ctx.directory / "telemetry-totals.json")
        out = self._totals.combine(answers, self.ctx.index)
        await asyncio.to_thread(self._totals.save)
        return out

    async def wait_for_peers(self, step: int, timeout: float) -> None:
        """Wait until every live peer finished shutdown steps before ``step``: what a peer's earlier
        nodes flush may still be on its way to this worker's node ``step``."""
        deadline = time.monotonic() + timeout
        pending = {i for i in range(self.ctx.count) if i != self.ctx.index}
        while pending and time.monotonic() < deadline:
            for index in list(pending):
                if not os.path.exists(self.ctx.socket_path(index)):
                    pending.discard(index)  # that worker is gone (or never started): nothing comes from it
                    continue
                try:
                    _, answer = await asyncio.wait_for(self._call(index, wire.PROGRESS, b"", 1.0), 1.0)
                    done = int(answer)
                except (ConsumerError, asyncio.TimeoutError, ValueError):
                    continue
                if done >= step - 1:
                    pending.discard(index)
            if pending:
                await asyncio.sleep(0.02)
