"""Adding a delta point into the accumulated one (upstream's data.Adder and delta.Aggregate).

``state`` and ``dp`` are protobuf data points; ``state`` is changed in place. The checks of
``accumulate`` come first: a state without a timestamp takes the point as it is; an older start
time or a timestamp not after the state's is refused with upstream's error type name.
"""

from __future__ import annotations

from otelflow.processors.deltatocumulative import expo

ERR_OLDER_START = "delta.ErrOlderStart"
ERR_OUT_OF_ORDER = "delta.ErrOutOfOrder"
_I64_MIN, _I64_SPAN = -(1 << 63), 1 << 64
_U64 = (1 << 64) - 1


def accumulate(state, dp, add) -> str:
    """'' when ``dp`` was folded into ``state``, else the error's type name."""
    if state.time_unix_nano == 0:
        state.CopyFrom(dp)
        return ""
    if dp.start_time_unix_nano < state.start_time_unix_nano:
        return ERR_OLDER_START
    if dp.time_unix_nano <= state.time_unix_nano:
        return ERR_OUT_OF_ORDER
    add(state, dp)
    state.time_unix_nano = dp.time_unix_nano
    return ""


def add_numbers(state, dp) -> None:
    kind = dp.WhichOneof("value")
    if kind == "as_double":
        state.as_double = state.as_double + dp.as_double
    elif kind == "as_int":
        state.as_int = (state.as_int + dp.as_int - _I64_MIN) % _I64_SPAN + _I64_MIN


def _sum_min_max(state, dp) -> None:
    if state.HasField("sum") and dp.HasField("sum"):
        state.sum = state.sum + dp.sum
    else:
        state.ClearField("sum")
    if state.HasField("min") and dp.HasField("min"):
        state.min = _go_min(state.min, dp.min)
    else:
        state.ClearField("min")
    if state.HasField("max") and dp.HasField("max"):
        state.max = _go_max(state.max, dp.max)
    else:
        state.ClearField("max")


def _go_min(a: float, b: float) -> float:
    # Go's math.Min/Max propagate NaN; Python's min/max would not.
    return a if a != a else b if b != b else min(a, b)


def _go_max(a: float, b: float) -> float:
    return a if a != a else b if b != b else max(a, b)


def add_histograms(state, dp) -> None:
    sb, db = state.explicit_bounds, dp.explicit_bounds
    if len(sb) != len(db) or any(a != b for a, b in zip(sb, db)):
        state.CopyFrom(dp)
        return
    counts = list(state.bucket_counts)
    for i, c in enumerate(dp.bucket_counts[:len(counts)]):
        counts[i] = (counts[i] + c) & _U64
    state.bucket_counts[:] = counts
    state.count = (state.count + dp.count) & _U64
    _sum_min_max(state, dp)


def _buckets(b) -> tuple[int, list[int]]:
    return b.offset, list(b.bucket_counts)


def _put(b, offset: int, counts: list[int]) -> None:
    b.offset = offset
    b.bucket_counts[:] = counts


def _downscale_point(p, dst: int) -> None:
    for b in (p.positive, p.negative):
        off, counts = _buckets(b)
        _put(b, expo.downscale(off, counts, p.scale, dst), counts)
    p.scale = dst


def _widen_zero(p, width: float) -> None:
    if width == p.zero_threshold:
        return
    zero = expo.index_of(p.scale, width)
    for b in (p.positive, p.negative):
        off, counts = _buckets(b)
        lower, upper = off, off + len(counts)
        p.zero_count = (p.zero_count + sum(counts[max(0, i - off)] for i in range(lower, min(zero, upper - 1) + 1))) & _U64
        lo = max(lower, min(zero + 1, upper))
        _put(b, lo, counts[lo - off:])
    p.zero_threshold = expo.lower_bound(p.scale, zero + 1)


def add_exponential(state, dp) -> None:
    if state.scale != dp.scale:
        hi = dp if state.scale < dp.scale else state
        lo = state if hi is dp else dp
        _downscale_point(hi, lo.scale)
    src = state.scale
    dst = min(expo.limit(src, *_buckets(state.positive), *_buckets(dp.positive)),
              expo.limit(src, *_buckets(state.negative), *_buckets(dp.negative)))
    if src != dst:
        _downscale_point(state, dst)
        _downscale_point(dp, dst)
    if state.zero_threshold != dp.zero_threshold:
        hi = dp if state.zero_threshold < dp.zero_threshold else state
        lo = state if hi is dp else dp
        _widen_zero(lo, hi.zero_threshold)
    for sb, db in ((state.positive, dp.positive), (state.negative, dp.negative)):
        off, counts = expo.merge(*_buckets(sb), *_buckets(db))
        _put(sb, off, counts)
    state.count = (state.count + dp.count) & _U64
    state.zero_count = (state.zero_count + dp.zero_count) & _U64
    _sum_min_max(state, dp)
