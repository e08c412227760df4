"""The ``probabilistic_sampler`` processor: keeps a share of spans or log records, by trace ID.

It behaves as upstream's probabilisticsamplerprocessor (contrib v0.161.0). Three modes:

* ``hash_seed`` (the default): FNV-1a over the 4 little-endian bytes of ``hash_seed`` followed by the
  trace ID (logs: or an attribute's bytes); an item is kept when the low 14 bits of the hash are
  below ``uint32(float32(percentage) * float32(16384/100))``. The hash is also turned into a 56-bit
  randomness value that is written into the item (``rv``) with the threshold (``th``).
* ``proportional``: consistent sampling (W3C/OTel): randomness from ``rv`` or the low 56 bits of the
  trace ID, threshold = the arriving probability times the configured one.
* ``equalizing``: the same randomness, threshold = the configured one unless the item already
  arrived with a lower probability.

Traces carry ``ot=rv:…;th:…`` in the span's ``tracestate``; logs carry ``sampling.randomness`` and
``sampling.threshold`` attributes. See docs/processors/probabilistic_sampler.md.
"""

from __future__ import annotations

import logging
import math
import struct
from collections import Counter
from itertools import compress
from typing import Any, Callable

from google.protobuf.message import Message
from pydantic import field_validator, model_validator

from otelflow.config.model import Model
from otelflow.core.component import Component, Factory, Kind, Settings, Signal
from otelflow.pdata.govalue import format_float_f6
from otelflow.processors.sampling.gocompat import FNV32_PRIME, fnv1a32, float32, format_g32, parse_float, value_bytes
from otelflow.processors.sampling.threshold import (
    ALL_PROBABILITIES_RANDOMNESS,
    ALWAYS_SAMPLE,
    ERR_INCONSISTENT,
    MIN_SAMPLING_PROBABILITY,
    NEVER_SAMPLE,
    NUM_HEX_DIGITS,
    InconsistentSampling,
    SamplingError,
    probability_to_threshold,
    randomness_to_rvalue,
    rvalue_to_randomness,
    threshold_probability,
    threshold_to_tvalue,
    trace_id_to_randomness,
    tvalue_to_threshold,
)
from otelflow.processors.sampling.tracestate import W3CTraceState, parse_w3c

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


# ---- samplers: where randomness comes from and which threshold applies ----------------------------
#
# A randomness value travels with its policy name: (randomness, policy). Missing randomness is
# (ALL_PROBABILITIES_RANDOMNESS, MISSING), as upstream returns for it.

_MISSING_RND = (ALL_PROBABILITIES_RANDOMNESS, MISSING)


class _SpanCarrier:
    """The sampling information of a span: its parsed tracestate."""

    __slots__ = ("state",)

    def __init__(self, state: W3CTraceState):
        self.state = state

    def threshold(self) -> tuple[int, bool]:
        otel = self.state.otel
        return otel.threshold, otel.tvalue != ""

    def explicit_randomness(self) -> tuple[int, bool]:
        otel = self.state.otel
        return otel.randomness, otel.rvalue != ""

    def set_explicit_randomness(self, randomness: int) -> None:
        self.state.otel.set_randomness(randomness)

    def clear_threshold(self) -> None:
        self.state.otel.clear_threshold()

    def update_threshold(self, threshold: int) -> None:
        self.state.otel.update_threshold(threshold)

    def reserialize(self) -> str:
        return self.state.serialize()


def _first_index(attrs, key: str) -> int:
    for i, kv in enumerate(attrs):
        if kv.key == key:
            return i
    return -1


def _put_str(attrs, key: str, value: str) -> None:
    i = _first_index(attrs, key)
    if i >= 0:
        attrs[i].value.Clear()
        attrs[i].value.string_value = value
    else:
        attrs.add(key=key).value.string_value = value


def _remove(attrs, key: str) -> None:
    # pdata's Map.Remove: the last entry takes the place of the removed one
    i = _first_index(attrs, key)
    if i < 0:
        return
    last = len(attrs) - 1
    if i != last:
        attrs[i].CopyFrom(attrs[last])
    del attrs[last]


