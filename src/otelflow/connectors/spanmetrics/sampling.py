"""Adjusted counts from OTel tracestate thresholds (``ot=th:…``): a span sampled at a threshold
stands for several, so spanmetrics counts it as its adjusted count, as upstream does. Kept apart
because it is pure tracestate parsing, independent of series state and emission."""

from __future__ import annotations

import random
import re
from typing import Callable

MAX_ADJUSTED_COUNT = 1 << 56
_W3C_KEY = r"(?:[a-z][a-z0-9\-\*/_]*|[a-z0-9][a-z0-9\-\*/_]*@[a-z][a-z0-9\-\*/_]*)"
_W3C_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_W3C_MEMBER = rf"(?:{_W3C_KEY}={_W3C_VALUE})?"
_W3C = re.compile(rf"^[ \t]*{_W3C_MEMBER}[ \t]*(?:,[ \t]*{_W3C_MEMBER}[ \t]*)*$")
_OTEL_MEMBER = re.compile(r"^[a-z][a-z0-9]*:[A-Za-z0-9._\-]*$")
_HEX = re.compile(r"^[0-9a-fA-F]{1,14}$")


def _threshold(tracestate: str) -> int | None:
    """The 56-bit rejection threshold of an OTel ``th`` value, or None (no or invalid threshold)."""
    if len(tracestate) > 1024 or not _W3C.match(tracestate):
        return None
    otel = None
    members = [m.strip() for m in tracestate.split(",") if m.strip()]
    if len(members) > 32:
        return None
    for member in members:
        key, _, value = member.partition("=")
        if key == "ot":
            otel = value
    if otel is None or len(otel) > 256 or not otel or otel.endswith(";"):
        return None
    th = None
    for part in otel.split(";"):
        if not _OTEL_MEMBER.match(part):
            return None
        key, _, value = part.partition(":")
        if key == "th":
            if not _HEX.match(value):
                return None  # upstream's parser fails the whole tracestate
            th = int(value, 16) << (4 * (14 - len(value)))
    return th


def adjusted_count(tracestate: str, rng: Callable[[], float] = random.random) -> tuple[int, bool]:
    """(how many spans this one stands for, whether a threshold said so), with upstream's stochastic
    rounding of non-integral counts."""
    if not tracestate or "ot=" not in tracestate:
        return 1, False
    th = _threshold(tracestate)
    if th is None:
        return 1, False
    denominator = MAX_ADJUSTED_COUNT - th
    if denominator == 0:
        return 1, False
    quotient, remainder = divmod(MAX_ADJUSTED_COUNT, denominator)
    if remainder and rng() * denominator < remainder:
        quotient += 1
    return quotient, True
