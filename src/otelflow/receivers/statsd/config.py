"""Config of the ``statsd`` receiver: upstream v0.161.0's keys, defaults and validation messages."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from otelflow.config.model import Duration, Model
from otelflow.core import featuregates
from otelflow.pdata.expohisto import MAXIMUM_MAX_SIZE, MIN_SIZE

STATSD_TYPES = ("timing", "timer", "histogram", "distribution")
OBSERVER_TYPES = ("gauge", "summary", "histogram")
COUNTER_TYPES = ("int", "float", "stochastic_int")

# upstream's only statsd gate (alpha, off, since v0.159.0): it decides is_monotonic_counter's default
# when the config is read; a value set in the config wins either way, as upstream's factory default
MONOTONIC_COUNTER_DEFAULT = featuregates.REGISTRY.register(
    "receiver.statsd.monotonicCounterDefault", featuregates.ALPHA,
    "When enabled, changes the default value of is_monotonic_counter to true, so that statsd counters are "
    "treated as monotonic sums by default. Explicitly setting is_monotonic_counter in the receiver config "
    "always takes precedence over this feature gate.")
# confignet accepts these names; the receiver serves the udp, tcp and unixgram families
TRANSPORTS = Literal["tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "ip", "ip4", "ip6", "unix", "unixgram",
                     "unixpacket", "npipe", ""]


class ExplicitBucket(Model):
    matcher_pattern: str = ""
    buckets: list[float] = []


class HistogramSettings(Model):
    max_size: int = 0
    explicit_buckets: list[ExplicitBucket] | None = None


class SummarySettings(Model):
    percentiles: list[float] = []


class TimerHistogramMapping(Model):
    statsd_type: str = ""
    observer_type: str = ""
    histogram: HistogramSettings = HistogramSettings()
    summary: SummarySettings = SummarySettings()


def _default_mapping() -> list[TimerHistogramMapping]:
    return [TimerHistogramMapping(statsd_type=t, observer_type="gauge") for t in ("timer", "histogram", "distribution")]


class Config(Model):
    endpoint: str = "localhost:8125"
    transport: TRANSPORTS = "udp"
    aggregation_interval: Duration = 60.0
    enable_ip_only_aggregation: bool = False
    ignore_host: bool = False
    enable_metric_type: bool = False
    enable_simple_tags: bool = False
    is_monotonic_counter: bool = Field(default_factory=lambda: MONOTONIC_COUNTER_DEFAULT.enabled)
    counter_type: str = "int"
    timer_histogram_mapping: list[TimerHistogramMapping] = _default_mapping()
    socket_permissions: int = 0o622
    socket_buffer_size: int = 0

    @model_validator(mode="after")
    def _validate(self) -> "Config":
        errors: list[str] = []
        if self.aggregation_interval <= 0:
            errors.append("aggregation_interval must be a positive duration")
        if self.counter_type not in ("", *COUNTER_TYPES):
            errors.append(f"invalid counter_type: {self.counter_type}, must be one of: int, float, stochastic_int")
        missing = False
        for m in self.timer_histogram_mapping:
            if not m.statsd_type:
                missing = True
                break
            if m.statsd_type not in STATSD_TYPES:
                errors.append(f"statsd_type is not a supported mapping for histogram and timing metrics: {m.statsd_type}")
            if not m.observer_type:
                missing = True
                break
            if m.observer_type not in OBSERVER_TYPES:
                errors.append(f"observer_type is not supported for histogram and timing metrics: {m.observer_type}")
            h = m.histogram
            if m.observer_type == "histogram":
                if h.max_size != 0 and not MIN_SIZE <= h.max_size <= MAXIMUM_MAX_SIZE:
                    errors.append(f"histogram max_size out of range: {h.max_size}")
                if h.explicit_buckets is not None:
                    errors.extend(_bucket_errors(h.explicit_buckets))
            elif h.max_size != 0 or h.explicit_buckets is not None:
                errors.append("histogram configuration requires observer_type: histogram")
            if m.summary.percentiles:
                for p in m.summary.percentiles:
                    if p > 100 or p < 0:
                        errors.append(f"summary percentiles out of [0, 100] range: {_go_float(p)}")
                if m.observer_type != "summary":
                    errors.append("summary configuration requires observer_type: summary")
        if missing:
            errors.append("must specify object id for all TimerHistogramMappings")
        if errors:
            raise ValueError("; ".join(errors))
        return self


def _bucket_errors(buckets: list[ExplicitBucket]) -> list[str]:
    errors: list[str] = []
    for i, eb in enumerate(buckets):
        if not eb.matcher_pattern:
            errors.append(f"explicit bucket [{i}] matcher_pattern must not be empty")
        try:
            re.compile(eb.matcher_pattern)
        except re.error as exc:
            errors.append(f"explicit bucket [{i}] matcher_pattern is not a valid regular expression: {exc}")
        if not eb.buckets:
            errors.append(f"explicit bucket [{i}] buckets must not be empty")
            return errors
        if any(a > b for a, b in zip(eb.buckets, eb.buckets[1:])):
            shown = " ".join(_go_float(b) for b in eb.buckets)
            errors.append(f"explicit bucket [{i}] buckets are not unique or not ascendingly sorted [{shown}]")
    return errors


def _go_float(value: float) -> str:
    """A float64 as Go's %v prints it (5, 0.5, 1e+21)."""
    text = repr(float(value))
    if text.endswith(".0"):
        text = text[:-2]
    if "e" in text:
        mantissa, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exp.lstrip('+-').rjust(2, '0')}"
    return text
