"""The ``filter`` processor: drops spans, span events, metrics, data points and log records (and
whole resources or scopes) that match OTTL conditions or the legacy include/exclude properties,
as upstream's filterprocessor (v0.161.0).

Dropping walks the request as pdata's ``RemoveIf`` chains do: an item is removed when any
condition of its level matches; a scope left without items and a resource left without scopes go
too; a metric whose data points were all dropped goes. When nothing is left the request stops
here with success (upstream's ``ErrSkipProcessingData``: the client is answered OK and nothing
further down the pipeline sees it). With ``error_mode: propagate`` a condition that fails keeps its
item, the walk goes on, and the request is then refused with the errors.
"""

from __future__ import annotations

from google.protobuf.message import Message

from otelflow.core.component import Component, Factory, Kind, Settings, Signal, STABLE_SIGNALS
from otelflow.core.consumer import ConsumerError
from otelflow.pdata import remove_if
from otelflow.ottl import native
from otelflow.ottl.contexts.base import TransformContext
from otelflow.ottl.errors import OttlError
from otelflow.ottl.values import new_pmap
from otelflow.processors.filter.build import Plan, build_plan
from otelflow.processors.filter.config import Config

__all__ = ["Config", "FilterProcessor", "factory"]

_METRIC_NAMES = {
    Signal.TRACES: "otelcol_processor_filter_spans_filtered",
    Signal.METRICS: "otelcol_processor_filter_datapoints_filtered",
    Signal.LOGS: "otelcol_processor_filter_logs_filtered",
}




def _points(metric):
    kind = metric.WhichOneof("data")
    return getattr(metric, kind).data_points if kind is not None else None


def count_items(data: Message, signal: Signal) -> int:
    if signal is Signal.TRACES:
        return sum(len(ss.spans) for rs in data.resource_spans for ss in rs.scope_spans)
    if signal is Signal.LOGS:
        return sum(len(sl.log_records) for rl in data.resource_logs for sl in rl.scope_logs)
    n = 0
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                points = _points(metric)
                if points is not None:
                    n += len(points)
    return n


class _Walk:
    """One pass of skip expressions over a request (a condition group, or the per-level keys)."""

    __slots__ = ("resource", "scope", "item", "sub", "errors", "legacy_datapoints", "ctx")

    def __init__(self, resource, scope, item, sub, errors: list, legacy_datapoints: bool):
        self.resource, self.scope, self.item, self.sub = resource, scope, item, sub
        self.errors = errors
        self.legacy_datapoints = legacy_datapoints
        self.ctx = TransformContext()

    def _eval(self, expr) -> bool | None:
        self.ctx.cache = new_pmap()  # every item's transform context starts with an empty cache
        try:
            return expr.eval(self.ctx)
        except OttlError as exc:
            self.errors.append(str(exc))
            return None  # neither match nor "keep going": the caller keeps the item

    def _resource_gone(self, holder) -> bool | None:
        """None: go on into the scopes; True/False: decided at the resource."""
        ctx = self.ctx
        ctx.resource, ctx.resource_holder = holder.resource, holder
        ctx.scope = ctx.scope_holder = ctx.span = ctx.metric = ctx.log = None
        if self.resource is not None:
            hit = self._eval(self.resource)
            if hit is None:
                return False
            if hit:
                return True
        return None

    def _scope_gone(self, holder) -> bool:
        ctx = self.ctx
        ctx.scope, ctx.scope_holder = holder.scope, holder
        if self.scope is not None:
            hit = self._eval(self.scope)
            if hit is None:
                return False
            return bool(hit)
        return False

    # ---------------------------------------------------------------- traces
    def traces(self, data) -> None:
        remove_if(data.resource_spans, self._resource_spans)

    def _resource_spans(self, rs) -> bool:
        decided = self._resource_gone(rs)
        if decided is not None:
            return decided
        if self.scope is None and self.item is None and self.sub is None:
            return len(rs.scope_spans) == 0
        remove_if(rs.scope_spans, self._scope_spans)
        return len(rs.scope_spans) == 0

    def _scope_spans(self, ss) -> bool:
        if self._scope_gone(ss):
            return True
        if self.item is None and self.sub is None:
            return len(ss.spans) == 0
        remove_if(ss.spans, self._span)
        return len(ss.spans) == 0

    def _span(self, span) -> bool:
        ctx = self.ctx
        ctx.span = span
        if self.item is not None:
            hit = self._eval(self.item)
            if hit is None:
                return False
            if hit:
                return True
        if self.sub is not None:
            events = span.events
            doomed = []
            for i, event in enumerate(events):
                ctx.event, ctx.event_index = event, i
                if self._eval(self.sub):
                    doomed.append(i)
            for i in reversed(doomed):
                del events[i]
        return False

    # ---------------------------------------------------------------- logs
    def logs(self, data) -> None:
        remove_if(data.resource_logs, self._resource_logs)

    def _resource_logs(self, rl) -> bool:
        decided = self._resource_gone(rl)
        if decided is not None:
            return decided
        if self.scope is None and self.item is None:
            return len(rl.scope_logs) == 0
        remove_if(rl.scope_logs, self._scope_logs)
        return len(rl.scope_logs) == 0

    def _scope_logs(self, sl) -> bool:
        if self._scope_gone(sl):
            return True
        if self.item is not None:
            ctx = self.ctx

            def drop(record):
                ctx.log = record
                return bool(self._eval(self.item))
            remove_if(sl.log_records, drop)
        return len(sl.log_records) == 0

    # ---------------------------------------------------------------- metrics
    def metrics(self, data) -> None:
        remove_if(data.resource_metrics, self._resource_metrics)

    def _resource_metrics(self, rm) -> bool:
        decided = self._resource_gone(rm)
        if decided is not None:
            return decided
        if self.scope is None and self.item is None and self.sub is None:
            return len(rm.scope_metrics) == 0
        remove_if(rm.scope_metrics, self._scope_metrics)
        return len(rm.scope_metrics) == 0

    def _scope_metrics(self, sm) -> bool:
        if self._scope_gone(sm):
            return True
        if self.item is None and self.sub is None:
            return len(sm.metrics) == 0
        self.ctx.metrics = sm.metrics
        remove_if(sm.metrics, self._metric)
        return len(sm.metrics) == 0

    def _metric(self, metric) -> bool:
        ctx = self.ctx
        ctx.metric = metric
        ctx.datapoint = None
        if self.item is not None:
            hit = self._eval(self.item)
            if hit is None:
                return False
            if hit:
                return True
        if self.sub is None:
            return False
        points = _points(metric)
        if points is None:
            return False
        before = len(self.errors)
        doomed = []
        for i, dp in enumerate(points):
            ctx.datapoint = dp
            if self._eval(self.sub):
                doomed.append(i)
        for i in reversed(doomed):
            del points[i]
        if len(self.errors) > before and not self.legacy_datapoints:
            return False  # the condition groups keep a metric whose data points failed
        return len(points) == 0


