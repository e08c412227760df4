"""Parsers for the Prometheus text format (0.0.4/1.0.0) and OpenMetrics 1.0, as Prometheus' textparse.

Written here rather than taken from ``prometheus_client.parser`` because the receiver needs what
Prometheus' scrape loop sees: every sample line as it was written (its raw series text is the
scrape cache's key), metadata keyed by the name in the ``# TYPE`` line, ``le``/``quantile`` values
normalised, OpenMetrics timestamps in milliseconds, exemplars, and a hard error for any malformed
line (which fails the whole scrape, as upstream). It is a few times faster, too.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from dataclasses import dataclass
from typing import Iterator

TEXT = "text/plain"
OPENMETRICS = "application/openmetrics-text"
PROTOBUF = "application/vnd.google.protobuf"

_TEXT_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
_OM_TYPES = {"counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"}

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_QUOTED = r'"(?:[^"\\\n]|\\.)*"'
# name, optional {labels}, value, optional timestamp; the rest (OpenMetrics exemplar) separately
_SERIES = re.compile(rf"({_NAME})?(\{{(?:[^\"}}\n]|{_QUOTED})*\}})?[ \t]+([^ \t#]+)(?:[ \t]+([^ \t#]+))?[ \t]*(.*)$")
_LABEL = re.compile(rf'[ \t]*(?:([a-zA-Z_][a-zA-Z0-9_]*)|({_QUOTED}))[ \t]*(?:=[ \t]*({_QUOTED}))?[ \t]*(,|$)')
_META = re.compile(rf"#[ \t]+(HELP|TYPE|UNIT)[ \t]+({_NAME}|{_QUOTED})(?:[ \t]+(.*)|[ \t]*)$")
_EXEMPLAR = re.compile(rf"#[ \t]+(\{{(?:[^\"}}\n]|{_QUOTED})*\}})[ \t]+([^ \t]+)(?:[ \t]+([^ \t]+))?[ \t]*$")
_UNESCAPE = re.compile(r"\\([\\\"n])")
_HELP_UNESCAPE = re.compile(r"\\([\\n])")
_FLOAT_OK = re.compile(r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])$")


class ParseError(ValueError):
    pass


class Sample:
    """One series line. Its labels are parsed on first use: the scrape loop needs them only for a
    series it has not cached yet (as Prometheus, which keys its cache by the raw series text)."""

    __slots__ = ("series", "name", "brace", "mtype", "line", "value", "timestamp_ms", "exemplars", "_labels",
                 "duplicate")

    def __init__(self, series: str, name: str | None, brace: str | None, mtype: str, line: str, value: float,
                 timestamp_ms: int | None, exemplars: list):
        self.series = series  # the raw series text (name and labels as written): the scrape cache's key
        self.name = name
        self.brace = brace
        self.mtype = mtype
        self.line = line
        self.value = value
        self.timestamp_ms = timestamp_ms
        self.exemplars: list[tuple[dict[str, str], float, int | None]] = exemplars
        self._labels: dict[str, str] | None = None
        self.duplicate: str | None = None  # a label name given twice (the appender rejects the sample)

    @property
    def labels(self) -> dict[str, str]:
        """The labels including ``__name__``; raises ParseError for a malformed label set."""
        if self._labels is None:
            self._labels = self._parse()
        return self._labels

    def _parse(self) -> dict[str, str]:
        name = self.name
        labels: dict[str, str] = {}
        if self.brace is not None:
            quoted_name, pairs = _parse_labels(self.brace[1:-1], self.line)
            if quoted_name is not None:
                if name is not None:
                    raise ParseError(f"metric name already set while parsing: {self.line!r}")
                name = quoted_name
            for label, lvalue in pairs:
                if label in ("le", "quantile") and _normalises(self.mtype, label):
                    try:
                        lvalue = format_om_float(parse_float(lvalue))
                    except ParseError:
                        pass
                if label in labels and self.duplicate is None:
                    self.duplicate = label
                labels[label] = lvalue
        if not name:
            raise ParseError(f"metric name not set while parsing: {self.line!r}")
        labels["__name__"] = name
        return labels


@dataclass
class Metadata:
    type: str = "unknown"
    help: str = ""
    unit: str = ""


def _unescape(text: str) -> str:
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), text) if "\\" in text else text


def parse_float(text: str) -> float:
    """strconv.ParseFloat as Prometheus restricts it (no hex floats, no underscores)."""
    if not _FLOAT_OK.match(text):
        raise ParseError(f"strconv.ParseFloat: parsing {text!r}: invalid syntax")
    return float(text)


def format_om_float(value: float) -> str:
    """labels.FormatOpenMetricsFloat: Go's shortest ``%g``, with ``.0`` added to integers."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = go_format_g(value)
    return text if ("e" in text or "." in text) else text + ".0"


