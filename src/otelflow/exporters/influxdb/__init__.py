"""The ``influxdb`` exporter: metrics as InfluxDB line protocol over HTTP, to the v2 API
(``/api/v2/write?org=&bucket=`` with ``Authorization: Token``) or, with ``v1_compatibility``, the
v1 API (``/write?db=`` with optional basic auth), as upstream's influxdbexporter v0.161.0.

Points are written in ``metrics_schema`` (see schemas.py) and sent in payloads of at most
``payload_max_lines`` lines / about ``payload_max_bytes`` bytes. Statuses: 2xx accepted, 5xx
retried, anything else a permanent error (upstream's words: ``line protocol write returned "<status>"
"<body>"``). Like upstream, timestamps are always nanoseconds while the ``precision`` query
parameter says what is configured. Spans and log records are written as records.py
describes.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Iterator, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from pydantic import model_validator

from otelflow.config.model import Duration, Model
from otelflow.config.settings import HeaderMap, HTTPClientSettings, QueueSettings, RetrySettings
from otelflow.core.component import Factory, Host, Kind, Settings, Signal, STABLE_SIGNALS
from otelflow.core.compression import compress
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.exporterhelper import QueuedRetryExporter
from otelflow.core.tls import client_ssl_context
from otelflow.exporters.influxdb.lineprotocol import EncodeError, encode_line
from otelflow.exporters.influxdb.records import log_lines, span_lines
from otelflow.exporters.influxdb.schemas import SCHEMAS, SchemaError, base_tags
from otelflow.extensions.auth import http_client_authenticator


_THREAD_BYTES = 256 * 1024


class V1Compatibility(Model):
    enabled: bool = False
    db: str = ""
    username: str = ""
    password: str = ""


def _duplicates(values: list[str]) -> list[str]:
    seen, dup = set(), []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return dup


class Config(HTTPClientSettings):
    timeout: Duration = 5.0
    headers: HeaderMap = {"User-Agent": "OpenTelemetry -> Influx"}
    compression: str = ""
    sending_queue: QueueSettings = QueueSettings()
    retry_on_failure: RetrySettings = RetrySettings()
    org: str = ""
    bucket: str = ""
    token: str = ""
    v1_compatibility: V1Compatibility = V1Compatibility()
    span_dimensions: list[str] = ["service.name", "span.name"]
    log_record_dimensions: list[str] = ["service.name"]
    metrics_schema: str = "telegraf-prometheus-v1"
    payload_max_lines: int = 10_000
    payload_max_bytes: int = 10_000_000
    precision: Literal["ns", "ms", "s", "us"] | str = "ns"

    @model_validator(mode="after")
    def _check(self) -> "Config":
        if dup := _duplicates(self.span_dimensions):
            raise ValueError(f"duplicate span dimension(s) configured: {','.join(dup)}")
        if dup := _duplicates(self.log_record_dimensions):
            raise ValueError(f"duplicate log record dimension(s) configured: {','.join(dup)}")
        if self.precision not in ("ns", "ms", "s", "us"):
            raise ValueError(f'invalid precision "{self.precision}", must be one of: ns, ms, s, us')
        if self.metrics_schema not in SCHEMAS:
            raise ValueError(f"schema '{self.metrics_schema}' not recognized")
        return self

    def write_url(self) -> tuple[str, dict[str, str]]:
        """The write URL (``write`` or ``api/v2/write`` unless the endpoint has a path) and the
        headers the API's credentials add."""
        parts = urlsplit(self.endpoint)
        path = parts.path
        if path in ("", "/"):
            path = "/write" if self.v1_compatibility.enabled else "/api/v2/write"
        query = dict(p.split("=", 1) if "=" in p else (p, "") for p in parts.query.split("&") if p)
        query["precision"] = self.precision
        extra: dict[str, str] = {}
        v1 = self.v1_compatibility
        if v1.enabled:
            query["db"] = v1.db
            if v1.username and v1.password:
                extra["Authorization"] = "Basic " + base64.b64encode(f"{v1.username}:{v1.password}".encode()).decode()
        else:
            query["org"], query["bucket"] = self.org, self.bucket
            if self.token:
                extra["Authorization"] = "Token " + self.token
        url = urlunsplit((parts.scheme, parts.netloc, path, urlencode(sorted(query.items())), ""))
        return url, extra