class _RecordCarrier:
    """The sampling information of a log record: its sampling.* attributes (string values only).

    Upstream writes sampling.randomness into every record it hashes, then sampling.threshold into
    those it keeps. Only kept records leave the processor, so the randomness is written when the
    threshold is (same order, same result), unless something reads it in between (``eager``).
    """

    __slots__ = ("record", "view", "tvalue", "threshold_", "rvalue", "randomness", "error", "pending", "eager")

    def __init__(self, view: "_RecordView", tvalue_text: str, rvalue_text: str, eager: bool):
        self.view = view
        self.record = view.record
        self.tvalue, self.threshold_, self.rvalue, self.randomness = "", ALWAYS_SAMPLE, "", 0
        self.pending = False
        self.eager = eager
        errors = []
        if tvalue_text:
            try:
                self.threshold_ = tvalue_to_threshold(tvalue_text)
                self.tvalue = tvalue_text
            except SamplingError as exc:
                errors.append(str(exc))
        if rvalue_text:
            try:
                self.randomness = rvalue_to_randomness(rvalue_text)
                self.rvalue = rvalue_text
            except SamplingError as exc:
                errors.append(str(exc))
        self.error: str | None = "; ".join(errors) or None

    def threshold(self) -> tuple[int, bool]:
        return self.threshold_, self.tvalue != ""

    def explicit_randomness(self) -> tuple[int, bool]:
        return self.randomness, self.rvalue != ""

    def set_explicit_randomness(self, randomness: int) -> None:
        self.randomness = randomness
        self.rvalue = randomness_to_rvalue(randomness)
        self.pending = True
        if self.eager:
            self._write_randomness()

    def _write_randomness(self) -> None:
        if self.pending:
            self.pending = False
            _put_str(self.record.attributes, LOG_RANDOMNESS_ATTRIBUTE, self.rvalue)
            self.view.changed()

    def clear_threshold(self) -> None:
        self.threshold_, self.tvalue = NEVER_SAMPLE, ""
        _remove(self.record.attributes, LOG_THRESHOLD_ATTRIBUTE)
        self.view.changed()

    def update_threshold(self, threshold: int) -> None:
        self._write_randomness()
        existing, has = self.threshold()
        if has and threshold < existing:
            raise InconsistentSampling(ERR_INCONSISTENT)
        _put_str(self.record.attributes, LOG_THRESHOLD_ATTRIBUTE, threshold_to_tvalue(threshold))
        self.view.changed()

    def reserialize(self) -> None:
        return None


class _Sampler:
    """One of the modes. ``decide`` gives the threshold; the ``randomness_*`` methods read an item."""

    def decide(self, carrier) -> int:
        raise NotImplementedError


class _NeverSampler(_Sampler):
    def decide(self, carrier) -> int:
        return NEVER_SAMPLE

    def randomness_from_span(self, trace_id: bytes, tracestate: str):
        state, errors = parse_w3c(tracestate)
        # a stand-in randomness: it is never used, and it keeps the consistency check quiet
        return (ALL_PROBABILITIES_RANDOMNESS, SAMPLING_PRIORITY), _SpanCarrier(state), _err(errors)

    def randomness_from_record(self, record, view: "_RecordView"):
        carrier = view.carrier()
        return (ALL_PROBABILITIES_RANDOMNESS, SAMPLING_PRIORITY), carrier, carrier.error


def _err(errors: list[str]) -> str | None:
    return "; ".join(errors) if errors else None


def hash_randomness(data: bytes, seed_state: int) -> int:
    """The 56-bit randomness the hash_seed mode derives from FNV-1a(seed ‖ data).

    Most to least significant: 14 bits ``16383 - (h & 0x3fff)``, 28 bits ``u ^ (u << 10)`` where ``u``
    is the hash's upper 18 bits, and the 14 bits ``h & 0x3fff`` again. With a threshold of
    ``(16384 - scaled) << 42`` this keeps exactly the items with ``h & 0x3fff < scaled``.
    """
    h = fnv1a32(data, seed_state)
    hashed = h & _BUCKET_MASK
    unused18 = h >> (32 - _BUCKETS_LG2)
    return ((_BUCKETS - 1 - hashed) << 42) | ((unused18 ^ (unused18 << 10)) << 14) | hashed


