"""Settings shared by many components, with upstream's keys and defaults (configgrpc, confighttp,
configtls, exporterhelper's retry, queue and timeout)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator

from otelflow.config.model import ComponentIDText, Duration, Model
# exporterhelper's retry and queue settings, re-exported for the exporters' config models
from otelflow.config.queue_settings import (  # noqa: F401
    BatchPartitionSettings, QueueBatchSettings, QueueSettings, RetrySettings)

MIB = 1024 * 1024


class _TLSCommon(Model):
    """configtls keys that servers and clients share."""

    cert_file: str = ""
    key_file: str = ""
    cert_pem: str = ""
    key_pem: str = ""
    ca_file: str = ""
    ca_pem: str = ""
    min_version: str = "1.2"
    max_version: str = ""
    cipher_suites: list[str] = []
    curve_preferences: list[str] = []
    include_system_ca_certs_pool: bool = False
    include_insecure_cipher_suites: bool = False
    reload_interval: Duration = 0.0


class TLSServerSettings(_TLSCommon):
    client_ca_file: str = ""
    client_ca_file_reload: bool = False


class TLSClientSettings(_TLSCommon):
    insecure: bool = False
    insecure_skip_verify: bool = False
    server_name_override: str = ""


class AuthRef(Model):
    authenticator: ComponentIDText


class KeepaliveServerParameters(Model):
    max_connection_idle: Duration = 0.0
    max_connection_age: Duration = 0.0
    max_connection_age_grace: Duration = 0.0
    time: Duration = 0.0
    timeout: Duration = 0.0


class KeepaliveEnforcementPolicy(Model):
    min_time: Duration = 0.0
    permit_without_stream: bool = False


class KeepaliveServer(Model):
    server_parameters: KeepaliveServerParameters | None = None
    enforcement_policy: KeepaliveEnforcementPolicy | None = None


class GRPCServerSettings(Model):
    endpoint: str = "localhost:4317"
    transport: Literal["tcp", "tcp4", "tcp6", "unix"] = "tcp"
    tls: TLSServerSettings | None = None
    max_recv_msg_size_mib: int = Field(default=0, ge=0)
    max_concurrent_streams: int = Field(default=0, ge=0)
    read_buffer_size: int = 512 * 1024
    write_buffer_size: int = 0
    keepalive: KeepaliveServer | None = None
    auth: AuthRef | None = None
    include_metadata: bool = False

    @property
    def max_recv_bytes(self) -> int:
        """gRPC's own default is 4 MiB when the setting is 0."""
        return (self.max_recv_msg_size_mib or 4) * MIB


class CORSSettings(Model):
    allowed_origins: list[str] = []
    allowed_headers: list[str] = []
    exposed_headers: list[str] = []  # accepted; not yet sent as Access-Control-Expose-Headers
    max_age: int = 0


class HTTPKeepaliveServer(Model):
    enabled: bool = True
    idle_timeout: Duration = 60.0


class HTTPServerSettings(Model):
    endpoint: str = "localhost:4318"
    transport: Literal["tcp", "tcp4", "tcp6", "unix"] = "tcp"
    # v0.160+ form of idle_timeout / keep_alives_enabled; folded into them when read, as upstream
    keepalive: HTTPKeepaliveServer | None = None
    tls: TLSServerSettings | None = None
    cors: CORSSettings | None = None
    auth: AuthRef | None = None
    max_request_body_size: int = Field(default=20 * MIB, ge=0)
    include_metadata: bool = False
    response_headers: dict[str, str] = {}
    compression_algorithms: list[str] = ["", "gzip", "zstd", "zlib", "snappy", "deflate", "lz4"]
    read_timeout: Duration = 0.0
    read_header_timeout: Duration = 60.0
    write_timeout: Duration = 30.0
    idle_timeout: Duration = 60.0
    keep_alives_enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _fold_keepalive(cls, data: Any) -> Any:
        """confighttp's rule: the ``keepalive`` section may not be mixed with the deprecated keys."""
        if not isinstance(data, dict) or not isinstance(data.get("keepalive"), dict):
            return data
        section = data["keepalive"]
        deprecated = (data.get("idle_timeout") not in (None, 0, "0", "0s")) or data.get("keep_alives_enabled") is False
        if deprecated:
            raise ValueError("cannot use deprecated keepalive fields (idle_timeout, keep_alives_enabled) alongside "
                             "the 'keepalive' section; migrate to the 'keepalive' section")
        out = dict(data)
        if "idle_timeout" in section:
            out["idle_timeout"] = section["idle_timeout"]
        out["keep_alives_enabled"] = section.get("enabled", True)
        return out

    @property
    def body_limit(self) -> int:
        return self.max_request_body_size or 20 * MIB


COMPRESSIONS = ("gzip", "zstd", "snappy", "zlib", "deflate", "lz4", "none", "")


def _check_compression(value: str) -> str:
    if value not in COMPRESSIONS:
        raise ValueError(f'unsupported compression "{value}"; expected one of gzip, zstd, snappy, zlib, deflate, lz4, none')
    return value


class CompressionParams(Model):
    level: int = 0