class FilterProcessor(Component):
    mutates_data = True

    def __init__(self, settings: Settings, config: Config, next):
        self.next = next
        self.signal = settings.signal
        self.logger = settings.logger
        self.telemetry = settings.telemetry
        self.plan: Plan = build_plan(config, self.signal, settings.logger)
        self.metric_name = _METRIC_NAMES[self.signal]
        self.labels = {"filter": str(settings.id)}
        self.what = self.signal.value
        # The native fast path (otelflow/ottl/native.py): span-level OTTL conditions only.
        self.native = native.filter_program(self.plan) if self.signal is Signal.TRACES else None

    def _walks(self, errors: list) -> list[_Walk]:
        plan = self.plan
        if plan.groups:
            return [_Walk(g.levels.get("resource"), g.levels.get("scope"),
                          g.levels.get("span") or g.levels.get("metric") or g.levels.get("log"),
                          g.levels.get("spanevent") or g.levels.get("datapoint"), errors, False)
                    for g in plan.groups]
        return [_Walk(plan.resource, None, plan.item, plan.sub, errors, True)]

    async def consume(self, data: Message) -> None:
        plan = self.plan
        if plan.empty:
            await self.next.consume(data)
            return
        if self.native is not None:
            status, out, dropped, left = self.native.filter(data.SerializeToString())
            if status != native.BAIL:  # else the Python engine redoes the request
                if status == native.CHANGED:
                    data.Clear()
                    data.MergeFromString(out)  # quicker than ParseFromString in place
                if dropped:
                    self.telemetry.add(self.metric_name, dropped, **self.labels)
                if left:
                    await self.next.consume(data)
                return
        before = count_items(data, self.signal)
        errors: list[str] = []
        for walk in self._walks(errors):
            getattr(walk, self.what)(data)
        after = count_items(data, self.signal)
        if before != after:
            self.telemetry.add(self.metric_name, before - after, **self.labels)
        left = len(_resources(data, self.signal))
        if plan.groups:
            if left == 0:
                return  # ErrSkipProcessingData wins over condition errors
            if errors:
                self._fail(errors)
        else:
            if errors:
                self._fail(errors)
            if left == 0:
                return
        await self.next.consume(data)

    def _fail(self, errors: list[str]) -> None:
        text = "; ".join(errors)
        self.logger.error(f"failed processing {self.what}", extra={"error": text})
        raise ConsumerError(text)


def _resources(data, signal: Signal):
    if signal is Signal.TRACES:
        return data.resource_spans
    if signal is Signal.METRICS:
        return data.resource_metrics
    return data.resource_logs


factory = Factory(
    type="filter",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: FilterProcessor(settings, config, next),
    signals=STABLE_SIGNALS,
    stability="alpha",
)