class _HashingSampler(_Sampler):
    def __init__(self, threshold: int, seed: int, scaled: int, trace_id_enabled: bool, source_attribute: str):
        self.threshold = threshold
        self.scaled = scaled
        self.seed_state = fnv1a32(seed.to_bytes(4, "little"))
        self.trace_id_enabled = trace_id_enabled
        self.source_attribute = source_attribute

    def decide(self, carrier) -> int:
        return self.threshold

    def randomness_from_span(self, trace_id: bytes, tracestate: str):
        state, errors = parse_w3c(tracestate)
        rnd = _MISSING_RND
        if trace_id and any(trace_id):
            rnd = (hash_randomness(trace_id, self.seed_state), TRACE_ID_HASH)
        # an item that already has rv or th is left alone: this mode would break its consistency
        if errors:
            return rnd, None, _err(errors)
        carrier = _SpanCarrier(state)
        if carrier.explicit_randomness()[1]:
            return rnd, None, ERR_RANDOMNESS_IN_USE
        if carrier.threshold()[1]:
            return rnd, None, ERR_THRESHOLD_IN_USE
        carrier.set_explicit_randomness(rnd[0])
        return rnd, carrier, None

    def randomness_from_record(self, record, view: "_RecordView"):
        rnd = _MISSING_RND
        carrier = view.carrier()
        if self.trace_id_enabled:
            trace_id = record.trace_id
            if trace_id and any(trace_id):
                rnd = (hash_randomness(trace_id, self.seed_state), TRACE_ID_HASH)
        if rnd[1] == MISSING and self.source_attribute:
            value = view.get(self.source_attribute)
            if value is not None:
                data = value_bytes(value)
                if data:
                    rnd = (hash_randomness(data, self.seed_state), self.source_attribute)
        if carrier.error is not None:
            return rnd, None, carrier.error
        if carrier.explicit_randomness()[1]:
            return rnd, None, ERR_RANDOMNESS_IN_USE
        if carrier.threshold()[1]:
            return rnd, None, ERR_THRESHOLD_IN_USE
        if rnd[1] != MISSING:
            carrier.set_explicit_randomness(rnd[0])
        return rnd, carrier, None


class _ConsistentSampler(_Sampler):
    """Proportional and equalizing: randomness from rv, else from the trace ID."""

    def randomness_from_span(self, trace_id: bytes, tracestate: str):
        state, errors = parse_w3c(tracestate)
        if errors:
            return _MISSING_RND, None, _err(errors)
        carrier = _SpanCarrier(state)
        rnd = _MISSING_RND
        randomness, has = carrier.explicit_randomness()
        if has:
            rnd = (randomness, SAMPLING_RANDOMNESS)
        elif trace_id and any(trace_id):
            rnd = (trace_id_to_randomness(trace_id), TRACE_ID_W3C)
        return rnd, carrier, None

    def randomness_from_record(self, record, view: "_RecordView"):
        carrier = view.carrier()
        if carrier.error is not None:
            return _MISSING_RND, None, carrier.error
        rnd = _MISSING_RND
        randomness, has = carrier.explicit_randomness()
        if has:
            rnd = (randomness, SAMPLING_RANDOMNESS)
        else:
            trace_id = record.trace_id
            if trace_id and any(trace_id):
                rnd = (trace_id_to_randomness(trace_id), TRACE_ID_W3C)
        return rnd, carrier, None


class _EqualizingSampler(_ConsistentSampler):
    def __init__(self, threshold: int):
        self.threshold = threshold

    def decide(self, carrier) -> int:
        arriving, has = carrier.threshold()
        if has and self.threshold < arriving:
            return arriving
        return self.threshold


class _ProportionalSampler(_ConsistentSampler):
    def __init__(self, ratio: float, precision: int):
        self.ratio = ratio
        self.precision = precision

    def decide(self, carrier) -> int:
        incoming = 1.0
        arriving, has = carrier.threshold()
        if has:
            incoming = threshold_probability(arriving)
        try:
            return probability_to_threshold(incoming * self.ratio, self.precision)
        except SamplingError:
            return NEVER_SAMPLE  # the product fell below 2**-56: not sampled


