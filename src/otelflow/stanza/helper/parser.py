"""The parser base (upstream helper.ParserConfig/ParserOperator): parse_from -> parse -> parse_to, then
the optional body, timestamp, severity, trace and scope_name steps; any failure goes through on_error
with the entry as it is at that point."""

from __future__ import annotations

from typing import Any

import pydantic

from otelflow.stanza.entry import Entry
from otelflow.stanza.field import Field, FieldRef, RootableFieldRef
from otelflow.stanza.helper.severity import SeverityConfig, SeverityParser
from otelflow.stanza.helper.time import TimeParser, TimestampConfig
from otelflow.stanza.helper.trace import ScopeNameConfig, ScopeNameParser, TraceConfig, TraceParser
from otelflow.stanza.operator import BuildError, Transformer, TransformerConfig


class ParserConfig(TransformerConfig):
    parse_from: FieldRef = pydantic.Field(default_factory=lambda: Field("body"))
    parse_to: RootableFieldRef = pydantic.Field(default_factory=lambda: Field("attributes"))
    body: FieldRef | None = None
    timestamp: TimestampConfig | None = None
    severity: SeverityConfig | None = None
    trace: TraceConfig | None = None
    scope_name: ScopeNameConfig | None = None


class Parser(Transformer):
    """Subclasses implement ``parse(value) -> value`` and raise ValueError on bad input."""

    def __init__(self, cfg: ParserConfig) -> None:
        super().__init__(cfg)
        if cfg.body is not None and cfg.parse_to == Field("body"):
            raise BuildError("`parse_to: body` not allowed when `body` is configured", "parse_to")
        self.parse_from = cfg.parse_from
        self.parse_to = cfg.parse_to
        self.body_field = cfg.body
        self.time_parser = TimeParser(cfg.timestamp, "timestamp") if cfg.timestamp is not None else None
        self.severity_parser = SeverityParser(cfg.severity, "severity") if cfg.severity is not None else None
        self.trace_parser = TraceParser(cfg.trace) if cfg.trace is not None else None
        self.scope_parser = ScopeNameParser(cfg.scope_name) if cfg.scope_name is not None else None

    def parse(self, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, entry: Entry) -> None:
        value, ok = self.parse_from.get(entry)
        if not ok:
            raise ValueError(f"Entry is missing the expected parse_from field: {self.parse_from}")
        self.parse_to.set(entry, self.parse(value))
        if self.body_field is not None:
            body, found = self.body_field.get(entry)
            if found:
                entry.body = body
        self.apply_extras(entry)

    def apply_extras(self, entry: Entry) -> None:
        """Run every configured step, then report the first failure (upstream's order)."""
        failures: list[str] = []
        for name, step in (
            ("time parser", self.time_parser),
            ("severity parser", self.severity_parser),
            ("trace parser", self.trace_parser),
            ("scope_name parser", self.scope_parser),
        ):
            if step is None:
                continue
            try:
                step.parse(entry)
            except Exception as exc:  # noqa: BLE001 - every step failure is an entry error
                failures.append(f"{name}: {exc}")
        if failures:
            raise ValueError(failures[0])
