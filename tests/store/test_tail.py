"""Live tail: spans and logs sent by the real SDK reach an open /api/v1/tail stream once committed,
filtered by the page's filters; a subscriber that does not keep up loses the oldest commits and is
told how many rows it lost; bad filters are a 400 and a closing collector ends the streams."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
from opentelemetry import trace

from otelflow.store import tail
from tests.sdk import SDKApp
from tests.store.allinone import all_in_one
from tests.store.map_fleet import Fleet


async def events(resp: aiohttp.ClientResponse, want: int, timeout: float = 20) -> list[tuple[str, dict]]:
    """The next ``want`` named events of a server-sent-events stream (comments skipped)."""
    out, name, deadline = [], None, time.monotonic() + timeout
    while len(out) < want:
        line = await asyncio.wait_for(resp.content.readline(), max(0.1, deadline - time.monotonic()))
        assert line, "the stream ended"
        text = line.decode().rstrip("\n")
        if text.startswith("event: "):
            name = text[7:]
        elif text.startswith("data: ") and name:
            out.append((name, json.loads(text[6:])))
            name = None
    return out


async def test_live_traces_follow_commits_with_filters(tmp_path):
    async with all_in_one(tmp_path) as aio, aiohttp.ClientSession() as http:
        async with http.get(f"{aio.api}/tail/traces?service=rust-svc&status=error") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
            fleet = Fleet(aio.otlp)
            ok = await asyncio.to_thread(fleet.request, False)
            await asyncio.to_thread(fleet.flush)
            failing = await asyncio.to_thread(fleet.request, True)
            await asyncio.to_thread(fleet.shutdown)
            (name, data), = await events(resp, 1)
            assert name == "traces" and data["dropped"] == 0
            assert [t["trace_id"] for t in data["traces"]] == [failing]  # the ok trace does not match
            summary = data["traces"][0]
            assert summary["error_count"] == 1 and "rust-svc" in summary["services"]
            assert ok != failing
        # the stream is gone from the hub once the page closes it
        await asyncio.sleep(0.3)

        # an edge's live traces: rust-svc spans called from go-svc, not from python-api
        async with http.get(f"{aio.api}/tail/traces?service=rust-svc&parent_service=python-api") as wrong, \
                http.get(f"{aio.api}/tail/traces?service=rust-svc&parent_service=go-svc") as right:
            fleet = Fleet(aio.otlp)
            crossing = await asyncio.to_thread(fleet.request, False)
            await asyncio.to_thread(fleet.shutdown)
            (name, data), = await events(right, 1)
            assert [t["trace_id"] for t in data["traces"]] == [crossing]
            try:
                got = await events(wrong, 1, timeout=1.5)
            except asyncio.TimeoutError:
                got = []
            assert got == []

        status, body, _ = await aio.get("/tail/traces?status=bogus")
        assert status == 400 and b"status" in body


async def test_live_logs_filtered_by_severity_and_text(tmp_path):
    async with all_in_one(tmp_path) as aio, aiohttp.ClientSession() as http:
        async with http.get(f"{aio.api}/tail/logs?severity=ERROR&q=PAYMENT") as resp:
            app = SDKApp("http", aio.otlp, service_name="shop")
            await asyncio.to_thread(app.emit, 4)  # logs: charged (INFO) x2, payment failed (ERROR) x2, done (WARN)
            await asyncio.to_thread(app.shutdown)
            got = []
            while len(got) < 2:
                for name, data in await events(resp, 1):
                    assert name == "logs"
                    got += data["logs"]
            assert sorted(r["body"] for r in got) == ["payment failed for order 1", "payment failed for order 3"]
            assert all(r["severity_number"] == 17 and r["service"] == "shop" and len(r["trace_id"]) == 32 for r in got)


async def test_slow_subscriber_drops_oldest_and_is_told(tmp_path):
    async with all_in_one(tmp_path, commit_interval="50ms") as aio:
        hub = tail.Hub()
        aio.store.listeners.append(hub.publish)
        slow = hub.subscribe("spans")
        app = SDKApp("http", aio.otlp, service_name="flood")
        tracer = app.tracer_provider.get_tracer("flood")
        commits = tail.QUEUE_BATCHES + 8
        for _ in range(commits):  # one span per commit: flush, then wait for the store to commit it
            with tracer.start_as_current_span("tick", kind=trace.SpanKind.SERVER):
                pass
            await asyncio.to_thread(app.tracer_provider.force_flush)
            await aio.store.flush()
        await asyncio.to_thread(app.shutdown)
        batches, dropped = await slow.next(1)
        assert len(batches) == tail.QUEUE_BATCHES
        assert dropped == commits - tail.QUEUE_BATCHES  # rows of the dropped commits, one span each
        assert await slow.next(0.1) is None  # nothing new, nothing dropped since
        hub.unsubscribe(slow)
        aio.store.listeners.remove(hub.publish)


async def test_closing_the_collector_ends_live_streams(tmp_path):
    async with aiohttp.ClientSession() as http:
        async with all_in_one(tmp_path) as aio:
            resp = await http.get(f"{aio.api}/tail/logs")
            assert resp.status == 200
            assert (await resp.content.readline()).startswith(b"retry:")
        # the collector shut down with the stream open: the stream has ended
        rest = await asyncio.wait_for(resp.content.read(), 10)
        assert b"event:" not in rest
        resp.close()
