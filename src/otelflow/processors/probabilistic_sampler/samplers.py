"""The three modes (hash_seed, proportional, equalizing): where an item's randomness comes from and
which threshold applies; and the decision shared by spans and log records."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from otelflow.processors.probabilistic_sampler.carriers import _MISSING_RND, _SpanCarrier
from otelflow.processors.probabilistic_sampler.config import (
    _BUCKET_MASK,
    _BUCKETS,
    _BUCKETS_LG2,
    _ORDINARY,
    _SCALE_FACTOR32,
    EQUALIZING,
    ERR_INCONSISTENT_ARRIVING,
    ERR_MISSING_RANDOMNESS,
    ERR_RANDOMNESS_IN_USE,
    ERR_THRESHOLD_IN_USE,
    HASH_SEED,
    MISSING,
    PROPORTIONAL,
    SAMPLING_PRIORITY,
    SAMPLING_RANDOMNESS,
    TRACE_ID_HASH,
    TRACE_ID_SOURCE,
    TRACE_ID_W3C,
    Config,
)
from otelflow.processors.sampling.gocompat import float32, fnv1a32, value_bytes
from otelflow.processors.sampling.threshold import (
    ALL_PROBABILITIES_RANDOMNESS,
    ALWAYS_SAMPLE,
    MIN_SAMPLING_PROBABILITY,
    NEVER_SAMPLE,
    InconsistentSampling,
    SamplingError,
    probability_to_threshold,
    threshold_probability,
    trace_id_to_randomness,
)
from otelflow.processors.sampling.tracestate import parse_w3c

if TYPE_CHECKING:  # the logs module builds on this one
    from otelflow.processors.probabilistic_sampler.logs import _RecordView


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
