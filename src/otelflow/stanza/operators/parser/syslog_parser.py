"""syslog_parser: RFC 5424 / RFC 3164 / raw ("none") lines into attributes, with upstream's framing
options (octet counting, non-transparent framing), PRI-less lines, and the syslog severity mapped
onto the entry (the `severity` attribute is consumed, as is `timestamp`, which sets the entry's)."""

from __future__ import annotations

import re
from typing import Any, Callable, Literal

from otelflow.ottl.funcs.strptime import load_zone
from otelflow.stanza.entry import Entry
from otelflow.stanza.field import Field
from otelflow.stanza.helper.parser import Parser, ParserConfig
from otelflow.stanza.helper.time import TimestampConfig
from otelflow.stanza.operator import BuildError
from otelflow.stanza.operators.parser._common import go_type
from otelflow.stanza.operators.parser.syslog_formats import (
    SyslogError,
    parse_rfc3164,
    parse_rfc5424,
    priority_fields,
)
from otelflow.stanza.registry import register

_PRI_ANYWHERE = re.compile(r"<\d{1,3}>")
_PRI_START = re.compile(r"<(\d{1,3})>")
_OCTET_PREFIX = re.compile(r"[1-9]\d*\s")
_FRAME = re.compile(r"([1-9][0-9]*) ")
_DEFAULT_MAX_OCTETS = 8192
# syslog severity (0 emerg .. 7 debug) -> stanza severity, text
_SEVERITY = [(21, "emerg"), (19, "alert"), (18, "crit"), (17, "err"), (13, "warning"), (10, "notice"), (9, "info"), (5, "debug")]
_TIMESTAMP = Field("attributes", ("timestamp",))
_SEVERITY_FIELD = Field("attributes", ("severity",))


class SyslogParserConfig(ParserConfig):
    type: Literal["syslog_parser"] = "syslog_parser"
    protocol: str = ""
    location: str = ""
    enable_octet_counting: bool = False
    allow_skip_pri_header: bool = False
    non_transparent_framing_trailer: str | None = None
    max_octets: int = 0


