"""web_ui's routes for the service map, live tail and import/export (kept out of web_ui.py, which
several features share): ``add_routes(app, ui)`` adds them to the UI's aiohttp application.

``ui`` is the WebUI extension: its ``store_extension`` (set before the app is served), ``_read``
(runs a query on a reader thread and answers JSON) and the JSON/error helpers of its module.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from otelflow.store import import_export, query_params, query_traces, tail
from otelflow.store.database import StoreError

_NDJSON = "application/x-ndjson"


class LiveRoutes:
    def __init__(self, ui: Any, encode: Any, error: Any):
        self.ui = ui
        self.encode = encode
        self.error = error
        self.hub = tail.Hub()
        self._attached: Any = None  # the Store whose commits feed the hub

    @property
    def store(self) -> Any:
        return self.ui.store_extension.store

    def _attach(self) -> None:
        store = self.store
        if self._attached is not store:
            self._detach()
            store.listeners.append(self.hub.publish)
            self._attached = store

    def _detach(self) -> None:
        if self._attached is not None:
            try:
                self._attached.listeners.remove(self.hub.publish)
            except ValueError:
                pass
            self._attached = None

    async def on_shutdown(self, app: web.Application) -> None:
        self.hub.close()
        self._detach()

    # -- live tail ---------------------------------------------------------------------------------

    async def tail_traces(self, request: web.Request) -> web.StreamResponse:
        self._attach()
        return await tail.stream(request, hub=self.hub, store=self.store, signal="traces", encode=self.encode, error=self.error)

    async def tail_logs(self, request: web.Request) -> web.StreamResponse:
        self._attach()
        return await tail.stream(request, hub=self.hub, store=self.store, signal="logs", encode=self.encode, error=self.error)

    # -- import ------------------------------------------------------------------------------------

    async def import_(self, request: web.Request) -> web.Response:
        length = request.content_length
        limit = import_export.MAX_IMPORT_BYTES
        if length is not None and length > limit:
            return self.error(413, f"the file has {length} bytes; an import takes at most {limit} (split it)")
        body = bytearray()
        while True:
            chunk = await request.content.read(1 << 20)
            if not chunk:
                break
            body.extend(chunk)
            if len(body) > limit:
                return self.error(413, f"the file has more than {limit} bytes; an import takes at most {limit} (split it)")
        store = self.store
        try:
            requests, found = await asyncio.to_thread(self._parse, bytes(body), request.query.get("signal") or "traces")
            # private counters of the same package: what already waits for a commit
            import_export.check_limits(found, store.max_pending_rows, store._pending_rows + store._committing_rows)
        except import_export.ImportRefused as exc:
            return self.error(exc.status, str(exc))
        counts = {"spans": 0, "logs": 0, "metric_points": 0}
        try:
            # no await between these writes but the last: they join one pending group, so one transaction
            for i, batch in enumerate(found):
                counts[batch.table] += batch.rows
                await store.write(batch, wait=i == len(found) - 1)
        except StoreError as exc:
            return self.error(503, str(exc))
        return web.Response(status=200, body=self.encode({
            "requests": len(requests), "imported": counts,
            "trace_ids": import_export.imported_trace_ids(requests)}), content_type="application/json")

    @staticmethod
    def _parse(body: bytes, signal: str) -> tuple[list, list]:
        requests = import_export.parse(body, signal)
        return requests, import_export.batches(requests)

    # -- export ------------------------------------------------------------------------------------

    def _download(self, body: bytes, name: str) -> web.Response:
        return web.Response(body=body, content_type=_NDJSON, headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})

    async def _export(self, fn: Any, name: str, empty: str) -> web.Response:
        try:
            body = await self.store.read(fn)
        except StoreError as exc:
            return self.error(503, str(exc))
        if not body:
            return self.error(404, empty)
        return self._download(body, name)

    async def export_trace(self, request: web.Request) -> web.Response:
        try:
            trace_id = query_params.trace_id(request.match_info["trace_id"])
        except query_params.BadRequest as exc:
            return self.error(400, str(exc))

        def run(cur: Any) -> bytes:
            ids = [trace_id]
            return import_export.json_lines(import_export.traces_request(cur, ids),
                                            import_export.logs_request(import_export.trace_logs(cur, ids)))
        return await self._export(run, f"trace-{trace_id}.jsonl", "no span or log has this trace ID in the store")

    async def export_traces(self, request: web.Request) -> web.Response:
        try:
            params = query_params.traces(request.query)
        except query_params.BadRequest as exc:
            return self.error(400, str(exc))

        def run(cur: Any) -> bytes:
            ids = [t["trace_id"] for t in query_traces.traces(cur, **params)["traces"]]
            return import_export.json_lines(import_export.traces_request(cur, ids),
                                            import_export.logs_request(import_export.trace_logs(cur, ids)))
        return await self._export(run, "traces.jsonl", "no trace matches this search")

    async def export_logs(self, request: web.Request) -> web.Response:
        try:
            params = query_params.logs(request.query)
        except query_params.BadRequest as exc:
            return self.error(400, str(exc))

        def run(cur: Any) -> bytes:
            return import_export.json_lines(import_export.logs_request(import_export.search_logs(cur, **params)))
        return await self._export(run, "logs.jsonl", "no log record matches this search")


def add_routes(app: web.Application, ui: Any, encode: Any, error: Any) -> LiveRoutes:
    routes = LiveRoutes(ui, encode, error)
    app.router.add_get("/api/v1/tail/traces", routes.tail_traces)
    app.router.add_get("/api/v1/tail/logs", routes.tail_logs)
    app.router.add_post("/api/v1/import", routes.import_)
    app.router.add_get("/api/v1/export/trace/{trace_id}", routes.export_trace)
    app.router.add_get("/api/v1/export/traces", routes.export_traces)
    app.router.add_get("/api/v1/export/logs", routes.export_logs)
    app.on_shutdown.append(routes.on_shutdown)
    return routes
