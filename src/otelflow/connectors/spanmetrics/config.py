"""The ``spanmetrics`` connector's config: every key of upstream's v0.161.0 connector, its defaults
(``metrics_flush_interval`` 60s, histogram unit ``ms``, namespace ``traces.span.metrics``,
cumulative temporality, 1000 cached resources, 5 exemplars per point) and its validation messages."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from otelflow.config.model import Duration, Model
from otelflow.connectors.spanmetrics.glob import compile_glob
from otelflow.ottl.funcs.timefuncs import duration_string

DELTA = "AGGREGATION_TEMPORALITY_DELTA"
CUMULATIVE = "AGGREGATION_TEMPORALITY_CUMULATIVE"
DEFAULT_NAMESPACE = "traces.span.metrics"
# The four dimensions every series has, plus collector.instance.id (upstream's beta gate
# connector.spanmetrics.includeCollectorInstanceID is on by default).
SERVICE_NAME = "service.name"
SPAN_NAME = "span.name"
SPAN_KIND = "span.kind"
STATUS_CODE = "status.code"
COLLECTOR_INSTANCE = "collector.instance.id"
RESERVED_DIMENSIONS = (SERVICE_NAME, SPAN_KIND, STATUS_CODE, SPAN_NAME, COLLECTOR_INSTANCE)

DEFAULT_BUCKETS_MS = [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000]


class Dimension(Model):
    name: str = ""
    default: str | None = None
    glob: str = ""


class ExplicitHistogram(Model):
    buckets: list[Duration] | None = None


class ExponentialHistogram(Model):
    max_size: int = 0


class Histogram(Model):
    disable: bool = False
    unit: str = "ms"
    exponential: ExponentialHistogram | None = None
    explicit: ExplicitHistogram | None = None
    dimensions: list[Dimension] = []

    @field_validator("unit", mode="before")
    @classmethod
    def _unit(cls, value: Any) -> str:
        text = str(value).lower()
        if text not in ("ms", "s"):
            raise ValueError(f'unknown Unit "{text}", allowed units are "ms" and "s"')
        return text


class Exemplars(Model):
    enabled: bool = False
    max_per_data_point: int = 5


class Events(Model):
    enabled: bool = False
    dimensions: list[Dimension] = []


def _check_dimensions(dimensions: list[Dimension]) -> None:
    names = set(RESERVED_DIMENSIONS)
    globs = {}
    for d in dimensions:
        if d.name and d.glob:
            raise ValueError(f'dimension entry must set only one of `name` or `glob`, got both: name="{d.name}" glob="{d.glob}"')
        if not d.name and not d.glob:
            raise ValueError("dimension entry must set one of `name` or `glob`")
        if d.name:
            if d.name in names:
                raise ValueError(f'duplicate dimension name "{d.name}"')
            names.add(d.name)
        else:
            if d.default is not None:
                raise ValueError(f'`default` is not supported on `glob` dimension "{d.glob}"')
            try:
                globs[d.glob] = compile_glob(d.glob)
            except ValueError as exc:
                raise ValueError(f'invalid dimension glob "{d.glob}": {exc}') from None
    for name in sorted(names):
        for text, pattern in globs.items():
            if pattern.match(name):
                raise ValueError(f'duplicate dimension name "{name}" conflicting with glob "{text}"')


class Config(Model):
    dimensions: list[Dimension] = []
    calls_dimensions: list[Dimension] = []
    exclude_dimensions: list[str] = []
    dimensions_cache_size: int = 0  # deprecated upstream; accepted and unused
    resource_metrics_cache_size: int = 1000
    resource_metrics_key_attributes: list[str] = []
    aggregation_temporality: str = CUMULATIVE
    histogram: Histogram = Histogram()
    metrics_flush_interval: Duration = 60.0
    metrics_expiration: Duration = 0.0
    series_expiration: Duration = 0.0
    metric_timestamp_cache_size: int | None = None
    namespace: str = DEFAULT_NAMESPACE
    exemplars: Exemplars = Exemplars()
    events: Events = Events()
    include_instrumentation_scope: list[str] = []
    aggregation_cardinality_limit: int = 0
    add_resource_attributes: bool = False
    enable_metrics_sampling_method: bool = False

    @field_validator("histogram", "exemplars", "events", mode="before")
    @classmethod
    def _present(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        for label, dims in (("dimensions", self.dimensions), ("calls dimensions", self.calls_dimensions),
                            ("histogram dimensions", self.histogram.dimensions)):
            try:
                _check_dimensions(dims)
            except ValueError as exc:
                raise ValueError(f"failed validating {label}: {exc}") from None
        if self.events.enabled:
            try:
                if not self.events.dimensions:
                    raise ValueError("no dimensions configured for events")
                _check_dimensions(self.events.dimensions)
            except ValueError as exc:
                raise ValueError(f"failed validating event dimensions: {exc}") from None
        if self.histogram.explicit is not None and self.histogram.exponential is not None:
            raise ValueError("use either `explicit` or `exponential` buckets histogram")
        if self.metrics_flush_interval < 0:
            raise ValueError(f"invalid metrics_flush_interval: {_go(self.metrics_flush_interval)}, the duration should be positive")
        if self.metrics_expiration < 0:
            raise ValueError(f"invalid metrics_expiration: {_go(self.metrics_expiration)}, the duration should be positive")
        if self.series_expiration < 0:
            raise ValueError(f"invalid series_expiration: {_go(self.series_expiration)}, the duration should be positive")
        if self.delta and self.delta_timestamp_cache_size <= 0:
            raise ValueError(
                f"invalid delta timestamp cache size: {self.delta_timestamp_cache_size}, "
                "the maximum number of the items in the cache should be positive"
            )
        if self.aggregation_cardinality_limit < 0:
            raise ValueError(f"invalid aggregation_cardinality_limit: {self.aggregation_cardinality_limit}, the limit should be positive")
        if self.exemplars.enabled and self.exemplars.max_per_data_point < 0:
            raise ValueError(f"invalid max_per_data_point: {self.exemplars.max_per_data_point}, the value should be positive")
        if self.resource_metrics_cache_size <= 0:
            raise ValueError("must provide a positive size")
        return self

    @property
    def delta(self) -> bool:
        # anything but the exact delta name means cumulative, as upstream
        return self.aggregation_temporality == DELTA

    @property
    def delta_timestamp_cache_size(self) -> int:
        return 1000 if self.metric_timestamp_cache_size is None else self.metric_timestamp_cache_size

    def bounds(self) -> list[float]:
        """Explicit bucket bounds in the histogram's unit."""
        divider = 1_000_000_000 if self.histogram.unit == "s" else 1_000_000
        if self.histogram.explicit is not None:
            # `explicit:` left empty (null) counts as absent, as configoptional does; a map without
            # `buckets` gives no bounds at all, as upstream's code does
            buckets = self.histogram.explicit.buckets or []
            return [float(round(b * 1e9)) / float(divider) for b in buckets]
        if self.histogram.unit == "s":
            return [b / 1000 for b in DEFAULT_BUCKETS_MS]
        return [float(b) for b in DEFAULT_BUCKETS_MS]


def _go(seconds: float) -> str:
    """A duration as Go's time.Duration prints it in upstream's messages (``-20s``)."""
    return duration_string(round(seconds * 1e9))
