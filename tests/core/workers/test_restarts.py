"""What a worker restart or a change of the worker count must not do: make the collector's own
counters go back, or strand what a worker acknowledged in its persistent queue."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

from otelflow.core.component import Signal
from tests.backends import GRPCBackend, free_port
from tests.core.workers.harness import Clients, Workers, samples, scrape, simple_spans, span_request


async def test_telemetry_counters_never_go_back_when_a_worker_restarts():
    """:8888 sums the workers' counters. A worker killed and restarted starts its own from zero; the
    collector's counter must still not decrease (Prometheus would read a reset and count worker 0's
    whole total again as new)."""
    sink = await GRPCBackend().start()
    gp, tele = free_port(), free_port()
    collector = Workers(f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{gp}"}}}}}}
exporters:
  otlp: {{endpoint: "{sink.endpoint}", tls: {{insecure: true}}}}
service:
  telemetry:
    metrics:
      readers: [{{pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {tele}}}}}}}}}]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
""", 2)
    await asyncio.to_thread(collector.start)
    rnd = random.Random(2)
    try:
        clients = Clients(gp, None, grpc_channels=12, http_connections=0)
        results = await clients.send([span_request(simple_spans(10, "c", rnd)) for _ in range(48)])
        await clients.close()
        assert results == [None] * 48

        def accepted(text: str) -> float:
            return sum(v for _, v in samples(text, "otelcol_receiver_accepted_spans"))

        before = accepted(await scrape(tele))
        assert before == 480
        os.kill(collector.worker_pids()[1], signal.SIGKILL)
        await asyncio.to_thread(collector.wait_ready, 3, 20)
        after = accepted(await scrape(tele))
        assert after >= before, f"otelcol_receiver_accepted_spans went from {before} to {after}"
    finally:
        await asyncio.to_thread(collector.stop)
        await sink.stop()


async def test_fewer_workers_after_a_restart_still_deliver_every_queue(tmp_path: Path):
    """Each worker keeps its own persistent queue file. Started again with fewer workers (a smaller
    machine, OTELFLOW_WORKERS changed), what the old worker 1 acknowledged must still be delivered."""
    sink_port = free_port()
    gp = free_port()
    storage = tmp_path / "queue"
    storage.mkdir()
    config = f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{gp}"}}}}}}
extensions:
  file_storage: {{directory: "{storage}"}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{sink_port}"
    tls: {{insecure: true}}
    timeout: 1s
    sending_queue: {{storage: file_storage}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0s}}
service:
  extensions: [file_storage]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"""
    rnd = random.Random(4)
    two = Workers(config, 2)
    await asyncio.to_thread(two.start)
    acked: set[bytes] = set()
    try:
        for _ in range(3):  # fresh connections each round, so both workers take some
            clients = Clients(gp, None, grpc_channels=8, http_connections=0)
            bodies = [simple_spans(10, "q", rnd) for _ in range(8)]
            results = await clients.send([span_request(b) for b in bodies])
            await clients.close()
            acked |= {s.span_id for r, b in zip(results, bodies) if r is None for s in b}
    finally:
        assert await asyncio.to_thread(two.stop) == 0  # the backend is down: the queues stay on disk
    assert len(acked) == 240
    assert len(list(storage.iterdir())) >= 2, list(storage.iterdir())

    sink = await GRPCBackend(port=sink_port).start()
    one = Workers(config, 1)
    await asyncio.to_thread(one.start)
    try:
        got: set[bytes] = set()
        for _ in range(100):
            got = {s.span_id for m in sink.messages(Signal.TRACES) for rs in m.resource_spans
                   for ss in rs.scope_spans for s in ss.spans}
            if acked <= got:
                break
            await asyncio.sleep(0.2)
        assert acked <= got, (f"{len(acked - got)} of {len(acked)} acknowledged spans stranded in "
                              f"{sorted(p.name for p in storage.iterdir())}")
    finally:
        await asyncio.to_thread(one.stop)
        await sink.stop()
