"""Per-stream memory of the last cumulative point, and the delta it yields (upstream's tracking package).

A stream is keyed by a 16-byte digest of: metric type, value type, the resource attributes, the
scope's name and version, monotonicity, metric name and unit, the point's attributes and its start
timestamp, so a restarted producer (new start time) begins a new stream. Each state is a small list
whose first element is the last point's timestamp: the sweeper evicts states whose *data* timestamp
is older than ``max_staleness`` before the wall clock, as upstream does.
"""

from __future__ import annotations

import math
import time

AUTO, KEEP, DROP = "auto", "keep", "drop"
RESET, INITIAL, BUCKET_MISMATCH = "reset", "initial", "bucket_mismatch"

_U64 = (1 << 64) - 1
_I64_MIN, _I64_SPAN = -(1 << 63), 1 << 64
_LOG2E = 1 / math.log(2)


def wrap_int64(v: int) -> int:
    return (v - _I64_MIN) % _I64_SPAN + _I64_MIN


class Buckets:
    __slots__ = ("offset", "counts")

    def __init__(self, offset: int, counts: list[int]):
        self.offset = offset
        self.counts = counts

    def clone(self) -> "Buckets":
        return Buckets(self.offset, list(self.counts))

    def coarsen(self, bits: int) -> "Buckets":
        out = Buckets(self.offset >> bits, [])
        if self.counts:
            top = self.offset + len(self.counts) - 1
            out.counts = [0] * ((top >> bits) - out.offset + 1)
            for i, c in enumerate(self.counts):
                out.counts[((self.offset + i) >> bits) - out.offset] += c
        return out

    def trim_zeros(self, threshold_bucket: int) -> int:
        """Move the buckets at or below the zero threshold's bucket out; return their total."""
        index = threshold_bucket - self.offset
        if index < 0:
            return 0
        cut = min(index + 1, len(self.counts))
        moved = sum(self.counts[:cut])
        self.counts = self.counts[cut:]
        self.offset += cut
        return moved

    def diff(self, old: "Buckets") -> tuple["Buckets", bool]:
        """Per-bucket increase over ``old`` (zero buckets skipped); True when some bucket went down."""
        out = Buckets(0, [])
        started = False
        for i, count in enumerate(self.counts):
            if count == 0:
                continue
            bucket = self.offset + i
            j = bucket - old.offset
            before = old.counts[j] if 0 <= j < len(old.counts) else 0
            if count == before:
                continue
            if count < before:
                return out, True
            if not started:
                out.offset, started = bucket, True
            else:
                out.counts.extend([0] * (bucket - (out.offset + len(out.counts))))
            out.counts.append(count - before)
        return out, False


class ExpoPoint:
    __slots__ = ("count", "sum", "zero_count", "zero_threshold", "scale", "positive", "negative")

    def __init__(self, count, sum_, zero_count, zero_threshold, scale, positive: Buckets, negative: Buckets):
        self.count, self.sum, self.zero_count = count, sum_, zero_count
        self.zero_threshold, self.scale = zero_threshold, scale
        self.positive, self.negative = positive, negative

    def clone(self) -> "ExpoPoint":
        return ExpoPoint(self.count, self.sum, self.zero_count, self.zero_threshold, self.scale,
                         self.positive.clone(), self.negative.clone())


class Tracker:
    """Stream states; ``convert_*`` return ``(valid, reason, start, delta...)``."""

    def __init__(self, initial_value: str):
        self.initial_value = initial_value
        self.start_time = time.time_ns()   # points that started before the processor: seen midway
        self.states: dict[bytes, list] = {}

    def __len__(self) -> int:
        return len(self.states)

    def _first(self, start: int, ts: int) -> tuple[bool, str, int]:
        mode = self.initial_value
        if mode == AUTO:
            if start < self.start_time or ts == start:
                return False, INITIAL, 0
            return True, "", start
        if mode == KEEP:
            return True, "", 0
        return False, INITIAL, 0

    def convert_sum(self, key: bytes, ts: int, start: int, value, is_float: bool):
        state = self.states.get(key)
        if state is None:
            self.states[key] = [ts, value]
            valid, reason, out_start = self._first(start, ts)
            return valid, reason, out_start, value
        prev = state[1]
        out_start = state[0]
        delta = value - prev
        if not is_float:
            delta = wrap_int64(delta)
        state[0], state[1] = ts, value
        if value < prev:
            return False, RESET, out_start, delta
        return True, "", out_start, delta

    def convert_histogram(self, key: bytes, ts: int, start: int, count: int, sum_: float,
                          bounds: list[float], counts: list[int]):
        """Returns (valid, reason, start, count, sum, counts); a mismatch is reported, not logged."""
        state = self.states.get(key)
        if state is None:
            self.states[key] = [ts, count, sum_, bounds, counts]
            valid, reason, out_start = self._first(start, ts)
            return valid, reason, out_start, count, sum_, counts
        _, pcount, psum, pbounds, pcounts = state
        if math.isnan(sum_):
            sum_ = psum
        out_start = state[0]
        if len(counts) != len(pcounts) or len(bounds) != len(pbounds) or any(a != b for a, b in zip(bounds, pbounds)):
            state[:] = [ts, count, sum_, bounds, counts]
            return False, BUCKET_MISMATCH, out_start, 0, 0.0, counts
        if count < pcount or any(c < p for c, p in zip(counts, pcounts)):
            return False, RESET, out_start, 0, 0.0, counts   # state kept: the next point diffs against it
        delta_counts = [c - p for c, p in zip(counts, pcounts)]
        state[:] = [ts, count, sum_, bounds, counts]
        return True, "", out_start, count - pcount, sum_ - psum, delta_counts

    def convert_exponential(self, key: bytes, ts: int, start: int, point: ExpoPoint):
        state = self.states.get(key)
        if state is None:
            self.states[key] = [ts, point]
            valid, reason, out_start = self._first(start, ts)
            return valid, reason, out_start, point.clone()
        prev: ExpoPoint = state[1]
        out_start = state[0]
        if point.count < prev.count or point.zero_threshold < prev.zero_threshold or point.scale > prev.scale:
            return False, RESET, out_start, None
        delta = point.clone()
        delta.count -= prev.count
        delta.sum -= prev.sum
        # As upstream, the adjustments below change the remembered point even if a reset follows.
        if point.zero_threshold > prev.zero_threshold:
            factor = math.ldexp(_LOG2E, prev.scale)
            bucket = int(math.ceil(math.log(point.zero_threshold) * factor) - 1)
            prev.zero_count += prev.positive.trim_zeros(bucket)
            prev.zero_count += prev.negative.trim_zeros(bucket)
        delta.zero_count = (delta.zero_count - prev.zero_count) & _U64
        if point.scale < prev.scale:
            bits = prev.scale - point.scale
            prev.scale = point.scale
            prev.positive = prev.positive.coarsen(bits)
            prev.negative = prev.negative.coarsen(bits)
        delta.positive, reset = point.positive.diff(prev.positive)
        if reset:
            return False, RESET, out_start, None
        delta.negative, reset = point.negative.diff(prev.negative)
        if reset:
            return False, RESET, out_start, None
        state[0], state[1] = ts, point
        return True, "", out_start, delta

    def remove_stale(self, stale_before_ns: int) -> int:
        doomed = [k for k, s in self.states.items() if s[0] < stale_before_ns]
        for k in doomed:
            del self.states[k]
        return len(doomed)
