"""The ``routing`` connector: sends each resource, span, metric, data point or log record to the
pipelines of the first routes whose OTTL condition it matches, as upstream's routingconnector
(v0.148.0; v0.161.0's is not published) does.

Routes are tried in table order while anything is left: a ``move`` route takes what it matched out
of the request, a ``copy`` route leaves it for later routes too. What no ``move`` route took goes
to ``default_pipelines`` (or nowhere). The parts for one consumer are gathered into one request
per consumer: routes that name the same single pipeline (or the same one as the defaults) share a
request, while a route naming several pipelines gets its own. A condition that fails counts as no
match; with ``error_mode: propagate`` (the default) the whole request is refused instead and
nothing is sent.
"""

from __future__ import annotations

import logging
from typing import Any

from google.protobuf.message import Message

from otelflow.connectors.routing import moves
from otelflow.connectors.routing.config import Config, RoutingTableItem
from otelflow.connectors.routing.request import parse_request_condition
from otelflow.core.client import request_metadata
from otelflow.core.component import Component, Factory, Kind, Settings, Signal, STABLE_SIGNALS
from otelflow.core.consumer import ConsumerError, combine
from otelflow.ottl.compiler import Parser
from otelflow.ottl.contexts import CONTEXTS
from otelflow.ottl.contexts.base import TransformContext
from otelflow.ottl.errors import OttlError
from otelflow.ottl.functions import FunctionDef, FunctionTable
from otelflow.ottl.values import new_pmap
from otelflow.processors.filter.functions import converters, is_root_span, not_supported

__all__ = ["Config", "Routing", "factory"]

PIPELINE_NOT_FOUND = "pipeline not found"

_ROUTE = FunctionTable()


@_ROUTE.function("route")
def _route():
    return lambda ctx: True


def standard_functions(context: str) -> dict[str, FunctionDef]:
    """The connector's table: the standard converters, delete_key, delete_matching_keys and
    route(); the span context adds IsRootSpan."""
    from otelflow.ottl.funcs import STANDARD

    table = dict(converters())
    for name in ("delete_key", "delete_matching_keys"):
        if name in STANDARD:
            table[name] = STANDARD[name]
    table.update(_ROUTE.table())
    if context == "span":
        table.update(is_root_span())
    return table


def _key(item: RoutingTableItem) -> str:
    if item.context in ("", "resource"):
        return item.statement
    if item.context == "request":
        return "[request] " + item.condition
    return f"[{item.context}] {item.statement}"


class _Route:
    __slots__ = ("context", "statement", "request", "action", "consumer")

    def __init__(self, context: str, statement: Any, request: Any, action: str, consumer: Any):
        self.context = context or "resource"
        self.statement = statement
        self.request = request
        self.action = action
        self.consumer = consumer