def make_sampler(cfg: Config, is_logs: bool) -> _Sampler:
    pct = min(cfg.sampling_percentage, 100.0)
    mode = cfg.mode
    if not mode:
        # upstream's default is hash_seed whatever else is set
        mode = HASH_SEED
    if pct == 0:
        return _NeverSampler()
    ratio = max(pct / 100.0, MIN_SAMPLING_PROBABILITY)
    if mode == EQUALIZING:
        try:
            threshold = probability_to_threshold(ratio, cfg.sampling_precision)
        except SamplingError:
            threshold = ALWAYS_SAMPLE
        return _EqualizingSampler(threshold)
    if mode == PROPORTIONAL:
        return _ProportionalSampler(ratio, cfg.sampling_precision)
    # hash_seed: float32 multiplication truncated, as the original code did it
    scaled = int(float32(pct * _SCALE_FACTOR32))
    if scaled == 0:
        return _NeverSampler()
    threshold = (_BUCKETS - scaled) << 42
    return _HashingSampler(threshold, cfg.hash_seed, scaled, cfg.attribute_source == TRACE_ID_SOURCE, cfg.from_attribute)


# ---- the decision shared by spans and log records ------------------------------------------------

def _consistency_check(rnd: tuple[int, str], carrier) -> str | None:
    if rnd[1] == MISSING:
        return ERR_MISSING_RANDOMNESS
    if carrier is None:
        return None
    arriving, has = carrier.threshold()
    if has and not arriving <= rnd[0]:
        # the arriving th claims a probability this item could not have been sampled at
        carrier.clear_threshold()
        return ERR_INCONSISTENT_ARRIVING
    return None


class _Decider:
    def __init__(self, sampler: _Sampler, fail_closed: bool, logger: logging.Logger, description: str):
        self.sampler = sampler
        self.fail_closed = fail_closed
        self.logger = logger
        self.description = description

    def log(self, error: str) -> None:
        if error in _ORDINARY:
            self.logger.debug("%s: %s", self.description, error)
        else:
            self.logger.info("%s: %s", self.description, error)

    def decide(self, rnd, carrier, error, priority: Callable[[tuple[int, str], int], tuple[tuple[int, str], int]]):
        """→ (sampled, policy). Updates the carrier's threshold when sampled."""
        if error is None:
            error = _consistency_check(rnd, carrier)
        if error is not None:
            self.log(error)
            threshold = NEVER_SAMPLE if self.fail_closed else ALWAYS_SAMPLE
        else:
            threshold = self.sampler.decide(carrier)
        rnd, threshold = priority(rnd, threshold)
        sampled = threshold <= rnd[0]
        if sampled and carrier is not None:
            try:
                carrier.update_threshold(threshold)
            except InconsistentSampling as exc:
                self.log(str(exc))
        return sampled, rnd[1]


# ---- traces ----------------------------------------------------------------------------------------

_DEFER, _MUST, _NEVER = 0, 1, 2


def span_priority(attributes) -> int:
    """The ``sampling.priority`` attribute (the first one): 0 drops, > 0 keeps, else no say."""
    for kv in attributes:
        if kv.key != PRIORITY_ATTRIBUTE:
            continue
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "int_value":
            number = value.int_value
        elif kind == "double_value":
            number = value.double_value
        elif kind == "string_value":
            number = parse_float(value.string_value)
            if number is None:
                return _DEFER
        else:
            return _DEFER
        if number == 0:
            return _NEVER
        return _MUST if number > 0 else _DEFER
    return _DEFER


def _priority_override(prio: int):
    def apply(rnd, threshold):
        if prio == _NEVER:
            return (rnd[0], SAMPLING_PRIORITY), NEVER_SAMPLE
        if prio == _MUST:
            return (rnd[0], SAMPLING_PRIORITY), ALWAYS_SAMPLE
        return rnd, threshold
    return apply


_PRIORITY_FUNCS = {p: _priority_override(p) for p in (_DEFER, _MUST, _NEVER)}


