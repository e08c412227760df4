"""Go behaviour the policies' decisions depend on, reproduced exactly.

* pdata attribute access: ``Map.Get`` (first entry with the key) and ``Value.Str/Int/Bool`` (the zero
  value when the value has another type);
* ``time.Time.Sub`` on nanosecond timestamps (int64 wrap-around, saturation) and
  ``Duration.Milliseconds`` (truncation toward zero);
* FNV-1a 64 and the ``big.Float`` threshold of the probabilistic policy;
* ``go.opentelemetry.io/otel/trace.ParseTraceState`` (strict W3C parsing) and ``TraceState.Get``;
* ``golang.org/x/time/rate.Limiter.AllowN`` (a token bucket that starts full).
"""

from __future__ import annotations

import math
import time
from fractions import Fraction

_U64 = (1 << 64) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3


def attr_get(attrs, key: str):
    """pcommon.Map.Get: the value of the first entry with ``key``, or None."""
    for kv in attrs:
        if kv.key == key:
            return kv.value
    return None


def value_str(value) -> str:
    return value.string_value if value.WhichOneof("value") == "string_value" else ""


def value_int(value) -> int:
    return value.int_value if value.WhichOneof("value") == "int_value" else 0


def value_bool(value) -> bool:
    return value.bool_value if value.WhichOneof("value") == "bool_value" else False


def _as_int64(ts: int) -> int:
    return ts - (1 << 64) if ts > _I64_MAX else ts


def duration_ms(start: int, end: int) -> int:
    """``Timestamp(end).AsTime().Sub(Timestamp(start).AsTime()).Milliseconds()``."""
    d = _as_int64(end) - _as_int64(start)
    d = min(max(d, _I64_MIN), _I64_MAX)
    return d // 1_000_000 if d >= 0 else -((-d) // 1_000_000)


def fnv1a64_state(data: bytes, state: int = FNV64_OFFSET) -> int:
    for byte in data:
        state = ((state ^ byte) * FNV64_PRIME) & _U64
    return state


def probability_threshold(ratio: float) -> int:
    """``big.Float(MaxUint64) * big.NewFloat(ratio)`` rounded to 64 bits of mantissa (nearest even),
    then ``Uint64()``: truncated, and clamped to [0, MaxUint64]."""
    if math.isnan(ratio):
        raise ValueError("sampling_percentage is NaN")  # big.NewFloat panics on NaN
    if math.isinf(ratio):
        return _U64 if ratio > 0 else 0
    exact = Fraction(_U64) * Fraction(ratio)
    if exact <= 0:
        return 0
    num, den = exact.numerator, exact.denominator
    shift = num.bit_length() - den.bit_length()
    if num << max(0, -shift) < den << max(0, shift):
        shift -= 1  # now 2**shift <= exact < 2**(shift+1)
    scaled = exact * (Fraction(2) ** (63 - shift))  # in [2**63, 2**64)
    mantissa = round(scaled)  # Fraction rounds half to even
    return min(int(Fraction(mantissa) * Fraction(2) ** (shift - 63)), _U64)


# --- W3C tracestate as go.opentelemetry.io/otel/trace parses it -------------------------------------


def _value_ok(val: bytes) -> bool:
    n = len(val)
    if n == 0 or n > 256:
        return False
    for c in val[:-1]:
        if c < 0x20 or c > 0x7E or c == 0x2C or c == 0x3D:
            return False
    c = val[-1]
    return 0x21 <= c <= 0x7E and c != 0x2C and c != 0x3D


def _key_rest_ok(rest: bytes) -> bool:
    for c in rest:
        if not (0x61 <= c <= 0x7A or 0x30 <= c <= 0x39 or c in b"_-*/"):
            return False
    return True


def _key_part_ok(key: bytes, n: int) -> bool:
    return bool(key) and len(key) - 1 <= n and 0x61 <= key[0] <= 0x7A and _key_rest_ok(key[1:])


def _key_ok(key: bytes) -> bool:
    tenant, at, system = key.partition(b"@")
    if not at:
        return _key_part_ok(key, 255)
    tenant_ok = bool(tenant) and (0x61 <= tenant[0] <= 0x7A or 0x30 <= tenant[0] <= 0x39)
    return tenant_ok and len(tenant) - 1 <= 240 and _key_rest_ok(tenant[1:]) and _key_part_ok(system, 13)


def tracestate_get(raw: str, key: str) -> str | None:
    """``ParseTraceState(raw).Get(key)``; None when the tracestate does not parse."""
    if not raw:
        return ""
    members: dict[bytes, bytes] = {}
    for member in raw.encode().split(b","):
        if not member:
            continue
        k, eq, v = member.partition(b"=")
        if not eq:
            return None
        k, v = k.lstrip(b" \t"), v.rstrip(b" \t")
        if not _key_ok(k) or not _value_ok(v) or k in members:
            return None
        members[k] = v
        if len(members) > 32:
            return None
    found = members.get(key.encode())
    return "" if found is None else found.decode()


# --- golang.org/x/time/rate -------------------------------------------------------------------------


class TokenBucket:
    """``rate.NewLimiter(limit, burst)`` and ``AllowN(time.Now(), n)``."""

    __slots__ = ("limit", "burst", "tokens", "last", "clock")

    def __init__(self, limit: float, burst: int, clock=time.monotonic):
        self.limit, self.burst, self.tokens = float(limit), int(burst), float(burst)
        self.last: float | None = None
        self.clock = clock

    def allow(self, n: int) -> bool:
        now = self.clock()
        last = self.last if self.last is not None and self.last <= now else now
        tokens = self.tokens
        if self.last is None:
            tokens = float(self.burst)  # the zero time is ages ago: the bucket is full
        elif self.limit > 0:
            tokens += (now - last) * self.limit
        tokens = min(tokens, float(self.burst))
        tokens -= n
        wait_ns = 0
        if tokens < 0:
            wait_ns = math.inf if self.limit <= 0 else int((-tokens / self.limit) * 1e9)
        if n <= self.burst and wait_ns <= 0:
            self.last, self.tokens = now, tokens
            return True
        return False
