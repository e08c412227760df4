"""Field transformers: move, copy, add, remove, flatten, retain, noop (upstream's field semantics:
a map set onto a field merges into it; a missing source is an entry error, handled per `on_error`)."""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from otelflow.stanza.entry import Entry
from otelflow.stanza.expr import compile_expr
from otelflow.stanza.field import ATTRIBUTES, BODY, RESOURCE, Field, FieldRef, parse_field
from otelflow.stanza.operator import BuildError, Transformer, TransformerConfig
from otelflow.stanza.registry import register


class _FromTo(TransformerConfig):
    from_: FieldRef | None = pydantic.Field(None, alias="from")
    to: FieldRef | None = None


def _check_from_to(cfg: _FromTo) -> tuple[Field, Field]:
    # both upstream operators say "copy:" here (their shared error values)
    missing = [m for m, f in (("copy: missing from field", cfg.from_), ("copy: missing to field", cfg.to)) if f is None]
    if missing:
        raise BuildError("\n".join(missing), "from" if cfg.from_ is None else "to")
    return cfg.from_, cfg.to  # type: ignore[return-value]


class MoveConfig(_FromTo):
    type: Literal["move"] = "move"


class Move(Transformer):
    def __init__(self, cfg: MoveConfig) -> None:
        super().__init__(cfg)
        self.src, self.dst = _check_from_to(cfg)

    def transform(self, entry: Entry) -> None:
        value, found = self.src.delete(entry)
        if not found:
            raise ValueError(f"move: field does not exist: {self.src}")
        self.dst.set(entry, value)


class CopyConfig(_FromTo):
    type: Literal["copy"] = "copy"


class Copy(Transformer):
    def __init__(self, cfg: CopyConfig) -> None:
        super().__init__(cfg)
        self.src, self.dst = _check_from_to(cfg)

    def transform(self, entry: Entry) -> None:
        value, found = self.src.get(entry)
        if not found:
            raise ValueError(f"copy: from field does not exist in this entry: {self.src}")
        self.dst.set(entry, Entry(body=value).copy().body)  # the copy must not alias the source


class AddConfig(TransformerConfig):
    type: Literal["add"] = "add"
    field: FieldRef | None = None
    value: Any = None


class Add(Transformer):
    """`value` is set as given; a string that is exactly `EXPR(...)` is evaluated per entry."""

    def __init__(self, cfg: AddConfig) -> None:
        super().__init__(cfg)
        self.field = cfg.field if cfg.field is not None else Field(BODY)
        self.value = cfg.value
        self.program = None
        if isinstance(cfg.value, str) and cfg.value.startswith("EXPR(") and cfg.value.endswith(")"):
            try:
                self.program = compile_expr(cfg.value[5:-1])
            except ValueError as exc:
                raise BuildError(f"failed to compile expression '{cfg.if_}': {exc}", "value") from None

    def transform(self, entry: Entry) -> None:
        if self.program is not None:
            try:
                result = self.program(entry)
            except ValueError as exc:
                raise ValueError(f"evaluate value_expr: {exc}") from None
            self.field.set(entry, result)
        elif self.value is not None:
            self.field.set(entry, Entry(body=self.value).copy().body)
        else:
            raise ValueError("add: missing required field 'value'")


class RemoveConfig(TransformerConfig):
    type: Literal["remove"] = "remove"
    field: str = ""


class Remove(Transformer):
    def __init__(self, cfg: RemoveConfig) -> None:
        super().__init__(cfg)
        if not cfg.field:
            raise BuildError("remove: field is empty", "field")
        self.all_of = cfg.field if cfg.field in (ATTRIBUTES, RESOURCE) else None
        self.field = None if self.all_of else parse_field(cfg.field)

    def transform(self, entry: Entry) -> None:
        if self.all_of == ATTRIBUTES:
            entry.attributes = None
            return
        if self.all_of == RESOURCE:
            entry.resource = None
            return
        assert self.field is not None
        _, found = self.field.delete(entry)
        if not found:
            raise ValueError(f"remove: field does not exist: {self.field}")


class FlattenConfig(TransformerConfig):
    type: Literal["flatten"] = "flatten"
    field: FieldRef | None = None


class Flatten(Transformer):
    """Lift a map's keys into its parent (one level), as upstream."""

    def __init__(self, cfg: FlattenConfig) -> None:
        super().__init__(cfg)
        if cfg.field is None:
            raise BuildError("invalid field type: <nil>", "field")
        self.field = cfg.field
        self.parent = Field(cfg.field.root, cfg.field.keys[:-1])

    def transform(self, entry: Entry) -> None:
        value, found = self.field.delete(entry)
        if not found:
            raise ValueError(f"apply flatten: field {self.field} does not exist on entry")
        if not isinstance(value, dict):
            self.field.set(entry, value)
            raise ValueError(f"apply flatten: field {self.field} is not a map")
        for key, item in value.items():
            Field(self.parent.root, (*self.parent.keys, key)).set(entry, item)


class RetainConfig(TransformerConfig):
    type: Literal["retain"] = "retain"
    fields: list[FieldRef] = pydantic.Field(default_factory=list)


class Retain(Transformer):
    """Keep only the listed fields of each tree that a listed field names; other trees stay whole."""

    def __init__(self, cfg: RetainConfig) -> None:
        super().__init__(cfg)
        if not cfg.fields:
            raise BuildError("retain: 'fields' is empty", "fields")
        self.fields = cfg.fields
        roots = {f.root for f in cfg.fields}
        self.roots = roots

    def transform(self, entry: Entry) -> None:
        kept = Entry(
            body=None if BODY in self.roots else entry.body,
            attributes=None if ATTRIBUTES in self.roots else entry.attributes,
            resource=None if RESOURCE in self.roots else entry.resource,
        )
        for f in self.fields:
            value, found = f.get(entry)
            if found:
                f.set(kept, value)
        entry.body, entry.attributes, entry.resource = kept.body, kept.attributes, kept.resource


class NoopConfig(TransformerConfig):
    type: Literal["noop"] = "noop"


class Noop(Transformer):
    def transform(self, entry: Entry) -> None:
        return None


register("move", MoveConfig, Move)
register("copy", CopyConfig, Copy)
register("add", AddConfig, Add)
register("remove", RemoveConfig, Remove)
register("flatten", FlattenConfig, Flatten)
register("retain", RetainConfig, Retain)
register("noop", NoopConfig, Noop)
