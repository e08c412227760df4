"""Upstream's strptime directives (internal/coreinternal/timeutils, ctimefmt) on Go layouts.

FormatTime turns the directives into a Go layout and formats with it. Time parses by trying
layouts: each directive has one or more Go renderings (1- or 2-digit numbers, %z with or without
a colon, %D with a 2- or 4-digit year); when time.Parse fails on a directive's element and the
value has leading whitespace there, the whitespace is added to the layout and the parse retried.
The first layout that works is remembered and tried first the next time.
"""

from __future__ import annotations

import re
import time as _time

from ..errors import OttlConfigError, OttlError
from ..values import GoTime
from .gotime import (UTC, Fields, GoParseError, date, format_time, from_bytes_str, parse, to_bytes_str)

_DIRECTIVE = re.compile(r"%.", re.S)
_BAD_FRACTION = re.compile(r"[^.,]%[Lfs]", re.S)
_LEADING_SPACE = re.compile(r"^[\t\n\f\r ]+")

SUBSTITUTES = {
    "%Y": "2006", "%y": "06", "%m": "01", "%o": "_1", "%q": "1", "%b": "Jan", "%h": "Jan", "%B": "January",
    "%d": "02", "%e": "_2", "%g": "2", "%a": "Mon", "%A": "Monday", "%H": "15", "%l": "3", "%I": "03",
    "%p": "PM", "%P": "pm", "%M": "04", "%S": "05", "%L": "999", "%f": "999999", "%s": "999999999",
    "%Z": "MST", "%z": "Z0700", "%w": "-070000", "%i": "-07", "%j": "-07:00", "%k": "-07:00:00",
    "%D": "01/02/2006", "%x": "01/02/2006", "%F": "2006-01-02", "%T": "15:04:05", "%X": "15:04:05",
    "%r": "03:04:05 pm", "%R": "15:04", "%n": "\n", "%t": "\t", "%%": "%", "%c": "Mon Jan 02 15:04:05 2006",
}

# Renderings tried when parsing, each split into the layout elements a ParseError may name.
PARSE_SUBSTITUTES: dict[str, list[list[str]]] = {
    "%m": [["1"]], "%o": [["1"]], "%q": [["1"]], "%d": [["2"]], "%e": [["2"]], "%g": [["2"]],
    "%I": [["3"]], "%M": [["4"]], "%S": [["5"]],
    "%D": [["1", "/", "2", "/", "2006"], ["1", "/", "2", "/", "06"]],
    "%x": [["1", "/", "2", "/", "2006"], ["1", "/", "2", "/", "06"]],
    "%F": [["2006", "-", "1", "-", "2"]],
    "%T": [["15", ":", "4", ":", "5"]], "%X": [["15", ":", "4", ":", "5"]],
    "%r": [["3", ":", "4", ":", "5", " ", "pm"]], "%R": [["15", ":", "4"]],
    "%c": [["Mon", " ", "Jan", " ", "2", " ", "15", ":", "4", ":", "5", " ", "2006"]],
}


def validate(fmt: str) -> None:
    """ctimefmt.Validate, as a config error."""
    if re.search(r"[0-9]", fmt):
        raise OttlConfigError("format string should not contain decimals")
    m = _BAD_FRACTION.search(fmt)
    if m:
        raise OttlConfigError(f"invalid fractional seconds directive: '{m.group(0)}'. must be preceded with '.' or ','")
    bad = [d for d in _DIRECTIVE.findall(fmt) if d not in SUBSTITUTES]
    if bad:
        errs = " ".join(f"unsupported ctimefmt.toNative() directive: {d}" for d in bad)
        raise OttlConfigError(f"invalid strptime format: [{errs}]")


def to_native(fmt: str) -> str:
    return _DIRECTIVE.sub(lambda m: SUBSTITUTES[m.group(0)], fmt)


def format_strptime(fmt: str, t: GoTime) -> str:
    return format_time(t, to_native(fmt))


class _Result:
    __slots__ = ("time", "layout", "err")

    def __init__(self):
        self.time = None
        self.layout = ""
        self.err: Exception | None = None


