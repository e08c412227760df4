"""severity_parser, time_parser, trace_parser, scope_name_parser: the parser blocks as operators of their own."""

from __future__ import annotations

from typing import Literal

import pydantic

from otelflow.stanza.entry import Entry
from otelflow.stanza.field import Field, FieldRef
from otelflow.stanza.helper.severity import SeverityConfig, SeverityParser
from otelflow.stanza.helper.time import TimeParser, TimestampConfig
from otelflow.stanza.helper.trace import ParseFromConfig, ScopeNameConfig, ScopeNameParser, TraceConfig, TraceParser
from otelflow.stanza.operator import Transformer, TransformerConfig
from otelflow.stanza.registry import register


class SeverityParserConfig(TransformerConfig, SeverityConfig):
    type: Literal["severity_parser"] = "severity_parser"
    parse_from: FieldRef | None = None


class SeverityParserOp(Transformer):
    def __init__(self, cfg: SeverityParserConfig) -> None:
        super().__init__(cfg)
        self.parser = SeverityParser(cfg)

    def transform(self, entry: Entry) -> None:
        self.parser.parse(entry)


class TimeParserConfig(TransformerConfig, TimestampConfig):
    type: Literal["time_parser"] = "time_parser"


class TimeParserOp(Transformer):
    def __init__(self, cfg: TimeParserConfig) -> None:
        super().__init__(cfg)
        self.parser = TimeParser(cfg)

    def transform(self, entry: Entry) -> None:
        self.parser.parse(entry)


class TraceParserConfig(TransformerConfig, TraceConfig):
    type: Literal["trace_parser"] = "trace_parser"


class TraceParserOp(Transformer):
    def __init__(self, cfg: TraceParserConfig) -> None:
        super().__init__(cfg)
        self.parser = TraceParser(cfg)

    def transform(self, entry: Entry) -> None:
        self.parser.parse(entry)


class ScopeNameParserConfig(TransformerConfig):
    type: Literal["scope_name_parser"] = "scope_name_parser"
    parse_from: FieldRef = pydantic.Field(default_factory=lambda: Field("body"))


class ScopeNameParserOp(Transformer):
    def __init__(self, cfg: ScopeNameParserConfig) -> None:
        super().__init__(cfg)
        self.parser = ScopeNameParser(ScopeNameConfig(parse_from=cfg.parse_from))

    def transform(self, entry: Entry) -> None:
        self.parser.parse(entry)


register("severity_parser", SeverityParserConfig, SeverityParserOp)
register("time_parser", TimeParserConfig, TimeParserOp)
register("trace_parser", TraceParserConfig, TraceParserOp)
register("scope_name_parser", ScopeNameParserConfig, ScopeNameParserOp)
__all__ = ["ParseFromConfig"]
