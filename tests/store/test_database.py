"""The store's writer, readers and retention on a real DuckDB file."""

from __future__ import annotations

import asyncio
import os
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.store import ingest
from otelflow.store.database import Retention, Store, StoreFull


def _request(spans: int, start_ns: int, service: str = "svc", attr_bytes: int = 0) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
    ss = rs.scope_spans.add()
    for i in range(spans):
        s = ss.spans.add(trace_id=os.urandom(16), span_id=os.urandom(8), name=f"op{i % 3}", kind=2,
                         start_time_unix_nano=start_ns + i, end_time_unix_nano=start_ns + i + 1000)
        if attr_bytes:
            s.attributes.add(key="payload", value=AnyValue(string_value=os.urandom(attr_bytes).hex()))
    return req


async def _count(store: Store, table: str = "spans") -> int:
    return await store.read(lambda c: c.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_concurrent_writes_share_commits_and_are_all_visible(tmp_path):
    store = Store(tmp_path, Retention(0, 0))
    await store.start()
    try:
        now = time.time_ns()
        await asyncio.gather(*(store.write(ingest.spans(_request(50, now)), wait=True) for _ in range(40)))
        assert await _count(store) == 2000
    finally:
        await store.close()


async def test_readers_run_while_the_writer_ingests(tmp_path):
    store = Store(tmp_path, Retention(0, 0))
    await store.start()
    try:
        now = time.time_ns()

        async def writer():
            for _ in range(20):
                await store.write(ingest.spans(_request(500, now)), wait=True)

        async def reader():
            seen = []
            for _ in range(20):
                seen.append(await _count(store))
            return seen

        _, seen = await asyncio.gather(writer(), reader())
        assert seen == sorted(seen)  # each snapshot is consistent and counts only grow
        assert all(n % 500 == 0 for n in seen)  # never half a committed batch
        assert await _count(store) == 10_000
    finally:
        await store.close()


async def test_unawaited_rows_are_committed_within_the_interval_and_bounded(tmp_path):
    store = Store(tmp_path, Retention(0, 0), commit_interval=0.2, commit_rows=10_000, max_pending_rows=300)
    await store.start()
    try:
        now = time.time_ns()
        await store.write(ingest.spans(_request(200, now)))  # returns before the commit
        try:
            await store.write(ingest.spans(_request(200, now)))
        except StoreFull as exc:
            assert "try again later" in str(exc)
        else:
            raise AssertionError("a write past max_pending_rows must be refused")
        deadline = time.monotonic() + 5
        while await _count(store) < 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await _count(store) == 200
        await store.write(ingest.spans(_request(200, now)))  # room again once committed
    finally:
        await store.close()
    again = Store(tmp_path, Retention(0, 0))
    await again.start()
    try:
        assert await _count(again) == 400  # close committed the last write
    finally:
        await again.close()


async def test_close_commits_what_is_pending_and_reopen_sees_it(tmp_path):
    store = Store(tmp_path, Retention(0, 0), commit_interval=30)
    await store.start()
    pending = asyncio.ensure_future(store.write(ingest.spans(_request(10, time.time_ns())), wait=True))
    await asyncio.sleep(0.05)
    await store.close()
    await pending
    again = Store(tmp_path, Retention(0, 0))
    await again.start()
    try:
        assert await _count(again) == 10
    finally:
        await again.close()


async def test_retention_by_age_drops_only_old_rows(tmp_path):
    store = Store(tmp_path, Retention(max_age=3600, max_size_bytes=0, check_interval=3600))
    await store.start()
    try:
        now = time.time_ns()
        await store.write(ingest.spans(_request(30, now - 2 * 3600 * 10**9)), wait=True)
        await store.write(ingest.spans(_request(20, now)), wait=True)
        deleted = await asyncio.get_running_loop().run_in_executor(store._writer, store.apply_retention)
        assert deleted == 30
        assert await _count(store) == 20
    finally:
        await store.close()


async def test_retention_by_size_drops_the_oldest_until_it_fits(tmp_path):
    limit = 6 << 20
    store = Store(tmp_path, Retention(max_age=0, max_size_bytes=limit, check_interval=3600))
    await store.start()
    try:
        t0 = time.time_ns() - 10**12
        for i in range(20):  # ~20 MiB of incompressible attributes, oldest first
            await store.write(ingest.spans(_request(1000, t0 + i * 10**9, attr_bytes=512)), wait=True)
        loop = asyncio.get_running_loop()
        before = await loop.run_in_executor(store._writer, store._used_bytes)
        assert before > limit
        await loop.run_in_executor(store._writer, store.apply_retention)
        after = await loop.run_in_executor(store._writer, store._used_bytes)
        assert after <= limit
        oldest, newest, n = await store.read(lambda c: c.execute("SELECT min(start_ns), max(start_ns), count(*) FROM spans").fetchone())
        assert newest == t0 + 19 * 10**9 + 999  # the newest rows are kept
        assert oldest > t0 and 0 < n < 20_000  # the oldest are gone
    finally:
        await store.close()


async def test_a_second_store_on_the_same_directory_gets_a_clear_error(tmp_path):
    first = Store(tmp_path)
    await first.start()
    try:
        import subprocess
        import sys

        probe = subprocess.run([sys.executable, "-c", (
            "import asyncio; from otelflow.store.database import Store\n"
            f"asyncio.run(Store({str(tmp_path)!r}).start())")], capture_output=True, text=True, timeout=60)
        assert probe.returncode != 0
        assert "another otelflow" in probe.stderr
    finally:
        await first.close()
