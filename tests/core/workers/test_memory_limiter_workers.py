"""memory_limiter's limit is the collector's, not each worker's: with two workers the refusal threshold
counts every process of the collector (supervisor and workers). A limit a single process stays under
is exceeded by two workers together, so they refuse at once while one process accepts."""

from __future__ import annotations

import asyncio
import random

from tests.backends import free_port
from tests.core.workers.harness import Clients, Workers, rss_bytes, simple_spans, span_request

MIB = 1024 * 1024


def config(gp: int, limit_mib: int) -> str:
    return f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{gp}"}}}}}}
processors:
  memory_limiter: {{check_interval: 100ms, limit_mib: {limit_mib}, spike_limit_mib: 1}}
exporters:
  debug: {{verbosity: basic}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [memory_limiter], exporters: [debug]}}
"""


async def outcomes(workers: int, limit_mib: int, rounds: int = 2) -> tuple[list[str | None], Workers]:
    gp = free_port()
    collector = Workers(config(gp, limit_mib), workers)
    await asyncio.to_thread(collector.start)
    try:
        await asyncio.sleep(0.5)  # a few checks of the memory in use
        results: list[str | None] = []
        rnd = random.Random(workers)
        for _ in range(rounds):  # fresh connections each round: the kernel spreads them over the workers
            clients = Clients(gp, None, grpc_channels=6, http_connections=0)
            try:
                results += await clients.send([span_request(simple_spans(5, "m", rnd)) for _ in range(6)])
            finally:
                await clients.close()
        collector.rss = {i: rss_bytes(p) for i, p in collector.worker_pids().items()}  # type: ignore[attr-defined]
        collector.rss_all = sum(collector.rss.values()) + rss_bytes(collector.proc.pid)  # type: ignore[attr-defined]
    finally:
        await asyncio.to_thread(collector.stop)
    return results, collector


async def test_limit_counts_both_workers():
    # what one process takes when it has served a few requests, under a limit it cannot reach
    _, single = await outcomes(1, 4096)
    one = single.rss_all  # type: ignore[attr-defined]
    limit = int(one / MIB) + 30  # 30 MiB above one process: far below two workers and a supervisor

    results, _ = await outcomes(1, limit)
    assert results == [None] * 12, f"one process ({one / MIB:.0f} MiB) stays under {limit} MiB: {results}"

    results, two = await outcomes(2, limit)
    assert two.rss_all > (limit + 1) * MIB, f"two workers take {two.rss_all / MIB:.0f} MiB in all"
    assert max(two.rss.values()) < limit * MIB, "each worker alone is under the limit"
    assert all(r is not None and "data refused due to high memory usage" in r for r in results), results
    assert all(r.startswith("grpc UNAVAILABLE") for r in results), results
    print(f"\none process {one / MIB:.0f} MiB, limit {limit} MiB; two workers {sorted(two.rss.values())} B, "
          f"{two.rss_all / MIB:.0f} MiB with the supervisor")