class InfluxDBExporter(QueuedRetryExporter):
    def __init__(self, settings: Settings, config: Config):
        super().__init__(settings, config.sending_queue, config.retry_on_failure, config.timeout)
        self.config = config
        self.url, extra = config.write_url()
        self.headers = {**config.headers, **extra}
        self.compression = "" if config.compression in ("none", "") else config.compression
        if self.compression:
            self.headers["Content-Encoding"] = self.compression
        self.schema = SCHEMAS[config.metrics_schema]
        self.span_dims = frozenset(config.span_dimensions)
        self.log_dims = frozenset(config.log_record_dimensions)
        self.session: aiohttp.ClientSession | None = None
        self._auth = None

    async def start_client(self, host: Host) -> None:
        c = self.config
        if c.auth is not None:
            self._auth = http_client_authenticator(host, c.auth.authenticator)
        ssl = await asyncio.to_thread(client_ssl_context, c.tls) if self.url.startswith("https://") else None
        connector = aiohttp.TCPConnector(limit=c.max_conns_per_host or 100, ssl=ssl if ssl is not None else True,
                                         force_close=c.disable_keep_alives)
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=c.timeout or None))

    async def stop_client(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    def _lines(self, data) -> Iterator[str]:
        signal = self.settings.signal
        if signal is Signal.TRACES:
            for rs in data.resource_spans:
                yield from span_lines(rs, self.span_dims)
        elif signal is Signal.LOGS:
            for rl in data.resource_logs:
                yield from log_lines(rl, self.log_dims)
        else:
            for rm in data.resource_metrics:
                for sm in rm.scope_metrics:
                    base = base_tags(rm.resource, sm.scope)
                    for metric in sm.metrics:
                        for measurement, tags, fields, ts in self.schema(metric, base):
                            yield encode_line(measurement, tags, fields, ts)

    def payloads(self, data) -> list[bytes]:
        """The request as line protocol payloads; PermanentError where upstream refuses it."""
        out: list[bytes] = []
        lines: list[str] = []
        size = 0
        max_lines, max_bytes = self.config.payload_max_lines, self.config.payload_max_bytes
        what = {Signal.TRACES: "span", Signal.LOGS: "log record", Signal.METRICS: "metric"}[self.settings.signal]
        try:
            for line in self._lines(data):
                lines.append(line)
                size += len(line)
                if len(lines) >= max_lines or size >= max_bytes:
                    out.append("".join(lines).encode())
                    lines, size = [], 0
        except EncodeError as exc:
            raise PermanentError(f"failed to encode point: {exc}") from None
        except SchemaError as exc:
            raise PermanentError(f"failed to convert OTLP {what} to line protocol: {exc}") from None
        if lines:
            out.append("".join(lines).encode())
        return out

    async def send(self, data) -> None:
        # a large request takes tens of milliseconds to encode: do that off the event loop
        big = data.ByteSize() > _THREAD_BYTES
        for body in await asyncio.to_thread(self.payloads, data) if big else self.payloads(data):
            if self.compression:
                body = compress(self.compression, body, 0)
            headers = self.headers
            if self._auth is not None:
                apply = getattr(self._auth, "apply_http_headers", None)
                headers = apply(headers) if apply else {**headers, **self._auth.http_headers()}
            try:
                async with self.session.post(self.url, data=body, headers=headers) as resp:
                    text = await resp.text(errors="replace")
                    status = f"{resp.status} {resp.reason}"
            except aiohttp.ClientError as exc:
                raise ConsumerError(f"Post {self.url!r}: {exc}") from None
            if 200 <= resp.status < 300:
                continue
            message = f'line protocol write returned "{status}" "{text}"'
            if 500 <= resp.status < 600:
                raise ConsumerError(message)
            raise PermanentError(message)


def create(settings: Settings, config: Config) -> InfluxDBExporter:
    return InfluxDBExporter(settings, config)


factory = Factory(
    type="influxdb",
    kind=Kind.EXPORTER,
    config=Config,
    create=create,
    signals=STABLE_SIGNALS,
    stability="beta",
)
