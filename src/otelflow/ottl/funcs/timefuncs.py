"""Time and duration converters: Go's time.Time / time.Duration semantics on GoTime / Duration.

Time() parses with upstream's strptime directives (ctimefmt). Upstream turns them into a Go layout
and runs time.Parse, retrying with leading spaces and 1-digit fields; here each directive becomes
a regex that accepts what that retry loop accepts (1 or 2 digits, leading spaces), which covers
the documented directives. Without a location the zone is UTC (time.Local in an otelcol container).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time as _time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import OttlConfigError, OttlError
from ..functions import FunctionTable, Kind as K, P
from ..values import Duration, GoTime
from ._util import INT64_MAX, INT64_MIN, go_quote, int64_wrap

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
    d = _dt(t)
    frac = t.ns % NS
    fs = f".{frac:09d}".rstrip("0") if frac else ""
    off = d.utcoffset() or dt.timedelta(0)
    mins = int(off.total_seconds()) // 60
    sign = "-" if mins < 0 else "+"
    mins = abs(mins)
    name = d.tzname() or ""
    if name.startswith(("+", "-", "UTC+", "UTC-")) or not name:
        name = f"{sign}{mins // 60:02d}{mins % 60:02d}" if mins else "UTC"
    return f"{d:%Y-%m-%d %H:%M:%S}{fs} {sign}{mins // 60:02d}{mins % 60:02d} {name}"


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
# strptime (ctimefmt)

_DIRECTIVES = {
    "%Y": "2006", "%y": "06", "%m": "01", "%o": "_1", "%q": "1", "%b": "Jan", "%h": "Jan", "%B": "January",
    "%d": "02", "%e": "_2", "%g": "2", "%a": "Mon", "%A": "Monday", "%H": "15", "%l": "3", "%I": "03",
    "%p": "PM", "%P": "pm", "%M": "04", "%S": "05", "%L": "999", "%f": "999999", "%s": "999999999",
    "%Z": "MST", "%z": "Z0700", "%w": "-070000", "%i": "-07", "%j": "-07:00", "%k": "-07:00:00",
    "%D": "01/02/2006", "%x": "01/02/2006", "%F": "2006-01-02", "%T": "15:04:05", "%X": "15:04:05",
    "%r": "03:04:05 pm", "%R": "15:04", "%n": "\n", "%t": "\t", "%%": "%", "%c": "Mon Jan 02 15:04:05 2006",
}


def validate_strptime(fmt: str) -> None:
    if re.search(r"\d", fmt):
        raise OttlConfigError("format string should not contain decimals")
    m = re.search(r"[^.,]%[Lfs]", fmt)
    if m:
        raise OttlConfigError(f"invalid fractional seconds directive: '{m.group(0)}'. must be preceded with '.' or ','")
    bad = [d for d in re.findall(r"%.", fmt, re.S) if d not in _DIRECTIVES]
    if bad:
        errs = " ".join(f"unsupported ctimefmt.toNative() directive: {d}" for d in bad)
        raise OttlConfigError(f"invalid strptime format: [{errs}]")


_MONTHS = [calendar.month_name[i] for i in range(1, 13)]
_DAYS = [calendar.day_name[i] for i in range(7)]
_N2 = r" *(\d{1,2})"
_ZONE = r"(Z|[+-]\d\d(?::?\d\d(?::?\d\d)?)?)"
_PARTS = {
    "%Y": r"(\d{4})", "%y": r"(\d{2})", "%m": _N2, "%o": _N2, "%q": _N2, "%d": _N2, "%e": _N2, "%g": _N2,
    "%H": _N2, "%I": _N2, "%l": _N2, "%M": _N2, "%S": _N2,
    "%b": "(" + "|".join(m[:3] for m in _MONTHS) + ")", "%h": "(" + "|".join(m[:3] for m in _MONTHS) + ")",
    "%B": "(" + "|".join(_MONTHS) + ")", "%a": "(" + "|".join(d[:3] for d in _DAYS) + ")",
    "%A": "(" + "|".join(_DAYS) + ")", "%p": "(AM|PM)", "%P": "(am|pm)",
    "%L": r"(\d+)", "%f": r"(\d+)", "%s": r"(\d+)",
    "%Z": r"([A-Z][A-Za-z]{2,4}|[+-]\d\d)", "%z": _ZONE, "%w": _ZONE, "%i": _ZONE, "%j": _ZONE, "%k": _ZONE,
    "%n": "\n", "%t": "\t", "%%": "%",
}
_EXPAND = {"%D": "%m/%d/%Y", "%x": "%m/%d/%Y", "%F": "%Y-%m-%d", "%T": "%H:%M:%S", "%X": "%H:%M:%S",
           "%r": "%I:%M:%S %P", "%R": "%H:%M", "%c": "%a %b %d %H:%M:%S %Y"}


def _compile_strptime(fmt: str):
    for k, v in _EXPAND.items():
        fmt = fmt.replace(k, v)
    names: list[str] = []
    out = []
    for piece in re.split(r"(%.)", fmt, flags=re.S):
        if piece in _PARTS:
            rx = _PARTS[piece]
            if "(" in rx:
                names.append(piece)
            out.append(rx)
        else:
            out.append(re.escape(piece))
    return re.compile("".join(out), re.I), names


def _zone_offset(text: str) -> int:
    if text.upper() == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    h, m, s = int(digits[0:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    return sign * (h * 3600 + m * 60 + s)


def strptime(fmt: str, value: str, tz) -> GoTime:
    rx, names = _compile_strptime(fmt)
    m = rx.fullmatch(value)
    if m is None:
        raise OttlError(f"parsing time {go_quote(value)} as {go_quote(fmt)}: cannot parse {go_quote(value)} as "
                        f"{go_quote(fmt)}")
    f = dict(zip(names, m.groups()))
    year = int(f["%Y"]) if "%Y" in f else (int(f["%y"]) + (1900 if int(f["%y"]) >= 69 else 2000) if "%y" in f else 0)
    month = 1
    for k in ("%m", "%o", "%q"):
        if k in f:
            month = int(f[k])
    for k in ("%b", "%h"):
        if k in f:
            month = [x[:3].lower() for x in _MONTHS].index(f[k][:3].lower()) + 1
    if "%B" in f:
        month = [x.lower() for x in _MONTHS].index(f["%B"].lower()) + 1
    day = 1
    for k in ("%d", "%e", "%g"):
        if k in f:
            day = int(f[k])
    hour = int(f.get("%H") or f.get("%I") or f.get("%l") or 0)
    ampm = (f.get("%p") or f.get("%P") or "").lower()
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    minute, second = int(f.get("%M") or 0), int(f.get("%S") or 0)
    frac = f.get("%L") or f.get("%f") or f.get("%s")
    nanos = int((frac + "000000000")[:9]) if frac else 0
    try:
        d = dt.datetime(max(year, 1), month, day, hour, minute, second)
    except ValueError as e:
        raise OttlError(f"parsing time {go_quote(value)}: {_range_err(e)}") from None
    zone_txt = next((f[k] for k in ("%z", "%w", "%i", "%j", "%k") if k in f), None)
    if zone_txt is not None:
        zone = dt.timezone(dt.timedelta(seconds=_zone_offset(zone_txt)))
    elif "%Z" in f:
        zone = _zone_by_abbrev(f["%Z"], tz)
    else:
        zone = tz
    aware = d.replace(tzinfo=zone)
    secs = calendar.timegm(aware.utctimetuple()) if zone is not None else calendar.timegm(d.timetuple())
    if year == 0:
        secs -= 62167219200 - 62135596800  # Go keeps year 0
    return GoTime(secs * NS + nanos, zone if zone is not None else UTC)


def _range_err(e: ValueError) -> str:
    msg = str(e)
    if "month" in msg:
        return "month out of range"
    if "day" in msg:
        return "day out of range"
    if "hour" in msg:
        return "hour out of range"
    if "minute" in msg:
        return "minute out of range"
    return "second out of range"


def _zone_by_abbrev(abbrev: str, tz):
    if abbrev in ("UTC", "GMT", "Z"):
        return UTC
    if abbrev[0] in "+-":
        return dt.timezone(dt.timedelta(hours=int(abbrev)))
    try:
        return ZoneInfo(abbrev)  # upstream loads a location named like the zone (EST, MST ...)
    except (ZoneInfoNotFoundError, ValueError):
        raise OttlError(f"failed to load location {abbrev}: unknown time zone {abbrev}") from None


def load_location(name: str):
    if name in ("UTC", ""):
        return UTC
    if name == "Local":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise OttlConfigError(f"failed to load location {name}: unknown time zone {name}") from None


@T.function("Time", P("time", K.STRING_GETTER), P("format", K.STRING), P("location", K.STRING, optional=True),
            P("locale", K.STRING, optional=True))
def build_time(time, format, location=None, locale=None):
    if format == "":
        raise OttlConfigError("format cannot be nil")
    tz = load_location(location) if location else UTC
    if locale is not None and locale not in ("en", "en-US", "en_US"):
        raise OttlConfigError(f"otelflow supports only English for Time's locale, got {locale!r}")
    validate_strptime(format)

    def run(ctx):
        v = time(ctx)
        if v == "":
            raise OttlError("time cannot be nil")
        return strptime(format, v, tz)
    return run


def format_strptime(fmt: str, t: GoTime) -> str:
    d = _dt(t)
    frac = t.ns % NS
    off = int((d.utcoffset() or dt.timedelta(0)).total_seconds())
    sign = "-" if off < 0 else "+"
    a = abs(off)
    hh, mm, ss = a // 3600, a % 3600 // 60, a % 60

    def z(kind: str) -> str:
        if kind == "Z0700":
            return "Z" if off == 0 else f"{sign}{hh:02d}{mm:02d}"
        if kind == "-070000":
            return f"{sign}{hh:02d}{mm:02d}{ss:02d}"
        if kind == "-07":
            return f"{sign}{hh:02d}"
        if kind == "-07:00":
            return f"{sign}{hh:02d}:{mm:02d}"
        return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}"

    h12 = d.hour % 12 or 12
    name = d.tzname() or "UTC"
    if name.startswith("UTC") and off != 0:
        name = f"{sign}{hh:02d}{mm:02d}"
    rep = {
        "%Y": f"{d.year:04d}", "%y": f"{d.year % 100:02d}", "%m": f"{d.month:02d}", "%o": f"{d.month:2d}",
        "%q": str(d.month), "%b": _MONTHS[d.month - 1][:3], "%h": _MONTHS[d.month - 1][:3],
        "%B": _MONTHS[d.month - 1], "%d": f"{d.day:02d}", "%e": f"{d.day:2d}", "%g": str(d.day),
        "%a": _DAYS[d.weekday()][:3], "%A": _DAYS[d.weekday()], "%H": f"{d.hour:02d}", "%l": str(h12),
        "%I": f"{h12:02d}", "%p": "PM" if d.hour >= 12 else "AM", "%P": "pm" if d.hour >= 12 else "am",
        "%M": f"{d.minute:02d}", "%S": f"{d.second:02d}",
        "%L": f"{frac:09d}"[:3].rstrip("0"), "%f": f"{frac:09d}"[:6].rstrip("0"), "%s": f"{frac:09d}".rstrip("0"),
        "%Z": "UTC" if off == 0 and name in ("UTC", "GMT") else name,
        "%z": z("Z0700"), "%w": z("-070000"), "%i": z("-07"), "%j": z("-07:00"), "%k": z("-07:00:00"),
        "%n": "\n", "%t": "\t", "%%": "%",
    }
    for k, v in _EXPAND.items():
        fmt = fmt.replace(k, v.replace("%P", "%P"))
    out = []
    for piece in re.split(r"(%.)", fmt, flags=re.S):
        if piece in ("%L", "%f", "%s"):
            # Go's .999 drops the separator too when the fraction is zero
            if not rep[piece] and out and out[-1][-1:] in ".,":
                out[-1] = out[-1][:-1]
            out.append(rep[piece])
        else:
            out.append(rep.get(piece, piece))
    return "".join(out)


@T.function("FormatTime", P("time", K.TIME_GETTER), P("format", K.STRING))
def build_format_time(time, format):
    if format == "":
        raise OttlConfigError("format cannot be nil")
    validate_strptime(format)
    return lambda ctx: format_strptime(format, time(ctx))


TABLE = T.table()
