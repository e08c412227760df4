"""Live tail: server-sent events of the traces and logs the store commits, filtered per subscriber.

The store calls ``Hub.publish`` on its event loop after each group commit with the committed column
batches; the hub only hands each subscriber a reference to the batches of its table (no copy, no
per-row work while nobody listens). Each subscriber has a bounded queue: when a page reads more
slowly than the store commits, the oldest batches go and the next event says how many rows were
dropped. The filtering and encoding happen in the subscriber's own request, off the commit path:
traces by a query restricted to the committed trace IDs (so every trace-search filter applies, and
a trace's summary counts all its spans so far), logs over the committed columns.

The store and the UI are ``one_instance`` components (worker 0), so every commit reaches this hub.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from typing import Any, Callable

from aiohttp import web

from otelflow.store import query_params, query_traces
from otelflow.store.ingest import Batch
from otelflow.store.query import STATUS_CODES, attr_filter, us

log = logging.getLogger("otelflow.store.tail")

QUEUE_BATCHES = 32  # commits a subscriber may lag behind before the oldest are dropped
MAX_TRACES = 200  # trace summaries per event: the newest; a page keeps no more anyway
MAX_LOGS = 500  # log records per event: the newest
HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
MAX_SUBSCRIBERS = 64


class Subscriber:
    __slots__ = ("table", "queue", "dropped", "wake", "closed", "_size")

    def __init__(self, table: str, size: int = QUEUE_BATCHES):
        self.table = table
        self.queue: collections.deque[Batch] = collections.deque()
        self.dropped = 0  # rows of batches dropped since the last event
        self.wake = asyncio.Event()
        self.closed = False
        self._size = size

    def put(self, batch: Batch) -> None:
        if len(self.queue) >= self._size:
            self.dropped += self.queue.popleft().rows
        self.queue.append(batch)
        self.wake.set()

    async def next(self, timeout: float) -> tuple[list[Batch], int] | None:
        """The batches queued since the last call and the rows dropped meanwhile; None on timeout."""
        if not self.queue and not self.closed:
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except asyncio.TimeoutError:
                return None
        batches, dropped = list(self.queue), self.dropped
        self.queue.clear()
        self.dropped = 0
        return batches, dropped


class Hub:
    """Fans committed batches out to the live subscribers of their table."""

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()

    def publish(self, batches: list[Batch]) -> None:
        if not self.subscribers:
            return
        for sub in self.subscribers:
            for batch in batches:
                if batch.table == sub.table and batch.rows:
                    sub.put(batch)

    def subscribe(self, table: str) -> Subscriber:
        sub = Subscriber(table)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def close(self) -> None:
        """Ends every stream (the server is stopping)."""
        for sub in self.subscribers:
            sub.closed = True
            sub.wake.set()


# -- filters -----------------------------------------------------------------------------------------


def trace_ids(batches: list[Batch], limit: int = MAX_TRACES) -> list[str]:
    """The distinct trace IDs of the batches, the most recently committed last, at most ``limit``."""
    seen: dict[str, None] = {}
    for batch in reversed(batches):
        for tid in reversed(batch.columns["trace_id"]):
            if tid not in seen:
                seen[tid] = None
                if len(seen) >= limit:
                    return list(reversed(seen))
    return list(reversed(seen))


def live_traces(cur, ids: list[str], *, service: str | None = None, operation: str | None = None,
                min_duration_us: int | None = None, max_duration_us: int | None = None, status: str | None = None,
                attrs: list[tuple[str, str]] = (), parent_service: str | None = None, **_: Any) -> list[dict]:
    """Summaries (as the trace search returns them) of the given traces that have a span matching
    every filter; newest first."""
    if not ids:
        return []
    where, params = [], []
    for sql, value in (("service = ?", service), ("name = ?", operation),
                       ("duration_ns >= ?", None if min_duration_us is None else min_duration_us * 1000),
                       ("duration_ns <= ?", None if max_duration_us is None else max_duration_us * 1000),
                       ("status_code = ?", None if status is None else STATUS_CODES[status])):
        if value is not None:
            where.append(f" AND {sql}")
            params.append(value)
    attr_sql, attr_params = attr_filter(attrs, ("attributes", "resource"))
    if parent_service is not None:  # a service-map edge: the span's parent span is in that other service
        where.append(" AND service <> ? AND parent_span_id IN (SELECT span_id FROM spans WHERE service = ?"
                     " AND trace_id IN (SELECT unnest(string_split(?, ','))))")
        params += [parent_service, parent_service, ",".join(ids)]
    if where or attr_sql:
        ids = [r[0] for r in cur.execute(
            f"SELECT DISTINCT trace_id FROM spans WHERE trace_id IN (SELECT unnest(string_split(?, ',')))"
            f"{''.join(where)}{attr_sql}", [",".join(ids), *params, *attr_params]).fetchall()]
    return [summary for _, summary in query_traces._summaries(cur, ids)]


def live_logs(batches: list[Batch], *, service: str | None = None, severity: int | None = None, q: str | None = None,
              trace_id: str | None = None, limit: int = MAX_LOGS, **_: Any) -> list[dict]:
    """The committed records matching the logs page's filters, newest first, at most ``limit``."""
    needle = q.lower() if q else None
    out: list[dict] = []
    for batch in reversed(batches):
        c = batch.columns
        for i in range(batch.rows - 1, -1, -1):
            if service is not None and c["service"][i] != service:
                continue
            if severity is not None and c["severity_number"][i] < severity:
                continue
            if trace_id is not None and c["trace_id"][i] != trace_id:
                continue
            if needle is not None and needle not in c["body"][i].lower():
                continue
            out.append({
                "time_us": us(c["time_ns"][i]), "observed_us": us(c["observed_ns"][i]), "service": c["service"][i],
                "severity_number": c["severity_number"][i], "severity_text": c["severity_text"][i], "body": c["body"][i],
                "attributes": json.loads(c["attributes"][i]), "resource": json.loads(c["resource"][i]),
                "scope_name": c["scope_name"][i], "trace_id": c["trace_id"][i], "span_id": c["span_id"][i],
                "event_name": c["event_name"][i]})
            if len(out) >= limit:
                out.sort(key=lambda r: r["time_us"], reverse=True)
                return out
    out.sort(key=lambda r: r["time_us"], reverse=True)
    return out


