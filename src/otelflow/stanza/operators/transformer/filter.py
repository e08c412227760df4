"""filter: drops entries its `expr` matches, each with probability `drop_ratio` (upstream draws an
integer in [0, 1000) and keeps the entry when it is >= drop_ratio*1000). An expression error or a
non-bool result drops the entry (upstream logs and writes nothing); `if` (compiled, so a bad one
is a config error) and `on_error` are accepted but unused, as upstream's filter never consults them."""

from __future__ import annotations

import secrets
from typing import Literal

from otelflow.stanza.entry import Entry
from otelflow.stanza.expr import compile_expr
from otelflow.stanza.operator import BuildError, Emit, Operator, TransformerConfig, compile_condition
from otelflow.stanza.registry import register


class FilterConfig(TransformerConfig):
    type: Literal["filter"] = "filter"
    expr: str = ""
    drop_ratio: float = 1.0


class Filter(Operator):
    def __init__(self, cfg: FilterConfig) -> None:
        super().__init__(cfg)
        if cfg.if_:
            compile_condition(cfg.if_)  # checked at build, as upstream; never consulted
        try:
            self.test = compile_expr(cfg.expr)
        except ValueError as exc:
            raise BuildError(f"failed to compile expression '{cfg.expr}': {exc}", "expr") from None
        if not 0.0 <= cfg.drop_ratio <= 1.0:
            raise BuildError("drop_ratio must be a number between 0 and 1", "drop_ratio")
        self.cutoff = int(cfg.drop_ratio * 1000)

    def process(self, entry: Entry) -> list[Emit]:
        try:
            matched = self.test(entry)
        except ValueError as exc:
            self.note_error(exc, quiet=False)
            return []
        if not isinstance(matched, bool):
            self.note_error(ValueError("Expression did not compile as a boolean"), quiet=False)
            return []
        if not matched:
            return [(None, entry)]
        if self.cutoff >= 1000 or (self.cutoff > 0 and secrets.randbelow(1000) < self.cutoff):
            return []
        return [(None, entry)]


register("filter", FilterConfig, Filter)
