"""key_value_parser: `k=v k2="v 2"` pairs into parse_to (upstream's quote-aware split)."""

from __future__ import annotations

from typing import Any, Literal

from otelflow.stanza.helper.parser import Parser, ParserConfig
from otelflow.stanza.operator import BuildError
from otelflow.stanza.operators.parser._common import go_type
from otelflow.stanza.registry import register


class KeyValueParserConfig(ParserConfig):
    type: Literal["key_value_parser"] = "key_value_parser"
    delimiter: str = "="
    pair_delimiter: str = ""


def split_string(text: str, delimiter: str) -> list[str]:
    """parseutils.SplitString: split on delimiter outside quotes; quotes are removed, \\ escapes a quote."""
    result: list[str] = []
    current: list[str] = []
    quote = ""
    escaped = False
    i, n, width = 0, len(text), len(delimiter)
    while i < n:
        if not quote and text.startswith(delimiter, i):
            if current:
                result.append("".join(current))
                current = []
            i += width
            continue
        c = text[i]
        i += 1
        if not escaped:
            if not quote and c in "\"'":
                quote = c
                continue
            if c == quote:
                quote = ""
                continue
            escaped = c == "\\"
        else:
            escaped = False
        current.append(c)
    if quote:
        raise ValueError("failed to parse pairs from input: never reached the end of a quoted value")
    if current:
        result.append("".join(current))
    return result


class KeyValueParser(Parser):
    def __init__(self, cfg: KeyValueParserConfig) -> None:
        super().__init__(cfg)
        if not cfg.delimiter:
            raise BuildError("delimiter is a required parameter", "delimiter")
        self.delimiter = cfg.delimiter
        self.pair_delimiter = cfg.pair_delimiter or " "
        if self.delimiter == self.pair_delimiter:
            raise BuildError("delimiter and pair_delimiter cannot be the same value", "delimiter")

    def parse(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"type {go_type(value)} cannot be parsed as key value pairs")
        if value == "":
            raise ValueError(f"parse from field {self.parse_from} is empty")
        parsed: dict[str, Any] = {}
        errors = []
        for pair in split_string(value, self.pair_delimiter):
            parts = pair.split(self.delimiter, 1)
            if len(parts) != 2:
                errors.append(f'cannot split "{pair}" into 2 items, got {len(parts)} item(s)')
                continue
            parsed[parts[0].strip()] = parts[1].strip()
        if errors:
            raise ValueError("; ".join(errors))
        return parsed


register("key_value_parser", KeyValueParserConfig, KeyValueParser)
