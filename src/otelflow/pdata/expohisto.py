"""The base-2 exponential histogram upstream aggregates with (lightstep go-expohisto), as the statsd
receiver and the spanmetrics connector use it.

Starts at scale 20 and halves resolution (scale - 1 per step) just enough to keep each of the
positive and negative ranges within ``max_size`` buckets, so the scale, offsets and counts it
reports match otelcol's for the same values. Buckets are kept as a dense list from ``offset``.
"""

from __future__ import annotations

import math
import struct

MAX_SCALE = 20
DEFAULT_MAX_SIZE = 160
MIN_SIZE = 2
MAXIMUM_MAX_SIZE = 16384

_SIGNIFICAND_WIDTH = 52
_SIGNIFICAND_MASK = (1 << _SIGNIFICAND_WIDTH) - 1
_EXPONENT_BIAS = 1023
_MIN_NORMAL_EXPONENT = -_EXPONENT_BIAS + 1
_MAX_NORMAL_EXPONENT = _EXPONENT_BIAS
_MIN_VALUE = 2.0 ** -1022
_LOG2_E = 1.4426950408889634  # Go's math.Log2E as a float64


def _bits(value: float) -> int:
    return struct.unpack("<q", struct.pack("<d", value))[0]


def _base2_exponent(value: float) -> int:
    return ((_bits(value) >> _SIGNIFICAND_WIDTH) & 0x7FF) - _EXPONENT_BIAS


def _significand(value: float) -> int:
    return _bits(value) & _SIGNIFICAND_MASK


def map_to_index(value: float, scale: int) -> int:
    """Bucket index of a positive ``value`` at ``scale``; (index, index+1] are its boundaries."""
    if scale <= 0:
        if value < _MIN_VALUE:
            return _MIN_NORMAL_EXPONENT >> -scale
        correction = -1 if _significand(value) == 0 else 0  # exact powers of two sit in the lower bucket
        return (_base2_exponent(value) + correction) >> -scale
    if value <= _MIN_VALUE:
        return (_MIN_NORMAL_EXPONENT << scale) - 1
    if _significand(value) == 0:
        return (_base2_exponent(value) << scale) - 1
    index = math.floor(math.log(value) * math.ldexp(_LOG2_E, scale))
    return min(index, ((_MAX_NORMAL_EXPONENT + 1) << scale) - 1)


class _Buckets:
    __slots__ = ("start", "counts")

    def __init__(self) -> None:
        self.start = 0
        self.counts: list[int] = []

    @property
    def end(self) -> int:
        return self.start + len(self.counts) - 1

    def downscale(self, by: int) -> None:
        if not self.counts:
            return
        merged: dict[int, int] = {}
        for i, count in enumerate(self.counts):
            key = (self.start + i) >> by
            merged[key] = merged.get(key, 0) + count
        new_start = self.start >> by
        self.counts = [merged.get(new_start + i, 0) for i in range((self.end >> by) - new_start + 1)]
        self.start = new_start


def valid_max_size(size: int) -> int:
    """The nearest valid size, as go-expohisto's Config.Validate: 0 or negative is the default,
    others are clamped to [MIN_SIZE, MAXIMUM_MAX_SIZE]."""
    if size <= 0:
        return DEFAULT_MAX_SIZE
    return min(max(size, MIN_SIZE), MAXIMUM_MAX_SIZE)


class ExpoHistogram:
    __slots__ = ("max_size", "scale", "count", "zero_count", "sum", "min", "max", "positive", "negative")

    def __init__(self, max_size: int = 0) -> None:
        self.max_size = valid_max_size(max_size)
        self.scale = MAX_SCALE
        self.count = 0
        self.zero_count = 0
        self.sum = 0.0
        self.min = 0.0
        self.max = 0.0
        self.positive = _Buckets()
        self.negative = _Buckets()

    @property
    def reported_scale(self) -> int:
        """Scale 0 while only zeros were seen, as upstream reports it."""
        return 0 if self.count == self.zero_count else self.scale

    def update(self, value: float, incr: int = 1) -> None:
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
        if incr == 0:
            return
        magnitude = abs(value)
        index = map_to_index(magnitude, self.scale)
        low, high = self._range_with(buckets, index)
        if high - low >= self.max_size:
            change = 0
            while high - low >= self.max_size:
                high >>= 1
                low >>= 1
                change += 1
            self.positive.downscale(change)
            self.negative.downscale(change)
            self.scale -= change
            index = map_to_index(magnitude, self.scale)
        self._increment(buckets, index, incr)

    @staticmethod
    def _range_with(b: _Buckets, index: int) -> tuple[int, int]:
        if not b.counts:
            return index, index
        return min(b.start, index), max(b.end, index)

    @staticmethod
    def _increment(b: _Buckets, index: int, incr: int) -> None:
        if not b.counts:
            b.start, b.counts = index, [incr]
        elif index < b.start:
            b.counts[:0] = [0] * (b.start - index)
            b.start = index
            b.counts[0] += incr
        elif index > b.end:
            b.counts.extend([0] * (index - b.end))
            b.counts[-1] += incr
        else:
            b.counts[index - b.start] += incr

    def to_point(self, dp) -> None:
        """Fill an OTLP ExponentialHistogramDataPoint's count, sum, min/max, scale and buckets."""
        dp.count = self.count
        dp.sum = self.sum
        if self.count:
            dp.min, dp.max = self.min, self.max
        dp.zero_count = self.zero_count
        dp.scale = self.reported_scale
        for src, dst in ((self.positive, dp.positive), (self.negative, dp.negative)):
            dst.offset = src.start
            dst.bucket_counts.extend(src.counts)
