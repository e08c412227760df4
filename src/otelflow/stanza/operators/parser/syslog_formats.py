"""RFC 5424 and RFC 3164 message parsing with the acceptance rules of go-syslog v4 (the library
upstream's syslog_parser uses): strict 5424 header grammar, 3164 with a lenient day, an optional
hostname and a `tag[pid]: ` prefix. Results are plain dicts with upstream's keys; a ``None`` value
means "absent" (go-syslog's nil pointer) and is dropped by the caller."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time as _time
from typing import Any

from otelflow.ottl.funcs.gotime import UTC, FixedZone, date
from otelflow.ottl.values import GoTime

FACILITY_KEYWORDS = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "security", "console", "cron2", "local0", "local1", "local2", "local3", "local4", "local5",
    "local6", "local7",
]
_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}

_PRIVAL = r"(?:0|1(?:9[01]?|[0-8][0-9]?)?|[2-9][0-9]?)"
_PRI = re.compile(rf"<({_PRIVAL})>")
_G = r"[\x21-\x7e]"
_SDNAME = r"[\x21-\x7e]"  # minus = SP ] " (checked below)
_TS5424 = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])"
    r"(?:\.([0-9]{1,6}))?(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_HEADER5424 = re.compile(
    rf"([1-9][0-9]{{0,2}}) (-|[^ ]+) ({_G}{{1,255}}) ({_G}{{1,48}}) ({_G}{{1,128}}) ({_G}{{1,32}}) "
)
_SD_NAME = re.compile(r'[\x21-\x7e]{1,32}')
_TS3164 = re.compile(
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ( [1-9]|0[1-9]|[12][0-9]|3[01]) "
    r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])"
)
_HOST3164 = re.compile(r"([\x21-\x39\x3b-\x7e]{1,255}) +")  # graph without ':'
_TAG = re.compile(r"([\x21-\x39\x3b-\x5a\x5c-\x7e]{1,48})")  # print without SP : [
_CONTENT = re.compile(r"\[([^\[\]\x00-\x08\x0a-\x1f\x7f]*)\]")
_VISIBLE = re.compile(r"[\x09\x20-\x7e\x80-\U0010ffff]+")


class SyslogError(ValueError):
    pass


def priority_fields(pri: int) -> dict[str, Any]:
    return {"priority": pri, "facility": pri // 8, "severity": pri % 8, "facility_text": FACILITY_KEYWORDS[pri // 8]}


def _pri(text: str) -> tuple[int, int]:
    m = _PRI.match(text)
    if m is None:
        if not text.startswith("<"):
            raise SyslogError("expecting a priority value within angle brackets [col 0]")
        raise SyslogError("expecting a priority value in the range 1-191 or equal to 0 [col 1]")
    return int(m.group(1)), m.end()


def parse_rfc5424(text: str) -> dict[str, Any]:
    pri, pos = _pri(text)
    m = _HEADER5424.match(text, pos)
    if m is None:
        raise SyslogError(f"parsing error [col {pos}]")
    version, stamp, host, app, procid, msgid = m.groups()
    out: dict[str, Any] = priority_fields(pri)
    out["version"] = int(version)
    out["timestamp"] = None if stamp == "-" else _rfc3339(stamp, pos)
    out["hostname"] = None if host == "-" else host
    out["appname"] = None if app == "-" else app
    out["proc_id"] = None if procid == "-" else procid
    out["msg_id"] = None if msgid == "-" else msgid
    pos = m.end()
    if text.startswith("-", pos):
        sd = None
        pos += 1
    else:
        sd, pos = _structured_data(text, pos)
    out["structured_data"] = sd
    if pos < len(text):
        if text[pos] != " ":
            raise SyslogError(f"parsing error [col {pos}]")
        pos += 1
    out["message"] = text[pos:] or None
    return out


def _rfc3339(stamp: str, col: int) -> GoTime:
    m = _TS5424.fullmatch(stamp)
    if m is None:
        raise SyslogError(f"expecting a RFC3339MICRO timestamp or a nil value [col {col}]")
    y, mo, d, h, mi, s, frac, off = m.groups()
    try:
        tz = dt.timezone.utc if off == "Z" else dt.timezone(
            (1 if off[0] == "+" else -1) * dt.timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
        )
        when = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=tz)
    except ValueError as exc:
        raise SyslogError(f"parsing time {stamp!r}: {exc}") from None
    ns = int(frac.ljust(9, "0")) if frac else 0
    # time.Parse keeps a numeric offset as an unnamed fixed zone (printed "+0200"), "Z" as UTC
    zone = UTC if off == "Z" else FixedZone("", int(tz.utcoffset(None).total_seconds()))
    return GoTime(calendar.timegm(when.utctimetuple()) * 10**9 + ns, zone)


def _structured_data(text: str, pos: int) -> tuple[dict[str, dict[str, str]], int]:
    elements: dict[str, dict[str, str]] = {}
    if not text.startswith("[", pos):
        raise SyslogError(f"expecting a structured data section containing one or more elements (`[id( key=\"value\")*]+`) or a nil value [col {pos}]")
    while text.startswith("[", pos):
        pos += 1
        sd_id, pos = _sd_name(text, pos)
        if sd_id in elements:
            raise SyslogError(f"duplicate structured data element id [col {pos}]")
        params: dict[str, str] = {}
        elements[sd_id] = params
        while text.startswith(" ", pos):
            name, pos = _sd_name(text, pos + 1)
            if not text.startswith('="', pos):
                raise SyslogError(f"expecting a structured data parameter (`key=\"value\"`, both part from 1 to max 32 US-ASCII characters; key cannot contain `=`, ` `, `]`, and `\"`, while value cannot contain `]`, backslash, and `\"` unless escaped) [col {pos}]")
            pos += 2
            value: list[str] = []
            while True:
                if pos >= len(text):
                    raise SyslogError(f"parsing error [col {pos}]")
                c = text[pos]
                if c == "\\":
                    if pos + 1 < len(text) and text[pos + 1] in '"]\\':
                        value.append(text[pos + 1])
                        pos += 2
                        continue
                    raise SyslogError(f"expecting chars `]`, `\"`, and `\\` to be escaped within param value [col {pos}]")
                if c == '"':
                    pos += 1
                    break
                if c == "]":
                    raise SyslogError(f"expecting chars `]`, `\"`, and `\\` to be escaped within param value [col {pos}]")
                value.append(c)
                pos += 1
            params[name] = "".join(value)
        if not text.startswith("]", pos):
            raise SyslogError(f"parsing error [col {pos}]")
        pos += 1
    return elements, pos


def _sd_name(text: str, pos: int) -> tuple[str, int]:
    end = pos
    while end < len(text) and end - pos < 33 and "\x21" <= text[end] <= "\x7e" and text[end] not in '= ]"':
        end += 1
    if end == pos or end - pos > 32:
        raise SyslogError(f"expecting a structured data element id (from 1 to max 32 US-ASCII characters; except `=`, ` `, `]`, and `\"` [col {pos}]")
    return text[pos:end], end


def parse_rfc3164(text: str, location: Any) -> dict[str, Any]:
    pri, pos = _pri(text)
    while text.startswith(" ", pos):
        pos += 1
    m = _TS3164.match(text, pos)
    if m is None:
        raise SyslogError(f"expecting a Stamp timestamp [col {pos}]")
    out: dict[str, Any] = priority_fields(pri)
    out["timestamp"] = _stamp(m, location)
    pos = m.end()
    if not text.startswith(" ", pos):
        raise SyslogError(f"parsing error [col {pos}]")
    while text.startswith(" ", pos):
        pos += 1
    host = _HOST3164.match(text, pos)
    if host is not None and host.end() < len(text):
        out["hostname"] = host.group(1)
        pos = host.end()
    rest = text[pos:]
    if not rest or not _VISIBLE.fullmatch(rest):
        raise SyslogError(f"expecting a content part composed by visible characters only [col {pos}]")
    # go-syslog runs the `tag[content]: ` and plain-message alternatives at once with one text
    # mark: the message is the text from the last place a sub-part started (the tag, the content
    # inside brackets, or the text after ": "), even when that alternative later fails.
    mark = 0
    tag = _TAG.match(rest)
    if tag is not None:
        after = tag.end()
        if rest.startswith(("[", ":"), after):
            out["appname"] = tag.group(1)  # recorded once the tag ends, even if the rest fails
        if rest.startswith("[", after) and after + 1 < len(rest) and rest[after + 1] not in "[]":
            mark = after + 1
        content = _CONTENT.match(rest, after)
        if content is not None:
            out["proc_id"] = content.group(1) or None
            after = content.end()
        if rest.startswith(": ", after) and len(rest) > after + 2:
            mark = after + 2
    out["message"] = rest[mark:]
    return out


def _stamp(m: re.Match, location: Any) -> GoTime:
    """time.Stamp has no year: the current one (last year if that is over 7 days ahead), in ``location``."""
    month = _MONTHS[m.group(1)]
    day, hour, minute, sec = int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))
    if day > (29 if month == 2 else calendar.monthrange(2001, month)[1]):
        raise SyslogError(f'parsing time "{m.group(0)}": day out of range')
    now = _time.time_ns()
    year = _time.gmtime(now // 10**9).tm_year
    t = date(year, month, day, hour, minute, sec, 0, location)
    if t.ns > now + 7 * 86400 * 10**9:
        t = date(year - 1, month, day, hour, minute, sec, 0, location)
    return t
