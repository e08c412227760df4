"""Config of the ``otlp`` receiver: upstream's keys and defaults (gRPC on 4317, HTTP on 4318)."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from otelflow.config.model import Model, UInt32
from otelflow.config.settings import AuthRef, GRPCServerSettings, HTTPServerSettings
from otelflow.core.compression import DEFAULT_ALGORITHMS
from otelflow.core.tls import CheckedServerTLS


class HTTPAuth(AuthRef):
    # query parameters handed to the authenticator as if they were headers (query wins)
    request_params: list[str] = []


class GRPCProtocol(GRPCServerSettings):
    tls: CheckedServerTLS | None = None
    # configgrpc's uint32: HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection, 0 = gRPC's default
    max_concurrent_streams: UInt32 = 0


class HTTPProtocol(HTTPServerSettings):
    tls: CheckedServerTLS | None = None
    auth: HTTPAuth | None = None
    traces_url_path: str = "/v1/traces"
    metrics_url_path: str = "/v1/metrics"
    logs_url_path: str = "/v1/logs"
    # confighttp's default list (it also takes x-snappy-framed); [] turns decompression off
    compression_algorithms: list[str] = list(DEFAULT_ALGORITHMS)

    @field_validator("traces_url_path", "metrics_url_path", "logs_url_path")
    @classmethod
    def _leading_slash(cls, value: str) -> str:
        return value if value.startswith("/") else "/" + value


class Protocols(Model):
    grpc: GRPCProtocol | None = None
    http: HTTPProtocol | None = None

    @model_validator(mode="before")
    @classmethod
    def _present_means_enabled(cls, data: Any) -> Any:
        # `grpc:` with nothing under it turns the protocol on with its defaults, as upstream.
        if isinstance(data, dict):
            return {k: ({} if v is None else v) for k, v in data.items()}
        return data


class Config(Model):
    protocols: Protocols = Protocols()

    @model_validator(mode="after")
    def _one_protocol(self) -> "Config":
        if self.protocols.grpc is None and self.protocols.http is None:
            raise ValueError("must specify at least one protocol (grpc or http) when using the OTLP receiver")
        return self
