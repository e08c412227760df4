"""InfluxDB line protocol as influxdata/line-protocol v2's strict encoder writes it: tags sorted by
key (empty keys or values left out), fields as given (NaN/Inf and empty keys left out), ints with
``i``, uints with ``u``, floats in Go's shortest ``%g``, nanosecond timestamps; plus Go's float
formats that the schemas use for tag values and field keys."""

from __future__ import annotations

import math

_NAME_ESC = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESC = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_STR_ESC = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
# what the strict encoder refuses in names, tag keys and values and field keys
_NON_PRINTABLE = frozenset(chr(c) for c in range(32)) | {"\x7f"}


def _printable(text: str) -> bool:
    return not any(c in _NON_PRINTABLE for c in text)


class Uint(int):
    """A field value written as an unsigned integer (``123u``)."""


class EncodeError(ValueError):
    pass


def _digits(x: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of abs(x) > 0 and the decimal point position."""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    if frac == "0":
        frac = ""
    shift = int(exp) if exp else 0
    if whole.strip("0") == "":
        stripped = frac.lstrip("0")
        return stripped.rstrip("0"), shift - (len(frac) - len(stripped))
    return (whole + frac).rstrip("0"), len(whole) + shift


def go_g(x: float) -> str:
    """strconv.FormatFloat(x, 'g', -1, 64)."""
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    sign = "-" if x < 0 else ""
    digits, dp = _digits(x)
    exp = dp - 1
    if exp < -4 or exp >= 6:  # Go decides with precision 6 for the shortest format
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return sign + _fixed(digits, dp)


def go_f(x: float) -> str:
    """strconv.FormatFloat(x, 'f', -1, 64)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    digits, dp = _digits(x)
    return ("-" if x < 0 else "") + _fixed(digits, dp)


def _fixed(digits: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * -dp + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def _field(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Uint):
        return f"{int(value)}u"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else go_g(value)
    if isinstance(value, str):
        return '"' + value.translate(_STR_ESC) + '"'
    return None


def encode_line(measurement: str, tags: dict[str, str], fields: dict[str, object], ts_ns: int) -> str:
    """One line (with its newline); EncodeError where the strict encoder refuses the point."""
    if not measurement:
        raise EncodeError("invalid measurement: empty")
    if not _printable(measurement):
        raise EncodeError(f"invalid measurement {measurement!r}")
    parts = [measurement.translate(_NAME_ESC)]
    for key in sorted(tags):
        value = tags[key]
        if not key or not value:
            continue
        if not _printable(key) or not _printable(value):
            raise EncodeError(f"invalid tag {key!r}")
        parts.append(f",{key.translate(_KEY_ESC)}={value.translate(_KEY_ESC)}")
    encoded = []
    for key, value in fields.items():
        text = _field(value) if key else None
        if text is None:
            continue
        if not _printable(key):
            raise EncodeError(f"invalid field key {key!r}")
        encoded.append(f"{key.translate(_KEY_ESC)}={text}")
    if not encoded:
        raise EncodeError("no fields")
    return f"{''.join(parts)} {','.join(encoded)} {ts_ns}\n"
