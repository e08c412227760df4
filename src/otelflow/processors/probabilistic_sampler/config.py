"""The configuration, checked as upstream decodes and validates it, and the names (modes,
error texts, attribute keys, metric names) the other modules share."""

from __future__ import annotations

import math
from typing import Any

from pydantic import field_validator, model_validator

from otelflow.config.model import Model
from otelflow.pdata.govalue import format_float_f6
from otelflow.processors.sampling.gocompat import float32, format_g32
from otelflow.processors.sampling.threshold import ERR_INCONSISTENT, MIN_SAMPLING_PROBABILITY, NUM_HEX_DIGITS


HASH_SEED, PROPORTIONAL, EQUALIZING = "hash_seed", "proportional", "equalizing"
TRACE_ID_SOURCE, RECORD_SOURCE = "traceID", "record"

# 14-bit hash buckets of the hash_seed mode
_BUCKETS_LG2 = 14
_BUCKETS = 1 << _BUCKETS_LG2
_BUCKET_MASK = _BUCKETS - 1
_SCALE_FACTOR32 = float32(_BUCKETS / 100.0)

# Errors that are part of normal operation: logged at debug level, as upstream does.
ERR_INCONSISTENT_ARRIVING = "inconsistent arriving threshold: item should not have been sampled"
ERR_MISSING_RANDOMNESS = "missing randomness"
ERR_RANDOMNESS_IN_USE = "item has sampling randomness, equalizing or proportional mode recommended"
ERR_THRESHOLD_IN_USE = "item has sampling threshold, equalizing or proportional mode recommended"
_ORDINARY = frozenset({ERR_INCONSISTENT_ARRIVING, ERR_MISSING_RANDOMNESS, ERR_RANDOMNESS_IN_USE, ERR_THRESHOLD_IN_USE, ERR_INCONSISTENT})

# policy names, as upstream's count_*_sampled metrics label them
MISSING = "missing_randomness"
TRACE_ID_HASH = "trace_id_hash"
TRACE_ID_W3C = "trace_id_w3c"
SAMPLING_RANDOMNESS = "sampling_randomness"
SAMPLING_PRIORITY = "sampling_priority"

PRIORITY_ATTRIBUTE = "sampling.priority"
LOG_THRESHOLD_ATTRIBUTE = "sampling.threshold"
LOG_RANDOMNESS_ATTRIBUTE = "sampling.randomness"

TRACES_METRIC = "otelcol_processor_probabilistic_sampler_count_traces_sampled"
LOGS_METRIC = "otelcol_processor_probabilistic_sampler_count_logs_sampled"

_UINT32_MAX = 0xFFFFFFFF


def _go_type(value: Any) -> str:
    """How Go's config decoder names the type of a YAML value in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


class Config(Model):
    sampling_percentage: float = 0.0
    hash_seed: int = 0
    mode: str = ""
    fail_closed: bool = True
    sampling_precision: int = 4
    attribute_source: str = TRACE_ID_SOURCE
    from_attribute: str = ""
    sampling_priority: str = ""

    # Upstream decodes without weak typing: no strings for numbers, no numbers for booleans; a float
    # goes into an integer field truncated, and an integer into the uint32 seed wraps around.
    @field_validator("sampling_percentage", mode="before")
    @classmethod
    def _float32(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected type 'float32', got unconvertible type '{_go_type(value)}'")
        return float32(float(value))

    @field_validator("hash_seed", mode="before")
    @classmethod
    def _uint32(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected type 'uint32', got unconvertible type '{_go_type(value)}'")
        if value < 0:
            raise ValueError(f"cannot parse value as 'uint32': {value} overflows uint")
        return int(value) & _UINT32_MAX

    @field_validator("sampling_precision", mode="before")
    @classmethod
    def _int(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected type 'int', got unconvertible type '{_go_type(value)}'")
        return int(value)

    @field_validator("fail_closed", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"expected type 'bool', got unconvertible type '{_go_type(value)}'")
        return value

    @field_validator("mode", mode="after")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in ("", HASH_SEED, PROPORTIONAL, EQUALIZING):
            quoted = value.replace("\\", "\\\\").replace('"', '\\"')
            raise ValueError(f'unsupported sampler mode "{quoted}"')
        return value

    @model_validator(mode="after")
    def _check(self) -> "Config":
        pct = self.sampling_percentage
        if math.isinf(pct) or math.isnan(pct):
            raise ValueError(f"sampling rate is invalid: {format_float_f6(pct)}%")
        ratio = pct / 100.0
        if ratio < 0:
            raise ValueError(f"sampling rate is negative: {format_float_f6(pct)}%")
        if ratio != 0 and ratio < MIN_SAMPLING_PROBABILITY:
            raise ValueError(f"sampling rate is too small: {format_g32(pct)}%")
        if self.attribute_source and self.attribute_source not in (TRACE_ID_SOURCE, RECORD_SOURCE):
            raise ValueError(f"invalid attribute source: {self.attribute_source}. Expected: {TRACE_ID_SOURCE} or {RECORD_SOURCE}")
        if self.sampling_precision == 0:
            raise ValueError("invalid sampling precision: 0")
        if self.sampling_precision > NUM_HEX_DIGITS:
            raise ValueError(f"sampling precision is too great, should be <= 14: {self.sampling_precision}")
        return self
