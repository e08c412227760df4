"""10x overload against memory_limiter, on a real otelflow process and a slow but working backend.

Many senders push large requests far faster than the backend can take them. The collector must keep
its resident memory under ``limit_mib``, answer only OK or a retryable code (UNAVAILABLE, as
upstream's otlp receiver maps the limiter's refusal), stay alive, and deliver every span it
acknowledged, counted per request by a unique resource attribute.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import threading
import time

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

from otelflow.core.component import Signal
from otelflow.pdata import REQUEST_TYPES, RESPONSE_TYPES
from otelflow.receivers.otlp.grpc import SERVICES
from tests.backends import free_port
from tests.process import Collector

LIMIT_MIB, SPIKE_MIB = 200, 80
# Refusing starts at 120 MiB (an idle otelflow is ~65 MiB). The spike must cover what is accepted and
# parsed within one check_interval: refused requests are parsed first, and an accepted one costs
# several times its wire size in the pipeline (see docs/operations.md for the figures).
SPANS_PER_REQUEST = 1000  # about 130 kB on the wire, two SDK batches
SENDERS = 20
LOAD_SECONDS = 12.0
BACKEND_DELAY = 0.1  # each export takes 100 ms at the backend ...
EXPORT_CONSUMERS = 2  # ... and the collector sends at most 2 at once of at most 2000 spans: ~40k spans/s
PLACEHOLDER = "r00-0000000"


def config(port: int, backend: int) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{port}}}
processors:
  memory_limiter: {{check_interval: 100ms, limit_mib: {LIMIT_MIB}, spike_limit_mib: {SPIKE_MIB}}}
  batch: {{send_batch_size: 2000, send_batch_max_size: 2000, timeout: 100ms}}
exporters:
  otlp:
    endpoint: 127.0.0.1:{backend}
    tls: {{insecure: true}}
    timeout: 30s
    sending_queue: {{num_consumers: {EXPORT_CONSUMERS}, queue_size: 100000}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0s}}
service:
  telemetry:
    metrics: {{level: none}}
  pipelines:
    traces: {{receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp]}}
"""


class SlowBackend:
    """A real OTLP/gRPC server that takes BACKEND_DELAY per export and counts spans per request tag."""

    def __init__(self) -> None:
        self.port = free_port()
        self.spans: collections.Counter[str] = collections.Counter()
        self.exports = 0
        self.server: grpc.aio.Server | None = None

    async def _export(self, request, context):
        await asyncio.sleep(BACKEND_DELAY)
        for rs in request.resource_spans:
            tag = next(a.value.string_value for a in rs.resource.attributes if a.key == "req")
            self.spans[tag] += sum(len(ss.spans) for ss in rs.scope_spans)
        self.exports += 1
        return RESPONSE_TYPES[Signal.TRACES]()

    async def start(self) -> "SlowBackend":
        self.server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
        handler = grpc.unary_unary_rpc_method_handler(
            self._export, request_deserializer=REQUEST_TYPES[Signal.TRACES].FromString,
            response_serializer=RESPONSE_TYPES[Signal.TRACES].SerializeToString)
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICES[Signal.TRACES], {"Export": handler}),))
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        await self.server.start()
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(None)


def template() -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value={"string_value": "overload"})
    rs.resource.attributes.add(key="req", value={"string_value": PLACEHOLDER})
    ss = rs.scope_spans.add()
    for i in range(SPANS_PER_REQUEST):
        span = ss.spans.add(name=f"op-{i % 50}", trace_id=os.urandom(16), span_id=os.urandom(8),
                            start_time_unix_nano=1_700_000_000_000_000_000 + i, end_time_unix_nano=1_700_000_000_000_100_000 + i)
        span.attributes.add(key="http.route", value={"string_value": f"/api/v1/items/{i % 97}"})
    body = req.SerializeToString()
    assert body.count(PLACEHOLDER.encode()) == 1
    return body


