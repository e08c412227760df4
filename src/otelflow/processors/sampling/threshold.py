"""Thresholds and randomness: plain ints in ``[0, 2**56]``.

An item is sampled when ``threshold <= randomness``. A threshold counts how many of the 2**56
randomness values are rejected: 0 keeps everything, 2**56 keeps nothing. Randomness is 56 bits,
taken from the ``rv`` tracestate value or from the low 7 bytes of the trace ID.
"""

from __future__ import annotations

import math
import re

MAX_ADJUSTED_COUNT = 1 << 56
NUM_HEX_DIGITS = 14  # 56 bits
MIN_SAMPLING_PROBABILITY = 1.0 / MAX_ADJUSTED_COUNT

ALWAYS_SAMPLE = 0  # encodes as th:0
NEVER_SAMPLE = MAX_ADJUSTED_COUNT  # encodes as no th at all
ALL_PROBABILITIES_RANDOMNESS = MAX_ADJUSTED_COUNT - 1

_U64 = (1 << 64) - 1
_HEX = re.compile(r"[0-9a-fA-F]+")


class SamplingError(ValueError):
    """A value that cannot be used for sampling (bad t-value, r-value, tracestate...)."""


class InconsistentSampling(SamplingError):
    """An update that would raise an item's sampling probability."""


ERR_TVALUE_SIZE = "t-value exceeds 14 hex digits"
ERR_TVALUE_EMPTY = "t-value is empty"
ERR_RVALUE_SIZE = "r-value must have 14 hex digits"
ERR_PROBABILITY_RANGE = "sampling probability out of the range [1/MaxAdjustedCount, 1]"
ERR_INCONSISTENT = "cannot raise existing sampling probability"


def _parse_hex(text: str) -> int:
    # strconv.ParseUint(s, 16, 64): hex digits only, no sign, prefix or underscores
    if not _HEX.fullmatch(text):
        raise SamplingError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    return int(text, 16)


def tvalue_to_threshold(text: str) -> int:
    """``th`` hex digits (trailing zeros omitted) → threshold."""
    if len(text) > NUM_HEX_DIGITS:
        raise SamplingError(ERR_TVALUE_SIZE)
    if not text:
        raise SamplingError(ERR_TVALUE_EMPTY)
    return _parse_hex(text) << (4 * (NUM_HEX_DIGITS - len(text)))


def threshold_to_tvalue(threshold: int) -> str:
    """Threshold → ``th`` text: "0" for always, "" for never, else 14 digits less trailing zeros."""
    if threshold == ALWAYS_SAMPLE:
        return "0"
    if threshold >= NEVER_SAMPLE:
        return ""
    return ("%014x" % threshold).rstrip("0")


def rvalue_to_randomness(text: str) -> int:
    if len(text) != NUM_HEX_DIGITS:
        raise SamplingError(ERR_RVALUE_SIZE)
    return _parse_hex(text)


def randomness_to_rvalue(randomness: int) -> str:
    return "%014x" % randomness if randomness < MAX_ADJUSTED_COUNT else ""


def trace_id_to_randomness(trace_id: bytes) -> int:
    """The W3C level-2 randomness: the least significant 56 bits of the trace ID."""
    return int.from_bytes(trace_id[9:16], "big")


def threshold_probability(threshold: int) -> float:
    return float(MAX_ADJUSTED_COUNT - threshold) / float(MAX_ADJUSTED_COUNT)


def _go_round(x: float) -> int:
    """math.Round for x >= 0: half away from zero (Python's round() is half-even)."""
    whole = math.floor(x)
    return int(whole) + (1 if x - whole >= 0.5 else 0)


def _trunc_div(a: int, b: int) -> int:
    """Go's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def probability_to_threshold(fraction: float, precision: int) -> int:
    """A probability in [2**-56, 1] → threshold rounded to ``precision`` hex digits.

    Precision 0 means all 14 digits. Digits are added automatically for every leading hex ``0`` of
    the probability or ``f`` of its complement, so that small (or near-1) probabilities keep their
    relative accuracy. Raises SamplingError when the probability is out of range (or NaN).
    """
    if precision == 0:
        precision = NUM_HEX_DIGITS
    if not (MIN_SAMPLING_PROBABILITY <= fraction <= 1):
        raise SamplingError(ERR_PROBABILITY_RANGE)
    if fraction == 1:
        return ALWAYS_SAMPLE
    exp_f = math.frexp(fraction)[1]
    exp_r = math.frexp(1 - fraction)[1]
    precision = min(NUM_HEX_DIGITS, max(precision + _trunc_div(exp_f, -4), precision + _trunc_div(exp_r, -4)))
    threshold = MAX_ADJUSTED_COUNT - _go_round(fraction * MAX_ADJUSTED_COUNT)
    shift = 4 * (NUM_HEX_DIGITS - precision)
    if shift != 0:
        # uint64 arithmetic: shifts of 64 or more give 0 (only reachable with a negative precision)
        half = (1 << (shift - 1)) & _U64 if shift - 1 < 64 else 0
        threshold = (threshold + half) & _U64
        threshold = ((threshold >> shift) << shift) & _U64 if shift < 64 else 0
    return threshold
