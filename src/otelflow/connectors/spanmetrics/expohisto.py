"""A base-2 exponential histogram that lands where upstream's (lightstep/go-expohisto, as the
spanmetrics connector uses it) lands: it starts at scale 20 and, whenever a value would make the
positive or negative bucket range span ``max_size`` buckets or more, lowers the scale just enough for
the range to fit (both halves share the scale). Indexes are those of the OTel mapping functions:
exact for powers of two, ``floor(log(v) * 2**scale / ln 2)`` otherwise."""

from __future__ import annotations

import math

MAX_SCALE = 20
DEFAULT_MAX_SIZE = 160
MIN_SIZE = 2
MAXIMUM_MAX_SIZE = 16384
LOG2E = 1.4426950408889634  # float64(math.Log2E)
MIN_NORMAL_EXPONENT = -1022
MAX_NORMAL_EXPONENT = 1023
MIN_VALUE = 2.0 ** -1022


def _frexp(value: float) -> tuple[int, bool]:
    """(unbiased base-2 exponent, whether the significand bits are all zero) of a normal float."""
    m, e = math.frexp(value)  # value = m * 2**e, 0.5 <= m < 1
    return e - 1, m == 0.5


def map_to_index(value: float, scale: int) -> int:
    if scale > 0:
        if value <= MIN_VALUE:
            return (MIN_NORMAL_EXPONENT << scale) - 1
        exp, exact = _frexp(value)
        if exact:
            return (exp << scale) - 1
        index = math.floor(math.log(value) * math.ldexp(LOG2E, scale))
        top = ((MAX_NORMAL_EXPONENT + 1) << scale) - 1
        return min(index, top)
    shift = -scale
    if value < MIN_VALUE:
        return MIN_NORMAL_EXPONENT >> shift
    exp, exact = _frexp(value)
    return (exp - (1 if exact else 0)) >> shift


class _Buckets:
    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def span_with(self, index: int) -> tuple[int, int]:
        if not self.counts:
            return index, index
        return min(min(self.counts), index), max(max(self.counts), index)

    def downscale(self, by: int) -> None:
        merged: dict[int, int] = {}
        for i, c in self.counts.items():
            merged[i >> by] = merged.get(i >> by, 0) + c
        self.counts = merged

    def offset_and_counts(self) -> tuple[int, list[int]]:
        if not self.counts:
            return 0, []
        lo, hi = min(self.counts), max(self.counts)
        return lo, [self.counts.get(i, 0) for i in range(lo, hi + 1)]


class ExponentialHistogram:
    def __init__(self, max_size: int = DEFAULT_MAX_SIZE):
        if max_size == 0:
            max_size = DEFAULT_MAX_SIZE
        self.max_size = min(max(max_size, MIN_SIZE), MAXIMUM_MAX_SIZE)
        self.scale_ = MAX_SCALE
        self.count = 0
        self.zero_count = 0
        self.sum = 0.0
        self.min = 0.0
        self.max = 0.0
        self.positive = _Buckets()
        self.negative = _Buckets()

    @property
    def scale(self) -> int:
        return 0 if self.count == self.zero_count else self.scale_

    def update(self, value: float, incr: int = 1) -> None:
        if incr == 0:
            return
        if self.count == 0:
            self.min = self.max = value
        else:
            self.min = min(self.min, value)
            self.max = max(self.max, value)
        self.count += incr
        if value == 0:
            self.zero_count += incr
            return
        self.sum += value * incr
        buckets = self.positive if value > 0 else self.negative
        magnitude = abs(value)
        index = map_to_index(magnitude, self.scale_)
        lo, hi = buckets.span_with(index)
        change = 0
        while hi - lo >= self.max_size:
            hi >>= 1
            lo >>= 1
            change += 1
        if change:
            self.positive.downscale(change)
            self.negative.downscale(change)
            self.scale_ -= change
            index = map_to_index(magnitude, self.scale_)
        buckets.counts[index] = buckets.counts.get(index, 0) + incr

    def to_point(self, dp) -> None:
        """Fill an OTLP ExponentialHistogramDataPoint's count, sum, min/max, scale and buckets."""
        dp.count = self.count
        dp.sum = self.sum
        if self.count:
            dp.min = self.min
            dp.max = self.max
        dp.zero_count = self.zero_count
        dp.scale = self.scale
        for half, out in ((self.positive, dp.positive), (self.negative, dp.negative)):
            offset, counts = half.offset_and_counts()
            out.offset = offset
            out.bucket_counts.extend(counts)