def go_format_g(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent form below 1e-4 or from 1e6."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exp = Decimal(repr(value)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    dp = len(digits) + exp  # position of the decimal point relative to the digits
    x = dp - 1
    neg = "-" if sign else ""
    if x < -4 or x >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{ds}"
    if dp >= len(ds):
        return f"{neg}{ds}{'0' * (dp - len(ds))}"
    return f"{neg}{ds[:dp]}.{ds[dp:]}"


_SIMPLE_PAIR = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
_SIMPLE_LABELS = re.compile(rf"(?:{_SIMPLE_PAIR},)*(?:{_SIMPLE_PAIR},?)?")
_SIMPLE_FINDALL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def _parse_labels(body: str, line: str) -> tuple[str | None, list[tuple[str, str]]]:
    """The inside of ``{...}``: (metric name given as a bare quoted string, [(name, value)])."""
    if _SIMPLE_LABELS.fullmatch(body):  # the common form: two regex calls, no Python loop
        pairs = _SIMPLE_FINDALL.findall(body)
        if "\\" in body:
            pairs = [(k, _unescape(v)) for k, v in pairs]
        return None, pairs
    name = None
    out: list[tuple[str, str]] = []
    pos, end = 0, len(body)
    while pos < end:
        m = _LABEL.match(body, pos)
        if m is None or m.end() == pos:
            raise ParseError(f"invalid label set while parsing: {line!r}")
        bare, quoted, value, _ = m.groups()
        label = bare if bare is not None else _unescape(quoted[1:-1])
        if value is None:
            if bare is not None or name is not None:
                raise ParseError(f"expected equal, got {body[pos:m.end()]!r} while parsing: {line!r}")
            name = label
        else:
            out.append((label, _unescape(value[1:-1])))
        pos = m.end()
    return name, out


def parse(body: str, media_type: str) -> Iterator[Sample | tuple[str, str, str]]:
    """Every entry in order: ``(kind, name, text)`` for TYPE/HELP/UNIT lines and a Sample per series.

    A generator, so that a malformed line raises ParseError only when reached: what came before it
    has been seen (and counted) by then, as in Prometheus' streaming parser.
    """
    om = media_type == OPENMETRICS
    current_type = "unknown"
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    for index, line in enumerate(lines):
        if not line or line[0] == "#":
            if not line:
                if om:
                    raise ParseError('expected a valid start token, got "\\n" ("INVALID") while parsing: "\\n"')
                continue
            if om and line == "# EOF":
                if index != len(lines) - 1:
                    raise ParseError("unexpected data after # EOF")
                return
            meta = _META.match(line)
            if meta is None:
                if om or _looks_meta(line):
                    raise ParseError(f"invalid metadata line while parsing: {line!r}")
                continue  # a comment
            kind, name, text = meta.groups()
            if name.startswith('"'):
                name = _unescape(name[1:-1])
            text = text or ""
            if kind == "TYPE":
                text = text.rstrip(" \t")
                if text not in (_OM_TYPES if om else _TEXT_TYPES):
                    raise ParseError(f'invalid metric type "{text}"')
                current_type = "unknown" if text == "untyped" else text
                yield "TYPE", name, current_type
            elif kind == "HELP":
                yield "HELP", name, _unescape(text) if om else (
                    _HELP_UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else "\\", text) if "\\" in text else text)
            else:
                if not om:
                    raise ParseError(f"invalid metadata line while parsing: {line!r}")
                if text and not name.endswith("_" + text):
                    raise ParseError(f'unit "{text}" not a suffix of metric "{name}"')
                yield "UNIT", name, text
            continue
        m = _SERIES.match(line)
        if m is None:
            raise ParseError(f"invalid series line while parsing: {line!r}")
        name, brace, value_text, ts_text, rest = m.groups()
        if brace is not None and '"' in brace[:2]:
            pass  # a quoted (UTF-8) name inside the braces: checked when the labels are parsed
        elif not name:
            raise ParseError(f"metric name not set while parsing: {line!r}")
        value = parse_float(value_text)
        ts = None
        if ts_text is not None:
            ts = _om_timestamp(ts_text) if om else _text_timestamp(ts_text)
        exemplars = []
        if rest:
            if not om:
                raise ParseError(f"expected next entry after timestamp, got {rest!r} while parsing: {line!r}")
            exemplars.append(_exemplar(rest, line))
        series = line[: m.end(2) if brace is not None else m.end(1)]
        yield Sample(series, name, brace, current_type, line, value, ts, exemplars)
    if om:
        raise ParseError("data does not end with # EOF")


def _looks_meta(line: str) -> bool:
    """``# HELP``/``# TYPE`` followed by a blank: a metadata line, so a malformed one is an error."""
    parts = line.split(None, 2)
    return len(parts) >= 2 and parts[0] == "#" and parts[1] in ("HELP", "TYPE") and len(line) > len("# HELP")


def _normalises(mtype: str, label: str) -> bool:
    return (mtype == "summary" and label == "quantile") or (mtype == "histogram" and label == "le")


def _text_timestamp(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ParseError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None


def _om_timestamp(text: str) -> int:
    ts = parse_float(text)
    if math.isnan(ts) or math.isinf(ts):
        raise ParseError(f"invalid timestamp {ts:f}")
    return int(ts * 1000)


def _exemplar(rest: str, line: str) -> tuple[dict[str, str], float, int | None]:
    m = _EXEMPLAR.match(rest)
    if m is None:
        raise ParseError(f"invalid exemplar while parsing: {line!r}")
    brace, value_text, ts_text = m.groups()
    _, pairs = _parse_labels(brace[1:-1], line)
    ts = _om_timestamp(ts_text) if ts_text is not None else None
    return dict(pairs), parse_float(value_text), ts


def media_type(content_type: str, fallback: str) -> tuple[str, str | None]:
    """textparse's extractMediaType: the parser to use, and a warning when the fallback was taken."""
    if not content_type:
        return fallback, f'non-compliant scrape target sending blank Content-Type, using fallback_scrape_protocol "{fallback}"'
    main = content_type.split(";", 1)[0].strip().lower()
    if not main or "/" not in main:
        return fallback, f'could not parse received Content-Type "{content_type}", using fallback_scrape_protocol "{fallback}"'
    if main in (TEXT, OPENMETRICS, PROTOBUF):
        return main, None
    return fallback, f'received unsupported Content-Type "{content_type}", using fallback_scrape_protocol "{fallback}"'
