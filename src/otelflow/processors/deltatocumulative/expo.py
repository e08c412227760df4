"""Exponential-histogram bucket arithmetic for accumulation (upstream's internal/data/expo).

Buckets are an ``offset`` and a list of counts. Downscaling halves the resolution one scale at a
time and, like upstream, leaves the freed tail of the list as zeros; merging trims zero buckets at
both ends. Go's integer division truncates toward zero, which the bucket limit relies on.
"""

from __future__ import annotations

import math

MAX_BUCKETS = 160
_LN2 = math.log(2)
_LOG2E = 1 / _LN2


def go_div2(n: int) -> int:
    return -((-n) // 2) if n < 0 else n // 2


def _abs(offset: int, counts: list[int], at: int) -> int:
    i = at - offset
    return counts[i] if 0 <= i < len(counts) else 0


def collapse(offset: int, counts: list[int]) -> int:
    """One scale down, in place; returns the new offset."""
    n = len(counts)
    odd = offset % 2 != 0
    shift = -1 if odd else 0
    size = n // 2 + (1 if (n % 2 != 0 or odd) else 0)
    if odd:
        offset -= 1
    offset = go_div2(offset)
    if n == 0:
        return offset
    for i in range(size):
        k = 2 * i + shift
        if i == 0 and k == -1:
            continue
        counts[i] = counts[k] + (counts[k + 1] if k + 1 < n else 0)
    for i in range(size, n):
        counts[i] = 0
    return offset


def downscale(offset: int, counts: list[int], src: int, dst: int) -> int:
    for _ in range(src - dst):
        if offset in (0, -1) and not any(counts[1:]):
            break   # a fixed point: no more collapsing changes anything (scale may be int32-wide)
        offset = collapse(offset, counts)
    return offset


def _span(a_off: int, a: list[int], b_off: int, b: list[int]) -> tuple[int, int]:
    lo = min(a_off, b_off)
    up = max(a_off + len(a), b_off + len(b))
    while lo < up and _abs(a_off, a, lo) == 0 and _abs(b_off, b, lo) == 0:
        lo += 1
    while lo < up - 1 and _abs(a_off, a, up - 1) == 0 and _abs(b_off, b, up - 1) == 0:
        up -= 1
    return lo, up


def limit(scale: int, a_off: int, a: list[int], b_off: int, b: list[int], max_buckets: int = MAX_BUCKETS) -> int:
    """The scale at which both bucket ranges together fit in ``max_buckets``."""
    lo, up = _span(a_off, a, b_off, b)
    while up - lo > max_buckets:
        lo, up = go_div2(lo), go_div2(up)
        scale -= 1
    return scale


def merge(a_off: int, a: list[int], b_off: int, b: list[int]) -> tuple[int, list[int]]:
    """a + b, bucket by bucket."""
    if not b:
        return a_off, a
    if not a:
        return b_off, list(b)
    lo, up = _span(a_off, a, b_off, b)
    return lo, [_abs(a_off, a, i) + _abs(b_off, b, i) for i in range(lo, up)]


def index_of(scale: int, v: float) -> int:
    frac, exp = math.frexp(v)
    if frac == 0.5:
        return (((exp - 1) << scale) if scale >= 0 else ((exp - 1) >> -scale)) - 1
    return math.floor(math.log(v) * math.ldexp(_LOG2E, scale))


def lower_bound(scale: int, index: int) -> float:
    return math.exp(index * math.ldexp(_LN2, -scale))
