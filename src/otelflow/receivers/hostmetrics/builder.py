"""Per-scraper ``metrics`` / ``resource_attributes`` config and the metrics builder, as mdatagen makes them.

Each scraper's config carries ``metrics: {name: {enabled, attributes, aggregation_strategy}}`` and
``resource_attributes: {name: {enabled, metrics_include, metrics_exclude}}``; the models are built
from ``metadata.SCRAPERS`` so every scraper has exactly upstream's keys and defaults. The builder
records data points (dropping attributes the user turned off and folding points that then collide
with the metric's aggregation strategy) and emits one ResourceMetrics per resource.

The ``@v1`` metrics follow upstream's migration gates: without ``…EmitV1SystemConventions`` they are
disabled (with upstream's warning); with it they follow their legacy metric, carry both the new and
the legacy attribute, and replace the legacy metric when both share a name.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from otelflow.config.model import Model
from otelflow.receivers.hostmetrics.metadata import SCRAPERS

STRATEGIES = ("sum", "avg", "min", "max")
SCOPE_PREFIX = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/"
SCHEMA_URLS = {"process": "https://opentelemetry.io/schemas/1.43.0"}
DEFAULT_SCHEMA_URL = "https://opentelemetry.io/schemas/1.9.0"
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


class FilterConfig(Model):
    """The collector's ``filter.Config``: one strict value or one regexp."""

    strict: str = ""
    regexp: str = ""

    @model_validator(mode="after")
    def _check(self) -> "FilterConfig":
        if not self.strict and not self.regexp:
            raise ValueError("must specify either strict or regex")
        if self.strict and self.regexp:
            raise ValueError("strict and regex cannot be used together")
        if self.regexp:
            try:
                re.compile(self.regexp)
            except re.error as exc:
                raise ValueError(f"error parsing regexp: {exc}") from None
        return self

    def matches(self, value: Any) -> bool:
        if self.strict:
            return value == self.strict
        return isinstance(value, str) and re.search(self.regexp, value) is not None


class ResourceAttributeConfig(Model):
    enabled: bool = False
    metrics_include: list[FilterConfig] | None = None
    metrics_exclude: list[FilterConfig] | None = None


def _metric_model(scraper: str, name: str, spec: dict) -> type[BaseModel]:
    keys = [key for key, _, _ in spec["attributes"]]
    fields: dict[str, Any] = {"enabled": (bool, spec["enabled"])}
    if keys and "@" not in name:
        default_attrs = [key for key, on, _ in spec["attributes"] if on]
        fields["attributes"] = (list[str], Field(default_factory=lambda d=default_attrs: list(d)))
        fields["aggregation_strategy"] = (str, "sum" if spec["kind"] == "sum" else "avg")

    def check(self):
        for attr in getattr(self, "attributes", ()):
            if attr not in keys:
                raise ValueError(f"metric {name} doesn't have an attribute {attr}, valid attributes: [{' '.join(keys)}]")
        strategy = getattr(self, "aggregation_strategy", "sum")
        if strategy not in STRATEGIES:
            raise ValueError(f'invalid aggregation strategy "{strategy}", valid strategies: [sum, avg, min, max]')
        return self

    title = "".join(p.capitalize() for p in re.split(r"[._@]", name)) + "MetricConfig"
    return create_model(title, __base__=Model, __validators__={"_check": model_validator(mode="after")(check)},
                        **fields)


def _section(title: str, entries: dict[str, tuple[Any, Any]]) -> type[BaseModel]:
    """A model whose keys are dotted names (``system.cpu.time``), held under safe field names."""
    fields = {f"f{i}": (tp, Field(default_factory=factory, alias=key))
              for i, (key, (tp, factory)) in enumerate(entries.items())}
    return create_model(title, __config__=ConfigDict(extra="forbid"), **fields)


def _metrics_section(scraper: str, metadata: dict | None = None) -> type[BaseModel]:
    entries = {}
    for name, spec in (metadata or SCRAPERS[scraper])["metrics"].items():
        model = _metric_model(scraper, name, spec)
        entries[name] = (model, model)
    return _section(f"{scraper.capitalize()}MetricsConfig", entries)


def _resource_section(scraper: str, metadata: dict | None = None) -> type[BaseModel]:
    entries = {}
    for name, spec in (metadata or SCRAPERS[scraper])["resource_attributes"].items():
        # a user's mapping is laid over the defaults, so ``enabled`` keeps its default when not given
        model = create_model("".join(p.capitalize() for p in name.split(".")) + "ResourceAttributeConfig",
                             __base__=ResourceAttributeConfig, enabled=(bool, spec["enabled"]))
        entries[name] = (model, model)
    return _section(f"{scraper.capitalize()}ResourceAttributesConfig", entries)