# Deleting one by one (from the end) moves the survivors behind each deleted item: cheap for the
# usual request, quadratic for huge ones, where copying the survivors into a fresh list is cheaper.
_REBUILD_ABOVE = 50_000_000


def _keep_only(items, keep: list[bool], kept: int) -> None:
    """Remove the items whose flag is False, keeping the order of the rest."""
    total = len(keep)
    dropped = total - kept
    if dropped * kept > _REBUILD_ABOVE:
        survivors = [item for item, k in zip(items, keep) if k]
        del items[:]
        items.extend(survivors)
        return
    for i in range(total - 1, -1, -1):
        if not keep[i]:
            del items[i]


_ZERO_TRACE_ID = bytes(16)


def fnv1a32_many(items: list[bytes], state: int) -> list[int]:
    """FNV-1a of many 16-byte strings at once, all from the same starting state.

    Each string gets a 64-bit lane of one big integer; a lane holds a 32-bit hash, and multiplying it
    by the 25-bit FNV prime stays below 2**57, so lanes never carry into each other. Sixteen rounds
    of xor / multiply / mask over the big integer replace 16 Python-level steps per string.
    """
    n = len(items)
    if n < 32:
        return [fnv1a32(item, state) for item in items]
    blob = b"".join(items)
    lane_mask = int.from_bytes(b"\xff\xff\xff\xff\x00\x00\x00\x00" * n, "little")
    h = int.from_bytes(struct.pack("<Q", state) * n, "little")
    lanes = bytearray(8 * n)
    prime = FNV32_PRIME
    for i in range(16):
        lanes[0::8] = blob[i::16]
        h = ((h ^ int.from_bytes(lanes, "little")) * prime) & lane_mask
    return list(struct.unpack(f"<{n}Q", h.to_bytes(8 * n, "little")))


