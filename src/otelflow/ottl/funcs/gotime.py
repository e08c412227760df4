"""Go's time.Parse / time.Time.Format on layouts ("2006-01-02T15:04:05Z07:00"), for GoTime.

Values are worked on as their UTF-8 bytes (each held in one latin-1 character), so lengths,
offsets and error elements count bytes as Go does. Dates use the proleptic Gregorian calendar
for any year (year 0 included), computed here rather than with datetime.
"""

from __future__ import annotations

import datetime as dt
from ..values import GoTime

NS = 1_000_000_000
_UNIX_TO_ABS_DAYS = 719468  # days from 0000-03-01 to 1970-01-01

LONG_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
SHORT_DAYS = [d[:3] for d in LONG_DAYS]
LONG_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December"]
SHORT_MONTHS = [m[:3] for m in LONG_MONTHS]


# ---------------------------------------------------------------------------------------------
# Zones


class FixedZone(dt.tzinfo):
    """time.FixedZone: a name (possibly empty) and an offset in seconds."""

    def __init__(self, name: str, offset: int):
        self.name = name
        self.offset = offset

    def utcoffset(self, d):
        return dt.timedelta(seconds=self.offset)

    def dst(self, d):
        return dt.timedelta(0)

    def tzname(self, d):
        return self.name

    def __repr__(self) -> str:
        return f"FixedZone({self.name!r}, {self.offset})"


UTC = dt.timezone.utc


def zone_at(tz: dt.tzinfo | None, unix: int) -> tuple[str, int]:
    """The zone name and offset (seconds) a location has at a Unix time (Location.lookup)."""
    if tz is None or tz is UTC:
        return "UTC", 0
    if isinstance(tz, FixedZone):
        return tz.name, tz.offset
    if isinstance(tz, dt.timezone):
        off = int(tz.utcoffset(None).total_seconds())
        name = tz.tzname(None)
        if name.startswith("UTC") and off != 0:
            name = ""  # a dt.timezone made from an offset alone: Go's unnamed FixedZone
        return name, off
    clamped = min(max(unix, -62135596800 + 86400 * 2), 253402300799 - 86400 * 2)
    d = dt.datetime.fromtimestamp(clamped, tz)
    return d.tzname() or "", int(d.utcoffset().total_seconds())


def _lookup_name(tz: dt.tzinfo, name: str, unix: int) -> int | None:
    """Location.lookupName: the offset of a zone named ``name`` in ``tz``, preferring one in effect
    around ``unix`` (zones are probed across the year; Go scans the location's zone list)."""
    probes = [zone_at(tz, unix + k * 86400 * 30) for k in range(-6, 7)]
    for pname, off in probes:
        if pname == name and zone_at(tz, unix - off)[0] == name:
            return off
    for pname, off in probes:
        if pname == name:
            return off
    return None


# ---------------------------------------------------------------------------------------------
# Civil dates


def days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - _UNIX_TO_ABS_DAYS


def civil_from_days(z: int) -> tuple[int, int, int]:
    z += _UNIX_TO_ABS_DAYS
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def date(year: int, month: int, day: int, hour: int, minute: int, sec: int, nsec: int, tz) -> GoTime:
    """time.Date (fields already in range, as Parse leaves them)."""
    unix = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec
    _, off = zone_at(tz, unix)
    if off != 0:
        _, off = zone_at(tz, unix - off)
    return GoTime((unix - off) * NS + nsec, tz)


class Fields:
    """A GoTime broken down in its zone."""

    __slots__ = ("year", "month", "day", "hour", "minute", "second", "nsec", "weekday", "yday", "zone", "offset")

    def __init__(self, t: GoTime):
        secs, self.nsec = divmod(t.ns, NS)
        self.zone, self.offset = zone_at(t.tz, secs)
        days, rem = divmod(secs + self.offset, 86400)
        self.year, self.month, self.day = civil_from_days(days)
        self.hour, rem = divmod(rem, 3600)
        self.minute, self.second = divmod(rem, 60)
        self.weekday = (days + 4) % 7
        self.yday = days - days_from_civil(self.year, 1, 1) + 1


# ---------------------------------------------------------------------------------------------
# Layout chunks

