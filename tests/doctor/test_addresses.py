"""How the lint reads endpoints: which bind every interface, which stay on this machine, which port."""

from __future__ import annotations

import pytest

from otelflow.doctor import addresses


@pytest.mark.parametrize("endpoint, host, port, every, loopback", [
    ("0.0.0.0:4317", "0.0.0.0", 4317, True, False),
    (":4317", "", 4317, True, False),
    ("[::]:4317", "::", 4317, True, False),
    ("localhost:4318", "localhost", 4318, False, True),
    ("127.0.0.2:4318", "127.0.0.2", 4318, False, True),
    ("[::1]:4317", "::1", 4317, False, True),
    ("10.1.2.3:4317", "10.1.2.3", 4317, False, False),
])
def test_server_endpoints(endpoint, host, port, every, loopback):
    address = addresses.server(endpoint)
    assert (address.host, address.port, address.all_interfaces, address.loopback) == (host, port, every, loopback)


@pytest.mark.parametrize("endpoint, default, host, port, scheme", [
    ("backend.example.com:4317", 4317, "backend.example.com", 4317, ""),
    ("backend.example.com", 4317, "backend.example.com", 4317, ""),
    ("https://tempo.example.com", None, "tempo.example.com", 443, "https"),
    ("http://127.0.0.1:4318/otlp", None, "127.0.0.1", 4318, "http"),
    ("http://[::1]:4318", None, "::1", 4318, "http"),
])
def test_client_endpoints(endpoint, default, host, port, scheme):
    address = addresses.client(endpoint, default)
    assert (address.host, address.port, address.scheme) == (host, port, scheme)


def test_local_sockets_and_empty_endpoints_have_no_address():
    assert addresses.client("unix:///run/otel.sock") is None
    assert addresses.client("") is None
    assert addresses.server("/run/otel.sock") is None
