"""Stanza field references (`body.a`, `attributes["k.8s"]`, `resource.x`): parse, get, set, delete.

Semantics follow upstream's entry fields: setting a map merges it into the target map, intermediate
non-map values are replaced by maps, and `attributes`/`resource` without a key are only allowed
where a field is "rootable" (parse_to).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from otelflow.stanza.entry import Entry

BODY = "body"
ATTRIBUTES = "attributes"
RESOURCE = "resource"


class FieldError(ValueError):
    """A field reference that cannot be parsed."""


class Field:
    """A path into one of an entry's three value trees."""

    __slots__ = ("root", "keys")

    def __init__(self, root: str, keys: tuple[str, ...] = ()) -> None:
        self.root = root
        self.keys = keys

    # --- access -------------------------------------------------------------
    def _top(self, entry: Entry) -> Any:
        if self.root == BODY:
            return entry.body
        return entry.attributes if self.root == ATTRIBUTES else entry.resource

    def get(self, entry: Entry) -> tuple[Any, bool]:
        """(value, found); a missing intermediate or a non-map on the way is "not found"."""
        current = self._top(entry)
        if current is None and self.root != BODY:
            return None, False
        for key in self.keys:
            if not isinstance(current, dict) or key not in current:
                return None, False
            current = current[key]
        return current, True

    def set(self, entry: Entry, value: Any) -> None:
        """Set (or, for a map value, merge into) the referenced place, creating maps on the way."""
        if self.root == BODY:
            if isinstance(value, dict):
                target = entry.body if isinstance(entry.body, dict) else None
                if target is None:
                    target = entry.body = {}
                _nested(target, self.keys).update(value)
                return
            if not self.keys:
                entry.body = value
                return
            if not isinstance(entry.body, dict):
                entry.body = {}
            _nested(entry.body, self.keys[:-1])[self.keys[-1]] = value
            return
        top = self._top(entry)
        if top is None:
            top = {}
            if self.root == ATTRIBUTES:
                entry.attributes = top
            else:
                entry.resource = top
        if isinstance(value, dict):
            _nested(top, self.keys).update(value)
            return
        if not self.keys:
            raise FieldError(f"cannot set {self.root} root")
        _nested(top, self.keys[:-1])[self.keys[-1]] = value

    def delete(self, entry: Entry) -> tuple[Any, bool]:
        """Remove and return the referenced value; (None, False) when absent."""
        if not self.keys:
            old = self._top(entry)
            if self.root == BODY:
                entry.body = None
                return old, True
            if old is None:
                return None, False
            if self.root == ATTRIBUTES:
                entry.attributes = None
            else:
                entry.resource = None
            return old, True
        current = self._top(entry)
        for i, key in enumerate(self.keys):
            if not isinstance(current, dict) or key not in current:
                return None, False
            if i == len(self.keys) - 1:
                return current.pop(key), True
            current = current[key]
        return None, False

    # --- identity -----------------------------------------------------------
    def __str__(self) -> str:
        if not self.keys:
            return self.root
        if any("." in k for k in self.keys):
            return self.root + "".join(f"['{k}']" for k in self.keys)
        return self.root + "." + ".".join(self.keys)

    def __repr__(self) -> str:
        return f"Field({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and other.root == self.root and other.keys == self.keys

    def __hash__(self) -> int:
        return hash((self.root, self.keys))

    def is_root(self) -> bool:
        return not self.keys


def _nested(current: dict, keys: tuple[str, ...]) -> dict:
    for key in keys:
        nxt = current.get(key)
        if not isinstance(nxt, dict):
            nxt = current[key] = {}
        current = nxt
    return current


def split_keys(text: str) -> list[str]:
    """Split `a.b["c.d"]['e']` into keys, with upstream's error texts."""
    fields: list[str] = []
    state = "begin"
    quote = ""
    start = 0
    for i, c in enumerate(text):
        if state == "begin":
            if c == "[":
                state = "in_bracket"
                continue
            start, state = i, "token"
        elif state == "in_bracket":
            if c not in "'\"":
                raise FieldError("strings in brackets must be surrounded by quotes")
            state, quote, start = "in_quote", c, i + 1
        elif state == "in_quote":
            if c == quote:
                fields.append(text[start:i])
                state = "out_quote"
        elif state == "out_quote":
            if c != "]":
                raise FieldError("found characters between closed quote and closing bracket")
            state = "out_bracket"
        elif state == "out_bracket":
            if c == ".":
                state, start = "token", i + 1
            elif c == "[":
                state = "in_bracket"
            else:
                raise FieldError("bracketed access must be followed by a dot or another bracketed access")
        elif state == "token":
            if c == ".":
                fields.append(text[start:i])
                start = i + 1
            elif c == "[":
                fields.append(text[start:i])
                state = "in_bracket"
    if state in ("in_bracket", "out_quote"):
        raise FieldError("found unclosed left bracket")
    if state == "in_quote":
        raise FieldError("found unclosed double quote" if quote == '"' else "found unclosed single quote")
    if state == "token":
        fields.append(text[start:])
    if not fields:
        raise FieldError("fields size is 0")
    return fields


def parse_field(text: str, rootable: bool = False) -> Field:
    """A field from its config text; `attributes`/`resource` alone only when ``rootable``."""
    try:
        keys = split_keys(text)
    except FieldError as exc:
        raise FieldError(f"splitting field: {exc}") from None
    root, rest = keys[0], tuple(keys[1:])
    if root in (ATTRIBUTES, RESOURCE):
        if not rootable and not rest:
            raise FieldError(f"{root} cannot be referenced without subfield")
        return Field(root, rest)
    if root == BODY:
        return Field(BODY, rest)
    raise FieldError("unrecognized prefix")


def _validator(rootable: bool):
    def check(value: Any) -> Field:
        if isinstance(value, Field):
            return value
        if not isinstance(value, str):
            raise ValueError("expected a field such as body.key or attributes.key")
        return parse_field(value, rootable)

    return check


#: Config-model types: ``FieldRef`` for parse_from-like keys, ``RootableFieldRef`` for parse_to.
FieldRef = Annotated[Field, PlainValidator(_validator(False)), PlainSerializer(str)]
RootableFieldRef = Annotated[Field, PlainValidator(_validator(True)), PlainSerializer(str)]
