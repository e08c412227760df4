"""Config of the ``zipkin`` receiver: confighttp's server keys (endpoint localhost:9411) and
``parse_string_tags``, with upstream's factory defaults (no write/idle/read-header timeouts and
keep-alives off)."""

from __future__ import annotations

from otelflow.config.model import Duration
from otelflow.config.settings import HTTPServerSettings
from otelflow.core.tls import CheckedServerTLS


class Config(HTTPServerSettings):
    endpoint: str = "localhost:9411"
    tls: CheckedServerTLS | None = None
    write_timeout: Duration = 0.0
    read_header_timeout: Duration = 0.0
    idle_timeout: Duration = 0.0
    keep_alives_enabled: bool = False
    # Tags/binary annotations "123", "1.5", "true" become int, double and bool attributes.
    parse_string_tags: bool = False
