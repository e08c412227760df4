"""Fault tests for the persistent sending queue: otelflow as a real process, spans made and sent by the
real OpenTelemetry Python SDK (its OTLP/gRPC exporter, so each export's OK or error is known), and a
real OTLP/gRPC backend running on its own thread that the test takes down and brings back.

1. kill -9 mid-stream: the backend goes down, the collector is killed with spans queued and in
   flight, restarted on the same directory, the backend comes back: every span the collector
   acknowledged arrives with identical content (duplicates are allowed and reported).
2. backend down longer than the in-memory queue holds: with the persistent queue every acknowledged
   span is delivered after recovery; with the memory queue the refused and dropped spans are exactly
   what the clients saw and what self-telemetry (:8888-style endpoint) reports.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelflow.core.component import Signal
from tests.backends import GRPCBackend, free_port
from tests.process import Collector
from tests.sdk import flatten

BATCH = 50


class ThreadedBackend:
    """A GRPCBackend on its own event loop thread, so a synchronous test can stop and restart it
    on the same port; what it receives accumulates across restarts."""

    def __init__(self, port: int):
        self.port = port
        self.received: list = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.backend: GRPCBackend | None = None

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)

    def start(self) -> None:
        self.backend = GRPCBackend(self.port)
        self.backend.received = self.received
        self._call(self.backend.start())

    def stop(self) -> None:
        if self.backend is not None:
            self._call(self.backend.stop())
            self.backend = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def leaves(self) -> collections.Counter:
        return collections.Counter(leaf for r in list(self.received) if r.signal is Signal.TRACES for leaf in flatten(r.message))


def sdk_batches(n_spans: int, run: str) -> list:
    """Spans made by the real SDK, each with unique attributes, cut into export batches."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "crash-test", "test.run": run}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("otelflow.crash", "1.0")
    for i in range(n_spans):
        with tracer.start_as_current_span("checkout", attributes={"seq": i, "run": run, "payload": f"order-{i:05d}" * 8}) as span:
            span.add_event("charged", {"amount": i * 3})
    spans = memory.get_finished_spans()
    provider.shutdown()
    return [spans[i:i + BATCH] for i in range(0, len(spans), BATCH)]


class Sender(threading.Thread):
    """Exports batches one after another with the SDK's OTLP exporter; records which got OK."""

    def __init__(self, endpoint: str, batches: list, retry: bool, pause: float = 0.02):
        super().__init__(daemon=True)
        # retry=False: one attempt, so the outcome is the collector's answer. The SDK reads an empty list
        # as "the defaults", so name a code the collector never answers with instead.
        kwargs = {} if retry else {"retryable_error_codes": [grpc.StatusCode.UNAUTHENTICATED]}
        self.exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=4, **kwargs)
        self.batches, self.pause = batches, pause
        self.acked: list[int] = []
        self.failed: list[int] = []

    def run(self) -> None:
        for i, batch in enumerate(self.batches):
            ok = self.exporter.export(batch) is SpanExportResult.SUCCESS
            (self.acked if ok else self.failed).append(i)
            time.sleep(self.pause)
        self.exporter.shutdown()

    def leaves(self, which: list[int]) -> collections.Counter:
        return collections.Counter(leaf for i in which for leaf in flatten(encode_spans(self.batches[i])))


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def config(grpc_port: int, backend_port: int, telemetry_port: int, queue: str, retry: str) -> str:
    return f"""
extensions:
  file_storage:
    directory: {{STORAGE}}
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{backend_port}"
    tls: {{insecure: true}}
    timeout: 2s
    sending_queue: {queue}
    retry_on_failure: {retry}
service:
  extensions: [file_storage]
  telemetry:
    metrics:
      readers:
        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {telemetry_port}}}}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"""


