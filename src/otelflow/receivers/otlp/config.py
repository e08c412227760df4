"""Config of the ``otlp`` receiver: upstream's keys and defaults (gRPC on 4317, HTTP on 4318)."""

from __future__ import annotations

import re
from urllib.parse import unquote

from pydantic import field_validator, model_validator

from otelflow.config.model import Model, OptionalBlocks, UInt32
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
    def _sanitized_path(cls, value: str) -> str:
        try:
            path = go_url_path(value)
        except ValueError as exc:
            raise ValueError(f'invalid HTTP URL path set for signal: parse "{value}": {exc}') from None
        return path if path.startswith("/") else "/" + path


def go_url_path(text: str) -> str:
    """The unescaped path Go's url.Parse finds in ``text``, or ValueError with Go's reason."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError("net/url: invalid control character in URL")
    rest, _, _ = text.partition("#")
    scheme = ""
    for i, c in enumerate(rest):
        if c.isascii() and c.isalpha():
            continue
        if c.isdigit() or c in "+-.":
            if i == 0:
                break
            continue
        if c == ":":
            if i == 0:
                raise ValueError("missing protocol scheme")
            scheme, rest = rest[:i], rest[i + 1:]
        break
    rest, _, _ = rest.partition("?")
    if scheme and not rest.startswith("/"):
        return ""  # an opaque URL such as "mailto:x" has no path
    if not scheme and ":" in rest.split("/", 1)[0]:
        raise ValueError("first path segment in URL cannot contain colon")
    if rest.startswith("//"):
        slash = rest.find("/", 2)
        rest = "" if slash < 0 else rest[slash:]
    bad = re.search(r"%(?![0-9A-Fa-f]{2})(.{0,2})", rest)
    if bad:
        raise ValueError(f'invalid URL escape "%{bad.group(1)}"')
    return unquote(rest)


class Protocols(OptionalBlocks):
    grpc: GRPCProtocol | None = None
    http: HTTPProtocol | None = None


class Config(Model):
    protocols: Protocols = Protocols()

    @model_validator(mode="after")
    def _one_protocol(self) -> "Config":
        if self.protocols.grpc is None and self.protocols.http is None:
            raise ValueError("must specify at least one protocol (grpc or http) when using the OTLP receiver")
        return self

    def upstream_incompatibilities(self) -> list[str]:
        out = []
        for name, proto in (("grpc", self.protocols.grpc), ("http", self.protocols.http)):
            if proto is not None and proto.transport == "unix":
                out.append(f"protocols::{name}::transport: otelcol listens on the unix socket {proto.endpoint}; "
                           f"otelflow accepts the setting but does not serve {name} on unix sockets yet")
        http = self.protocols.http
        if http is not None and http.cors is not None and http.cors.exposed_headers:
            out.append("protocols::http::cors::exposed_headers: otelcol sends them as Access-Control-Expose-Headers; "
                       "otelflow accepts the setting but does not send that header yet")
        return out
