"""The `severity` block of parsers and severity_parser (upstream helper.SeverityConfig/SeverityParser)."""

from __future__ import annotations

from typing import Any

import pydantic

from otelflow.config.model import Model
from otelflow.stanza.entry import SEVERITY_NAMES, Entry
from otelflow.stanza.field import Field, FieldRef
from otelflow.stanza.operator import BuildError

_HTTP_RANGES = {"2xx": (200, 299), "3xx": (300, 399), "4xx": (400, 499), "5xx": (500, 599)}


def _builtin(preset: str) -> dict[str, int]:
    """Presets: "none" is empty; "otel"/"aliases" map names and numbers 1..24; default adds warning/err."""
    if preset == "none":
        return {}
    mapping: dict[str, int] = {}
    for number, name in enumerate(SEVERITY_NAMES[1:], start=1):
        mapping[name.lower()] = number
        mapping[str(number)] = number
    if preset in ("otel", "aliases"):
        return mapping
    for suffix, offset in (("", 0), ("2", 1), ("3", 2), ("4", 3)):
        mapping["warning" + suffix] = 13 + offset
        mapping["err" + suffix] = 17 + offset
    return mapping


_ALIASES = _builtin("aliases")


class SeverityConfig(Model):
    parse_from: FieldRef | None = None
    preset: str = ""
    mapping: dict[str, Any] = pydantic.Field(default_factory=dict)
    overwrite_text: bool = False


def _find(mapping: dict[str, int], value: Any) -> tuple[int, str]:
    if isinstance(value, bool):
        raise ValueError("type bool cannot be a severity")
    if isinstance(value, int):
        text = str(value)
        return mapping.get(text, 0), text
    if isinstance(value, float):
        if value != int(value):
            raise ValueError("type float64 cannot be a severity unless it is a whole number")
        text = str(int(value))
        return mapping.get(text, 0), text
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return mapping.get(value.lower(), 0), value
    raise ValueError(f"type {type(value).__name__} cannot be a severity")


def _parseable(value: Any) -> list[str]:
    if isinstance(value, bool):
        raise ValueError("type bool cannot be parsed as a severity")
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, str):
        if value in _HTTP_RANGES:
            low, high = _HTTP_RANGES[value]
            return [str(i) for i in range(low, high + 1)]
        return [value.lower()]
    if isinstance(value, dict) and isinstance(value.get("min"), int) and isinstance(value.get("max"), int):
        low, high = sorted((value["min"], value["max"]))
        return [str(i) for i in range(low, high + 1)]
    go_type = {float: "float64", dict: "map[string]interface {}", list: "[]interface {}"}.get(type(value), type(value).__name__)
    raise ValueError(f"type {go_type} cannot be parsed as a severity")


class SeverityParser:
    def __init__(self, cfg: SeverityConfig, key: str | None = None) -> None:
        mapping = _builtin(cfg.preset)
        try:
            for name, values in cfg.mapping.items():
                severity, _ = _find(_ALIASES, name)
                for item in values if isinstance(values, list) else [values]:
                    for text in _parseable(item):
                        mapping[text] = severity
        except ValueError as exc:
            raise BuildError(str(exc), key) from None
        if cfg.parse_from is None:
            raise BuildError("missing required field 'parse_from'", key)
        self.parse_from: Field = cfg.parse_from
        self.mapping = mapping
        self.overwrite_text = cfg.overwrite_text

    def parse(self, entry: Entry) -> None:
        value, ok = self.parse_from.get(entry)
        if not ok:
            raise ValueError("log entry does not have the expected parse_from field")
        try:
            severity, text = _find(self.mapping, value)
        except ValueError as exc:
            raise ValueError(f"parse: {exc}") from None
        if self.overwrite_text and severity:
            text = SEVERITY_NAMES[severity]
        entry.severity = severity
        entry.severity_text = text
