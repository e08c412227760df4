"""The per-minute rollups must answer as the raw span queries do: random traces (children committed
before their parents, parents in other services, queue hops through links) are written through the
store's writer in shuffled commits, with settles in between; for windows of whole minutes the
service map, Jaeger's dependencies and RED from the rollups equal the raw queries (percentiles
within the histogram's 4.5%), Jaeger's dependencies for any window. A store of the previous schema
version gets its rollups on open."""

from __future__ import annotations

import asyncio
import random

import duckdb

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otelflow.store import ingest, jaeger_query, query, query_dependencies, schema
from otelflow.store.database import DB_FILE, Retention, Store

M = 60 * 10**9
US = 1000
BASE = 1_800_000_000 * 10**9 // M * M  # a whole minute
SERVICES = ("web", "api", "db", "queue-worker", "cache")
MINUTES = 8


def _span(rng: random.Random, trace_id: bytes, parent: Span | None, start: int, kind: int) -> Span:
    span = Span(trace_id=trace_id, span_id=rng.randbytes(8), name=f"op{rng.randrange(4)}", kind=kind,
                start_time_unix_nano=start)
    # many roots last a minute or two, so that their children start in later minutes and are committed
    # (they end first) long before them
    if parent is None and rng.random() < 0.4:
        span.end_time_unix_nano = start + rng.randrange(30, 150) * 10**9
    else:
        span.end_time_unix_nano = start + (0 if rng.random() < 0.05 else int(10 ** rng.uniform(3, 9.5)))
    if parent is not None:
        span.parent_span_id = parent.span_id
    if rng.random() < 0.15:
        span.status.code = 2
    return span


