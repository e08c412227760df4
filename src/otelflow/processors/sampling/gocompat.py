"""Go behaviour that the sampler's decisions depend on, reproduced exactly.

* FNV-1a (32 bit), as ``hash/fnv``.
* float32 rounding (the config's ``sampling_percentage`` is a float32) and Go's ``%g`` for it
  (float64 formatting is in ``otelflow.pdata.govalue``).
* ``strconv.ParseFloat(s, 64)``: which strings parse, and which overflow (an error in Go).
* pdata ``Value.AsString`` (what the logs sampler hashes when the attribute is not bytes).
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal

from otelflow.pdata.govalue import underscores_ok, value_as_string

FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193


def fnv1a32(data: bytes, state: int = FNV32_OFFSET) -> int:
    for byte in data:
        state = ((state ^ byte) * FNV32_PRIME) & 0xFFFFFFFF
    return state


def float32(value: float) -> float:
    """Go's float32(value), as a Python float holding the exact float32 value."""
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


def format_g32(value: float) -> str:
    """fmt's ``%g`` of a float32: the shortest digits that read back as the same float32."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    for digits in range(1, 10):
        text = f"{value:.{digits - 1}e}"
        if float32(float(text)) == value:
            break
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text)
    if mantissa.find(".") >= 0:
        mantissa = mantissa.rstrip("0").rstrip(".")
    if exponent < -4 or exponent >= 6:  # %g with the shortest digits switches at 1e-4 and 1e6
        sign = "-" if exponent < 0 else "+"
        return f"{mantissa}e{sign}{abs(exponent):02d}"
    return format(Decimal(text).normalize(), "f")


# ---- strconv.ParseFloat --------------------------------------------------------------------------

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DEC_DIGITS = frozenset("0123456789")


class _Invalid(ValueError):
    pass


def _special(text: str) -> float | None:
    sign = 1.0
    body = text
    if body[:1] in ("+", "-"):
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
        if body.lower() in ("inf", "infinity"):
            return math.copysign(math.inf, sign)
        return None
    lowered = body.lower()
    if lowered in ("inf", "infinity"):
        return math.inf
    if lowered == "nan":
        return math.nan
    return None


def _read_float(text: str) -> float:
    i, n = 0, len(text)
    negative = False
    if i < n and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    hex_ = i + 2 < n and text[i] == "0" and text[i + 1] in "xX"
    if hex_:
        i += 2
    digits = _HEX_DIGITS if hex_ else _DEC_DIGITS
    mantissa = []
    saw_dot = saw_digits = underscores = False
    while i < n:
        ch = text[i]
        if ch == "_":
            underscores = True
        elif ch == ".":
            if saw_dot:
                break
            saw_dot = True
            mantissa.append(ch)
        elif ch in digits:
            saw_digits = True
            mantissa.append(ch)
        else:
            break
        i += 1
    if not saw_digits:
        raise _Invalid(text)
    exponent = ""
    if i < n and text[i].lower() == ("p" if hex_ else "e"):
        i += 1
        if i >= n:
            raise _Invalid(text)
        sign = ""
        if text[i] in "+-":
            sign = text[i]
            i += 1
        if i >= n or text[i] not in _DEC_DIGITS:
            raise _Invalid(text)
        exp_digits = []
        while i < n and (text[i] in _DEC_DIGITS or text[i] == "_"):
            if text[i] == "_":
                underscores = True
            else:
                exp_digits.append(text[i])
            i += 1
        exponent = sign + "".join(exp_digits)
    elif hex_:
        raise _Invalid(text)  # a hex float needs its p exponent
    if i != n or (underscores and not underscores_ok(text)):
        raise _Invalid(text)
    body = "".join(mantissa)
    if hex_:
        try:
            value = float.fromhex(f"0x{body}p{exponent}")
        except OverflowError:
            raise OverflowError(text) from None
    else:
        value = float(f"{body}e{exponent}" if exponent else body)
        if math.isinf(value):
            raise OverflowError(text)
    return -value if negative else value


def parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64), or None where Go returns an error (syntax or out of range)."""
    if not text:
        return None
    special = _special(text)
    if special is not None:
        return special
    try:
        return _read_float(text)
    except (_Invalid, OverflowError, ValueError):
        return None


# ---- pdata Value.AsString -----------------------------------------------------------------------

def value_bytes(value) -> bytes:
    """What the logs sampler hashes for an attribute: raw bytes, or the UTF-8 of AsString."""
    if value.WhichOneof("value") == "bytes_value":
        return value.bytes_value
    return value_as_string(value, js_nonfinite=True, empty_bytes_null=True).encode("utf-8", "surrogatepass")
