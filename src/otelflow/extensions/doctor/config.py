"""The doctor extension's settings: thresholds, sampling and the caps that bound its memory."""

from __future__ import annotations

from pydantic import Field, model_validator

from otelflow.config.model import Duration, Model


class Config(Model):
    # spans whose attributes (kept + dropped by the SDK) exceed this are reported with their keys
    max_span_attributes: int = Field(128, ge=1)
    # a metric label with more distinct values than this (estimated) is a cardinality bomb
    max_label_values: int = Field(1000, ge=2)
    # metric data points looked at per metric per request (a random sample beyond it)
    max_points_per_metric: int = Field(1000, ge=1)
    # share of traces (by trace ID, the same in every worker) whose spans feed the trace checks
    trace_sampling: float = Field(1.0, gt=0.0, le=1.0)
    # spans kept for the trace checks; a check runs only where the buffer covers the whole window
    max_tracked_spans: int = Field(20000, ge=100)
    # how long a parent may take to arrive after its child before the child counts as an orphan
    window: Duration = 30.0
    # a child starting this much before its remote parent (or a server span ending after its client) is clock skew
    clock_skew_threshold: Duration = 0.1
    # occurrences a trace-shape finding needs before it is reported
    min_occurrences: int = Field(3, ge=1)
    # caps on what is remembered: services, metric labels, span keys per service
    max_services: int = Field(200, ge=1)
    max_metric_labels: int = Field(2000, ge=1)
    max_keys_per_service: int = Field(256, ge=1)
    # how often the trace checks run and, with several workers, each worker writes its summary
    interval: Duration = 5.0
    # a finding not seen again for this long is dropped
    forget_after: Duration = 3600.0

    @model_validator(mode="after")
    def _window_covers_interval(self) -> "Config":
        if self.window < 2 * self.interval:
            raise ValueError(f"window ({self.window}s) must be at least twice the interval ({self.interval}s): "
                             f"workers' summaries arrive once per interval")
        return self

    def upstream_incompatibilities(self) -> list[str]:
        return ["doctor is an otelflow extension; otelcol has no such component"]
