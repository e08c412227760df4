"""The jaeger receiver's config against upstream v0.161.0's testdata/config.yaml and config_test.go."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from otelflow.config.model import validate
from otelflow.config.errors import ConfigError
from otelflow.receivers.jaeger import Config

CONFIGS = yaml.safe_load((Path(__file__).parent / "testdata" / "jaeger" / "config.yaml").read_text())


def load(name: str) -> Config:
    return validate(Config, CONFIGS[f"jaeger/{name}"], f"receivers::jaeger/{name}")


def test_customname():
    p = load("customname").protocols
    assert p.grpc.endpoint == "localhost:9876"
    assert p.thrift_http.endpoint == ":3456"
    assert (p.thrift_compact.endpoint, p.thrift_compact.queue_size, p.thrift_compact.max_packet_size,
            p.thrift_compact.workers, p.thrift_compact.socket_buffer_size) == (
        "0.0.0.0:456", 100_000, 131_072, 100, 65_536)
    assert (p.thrift_binary.endpoint, p.thrift_binary.queue_size, p.thrift_binary.max_packet_size,
            p.thrift_binary.workers, p.thrift_binary.socket_buffer_size) == ("0.0.0.0:789", 1_000, 65_536, 5, 0)


def test_defaults():
    p = load("defaults").protocols
    assert p.grpc.endpoint == "localhost:14250"
    assert p.thrift_http.endpoint == "localhost:14268"
    # upstream zeroes these for Thrift HTTP and turns keep-alives off
    assert (p.thrift_http.read_header_timeout, p.thrift_http.write_timeout, p.thrift_http.idle_timeout,
            p.thrift_http.keep_alives_enabled) == (0, 0, 0, False)
    assert p.thrift_http.max_request_body_size == 20 * 1024 * 1024
    for udp, endpoint in ((p.thrift_compact, "localhost:6831"), (p.thrift_binary, "localhost:6832")):
        assert (udp.endpoint, udp.queue_size, udp.max_packet_size, udp.workers, udp.socket_buffer_size) == (
            endpoint, 1000, 65_000, 10, 0)


def test_mixed_enables_only_what_is_named():
    p = load("mixed").protocols
    assert p.grpc.endpoint == "localhost:9876" and p.thrift_compact.endpoint == "localhost:6831"
    assert p.thrift_http is None and p.thrift_binary is None


def test_tls():
    p = load("tls").protocols
    assert (p.grpc.tls.cert_file, p.grpc.tls.key_file) == ("/test.crt", "/test.key")


@pytest.mark.parametrize("name", ["typo_default_proto_config", "bad_proto_config"])
def test_unknown_protocol_key(name):
    with pytest.raises(ConfigError, match="thrift_htttp"):
        load(name)


@pytest.mark.parametrize("name", ["empty", "no_proto_config"])
def test_no_protocol(name):
    with pytest.raises(ConfigError, match="must specify at least one protocol when using the Jaeger receiver"):
        load(name)


@pytest.mark.parametrize("protocols, message", [
    ({"thrift_http": {"endpoint": "localhost:"}}, "invalid port number for the Thrift HTTP endpoint"),
    ({"thrift_compact": {"endpoint": "localhost:"}}, "invalid port number for the Thrift UDP Compact endpoint"),
    ({"thrift_binary": {"endpoint": "localhost:"}}, "invalid port number for the Thrift UDP Binary endpoint"),
    ({"grpc": {"endpoint": "1234"}}, "invalid port number for the gRPC endpoint: endpoint is not formatted correctly"),
    ({"thrift_binary": {"endpoint": "localhost:65536"}}, "port number must be between 1 and 65535"),
    ({"grpc": {"endpoint": "localhost:0"}}, "port number must be between 1 and 65535"),
])
def test_invalid(protocols, message):
    # config_test.go's TestInvalidConfig
    with pytest.raises(ConfigError, match=message):
        validate(Config, {"protocols": protocols}, "receivers::jaeger")


def test_remote_sampling_is_rejected_with_its_successor():
    with pytest.raises(ConfigError, match="jaegerremotesampling"):
        validate(Config, {"protocols": {"grpc": None}, "remote_sampling": {"host_endpoint": "0.0.0.0:5778"}}, "r")
