"""The ``zipkin`` exporter: OTLP traces to a Zipkin v2 endpoint as JSON or protobuf, with
exporterhelper's queue and retries. As upstream, a batch that does not translate is dropped as a
permanent error and any non-2xx answer is retried; ``default_service_name`` is accepted and, as in
upstream v0.161.0, not used (spans of a resource without ``service.name`` are sent as
``OTLPResourceNoServiceName``)."""

from __future__ import annotations

import asyncio
from typing import Literal

import aiohttp
from google.protobuf.message import Message
from pydantic import model_validator

from otelflow.config.model import Duration
from otelflow.config.settings import HTTPClientSettings, QueueSettings, RetrySettings
from otelflow.core.component import Factory, Host, Kind, Settings, Signal
from otelflow.core.compression import compress
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.exporterhelper import QueuedRetryExporter
from otelflow.core.tls import CheckedClientTLS, client_ssl_context
from otelflow.extensions.auth import http_client_authenticator
from otelflow.translators.zipkin import TranslationError, from_otlp, to_json, to_proto


class Config(HTTPClientSettings):
    tls: CheckedClientTLS = CheckedClientTLS()
    timeout: Duration = 5.0
    compression: str = ""  # confighttp's default client: no compression
    write_buffer_size: int = 512 * 1024
    format: Literal["json", "proto"] = "json"
    default_service_name: str = "<missing service name>"
    retry_on_failure: RetrySettings = RetrySettings()
    sending_queue: QueueSettings = QueueSettings()

    @model_validator(mode="after")
    def _endpoint(self) -> "Config":
        if not self.endpoint:
            raise ValueError("endpoint required")
        return self


class ZipkinExporter(QueuedRetryExporter):
    def __init__(self, settings: Settings, config: Config):
        super().__init__(settings, config.sending_queue, config.retry_on_failure, config.timeout)
        self.config = config
        proto = config.format == "proto"
        self.serialize = to_proto if proto else to_json
        self.headers = {"Content-Type": "application/x-protobuf" if proto else "application/json", **config.headers}
        self.compression = "" if config.compression in ("none", "") else config.compression
        if self.compression:
            self.headers["Content-Encoding"] = self.compression
        self.session: aiohttp.ClientSession | None = None
        self._auth = None

    async def start_client(self, host: Host) -> None:
        c = self.config
        if c.auth is not None:
            self._auth = http_client_authenticator(host, c.auth.authenticator)
        https = c.endpoint.startswith("https://")
        ssl = await asyncio.to_thread(client_ssl_context, c.tls) if https else None
        connector = aiohttp.TCPConnector(limit=c.max_conns_per_host or 100, ssl=ssl if ssl is not None else True,
                                         force_close=c.disable_keep_alives)
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=c.timeout or None))

    async def stop_client(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def send(self, data: Message) -> None:
        try:
            body = self.serialize(from_otlp(data))
        except TranslationError as exc:
            raise PermanentError(f"failed to push trace data via Zipkin exporter: {exc}") from None
        if self.compression:
            body = compress(self.compression, body, self.config.compression_params.level if self.config.compression_params else 0)
        headers = self.headers
        if self._auth is not None:
            auth = self._auth.http_headers()
            names = {k.lower() for k in auth}
            headers = {**{k: v for k, v in headers.items() if k.lower() not in names}, **auth}
        extra = {"server_hostname": self.config.tls.server_name_override} if self.config.tls.server_name_override else {}
        try:
            async with self.session.post(self.config.endpoint, data=body, headers=headers,
                                         proxy=self.config.proxy_url or None, **extra) as resp:
                await resp.read()
                if not 200 <= resp.status <= 299:
                    raise ConsumerError(f"failed the request with status code {resp.status}")
        except aiohttp.ClientError as exc:
            raise ConsumerError(f"failed to push trace data via Zipkin exporter: {exc}") from None


factory = Factory(
    type="zipkin",
    kind=Kind.EXPORTER,
    config=Config,
    create=lambda settings, config: ZipkinExporter(settings, config),
    signals=frozenset({Signal.TRACES}),
    stability="beta",
)

__all__ = ["Config", "ZipkinExporter", "factory"]
