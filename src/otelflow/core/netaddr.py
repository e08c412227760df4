"""``host:port`` endpoints as upstream writes them (``:4317`` means every interface)."""

from __future__ import annotations


def split_host_port(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f'endpoint "{endpoint}": expected host:port, such as localhost:4317')
    host = host.strip("[]")
    return host, int(port)


def bind_address(endpoint: str) -> str:
    """The address for a listener: an empty host binds every interface, as Go's net.Listen does."""
    host, port = split_host_port(endpoint)
    if host == "":
        host = "0.0.0.0"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