class _TracesSampler:
    def __init__(self, cfg: Config, logger: logging.Logger):
        self.sampler = make_sampler(cfg, is_logs=False)
        self.decider = _Decider(self.sampler, cfg.fail_closed, logger, "traces sampler")
        self.batch = self._fast_path()

    def _fast_path(self):
        """For the common span (empty tracestate, no sampling.priority, a trace ID) the decision and the
        new tracestate follow from the trace ID alone: decide for many trace IDs at once, no parsing.
        Returns a function (list of distinct trace IDs) -> list of (sampled, tracestate, policy)."""
        sampler = self.sampler
        if isinstance(sampler, _HashingSampler):
            seed_state, scaled = sampler.seed_state, sampler.scaled
            th = ";th:" + threshold_to_tvalue(sampler.threshold)
            dropped = (False, None, TRACE_ID_HASH)

            def kept(h: int) -> tuple:
                hashed = h & _BUCKET_MASK
                unused18 = h >> 18
                rnd = ((_BUCKETS - 1 - hashed) << 42) | ((unused18 ^ (unused18 << 10)) << 14) | hashed
                return (True, "ot=rv:%014x%s" % (rnd, th), TRACE_ID_HASH)

            def hashing(trace_ids: list[bytes]) -> list:
                # kept when the low 14 bits of the hash are below the bucket count
                return [dropped if h & _BUCKET_MASK >= scaled else kept(h) for h in fnv1a32_many(trace_ids, seed_state)]
            return hashing
        if isinstance(sampler, (_EqualizingSampler, _ProportionalSampler)):
            if isinstance(sampler, _EqualizingSampler):
                threshold = sampler.threshold
            else:
                try:
                    threshold = probability_to_threshold(sampler.ratio, sampler.precision)
                except SamplingError:
                    threshold = NEVER_SAMPLE
            kept = (True, "ot=th:" + threshold_to_tvalue(threshold), TRACE_ID_W3C)
            dropped = (False, None, TRACE_ID_W3C)
            low56 = (1 << 56) - 1

            def consistent(trace_ids: list[bytes]) -> list:
                # the second 8 bytes of each ID, big-endian; randomness is their low 56 bits
                halves = struct.unpack(f">{2 * len(trace_ids)}Q", b"".join(trace_ids))[1::2]
                return [kept if (low & low56) >= threshold else dropped for low in halves]
            return consistent
        return None

    def decide(self, trace_id: bytes, tracestate: str, prio: int):
        """One span → (sampled, new tracestate or None when unchanged, policy)."""
        if self.batch is not None and not tracestate and prio == _DEFER and len(trace_id) == 16 and trace_id != _ZERO_TRACE_ID:
            return self.batch([trace_id])[0]
        rnd, carrier, error = self.sampler.randomness_from_span(trace_id, tracestate)
        sampled, policy = self.decider.decide(rnd, carrier, error, _PRIORITY_FUNCS[prio])
        new_state = carrier.reserialize() if sampled and carrier is not None else None
        return sampled, new_state, policy

    def process(self, data: Message, counts: dict) -> bool:
        """Sample the request in place; False when nothing is left."""
        may_have_priority = PRIORITY_ATTRIBUTE.encode() in data.SerializeToString()
        # 1. what each span's decision depends on: its trace ID, tracestate and sampling.priority. The
        #    key is the bare trace ID for the common span (no tracestate, no priority), else a tuple.
        scopes = []
        for rs in data.resource_spans:
            for ss in rs.scope_spans:
                spans = ss.spans
                if may_have_priority:
                    keys = [_span_key(s.trace_id, s.trace_state, span_priority(s.attributes)) for s in spans]
                else:
                    keys = [(s.trace_id if not (ts := s.trace_state) else (s.trace_id, ts, _DEFER)) for s in spans]
                scopes.append((spans, keys))
        # 2. decide once per distinct key: in bulk for plain spans, one by one for the rest
        distinct = set()
        for _, keys in scopes:
            distinct.update(keys)
        decided: dict = {}
        others = distinct
        if self.batch is not None:
            plain = [k for k in distinct if k.__class__ is bytes and len(k) == 16 and k != _ZERO_TRACE_ID]
            if plain:
                decided = dict(zip(plain, self.batch(plain)))
                others = distinct.difference(plain) if len(plain) != len(distinct) else ()
        for key in others:
            decided[key] = self.decide(key, "", _DEFER) if key.__class__ is bytes else self.decide(*key)
        # 3. apply: new tracestates on kept spans, drop the rest, then empty scopes and resources
        for spans, keys in scopes:
            results = [decided[key] for key in keys]
            counts.update(results)
            keep = [result[0] for result in results]
            kept = sum(keep)
            for i in compress(range(len(keep)), keep):
                new_state = results[i][1]
                if new_state is not None:
                    key = keys[i]
                    if key.__class__ is bytes or new_state != key[1]:
                        spans[i].trace_state = new_state
            if kept != len(keep):
                _keep_only(spans, keep, kept)
        _drop_empty(data.resource_spans, "scope_spans", "spans")
        return len(data.resource_spans) > 0


def _span_key(trace_id: bytes, tracestate: str, prio: int):
    return trace_id if not tracestate and prio == _DEFER else (trace_id, tracestate, prio)


def _drop_empty(resources, scopes_field: str, items_field: str) -> None:
    """Remove scopes without items and resources without scopes (including those that came empty)."""
    for r_index in range(len(resources) - 1, -1, -1):
        scopes = getattr(resources[r_index], scopes_field)
        for s_index in range(len(scopes) - 1, -1, -1):
            if len(getattr(scopes[s_index], items_field)) == 0:
                del scopes[s_index]
        if len(scopes) == 0:
            del resources[r_index]


# ---- logs ------------------------------------------------------------------------------------------