def _traffic(rng: random.Random, traces: int) -> list[tuple[str, Span]]:
    """(service, span) of random traces; every child starts within its parent's time."""
    out: list[tuple[str, Span]] = []
    producers: list[Span] = []
    for _ in range(traces):
        trace_id = rng.randbytes(16)
        root = _span(rng, trace_id, None, BASE + rng.randrange(MINUTES * M // US) * US, rng.choice((2, 0, 5)))
        if root.kind == 5 and producers and rng.random() < 0.7:  # a consumer linking its producer
            producer = rng.choice(producers)
            root.links.add(trace_id=producer.trace_id, span_id=producer.span_id)
            if rng.random() < 0.5:
                root.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8))  # not stored
        members = [(rng.choice(SERVICES), root)]
        for _ in range(rng.randrange(7)):
            service, parent = rng.choice(members)
            if rng.random() < 0.6:
                service = rng.choice(SERVICES)
            room = max(1, (parent.end_time_unix_nano - parent.start_time_unix_nano) // US)
            child = _span(rng, trace_id, parent, parent.start_time_unix_nano + rng.randrange(room) * US,
                          rng.choice((1, 2, 3, 4, 5)))
            members.append((service, child))
            if child.kind == 4:
                producers.append(child)
        out.extend(members)
    return out


def _request(spans: list[tuple[str, Span]]) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for service, span in spans:
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
        rs.scope_spans.add().spans.append(span)
    return req


async def _write_shuffled(store: Store, rng: random.Random, spans: list[tuple[str, Span]]) -> None:
    """Commits of a few spans each in the order SDKs export them (when a span ends, give or take a few
    seconds), so parents mostly arrive after their children, with settles in between so that the
    rollups of the children's minutes must be recomputed when a parent arrives."""
    spans.sort(key=lambda sp: sp[1].end_time_unix_nano + rng.randrange(5 * 10**9))
    while spans:
        n = rng.randrange(1, 12)
        batch, spans = spans[:n], spans[n:]
        await store.write(ingest.spans(_request(batch)), wait=True)
        if rng.random() < 0.3:
            await store.settle()


def _windows(rng: random.Random) -> list[tuple[int, int]]:
    """(start, end) ns of whole minutes, as the API's inclusive microsecond ends give them."""
    out = [(BASE - M, BASE + (MINUTES + 1) * M - US)]
    for _ in range(7):
        a = rng.randrange(-1, MINUTES + 1)
        b = rng.randrange(a + 1, MINUTES + 3)
        out.append((BASE + a * M, BASE + b * M - US))
    return out


def _near(got: int | None, want: int | None) -> bool:
    if want is None or got is None:
        return got == want
    return abs(got - want) <= 0.045 * want + 1


def _same_map(got: dict, want: dict) -> None:
    assert got["nodes"] == want["nodes"]
    strip = [{k: v for k, v in e.items() if k != "p95_us"} for e in got["edges"]]
    assert strip == [{k: v for k, v in e.items() if k != "p95_us"} for e in want["edges"]]
    for g, w in zip(got["edges"], want["edges"]):
        assert _near(g["p95_us"], w["p95_us"]), (g, w)


def _same_red(got: dict, want: dict) -> None:
    assert got["totals"] == want["totals"]
    assert len(got["points"]) == len(want["points"])
    for g, w in zip(got["points"], want["points"]):
        assert {k: g[k] for k in ("t_us", "requests", "errors", "error_spans")} == \
            {k: w[k] for k in ("t_us", "requests", "errors", "error_spans")}
        for p in ("p50_us", "p95_us", "p99_us"):
            assert _near(g[p], w[p]), (p, g, w)


def _compare(cur, rng: random.Random) -> int:
    """Assert rollup == raw over random windows; returns how many edges were compared."""
    compared = 0
    for start_ns, end_ns in _windows(rng):
        rng_us = {"start_us": start_ns // US, "end_us": end_ns // US}
        got = query_dependencies.dependencies(cur, **rng_us)
        _same_map(got, query_dependencies.dependencies_raw(cur, **rng_us))
        compared += len(got["edges"])
        # Jaeger's window is exclusive at both ends and need not be whole minutes
        for lo, hi in ((start_ns, end_ns + US), (start_ns + rng.randrange(M), end_ns - rng.randrange(M))):
            assert jaeger_query.dependencies(cur, start_ns=lo, end_ns=hi) == \
                jaeger_query.dependencies_raw(cur, start_ns=lo, end_ns=hi)
    return compared + _compare_red(cur, rng)


def _compare_red(cur, rng: random.Random) -> int:
    """Assert RED from the rollups == raw over random windows."""
    requests = 0
    for start_ns, end_ns in _windows(rng):
        rng_us = {"start_us": start_ns // US, "end_us": end_ns // US}
        for service in SERVICES[:3]:
            for step in (60, 120):
                got = query.red(cur, service=service, step_s=step, **rng_us)
                _same_red(got, query.red_raw(cur, service=service, step_s=step, **rng_us))
                requests += got["totals"]["requests"]
        _same_red(query.red(cur, service="api", operation="op1", step_s=60, **rng_us),
                  query.red_raw(cur, service="api", operation="op1", step_s=60, **rng_us))
    assert requests > 0
    return 0


async def test_rollups_answer_as_the_raw_queries_on_random_traces(tmp_path):
    rng = random.Random(19)
    store = Store(tmp_path, Retention(0, 0), rollup_interval=3600)
    await store.start()
    try:
        await _write_shuffled(store, rng, _traffic(rng, 300))
        await store.settle()
        compared = await store.read(lambda cur: _compare(cur, rng))
        assert compared > 50
        links = await store.read(lambda cur: query_dependencies.dependencies(
            cur, start_us=(BASE - M) // US, end_us=(BASE + 10 * M) // US))
        assert any(e["how"] == "link" for e in links["edges"])
    finally:
        await store.close()


async def test_a_child_committed_before_its_parent_gets_its_edge_when_the_parent_arrives(tmp_path):
    rng = random.Random(7)
    store = Store(tmp_path, Retention(0, 0), rollup_interval=3600)
    await store.start()
    window = {"start_us": BASE // US, "end_us": (BASE + 5 * M) // US}
    try:
        trace_id = rng.randbytes(16)
        parent = _span(rng, trace_id, None, BASE + 50 * 10**9, 2)
        parent.end_time_unix_nano = BASE + 90 * 10**9  # into the next minute
        child = _span(rng, trace_id, parent, BASE + 70 * 10**9, 2)  # starts in minute 1
        child.status.code = 2
        await store.write(ingest.spans(_request([("api", child)])), wait=True)
        await store.settle()
        alone = await store.read(lambda cur: query_dependencies.dependencies(cur, **window))
        assert alone["edges"] == [] and [n["name"] for n in alone["nodes"]] == ["api"]
        await store.write(ingest.spans(_request([("web", parent)])), wait=True)
        await store.settle()
        got = await store.read(lambda cur: query_dependencies.dependencies(cur, **window))
        assert [(e["parent"], e["child"], e["calls"], e["errors"]) for e in got["edges"]] == [("web", "api", 1, 1)]
        assert got == await store.read(lambda cur: query_dependencies.dependencies_raw(cur, **window)) or \
            _same_map(got, await store.read(lambda cur: query_dependencies.dependencies_raw(cur, **window)))
        jaeger = await store.read(lambda cur: jaeger_query.dependencies(
            cur, start_ns=BASE, end_ns=BASE + 5 * M))
        assert jaeger == [{"parent": "web", "child": "api", "callCount": 1}]
    finally:
        await store.close()


async def test_rollups_settle_in_the_background_and_on_close(tmp_path):
    rng = random.Random(3)
    store = Store(tmp_path, Retention(0, 0), commit_interval=0.05, rollup_interval=0.1)
    await store.start()
    try:
        await store.write(ingest.spans(_request(_traffic(rng, 30))), wait=True)
        for _ in range(100):
            if not await store.read(lambda cur: cur.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0]):
                break
            await asyncio.sleep(0.05)
        assert await store.read(lambda cur: cur.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0]) == 0
        await store.write(ingest.spans(_request(_traffic(rng, 30))))  # committed and settled by close
    finally:
        await store.close()
    con = duckdb.connect(str(tmp_path / DB_FILE), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0
        _compare(con, rng)
    finally:
        con.close()


async def test_a_version_2_store_gets_its_rollups_on_open(tmp_path):
    rng = random.Random(5)
    store = Store(tmp_path, Retention(0, 0), rollup_interval=3600)
    await store.start()
    await _write_shuffled(store, rng, _traffic(rng, 100))
    await store.close()  # settles
    # as otelflow 2 left it: no rollup tables
    con = duckdb.connect(str(tmp_path / DB_FILE))
    for table in ("span_rollup", "edge_rollup", "trace_edges", "trace_edge_rollup", "rollup_dirty"):
        con.execute(f"DROP TABLE {table}")
    con.execute("UPDATE otelflow_meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    store = Store(tmp_path, Retention(0, 0), rollup_interval=3600)
    await store.start()
    try:
        version = await store.read(lambda c: c.execute(
            "SELECT value FROM otelflow_meta WHERE key = 'schema_version'").fetchone()[0])
        assert version == str(schema.SCHEMA_VERSION) == "3"
        assert await store.read(lambda cur: _compare(cur, rng)) > 20
    finally:
        await store.close()


async def test_rollups_follow_retention(tmp_path):
    rng = random.Random(11)
    store = Store(tmp_path, Retention(max_age=600, max_size_bytes=0, check_interval=3600), rollup_interval=3600)
    await store.start()
    try:
        await _write_shuffled(store, rng, _traffic(rng, 120))
        await store.settle()
        writer = asyncio.get_running_loop().run_in_executor  # retention runs on the writer thread
        before = await writer(store._writer, lambda: store._con.execute("SELECT count(*) FROM spans").fetchone()[0])
        cutoff = BASE + 4 * M + M // 2  # in the middle of a minute, through traces and edges
        deleted = await writer(store._writer, store.apply_retention, cutoff + 600 * 10**9)
        assert 0 < deleted < before
        await store.settle()
        assert await store.read(lambda cur: _compare(cur, rng)) > 10
    finally:
        await store.close()
