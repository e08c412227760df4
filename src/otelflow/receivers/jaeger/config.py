"""Config of the ``jaeger`` receiver: upstream v0.161.0's four protocols, keys and defaults.

A protocol is served only when its key is present (``grpc:`` alone turns it on with defaults).
"""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from otelflow.config.model import Duration, Model, OptionalBlocks
from otelflow.config.settings import GRPCServerSettings, HTTPServerSettings
from otelflow.core.tls import CheckedServerTLS
from otelflow.receivers.otlp.config import HTTPAuth


class GRPCProtocol(GRPCServerSettings):
    endpoint: str = "localhost:14250"
    tls: CheckedServerTLS | None = None


class ThriftHTTPProtocol(HTTPServerSettings):
    endpoint: str = "localhost:14268"
    tls: CheckedServerTLS | None = None
    auth: HTTPAuth | None = None
    # upstream zeroes these for the Thrift HTTP server (contrib issue 49316)
    read_header_timeout: Duration = 0.0
    write_timeout: Duration = 0.0
    idle_timeout: Duration = 0.0
    keep_alives_enabled: bool = False


class UDPProtocol(Model):
    endpoint: str
    queue_size: int = 1_000
    max_packet_size: int = 65_000
    workers: int = 10
    socket_buffer_size: int = 0


class CompactProtocol(UDPProtocol):
    endpoint: str = "localhost:6831"


class BinaryProtocol(UDPProtocol):
    endpoint: str = "localhost:6832"


class Protocols(OptionalBlocks):
    grpc: GRPCProtocol | None = None
    thrift_http: ThriftHTTPProtocol | None = None
    thrift_binary: BinaryProtocol | None = None
    thrift_compact: CompactProtocol | None = None


def check_port(endpoint: str) -> None:
    """Upstream's checkPortFromEndpoint: "host:port" with a port in 1..65535."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or (":" in host and not (host.startswith("[") and host.endswith("]"))):
        reason = "missing port in address" if not sep else "too many colons in address"
        raise ValueError(f"endpoint is not formatted correctly: address {endpoint}: {reason}")
    try:
        number = int(port, 10) if port.lstrip("+-").isdigit() else int("x")
    except ValueError:
        raise ValueError(f'endpoint port is not a number: strconv.ParseInt: parsing "{port}": invalid syntax') from None
    if not 1 <= number <= 65535:
        raise ValueError("port number must be between 1 and 65535")


class Config(Model):
    protocols: Protocols = Protocols()
    remote_sampling: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_protocols(cls, data: Any) -> Any:
        if isinstance(data, dict) and "protocols" in data and data["protocols"] is None:
            return {**data, "protocols": {}}
        return data

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        p = self.protocols
        if p.grpc is None and p.thrift_http is None and p.thrift_binary is None and p.thrift_compact is None:
            raise ValueError("must specify at least one protocol when using the Jaeger receiver")
        for proto, label in ((p.grpc, "gRPC"), (p.thrift_http, "Thrift HTTP"),
                             (p.thrift_binary, "Thrift UDP Binary"), (p.thrift_compact, "Thrift UDP Compact")):
            if proto is not None:
                try:
                    check_port(proto.endpoint)
                except ValueError as exc:
                    raise ValueError(f"invalid port number for the {label} endpoint: {exc}") from None
        if self.remote_sampling is not None:
            raise ValueError("remote sampling config detected in the Jaeger receiver; "
                             "use the `jaegerremotesampling` extension instead")
        return self
