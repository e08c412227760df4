"""The service map's data: the real SDK emulates python-api -> go-svc -> rust-svc with a queue hop
(a consumer span child of the producer, and a batch consumer linking the producer from its own
trace); /api/v1/dependencies must show exactly those edges with their counts, errors and rates, and
the traces search's parent_service filter must find the traces crossing an edge."""

from __future__ import annotations

import asyncio
import time

from tests.store.allinone import all_in_one
from tests.store.map_fleet import Fleet

REQUESTS, FAILING = 8, 3


async def test_dependencies_of_a_three_service_chain_with_a_queue_hop(tmp_path):
    async with all_in_one(tmp_path) as aio:
        fleet = Fleet(aio.otlp)
        ids = []
        for i in range(REQUESTS):
            ids.append(await asyncio.to_thread(fleet.request, i < FAILING))
        await asyncio.to_thread(fleet.shutdown)
        await aio.store.flush()
        now_us = time.time_ns() // 1000
        window = f"start_us={now_us - 600 * 10**6}&end_us={now_us}"
        got = await aio.get_json(f"/dependencies?{window}")
        edges = {(e["parent"], e["child"], e["how"]): e for e in got["edges"]}
        assert set(edges) == {("python-api", "go-svc", "parent"), ("go-svc", "rust-svc", "parent"),
                              ("go-svc", "order-worker", "parent"), ("go-svc", "batch-worker", "link")}
        for edge in edges.values():
            assert edge["calls"] == REQUESTS
            assert abs(edge["rate_per_s"] - REQUESTS / 600) < 1e-9
            assert edge["p95_us"] is not None and edge["p95_us"] >= 0
        ledger = edges[("go-svc", "rust-svc", "parent")]
        assert ledger["errors"] == FAILING and abs(ledger["error_rate"] - FAILING / REQUESTS) < 1e-9
        assert not ledger["queue"] and edges[("go-svc", "order-worker", "parent")]["queue"]
        assert edges[("go-svc", "batch-worker", "link")]["queue"]
        assert edges[("python-api", "go-svc", "parent")]["errors"] == 0
        nodes = {n["name"]: n for n in got["nodes"]}
        assert set(nodes) == {"python-api", "go-svc", "rust-svc", "order-worker", "batch-worker"}
        assert nodes["rust-svc"] == {"name": "rust-svc", "spans": REQUESTS, "errors": FAILING}

        # an edge's traces: rust-svc spans called from go-svc, i.e. every request's trace
        found = await aio.get_json(f"/traces?service=rust-svc&parent_service=go-svc&limit=100&{window}")
        assert sorted(t["trace_id"] for t in found["traces"]) == sorted(ids)
        none = await aio.get_json(f"/traces?service=rust-svc&parent_service=python-api&{window}")
        assert none["traces"] == []

        # a range before the traffic has no edges; a bad range is a 400
        empty = await aio.get_json("/dependencies?start_us=1&end_us=2")
        assert empty["edges"] == [] and empty["nodes"] == []
        status, body, _ = await aio.get("/dependencies?start_us=5&end_us=1")
        assert status == 400 and b"start_us" in body