def scrape(port: int) -> dict[str, float]:
    """Self-telemetry summed per metric name, as served on the /metrics endpoint."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = collections.defaultdict(float)
    for line in body.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series.split("{", 1)[0]] += float(value)
    return out


@pytest.fixture
def backend():
    b = ThreadedBackend(free_port())
    yield b
    b.close()


def test_kill_9_mid_stream_loses_no_acknowledged_span(tmp_path: Path, backend: ThreadedBackend):
    grpc_port, tel_port = free_port(), free_port()
    yaml = config(grpc_port, backend.port, tel_port, "{storage: file_storage, queue_size: 5000}",
                  "{initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0s}").replace("{STORAGE}", str(tmp_path))
    batches = sdk_batches(3000, "kill9")
    backend.start()
    first = Collector(yaml).start()
    sender = Sender(f"127.0.0.1:{grpc_port}", batches, retry=True)
    sender.start()
    second = None
    try:
        wait(lambda: len(sender.acked) >= 15, 30, "the first batches")
        backend.stop()  # from here on spans pile up in the queue on disk
        wait(lambda: len(sender.acked) >= 35, 30, "batches queued while the backend is down")
        backlog = scrape(tel_port)["otelcol_exporter_queue_size"]
        assert backlog > 0
        first.proc.kill()  # SIGKILL, mid-stream: the sender keeps exporting
        assert first.proc.wait(10) == -9
        queued = [p.name for p in tmp_path.iterdir()]
        assert "exporter_otlp__traces" in queued
        second = Collector(yaml).start()  # same directory
        assert "Moved items left from the previous run back to the queue" in second.output()
        sender.join(60)
        assert not sender.is_alive()
        backend.start()
        expected = sender.leaves(sender.acked)
        wait(lambda: not (expected - backend.leaves()), 40, "every acknowledged span at the backend")
        received = backend.leaves()
        assert not expected - received  # 0 lost: each acknowledged span, byte for byte
        duplicates = sum(c - 1 for c in received.values() if c > 1)
        unacked_delivered = len(set(received) - set(expected))
        print(f"\nkill -9 with {backlog:.0f} requests queued: {len(batches)} batches, {len(sender.acked)} acknowledged ({sum(expected.values())} spans), "
              f"{len(sender.failed)} failed at the client, lost 0, duplicates {duplicates}, "
              f"delivered though not acknowledged {unacked_delivered}")
        assert len(sender.acked) >= 40
        wait(lambda: scrape(tel_port).get("otelcol_exporter_queue_size", -1) == 0, 10, "an empty queue")
        assert second.stop() == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.proc.poll() is None:
                proc.stop()


@pytest.mark.parametrize("persistent", [True, False], ids=["persistent-queue", "memory-queue"])
def test_backend_down_longer_than_the_memory_queue_holds(tmp_path: Path, backend: ThreadedBackend, persistent: bool):
    grpc_port, tel_port = free_port(), free_port()
    # the memory queue holds 10 requests and gives up on one after 2 s of retries (standing in for an
    # outage longer than max_elapsed_time); the disk queue holds 5000 and keeps the default 5 min
    if persistent:
        queue, retry = "{storage: file_storage, queue_size: 5000, num_consumers: 2}", "{initial_interval: 100ms, max_interval: 500ms}"
    else:
        queue, retry = "{queue_size: 10, num_consumers: 2}", "{initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 2s}"
    yaml = config(grpc_port, backend.port, tel_port, queue, retry).replace("{STORAGE}", str(tmp_path))
    batches = sdk_batches(2000, "down")
    collector = Collector(yaml).start()
    try:
        sender = Sender(f"127.0.0.1:{grpc_port}", batches, retry=False, pause=0.05)
        sender.run()  # the backend is down throughout, and for 3 s more
        time.sleep(3)
        backend.start()
        wait(lambda: (lambda m: m.get("otelcol_exporter_queue_size", -1) == 0 and m.get("otelcol_receiver_accepted_spans", 0)
                      == m.get("otelcol_exporter_sent_spans", 0) + m.get("otelcol_exporter_send_failed_spans", 0))(scrape(tel_port)),
             40, "the queue to drain")
        m = scrape(tel_port)
        acked, failed = sender.leaves(sender.acked), sender.leaves(sender.failed)
        received = backend.leaves()
        n_acked, n_failed = sum(acked.values()), sum(failed.values())
        lost = acked - received
        print(f"\n{'persistent' if persistent else 'memory'} queue: acknowledged {n_acked}, refused {n_failed}, "
              f"acknowledged but not delivered {sum(lost.values())}; self-telemetry: "
              + ", ".join(f"{k}={m.get(k, 0):.0f}" for k in ("otelcol_receiver_accepted_spans", "otelcol_receiver_refused_spans",
                                                            "otelcol_exporter_enqueue_failed_spans", "otelcol_exporter_sent_spans",
                                                            "otelcol_exporter_send_failed_spans")))
        assert not (set(received) - set(acked))  # nothing refused was delivered
        assert m["otelcol_receiver_accepted_spans"] == n_acked
        assert m["otelcol_exporter_sent_spans"] == sum(received.values())
        if persistent:
            assert n_failed == 0 and not lost
            assert m.get("otelcol_exporter_enqueue_failed_spans", 0) == 0
            assert m.get("otelcol_exporter_send_failed_spans", 0) == 0
            assert m.get("otelcol_receiver_refused_spans", 0) == 0
        else:
            # what the clients were refused is what the collector reports refused
            assert n_failed > 0
            assert m["otelcol_exporter_enqueue_failed_spans"] == n_failed == m["otelcol_receiver_refused_spans"]
            # what was acknowledged and then dropped (retries spent) is exactly send_failed
            assert sum(lost.values()) > 0
            assert sum(lost.values()) == m["otelcol_exporter_send_failed_spans"]
        assert collector.stop() == 0
    finally:
        if collector.proc.poll() is None:
            collector.stop()
