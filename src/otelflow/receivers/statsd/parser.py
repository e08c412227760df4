"""One StatsD/DogStatsD line -> its parts, with upstream's rules and error texts.

``<name>:<value>|<type>[|@<rate>][|#<k:v>,...][|c:<container>][|T<unix seconds>]``, type one of
c, g, h, ms, d. A sign on the value makes a gauge update relative. Lines are user input: every
rejection is a :class:`StatsdParseError` with the message upstream logs, never anything else.
"""

from __future__ import annotations

import json
import math
import re
from typing import NamedTuple

TYPE_NAMES = {"c": "counter", "g": "gauge", "h": "histogram", "ms": "timing", "d": "distribution"}

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_SPECIAL = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
            "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}


class StatsdParseError(ValueError):
    pass


class Line(NamedTuple):
    name: str
    type: str  # c, g, h, ms, d
    attrs: tuple[tuple[str, str], ...]  # sorted by key, last value of a repeated key wins
    value: float
    addition: bool  # the value carried a sign: a gauge moves by it
    sample_rate: float
    timestamp_ns: int  # 0 unless the line carried T<seconds>


def parse_go_float(text: str) -> float:
    """Go's strconv.ParseFloat(text, 64): ValueError for what it rejects, including overflow."""
    special = _SPECIAL.get(text.lower())
    if special is not None:
        return special
    if _DECIMAL.fullmatch(text):
        value = float(text)
    elif _HEX.fullmatch(text):
        try:
            value = float.fromhex(text)
        except OverflowError:
            raise ValueError(text) from None
    else:
        raise ValueError(text)
    if math.isinf(value):  # out of range: Go answers ErrRange
        raise ValueError(text)
    return value


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def parse_line(line: str, enable_metric_type: bool, enable_simple_tags: bool) -> Line:
    name_value, found, rest = line.partition("|")
    if not found:
        raise StatsdParseError(f"invalid message format: {line}")
    name, found, value_text = name_value.partition(":")
    if not found:
        raise StatsdParseError(f"invalid <name>:<value> format: {name_value}")
    if not name:
        raise StatsdParseError("empty metric name")
    if not value_text:
        raise StatsdParseError("empty metric value")
    addition = value_text[0] in "+-"
    kind, _, more = rest.partition("|")
    if kind not in TYPE_NAMES:
        raise StatsdParseError(f"unsupported metric type: {kind}")

    attrs: dict[str, str] = {}
    sample_rate = 0.0
    timestamp_ns = 0
    part, _, more = more.partition("|")
    while part:  # an empty part ends the line, as upstream reads it
        if part.startswith("@"):
            try:
                sample_rate = parse_go_float(part[1:])
            except ValueError:
                raise StatsdParseError(f"parse sample rate: {part[1:]}") from None
        elif part.startswith("#"):
            for tag in part[1:].split(","):
                if not tag:
                    continue
                key, _, val = tag.partition(":")
                if not key or (not val and not enable_simple_tags):
                    raise StatsdParseError(f"invalid tag format: {_go_quote(tag)}")
                attrs.pop(key, None)
                attrs[key] = val
        elif part.startswith("c:"):
            if part[2:]:
                attrs.pop("container.id", None)
                attrs["container.id"] = part[2:]
        elif part.startswith("T"):
            if kind not in ("c", "g"):
                raise StatsdParseError("only GAUGE and COUNT metrics support a timestamp")
            digits = part[1:]
            if not digits.isascii() or not digits.isdigit() or int(digits) >= 1 << 64:
                raise StatsdParseError(f"invalid timestamp: {digits}")
            timestamp_ns = (int(digits) * 1_000_000_000) % (1 << 64)
        else:
            raise StatsdParseError(f"unrecognized message part: {part}")
        part, _, more = more.partition("|")
    try:
        value = parse_go_float(value_text)
    except ValueError:
        raise StatsdParseError(f"parse metric value string: {value_text}") from None
    if enable_metric_type:
        attrs.pop("metric_type", None)
        attrs["metric_type"] = TYPE_NAMES[kind]
    if math.isnan(value) or math.isinf(value):
        reason = "NaN" if math.isnan(value) else "infinite"
        raise StatsdParseError(f"discarding metric {_go_quote(name)}: invalid {reason} value")
    return Line(name, kind, tuple(sorted(attrs.items())), value, addition, sample_rate, timestamp_ns)
