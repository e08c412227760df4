"""The ``prometheus`` exporter's config: every key of upstream's v0.161.0 exporter, with its defaults."""

from __future__ import annotations

import re
from typing import Any

from pydantic import field_validator, model_validator

from otelflow.config.model import Duration, Model
from otelflow.config.settings import CORSSettings, AuthRef, QueueSettings, TLSServerSettings

UNDERSCORE_ESCAPING_WITH_SUFFIXES = "UnderscoreEscapingWithSuffixes"
UNDERSCORE_ESCAPING_WITHOUT_SUFFIXES = "UnderscoreEscapingWithoutSuffixes"
NO_UTF8_ESCAPING_WITH_SUFFIXES = "NoUTF8EscapingWithSuffixes"
NO_TRANSLATION = "NoTranslation"
STRATEGIES = {
    # strategy: (add suffixes, UTF-8 names allowed)
    UNDERSCORE_ESCAPING_WITH_SUFFIXES: (True, False),
    UNDERSCORE_ESCAPING_WITHOUT_SUFFIXES: (False, False),
    NO_UTF8_ESCAPING_WITH_SUFFIXES: (True, True),
    NO_TRANSLATION: (False, True),
}


class ResourceLabels(Model):
    """pkg/resourcetotelemetry settings (``resource_to_telemetry_conversion``, ``resource_constant_labels``)."""

    enabled: bool = False
    exclude_service_attributes: bool = False
    included: list[str] = []
    excluded: list[str] = []

    def is_empty(self) -> bool:
        return not self.enabled and not self.exclude_service_attributes and not self.included and not self.excluded

    @model_validator(mode="after")
    def _check(self) -> "ResourceLabels":
        if (self.enabled or self.exclude_service_attributes) and (self.included or self.excluded):
            raise ValueError(
                "cannot configure both legacy enabled/exclude_service_attributes and included/excluded patterns; "
                "enabled and exclude_service_attributes are deprecated"
            )
        return self


class Config(Model):
    # confighttp.ServerConfig (squashed)
    endpoint: str = ""
    transport: str = "tcp"
    tls: TLSServerSettings | None = None
    cors: CORSSettings | None = None
    auth: AuthRef | None = None
    max_request_body_size: int = 0
    include_metadata: bool = False
    response_headers: dict[str, str] | list[dict[str, str]] = {}
    compression_algorithms: list[str] = []
    read_timeout: Duration = 0.0
    read_header_timeout: Duration = 60.0
    write_timeout: Duration = 30.0
    idle_timeout: Duration = 60.0
    keep_alives_enabled: bool = True
    middlewares: list[dict[str, Any]] = []
    keepalive: dict[str, Any] | None = None
    # exporterhelper's queue: accepted; the exporter only updates memory, so it has no use for one
    sending_queue: QueueSettings | None = None
    # the exporter's own keys
    namespace: str = ""
    const_labels: dict[str, str] = {}
    send_timestamps: bool = False
    metric_expiration: Duration = 300.0
    resource_to_telemetry_conversion: ResourceLabels = ResourceLabels()
    resource_constant_labels: ResourceLabels = ResourceLabels()
    enable_open_metrics: bool = False
    without_scope_info: bool = False
    add_metric_suffixes: bool = True
    translation_strategy: str = ""

    @field_validator("const_labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("resource_to_telemetry_conversion", "resource_constant_labels", mode="before")
    @classmethod
    def _present(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        # upstream's Config.Validate, in its order and words
        rcl = self.resource_constant_labels
        if rcl.enabled or rcl.exclude_service_attributes:
            raise ValueError(
                "enabled and exclude_service_attributes are not supported under resource_constant_labels; "
                "use included and excluded instead"
            )
        if not self.resource_to_telemetry_conversion.is_empty() and not rcl.is_empty():
            raise ValueError(
                "cannot configure both resource_to_telemetry_conversion and resource_constant_labels; "
                "resource_to_telemetry_conversion is deprecated"
            )
        if self.translation_strategy and self.translation_strategy not in STRATEGIES:
            raise ValueError(f"invalid translation_strategy: {self.translation_strategy}")
        if not self.endpoint.strip():
            raise ValueError("expecting a non-blank address to run the Prometheus metrics handler")
        return self

    def naming(self) -> tuple[bool, bool]:
        """(add suffixes, UTF-8 allowed). As upstream v0.161.0, whose feature gate
        exporter.prometheusexporter.DisableAddMetricSuffixes is beta (on): ``add_metric_suffixes`` is
        ignored and the translation strategy decides, suffixes on by default."""
        if self.translation_strategy:
            return STRATEGIES[self.translation_strategy]
        return True, False

    def resource_labels(self) -> ResourceLabels | None:
        """Which resource attributes become data point labels, as resourcetotelemetry wraps upstream."""
        if not self.resource_constant_labels.is_empty():
            return self.resource_constant_labels
        if not self.resource_to_telemetry_conversion.is_empty():
            return self.resource_to_telemetry_conversion
        return None


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A resourcetotelemetry pattern: ``*`` any run, ``?`` any one character, nothing escapes."""
    return re.compile("(?s)^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$")


class ResourceAttributeFilter:
    """Which resource attributes to copy onto every data point (resourcetotelemetry's wrapper)."""

    SERVICE_KEYS = ("service.name", "service.instance.id", "service.namespace")

    def __init__(self, settings: ResourceLabels):
        self.patterns = bool(settings.included or settings.excluded)
        self.enabled = settings.enabled
        self.exclude_service = settings.exclude_service_attributes
        self.match_all = settings.included == ["*"] and not settings.excluded
        self.included = [glob_regex(p) for p in settings.included]
        self.excluded = [glob_regex(p) for p in settings.excluded]
        self.has_included = bool(settings.included)
        self.has_excluded = bool(settings.excluded)

    @property
    def active(self) -> bool:
        return self.patterns or self.enabled

    def wants(self, key: str) -> bool:
        if self.patterns:
            if self.match_all:
                return True
            if any(r.match(key) for r in self.excluded):
                return False
            if not self.has_included:
                return self.has_excluded
            return any(r.match(key) for r in self.included)
        if not self.enabled:
            return False
        return not (self.exclude_service and key in self.SERVICE_KEYS)
