"""The transform processor at run time: each group in order walks the items of its context, checks
its conditions (ORed) and runs its statements, as upstream's transformprocessor (v0.161.0).

The ``cache`` path is a fresh map per item, or with ``shared_cache: true`` one map per context that
every item of every request sees (upstream creates it with the processor and never clears it).
A statement failing under ``propagate`` stops the request: the processor logs "failed processing
<signal>" and the receiver answers with a retryable error (gRPC Unavailable, HTTP 503), as
upstream's plain (non-permanent) error does. Nothing is removed: spans, data points and records
that statements emptied are passed on as they are.
"""

from __future__ import annotations

from typing import Iterator

from google.protobuf.message import Message

from otelflow.core.component import Component, Settings, Signal
from otelflow.core.consumer import ConsumerError
from otelflow.ottl import native
from otelflow.ottl.collection import iterate_items
from otelflow.ottl.contexts.base import TransformContext
from otelflow.ottl.errors import OttlError
from otelflow.ottl.values import new_pmap

from .config import Config
from .groups import Group, compile_groups

_FIELDS = {Signal.TRACES: "trace_statements", Signal.METRICS: "metric_statements", Signal.LOGS: "log_statements"}
_NAMES = {Signal.TRACES: "traces", Signal.METRICS: "metrics", Signal.LOGS: "logs"}


def _exemplars(request: Message, ctx: TransformContext, shared_cache) -> Iterator[TransformContext]:
    """The exemplar context's items: every exemplar of every number and histogram data point."""
    for rm in request.resource_metrics:
        ctx.resource, ctx.resource_holder = rm.resource, rm
        for sm in rm.scope_metrics:
            ctx.scope, ctx.scope_holder = sm.scope, sm
            ctx.metrics = sm.metrics
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind not in ("gauge", "sum", "histogram", "exponential_histogram"):
                    continue
                ctx.metric = metric
                for dp in getattr(metric, kind).data_points:
                    ctx.datapoint = dp
                    for ex in dp.exemplars:
                        ctx.exemplar = ex
                        ctx.cache = shared_cache if shared_cache is not None else new_pmap()
                        yield ctx


def items(request: Message, context: str, ctx: TransformContext, shared_cache=None) -> Iterator[TransformContext]:
    if context == "exemplar":
        return _exemplars(request, ctx, shared_cache)
    return iterate_items(request, context, ctx, shared_cache=shared_cache)


class TransformProcessor(Component):
    mutates_data = True

    def __init__(self, settings: Settings, config: Config, next):
        self.next = next
        self.logger = settings.logger
        self.signal = settings.signal
        self.failure = f"failed processing {_NAMES[self.signal]}"
        groups = getattr(config, _FIELDS[self.signal])
        self.groups: list[Group] = compile_groups(_NAMES[self.signal], groups, config.error_mode, self.logger)
        # one shared cache per context, kept for the processor's lifetime
        self.shared = {g.context: new_pmap() for g in self.groups if g.shared_cache}
        self.ctx = TransformContext()
        # The native fast path (otelflow/ottl/native.py): traces whose every statement is in its subset.
        self.native = native.transform_program(self.groups) if self.signal is Signal.TRACES else None
        if config.profile_statements and self.signal is Signal.TRACES:
            self.logger.warning("profile_statements are ignored: otelflow has no profiles signal")

    async def consume(self, data: Message) -> None:
        if self.groups:
            try:
                self.process(data)
            except OttlError as e:
                self.logger.error(self.failure, extra={"error": str(e)})
                raise ConsumerError(str(e)) from None
        await self.next.consume(data)

    def process(self, data: Message) -> None:
        if self.native is not None:
            status, out = self.native.transform(data.SerializeToString())
            if status == native.CHANGED:
                data.Clear()
                data.MergeFromString(out)  # quicker than ParseFromString in place
            if status != native.BAIL:
                return
            # the Python engine redoes the request from the start (an error's text, a value the
            # native side does not convert)
        ctx = self.ctx
        for group in self.groups:
            cache = self.shared.get(group.context) if group.shared_cache else None
            conditions = group.conditions
            execute = group.statements.execute
            if conditions is None:
                for item in items(data, group.context, ctx, cache):
                    execute(item)
            else:
                check = conditions.eval
                for item in items(data, group.context, ctx, cache):
                    if check(item):
                        execute(item)
