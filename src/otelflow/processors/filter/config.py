"""The filter processor's config, as upstream's filterprocessor Config (v0.161.0).

Three generations of keys live side by side, and upstream's Validate refuses mixing them per signal:

* ``trace_conditions`` / ``metric_conditions`` / ``log_conditions`` (``profile_conditions``): OTTL
  conditions whose context is inferred from their paths, given as a flat list of strings or as
  ``{context, conditions, error_mode}`` groups (not both in one list);
* ``traces.{resource,span,spanevent}``, ``metrics.{resource,metric,datapoint}``,
  ``logs.{resource,log_record}`` (``profiles.{resource,profile}``): OTTL conditions per context;
* the legacy match properties ``spans.include/exclude``, ``metrics.include/exclude`` (metric names,
  resource attributes) and ``logs.include/exclude`` (bodies, severities, attributes).
"""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from otelflow.ottl.collection import parse_error_mode
from otelflow.processors.attraction import DropNulls
from otelflow.processors.filtermatch import AttributeConfig, MatchProperties, RegexpConfig

CONTEXT_IDS = ("resource", "scope", "span", "spanevent", "metric", "datapoint", "log", "profile")
_CONDITION_LISTS = ("trace_conditions", "metric_conditions", "log_conditions", "profile_conditions")
MIXED_STYLES = ("configuring multiple configuration styles is not supported, please use only Basic "
                "configuration or only Advanced configuration")

# logs.include/exclude severity_number.min: the names (case-insensitive) and numbers upstream accepts
SEVERITIES: dict[str, int] = {str(n): n for n in range(1, 25)}
for _i, _name in enumerate(("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")):
    for _k, _suffix in enumerate(("", "2", "3", "4")):
        SEVERITIES[_name + _suffix] = _i * 4 + _k + 1


def _error_mode(value: Any) -> str:
    return parse_error_mode(value)


class ContextConditions(DropNulls):
    context: str = ""
    conditions: list[str] = []
    error_mode: str = ""

    @model_validator(mode="after")
    def _check(self) -> "ContextConditions":
        if self.context:
            ctx = self.context.lower()
            if ctx not in CONTEXT_IDS:
                raise ValueError(f"unknown context {ctx}")
            self.context = ctx
        if self.error_mode:
            self.error_mode = _error_mode(self.error_mode)
        return self


class MatchConfig(DropNulls):
    include: MatchProperties | None = None
    exclude: MatchProperties | None = None


class MetricMatchProperties(DropNulls):
    match_type: str = ""
    regexp: RegexpConfig | None = None
    metric_names: list[str] = []
    expressions: list[str] = []
    resource_attributes: list[AttributeConfig] = []


class MetricFilters(DropNulls):
    include: MetricMatchProperties | None = None
    exclude: MetricMatchProperties | None = None
    regexp: RegexpConfig | None = None
    resource: list[str] | None = None
    metric: list[str] | None = None
    datapoint: list[str] | None = None


class TraceFilters(DropNulls):
    resource: list[str] | None = None
    span: list[str] | None = None
    spanevent: list[str] | None = None


class SeverityNumberProperties(DropNulls):
    min: str = ""
    match_undefined: bool = False

    def validate_min(self) -> None:
        if self.min and self.min.upper() not in SEVERITIES:
            raise ValueError(f"'{self.min}' is not a valid severity: not a valid severity")

    def number(self) -> int:
        return SEVERITIES.get(self.min.upper(), 0)


class LogMatchProperties(DropNulls):
    match_type: str = ""
    resource_attributes: list[AttributeConfig] = []
    record_attributes: list[AttributeConfig] = []
    severity_texts: list[str] = []
    severity_number: SeverityNumberProperties | None = None
    bodies: list[str] = []

    def is_empty(self) -> bool:
        return not (self.resource_attributes or self.record_attributes or self.severity_texts or self.bodies
                    or self.severity_number is not None)

    def match_properties(self) -> MatchProperties:
        """The generic match properties upstream converts these to (no regexp cache settings)."""
        data: dict[str, Any] = {
            "match_type": self.match_type,
            "resources": [a.model_dump() for a in self.resource_attributes],
            "attributes": [a.model_dump() for a in self.record_attributes],
            "log_severity_texts": list(self.severity_texts),
            "log_bodies": list(self.bodies),
        }
        if self.severity_number is not None:
            data["log_severity_number"] = {"min": self.severity_number.number(),
                                           "match_undefined": self.severity_number.match_undefined}
        return MatchProperties.model_validate(data)


class LogFilters(DropNulls):
    include: LogMatchProperties | None = None
    exclude: LogMatchProperties | None = None
    resource: list[str] | None = None
    log_record: list[str] | None = None


class ProfileFilters(DropNulls):
    resource: list[str] | None = None
    profile: list[str] | None = None


class Config(DropNulls):
    error_mode: str = "ignore"
    spans: MatchConfig = MatchConfig()
    metrics: MetricFilters = MetricFilters()
    logs: LogFilters = LogFilters()
    traces: TraceFilters = TraceFilters()
    profiles: ProfileFilters = ProfileFilters()
    trace_conditions: list[ContextConditions] | None = None
    metric_conditions: list[ContextConditions] | None = None
    log_conditions: list[ContextConditions] | None = None
    profile_conditions: list[ContextConditions] | None = None

    @model_validator(mode="before")
    @classmethod
    def _flat_conditions(cls, data: Any) -> Any:
        """Upstream's Unmarshal: a list of strings is one group without a context."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in _CONDITION_LISTS:
            if name not in data or data[name] is None:
                continue
            values = data[name]
            if not isinstance(values, list):
                raise ValueError(f"invalid {name} type, expected: array, got: %!t({_go_type(values)}={values})")
            if not values:
                continue
            groups: list[Any] = []
            flat: list[Any] = []
            for value in values:
                if value is None:
                    raise ValueError("condition cannot be empty")
                if isinstance(value, str):
                    if groups:
                        raise ValueError(MIXED_STYLES)
                    flat.append(value)
                else:
                    if flat:
                        raise ValueError(MIXED_STYLES)
                    groups.append(value)
            if flat:
                groups.append({"conditions": flat})
            data[name] = groups
        return data

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        self.error_mode = _error_mode(self.error_mode)
        from otelflow.processors.filter.build import validate_config
        validate_config(self)
        return self


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__
