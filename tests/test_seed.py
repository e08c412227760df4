"""The seed's collector config, unchanged, with only endpoints overridden by --set, fed by the real
Python SDK: scrubbed, enriched, batched and delivered as upstream would."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import aiohttp
import pytest

from otelflow.core.component import Signal
from tests.backends import HTTPBackend, free_port
from tests.process import Collector
from tests.sdk import SDKApp

SEED = Path(__file__).parents[2] / "shared" / "seed" / "otel-collector-config.yaml"


def attrs(kvs) -> dict:
    return {kv.key: kv.value for kv in kvs}


class ScrubApp(SDKApp):
    """An app that leaks what the seed scrubs: full URLs and SQL."""

    def emit(self, requests: int = 3) -> None:
        tracer = self.tracer_provider.get_tracer("shop")
        for i in range(requests):
            with tracer.start_as_current_span("GET /orders", attributes={
                    "http.url": f"https://shop.example.com/orders?id={i}&token=secret", "http.method": "GET"}):
                with tracer.start_as_current_span("SELECT orders", attributes={"db.statement": f"SELECT * FROM o WHERE id={i}"}):
                    self.log.info("query ran", extra={"db.statement": f"SELECT {i}", "http.url": f"https://x/?q={i}"})
        super().emit(2)


@pytest.mark.skipif(not SEED.exists(), reason="the seed is not beside this checkout")
async def test_seed_config_runs_unchanged_and_scrubs_enriches_batches():
    tempo, loki = await HTTPBackend().start(), await HTTPBackend().start()
    grpc_port, http_port, prom_port = free_port(), free_port(), free_port()
    collector = Collector(
        SEED.read_text(),
        "--set", f"receivers::otlp::protocols::grpc::endpoint=127.0.0.1:{grpc_port}",
        "--set", f"receivers::otlp::protocols::http::endpoint=127.0.0.1:{http_port}",
        "--set", f"exporters::otlphttp/tempo::endpoint={tempo.endpoint}",
        "--set", f"exporters::otlphttp/loki::endpoint={loki.endpoint}/otlp",
        "--set", f"exporters::prometheus::endpoint=127.0.0.1:{prom_port}",
    )
    await asyncio.to_thread(collector.start)
    try:
        app = ScrubApp("grpc", f"127.0.0.1:{grpc_port}", extra_resource={"env": "prod"})
        await asyncio.to_thread(app.emit, 20)
        await asyncio.to_thread(app.shutdown)
        sent = app.sent()
        async with aiohttp.ClientSession() as session:
            # metrics reach the prometheus exporter: poll until the SDK's counter shows up
            for _ in range(100):
                async with session.get(f"http://127.0.0.1:{prom_port}/metrics") as r:
                    text = await r.text()
                if "orders_total" in text:
                    break
                await asyncio.sleep(0.1)
        assert "orders_total" in text and 'job="checkout"' in text
        assert await asyncio.to_thread(collector.stop) == 0, collector.output()  # SIGTERM flushes the 5s batches
    finally:
        await asyncio.to_thread(collector.stop)
        await tempo.stop()
        await loki.stop()

    traces, logs = tempo.messages(Signal.TRACES), loki.messages(Signal.LOGS)
    assert traces and logs and not loki.messages(Signal.TRACES)
    assert all(r.headers.get("Content-Encoding") == "gzip" for r in tempo.received + loki.received)
    assert all(r.headers["Content-Type"] == "application/x-protobuf" for r in loki.received)
    spans = [(rs, s) for m in traces for rs in m.resource_spans for ss in rs.scope_spans for s in ss.spans]
    records = [(rl, r) for m in logs for rl in m.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    sent_spans = [s for rs in sent["traces"].resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == len(sent_spans)
    assert len(records) == sum(len(sl.log_records) for rl in sent["logs"].resource_logs for sl in rl.scope_logs)
    originals = {s.span_id: attrs(s.attributes) for s in sent_spans}
    for resource_owner, item in spans + records:
        res = attrs(resource_owner.resource.attributes)
        assert res["env"].string_value == "prod"
        # the seed puts the resource processor on the traces pipeline only
        if (resource_owner, item) in spans:
            assert res["deployment.environment"].string_value == "prod"
        else:
            assert "deployment.environment" not in res
        a = attrs(item.attributes)
        assert "db.statement" not in a
        if "http.url" in a:
            url = a["http.url"].string_value
            assert len(url) == 64 and all(c in "0123456789abcdef" for c in url)
    for _, span in spans:
        if "http.url" in originals[span.span_id]:
            plain = originals[span.span_id]["http.url"].string_value
            assert attrs(span.attributes)["http.url"].string_value == hashlib.sha256(plain.encode()).hexdigest()
    sizes = [sum(len(ss.spans) for rs in m.resource_spans for ss in rs.scope_spans) for m in traces]
    assert max(sizes) <= 8192
