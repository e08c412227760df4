"""The ``tail_sampling`` config: upstream's keys, defaults and errors (contrib v0.161.0), plus the
otelflow ``sampling:`` route rule on a top-level policy.

Upstream decodes strictly (no string-to-number or number-to-string conversion) except that a policy
item keeps every key it does not know whose value is a map (its ``ExtensionCfg``, meant for policy
extensions). otelflow does the same: such keys are accepted, logged and ignored; other unknown keys
are errors. Upstream reports policy errors when the processor starts; otelflow reports them, with
upstream's words, when the config is validated.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from otelflow.config.model import Duration, Model

_LIMITS = {"int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
           "uint32": (0, (1 << 32) - 1), "uint64": (0, (1 << 64) - 1)}


def _ranged(kind: str):
    lo, hi = _LIMITS[kind]

    def check(value: int) -> int:
        if not lo <= value <= hi:
            raise ValueError(f"cannot parse value as '{kind}': {value} overflows {'uint' if lo == 0 else 'int'}")
        return value

    return Annotated[int, AfterValidator(check)]


Int32, Int64, UInt32, UInt64 = _ranged("int32"), _ranged("int64"), _ranged("uint32"), _ranged("uint64")


class _Strict(Model):
    """No type conversions, as upstream's decoder; a key set to null means "unset"."""

    model_config = ConfigDict(extra="forbid", strict=True, coerce_numbers_to_str=False)

    @model_validator(mode="before")
    @classmethod
    def _nulls_unset(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class LatencyCfg(_Strict):
    threshold_ms: Int64 = 0
    upper_threshold_ms: Int64 = 0


class NumericAttributeCfg(_Strict):
    key: str = ""
    min_value: Int64 = 0
    max_value: Int64 = 0
    invert_match: bool = False


class ProbabilisticCfg(_Strict):
    hash_salt: str = ""
    sampling_percentage: float = 0.0


class StatusCodeCfg(_Strict):
    status_codes: list[str] = []


class StringAttributeCfg(_Strict):
    key: str = ""
    values: list[str] = []
    enabled_regex_matching: bool = False
    cache_max_size: Int64 = 0
    invert_match: bool = False


class RateLimitingCfg(_Strict):
    spans_per_second: Int64 = 0
    burst_capacity: Int64 = 0


class BytesLimitingCfg(_Strict):
    bytes_per_second: Int64 = 0
    burst_capacity: Int64 = 0


class SpanCountCfg(_Strict):
    min_spans: Int32 = 0
    max_spans: Int32 = 0


class TraceStateCfg(_Strict):
    key: str = ""
    values: list[str] = []


class BooleanAttributeCfg(_Strict):
    key: str = ""
    value: bool = False
    invert_match: bool = False


class OTTLConditionCfg(_Strict):
    error_mode: str = ""
    span: list[str] = []
    spanevent: list[str] = []

    @field_validator("error_mode")
    @classmethod
    def _error_mode(cls, value: str) -> str:
        if value == "":
            return value  # left unset: errors count as no match, without a log (as upstream)
        from otelflow.ottl.collection import parse_error_mode
        return parse_error_mode(value)


class RouteSampling(_Strict):
    """otelflow extension: traces the policy matches are kept with this probability instead of by the
    processor's statistical policies (probabilistic, rate/bytes limiting, composite, always_sample)."""

    sampling_percentage: float
    hash_salt: str = ""

    @model_validator(mode="after")
    def _range(self) -> "RouteSampling":
        if not 0 <= self.sampling_percentage <= 100:
            raise ValueError(f"sampling_percentage must be between 0 and 100, got {self.sampling_percentage:g}")
        return self


class SharedPolicyCfg(_Strict):
    """The keys every policy item has (upstream's sharedPolicyCfg)."""

    model_config = ConfigDict(extra="allow")

    name: str = ""
    type: str = ""
    latency: LatencyCfg = LatencyCfg()
    numeric_attribute: NumericAttributeCfg = NumericAttributeCfg()
    probabilistic: ProbabilisticCfg = ProbabilisticCfg()
    status_code: StatusCodeCfg = StatusCodeCfg()
    string_attribute: StringAttributeCfg = StringAttributeCfg()
    rate_limiting: RateLimitingCfg = RateLimitingCfg()
    bytes_limiting: BytesLimitingCfg = BytesLimitingCfg()
    span_count: SpanCountCfg = SpanCountCfg()
    trace_state: TraceStateCfg = TraceStateCfg()
    boolean_attribute: BooleanAttributeCfg = BooleanAttributeCfg()
    ottl_condition: OTTLConditionCfg = OTTLConditionCfg()

    @model_validator(mode="after")
    def _extension_keys(self) -> "SharedPolicyCfg":
        for key, value in (self.model_extra or {}).items():
            if key == "sampling" and not isinstance(self, PolicyCfg):
                raise ValueError("sampling: a route rule may be set on a top-level policy only, not on a sub-policy")
            if not isinstance(value, dict):
                raise ValueError(f"{key}: unknown key (upstream keeps unknown policy keys only when their value is a map)")
        return self

    def ignored_keys(self) -> list[str]:
        return list(self.model_extra or {})


class NotSubPolicyCfg(SharedPolicyCfg):
    pass


class NotCfg(_Strict):
    not_sub_policy: NotSubPolicyCfg = NotSubPolicyCfg()


class AndSubPolicyCfg(SharedPolicyCfg):
    not_: NotCfg = Field(NotCfg(), alias="not")


class AndCfg(_Strict):
    and_sub_policy: list[AndSubPolicyCfg] = []


class DropCfg(_Strict):
    drop_sub_policy: list[AndSubPolicyCfg] = []


class CompositeSubPolicyCfg(SharedPolicyCfg):
    and_: AndCfg = Field(AndCfg(), alias="and")


class RateAllocationCfg(_Strict):
    policy: str = ""
    percent: Int64 = 0


class CompositeCfg(_Strict):
    max_total_spans_per_second: Int64 = 0
    policy_order: list[str] = []
    composite_sub_policy: list[CompositeSubPolicyCfg] = []
    rate_allocation: list[RateAllocationCfg] = []


class PolicyCfg(SharedPolicyCfg):
    composite: CompositeCfg = CompositeCfg()
    and_: AndCfg = Field(AndCfg(), alias="and")
    not_: NotCfg = Field(NotCfg(), alias="not")
    drop: DropCfg = DropCfg()
    sampling: RouteSampling | None = None

    @model_validator(mode="after")
    def _evaluator(self) -> "PolicyCfg":
        # Upstream checks the name first, then builds the evaluator; both at start.
        from otelflow.processors.tail_sampling.build import check_policy

        check_policy(self)
        return self


class DecisionCacheCfg(_Strict):
    sampled_cache_size: Int64 = 0
    non_sampled_cache_size: Int64 = 0


TRACE_COMPLETE, SPAN_INGEST = "trace-complete", "span-ingest"
TAIL_STORAGE_GATE = "processor.tailsamplingprocessor.tailstorageextension"
MAX_SHARDS = 256


class Config(_Strict):
    decision_wait: Duration = 30.0
    decision_wait_after_root_received: Duration = 0.0
    num_traces: UInt64 = 50000
    block_on_overflow: bool = False
    expected_new_traces_per_sec: UInt64 = 0
    policies: list[PolicyCfg] = []
    decision_cache: DecisionCacheCfg = DecisionCacheCfg()
    tail_storage: str | None = None
    sample_on_first_match: bool = False
    sampling_strategy: str = TRACE_COMPLETE
    drop_pending_traces_on_shutdown: bool = False
    maximum_trace_size_bytes: UInt64 = 0
    num_shards: UInt32 = 1

    @model_validator(mode="after")
    def _check(self) -> "Config":
        # Config.Validate, in upstream's order
        if self.sampling_strategy not in (TRACE_COMPLETE, SPAN_INGEST):
            raise ValueError(f'invalid sampling_strategy "{self.sampling_strategy}", expected one of '
                             f'"{TRACE_COMPLETE}" or "{SPAN_INGEST}"')
        if self.num_shards > MAX_SHARDS:
            raise ValueError(f"num_shards ({self.num_shards}) must not exceed {MAX_SHARDS}")
        if self.num_shards > 1 and self.tail_storage is not None:
            raise ValueError("num_shards greater than 1 is not supported with tail_storage")
        if self.tail_storage is not None:
            raise ValueError(f"'tail_storage' requires the \"{TAIL_STORAGE_GATE}\" feature gate to be enabled, "
                             f"use --feature-gates=+{TAIL_STORAGE_GATE} (otelflow has no tail storage extensions)")
        # loadSamplingPolicies, at start upstream
        from otelflow.processors.tail_sampling.build import check_policies

        check_policies(self)
        return self

    def extensions_used(self) -> list[tuple[str, str]]:
        """(relative YAML path, description) of each otelflow extension this config uses."""
        return [(f"policies::{i}::sampling", f'route rule of policy "{p.name}" ({p.sampling.sampling_percentage:g}%)')
                for i, p in enumerate(self.policies) if p.sampling is not None]

    def upstream_incompatibilities(self) -> list[str]:
        return [f"{path}: otelflow extension, {what}: otelcol v0.161.0 accepts the key but ignores it, "
                f"so there the policy keeps every trace it matches" for path, what in self.extensions_used()]
