"""Query-string validation for the store's JSON API: one function per endpoint, returning keyword
arguments for the matching query function, or raising BadRequest with a message for the 400 body.

Kept apart from the HTTP server so that the rules (defaults, limits, formats) are plain functions.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any, Protocol

HOUR_US = 3_600_000_000
MAX_LIMIT = 1000
MAX_BUCKETS = 10_000
MAX_US = 9_000_000_000_000_000  # about the year 2255: times x 1000 must still fit the store's int64 nanoseconds
SEVERITY_LEVELS = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "WARNING": 13, "ERROR": 17, "FATAL": 21}
STATUSES = {"unset": 0, "ok": 1, "error": 2}
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


class BadRequest(ValueError):
    """A query parameter is missing or malformed; the message says what is expected."""


class Query(Protocol):
    """What aiohttp's ``request.query`` (a MultiDict) offers."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getall(self, key: str, default: Any = None) -> list: ...


def _text(q: Query, name: str, required: bool = False) -> str | None:
    value = q.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{name} is required")
        return None
    return value


def _int(q: Query, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None) -> int | None:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if lo is not None and value < lo:
        raise BadRequest(f"{name} must be at least {lo}, got {value}")
    if hi is not None and value > hi:
        raise BadRequest(f"{name} must be at most {hi}, got {value}")
    return value


def time_range(q: Query, now_us: int | None = None) -> dict[str, int]:
    """``start_us``/``end_us``: the last hour ending now unless given; start must not be after end."""
    now_us = now_us if now_us is not None else time.time_ns() // 1000
    end = _int(q, "end_us", now_us, lo=0, hi=MAX_US)
    start = _int(q, "start_us", max(0, end - HOUR_US), lo=0, hi=MAX_US)
    if start > end:
        raise BadRequest(f"start_us ({start}) must not be after end_us ({end})")
    return {"start_us": start, "end_us": end}


def _limit(q: Query, default: int) -> int:
    return _int(q, "limit", default, lo=1, hi=MAX_LIMIT)


def _pairs(q: Query, name: str) -> list[tuple[str, str]]:
    out = []
    for raw in q.getall(name, []):
        key, sep, value = raw.partition("=")
        if not sep or not key:
            raise BadRequest(f"{name} must be key=value, got {raw!r}")
        out.append((key, value))
    return out


def _step(q: Query, start_us: int, end_us: int) -> int:
    span_s = (end_us - start_us) / 1e6
    step = _int(q, "step_s", max(1, math.ceil(span_s / 60)), lo=1, hi=MAX_US // 1_000_000)
    if span_s / step > MAX_BUCKETS:
        raise BadRequest(f"step_s {step} gives more than {MAX_BUCKETS} buckets for this range; use at least {math.ceil(span_s / MAX_BUCKETS)}")
    return step


def trace_id(value: str) -> str:
    if not _TRACE_ID.fullmatch(value or ""):
        raise BadRequest(f"trace_id must be 32 hex digits, got {value!r}")
    return value.lower()


# -- one function per endpoint ---------------------------------------------------------------------


def services(q: Query) -> dict:
    return time_range(q)


def operations(q: Query) -> dict:
    return {"service": _text(q, "service", required=True), **time_range(q)}


def traces(q: Query) -> dict:
    status = _text(q, "status")
    if status is not None and status.lower() not in STATUSES:
        raise BadRequest(f"status must be one of error, ok, unset; got {status!r}")
    lo = _int(q, "min_duration_us", lo=0, hi=MAX_US)
    hi = _int(q, "max_duration_us", lo=0, hi=MAX_US)
    if lo is not None and hi is not None and lo > hi:
        raise BadRequest(f"min_duration_us ({lo}) must not be above max_duration_us ({hi})")
    return {
        "service": _text(q, "service"),
        "operation": _text(q, "operation"),
        "min_duration_us": lo,
        "max_duration_us": hi,
        "status": status.lower() if status else None,
        "attrs": _pairs(q, "attr"),
        "limit": _limit(q, 20),
        "parent_service": _text(q, "parent_service"),
        **time_range(q),
    }


def logs(q: Query) -> dict:
    raw = _text(q, "severity")
    severity = None
    if raw is not None:
        if raw.isdigit():
            severity = int(raw)
            if not 1 <= severity <= 24:
                raise BadRequest(f"severity must be 1-24 or a level name, got {raw}")
        else:
            severity = SEVERITY_LEVELS.get(raw.upper())
            if severity is None:
                raise BadRequest(f"severity must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL or a number 1-24, got {raw!r}")
    tid = _text(q, "trace_id")
    return {
        "service": _text(q, "service"),
        "severity": severity,
        "q": _text(q, "q"),
        "trace_id": trace_id(tid) if tid is not None else None,
        "limit": _limit(q, 100),
        **time_range(q),
    }


def red(q: Query) -> dict:
    rng = time_range(q)
    return {"service": _text(q, "service", required=True), "operation": _text(q, "operation"),
            "step_s": _step(q, rng["start_us"], rng["end_us"]), **rng}


def metrics(q: Query) -> dict:
    return time_range(q)


def metric_query(q: Query) -> dict:
    rng = time_range(q)
    group_by = [g for g in q.getall("group_by", []) if g]
    return {"name": _text(q, "name", required=True), "labels": _pairs(q, "label"), "service": _text(q, "service"),
            "group_by": group_by or None, "step_s": _step(q, rng["start_us"], rng["end_us"]), **rng}


def validate(endpoint: str, q: Query) -> dict:
    """Dispatch by endpoint name (the query function's name)."""
    return _ENDPOINTS[endpoint](q)


_ENDPOINTS = {"services": services, "operations": operations, "traces": traces, "logs": logs, "red": red,
              "metrics": metrics, "metric_query": metric_query}