class SyslogParser(Parser):
    def __init__(self, cfg: SyslogParserConfig) -> None:
        proto = cfg.protocol.lower()
        if cfg.timestamp is None and proto != "none":
            cfg = cfg.model_copy(update={"timestamp": TimestampConfig(parse_from=_TIMESTAMP, layout_type="native")})
        super().__init__(cfg)
        trailer = cfg.non_transparent_framing_trailer
        if proto == "":
            raise BuildError("missing field 'protocol'", "protocol")
        if proto not in ("rfc5424", "rfc3164", "none"):
            raise BuildError(f"unsupported protocol version: {proto}", "protocol")
        if trailer is not None and cfg.enable_octet_counting:
            raise BuildError("only one of octet_counting or non_transparent_framing can be enabled")
        if proto == "none" and trailer is not None:
            raise BuildError("non_transparent_framing is not compatible with protocol none")
        if proto != "rfc5424" and trailer is not None:
            raise BuildError("non_transparent_framing is only compatible with protocol rfc5424")
        if trailer is not None and trailer not in ("LF", "NUL"):
            raise BuildError(f"invalid non_transparent_framing_trailer '{trailer}'. Must be either 'LF' or 'NUL'")
        location = load_zone(cfg.location or "UTC")
        if location is None:
            raise BuildError(f"failed to load location {cfg.location}: unknown time zone {cfg.location}", "location")
        self.protocol = proto
        self.location = location
        self.octet_counting = cfg.enable_octet_counting
        self.skip_pri = cfg.allow_skip_pri_header
        self.trailer = trailer
        self.max_octets = cfg.max_octets or _DEFAULT_MAX_OCTETS
        self._without_pri = False

    # --- the parse step ---------------------------------------------------
    def parse(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"unable to convert type '{go_type(value)}' to bytes")
        if self.protocol == "none":
            return self._raw(value)
        continuation = ""
        text = value
        if self.protocol == "rfc3164" and not self.octet_counting and "\n" in text:
            index = text.index("\n")
            text, continuation = text[:index].removesuffix("\r"), text[index:]
        parsed = self._framed(text)
        if self._without_pri:
            for key in ("priority", "severity", "facility", "facility_text"):
                parsed.pop(key, None)
        result = {k: v for k, v in parsed.items() if v is not None}
        if continuation:
            result["message"] = result.get("message", "") + continuation
        return result

    def _framed(self, text: str) -> dict[str, Any]:
        machine: Callable[[str], dict[str, Any]]
        if self.protocol == "rfc3164":
            machine = lambda t: parse_rfc3164(t, self.location)  # noqa: E731
        else:
            machine = parse_rfc5424
        if self.octet_counting:
            return self._octet_frames(text, machine)
        if self.trailer is not None:
            sep = "\n" if self.trailer == "LF" else "\x00"
            frames = [f for f in text.split(sep) if f] or [""]
            return machine(frames[-1])
        if self.skip_pri and not _PRI_ANYWHERE.search(text):
            text = "<0>" + text
        return machine(text)

    def _octet_frames(self, text: str, machine: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """Octet-counted frames (`LEN SP MSG`); like go-syslog's listener, the last frame's result wins."""
        data = text.encode("utf-8", "surrogateescape")
        pos, result, error = 0, None, None
        while pos < len(data):
            m = _FRAME.match(data.decode("latin-1"), pos)
            if m is None:
                error = SyslogError(f"found {data[pos:pos + 1]!r}, expecting a MSGLEN [col {pos}]")
                break
            length = int(m.group(1))
            if length > self.max_octets:
                error = SyslogError(f"message too long to parse. was size {length}, max length {self.max_octets}")
                break
            start = m.end()
            frame = data[start:start + length]
            pos = start + length
            if len(frame) < length:
                error = SyslogError("unexpected EOF")
                result = None
                break
            try:
                result, error = machine(frame.decode("utf-8", "replace")), None
            except SyslogError as exc:
                result, error = None, exc
        if error is not None or result is None:
            raise error or SyslogError("no syslog frame found")
        return result

    def _raw(self, value: str) -> dict[str, Any]:
        msg = value
        if self.octet_counting:
            m = _OCTET_PREFIX.match(msg)
            if m:
                msg = msg[m.end():]
        m = _PRI_START.match(msg)
        if m and int(m.group(1)) <= 191:
            out = priority_fields(int(m.group(1)))
            out["message"] = msg
            return out
        return {"message": msg}

    # --- around the parser base --------------------------------------------
    def transform(self, entry: Entry) -> None:
        self._without_pri = False
        if self.protocol != "none" and not self.octet_counting and self.skip_pri:
            if not isinstance(entry.body, str):
                raise ValueError(f"unable to convert type '{go_type(entry.body)}' to bytes")
            self._without_pri = len(entry.body) > 1 and not entry.body.startswith("<")
        super().transform(entry)
        if self.protocol == "none":
            self._apply_severity(entry, required=False)
            return
        if not self._without_pri:
            self._apply_severity(entry, required=True)
        if not _TIMESTAMP.delete(entry)[1]:
            raise ValueError("failed to cleanup timestamp")

    @staticmethod
    def _apply_severity(entry: Entry, required: bool) -> None:
        sev, ok = _SEVERITY_FIELD.delete(entry)
        if not ok:
            if required:
                raise ValueError("severity field does not exist")
            return
        if not isinstance(sev, int) or isinstance(sev, bool):
            raise ValueError("severity field is not an int")
        if not 0 <= sev <= 7:
            raise ValueError(f"invalid severity '{sev}'")
        entry.severity, entry.severity_text = _SEVERITY[sev]


register("syslog_parser", SyslogParserConfig, SyslogParser)
