"""A service whose failing spans are all internal (no server, consumer or root span) still shows its
errors: the real SDK sends traces where ``payments`` only ever has internal spans, some failing,
through an in-process collector into the embedded store; the Services list's query and the RED
totals must count them."""

from __future__ import annotations

import asyncio
import time

import duckdb

from otelflow.core.component import Kind
from otelflow.store import query
from tests.backends import free_port
from tests.conftest import running
from tests.sampling import traffic

COUNTS = {"ordinary": 40, "error": 12, "healthz": 5, "debug": 3}


def _yaml(port: int, directory) -> str:
    return f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
exporters: {{embedded_store: {{}}}}
extensions: {{embedded_store: {{directory: "{directory}", commit_interval: 200ms}}}}
service:
  extensions: [embedded_store]
  pipelines: {{traces: {{receivers: [otlp], exporters: [embedded_store]}}}}
"""


async def test_internal_only_service_shows_its_error_spans(tmp_path):
    port = free_port()
    async with running(_yaml(port, tmp_path)) as service:
        provs = traffic.providers(f"http://127.0.0.1:{port}", seed=21)
        await asyncio.to_thread(traffic.emit, provs, COUNTS)
        await asyncio.to_thread(traffic.flush, provs)
        await service.component(Kind.EXTENSION, "embedded_store").store.flush()
    con = duckdb.connect(str(tmp_path / "otelflow.duckdb"), read_only=True)
    try:
        now_us = time.time_ns() // 1000
        rng = {"start_us": now_us - 3600 * 10**6, "end_us": now_us}
        kinds = {k for (k,) in con.execute("SELECT DISTINCT kind FROM spans WHERE service = 'payments'").fetchall()}
        assert kinds == {1}  # internal only: no entry span at all
        failing = COUNTS["error"] + COUNTS["debug"]  # "charge card" fails in these traces
        services = {s["name"]: s for s in query.services(con, **rng)["services"]}
        assert services["payments"]["errors"] == failing
        red = query.red(con, service="payments", step_s=60, **rng)
        assert red["totals"] == {"requests": 0, "errors": 0, "error_spans": failing}
        assert sum(p["error_spans"] for p in red["points"]) == failing
        # a service with entry spans keeps request-based RED; its error spans are counted too
        front = query.red(con, service="frontend", step_s=60, **rng)
        assert front["totals"]["requests"] == sum(COUNTS.values()) and front["totals"]["errors"] == 0
        checkout = query.red(con, service="checkout", step_s=60, **rng)
        assert checkout["totals"]["requests"] == COUNTS["ordinary"] + COUNTS["error"] + COUNTS["debug"]
        assert checkout["totals"]["error_spans"] == 0
        assert all(p["p50_us"] is None for p in red["points"])  # no request durations without requests
    finally:
        con.close()
