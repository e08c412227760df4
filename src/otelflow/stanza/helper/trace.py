"""The `trace` block of parsers and trace_parser (upstream helper.TraceParser) and scope_name parsing."""

from __future__ import annotations

from typing import Any

from otelflow.config.model import Model
from otelflow.stanza.entry import Entry
from otelflow.stanza.field import Field, FieldRef


class ParseFromConfig(Model):
    parse_from: FieldRef | None = None


class TraceConfig(Model):
    trace_id: ParseFromConfig | None = None
    span_id: ParseFromConfig | None = None
    trace_flags: ParseFromConfig | None = None


def _go_text(value: Any) -> str:
    """fmt's %v for the values entries hold (enough for hex decoding)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in value) + "]"
    return str(value)


def _hex(entry: Entry, field: Field) -> bytes:
    value, ok = field.get(entry)
    if not ok:
        return b""
    text = _go_text(value)
    try:
        return bytes.fromhex(text) if len(text) % 2 == 0 and " " not in text else _bad(text)
    except ValueError:
        return _bad(text)


def _bad(text: str) -> bytes:
    raise ValueError(f"encoding/hex: invalid byte in {text!r}" if len(text) % 2 == 0 else "encoding/hex: odd length hex string")


class TraceParser:
    def __init__(self, cfg: TraceConfig) -> None:
        def pick(sub: ParseFromConfig | None, default: str) -> Field:
            return sub.parse_from if sub is not None and sub.parse_from is not None else Field("body", (default,))

        self.trace_id = pick(cfg.trace_id, "trace_id")
        self.span_id = pick(cfg.span_id, "span_id")
        self.trace_flags = pick(cfg.trace_flags, "trace_flags")

    def parse(self, entry: Entry) -> None:
        """All three are set (missing -> cleared) before a decoding error is reported, as upstream."""
        errors = []
        for attr, field in (("trace_id", self.trace_id), ("span_id", self.span_id), ("trace_flags", self.trace_flags)):
            try:
                setattr(entry, attr, _hex(entry, field))
            except ValueError as exc:
                setattr(entry, attr, b"")
                errors.append(f"{attr}: {exc}")
        if errors:
            raise ValueError("Error decoding traces for logs: " + "; ".join(errors))


class ScopeNameConfig(Model):
    parse_from: FieldRef | None = None


class ScopeNameParser:
    def __init__(self, cfg: ScopeNameConfig) -> None:
        self.parse_from: Field = cfg.parse_from or Field("body")

    def parse(self, entry: Entry) -> None:
        value, ok = self.parse_from.get(entry)
        if not ok:
            raise ValueError("log entry does not have the expected parse_from field")
        if not isinstance(value, str):
            raise ValueError("parse_from field does not contain a string")
        entry.scope_name = value
