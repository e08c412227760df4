"""The `timestamp` block of parsers and time_parser (upstream helper.TimeParser): strptime, gotime, epoch."""

from __future__ import annotations

import re
from typing import Any, Literal

import pydantic

from otelflow.config.model import Model
from otelflow.ottl.funcs.gotime import UTC
from otelflow.ottl.funcs.gotime import to_bytes_str
from otelflow.ottl.values import GoTime
from otelflow.ottl.funcs.strptime import StrptimeParser, _parse_in_location, load_zone, set_timestamp_year
from otelflow.stanza.entry import Entry
from otelflow.stanza.field import Field, FieldRef
from otelflow.stanza.operator import BuildError

_EPOCH_LAYOUTS = ("s", "ms", "us", "ns", "s.ms", "s.us", "s.ns")
_BAD_GO_FRACTION = re.compile(r"[^.,9]9+")
_TZ_ABBR = re.compile(r"\b([A-Z]{2,5})\b")
_GO_INT = re.compile(r"[+-]?[0-9]+")
_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_SUBSEC_NS = {"s.ms": 10**6, "s.us": 10**3, "s.ns": 1}


class TimestampConfig(Model):
    parse_from: FieldRef | None = None
    layout: str = ""
    layout_type: Literal["strptime", "gotime", "epoch", "native"] | str = "strptime"
    location: str = ""
    time_zone_locations: dict[str, str] = pydantic.Field(default_factory=dict)


class TimeParser:
    """Sets entry.timestamp from a field; ``build`` performs upstream's Validate checks."""

    def __init__(self, cfg: TimestampConfig, key: str | None = None) -> None:
        def fail(message: str) -> BuildError:
            return BuildError(message, key)

        if cfg.parse_from is None:
            raise fail("missing required parameter 'parse_from'")
        self.parse_from: Field = cfg.parse_from
        self.layout = cfg.layout
        self.layout_type = cfg.layout_type or "strptime"
        if not self.layout and self.layout_type != "native":
            raise fail("missing required configuration parameter `layout`")
        tz_directive = "MST"
        self._strptime: StrptimeParser | None = None
        if self.layout_type == "gotime":
            match = _BAD_GO_FRACTION.search(self.layout)
            if match:
                raise fail(
                    f"invalid gotime layout: invalid fractional seconds directive: '{match.group(0)}'. must be preceded with '.' or ','"
                )
        elif self.layout_type == "strptime":
            tz_directive = "%Z"
        elif self.layout_type == "epoch":
            if self.layout not in _EPOCH_LAYOUTS:
                raise fail("invalid `layout` for `epoch` type")
        elif self.layout_type != "native":
            raise fail(f"unsupported layout_type {self.layout_type}")
        self.location: Any = UTC
        self.locations: dict[str, Any] = {}
        if self.layout_type in ("gotime", "strptime"):
            if cfg.location:
                loc = load_zone(cfg.location)
                if loc is None:
                    raise fail(f"invalid 'location': failed to load location {cfg.location}: unknown time zone {cfg.location}")
                self.location = loc
            # otherwise UTC: a layout ending in Z, or time.Local, which is UTC in a container
            for abbr, name in cfg.time_zone_locations.items():
                loc = load_zone(name)
                if loc is None:
                    raise fail(f'invalid \'location\': invalid time_zone_locations entry "{abbr}": failed to load location "{name}"')
                self.locations[abbr] = loc
            if self.locations and tz_directive not in self.layout:
                raise fail(
                    "'time_zone_locations' requires the layout to contain a timezone abbreviation directive "
                    f'(%Z for strptime / MST for gotime), but layout "{self.layout}" has none'
                )
            if self.layout_type == "strptime":
                try:
                    self._strptime = StrptimeParser(self.layout, self.location)
                except Exception as exc:  # noqa: BLE001 - OTTL's config error type
                    raise fail(f"invalid strptime layout: {exc}") from None
        self._by_location: dict[int, StrptimeParser] = {}

    def _location_for(self, value: Any) -> Any:
        if self.locations and isinstance(value, str):
            for match in _TZ_ABBR.findall(value):
                if match in self.locations:
                    return self.locations[match]
        return self.location

    def parse(self, entry: Entry) -> None:
        value, ok = self.parse_from.get(entry)
        if not ok:
            raise ValueError("log entry does not have the expected parse_from field")
        if self.layout_type == "epoch":
            entry.timestamp = self._epoch(value)
            return
        if self.layout_type == "native":
            if not isinstance(value, GoTime):
                raise ValueError(f"native time.Time field required, but found {value!r}")
            entry.timestamp = value.ns
            return
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "replace")
        if not isinstance(value, str):
            raise ValueError(f"type {_go_type(value)} cannot be parsed as a time")
        loc = self._location_for(value)
        if self.layout_type == "strptime":
            parser = self._strptime if loc is self.location else self._parser_in(loc)
            entry.timestamp = parser.parse(value).ns  # type: ignore[union-attr]
            return
        result = _parse_in_location(to_bytes_str(self.layout), to_bytes_str(value), loc)
        entry.timestamp = set_timestamp_year(result).ns

    def _parser_in(self, loc: Any) -> StrptimeParser:
        parser = self._by_location.get(id(loc))
        if parser is None:
            parser = self._by_location[id(loc)] = StrptimeParser(self.layout, loc)
        return parser

    def _epoch(self, value: Any) -> int:
        layout = self.layout
        if isinstance(value, bool):
            raise ValueError(f"type {_go_type(value)} cannot be parsed as a time")
        if isinstance(value, str):
            stamp = value
        elif isinstance(value, (bytes, bytearray)):
            stamp = bytes(value).decode("utf-8", "replace")
        elif isinstance(value, int):
            stamp = str(value) if layout in _UNIT_NS else f"{value}.0"
        elif isinstance(value, float):
            if layout in _UNIT_NS:
                stamp = str(int(value))
            else:
                digits = {"s.ms": 3, "s.us": 6, "s.ns": 9}[layout]
                stamp = f"{value:10.{digits}f}"
        else:
            raise ValueError(f"type {_go_type(value)} cannot be parsed as a time")
        invalid = ValueError(f"invalid value '{stamp}' for layout '{layout}'")
        if layout in _UNIT_NS:
            if not _GO_INT.fullmatch(stamp):
                raise invalid
            return int(stamp) * _UNIT_NS[layout]
        parts = stamp.split(".")
        if len(parts) != 2 or not all(_GO_INT.fullmatch(p) for p in parts):
            raise invalid
        return int(parts[0]) * 10**9 + int(parts[1]) * _SUBSEC_NS[layout]


def _go_type(value: Any) -> str:
    return {bool: "bool", int: "int64", float: "float64", dict: "map[string]interface {}", list: "[]interface {}"}.get(
        type(value), type(value).__name__
    )