class _RecordView:
    """Looks up the attributes a log record's sampling decision needs (the first of each key, as
    pdata's Map.Get), scanning the attributes once, and again only after the carrier changed them."""

    __slots__ = ("record", "keys", "all_keys", "found", "_carrier", "eager")

    def __init__(self, record, keys: tuple[str, ...], all_keys: tuple[str, ...], eager: bool = False):
        self.record = record
        self.eager = eager
        self.keys = keys  # those that occur somewhere in the request
        self.all_keys = all_keys
        self.found: dict[str, Any] | None = None
        self._carrier = None

    def _scan(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.keys:
            wanted = self.keys
            for kv in self.record.attributes:
                key = kv.key
                if key in wanted and key not in found:
                    found[key] = kv.value
        self.found = found
        return found

    def changed(self) -> None:
        self.found = None
        self.keys = self.all_keys

    def get(self, key: str):
        found = self.found if self.found is not None else self._scan()
        return found.get(key)

    def _string(self, key: str) -> str:
        value = self.get(key)
        if value is None or value.WhichOneof("value") != "string_value":
            return ""
        return value.string_value

    def carrier(self) -> _RecordCarrier:
        if self._carrier is None:
            self._carrier = _RecordCarrier(self, self._string(LOG_THRESHOLD_ATTRIBUTE), self._string(LOG_RANDOMNESS_ATTRIBUTE), self.eager)
        return self._carrier


class _LogsSampler:
    def __init__(self, cfg: Config, logger: logging.Logger):
        self.sampler = make_sampler(cfg, is_logs=True)
        self.decider = _Decider(self.sampler, cfg.fail_closed, logger, "logs sampler")
        self.priority_attribute = cfg.sampling_priority
        self.precision = cfg.sampling_precision
        keys = [LOG_THRESHOLD_ATTRIBUTE, LOG_RANDOMNESS_ATTRIBUTE]
        if isinstance(self.sampler, _HashingSampler) and self.sampler.source_attribute:
            keys.append(self.sampler.source_attribute)
        if self.priority_attribute:
            keys.append(self.priority_attribute)
        self.keys = tuple(dict.fromkeys(keys))
        # attributes whose presence rules out the bulk path (they change the decision or the update)
        self.blocking = tuple(k for k in (LOG_THRESHOLD_ATTRIBUTE, LOG_RANDOMNESS_ATTRIBUTE, self.priority_attribute) if k)
        self.batch = self._fast_path()

    def _fast_path(self):
        """For records without sampling.* or priority attributes and with a trace ID, when the trace ID
        is the source: decide for many trace IDs at once. Returns a function (distinct trace IDs) ->
        list of (sampled, attributes to add, policy), or None for the other configurations."""
        sampler = self.sampler
        if isinstance(sampler, _HashingSampler):
            if not sampler.trace_id_enabled:
                return None
            seed_state, scaled = sampler.seed_state, sampler.scaled
            th = (LOG_THRESHOLD_ATTRIBUTE, threshold_to_tvalue(sampler.threshold))
            dropped = (False, (), TRACE_ID_HASH)

            def kept(h: int) -> tuple:
                hashed = h & _BUCKET_MASK
                unused18 = h >> 18
                rnd = ((_BUCKETS - 1 - hashed) << 42) | ((unused18 ^ (unused18 << 10)) << 14) | hashed
                return (True, ((LOG_RANDOMNESS_ATTRIBUTE, "%014x" % rnd), th), TRACE_ID_HASH)

            def hashing(trace_ids: list[bytes]) -> list:
                return [dropped if h & _BUCKET_MASK >= scaled else kept(h) for h in fnv1a32_many(trace_ids, seed_state)]
            return hashing
        if isinstance(sampler, (_EqualizingSampler, _ProportionalSampler)):
            if isinstance(sampler, _EqualizingSampler):
                threshold = sampler.threshold
            else:
                try:
                    threshold = probability_to_threshold(sampler.ratio, sampler.precision)
                except SamplingError:
                    threshold = NEVER_SAMPLE
            kept_ = (True, ((LOG_THRESHOLD_ATTRIBUTE, threshold_to_tvalue(threshold)),), TRACE_ID_W3C)
            dropped_ = (False, (), TRACE_ID_W3C)
            low56 = (1 << 56) - 1

            def consistent(trace_ids: list[bytes]) -> list:
                halves = struct.unpack(f">{2 * len(trace_ids)}Q", b"".join(trace_ids))[1::2]
                return [kept_ if (low & low56) >= threshold else dropped_ for low in halves]
            return consistent
        return None

    def _priority(self, view: _RecordView):
        def apply(rnd, threshold):
            if not self.priority_attribute:
                return rnd, threshold
            value = view.get(self.priority_attribute)
            if value is None:
                return rnd, threshold
            kind = value.WhichOneof("value")
            if kind == "double_value":
                min_prob = value.double_value / 100.0
            elif kind == "int_value":
                min_prob = float(value.int_value) / 100.0
            else:
                return rnd, threshold
            if min_prob == 0:
                return rnd, threshold
            try:
                priority_threshold = probability_to_threshold(min_prob, self.precision)
            except SamplingError:
                return rnd, threshold
            # the record's own probability replaces the configured one, up or down
            return (rnd[0], SAMPLING_PRIORITY), priority_threshold
        return apply

    def process(self, data: Message, counts: dict) -> bool:
        blob = data.SerializeToString()
        all_keys = self.keys
        keys = tuple(k for k in all_keys if k.encode() in blob)
        batch = self.batch if self.batch is not None and not any(k in keys for k in self.blocking) else None
        eager = self.priority_attribute == LOG_RANDOMNESS_ATTRIBUTE  # priority read after the write
        scopes = []
        for rl in data.resource_logs:
            for sl in rl.scope_logs:
                records = sl.log_records
                scopes.append((records, [r.trace_id for r in records] if batch is not None else None))
        decided: dict[bytes, tuple] = {}
        if batch is not None:
            distinct = set()
            for _, trace_ids in scopes:
                distinct.update(trace_ids)
            plain = [t for t in distinct if len(t) == 16 and t != _ZERO_TRACE_ID]
            decided = dict(zip(plain, batch(plain)))
        for records, trace_ids in scopes:
            results = [decided.get(t) for t in trace_ids] if trace_ids is not None else [None] * len(records)
            if None not in results:  # all decided in bulk
                counts.update(results)
                keep = [result[0] for result in results]
                for i in compress(range(len(keep)), keep):
                    attributes = records[i].attributes
                    for key, value in results[i][1]:  # in the order upstream adds them
                        attributes.add(key=key).value.string_value = value
            else:
                keep = []
                for record, result in zip(records, results):
                    if result is not None:
                        counts[result] += 1
                        if result[0]:
                            for key, value in result[1]:
                                record.attributes.add(key=key).value.string_value = value
                        keep.append(result[0])
                        continue
                    view = _RecordView(record, keys, all_keys, eager)
                    rnd, carrier, error = self.sampler.randomness_from_record(record, view)
                    sampled, policy = self.decider.decide(rnd, carrier, error, self._priority(view))
                    counts[(sampled, None, policy)] += 1
                    keep.append(sampled)
            kept = sum(keep)
            if kept != len(keep):
                _keep_only(records, keep, kept)
        _drop_empty(data.resource_logs, "scope_logs", "log_records")
        return len(data.resource_logs) > 0


# ---- the component ---------------------------------------------------------------------------------

class ProbabilisticSampler(Component):
    mutates_data = True  # removes items and rewrites tracestate / sampling.* attributes

    def __init__(self, settings: Settings, config: Config, next_consumer):
        self.next = next_consumer
        self.telemetry = settings.telemetry
        if settings.signal is Signal.LOGS:
            self.impl: _TracesSampler | _LogsSampler = _LogsSampler(config, settings.logger)
            self.metric = LOGS_METRIC
        else:
            self.impl = _TracesSampler(config, settings.logger)
            self.metric = TRACES_METRIC

    def sample(self, data: Message) -> bool:
        """Sample ``data`` in place; False when nothing is left to pass on."""
        counts: Counter = Counter()  # (sampled, tracestate, policy) -> items
        try:
            return self.impl.process(data, counts)
        finally:
            by_policy: Counter = Counter()
            for (sampled, _, policy), n in counts.items():
                by_policy[(policy, sampled)] += n
            for (policy, sampled), n in by_policy.items():
                self.telemetry.add(self.metric, n, policy=policy, sampled="true" if sampled else "false")

    async def consume(self, data: Message) -> None:
        if not self.sample(data):
            return  # as upstream's ErrSkipProcessingData: success, and the rest of the pipeline is skipped
        await self.next.consume(data)


factory = Factory(
    type="probabilistic_sampler",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: ProbabilisticSampler(settings, config, next),
    signals=frozenset({Signal.TRACES, Signal.LOGS}),
)
