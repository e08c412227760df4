"""router: the first route whose `expr` is true gets the entry (with its route `attributes` added);
`default` is a last route with expr `true`; an entry no route takes is dropped. Expression errors
skip the route (upstream logs a warning), so a bad entry falls through to later routes. A route with
several outputs gives each the same entry object, as upstream does (changes one branch makes show in
the others)."""

from __future__ import annotations

from typing import Callable, Literal

import pydantic

from otelflow.stanza.entry import Entry
from otelflow.stanza.expr import ExprString, compile_bool
from otelflow.stanza.operator import BuildError, Emit, Operator, OperatorConfig, OutputList
from otelflow.stanza.registry import register


class RouteConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    expr: str = ""
    output: OutputList = pydantic.Field(default_factory=list)
    attributes: dict[str, str] = pydantic.Field(default_factory=dict)


class RouterConfig(OperatorConfig):
    type: Literal["router"] = "router"
    routes: list[RouteConfig] = pydantic.Field(default_factory=list)
    default: OutputList | None = None


class _Route:
    def __init__(self, test: Callable[[Entry], bool], outputs: list[str], attributes: dict[str, ExprString]) -> None:
        self.test = test
        self.outputs = outputs
        self.attributes = attributes


class Router(Operator):
    def __init__(self, cfg: RouterConfig) -> None:
        super().__init__(cfg)
        routes = list(cfg.routes)
        if cfg.default is not None:
            routes.append(RouteConfig(expr="true", output=cfg.default))
        self.routes: list[_Route] = []
        for i, route in enumerate(routes):
            try:
                test = compile_bool(route.expr)
            except ValueError as exc:
                raise BuildError(f"failed to compile expression '{route.expr}': {exc}", f"routes::{i}::expr") from None
            attrs: dict[str, ExprString] = {}
            for key, value in route.attributes.items():
                try:
                    attrs[key] = ExprString(value)
                except ValueError as exc:
                    raise BuildError(f"failed to build attributer for route '{route.expr}': {exc}", f"routes::{i}::attributes") from None
            self.routes.append(_Route(test, list(route.output), attrs))

    def output_ids(self) -> list[str]:
        return list(dict.fromkeys(out for route in self.routes for out in route.outputs))

    def accepts_default_output(self) -> bool:
        return False

    def process(self, entry: Entry) -> list[Emit]:
        for route in self.routes:
            try:
                if not route.test(entry):
                    continue
            except ValueError as exc:
                self.note_error(exc, quiet=True)  # upstream: a warning, then the next route
                continue
            try:
                for key, value in route.attributes.items():
                    rendered = value.render(entry)
                    if entry.attributes is None:
                        entry.attributes = {}
                    entry.attributes[key] = rendered
            except ValueError as exc:
                self.note_error(exc, quiet=False)
                return []
            # upstream hands the same entry to every output of the route (no copy): keep that
            return [(out, entry) for out in route.outputs]
        return []


register("router", RouterConfig, Router)
