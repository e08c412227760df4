"""web_ui: serves the embedded store's JSON API and the built single-page UI over HTTP.

Queries and their JSON encoding run on the store's reader threads (``store.read``), so a slow query
never stalls the event loop that receives telemetry. The UI files are optional: without a build,
``/`` says how to make one and the API still answers.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import math
import mimetypes
import re
from typing import Any, Callable

from aiohttp import web
from pydantic import field_validator

from otelflow import __version__
from otelflow.config.model import Model
from otelflow.core.component import Component, ComponentID, Factory, Host, Kind, Settings
from otelflow.core.adminhttp import serve
from otelflow.core.netaddr import split_host_port
from otelflow.extensions.embedded_store import EmbeddedStore
from otelflow.extensions.web_ui_auth import AuthConfig, Gate
from otelflow.store import jaeger_api, openapi, query, query_dependencies, query_metrics, query_params, query_traces, routes_live
from otelflow.store.database import StoreError

NOT_BUILT = "UI assets are not built: run `make ui`\n"
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")  # no leading dot: no "..", no hidden files
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
          ".svg": "image/svg+xml", ".json": "application/json", ".map": "application/json", ".woff2": "font/woff2"}

# path -> (validation of the query string, query function)
_LIST_ENDPOINTS: dict[str, tuple[Callable, Callable]] = {
    "/api/v1/services": (query_params.services, query.services),
    "/api/v1/operations": (query_params.operations, query.operations),
    "/api/v1/traces": (query_params.traces, query_traces.traces),
    "/api/v1/logs": (query_params.logs, query.logs),
    "/api/v1/red": (query_params.red, query.red),
    "/api/v1/metrics": (query_params.metrics, query_metrics.metrics),
    "/api/v1/metrics/query": (query_params.metric_query, query_metrics.metric_query),
    "/api/v1/dependencies": (query_params.time_range, query_dependencies.dependencies),
}


class Config(Model):
    endpoint: str = "localhost:4380"
    store: str = "embedded_store"  # the ID of the embedded_store extension to read
    # the ID of a doctor extension served at /api/v1/doctor, if the service has one (naming it makes a
    # reload that changes the doctor restart the UI with it)
    doctor: str = "doctor"
    auth: AuthConfig = AuthConfig()  # a login token when bound beyond loopback (web_ui_auth)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        split_host_port(v)
        return v

    @field_validator("store", "doctor")
    @classmethod
    def _store(cls, v: str) -> str:
        ComponentID.parse(v)
        return v

    def upstream_incompatibilities(self) -> list[str]:
        return ["web_ui is an otelflow extension; otelcol has no such component"]


def _finite(value: Any) -> Any:
    """NaN and infinities (a gauge may hold them) become null: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def encode(value: Any) -> bytes:
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode()


def _json(status: int, body: bytes) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/json", headers={"Cache-Control": "no-store"})


def _error(status: int, message: str) -> web.Response:
    return _json(status, encode({"error": message}))


def static_root() -> Any:
    """The built UI's directory (a Traversable) inside the installed package, or None without the package."""
    try:
        return importlib.resources.files("otelflow.ui").joinpath("static")
    except ModuleNotFoundError:
        return None


def _static_file(root: Any, relative: str) -> tuple[bytes, str] | None:
    """Bytes and content type of a built UI file, or None when it does not exist. Blocking: run in a thread."""
    parts = relative.split("/")
    if root is None or not all(_SEGMENT.fullmatch(p) for p in parts):
        return None
    try:
        node = root.joinpath(*parts)
        if not node.is_file():
            return None
        data = node.read_bytes()
    except OSError:
        return None
    suffix = "." + parts[-1].rsplit(".", 1)[-1] if "." in parts[-1] else ""
    ctype = _TYPES.get(suffix) or mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
    return data, ctype


