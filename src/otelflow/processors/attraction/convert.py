"""The ``convert`` action's conversions, with Go's strconv parsing rules (ParseInt, ParseFloat)
and Go's float-to-int64 truncation."""

from __future__ import annotations

import math
import re

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.pdata.govalue import underscores_ok
from otelflow.processors.attraction.values import INT64_MAX, INT64_MIN, as_string


_GO_INT = re.compile(r"[+-]?[0-9]+\Z")
_GO_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?\Z")
_GO_HEX_FLOAT = re.compile(r"([+-]?)0[xX]((?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+))[pP]([+-]?[0-9_]+)\Z")
_GO_SPECIAL = re.compile(r"([+-]?)(inf|infinity)\Z|nan\Z", re.IGNORECASE)


def parse_go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None where it fails."""
    if not text.isascii() or not _GO_INT.match(text):
        return None
    n = int(text)
    return n if INT64_MIN <= n <= INT64_MAX else None


def parse_go_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64), or None where it fails (including out of range)."""
    if not text.isascii():
        return None
    special = _GO_SPECIAL.match(text)
    if special:
        if special.group(2):
            return -math.inf if special.group(1) == "-" else math.inf
        return math.nan
    if not underscores_ok(text):
        return None
    hexa = _GO_HEX_FLOAT.match(text)
    try:
        if hexa:
            sign, mantissa, exp = hexa.groups()
            if not any(c not in "._" for c in mantissa):
                return None
            x = float.fromhex(f"{sign}0x{mantissa.replace('_', '')}p{exp.replace('_', '')}")
        elif _GO_DEC_FLOAT.match(text) and any(c.isdigit() for c in text.split("e")[0].split("E")[0]):
            x = float(text.replace("_", ""))
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return None if math.isinf(x) else x


def _float_to_int64(x: float) -> int:
    """Go's int64(x) on amd64: truncation; NaN and out-of-range give the minimum int64."""
    if math.isnan(x) or math.isinf(x):
        return INT64_MIN
    n = int(x)
    return n if INT64_MIN <= n <= INT64_MAX else INT64_MIN


def convert_value(value: AnyValue, target: str) -> bool:
    """Convert in place as upstream's convert action; False when left as it was for want of a
    conversion (upstream logs that at debug level only)."""
    kind = value.WhichOneof("value")
    if target == "string":
        if kind != "string_value":
            value.string_value = as_string(value)
        return True
    if target == "int":
        if kind == "int_value":
            return True
        if kind == "double_value":
            value.int_value = _float_to_int64(value.double_value)
        elif kind == "bool_value":
            value.int_value = 1 if value.bool_value else 0
        elif kind == "string_value":
            n = parse_go_int(value.string_value)
            if n is None:
                return False
            value.int_value = n
        else:
            return False
        return True
    if target == "double":
        if kind == "double_value":
            return True
        if kind == "int_value":
            value.double_value = float(value.int_value)
        elif kind == "bool_value":
            value.double_value = 1.0 if value.bool_value else 0.0
        elif kind == "string_value":
            x = parse_go_float(value.string_value)
            if x is None:
                return False
            value.double_value = x
        else:
            return False
        return True
    return False