def _iterative(partial: str, fmt: str, start: int, spans: list[tuple[int, int]], run, res: _Result) -> None:
    if not spans:
        res.layout = partial + fmt[start:]
        try:
            res.time, res.err = run(res.layout), None
        except GoParseError as e:
            res.time, res.err = None, e
        return
    a, b = spans[0]
    partial += fmt[start:a]
    directive = fmt[a:b]

    def try_elements(elements: list[str]) -> tuple[int, str]:
        _iterative(partial + "".join(elements), fmt, b, spans[1:], run, res)
        e = res.err
        if isinstance(e, GoParseError) and e.layout_elem != "" and e.layout_elem in elements:
            i = elements.index(e.layout_elem)
            e.layout_elem = directive
            return i, e.value_elem
        return -1, ""

    def attempt(elements: list[str]) -> int:
        while True:
            i, rest = try_elements(elements)
            if i >= 0 and elements[i][:1] in set("0123456789Z"):
                space = _LEADING_SPACE.match(rest)
                if space:
                    elements = elements[:i] + [space.group(0)] + elements[i:]
                    continue
            return i

    if directive == "%z":
        for layout in ("Z0700", "Z07:00", "Z07"):
            if attempt([layout]) < 0:
                return
        return
    if directive in PARSE_SUBSTITUTES:
        for subst in PARSE_SUBSTITUTES[directive]:
            if attempt(list(subst)) < 0:
                break
        return
    if directive in SUBSTITUTES:
        attempt([SUBSTITUTES[directive]])
        return
    res.time, res.layout = None, ""
    res.err = OttlError(f"unsupported ctimefmt.FlexibleParse() directive: {directive}")


def _parse_in_location(layout: str, value: str, loc) -> GoTime:
    """timeutils.parseGotime: ParseInLocation, then a zone abbreviation parsed with offset 0 is
    looked up as a location and the value parsed again there."""
    try:
        result = parse(layout, value, loc, loc)
    except GoParseError:
        raise
    f = Fields(result)
    loc_zone = Fields(GoTime(result.ns, loc)).zone
    if f.offset != 0 or f.zone == "UTC" or f.zone == loc_zone:
        return result
    zloc = load_zone(f.zone)
    if zloc is None:
        raise OttlError(f"failed to load location {f.zone}: unknown time zone {f.zone}")
    try:
        return parse(layout, value, zloc, zloc)
    except GoParseError:
        return result


def load_zone(name: str):
    """time.LoadLocation (None when unknown); "" and "UTC" are UTC, "Local" is UTC in a container."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    if name in ("", "UTC", "Local"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def set_timestamp_year(t: GoTime) -> GoTime:
    """timeutils.SetTimestampYear: a year-less (year 0) time gets this year, or last year when
    that would put it more than 7 days in the future."""
    f = Fields(t)
    if f.year > 0:
        return t
    now = _time.time_ns()
    ny = Fields(GoTime(now)).year
    d = date(ny, f.month, f.day, f.hour, f.minute, f.second, f.nsec, t.tz)
    if d.ns > now + 7 * 86400 * 10**9:
        d = date(ny - 1, f.month, f.day, f.hour, f.minute, f.second, f.nsec, t.tz)
    return d


class StrptimeParser:
    """timeutils.StrptimeParser for one format and location."""

    def __init__(self, fmt: str, loc):
        validate(fmt)
        self.fmt = fmt
        self.loc = loc
        self.bfmt = to_bytes_str(fmt)
        self.spans = [m.span() for m in _DIRECTIVE.finditer(self.bfmt)]
        self.last_layout: str | None = None

    def parse(self, value: str) -> GoTime:
        bvalue = to_bytes_str(value)

        def run(layout: str) -> GoTime:
            return set_timestamp_year(_parse_in_location(layout, bvalue, self.loc))

        if self.last_layout is not None:
            try:
                return run(self.last_layout)
            except (GoParseError, OttlError):
                pass
        res = _Result()
        try:
            _iterative("", self.bfmt, 0, self.spans, run, res)
        except OttlError as e:
            res.err = e
        if res.err is not None:
            if isinstance(res.err, GoParseError):
                res.err.layout = self.bfmt
                raise OttlError(str(res.err)) from None
            raise res.err
        self.last_layout = res.layout
        return res.time


__all__ = ["StrptimeParser", "validate", "format_strptime", "load_zone", "from_bytes_str"]
