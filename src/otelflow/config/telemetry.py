"""``service::telemetry`` checked as otelcol v0.161 checks it (otelconftelemetry's Config.Validate).

Only the rules and keys are checked here; the sections are still read as plain trees by the log setup
(``core/logging_setup.py``) and the metrics endpoint (``core/telemetry_server.py``).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import field_validator, model_validator

from otelflow.config.model import Model
from otelflow.config.settings import go_split_host_port

METRICS_LEVELS = ("none", "basic", "normal", "detailed")

#: otelcol's default reader: Prometheus pull on localhost:8888.
DEFAULT_READERS: list[dict[str, Any]] = [
    {"pull": {"exporter": {"prometheus": {"host": "localhost", "port": 8888}}}}
]


class MetricsTelemetry(Model):
    level: str = "normal"
    readers: list[dict[str, Any]] = DEFAULT_READERS
    views: list[Any] | None = None
    exemplar_filter: str | None = None
    # v0.2 form, removed upstream; otelflow still serves it (listed as an upstream difference)
    address: str | None = None

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> str:
        # configtelemetry.Level reads its names case-insensitively
        text = "" if value is None else str(value)
        if text.lower() not in METRICS_LEVELS:
            raise ValueError(f'unknown metrics level "{text.lower()}"')
        return text.lower()

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            _, port = go_split_host_port(value)
            if not re.fullmatch(r"[0-9]+", port):
                raise ValueError(f'invalid port "{port}"')
        return value


class TelemetryConfig(Model):
    # logs are checked key by key by the log setup; traces and resource follow the OpenTelemetry
    # configuration schema and are passed on as they are
    logs: dict[str, Any] = {}
    metrics: MetricsTelemetry = MetricsTelemetry()
    traces: dict[str, Any] = {}
    resource: dict[str, Any] = {}

    @model_validator(mode="after")
    def _rules(self) -> "TelemetryConfig":
        m = self.metrics
        if m.level != "none" and not m.readers and m.address is None:
            raise ValueError("collector telemetry metrics reader should exist when metric level is not none")
        if m.views is not None and m.level != "detailed":
            raise ValueError("service::telemetry::metrics::views can only be set when service::telemetry::metrics::level is detailed")
        return self

    def upstream_incompatibilities(self) -> list[str]:
        if self.metrics.address is not None:
            return ["metrics::address: removed in otelcol (it rejects the key); otelflow still serves metrics there. "
                    "Use metrics::readers: [{pull: {exporter: {prometheus: {host: ..., port: ...}}}}]"]
        return []
