"""unquote and assign_keys: the two small field transformers upstream also ships (assign_keys is
behind the beta `logs.assignKeys` gate, enabled by default upstream)."""

from __future__ import annotations

from typing import Literal

import pydantic

from otelflow.stanza.entry import Entry
from otelflow.stanza.field import FieldRef
from otelflow.stanza.operator import BuildError, Transformer, TransformerConfig
from otelflow.stanza.registry import register

_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_HEX = {"x": 2, "u": 4, "U": 8}


def go_unquote(s: str) -> str:
    """Go's strconv.Unquote: a "double-quoted", `raw` or 'single rune' literal; else invalid syntax."""
    bad = ValueError("invalid syntax")
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "\"'`":
        raise bad
    quote, body = s[0], s[1:-1]
    if quote == "`":
        if "`" in body:
            raise bad
        return body.replace("\r", "")
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == quote or c == "\n":
            raise bad
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(body):
            raise bad
        e = body[i + 1]
        if e in _SIMPLE:
            out.append(_SIMPLE[e])
            i += 2
        elif e == quote:
            out.append(e)
            i += 2
        elif e in _HEX:
            digits = body[i + 2:i + 2 + _HEX[e]]
            if len(digits) != _HEX[e] or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise bad
            code = int(digits, 16)
            if e != "x" and (code > 0x10FFFF or 0xD800 <= code <= 0xDFFF):
                raise bad
            out.append(chr(code))
            i += 2 + _HEX[e]
        elif e in "01234567":
            digits = body[i + 1:i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise bad
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise bad
    text = "".join(out)
    if quote == "'" and len(text) != 1:
        raise bad
    return text


class UnquoteConfig(TransformerConfig):
    type: Literal["unquote"] = "unquote"
    field: FieldRef | None = None


class Unquote(Transformer):
    def __init__(self, cfg: UnquoteConfig) -> None:
        super().__init__(cfg)
        if cfg.field is None:
            raise BuildError("invalid field type: <nil>", "field")
        self.field = cfg.field

    def transform(self, entry: Entry) -> None:
        value, found = self.field.get(entry)
        if not found:
            return
        if not isinstance(value, str):
            raise ValueError(f"type {type(value).__name__} cannot be unquoted")
        self.field.set(entry, go_unquote(value))


class AssignKeysConfig(TransformerConfig):
    type: Literal["assign_keys"] = "assign_keys"
    field: FieldRef | None = None
    keys: list[str] = pydantic.Field(default_factory=list)


class AssignKeys(Transformer):
    """A list becomes a map under the given keys (lengths must match)."""

    def __init__(self, cfg: AssignKeysConfig) -> None:
        super().__init__(cfg)
        if not cfg.keys:
            raise BuildError("assign_keys missing required field keys", "keys")
        if cfg.field is None:
            raise BuildError("invalid field type: <nil>", "field")
        self.field = cfg.field
        self.keys = cfg.keys

    def transform(self, entry: Entry) -> None:
        value, found = self.field.get(entry)
        if not found:
            raise ValueError(f"apply assign_keys: field {self.field} does not exist on entry")
        if not isinstance(value, list):
            raise ValueError(f"apply assign_keys: couldn't convert field {self.field} to []any")
        if len(value) != len(self.keys):
            raise ValueError(
                f"apply assign_keys: field {self.field} contains {len(value)} values while expected keys are "
                f"[{' '.join(self.keys)}] contain {len(self.keys)} keys"
            )
        self.field.set(entry, dict(zip(self.keys, value)))


register("unquote", UnquoteConfig, Unquote)
register("assign_keys", AssignKeysConfig, AssignKeys)