METRICS_MODELS = {name: _metrics_section(name) for name in SCRAPERS}
RESOURCE_MODELS = {name: _resource_section(name) for name in SCRAPERS}


def by_name(section: BaseModel) -> dict[str, Any]:
    """``{dotted name: config}`` of a metrics or resource_attributes section."""
    return {field.alias: getattr(section, key) for key, field in type(section).model_fields.items()}


class ScraperBase(Model):
    """What every scraper config has: mdatagen's metrics and resource_attributes sections."""

    def metrics_config(self) -> dict[str, Any]:
        return by_name(self.metrics)  # type: ignore[attr-defined]

    def resource_config(self) -> dict[str, ResourceAttributeConfig]:
        section = getattr(self, "resource_attributes", None)
        return by_name(section) if section is not None else {}


def scraper_fields(scraper: str, metadata: dict | None = None) -> dict[str, Any]:
    """The ``metrics`` and ``resource_attributes`` fields for a scraper's config model; ``metadata`` (same
    shape as one ``SCRAPERS`` entry) serves the other scraping receivers (redis, nginx, httpcheck)."""
    metrics = METRICS_MODELS[scraper] if metadata is None else _metrics_section(scraper, metadata)
    resource = RESOURCE_MODELS[scraper] if metadata is None else _resource_section(scraper, metadata)
    return {"metrics": (metrics, Field(default_factory=metrics)),
            "resource_attributes": (resource, Field(default_factory=resource))}


# ---------------------------------------------------------------------------------------------
# The builder


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


class _Metric:
    __slots__ = ("name", "emitted_name", "spec", "enabled", "attrs", "strategy", "points", "v1")

    def __init__(self, name: str, spec: dict, cfg: Any):
        self.name = name
        self.emitted_name = name.split("@", 1)[0]
        self.spec = spec
        self.enabled = cfg.enabled
        self.v1 = "@" in name
        all_keys = [k for k, _, _ in spec["attributes"]]
        self.attrs = list(getattr(cfg, "attributes", all_keys))
        self.strategy = getattr(cfg, "aggregation_strategy", "sum")
        # (start, ts, attrs tuple) -> [value, count]
        self.points: dict[tuple, list] = {}


