"""Shared parts of the worker-process tests: otelflow started with ``--workers N`` as users start it,
traces built as OTLP protobufs whose spans are spread over services, requests and client
connections, and the clients that send them over several gRPC channels and HTTP connections (the
kernel spreads SO_REUSEPORT listeners' connections over the workers, one connection at a time)."""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from prometheus_client.parser import text_string_to_metric_families

from tests.process import Collector

READY = b"Everything is ready"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METHODS = {"traces": EXPORT, "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"}


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


# ---------------------------------------------------------------------------------------------
# the collector


class Workers(Collector):
    """otelflow with ``--workers N``; ready when every worker said so."""

    def __init__(self, config: str, workers: int, *args: str, env: dict | None = None):
        super().__init__(config, "--workers", str(workers), *args, env=env)
        self.workers = workers

    def start(self, timeout: float = 30) -> "Workers":
        self._log = open(self.log, "wb")
        import subprocess
        import sys
        self.proc = subprocess.Popen([sys.executable, "-m", "otelflow", "--config", str(self.config), *self.args],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        self.wait_ready(self.workers, timeout)
        return self

    def ready_count(self) -> int:
        return self.log.read_bytes().count(READY)

    def wait_ready(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.ready_count() < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"otelflow did not get {count} workers ready:\n{self.output()}")
            time.sleep(0.05)

    def worker_pids(self) -> dict[int, int]:
        """{worker index: pid} of the supervisor's live children."""
        assert self.proc is not None
        out: dict[int, int] = {}
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return out
        for pid in map(int, children):
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for item in env:
                if item.startswith(b"OTELFLOW_WORKER_INDEX="):
                    out[int(item.split(b"=", 1)[1])] = pid
        return out


def connections(pids: dict[int, int], port: int) -> dict[int, int]:
    """{worker index: established TCP connections it holds on ``port``}: where the kernel put them."""
    import psutil

    out = {}
    for index, pid in pids.items():
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            conns = []
        out[index] = sum(1 for c in conns if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED)
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------------------------
# traces


SERVICES = ("frontend", "cart", "db")
INSTANCES = ("a", "b")


@dataclass
class TraceSet:
    """Traces as (service, instance) -> list of (trace index, Span), and what each trace is."""

    count: int
    spans: dict[tuple[str, str], list[tuple[int, Span]]] = field(default_factory=dict)
    error: set[int] = field(default_factory=set)
    slow: set[int] = field(default_factory=set)
    healthz: set[int] = field(default_factory=set)
    trace_ids: list[bytes] = field(default_factory=list)

    @property
    def span_count(self) -> int:
        return sum(len(v) for v in self.spans.values())

    def calls(self) -> dict[tuple[str, str], int]:
        """(service, span name) -> spans sent: what spanmetrics must count."""
        out: dict[tuple[str, str], int] = {}
        for (service, _), spans in self.spans.items():
            for _, span in spans:
                out[(service, span.name)] = out.get((service, span.name), 0) + 1
        return out


def make_traces(count: int, seed: int = 16) -> TraceSet:
    """Four spans a trace over three services (each with two instances, so six resources): the
    frontend's root and a render span, a cart call and a db query. What makes a trace worth keeping
    is only visible across services: the error is on the db span, the latency (> 500 ms) only
    between the root's start and the db span's end, the /healthz target on the frontend's root."""
    rnd = random.Random(seed)
    ts = TraceSet(count)
    base = 1_700_000_000_000_000_000
    for i in range(count):
        tid = rnd.randbytes(16)
        ts.trace_ids.append(tid)
        inst = INSTANCES[i % 2]
        start = base + i * 1_000_000
        error, slow, healthz = rnd.random() < 0.03, rnd.random() < 0.04, rnd.random() < 0.02
        if error:
            ts.error.add(i)
        if slow:
            ts.slow.add(i)
        if healthz:
            ts.healthz.add(i)
        root_id, cart_id, db_id, render_id = (rnd.randbytes(8) for _ in range(4))
        db_end = start + (700 if slow else 90) * 1_000_000
        root = Span(trace_id=tid, span_id=root_id, name="GET /healthz" if healthz else "GET /checkout",
                    kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=start, end_time_unix_nano=start + 100_000_000,
                    attributes=[kv("http.target", "/healthz" if healthz else "/checkout"),
                                kv("http.url", f"https://shop.example.com/checkout?card=4111{i}")])
        render = Span(trace_id=tid, span_id=render_id, parent_span_id=root_id, name="render",
                      start_time_unix_nano=start + 80_000_000, end_time_unix_nano=start + 95_000_000)
        cart = Span(trace_id=tid, span_id=cart_id, parent_span_id=root_id, name="cart.get",
                    kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=start + 10_000_000,
                    end_time_unix_nano=start + 60_000_000)
        db = Span(trace_id=tid, span_id=db_id, parent_span_id=cart_id, name="SELECT orders",
                  kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=start + 20_000_000, end_time_unix_nano=db_end,
                  attributes=[kv("db.statement", f"SELECT * FROM orders WHERE id={i}")],
                  status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK))
        for service, span in (("frontend", root), ("frontend", render), ("cart", cart), ("db", db)):
            ts.spans.setdefault((service, inst), []).append((i, span))
    return ts