_STD0X = ["ZeroMonth", "ZeroDay", "ZeroHour12", "ZeroMinute", "ZeroSecond", "Year"]
_TZ_FORMS = [("-070000", "NumSecondsTz"), ("-07:00:00", "NumColonSecondsTZ"), ("-0700", "NumTZ"),
             ("-07:00", "NumColonTZ"), ("-07", "NumShortTZ")]
_ISO_FORMS = [("Z070000", "ISO8601SecondsTZ"), ("Z07:00:00", "ISO8601ColonSecondsTZ"), ("Z0700", "ISO8601TZ"),
              ("Z07:00", "ISO8601ColonTZ"), ("Z07", "ISO8601ShortTZ")]


def _lower_start(s: str) -> bool:
    return bool(s) and "a" <= s[0] <= "z"


def next_chunk(layout: str) -> tuple[str, tuple | None, str]:
    """nextStdChunk: (text before, std element or None, text after)."""
    n = len(layout)
    for i, c in enumerate(layout):
        rest = layout[i:]
        if c == "J" and rest.startswith("Jan"):
            if rest.startswith("January"):
                return layout[:i], ("LongMonth",), layout[i + 7:]
            if not _lower_start(layout[i + 3:]):
                return layout[:i], ("Month",), layout[i + 3:]
        elif c == "M" and n >= i + 3:
            if rest.startswith("Mon"):
                if rest.startswith("Monday"):
                    return layout[:i], ("LongWeekDay",), layout[i + 6:]
                if not _lower_start(layout[i + 3:]):
                    return layout[:i], ("WeekDay",), layout[i + 3:]
            if rest.startswith("MST"):
                return layout[:i], ("TZ",), layout[i + 3:]
        elif c == "0":
            if n >= i + 2 and "1" <= layout[i + 1] <= "6":
                return layout[:i], (_STD0X[ord(layout[i + 1]) - ord("1")],), layout[i + 2:]
            if rest.startswith("002"):
                return layout[:i], ("ZeroYearDay",), layout[i + 3:]
        elif c == "1":
            if rest.startswith("15"):
                return layout[:i], ("Hour",), layout[i + 2:]
            return layout[:i], ("NumMonth",), layout[i + 1:]
        elif c == "2":
            if rest.startswith("2006"):
                return layout[:i], ("LongYear",), layout[i + 4:]
            return layout[:i], ("Day",), layout[i + 1:]
        elif c == "_":
            if rest.startswith("_2"):
                if rest.startswith("_2006"):
                    return layout[:i + 1], ("LongYear",), layout[i + 5:]
                return layout[:i], ("UnderDay",), layout[i + 2:]
            if rest.startswith("__2"):
                return layout[:i], ("UnderYearDay",), layout[i + 3:]
        elif c == "3":
            return layout[:i], ("Hour12",), layout[i + 1:]
        elif c == "4":
            return layout[:i], ("Minute",), layout[i + 1:]
        elif c == "5":
            return layout[:i], ("Second",), layout[i + 1:]
        elif c == "P" and rest.startswith("PM"):
            return layout[:i], ("PM",), layout[i + 2:]
        elif c == "p" and rest.startswith("pm"):
            return layout[:i], ("pm",), layout[i + 2:]
        elif c == "-" or c == "Z":
            for text, kind in (_TZ_FORMS if c == "-" else _ISO_FORMS):
                if rest.startswith(text):
                    return layout[:i], (kind,), layout[i + len(text):]
        elif c in ".," and i + 1 < n and layout[i + 1] in "09":
            ch = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == ch:
                j += 1
            if not (j < n and layout[j].isdigit() and layout[j].isascii()):
                kind = "FracSecond0" if ch == "0" else "FracSecond9"
                return layout[:i], (kind, (j - (i + 1)) & 0xFFF, c), layout[j:]
    return layout, None, ""


# ---------------------------------------------------------------------------------------------
# Format


def _pad(v: int, width: int) -> str:
    s = str(abs(v)).rjust(width, "0")
    return "-" + s if v < 0 else s


def _nano(nsec: int, std: tuple) -> str:
    _, n, sep = std
    trim = std[0] == "FracSecond9"
    if trim and (n == 0 or nsec == 0):
        return ""
    digits = f"{nsec:09d}"[:n] if n < 9 else f"{nsec:09d}"
    out = sep + digits
    if trim:
        out = out.rstrip("0")
        if out == sep:
            out = ""
    return out


