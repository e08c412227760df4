"""health_check: an HTTP endpoint that answers 200 while the service is ready and 503 otherwise.

The service calls ``ready()`` once every component has started and ``not_ready()`` when shutdown begins.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone
from typing import Any, Optional

from aiohttp import web
from pydantic import model_validator

from otelflow.config.model import Duration, Model
from otelflow.config.settings import HTTPServerSettings
from otelflow.core.component import Component, Factory, Host, Kind, Settings
from otelflow.core.adminhttp import serve
from otelflow.core.netaddr import split_host_port
from otelflow.core.tls import server_ssl_context

_ZERO_TIME = "0001-01-01T00:00:00Z"


class ResponseBody(Model):
    healthy: str = ""
    unhealthy: str = ""


class CheckCollectorPipeline(Model):
    enabled: bool = False
    interval: str = "5m"
    exporter_failure_threshold: int = 5


class Config(HTTPServerSettings):
    """Upstream's legacy (v1) health_check: confighttp server keys squashed next to its own."""

    endpoint: str = "localhost:13133"
    read_header_timeout: Duration = 0.0
    write_timeout: Duration = 0.0
    idle_timeout: Duration = 0.0
    keep_alives_enabled: bool = False
    path: str = "/"
    response_body: Optional[ResponseBody] = None
    # accepted for compatibility; upstream marks it deprecated and it has no effect here
    check_collector_pipeline: Optional[CheckCollectorPipeline] = None
    use_v2: bool = False
    # the v2 keys exist upstream only behind the extension.healthcheck.useComponentStatus gate (off)
    http: Optional[dict[str, Any]] = None
    grpc: Optional[dict[str, Any]] = None
    component_health: Optional[dict[str, Any]] = None

    @model_validator(mode="after")
    def _check(self) -> "Config":
        fields = self.model_fields_set
        if "http" in fields or "grpc" in fields:
            raise ValueError(
                "v2 healthcheck configuration (http/grpc fields) detected but feature gate is disabled. Either remove "
                "the v2 config fields or enable the feature gate with: --feature-gates=+extension.healthcheck.useComponentStatus")
        if self.use_v2:
            raise ValueError("must specify at least one protocol")
        if self.endpoint == "":
            raise ValueError("http endpoint required")
        split_host_port(self.endpoint)
        if not self.path.startswith("/"):
            raise ValueError("path must start with /")
        return self

    def upstream_incompatibilities(self) -> list[str]:
        return ignored_server_keys(self)


def _go_duration(seconds: float) -> str:
    """Roughly how Go prints a time.Duration (``2.956218898s``, ``1m3.5s``)."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f}ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:g}µs"
    if seconds < 1:
        return f"{seconds * 1e3:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{out}"
    if minutes:
        return f"{int(minutes)}m{out}"
    return out


class HealthCheck(Component):
    def __init__(self, settings: Settings, config: Config):
        self.settings = settings
        self.config = config
        self._ready = False
        self._up_since_wall: datetime | None = None
        self._up_since_mono = 0.0
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # service hooks
    def ready(self) -> None:
        self._ready = True
        self._up_since_wall = datetime.now(timezone.utc)
        self._up_since_mono = time.monotonic()
        self.settings.logger.info("Health Check state change: ready")

    def not_ready(self) -> None:
        self._ready = False
        self.settings.logger.info("Health Check state change: unavailable")

    @property
    def is_ready(self) -> bool:
        return self._ready

    def _body(self) -> tuple[int, str, str]:
        status = 200 if self._ready else 503
        custom = self.config.response_body
        if custom is not None:
            text = custom.healthy if self._ready else custom.unhealthy
            return status, text, "text/plain"
        if self._ready and self._up_since_wall is not None:
            up_since = self._up_since_wall.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            uptime = _go_duration(time.monotonic() - self._up_since_mono)
            payload = {"status": "Server available", "upSince": up_since, "uptime": uptime}
        else:
            payload = {"status": "Server not available", "upSince": _ZERO_TIME, "uptime": ""}
        return status, json.dumps(payload, separators=(",", ":")), "application/json"

    async def _handle(self, request: web.Request) -> web.Response:
        status, text, ctype = self._body()
        return web.Response(status=status, text=text, content_type=ctype)

    async def start(self, host: Host) -> None:
        app = web.Application()
        app.router.add_get(self.config.path, self._handle)
        self._runner, self.port = await serve_admin(app, self.config)

    async def shutdown(self) -> None:
        self._ready = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def serve_admin(app: web.Application, server: HTTPServerSettings) -> tuple[web.AppRunner, int]:
    """Serve a small admin app on ``server.endpoint``, over TLS when ``server.tls`` is set.

    Returns the runner and the bound port. Certificate files are read off the event loop.
    """
    if server.response_headers:
        async def _add_headers(_: web.Request, response: web.StreamResponse) -> None:
            response.headers.update(server.response_headers)

        app.on_response_prepare.append(_add_headers)
    ssl_context = None if server.tls is None else await asyncio.to_thread(server_ssl_context, server.tls)
    runner, addresses = await serve(app, server.endpoint, ssl_context)
    return runner, addresses[0][1]


# confighttp keys an admin endpoint accepts (upstream squashes ServerConfig) but otelflow does not apply
IGNORED_SERVER_KEYS = ("cors", "auth", "max_request_body_size", "include_metadata", "compression_algorithms",
                       "read_timeout", "read_header_timeout", "write_timeout", "idle_timeout", "keep_alives_enabled",
                       "keepalive")


def ignored_server_keys(server: HTTPServerSettings) -> list[str]:
    """upstream_incompatibilities() lines for the confighttp keys set but not applied here."""
    ignored = [k for k in IGNORED_SERVER_KEYS if k in server.model_fields_set]
    if server.transport == "unix":
        ignored.append("transport")
    return [f"{key}: otelcol applies this confighttp setting to the endpoint; otelflow accepts it but does not "
            f"apply it" for key in ignored]


def create(settings: Settings, config: Config, **_: Any) -> HealthCheck:
    return HealthCheck(settings, config)


factory = Factory(type="health_check", kind=Kind.EXTENSION, config=Config, create=create, stability="beta", one_instance=True)