def requests_for(ts: TraceSet, chunk: int = 250, per_request: int = 60, seed: int = 7) -> list[bytes]:
    """Serialized export requests, one service instance each (as an SDK batches), ``chunk`` traces'
    worth at a time, the spans of a trace shuffled over several requests (the frontend's two spans
    land in different ones)."""
    rnd = random.Random(seed)
    out: list[bytes] = []
    for lo in range(0, ts.count, chunk):
        batch: list[bytes] = []
        for (service, inst), spans in ts.spans.items():
            mine = [s for i, s in spans if lo <= i < lo + chunk]
            rnd.shuffle(mine)
            for k in range(0, len(mine), per_request):
                req = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
                    resource={"attributes": [kv("service.name", service), kv("service.instance.id", inst),
                                             kv("env", "test")]},
                    scope_spans=[ScopeSpans(scope={"name": "workers.test"}, spans=mine[k:k + per_request])])])
                batch.append(req.SerializeToString())
        rnd.shuffle(batch)
        out.extend(batch)
    return out


def span_request(spans: list[Span], service: str = "frontend", **resource: str) -> bytes:
    attrs = [kv("service.name", service), *(kv(k, v) for k, v in resource.items())]
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource={"attributes": attrs}, scope_spans=[ScopeSpans(spans=spans)])]).SerializeToString()


def simple_spans(count: int, tag: str, rnd: random.Random | None = None) -> list[Span]:
    rnd = rnd or random.Random()
    now = time.time_ns()
    return [Span(trace_id=rnd.randbytes(16), span_id=rnd.randbytes(8), name=f"{tag}-{i}",
                 start_time_unix_nano=now, end_time_unix_nano=now + 1000) for i in range(count)]


# ---------------------------------------------------------------------------------------------
# clients


class Clients:
    """``grpc_channels`` gRPC channels and ``http_connections`` HTTP keep-alive connections, each its
    own TCP connection; ``send`` spreads requests over them round-robin, all in flight at once."""

    def __init__(self, grpc_port: int | None, http_port: int | None, grpc_channels: int = 4,
                 http_connections: int = 2, signal: str = "traces"):
        self.grpc_port, self.http_port = grpc_port, http_port
        self.signal = signal
        self.channels = [grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}", options=[("grpc.use_local_subchannel_pool", 1)])
                         for _ in range(grpc_channels if grpc_port else 0)]
        self.sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
                         for _ in range(http_connections if http_port else 0)]
        self.accepted = 0  # requests answered OK
        self.failed: list[str] = []

    async def _grpc(self, channel: grpc.aio.Channel, body: bytes, timeout: float) -> str | None:
        call = channel.unary_unary(METHODS[self.signal], request_serializer=None, response_deserializer=None)
        try:
            await call(body, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            return f"grpc {err.code().name}: {err.details()}"
        return None

    async def _http(self, session: aiohttp.ClientSession, body: bytes, timeout: float) -> str | None:
        try:
            async with session.post(f"http://127.0.0.1:{self.http_port}/v1/{self.signal}", data=body,
                                    headers={"Content-Type": "application/x-protobuf"},
                                    timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                await r.read()
                return None if r.status == 200 else f"http {r.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            return f"http {type(err).__name__}: {err}"

    async def connect(self) -> None:
        """Open every gRPC channel's connection now (HTTP ones open with their first request)."""
        await asyncio.gather(*(c.channel_ready() for c in self.channels))

    def _senders(self):
        return [(self._grpc, c) for c in self.channels] + [(self._http, s) for s in self.sessions]

    async def send_one(self, body: bytes, index: int = 0, timeout: float = 20) -> str | None:
        senders = self._senders()
        fn, conn = senders[index % len(senders)]
        error = await fn(conn, body, timeout)
        if error is None:
            self.accepted += 1
        else:
            self.failed.append(error)
        return error

    async def send(self, bodies: list[bytes], in_flight: int = 0, timeout: float = 20) -> list[str | None]:
        """Send every body; returns each one's error (None when accepted)."""
        senders = self._senders()
        limit = asyncio.Semaphore(in_flight or 2 * len(senders))
        queues: list[list[tuple[int, bytes]]] = [[] for _ in senders]
        for i, body in enumerate(bodies):
            queues[i % len(senders)].append((i, body))
        results: list[str | None] = [None] * len(bodies)

        async def lane(k: int) -> None:
            fn, conn = senders[k]
            for i, body in queues[k]:
                async with limit:
                    results[i] = await fn(conn, body, timeout)
                if results[i] is None:
                    self.accepted += 1
                else:
                    self.failed.append(results[i])

        await asyncio.gather(*(lane(k) for k in range(len(senders))))
        return results

    async def close(self) -> None:
        for c in self.channels:
            await c.close()
        for s in self.sessions:
            await s.close()


# ---------------------------------------------------------------------------------------------
# /metrics


async def scrape(port: int) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(total=10)) as r:
            assert r.status == 200, r.status
            return await r.text()


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample named ``name`` (the parser calls a counter ``name_total`` even when it is not)."""
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in (name, name + "_total"):
                out.append((s.labels, s.value))
    return out


def series_count(text: str, name: str) -> int:
    """How many times a sample line for ``name`` appears (a summed exposition has each series once)."""
    return len(re.findall(rf"^{re.escape(name)}(\{{| )", text, re.M))


async def spread_clients(collector: Workers, grpc_port: int, channels: int = 6, signal: str = "traces",
                         tries: int = 10) -> Clients:
    """gRPC clients whose connections the kernel gave to every worker (new ones until it did)."""
    for _ in range(tries):
        clients = Clients(grpc_port, None, grpc_channels=channels, http_connections=0, signal=signal)
        await clients.connect()
        await asyncio.sleep(0.1)
        held = connections(collector.worker_pids(), grpc_port)
        if len(held) == collector.workers and all(held.values()):
            return clients
        await clients.close()
    raise AssertionError(f"the kernel never spread {channels} connections over {collector.workers} workers")
