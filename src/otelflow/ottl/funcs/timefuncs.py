"""Time and duration converters: Go's time.Time / time.Duration semantics on GoTime / Duration.

Time() parses with upstream's strptime directives (ctimefmt). Upstream turns them into a Go layout
and runs time.Parse, retrying with leading spaces and 1-digit fields; here each directive becomes
a regex that accepts what that retry loop accepts (1 or 2 digits, leading spaces), which covers
the documented directives. Without a location the zone is UTC (time.Local in an otelcol container).
"""

from __future__ import annotations

import datetime as dt
import re
import time as _time

from ..errors import OttlConfigError, OttlError
from ..functions import FunctionTable, Kind as K, P
from ..values import Duration, GoTime
from ._util import go_quote, int64_wrap

T = FunctionTable()
NS = 1_000_000_000
UTC = dt.timezone.utc

# ---------------------------------------------------------------------------------------------
# Durations


_UNITS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 1_000_000, "s": NS, "m": 60 * NS, "h": 3600 * NS}


def parse_duration(s: str) -> int:
    """time.ParseDuration, with its error texts."""
    orig = s
    quoted = go_quote(orig)
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise OttlError(f"time: invalid duration {quoted}")
    total = 0
    while s:
        m = re.match(r"(\d*)(?:\.(\d*))?", s)
        whole, frac = m.group(1), m.group(2)
        if not whole and not frac:
            if m.group(0) != ".":
                raise OttlError(f"time: invalid duration {quoted}")
            raise OttlError(f"time: invalid duration {quoted}")
        s = s[m.end():]
        u = re.match(r"[^\d.]*", s).group(0)
        if not u:
            raise OttlError(f"time: missing unit in duration {quoted}")
        if u not in _UNITS:
            raise OttlError(f"time: unknown unit {go_quote(u)} in duration {quoted}")
        s = s[len(u):]
        unit = _UNITS[u]
        v = int(whole or "0")
        if v > (1 << 63) // unit:
            raise OttlError(f"time: invalid duration {quoted}")
        v *= unit
        if frac:
            # Go keeps 63 bits of fraction digits, then scales
            f, scale = 0, 1
            for ch in frac:
                if f > ((1 << 63) - 1) // 10:
                    break
                f = f * 10 + int(ch)
                scale *= 10
            v += int(f * (unit / scale))
        total += v
        if total > 1 << 63:
            raise OttlError(f"time: invalid duration {quoted}")
    if total > (1 << 63) - 1 and not neg:
        raise OttlError(f"time: invalid duration {quoted}")
    return -total if neg else total


def _fmt_frac(v: int, prec: int) -> tuple[str, int]:
    digits = ""
    printed = False
    for _ in range(prec):
        d = v % 10
        printed = printed or d != 0
        if printed:
            digits = str(d) + digits
        v //= 10
    return ("." + digits if digits else ""), v


