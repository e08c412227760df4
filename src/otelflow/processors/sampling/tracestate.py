"""The W3C ``tracestate`` and its OpenTelemetry member ``ot=rv:…;th:…``.

Parsing follows upstream's pkg/sampling, including where it is stricter or looser than the W3C text:

* the whole header is at most 1024 bytes and must be syntactically valid (keys ``[a-z][a-z0-9_-*/]*``
  or ``tenant@system``, values of printable ASCII without ``,`` and ``=``, blanks only inside);
* members are counted while scanning, empty ones included, and the 32nd is an error;
* keys longer than 256 (tenant 241, system 14) are errors, and those members are dropped;
* the ``ot`` value is at most 256 bytes, ``key:value`` pairs joined by ``;``, keys ``[a-z][a-z0-9]*``,
  values ``[A-Za-z0-9._-]*``; ``rv`` must be 14 hex digits and ``th`` 1 to 14;
* a bad ``rv``/``th`` is dropped but the rest is kept, and parsing reports the error;
* a later ``ot`` member replaces an earlier one.

Serializing puts ``ot`` first (``rv``, then ``th``, then its other keys) and the other members after it
in their original order, without the blanks and empty members of the input.
"""

from __future__ import annotations

import re

from otelflow.processors.sampling.threshold import (
    ALWAYS_SAMPLE,
    ERR_INCONSISTENT,
    InconsistentSampling,
    SamplingError,
    rvalue_to_randomness,
    threshold_to_tvalue,
    tvalue_to_threshold,
)

ERR_TRACESTATE_SIZE = "invalid tracestate size"
ERR_SYNTAX = "invalid syntax"

_MAX_MEMBERS = 32
_MAX_LENGTH = 1024
_MAX_KEY = 256
_MAX_TENANT = 241
_MAX_SYSTEM = 14
_MAX_OTEL_LENGTH = 256

_KEY_CHARS = r"[a-z0-9_\-*/]"
_W3C_KEY = re.compile(rf"[a-z]{_KEY_CHARS}*|[a-z0-9]{_KEY_CHARS}*@[a-z]{_KEY_CHARS}*")
_W3C_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
_OTEL_KEY = re.compile(r"[a-z][a-z0-9]*")
_OTEL_VALUE = re.compile(r"[A-Za-z0-9._\-]*")


class OTelTraceState:
    """The ``ot`` member: r-value, t-value (kept as the text received) and other keys."""

    __slots__ = ("kvs", "randomness", "rvalue", "threshold", "tvalue")

    def __init__(self) -> None:
        self.kvs: list[tuple[str, str]] = []
        self.randomness = 0
        self.rvalue = ""
        self.threshold = ALWAYS_SAMPLE
        self.tvalue = ""

    def has_any_value(self) -> bool:
        return bool(self.rvalue or self.tvalue or self.kvs)

    def update_threshold(self, threshold: int) -> None:
        """Record a new threshold; refuses (InconsistentSampling) to raise the probability."""
        if self.tvalue and self.threshold > threshold:
            raise InconsistentSampling(ERR_INCONSISTENT)
        self.threshold = threshold
        self.tvalue = threshold_to_tvalue(threshold)

    def clear_threshold(self) -> None:
        self.tvalue = ""
        self.threshold = ALWAYS_SAMPLE

    def set_randomness(self, randomness: int) -> None:
        self.randomness = randomness
        self.rvalue = "%014x" % randomness

    def serialize(self) -> str:
        parts = []
        if self.rvalue:
            parts.append("rv:" + self.rvalue)
        if self.tvalue:
            parts.append("th:" + self.tvalue)
        parts.extend(f"{k}:{v}" for k, v in self.kvs)
        return ";".join(parts)


class W3CTraceState:
    __slots__ = ("kvs", "otel")

    def __init__(self) -> None:
        self.kvs: list[tuple[str, str]] = []
        self.otel = OTelTraceState()

    def serialize(self) -> str:
        parts = []
        if self.otel.has_any_value():
            parts.append("ot=" + self.otel.serialize())
        parts.extend(f"{k}={v}" for k, v in self.kvs)
        return ",".join(parts)


def _valid_w3c(text: str) -> bool:
    for member in text.split(","):
        member = member.strip(" \t")
        if not member:
            continue
        eq = member.find("=")
        if eq < 1:
            return False
        if not _W3C_KEY.fullmatch(member[:eq]) or not _W3C_VALUE.fullmatch(member[eq + 1:]):
            return False
    return True


def _valid_otel(text: str) -> bool:
    if not text or text.endswith(";"):
        return False
    for member in text.split(";"):
        colon = member.find(":")
        if colon < 1:  # also catches empty members
            return False
        if not _OTEL_KEY.fullmatch(member[:colon]) or not _OTEL_VALUE.fullmatch(member[colon + 1:]):
            return False
    return True


def _byte_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def parse_otel(text: str) -> tuple[OTelTraceState, list[str]]:
    """The ``ot`` value → (state, errors). On errors the state holds what could be read."""
    otel = OTelTraceState()
    if _byte_len(text) > _MAX_OTEL_LENGTH:
        return otel, [ERR_TRACESTATE_SIZE]
    if not _valid_otel(text):
        return otel, [ERR_SYNTAX]
    errors: list[str] = []
    for member in text.split(";"):
        key, _, value = member.partition(":")
        if key == "rv":
            try:
                otel.randomness = rvalue_to_randomness(value)
                otel.rvalue = value
            except SamplingError as exc:
                otel.rvalue, otel.randomness = "", 0
                errors.append(str(exc))
        elif key == "th":
            try:
                otel.threshold = tvalue_to_threshold(value)
                otel.tvalue = value
            except SamplingError as exc:
                otel.tvalue, otel.threshold = "", ALWAYS_SAMPLE
                errors.append(str(exc))
        else:
            otel.kvs.append((key, value))
    return otel, errors


def parse_w3c(text: str) -> tuple[W3CTraceState, list[str]]:
    """A ``tracestate`` header → (state, errors). On errors the state holds what could be read."""
    state = W3CTraceState()
    if not text:
        return state, []
    if _byte_len(text) > _MAX_LENGTH:
        return state, [ERR_TRACESTATE_SIZE]
    if not _valid_w3c(text):
        return state, [ERR_SYNTAX]
    errors: list[str] = []
    items = 0
    rest = text
    while rest:
        items += 1
        if items >= _MAX_MEMBERS:
            return state, [ERR_TRACESTATE_SIZE]  # replaces whatever was collected so far
        member, sep, rest = rest.partition(",")
        member = member.strip(" \t")
        if not member:
            continue
        key, _, value = member.partition("=")
        if len(key) > _MAX_KEY:
            errors.append(ERR_TRACESTATE_SIZE)
            continue
        tenant, at, system = key.partition("@")
        if at and (len(tenant) > _MAX_TENANT or len(system) > _MAX_SYSTEM):
            errors.append(ERR_TRACESTATE_SIZE)
            continue
        if key == "ot":
            state.otel, otel_errors = parse_otel(value)
            errors.extend(otel_errors)
        else:
            state.kvs.append((key, value))
    return state, errors