class MetricsBuilder:
    """Buffers one scrape's data points and turns them into ResourceMetrics, as mdatagen's builder."""

    def __init__(self, scraper: str, cfg: ScraperBase, start_time_ns: int, version: str,
                 logger: logging.Logger | None = None, emit_v1: bool = False, dont_emit_v0: bool = False,
                 metadata: dict | None = None, scope: str | None = None, schema_url: str | None = None):
        self.scraper = scraper
        self.version = version
        self.start_time_ns = start_time_ns
        self.dont_emit_v0 = dont_emit_v0
        self.emit_v1 = emit_v1
        self.scope = scope if scope is not None else SCOPE_PREFIX + scraper + "scraper"
        self.schema_url = schema_url if schema_url is not None else SCHEMA_URLS.get(scraper, DEFAULT_SCHEMA_URL)
        specs = (metadata or SCRAPERS[scraper])["metrics"]
        user = cfg.metrics_config()
        self.metrics = {name: _Metric(name, spec, user[name]) for name, spec in specs.items()}
        self._migrate(cfg, logger or logging.getLogger(__name__))
        self.resource_cfg = cfg.resource_config()
        self.out: list[metrics_pb2.ResourceMetrics] = []

    def _migrate(self, cfg: ScraperBase, log: logging.Logger) -> None:
        set_by_user = {name for name, m in cfg.metrics_config().items() if "enabled" in m.model_fields_set}
        for name, m in self.metrics.items():
            target = m.spec["migrates_to"]
            if not target or target not in self.metrics:
                continue
            new = self.metrics[target]
            if self.emit_v1:
                if m.enabled and target not in set_by_user:
                    new.enabled = True
                if m.enabled and new.enabled and new.emitted_name == m.name:
                    legacy_keys = [k for k, _, _ in m.spec["attributes"]]
                    new_keys = [k for k, _, _ in new.spec["attributes"]]
                    if m.spec["kind"] != new.spec["kind"] or legacy_keys != new_keys:
                        m.enabled = False
                        log.warning("[WARNING] Legacy metric `%s` disabled: same emitted name as `%s` with different "
                                    "attributes; only latest will be emitted with combined attributes", name, target)
            elif new.enabled:
                new.enabled = False
                log.warning("[WARNING] metric `%s` requires feature gate `scraper.%s.EmitV1SystemConventions` to be "
                            "enabled, metric has been disabled", target, self.scraper)

    def enabled(self, name: str) -> bool:
        m = self.metrics[name]
        if m.enabled:
            return True
        target = m.spec["migrates_to"]
        return bool(target) and self.metrics[target].enabled

    def record(self, name: str, ts_ns: int, value: float | int, **attrs: Any) -> None:
        """One data point; ``attrs`` by emitted key, plus the @v1 metric's keys when it has one."""
        m = self.metrics[name]
        target = m.spec["migrates_to"]
        if target and self.emit_v1:
            self._record_v1(self.metrics[target], ts_ns, value, attrs)
        if self.dont_emit_v0 and target:
            return
        if not m.enabled:
            return
        kept = tuple((k, attrs[k]) for k, _, _ in m.spec["attributes"] if k in m.attrs and k in attrs)
        key = (self.start_time_ns, ts_ns, kept)
        point = m.points.get(key)
        value = float(value) if m.spec["value_type"] == "double" else int(value)
        if point is None:
            m.points[key] = [value, 1]
            return
        if m.strategy in ("sum", "avg"):
            point[0] += value
            point[1] += 1
        elif m.strategy == "min":
            point[0] = min(point[0], value)
        else:
            point[0] = max(point[0], value)

    def _record_v1(self, m: _Metric, ts_ns: int, value, attrs: dict) -> None:
        if not m.enabled:
            return
        keys = [k for k, _, _ in m.spec["attributes"]]
        legacy = [k for k in attrs if k not in keys]
        kept = tuple((k, attrs[k]) for k in keys + legacy if k in attrs)
        value = float(value) if m.spec["value_type"] == "double" else int(value)
        m.points[(self.start_time_ns, ts_ns, kept, len(m.points))] = [value, 1]

    def emit_for_resource(self, resource: dict[str, Any] | None = None, start_override_ns: int | None = None) -> None:
        """Moves the buffered points into one ResourceMetrics (dropped if a resource filter says so)."""
        attrs = {k: v for k, v in (resource or {}).items()
                 if k in self.resource_cfg and self.resource_cfg[k].enabled}
        metrics = []
        for m in self.metrics.values():
            if m.points and m.enabled:
                metrics.append(self._to_proto(m, start_override_ns))
            m.points = {}
        if not metrics:
            return
        for key, cfg in self.resource_cfg.items():
            if cfg.metrics_include and key in attrs and not any(f.matches(attrs[key]) for f in cfg.metrics_include):
                return
            if cfg.metrics_exclude and key in attrs and any(f.matches(attrs[key]) for f in cfg.metrics_exclude):
                return
        rm = metrics_pb2.ResourceMetrics(schema_url=self.schema_url)
        rm.resource.attributes.extend(KeyValue(key=k, value=_any(v)) for k, v in attrs.items())
        sm = rm.scope_metrics.add()
        sm.scope.name = self.scope
        sm.scope.version = self.version
        sm.metrics.extend(metrics)
        self.out.append(rm)

    def emit(self) -> list[metrics_pb2.ResourceMetrics]:
        self.emit_for_resource()
        out, self.out = self.out, []
        return out

    def _to_proto(self, m: _Metric, start_override_ns: int | None) -> metrics_pb2.Metric:
        spec = m.spec
        metric = metrics_pb2.Metric(name=m.emitted_name, description=spec["description"], unit=spec["unit"])
        if spec["kind"] == "sum":
            body = metric.sum
            body.aggregation_temporality = CUMULATIVE
            body.is_monotonic = spec["monotonic"]
        else:
            body = metric.gauge
        is_double = spec["value_type"] == "double"
        for key, (value, count) in m.points.items():
            start, ts, attrs = key[0], key[1], key[2]
            if m.strategy == "avg" and count > 1:
                value = value / count if is_double else int(value / count)
            dp = body.data_points.add(start_time_unix_nano=start_override_ns or start, time_unix_nano=ts)
            if is_double:
                dp.as_double = value
            else:
                dp.as_int = value
            dp.attributes.extend(KeyValue(key=k, value=_any(v)) for k, v in attrs)
        return metric