def format_time(t: GoTime, layout: str) -> str:
    """time.Time.Format."""
    f = Fields(t)
    out: list[str] = []
    while layout:
        prefix, std, layout = next_chunk(layout)
        out.append(prefix)
        if std is None:
            break
        k = std[0]
        h12 = f.hour % 12 or 12
        if k == "Year":
            out.append(_pad(abs(f.year) % 100, 2))
        elif k == "LongYear":
            out.append(_pad(f.year, 4))
        elif k == "Month":
            out.append(SHORT_MONTHS[f.month - 1])
        elif k == "LongMonth":
            out.append(LONG_MONTHS[f.month - 1])
        elif k == "NumMonth":
            out.append(str(f.month))
        elif k == "ZeroMonth":
            out.append(_pad(f.month, 2))
        elif k == "WeekDay":
            out.append(SHORT_DAYS[f.weekday])
        elif k == "LongWeekDay":
            out.append(LONG_DAYS[f.weekday])
        elif k == "Day":
            out.append(str(f.day))
        elif k == "UnderDay":
            out.append(f"{f.day:2d}")
        elif k == "ZeroDay":
            out.append(_pad(f.day, 2))
        elif k == "UnderYearDay":
            out.append(f"{f.yday:3d}")
        elif k == "ZeroYearDay":
            out.append(_pad(f.yday, 3))
        elif k == "Hour":
            out.append(_pad(f.hour, 2))
        elif k == "Hour12":
            out.append(str(h12))
        elif k == "ZeroHour12":
            out.append(_pad(h12, 2))
        elif k == "Minute":
            out.append(str(f.minute))
        elif k == "ZeroMinute":
            out.append(_pad(f.minute, 2))
        elif k == "Second":
            out.append(str(f.second))
        elif k == "ZeroSecond":
            out.append(_pad(f.second, 2))
        elif k in ("PM", "pm"):
            s = "PM" if f.hour >= 12 else "AM"
            out.append(s if k == "PM" else s.lower())
        elif k.endswith(("TZ", "Tz")) and k != "TZ":
            out.append(_offset_text(k, f.offset))
        elif k == "TZ":
            if f.zone:
                out.append(f.zone)
            else:
                z = f.offset // 60 if f.offset >= 0 else -((-f.offset) // 60)
                out.append(("-" if z < 0 else "+") + _pad(abs(z) // 60, 2) + _pad(abs(z) % 60, 2))
        else:
            out.append(_nano(f.nsec, std))
    return "".join(out)


def _offset_text(kind: str, offset: int) -> str:
    if offset == 0 and kind.startswith("ISO"):
        return "Z"
    zone = int(offset / 60)  # Go's integer division truncates
    absoff = abs(offset)
    s = "-" if zone < 0 else "+"
    zone = abs(zone)
    s += _pad(zone // 60, 2)
    if "Colon" in kind:
        s += ":"
    if "Short" not in kind:
        s += _pad(zone % 60, 2)
    if "Seconds" in kind:
        if "Colon" in kind:
            s += ":"
        s += _pad(absoff % 60, 2)
    return s


# ---------------------------------------------------------------------------------------------
# Parse


def go_time_quote(s: str) -> str:
    """time's own quote(): non-ASCII and control bytes as \\xNN (``s`` holds bytes as latin-1)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if o >= 0x80 or o < 0x20:
            out.append(f"\\x{o:02x}")
        else:
            if ch in '"\\':
                out.append("\\")
            out.append(ch)
    out.append('"')
    return "".join(out)


def to_bytes_str(s: str) -> str:
    return s.encode("utf-8", "surrogateescape").decode("latin-1")


def from_bytes_str(s: str) -> str:
    return s.encode("latin-1").decode("utf-8", "replace")


class GoParseError(Exception):
    """time.ParseError; every text is a byte string held as latin-1."""

    def __init__(self, layout: str, value: str, layout_elem: str, value_elem: str, message: str):
        super().__init__()
        self.layout, self.value = layout, value
        self.layout_elem, self.value_elem, self.message = layout_elem, value_elem, message

    def __str__(self) -> str:
        if not self.message:
            return (f"parsing time {go_time_quote(self.value)} as {go_time_quote(self.layout)}: cannot parse "
                    f"{go_time_quote(self.value_elem)} as {go_time_quote(self.layout_elem)}")
        return f"parsing time {go_time_quote(self.value)}{self.message}"


class _Bad(Exception):
    pass


def _digit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _getnum(s: str, fixed: bool) -> tuple[int, str]:
    if not _digit(s, 0):
        raise _Bad
    if not _digit(s, 1):
        if fixed:
            raise _Bad
        return ord(s[0]) - 48, s[1:]
    return (ord(s[0]) - 48) * 10 + ord(s[1]) - 48, s[2:]


def _getnum3(s: str, fixed: bool) -> tuple[int, str]:
    n = i = 0
    while i < 3 and _digit(s, i):
        n = n * 10 + ord(s[i]) - 48
        i += 1
    if i == 0 or (fixed and i != 3):
        raise _Bad
    return n, s[i:]


def _leading_int(s: str) -> tuple[int, str]:
    i = 0
    x = 0
    while i < len(s) and "0" <= s[i] <= "9":
        x = x * 10 + ord(s[i]) - 48
        if x >= 1 << 63:
            raise _Bad
        i += 1
    return x, s[i:]


def _atoi(s: str) -> int:
    neg = s[:1] == "-"
    if s[:1] in ("-", "+"):
        s = s[1:]
    x, rem = _leading_int(s)
    if rem:
        raise _Bad
    return -x if neg else x


def _skip(value: str, prefix: str) -> str:
    """Drop ``prefix`` from ``value`` (runs of spaces match runs of spaces); on a mismatch the
    error carries what is left of the value."""
    while prefix:
        if prefix[0] == " ":
            if value and value[0] != " ":
                raise _Bad(value)
            prefix = prefix.lstrip(" ")
            value = value.lstrip(" ")
            continue
        if not value or value[0] != prefix[0]:
            raise _Bad(value)
        prefix, value = prefix[1:], value[1:]
    return value


def _match(s1: str, s2: str) -> bool:
    for a, b in zip(s1, s2):
        if a != b:
            la, lb = ord(a) | 0x20, ord(b) | 0x20
            if la != lb or not ord("a") <= la <= ord("z"):
                return False
    return True


def _lookup(tab: list[str], val: str) -> tuple[int, str]:
    for i, v in enumerate(tab):
        if len(val) >= len(v) and _match(val[:len(v)], v):
            return i, val[len(v):]
    raise _Bad


def _nanos(value: str, nbytes: int) -> tuple[int, str]:
    if value[0] not in ".,":
        raise _Bad
    if nbytes > 10:
        value, nbytes = value[:10], 10
    ns = _atoi(value[1:nbytes])
    if ns < 0:
        return 0, "fractional second"
    return ns * 10 ** (10 - nbytes), ""


def _signed_offset(value: str) -> int:
    if value[0] not in "+-":
        return 0
    try:
        x, rem = _leading_int(value[1:])
    except _Bad:
        return 0
    if value[1:] == rem or x > 23:
        return 0
    return len(value) - len(rem)


def _tz_length(value: str) -> int:
    """parseTimeZone: the length of a zone abbreviation at the start of value (0: none)."""
    if len(value) < 3:
        return 0
    if value[:4] in ("ChST", "MeST"):
        return 4
    if value[:3] == "GMT":
        return 3 if len(value) == 3 else 3 + _signed_offset(value[3:])
    if value[0] in "+-":
        return _signed_offset(value)
    n = 0
    while n < 6 and n < len(value) and "A" <= value[n] <= "Z":
        n += 1
    if n == 3:
        return 3
    if n == 4 and (value[3] == "T" or value[:4] == "WITA"):
        return 4
    if n == 5 and value[4] == "T":
        return 5
    return 0


def parse(layout: str, value: str, default_tz, local_tz) -> GoTime:
    """time.parse: ``layout`` and ``value`` are byte strings held as latin-1; raises GoParseError."""
    alayout, avalue = layout, value
    range_err = ""
    am = pm = False
    year, month, day, yday = 0, -1, -1, -1
    hour = minute = sec = nsec = 0
    z = None
    zone_offset, zone_name = -1, ""
    while True:
        prefix, std, suffix = next_chunk(layout)
        stdstr = layout[len(prefix):len(layout) - len(suffix)]
        try:
            value = _skip(value, prefix)
        except _Bad as e:
            raise GoParseError(alayout, avalue, prefix, e.args[0], "") from None
        if std is None:
            if value:
                raise GoParseError(alayout, avalue, "", value, ": extra text: " + go_time_quote(value))
            break
        layout = suffix
        hold = value
        k = std[0]
        try:
            if k == "Year":
                if len(value) < 2:
                    raise _Bad
                p, value = value[:2], value[2:]
                year = _atoi(p)
                year += 1900 if year >= 69 else 2000
            elif k == "LongYear":
                if len(value) < 4 or not _digit(value, 0):
                    raise _Bad
                p, value = value[:4], value[4:]
                year = _atoi(p)
            elif k == "Month":
                month, value = _lookup(SHORT_MONTHS, value)
                month += 1
            elif k == "LongMonth":
                month, value = _lookup(LONG_MONTHS, value)
                month += 1
            elif k in ("NumMonth", "ZeroMonth"):
                month, value = _getnum(value, k == "ZeroMonth")
                if month <= 0 or month > 12:
                    range_err = "month"
            elif k == "WeekDay":
                _, value = _lookup(SHORT_DAYS, value)
            elif k == "LongWeekDay":
                _, value = _lookup(LONG_DAYS, value)
            elif k in ("Day", "UnderDay", "ZeroDay"):
                if k == "UnderDay" and value[:1] == " ":
                    value = value[1:]
                day, value = _getnum(value, k == "ZeroDay")
            elif k in ("UnderYearDay", "ZeroYearDay"):
                for _ in range(2):
                    if k == "UnderYearDay" and value[:1] == " ":
                        value = value[1:]
                yday, value = _getnum3(value, k == "ZeroYearDay")
            elif k == "Hour":
                hour, value = _getnum(value, False)
                if hour >= 24:
                    range_err = "hour"
            elif k in ("Hour12", "ZeroHour12"):
                hour, value = _getnum(value, k == "ZeroHour12")
                if hour > 12:
                    range_err = "hour"
            elif k in ("Minute", "ZeroMinute"):
                minute, value = _getnum(value, k == "ZeroMinute")
                if minute >= 60:
                    range_err = "minute"
            elif k in ("Second", "ZeroSecond"):
                sec, value = _getnum(value, k == "ZeroSecond")
                if sec >= 60:
                    range_err = "second"
                elif len(value) >= 2 and value[0] in ".," and _digit(value, 1):
                    nxt = next_chunk(layout)[1]
                    if not (nxt and nxt[0].startswith("FracSecond")):
                        n = 2
                        while n < len(value) and _digit(value, n):
                            n += 1
                        nsec, range_err = _nanos(value, n)
                        value = value[n:]
            elif k in ("PM", "pm"):
                if len(value) < 2:
                    raise _Bad
                p, value = value[:2], value[2:]
                if p == ("PM" if k == "PM" else "pm"):
                    pm = True
                elif p == ("AM" if k == "PM" else "am"):
                    am = True
                else:
                    raise _Bad
            elif k.startswith("ISO") and value[:1] == "Z":
                value = value[1:]
                z = UTC
            elif k.startswith(("ISO", "Num")):
                if "ColonSeconds" in k:
                    if len(value) < 9:
                        raise _Bad
                    if value[3] != ":" or value[6] != ":":
                        raise _Bad
                    sign, hh, mm, ss, value = value[0], value[1:3], value[4:6], value[7:9], value[9:]
                elif "Colon" in k:
                    if len(value) < 6:
                        raise _Bad
                    if value[3] != ":":
                        raise _Bad
                    sign, hh, mm, ss, value = value[0], value[1:3], value[4:6], "00", value[6:]
                elif "Short" in k:
                    if len(value) < 3:
                        raise _Bad
                    sign, hh, mm, ss, value = value[0], value[1:3], "00", "00", value[3:]
                elif "Seconds" in k:
                    if len(value) < 7:
                        raise _Bad
                    sign, hh, mm, ss, value = value[0], value[1:3], value[3:5], value[5:7], value[7:]
                else:
                    if len(value) < 5:
                        raise _Bad
                    sign, hh, mm, ss, value = value[0], value[1:3], value[3:5], "00", value[5:]
                hr = mi = se = 0
                bad = False
                try:
                    hr = _getnum(hh, True)[0]
                    mi = _getnum(mm, True)[0]
                    se = _getnum(ss, True)[0]
                except _Bad:
                    bad = True
                if hr > 24:
                    range_err = "time zone offset hour"
                if mi > 60:
                    range_err = "time zone offset minute"
                if se > 60:
                    range_err = "time zone offset second"
                zone_offset = (hr * 60 + mi) * 60 + se
                if sign == "-":
                    zone_offset = -zone_offset
                elif sign != "+":
                    bad = True
                if bad and not range_err:
                    raise _Bad
            elif k == "TZ":
                if value[:3] == "UTC":
                    z = UTC
                    value = value[3:]
                else:
                    n = _tz_length(value)
                    if n == 0:
                        raise _Bad
                    zone_name, value = value[:n], value[n:]
            elif k == "FracSecond0":
                ndigit = 1 + std[1]
                if len(value) < ndigit:
                    raise _Bad
                nsec, range_err = _nanos(value, ndigit)
                value = value[ndigit:]
            elif k == "FracSecond9":
                if len(value) >= 2 and value[0] in ".," and "0" <= value[1] <= "9":
                    i = 0
                    while i + 1 < len(value) and "0" <= value[i + 1] <= "9":
                        i += 1
                    nsec, range_err = _nanos(value, 1 + i)
                    value = value[1 + i:]
        except _Bad:
            if range_err:
                raise GoParseError(alayout, avalue, stdstr, value, f": {range_err} out of range") from None
            raise GoParseError(alayout, avalue, stdstr, hold, "") from None
        if range_err:
            raise GoParseError(alayout, avalue, stdstr, value, f": {range_err} out of range")
    if pm and hour < 12:
        hour += 12
    elif am and hour == 12:
        hour = 0
    if yday >= 0:
        m = d = 0
        if is_leap(year):
            if yday == 31 + 29:
                m, d = 2, 29
            elif yday > 31 + 29:
                yday -= 1
        if yday < 1 or yday > 365:
            raise GoParseError(alayout, avalue, "", value, ": day-of-year out of range")
        if m == 0:
            m = (yday - 1) // 31 + 1
            if _days_before(m + 1) < yday:
                m += 1
            d = yday - _days_before(m)
        if month >= 0 and month != m:
            raise GoParseError(alayout, avalue, "", value, ": day-of-year does not match month")
        month = m
        if day >= 0 and day != d:
            raise GoParseError(alayout, avalue, "", value, ": day-of-year does not match day")
        day = d
    else:
        month = 1 if month < 0 else month
        day = 1 if day < 0 else day
    if day < 1 or day > days_in(month, year):
        raise GoParseError(alayout, avalue, "", value, ": day out of range")
    if z is not None:
        return date(year, month, day, hour, minute, sec, nsec, z)
    if zone_offset != -1:
        t = date(year, month, day, hour, minute, sec, nsec, UTC)
        t = GoTime(t.ns - zone_offset * NS)
        name, off = zone_at(local_tz, t.ns // NS)
        if off == zone_offset and (zone_name == "" or name == zone_name):
            return GoTime(t.ns, local_tz)
        return GoTime(t.ns, _fixed(from_bytes_str(zone_name), zone_offset))
    if zone_name:
        t = date(year, month, day, hour, minute, sec, nsec, UTC)
        name = from_bytes_str(zone_name)
        off = _lookup_name(local_tz, name, t.ns // NS) if local_tz is not None else None
        if off is not None:
            return GoTime(t.ns - off * NS, local_tz)
        off = 0
        if len(zone_name) > 3 and zone_name[:3] == "GMT":
            off = _atoi(zone_name[3:]) * 3600
        return GoTime(t.ns, _fixed(name, off))
    return date(year, month, day, hour, minute, sec, nsec, default_tz)


def _fixed(name: str, offset: int):
    if name == "" and offset == 0:
        return FixedZone("", 0)
    return FixedZone(name, offset)


_DAYS_BEFORE = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365]


def _days_before(m: int) -> int:
    return _DAYS_BEFORE[m - 1]


def in_zone(t: GoTime, tz) -> GoTime:
    return GoTime(t.ns, tz)


__all__ = ["GoParseError", "parse", "format_time", "Fields", "FixedZone", "zone_at", "date",
           "to_bytes_str", "from_bytes_str", "go_time_quote", "UTC"]

