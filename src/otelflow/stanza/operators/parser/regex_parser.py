"""regex_parser: named groups of a Go (RE2) regular expression into parse_to."""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from otelflow.config.model import Model
from otelflow.pdata import goregexp
from otelflow.stanza.helper.parser import Parser, ParserConfig
from otelflow.stanza.operator import BuildError
from otelflow.stanza.operators.parser._common import go_type
from otelflow.stanza.registry import register


class CacheConfig(Model):
    size: int = pydantic.Field(0, ge=0, le=65535)  # a uint16 upstream


class RegexParserConfig(ParserConfig):
    type: Literal["regex_parser"] = "regex_parser"
    regex: str = ""
    cache: CacheConfig = pydantic.Field(default_factory=CacheConfig)


class RegexParser(Parser):
    def __init__(self, cfg: RegexParserConfig) -> None:
        super().__init__(cfg)
        if not cfg.regex:
            raise BuildError("missing required field 'regex'", "regex")
        try:
            compiled = goregexp.GoRegexp(cfg.regex)
        except Exception as exc:  # noqa: BLE001 - any compile failure is a config error
            raise BuildError(f"compiling regex: {exc}", "regex") from None
        self.search = compiled.regex.search
        # (group index, name) of named groups; a repeated name keeps the last group's value, as Go
        self.groups = [(i, name) for i, name in enumerate(compiled.names) if i and name]
        if not self.groups:
            raise BuildError("no named capture groups in regex pattern", "regex")
        self.cache_size = cfg.cache.size
        self.cache: dict[str, dict[str, str]] = {}

    def parse(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"type '{go_type(value)}' cannot be parsed as regex")
        text = value
        if self.cache_size:
            hit = self.cache.get(text)
            if hit is not None:
                return dict(hit)
        match = self.search(text)
        if match is None:
            raise ValueError("regex pattern does not match")
        parsed = {name: match.group(i) or "" for i, name in self.groups}
        if self.cache_size:
            if len(self.cache) >= self.cache_size:
                self.cache.pop(next(iter(self.cache)))
            self.cache[text] = dict(parsed)
        return parsed


register("regex_parser", RegexParserConfig, RegexParser)
