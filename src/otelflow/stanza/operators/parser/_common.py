"""Shared bits of the parser operators: Go type names for error texts, registration shorthand."""

from __future__ import annotations

from typing import Any

GO_TYPES = {
    bool: "bool", int: "int64", float: "float64", str: "string", bytes: "[]uint8",
    dict: "map[string]interface {}", list: "[]interface {}", type(None): "<nil>",
}


def go_type(value: Any) -> str:
    return GO_TYPES.get(type(value), type(value).__name__)


def as_text(value: Any, what: str, quoted: bool = False) -> str:
    """A string or bytes value as text; anything else is upstream's "cannot be parsed" error."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    name = f"'{go_type(value)}'" if quoted else go_type(value)
    raise ValueError(f"type {name} cannot be parsed as {what}")
