"""Leaf policy evaluators, each deciding as upstream's (contrib v0.161.0) does.

An evaluator has ``evaluate(td) -> decision`` and ``stateful``. ``td`` is a :class:`~.store.TraceData`:
``trace_id``, ``span_count``, ``batches`` (the trace's ResourceSpans in arrival order, parsed on first
use) and ``traces_size()``. The attribute filters look at each ResourceSpans' resource, then its spans,
in order, and stop at the first match, as upstream's helpers do. With ``invert_match`` they sample a
trace only when no resource and no span matches; like upstream since the inverted decisions were
retired, they return plain Sampled / NotSampled, so an inverted policy never vetoes another one.

Speed without changing a decision: before parsing, a filter looks for the bytes a match needs in the
trace's serialized form (``td.wire``): the attribute key, the exact string values, the encoded status
code. Absent bytes mean no match; present ones only mean "parse and look".
"""

from __future__ import annotations

from otelflow.processors.tail_sampling.gosem import (
    TokenBucket,
    attr_get,
    duration_ms,
    fnv1a64_state,
    probability_threshold,
    tracestate_get,
    value_bool,
    value_int,
    value_str,
)

# samplingpolicy.Decision
UNSPECIFIED, PENDING, SAMPLED, NOT_SAMPLED, DROPPED, ERROR, INVERT_SAMPLED, INVERT_NOT_SAMPLED = range(8)
DECISION_NAMES = ("unspecified", "pending", "sampled", "not_sampled", "dropped", "error", "invert_sampled", "invert_not_sampled")
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
STATUS_CODES = {"OK": 1, "ERROR": 2, "UNSET": 0}
DEFAULT_HASH_SALT = "default-hash-seed"
DEFAULT_REGEX_CACHE = 128


class PolicyError(Exception):
    """An evaluation error: the policy is skipped for this trace and the error counted."""


class Evaluator:
    stateful = False

    def evaluate(self, td) -> int:
        raise NotImplementedError


def _spans(batches):
    for rs in batches:
        for ss in rs.scope_spans:
            yield from ss.spans


def _any(batches, resource_ok, span_ok) -> int:
    for rs in batches:
        if resource_ok(rs.resource):
            return SAMPLED
        for ss in rs.scope_spans:
            for span in ss.spans:
                if span_ok(span):
                    return SAMPLED
    return NOT_SAMPLED


def _none(batches, resource_hit, span_hit) -> int:
    for rs in batches:
        if resource_hit(rs.resource):
            return NOT_SAMPLED
        for ss in rs.scope_spans:
            for span in ss.spans:
                if span_hit(span):
                    return NOT_SAMPLED
    return SAMPLED


class _AttributeFilter(Evaluator):
    """Shared by the numeric, string and boolean filters: ``hit_value`` says whether an attribute value
    matches; ``span_value_ok`` can exclude span values from matching (the string filter skips "").
    ``needles``: byte strings one of which any match needs in the wire form (besides the key)."""

    invert = False
    needles: tuple[bytes, ...] = ()

    def __init__(self, key: str, invert: bool):
        self.key, self.key_bytes, self.invert = key, key.encode(), invert

    def resource_hit(self, resource) -> bool:
        value = attr_get(resource.attributes, self.key)
        return value is not None and self.hit_value(value)

    def span_hit(self, span) -> bool:
        value = attr_get(span.attributes, self.key)
        return value is not None and self.span_value_ok(value) and self.hit_value(value)

    def span_value_ok(self, value) -> bool:
        return True

    def hit_value(self, value) -> bool:
        raise NotImplementedError

    def evaluate(self, td) -> int:
        wire = td.wire
        if self.key_bytes not in wire or (self.needles and not any(n in wire for n in self.needles)):
            return SAMPLED if self.invert else NOT_SAMPLED
        return (_none if self.invert else _any)(td.batches, self.resource_hit, self.span_hit)


class AlwaysSample(Evaluator):
    def evaluate(self, td) -> int:
        return SAMPLED


class Latency(Evaluator):
    def __init__(self, threshold_ms: int, upper_ms: int):
        self.threshold, self.upper = threshold_ms, upper_ms
        self.stateful = upper_ms > 0

    def evaluate(self, td) -> int:
        lo, hi = self.threshold, self.upper
        if hi == 0:
            starts, ends = [], []
            for span in _spans(td.batches):
                starts.append(span.start_time_unix_nano)
                ends.append(span.end_time_unix_nano)
            if starts and min(starts) > 0 and min(ends) > 0 and max(starts) < _I64_MAX and max(ends) < _I64_MAX:
                # no zero or wrapping timestamp: the running duration only grows, so its last value decides
                return SAMPLED if duration_ms(min(starts), max(ends)) > lo else NOT_SAMPLED
        first = last = 0
        for span in _spans(td.batches):
            start, end = span.start_time_unix_nano, span.end_time_unix_nano
            if first == 0 or start < first:
                first = start
            if last == 0 or end > last:
                last = end
            ms = duration_ms(first, last)  # the running span of the trace so far, as upstream
            if (ms > lo) if hi == 0 else (lo < ms <= hi):
                return SAMPLED
        return NOT_SAMPLED


