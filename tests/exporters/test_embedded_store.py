"""The embedded_store exporter with the real SDK: what the SDK sent is what the tables hold."""

from __future__ import annotations

import asyncio
import json

import pytest

from otelflow.core.component import Kind
from tests.backends import free_port
from tests.conftest import running
from tests.sdk import SDKApp


def _config(port: int, directory, wait: bool = True) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
exporters:
  embedded_store:
    wait_for_commit: {wait}
extensions:
  embedded_store:
    directory: {directory}
    commit_interval: 100ms
service:
  extensions: [embedded_store]
  pipelines:
    traces: {{receivers: [otlp], exporters: [embedded_store]}}
    metrics: {{receivers: [otlp], exporters: [embedded_store]}}
    logs: {{receivers: [otlp], exporters: [embedded_store]}}
"""


async def _send(port: int, requests: int = 4) -> dict:
    def work():
        app = SDKApp("grpc", f"127.0.0.1:{port}")
        app.emit(requests)
        app.shutdown()
        return app.sent()

    return await asyncio.to_thread(work)


def _store(service):
    return service.component(Kind.EXTENSION, "embedded_store").store


async def test_spans_logs_and_metrics_land_in_their_tables(tmp_path):
    port = free_port()
    async with running(_config(port, tmp_path)) as service:
        sent = await _send(port)
        store = _store(service)
        spans = await store.read(lambda c: c.execute(
            "SELECT trace_id, span_id, parent_span_id, service, name, kind, duration_ns, status_code, status_message, "
            "attributes, events, links, resource, scope_name, scope_version FROM spans ORDER BY start_ns").fetchall())
        logs = await store.read(lambda c: c.execute(
            "SELECT severity_text, body, trace_id, span_id, service FROM logs ORDER BY time_ns").fetchall())
        points = await store.read(lambda c: c.execute(
            "SELECT name, type, temporality, monotonic, value, count, bucket_counts, attributes FROM metric_points").fetchall())

    sent_spans = [s for rs in sent["traces"].resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == len(sent_spans) == 8
    by_id = {row[1]: row for row in spans}
    for s in sent_spans:
        row = by_id[s.span_id.hex()]
        assert row[0] == s.trace_id.hex() and row[2] == s.parent_span_id.hex()
        assert row[3] == "checkout" and row[4] == s.name and row[5] == s.kind
        assert row[6] == s.end_time_unix_nano - s.start_time_unix_nano
        assert row[7] == s.status.code and row[8] == s.status.message
        assert json.loads(row[12])["service.version"] == "1.2.3"
        assert (row[13], row[14]) == ("shop.checkout", "0.9")
    root = next(r for r in spans if r[4] == "POST /checkout")
    assert json.loads(root[9]) == {"http.route": "/checkout", "http.status_code": 200, "ratio": 0.5, "ok": True,
                                   "tags": ["a", "b"], "counts": [1, 2]}
    assert json.loads(root[10])[0]["name"] == "cart.loaded"
    linked = [json.loads(r[11]) for r in spans if r[4] == "POST /checkout" and r[11] != "[]"]
    assert linked and linked[0][0]["attributes"] == {"why": "retry"}
    assert sum(1 for r in spans if r[7] == 2) == 2  # charge_card failed for orders 1 and 3

    errors = [r for r in logs if r[0] == "ERROR"]
    assert [r[1] for r in errors] == ["payment failed for order 1", "payment failed for order 3"]
    failing = {r[1]: r for r in spans if r[7] == 2}
    for r in errors:
        assert r[3] in failing and failing[r[3]][0] == r[2]

    names = {p[0]: p for p in points}
    assert names["orders_total"][1:5] == ("sum", 2, True, 4.0)
    hist = names["checkout.duration"]
    assert hist[1] == "histogram" and hist[5] == 4 and sum(hist[6]) == 4
    assert json.loads(names["orders_total"][7]) == {"region": "ap-south-1", "tier": "pro"}


async def test_data_survives_a_restart(tmp_path):
    port = free_port()
    async with running(_config(port, tmp_path, wait=False)) as service:
        await _send(port, requests=2)  # acknowledged before the commit; shutdown commits them
    async with running(_config(port, tmp_path)) as service:
        count = await _store(service).read(lambda c: c.execute("SELECT count(*) FROM spans").fetchone()[0])
        await _send(port, requests=1)
        after = await _store(service).read(lambda c: c.execute("SELECT count(*) FROM spans").fetchone()[0])
    assert (count, after) == (4, 6)


async def test_missing_store_extension_fails_start_with_its_name(tmp_path):
    port = free_port()
    cfg = _config(port, tmp_path).replace("extensions: [embedded_store]", "extensions: []")
    from otelflow.core.service import StartError

    with pytest.raises(StartError, match='store "embedded_store" is not an extension of this service'):
        async with running(cfg):
            pass