class Sender(threading.Thread):
    """Sends copies of one large request, each with its own tag, as fast as the collector answers."""

    def __init__(self, n: int, port: int, body: bytes, stop: threading.Event):
        super().__init__(daemon=True)
        self.n, self.port, self.body, self.stopping = n, port, body, stop
        self.codes: collections.Counter[grpc.StatusCode] = collections.Counter()
        self.acked: list[str] = []

    def run(self) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            call = channel.unary_unary(f"/{SERVICES[Signal.TRACES]}/Export", request_serializer=None,
                                       response_deserializer=ExportTraceServiceResponse.FromString)
            k = 0
            while not self.stopping.is_set():
                tag = f"r{self.n:02d}-{k:07d}"
                try:
                    call(self.body.replace(PLACEHOLDER.encode(), tag.encode()), timeout=30)
                    self.codes[grpc.StatusCode.OK] += 1
                    self.acked.append(tag)
                except grpc.RpcError as err:
                    self.codes[err.code()] += 1
                    time.sleep(0.05)  # a client backs off a little before it retries
                k += 1


class RSSSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples = pid, 0.0, 0
        self.timeline: list[tuple[float, float]] = []  # (seconds, MiB) every 0.5 s, for failure messages
        self.stopping = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        while not self.stopping.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                return
            self.peak = max(self.peak, kib / 1024)
            self.samples += 1
            now = time.monotonic() - began
            if not self.timeline or now - self.timeline[-1][0] >= 0.5:
                self.timeline.append((round(now, 1), round(kib / 1024)))
            time.sleep(0.01)


async def test_ten_times_overload_keeps_rss_under_the_limit_and_delivers_everything_acknowledged():
    backend = await SlowBackend().start()
    port = free_port()
    col = Collector(config(port, backend.port)).start()
    body = await asyncio.to_thread(template)
    stop = threading.Event()
    senders = [Sender(n, port, body, stop) for n in range(SENDERS)]
    rss = RSSSampler(col.proc.pid)
    try:
        rss.start()
        began = time.monotonic()
        for s in senders:
            s.start()
        await asyncio.sleep(LOAD_SECONDS)
        stop.set()
        await asyncio.to_thread(lambda: [s.join(40) for s in senders])
        load_time = time.monotonic() - began
        delivered_during_load = sum(backend.spans.values())

        codes = sum((s.codes for s in senders), collections.Counter())
        acked = [tag for s in senders for tag in s.acked]
        attempted = sum(codes.values()) * SPANS_PER_REQUEST
        # only OK or the limiter's retryable refusal
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, codes
        assert codes[grpc.StatusCode.UNAVAILABLE] > 0 and codes[grpc.StatusCode.OK] > 0, codes

        # everything acknowledged arrives, exactly once per span
        deadline = time.monotonic() + 30
        while any(backend.spans[t] < SPANS_PER_REQUEST for t in acked):
            assert time.monotonic() < deadline, "acknowledged spans did not all arrive"
            assert col.proc.poll() is None, "otelflow died"
            await asyncio.sleep(0.2)
        assert all(backend.spans[t] == SPANS_PER_REQUEST for t in acked), "duplicated spans"
        rss.stopping.set()
        assert col.proc.poll() is None  # alive
        assert rss.peak < LIMIT_MIB, f"RSS peaked at {rss.peak:.0f} MiB, over limit_mib {LIMIT_MIB}: {rss.timeline}"

        capacity = delivered_during_load / load_time
        offered = attempted / load_time
        print(f"\noverload: offered {offered:,.0f} spans/s to a backend that took {capacity:,.0f} spans/s "
              f"({offered / capacity:.1f}x); {codes[grpc.StatusCode.OK]} requests OK, "
              f"{codes[grpc.StatusCode.UNAVAILABLE]} UNAVAILABLE; RSS peak {rss.peak:.0f} MiB of {LIMIT_MIB} "
              f"(margin {LIMIT_MIB - rss.peak:.0f} MiB, {rss.samples} samples); {len(acked) * SPANS_PER_REQUEST:,} "
              f"acknowledged spans all delivered")
        assert offered / capacity >= 5, "the load was not an overload"
        assert await asyncio.to_thread(col.stop) == 0
        assert "Memory usage is above soft limit. Refusing data." in col.output()
    finally:
        stop.set()
        rss.stopping.set()
        col.stop(signal.SIGKILL)
        await backend.stop()