# -- HTTP ---------------------------------------------------------------------------------------------


def _event(name: str, payload: dict, encode: Callable[[Any], bytes]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + encode(payload) + b"\n\n"


async def stream(request: web.Request, *, hub: Hub, store: Any, signal: str, encode: Callable[[Any], bytes],
                 error: Callable[[int, str], web.StreamResponse]) -> web.StreamResponse:
    """``GET /api/v1/tail/{traces,logs}``: one ``traces`` / ``logs`` event per commit that has matches
    (``{"traces"|"logs": [...], "dropped": rows}``), a ``dropped`` event when only drops happened,
    and a comment line as heartbeat."""
    try:
        params = (query_params.traces if signal == "traces" else query_params.logs)(request.query)
    except query_params.BadRequest as exc:
        return error(400, str(exc))
    if len(hub.subscribers) >= MAX_SUBSCRIBERS:
        return error(503, f"{MAX_SUBSCRIBERS} live streams are open already; close one")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    sub = hub.subscribe("spans" if signal == "traces" else "logs")
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n: live\n\n")
        while not sub.closed:
            got = await sub.next(HEARTBEAT_S)
            if got is None:
                await response.write(b": heartbeat\n\n")
                continue
            batches, dropped = got
            if signal == "traces":
                ids = trace_ids(batches)
                found = await store.read(lambda cur: live_traces(cur, ids, **params)) if ids else []
            else:
                found = await asyncio.to_thread(live_logs, batches, **params)
            if found:
                await response.write(_event(signal, {signal: found, "dropped": dropped}, encode))
            elif dropped:
                await response.write(_event("dropped", {"dropped": dropped}, encode))
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the page went away
    except Exception as exc:  # the store closed or a query failed: end this stream, keep serving
        log.warning("live %s stream ended: %s", signal, exc)
    finally:
        hub.unsubscribe(sub)
    return response