def duration_string(ns: int) -> str:
    """time.Duration.String."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < NS:
        if u < 1000:
            s = f"{u}ns"
        elif u < 1_000_000:
            f, w = _fmt_frac(u, 3)
            s = f"{w}{f}µs"
        else:
            f, w = _fmt_frac(u, 6)
            s = f"{w}{f}ms"
    else:
        f, w = _fmt_frac(u, 9)
        secs = w % 60
        w //= 60
        s = f"{secs}{f}s"
        if w > 0:
            mins = w % 60
            w //= 60
            s = f"{mins}m" + s
            if w > 0:
                s = f"{w}h" + s
    return "-" + s if neg else s


def _go_float_div(ns: int, unit: int) -> float:
    """Duration.Hours/Minutes/Seconds: whole units plus the remainder as a fraction (as Go)."""
    whole, rem = divmod(abs(ns), unit)
    v = whole + rem / unit
    return -v if ns < 0 else float(v)


# ---------------------------------------------------------------------------------------------
# Time <-> fields


def _dt(t: GoTime) -> dt.datetime:
    return t.datetime()


def time_string(t: GoTime) -> str:
    """time.Time.String: "2006-01-02 15:04:05.999999999 -0700 MST"."""
    from .gotime import format_time
    return format_time(t, "2006-01-02 15:04:05.999999999 -0700 MST")


def _field(name: str, fn):
    @T.function(name, P("time", K.TIME_GETTER))
    def build(time):
        return lambda ctx: fn(time(ctx))
    return build


_field("Year", lambda t: _dt(t).year)
_field("Month", lambda t: _dt(t).month)
_field("Day", lambda t: _dt(t).day)
_field("Hour", lambda t: _dt(t).hour)
_field("Minute", lambda t: _dt(t).minute)
_field("Second", lambda t: _dt(t).second)
_field("Nanosecond", lambda t: t.ns % NS)
_field("Weekday", lambda t: (_dt(t).weekday() + 1) % 7)
_field("UnixSeconds", lambda t: t.ns // NS)
_field("UnixMilli", lambda t: t.ns // 1_000_000)
_field("UnixMicro", lambda t: t.ns // 1000)
_field("UnixNano", lambda t: t.ns)


def _dur(name: str, fn):
    @T.function(name, P("duration", K.DURATION_GETTER))
    def build(duration):
        return lambda ctx: fn(duration(ctx).ns)
    return build


_dur("Hours", lambda ns: _go_float_div(ns, 3600 * NS))
_dur("Minutes", lambda ns: _go_float_div(ns, 60 * NS))
_dur("Seconds", lambda ns: _go_float_div(ns, NS))
_dur("Milliseconds", lambda ns: int(ns / 1_000_000) if ns >= 0 else -((-ns) // 1_000_000))
_dur("Microseconds", lambda ns: ns // 1000 if ns >= 0 else -((-ns) // 1000))
_dur("Nanoseconds", lambda ns: ns)


@T.function("Duration", P("duration", K.STRING_GETTER))
def build_duration(duration):
    return lambda ctx: Duration(parse_duration(duration(ctx)))


@T.function("Now")
def build_now():
    return lambda ctx: GoTime(_time.time_ns())


@T.function("Unix", P("seconds", K.INT_GETTER), P("nanoseconds", K.INT_GETTER, optional=True))
def build_unix(seconds, nanoseconds=None):
    def run(ctx):
        sec = seconds(ctx)
        nsec = 0 if nanoseconds is None else nanoseconds(ctx)
        return GoTime(int64_wrap(sec * NS + nsec) if abs(sec) < (1 << 33) else sec * NS + nsec)
    return run


@T.function("TruncateTime", P("time", K.TIME_GETTER), P("duration", K.DURATION_GETTER))
def build_truncate_time(time, duration):
    # Go's Truncate works on absolute time since year 1; for d dividing a day that equals the
    # epoch-based remainder, which is what is computed here.
    zero_offset = 62135596800 * NS

    def run(ctx):
        t, d = time(ctx), duration(ctx).ns
        if d <= 0:
            return t
        return GoTime(t.ns - (t.ns + zero_offset) % d, t.tz)
    return run


# ---------------------------------------------------------------------------------------------
# Time / FormatTime (upstream's strptime directives over Go layouts: see strptime.py)

_ENGLISH = ("en", "en-US", "en_US", "en-GB")


@T.function("Time", P("time", K.STRING_GETTER), P("format", K.STRING), P("location", K.STRING, optional=True),
            P("locale", K.STRING, optional=True))
def build_time(time, format, location=None, locale=None):
    from .strptime import StrptimeParser, load_zone
    if format == "":
        raise OttlConfigError("format cannot be nil")
    if location:
        tz = load_zone(location)
        if tz is None:
            raise OttlConfigError(f"failed to load location {location}: unknown time zone {location}")
    else:
        tz = UTC  # time.Local, UTC in an otelcol container; a format ending in Z means UTC anyway
    if locale is not None and locale not in _ENGLISH:
        raise OttlConfigError(f"otelflow supports only English for Time's locale, got {locale!r}")
    parser = StrptimeParser(format, tz)

    def run(ctx):
        v = time(ctx)
        if v == "":
            raise OttlError("time cannot be nil")
        return parser.parse(v)
    return run


@T.function("FormatTime", P("time", K.TIME_GETTER), P("format", K.STRING))
def build_format_time(time, format):
    from .strptime import format_strptime, validate
    if format == "":
        raise OttlConfigError("format cannot be nil")
    validate(format)
    return lambda ctx: format_strptime(format, time(ctx))


TABLE = T.table()
