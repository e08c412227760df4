"""The ``otlphttp`` exporter: OTLP/HTTP (protobuf or JSON), per-signal URLs as upstream composes them."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Literal

import aiohttp
from google.protobuf.message import Message
from google.rpc import status_pb2
from pydantic import model_validator

from otelflow import __version__
from otelflow.config.settings import HTTPClientSettings, QueueSettings, RetrySettings
from otelflow.core.component import Factory, Host, Kind, Settings, Signal
from otelflow.core.compression import compress
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.exporterhelper import QueuedRetryExporter
from otelflow.core.http1_client import ClientError, HTTP1Client
from otelflow.core.tls import CheckedClientTLS, client_ssl_context
from otelflow.extensions.auth import http_client_authenticator
from otelflow.pdata import REQUEST_TYPES, RESPONSE_TYPES, otlpjson


class Config(HTTPClientSettings):
    tls: CheckedClientTLS = CheckedClientTLS()
    traces_endpoint: str = ""
    metrics_endpoint: str = ""
    logs_endpoint: str = ""
    profiles_endpoint: str = ""
    encoding: Literal["proto", "json"] = "proto"
    retry_on_failure: RetrySettings = RetrySettings()
    sending_queue: QueueSettings = QueueSettings()

    @model_validator(mode="after")
    def _some_endpoint(self) -> "Config":
        if not (self.endpoint or self.traces_endpoint or self.metrics_endpoint or self.logs_endpoint or self.profiles_endpoint):
            raise ValueError('at least one endpoint must be specified ("endpoint" or a per-signal "*_endpoint")')
        return self

    def signal_url(self, signal: Signal) -> str:
        override = getattr(self, f"{signal.value}_endpoint")
        if override:
            return override
        if not self.endpoint:
            raise ValueError(f'either "endpoint" or "{signal.value}_endpoint" must be specified')
        sep = "" if self.endpoint.endswith("/") else "/"
        if signal is Signal.PROFILES:  # upstream's signal version for profiles
            return f"{self.endpoint}{sep}v1development/{signal.value}"
        return f"{self.endpoint}{sep}v1/{signal.value}"


# Statuses worth retrying, as upstream's otlphttp exporter decides.
_RETRYABLE = {429, 502, 503, 504}


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class OTLPHTTPExporter(QueuedRetryExporter):
    def __init__(self, settings: Settings, config: Config):
        # confighttp's client timeout bounds each attempt.
        super().__init__(settings, config.sending_queue, config.retry_on_failure, config.timeout)
        self.config = config
        self.url = config.signal_url(settings.signal)
        self.session: aiohttp.ClientSession | None = None  # only with a proxy_url
        self.client: HTTP1Client | None = None
        json = config.encoding == "json"
        self.encode = otlpjson.encode if json else REQUEST_TYPES[settings.signal].SerializeToString
        self.response_type = RESPONSE_TYPES[settings.signal]
        self.content_type = "application/json" if json else "application/x-protobuf"
        self.compression = "" if config.compression in ("none", "") else config.compression
        self.level = config.compression_params.level if config.compression_params else 0
        self.headers = {"Content-Type": self.content_type, "User-Agent": f"otelflow/{__version__}", **config.headers}
        if self.compression:
            self.headers["Content-Encoding"] = self.compression
        self._auth = None
        self._server_hostname = None
        if not json:
            self.as_received = None  # protobuf goes out as the client's bytes when nothing changed them

    async def start_client(self, host: Host) -> None:
        c = self.config
        if c.auth is not None:
            self._auth = http_client_authenticator(host, c.auth.authenticator)
        https = self.url.startswith("https://")
        ssl = await asyncio.to_thread(client_ssl_context, c.tls) if https else None
        if https and c.tls.server_name_override:
            self._server_hostname = c.tls.server_name_override
        if not c.proxy_url and self.url.startswith(("http://", "https://")):
            # the lean client: one wakeup per answer instead of aiohttp's machinery (docs/exporters/otlphttp.md)
            self.client = HTTP1Client(
                self.url, ssl=ssl, server_hostname=self._server_hostname, connect_timeout=30.0,
                keep_alive=not c.disable_keep_alives, idle_timeout=c.idle_conn_timeout,
                max_idle=c.max_idle_conns_per_host or c.max_idle_conns or 100, max_conns=c.max_conns_per_host)
            return
        connector = aiohttp.TCPConnector(
            limit=c.max_conns_per_host or 100, ssl=ssl if ssl is not None else True, force_close=c.disable_keep_alives
        )
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=c.timeout or None))

    async def stop_client(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def send(self, data: Message, encoded: bytes | None = None) -> None:
        body = self.encode(data) if encoded is None else encoded
        if self.compression:
            body = compress(self.compression, body, self.level)
        headers = self.headers
        if self._auth is not None and hasattr(self._auth, "apply_http_headers"):
            headers = self._auth.apply_http_headers(headers)  # headers_setter: insert/update/delete too
        elif self._auth is not None:
            # set last, replacing a configured header of the same name, as upstream's innermost round tripper
            auth = self._auth.http_headers()
            names = {k.lower() for k in auth}
            headers = {**{k: v for k, v in headers.items() if k.lower() not in names}, **auth}
        if self.client is not None:
            try:
                resp = await self.client.post(headers, body)
            except ClientError as exc:
                raise ConsumerError(f"failed to make an HTTP request: {exc}") from None
            self._answer(resp, resp.body)
            return
        extra = {"server_hostname": self._server_hostname} if self._server_hostname else {}
        try:
            async with self.session.post(
                self.url, data=body, headers=headers, proxy=self.config.proxy_url or None, **extra
            ) as resp:
                payload = await resp.read()
        except aiohttp.ClientError as exc:
            raise ConsumerError(f"failed to make an HTTP request: {exc}") from None
        self._answer(resp, payload)

    def _answer(self, resp, payload: bytes) -> None:
        """Map a response (aiohttp's or the lean client's: status, headers, content_type) to success or error."""
        if 200 <= resp.status < 300:
            self._check_partial(resp, payload)
            return
        message = f"error exporting items, request to {self.url} responded with HTTP Status Code {resp.status}"
        detail = self._status_message(resp, payload)
        if detail:
            message += f", Message={detail}"
        if resp.status in _RETRYABLE:
            raise ConsumerError(message, retry_after=_retry_after(resp.headers.get("Retry-After")))
        raise PermanentError(message)

    def _status_message(self, resp, payload: bytes) -> str:
        try:
            if resp.content_type == "application/x-protobuf":
                return status_pb2.Status.FromString(payload).message
            if resp.content_type == "application/json":
                return otlpjson.decode(payload, status_pb2.Status).message
        except Exception:
            return ""
        return ""

    def _check_partial(self, resp, payload: bytes) -> None:
        if not payload:
            return
        try:
            if resp.content_type == "application/json":
                message = otlpjson.decode(payload, self.response_type)
            else:
                message = self.response_type.FromString(payload)
        except Exception:
            return  # upstream ignores an unreadable success body
        if message.partial_success.ByteSize():
            self.settings.logger.warning("Partial success response: %s", message.partial_success)


factory = Factory(
    type="otlphttp",
    kind=Kind.EXPORTER,
    config=Config,
    create=lambda settings, config: OTLPHTTPExporter(settings, config),
    signals=frozenset(Signal),
    stability="stable",
)
