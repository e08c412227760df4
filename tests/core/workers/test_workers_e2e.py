"""Issue 16 "done means" for worker processes, end to end: the seed's traces pipeline plus the seed's
tail_sampling policies and spanmetrics, run with ``--workers 2`` and fed over several gRPC channels
and HTTP connections, each trace's spans spread over three services (six resources), several
requests and several connections. Whole traces are kept or dropped, spanmetrics counts every span
once, the prometheus exporter and :8888 answer once for the whole collector, and the decisions are
the ones a single process makes."""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path

import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.core.component import Signal
from tests.backends import HTTPBackend, free_port
from tests.core.workers.harness import (Clients, Workers, cpu_seconds, make_traces, requests_for, samples,
                                        scrape, series_count)

SHARED = Path(__file__).resolve().parents[4] / "shared" / "seed"
SEED = SHARED / "otel-collector-config.yaml"
SNIPPETS = SHARED / "sampling-snippets.yaml"
# 10k traces of 4 spans take ~15 s per run on a loaded 2-core machine; the test runs twice (2 and 1
# workers) to compare the decisions.
TRACES = 10_000

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="the seed is not beside this checkout")


def seed_config(grpc_port: int, http_port: int, sink: str, prom_port: int, telemetry_port: int) -> str:
    """The seed's config, changed only in endpoints and exporters, plus the seed's tail_sampling
    (its three policies and the per-route healthz item) and a spanmetrics connector."""
    cfg = yaml.safe_load(SEED.read_text())
    snippets = yaml.safe_load(SNIPPETS.read_text())["processors"]
    cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = f"127.0.0.1:{grpc_port}"
    cfg["receivers"]["otlp"]["protocols"]["http"]["endpoint"] = f"127.0.0.1:{http_port}"
    cfg["exporters"]["otlphttp/tempo"]["endpoint"] = sink
    cfg["exporters"]["otlphttp/loki"]["endpoint"] = "http://127.0.0.1:9"  # no logs are sent
    cfg["exporters"]["prometheus"]["endpoint"] = f"127.0.0.1:{prom_port}"
    tail = copy.deepcopy(snippets["tail_sampling"])
    tail["decision_wait"] = "2s"  # the seed's 30s, shortened for a test
    healthz = dict(snippets["tail_sampling/per-route"]["policies"][0])
    healthz.pop("sampling")  # not an upstream key (see the snippet's comment)
    tail["policies"].append(healthz)
    cfg["processors"]["tail_sampling"] = tail
    cfg["connectors"] = {"spanmetrics": {"metrics_flush_interval": "1s"}}
    pipes = cfg["service"]["pipelines"]
    pipes["traces"]["processors"] = ["memory_limiter", "attributes/scrub", "resource", "tail_sampling", "batch"]
    pipes["traces/spanmetrics"] = {"receivers": ["otlp"], "exporters": ["spanmetrics"]}
    pipes["metrics"]["receivers"] = ["otlp", "spanmetrics"]
    cfg["service"]["telemetry"] = {"metrics": {"readers": [{"pull": {"exporter": {"prometheus": {
        "host": "127.0.0.1", "port": telemetry_port}}}}]}}
    return yaml.safe_dump(cfg, sort_keys=False)