class Routing(Component):
    mutates_data = True

    def __init__(self, settings: Settings, config: Config, signal: Signal, next: Any):
        self.logger: logging.Logger = settings.logger
        self.signal = signal
        self.propagate = config.error_mode == "propagate"
        if not hasattr(next, "consumer"):
            raise ValueError("expected consumer to be a connector router")
        self.default = self._consumer(next, config.default_pipelines) if config.default_pipelines else None
        parsers: dict[str, Parser] = {}
        self.routes: list[_Route] = []
        seen: dict[str, _Route] = {}
        # Conditions become "route() where <condition>" statements.
        for item in config.table:
            statement_text = f"route() where {item.condition}" if item.condition else item.statement
            item = item.model_copy(update={"statement": statement_text})
            key = _key(item)
            first = key not in seen
            if first:
                route = _Route(item.context, None, None, item.action, None)
                if item.context == "request":
                    route.request = parse_request_condition(item.condition)
                else:
                    ctx_name = item.context or "resource"
                    parser = parsers.get(ctx_name)
                    if parser is None:
                        parser = parsers[ctx_name] = Parser(CONTEXTS[ctx_name], standard_functions(ctx_name),
                                                            not_supported())
                    route.statement = parser.parse_statement(statement_text, prepend_context=True)
            else:
                self.logger.warning(
                    f"Statement {_quote(item.statement)} already exists in the routing table, the route with "
                    f"target pipeline(s) {_quote(', '.join(item.pipelines))} will be ignored.")
            consumer = self._consumer(next, item.pipelines)
            if first:
                route.consumer = consumer
                seen[key] = route
                self.routes.append(route)

    @staticmethod
    def _consumer(router: Any, ids: list[str]):
        try:
            return router.consumer(*ids)
        except ValueError as exc:
            raise ValueError(f"{PIPELINE_NOT_FOUND}: {exc}") from None

    # ------------------------------------------------------------------------------ consuming

    async def consume(self, data: Message) -> None:
        res_field, _, _ = moves.fields_of(data)
        resources = getattr(data, res_field)
        groups: dict[int, tuple[Any, Message]] = {}
        matched = type(data)()
        for route in self.routes:
            if len(resources) == 0:
                break
            errors: list[str] = []
            self._apply(route, data, matched, errors)
            if errors and self.propagate:
                raise ConsumerError("\n".join(errors))
            if _group(groups, route.consumer, matched, res_field):
                matched = type(data)()
        _group(groups, self.default, data, res_field)
        failures = []
        for consumer, request in groups.values():
            try:
                await consumer.consume(request)
            except ConsumerError as exc:
                failures.append(exc)
        if failures:
            raise combine(failures)

    def _apply(self, route: _Route, data: Message, matched: Message, errors: list[str]) -> None:
        move = route.action != "copy"
        context = route.context
        if context == "request":
            if route.request.match(request_metadata.get()):
                matched.MergeFrom(data)
                if move:
                    data.Clear()
            return
        statement = route.statement
        ctx = TransformContext()

        def run() -> bool:
            ctx.cache = new_pmap()
            try:
                return statement.execute(ctx)
            except OttlError as exc:
                errors.append(str(exc))
                return False
            except Exception as exc:  # a statement must never take the collector down
                errors.append(f"{type(exc).__name__}: {exc}")
                return False

        if context == "resource":
            def on_resource(rs):
                ctx.resource, ctx.resource_holder = rs.resource, rs
                return run()
            moves.resources_if(data, matched, on_resource, move)
            return
        signal = self.signal
        if (context == "span" and signal is Signal.TRACES) or (context == "log" and signal is Signal.LOGS) or \
                (context == "metric" and signal is Signal.METRICS):
            slot = {"span": "span", "log": "log", "metric": "metric"}[context]

            def on_item(rs, ss, item):
                ctx.resource, ctx.resource_holder = rs.resource, rs
                ctx.scope, ctx.scope_holder = ss.scope, ss
                if slot == "metric":
                    ctx.metrics = ss.metrics
                setattr(ctx, slot, item)
                return run()
            moves.items_if(data, matched, on_item, move)
        elif context == "datapoint" and signal is Signal.METRICS:
            def on_point(rm, sm, metric, dp):
                ctx.resource, ctx.resource_holder = rm.resource, rm
                ctx.scope, ctx.scope_holder = sm.scope, sm
                ctx.metrics, ctx.metric, ctx.datapoint = sm.metrics, metric, dp
                return run()
            moves.datapoints_if(data, matched, on_point, move)
        # a route of another signal's context never matches here


def _group(groups: dict, consumer: Any, part: Message, res_field: str) -> bool:
    """Gather ``part``'s resources into the request for ``consumer``; returns True when ``part``
    itself became that request (the caller then needs a new one), else ``part`` is left empty."""
    if consumer is None:
        return False
    resources = getattr(part, res_field)
    if len(resources) == 0:
        return False
    entry = groups.get(id(consumer))
    if entry is None:
        groups[id(consumer)] = (consumer, part)
        return True
    getattr(entry[1], res_field).extend(resources)
    part.Clear()
    return False


def _quote(text: str) -> str:
    from otelflow.ottl.contexts.registry import go_quote
    return go_quote(text)


factory = Factory(
    type="routing",
    kind=Kind.CONNECTOR,
    config=Config,
    create=lambda settings, config, source, target, next: Routing(settings, config, source, next),
    pairs=frozenset((s, s) for s in STABLE_SIGNALS),
    stability="alpha",
)
