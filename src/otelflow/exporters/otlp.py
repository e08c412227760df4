"""The ``otlp`` exporter: OTLP over gRPC, with upstream's retryable-code rules and RetryInfo."""

from __future__ import annotations

import asyncio
import re

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from pydantic import Field, model_validator

from otelflow import __version__
from otelflow.config.model import Duration
from otelflow.config.settings import GRPCClientSettings, QueueSettings, RetrySettings
from otelflow.core.component import Factory, Host, Kind, Settings, Signal
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.exporterhelper import QueuedRetryExporter
from otelflow.core.tls import CheckedClientTLS, channel_credentials
from otelflow.extensions.auth import grpc_client_authenticator
from otelflow.pdata import REQUEST_TYPES, RESPONSE_TYPES
from otelflow.receivers.otlp.grpc import SERVICES


class Config(GRPCClientSettings):
    tls: CheckedClientTLS = CheckedClientTLS()
    timeout: Duration = 5.0
    retry_on_failure: RetrySettings = RetrySettings()
    sending_queue: QueueSettings = QueueSettings()

    @model_validator(mode="after")
    def _endpoint(self) -> "Config":
        if self.timeout < 0:
            raise ValueError("timeout value must be greater than or equal to 0")
        if not _otlp_sanitized_endpoint(self.endpoint):
            raise ValueError('requires a non-empty "endpoint"')
        if self.compression not in ("gzip", "none", ""):
            raise ValueError(
                f'compression "{self.compression}" is not available over gRPC in otelflow (grpcio offers gzip); use gzip or none'
            )
        return self


def _otlp_sanitized_endpoint(endpoint: str) -> str:
    """What the otlp exporter's own check sees: http://, https:// or dns:// (and its authority) cut."""
    for scheme in ("http://", "https://"):
        if endpoint.startswith(scheme):
            return endpoint[len(scheme):]
    if endpoint.startswith("dns://"):
        return re.sub(r"^dns:///?", "", endpoint)
    return endpoint


# Codes the OTLP spec says a client may retry; RESOURCE_EXHAUSTED only when the server sent RetryInfo.
_RETRYABLE = {
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}


def _retry_delay(err: grpc.aio.AioRpcError) -> float | None:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    info = error_details_pb2.RetryInfo()
                    detail.Unpack(info)
                    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


def _target(endpoint: str, insecure: bool) -> tuple[str, bool]:
    """Strip a scheme as configgrpc does; http:// implies plaintext."""
    for scheme, plain in (("http://", True), ("https://", False)):
        if endpoint.startswith(scheme):
            return endpoint[len(scheme):], plain or insecure
    return endpoint, insecure


def _serialize(request: Message | bytes) -> bytes:
    """The request's encoding: the client's own bytes when the exporter sends them on unchanged."""
    return request if type(request) is bytes else request.SerializeToString()


class OTLPExporter(QueuedRetryExporter):
    def __init__(self, settings: Settings, config: Config):
        super().__init__(settings, config.sending_queue, config.retry_on_failure, config.timeout)
        self.config = config
        self.channel: grpc.aio.Channel | None = None
        self._call = None
        self._metadata = tuple((k.lower(), v) for k, v in config.headers.items())
        self._auth = None
        self._insecure = False
        self.as_received = None  # a request nothing changed goes out as the client's bytes

    async def start_client(self, host: Host) -> None:
        c = self.config
        target, insecure = _target(c.endpoint, c.tls.insecure)
        self._insecure = insecure
        if c.auth is not None:
            self._auth = grpc_client_authenticator(host, c.auth.authenticator)
            if insecure and getattr(self._auth, "requires_tls", True):
                self.log.error("the authenticator %s sends credentials, which need TLS; every export will fail", c.auth.authenticator)
        options = [("grpc.primary_user_agent", c.user_agent or f"otelflow/{__version__}")]
        if c.authority:
            options.append(("grpc.default_authority", c.authority))
        if c.tls.server_name_override:
            options.append(("grpc.ssl_target_name_override", c.tls.server_name_override))
        compression = grpc.Compression.Gzip if c.compression == "gzip" else grpc.Compression.NoCompression
        if insecure:
            self.channel = grpc.aio.insecure_channel(target, options=options, compression=compression)
        else:
            credentials = await asyncio.to_thread(channel_credentials, c.tls, self.log.warning)
            self.channel = grpc.aio.secure_channel(target, credentials, options=options, compression=compression)
        signal = self.settings.signal
        self._call = self.channel.unary_unary(
            f"/{SERVICES[signal]}/Export",
            request_serializer=_serialize,
            response_deserializer=RESPONSE_TYPES[signal].FromString,
        )

    async def stop_client(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            self.channel = None

    async def send(self, data: Message, encoded: bytes | None = None) -> None:
        metadata = self._metadata
        if self._auth is not None:
            if self._insecure and getattr(self._auth, "requires_tls", True):
                # grpc-go refuses the connection when per-RPC credentials would travel in plain text
                raise ConsumerError(
                    "rpc error: code = Unavailable desc = connection error: desc = "
                    '"credentials require transport level security (use grpc.WithTransportCredentials() to set)"'
                )
            metadata = self._auth.grpc_metadata() + metadata  # grpc-go sends per-RPC credentials first
        try:
            response = await self._call(
                data if encoded is None else encoded, metadata=metadata, timeout=self.timeout or None, wait_for_ready=self.config.wait_for_ready
            )
        except grpc.aio.AioRpcError as err:
            code = err.code()
            message = f"rpc error: code = {code.name} desc = {err.details()}"
            delay = _retry_delay(err)
            if code in _RETRYABLE or (code is grpc.StatusCode.RESOURCE_EXHAUSTED and delay is not None):
                raise ConsumerError(message, retry_after=delay) from None
            raise PermanentError(message) from None
        partial = response.partial_success
        if partial.ByteSize():
            self.log.warning("Partial success response: %s", partial)


factory = Factory(
    type="otlp",
    kind=Kind.EXPORTER,
    config=Config,
    create=lambda settings, config: OTLPExporter(settings, config),
    signals=frozenset(Signal),
    stability="stable",
)