async def poll(fn, timeout: float, every: float = 0.5):
    """Call async ``fn`` until it returns a true value or ``timeout``; the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)


def total(text: str, name: str, **labels: str) -> float:
    return sum(v for lbl, v in samples(text, name) if all(lbl.get(k) == w for k, w in labels.items()))


async def run(workers: int, bodies: list[bytes], expected_spans: int, traces: int) -> dict:
    sink = await HTTPBackend().start()
    gp, hp, prom, tele = free_port(), free_port(), free_port(), free_port()
    collector = Workers(seed_config(gp, hp, sink.endpoint, prom, tele), workers)
    await asyncio.to_thread(collector.start)
    out: dict = {"pids": collector.worker_pids()}
    try:
        cpu0 = {i: cpu_seconds(pid) for i, pid in out["pids"].items()}
        clients = Clients(gp, hp, grpc_channels=6, http_connections=3)
        began = time.monotonic()
        errors = await clients.send(bodies)
        out["send_seconds"] = time.monotonic() - began
        await clients.close()
        assert [e for e in errors if e] == [], "every request is accepted"

        async def decided():
            text = await scrape(tele)
            n = total(text, "otelcol_processor_tail_sampling_global_count_traces_sampled")
            return text if n >= traces else None

        tele_text = await poll(decided, 30)
        assert tele_text, f"tail_sampling decided every trace:\n{collector.output()[-3000:]}"

        async def counted():
            text = await scrape(prom)
            n = total(text, "traces_span_metrics_calls_total")
            return text if n >= expected_spans else None

        prom_text = await poll(counted, 20) or await scrape(prom)
        out["prom"] = prom_text
        out["cpu"] = {i: cpu_seconds(pid) - cpu0[i] for i, pid in out["pids"].items()}
        out["telemetry"] = await scrape(tele)
        # one listener each, in worker 0: every scrape (a new connection each) sees the collector's totals
        out["scrapes"] = [(total(await scrape(tele), "otelcol_receiver_accepted_spans"),
                           total(await scrape(prom), "traces_span_metrics_calls_total")) for _ in range(8)]
    finally:
        code = await asyncio.to_thread(collector.stop)
        await sink.stop()
    out["exit"] = code
    out["log"] = collector.output()
    out["received"] = [m for m in sink.messages(Signal.TRACES)]
    return out


def spans_by_trace(messages: list[ExportTraceServiceRequest]) -> dict[bytes, list]:
    out: dict[bytes, list] = {}
    for m in messages:
        for rs in m.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.setdefault(s.trace_id, []).append((rs, s))
    return out


async def test_two_workers_keep_whole_traces_count_every_span_and_decide_as_one_process():
    ts = make_traces(TRACES)
    bodies = requests_for(ts)
    spans = ts.span_count
    two = await run(2, bodies, spans, TRACES)
    assert len(two["pids"]) == 2 and two["exit"] == 0, two["log"][-3000:]
    assert two["log"].count("Everything is ready") == 2
    assert min(two["cpu"].values()) > 0.1, f"both workers took part: CPU seconds {two['cpu']}"

    # whole traces: each trace arrives with its four spans, or not at all, and only once
    kept = spans_by_trace(two["received"])
    index = {tid: i for i, tid in enumerate(ts.trace_ids)}
    partial = {index[t]: len(v) for t, v in kept.items() if len(v) != 4}
    assert partial == {}, f"{len(partial)} traces split or duplicated, e.g. {list(partial.items())[:5]}"
    kept_ids = {index[t] for t in kept}
    # every deterministic reason to keep a trace was honoured, across services
    must = ts.error | ts.slow | ts.healthz
    assert must <= kept_ids, f"missed {len(must - kept_ids)} traces an error/latency/healthz policy keeps"
    extra = kept_ids - must
    assert 0.02 * TRACES < len(extra) < 0.08 * TRACES, f"probabilistic 5%: {len(extra)} of {TRACES}"

    # the seed's processors ran in both workers: scrubbed and enriched
    for rs, s in (v[0] for v in list(kept.values())[:200]):
        attrs = {a.key for a in s.attributes}
        assert "db.statement" not in attrs
        res = {a.key: a.value.string_value for a in rs.resource.attributes}
        assert res["deployment.environment"] == "test"

    # spanmetrics: one count per span sent, per service and span name
    prom = two["prom"]
    calls: dict[tuple[str, str], float] = {}
    for labels, value in samples(prom, "traces_span_metrics_calls_total"):
        key = (labels["service_name"], labels["span_name"])
        calls[key] = calls.get(key, 0) + value
    assert calls == {k: float(v) for k, v in ts.calls().items()}
    # worker 0's prometheus exporter shows each series once (each resource's series live in one worker)
    assert series_count(prom, "traces_span_metrics_calls_total") == len(samples(prom, "traces_span_metrics_calls_total"))
    jobs = {(lbl["job"], lbl["instance"]) for lbl, _ in samples(prom, "traces_span_metrics_calls_total")}
    assert len(jobs) == 6, jobs

    assert set(two["scrapes"]) == {(spans, spans)}, two["scrapes"]
    # :8888 answers for the whole collector: the sum over the workers, each series once
    tele = two["telemetry"]
    assert total(tele, "otelcol_receiver_accepted_spans") == spans
    assert total(tele, "otelcol_receiver_refused_spans") == 0
    assert series_count(tele, "otelcol_receiver_accepted_spans") == len(samples(tele, "otelcol_receiver_accepted_spans"))
    assert total(tele, "otelcol_processor_tail_sampling_global_count_traces_sampled") == TRACES
    assert total(tele, "otelcol_processor_tail_sampling_global_count_traces_sampled", decision="sampled") == len(kept_ids)

    # the same data through one process decides the same traces (all four policies are deterministic:
    # the probabilistic one hashes the trace ID)
    one = await run(1, bodies, spans, TRACES)
    assert one["exit"] == 0, one["log"][-3000:]
    kept_one = {index[t] for t in spans_by_trace(one["received"])}
    assert kept_one == kept_ids
    print(f"\n{TRACES} traces / {spans} spans: sent in {two['send_seconds']:.1f}s with 2 workers "
          f"(CPU s per worker {two['cpu']}), {one['send_seconds']:.1f}s with 1; kept {len(kept_ids)}")
