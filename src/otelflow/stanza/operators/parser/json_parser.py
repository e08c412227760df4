"""json_parser: a JSON object into parse_to. Numbers are floats, as Go's encoding/json gives, unless
parse_ints keeps integral numbers as ints."""

from __future__ import annotations

import json
from typing import Any, Literal

from otelflow.stanza.helper.parser import Parser, ParserConfig
from otelflow.stanza.operators.parser._common import go_type
from otelflow.stanza.registry import register



def _constant(name: str) -> Any:
    """NaN and Infinity are not JSON to Go's decoder."""
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


_DECODER = json.JSONDecoder(parse_int=_float, parse_float=_float, parse_constant=_constant)
_INT_DECODER = json.JSONDecoder(parse_int=lambda s: _int_or_float(s), parse_float=_float, parse_constant=_constant)


def _int_or_float(text: str) -> Any:
    value = int(text)
    return value if -(2**63) <= value < 2**63 else _float(text)


class JsonParserConfig(ParserConfig):
    type: Literal["json_parser"] = "json_parser"
    parse_ints: bool = False


class JsonParser(Parser):
    def __init__(self, cfg: JsonParserConfig) -> None:
        super().__init__(cfg)
        self.parse_ints = cfg.parse_ints

    def parse(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"type {go_type(value)} cannot be parsed as JSON")
        try:
            if self.parse_ints:  # a json.Decoder: trailing data after the object is ignored
                parsed, _ = _INT_DECODER.raw_decode(value.lstrip(" \t\r\n"))
            else:
                parsed = _DECODER.decode(value)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
        if parsed is None:
            return {}
        if not isinstance(parsed, dict):
            raise ValueError(f"json: cannot unmarshal {go_type(parsed)} into Go value of type map[string]interface {{}}")
        return parsed


register("json_parser", JsonParserConfig, JsonParser)