def _map_list(value: Any) -> Any:
    """configopaque.MapList: headers as a map, or as a list of {name, value} (names unique)."""
    if not isinstance(value, list):
        return value
    out: dict[Any, Any] = {}
    duplicates = set()
    for item in value:
        if not isinstance(item, dict) or set(item) - {"name", "value"}:
            raise ValueError("expected a map, or a list of {name, value} pairs")
        name = item.get("name", "")
        if name in out:
            duplicates.add(str(name))
        out[name] = item.get("value", "")
    if duplicates:
        raise ValueError(f"duplicate keys in map-style list: [{' '.join(sorted(duplicates))}]")
    return out


#: Request headers, in either of the forms configopaque.MapList reads.
HeaderMap = Annotated[dict[str, str], BeforeValidator(_map_list)]


def go_split_host_port(hostport: str) -> tuple[str, str]:
    """Go's net.SplitHostPort, with its error texts, which configgrpc uses to check an endpoint."""
    def fail(why: str) -> ValueError:
        return ValueError(f"address {hostport}: {why}")

    i = hostport.rfind(":")
    if i < 0:
        raise fail("missing port in address")
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise fail("missing ']' in address")
        if end + 1 == len(hostport):
            raise fail("missing port in address")
        if end + 1 != i:
            raise fail("too many colons in address" if hostport[end + 1] == ":" else "missing port in address")
        host, j, k = hostport[1:end], 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise fail("too many colons in address")
    if "[" in hostport[j:]:
        raise fail("unexpected '[' in address")
    if "]" in hostport[k:]:
        raise fail("unexpected ']' in address")
    return host, hostport[i + 1:]


def grpc_sanitized_endpoint(endpoint: str) -> str:
    """The host:port configgrpc checks: a scheme (and a gRPC target's authority) stripped."""
    for scheme in ("http://", "https://"):
        if endpoint.startswith(scheme):
            return endpoint[len(scheme):]
    if "://" not in endpoint:
        return endpoint
    try:
        return urlsplit(endpoint).path.removeprefix("/")
    except ValueError:
        return endpoint


class GRPCClientSettings(Model):
    endpoint: str = ""
    compression: str = "gzip"
    compression_params: CompressionParams | None = None
    tls: TLSClientSettings = TLSClientSettings()
    keepalive: dict[str, Any] | None = None
    read_buffer_size: int = 0
    write_buffer_size: int = 512 * 1024
    wait_for_ready: bool = False
    headers: HeaderMap = {}
    user_agent: str = ""  # "" keeps otelflow's own user agent
    balancer_name: str = ""
    authority: str = ""
    auth: AuthRef | None = None

    _compression = field_validator("compression")(classmethod(lambda cls, v: _check_compression(v)))

    @model_validator(mode="after")
    def _endpoint_has_port(self) -> "GRPCClientSettings":
        # configgrpc.ClientConfig.Validate: a unix socket needs a path, anything else host:port.
        if self.endpoint.startswith("unix://"):
            if self.endpoint == "unix://":
                raise ValueError("unix socket path cannot be empty")
            return self
        endpoint = grpc_sanitized_endpoint(self.endpoint)
        if endpoint:
            _, port = go_split_host_port(endpoint)
            if not re.fullmatch(r"[+-]?[0-9]+", port):
                raise ValueError(f'invalid port "{port}"')
        return self


class HTTPKeepaliveClient(Model):
    enabled: bool = True
    idle_conn_timeout: Duration = 90.0
    max_idle_conns: int = 100
    max_idle_conns_per_host: int = 0


class HTTPClientSettings(Model):
    endpoint: str = ""
    proxy_url: str = ""
    tls: TLSClientSettings = TLSClientSettings()
    read_buffer_size: int = 0
    write_buffer_size: int = 0
    timeout: Duration = 30.0
    headers: HeaderMap = {}
    # v0.160+ form of idle_conn_timeout / max_idle_conns(_per_host) / disable_keep_alives, folded into them
    keepalive: HTTPKeepaliveClient | None = None
    force_attempt_http2: bool = True  # accepted; otelflow's HTTP client speaks HTTP/1.1
    auth: AuthRef | None = None
    compression: str = "gzip"
    compression_params: CompressionParams | None = None
    max_idle_conns: int = 100
    max_idle_conns_per_host: int = 0
    max_conns_per_host: int = 0
    idle_conn_timeout: Duration = 90.0
    disable_keep_alives: bool = False
    http2_read_idle_timeout: Duration = 0.0
    http2_ping_timeout: Duration = 0.0
    cookies: dict[str, Any] | None = None

    _compression = field_validator("compression")(classmethod(lambda cls, v: _check_compression(v)))

    @model_validator(mode="before")
    @classmethod
    def _fold_keepalive(cls, data: Any) -> Any:
        """confighttp's rule: the ``keepalive`` section may not be mixed with the deprecated keys."""
        if not isinstance(data, dict) or not isinstance(data.get("keepalive"), dict):
            return data
        section = data["keepalive"]
        zero = (None, 0, "0", "0s", False)
        if any(data.get(k) not in zero for k in ("idle_conn_timeout", "max_idle_conns", "max_idle_conns_per_host", "disable_keep_alives")):
            raise ValueError("cannot use deprecated keepalive fields (idle_conn_timeout, max_idle_conns, "
                             "max_idle_conns_per_host, disable_keep_alives) alongside the 'keepalive' section; "
                             "migrate to the 'keepalive' section")
        out = dict(data)
        for key in ("idle_conn_timeout", "max_idle_conns", "max_idle_conns_per_host"):
            if key in section:
                out[key] = section[key]
        out["disable_keep_alives"] = section.get("enabled", True) is False
        return out
