"""Reading the host and port out of endpoints the way the collector dials or binds them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Address:
    host: str  # "" when none is given (":4317" binds every interface)
    port: int | None
    scheme: str = ""  # "http"/"https" when the endpoint is a URL

    @property
    def all_interfaces(self) -> bool:
        return self.host in ("", "0.0.0.0", "::", "[::]")

    @property
    def loopback(self) -> bool:
        host = self.host.strip("[]").lower()
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def remote(self) -> bool:
        """Reachable from, or reaching, another machine."""
        return not self.loopback


def server(endpoint: str) -> Address | None:
    """A listening endpoint, ``host:port``; None for an empty or unix-socket one."""
    if not endpoint or endpoint.startswith("/"):
        return None
    host, sep, port = endpoint.rpartition(":")
    if not sep:
        return Address(endpoint, None)
    return Address(host.strip("[]") if host.startswith("[") else host, _port(port))


def client(endpoint: str, default_port: int | None = None) -> Address | None:
    """A dialled endpoint: ``host:port`` or a URL (``http://host:port/path``)."""
    if not endpoint:
        return None
    if endpoint.startswith(("unix:", "/")):
        return None  # a local socket: neither remote nor a port
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        try:
            port = parts.port
        except ValueError:
            port = None
        scheme = parts.scheme.lower()
        return Address(parts.hostname or "", port or _DEFAULT_PORTS.get(scheme, default_port), scheme)
    found = server(endpoint)
    if found and found.port is None:
        return Address(found.host, default_port)
    return found


def _port(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