class WebUI(Component):
    def __init__(self, settings: Settings, config: Config):
        self.settings = settings
        self.config = config
        self.store_extension: EmbeddedStore | None = None
        self.doctor: Any = None  # a doctor extension of the same service, for /api/v1/doctor
        self._runner: web.AppRunner | None = None
        self._openapi = encode(openapi.document(__version__))
        self.static_root = static_root()  # tests point it at a directory of their own
        self.port: int | None = None
        self.addresses: list[tuple[str, int]] = []  # what the listener is bound to
        self.gate = Gate(config.auth, config.endpoint)

    # -- queries ---------------------------------------------------------------------------------

    async def _read(self, fn: Callable[[Any], Any], settle: bool = False) -> web.Response:
        """Run ``fn(cursor)`` and encode its result on a reader thread; None means 404. With ``settle``
        the store's rollups first catch up with every committed span."""
        def run(cur: Any) -> bytes | None:
            result = fn(cur)
            return None if result is None else encode(result)

        try:
            if settle:
                await self.store_extension.store.settle()
            body = await self.store_extension.store.read(run)
        except StoreError as exc:
            return _error(503, str(exc))
        except Exception as exc:  # a bug or a database error: say so, keep serving
            self.settings.logger.exception("query failed")
            return _error(500, f"query failed: {exc}")
        if body is None:
            return _error(404, "no span or log has this trace ID in the store")
        return _json(200, body)

    def _list_handler(self, validate: Callable, fn: Callable) -> Callable:
        async def handle(request: web.Request) -> web.Response:
            try:
                params = validate(request.query)
            except query_params.BadRequest as exc:
                return _error(400, str(exc))
            return await self._read(lambda cur: fn(cur, **params), settle=getattr(fn, "reads_rollups", False))
        return handle

    async def _trace(self, request: web.Request) -> web.Response:
        try:
            trace_id = query_params.trace_id(request.match_info["trace_id"])
        except query_params.BadRequest as exc:
            return _error(400, str(exc))
        return await self._read(lambda cur: query_traces.trace(cur, trace_id=trace_id))

    async def _stats(self, request: web.Request) -> web.Response:
        store = self.store_extension.store
        return await self._read(lambda cur: query.stats(cur, database_bytes=store.database_bytes()))

    async def _doctor(self, request: web.Request) -> web.Response:
        if self.doctor is None:
            return _error(404, "no doctor extension in this service: add `doctor:` under extensions and service::extensions")
        return _json(200, encode(await self.doctor.report()))

    async def _what_if(self, request: web.Request) -> web.Response:
        from otelflow.sampling import api as sampling

        try:
            job = sampling.parse(await request.text(), request.content_type, request.query)
        except query_params.BadRequest as exc:
            return _error(400, str(exc))
        if not sampling.start():
            return _error(429, sampling.BUSY)
        try:
            return await self._read(job)
        finally:
            sampling.done()

    async def _openapi_doc(self, request: web.Request) -> web.Response:
        return _json(200, self._openapi)

    async def _api_unknown(self, request: web.Request) -> web.Response:
        return _error(404, f"no API endpoint {request.path}; see /api/v1/openapi.json")

    # -- UI files ----------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        found = await asyncio.to_thread(_static_file, self.static_root, "index.html")
        if found is None:
            return web.Response(status=503, text=NOT_BUILT, content_type="text/plain")
        return web.Response(body=found[0], content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def _asset(self, request: web.Request) -> web.Response:
        found = await asyncio.to_thread(_static_file, self.static_root, "assets/" + request.match_info["path"])
        if found is None:
            return web.Response(status=404, text="not found\n", content_type="text/plain")
        data, ctype = found
        charset = "utf-8" if ctype.startswith("text/") or ctype in ("application/json", "image/svg+xml") else None
        return web.Response(body=data, content_type=ctype, charset=charset,
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    # -- lifecycle ---------------------------------------------------------------------------------

    def _find_store(self, host: Host | None) -> EmbeddedStore:
        ext_id = ComponentID.parse(self.config.store)
        ext = host.extension(ext_id) if host is not None else None
        if ext is None:
            raise ValueError(f'store "{ext_id}" is not an extension of this service: configure an embedded_store '
                             f'extension with that ID and list it under service::extensions')
        if not isinstance(ext, EmbeddedStore):
            raise ValueError(f'extension "{ext_id}" is not an embedded_store')
        return ext

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.gate.middleware])  # every route, unknown ones too
        self.gate.add_routes(app)
        for path, (validate, fn) in _LIST_ENDPOINTS.items():
            app.router.add_get(path, self._list_handler(validate, fn))
        app.router.add_get("/api/v1/traces/{trace_id}", self._trace)
        app.router.add_get("/api/v1/stats", self._stats)
        app.router.add_get("/api/v1/openapi.json", self._openapi_doc)
        app.router.add_post("/api/v1/sampling/what-if", self._what_if)
        app.router.add_get("/api/v1/doctor", self._doctor)
        routes_live.add_routes(app, self, encode, _error)  # tail, import, export
        app.router.add_route("*", "/api/{tail:.*}", self._api_unknown)
        # Jaeger's query API for Grafana and Jaeger clients (docs/jaeger-api.md)
        jaeger_api.JaegerAPI(lambda: self.store_extension.store, self.settings.logger).add_routes(app)
        app.router.add_get("/", self._index)
        app.router.add_get("/index.html", self._index)
        app.router.add_get("/assets/{path:.+}", self._asset)
        return app

    async def start(self, host: Host) -> None:
        # the store may start after this extension; requests reach it only once it is open
        self.store_extension = self._find_store(host)
        self.doctor = host.extension(ComponentID.parse(self.config.doctor)) if host is not None else None
        self._runner, self.addresses = await serve(self.app(), self.config.endpoint)
        self.port = self.gate.port = self.addresses[0][1]
        bind_host = self.addresses[0][0]
        shown = "127.0.0.1" if bind_host in ("0.0.0.0", "::") else bind_host
        shown = f"[{shown}]" if ":" in shown else shown
        self.gate.log_url(self.settings.logger, shown, self.port)

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def create(settings: Settings, config: Config, **_: Any) -> WebUI:
    return WebUI(settings, config)


factory = Factory(type="web_ui", kind=Kind.EXTENSION, config=Config, create=create, stability="alpha", one_instance=True)