class NumericAttribute(_AttributeFilter):
    def __init__(self, key: str, min_value: int | None, max_value: int | None, invert: bool):
        super().__init__(key, invert)
        self.lo = _I64_MIN if min_value is None else min_value
        self.hi = _I64_MAX if max_value is None else max_value

    def hit_value(self, value) -> bool:
        return self.lo <= value_int(value) <= self.hi


class StringAttribute(_AttributeFilter):
    def __init__(self, key: str, values: list[str], regex: bool, cache_size: int, invert: bool):
        super().__init__(key, invert)
        if regex:
            from otelflow.processors.attraction import GoRegexp  # Go (RE2) syntax and semantics

            self.patterns = [GoRegexp(v) for v in values]
            self.cache: dict[str, bool] = {}
            self.cache_size = cache_size if cache_size > 0 else DEFAULT_REGEX_CACHE
            self.matches = self._regex_match
        else:
            exact = frozenset(v for v in values if v != "")
            self.matches = exact.__contains__
            # no value at all: nothing can match; a needle that is (almost) never there says so early
            self.needles = tuple(v.encode() for v in exact) or (b"\x00\xff\x00no value\x00\xff\x00",)

    def _regex_match(self, text: str) -> bool:
        hit = self.cache.get(text)
        if hit is None:
            hit = any(p.matches(text) for p in self.patterns)
            if len(self.cache) >= self.cache_size:
                self.cache.pop(next(iter(self.cache)))
            self.cache[text] = hit
        return hit

    def span_value_ok(self, value) -> bool:
        return value_str(value) != ""  # upstream skips empty span values (not resource ones)

    def hit_value(self, value) -> bool:
        return self.matches(value_str(value))


class BooleanAttribute(_AttributeFilter):
    def __init__(self, key: str, value: bool, invert: bool):
        super().__init__(key, invert)
        self.value = value

    def hit_value(self, value) -> bool:
        return value_bool(value) == self.value


class StatusCode(Evaluator):
    def __init__(self, codes: list[str]):
        self.codes = frozenset(STATUS_CODES[c] for c in codes)
        # Status.code (field 3, varint) as written when not UNSET; UNSET is written as nothing
        self.needles = () if 0 in self.codes else tuple(bytes([0x18, c]) for c in self.codes)

    def evaluate(self, td) -> int:
        if self.needles and not any(n in td.wire for n in self.needles):
            return NOT_SAMPLED
        codes = self.codes
        for span in _spans(td.batches):
            if span.status.code in codes:
                return SAMPLED
        return NOT_SAMPLED


class Probabilistic(Evaluator):
    """FNV-1a 64 of the salt then the 16 trace ID bytes, sampled when <= MaxUint64 * ratio."""

    def __init__(self, salt: str, percentage: float):
        self.seed = fnv1a64_state((salt or DEFAULT_HASH_SALT).encode())
        self.threshold = probability_threshold(percentage / 100)

    def hash(self, trace_id: bytes) -> int:
        return fnv1a64_state(trace_id, self.seed)

    def evaluate(self, td) -> int:
        return SAMPLED if self.hash(td.trace_id) <= self.threshold else NOT_SAMPLED


class RateLimiting(Evaluator):
    stateful = True

    def __init__(self, per_second: int, burst: int):
        self.bucket = TokenBucket(per_second, burst)

    def evaluate(self, td) -> int:
        return SAMPLED if self.bucket.allow(td.span_count) else NOT_SAMPLED


class BytesLimiting(RateLimiting):
    def evaluate(self, td) -> int:
        return SAMPLED if self.bucket.allow(td.traces_size()) else NOT_SAMPLED


class SpanCount(Evaluator):
    def __init__(self, min_spans: int, max_spans: int):
        self.lo, self.hi = min_spans, max_spans
        self.stateful = max_spans > 0

    def evaluate(self, td) -> int:
        n = td.span_count
        if (self.hi == 0 and n >= self.lo) or self.lo <= n <= self.hi:
            return SAMPLED
        return NOT_SAMPLED


class TraceState(Evaluator):
    def __init__(self, key: str, values: list[str]):
        self.key = key
        self.values = frozenset(v for v in values if v != "" and len(key.encode()) + len(v.encode()) < 256)

    def evaluate(self, td) -> int:
        if not self.values or self.key.encode() not in td.wire:
            return NOT_SAMPLED
        for span in _spans(td.batches):
            if tracestate_get(span.trace_state, self.key) in self.values:
                return SAMPLED
        return NOT_SAMPLED


class TraceFlags(Evaluator):
    def evaluate(self, td) -> int:
        for span in _spans(td.batches):
            if span.flags & 0x01:
                return SAMPLED
        return NOT_SAMPLED
