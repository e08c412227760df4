"""The ``ottl_condition`` policy: samples a trace when any span matches one of the ``span``
conditions or any span event one of the ``spanevent`` conditions, as upstream's
internal/sampling/ottl.go (v0.161.0).

Conditions may carry the path context names (``span.name``, ``resource.attributes[...]``); paths
without one belong to the policy's context. Spans are visited in arrival order, each span's
conditions before its events', and the first match decides. A condition that fails makes the
policy's decision Error under ``error_mode: propagate``; under ``ignore`` it is logged and counts
as no match, under ``silent`` (or no error_mode) it just counts as no match.
"""

from __future__ import annotations

import logging

from otelflow.ottl.collection import ConditionSequence
from otelflow.ottl.contexts.base import TransformContext
from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.values import new_pmap
from otelflow.processors.filter.build import parse_conditions
from otelflow.processors.tail_sampling.policies import NOT_SAMPLED, SAMPLED, Evaluator, PolicyError

_log = logging.getLogger("otelflow.processor.tail_sampling")


class OttlCondition(Evaluator):
    stateful = False

    def __init__(self, span: list[str], spanevent: list[str], error_mode: str, logger: logging.Logger | None = None):
        if not span and not spanevent:
            raise ValueError("expected at least one OTTL condition to filter on")
        logger = logger or _log
        self.span = ConditionSequence(parse_conditions("span", span, True), error_mode, logger) if span else None
        self.event = (ConditionSequence(parse_conditions("spanevent", spanevent, True), error_mode, logger)
                      if spanevent else None)

    def evaluate(self, td) -> int:
        span_seq, event_seq = self.span, self.event
        ctx = TransformContext()
        try:
            for rs in td.batches:
                ctx.resource, ctx.resource_holder = rs.resource, rs
                for ss in rs.scope_spans:
                    ctx.scope, ctx.scope_holder = ss.scope, ss
                    for span in ss.spans:
                        ctx.span = span
                        if span_seq is not None:
                            ctx.cache = new_pmap()
                            if span_seq.eval(ctx):
                                return SAMPLED
                        if event_seq is not None:
                            for i, event in enumerate(span.events):
                                ctx.event, ctx.event_index = event, i
                                ctx.cache = new_pmap()
                                if event_seq.eval(ctx):
                                    return SAMPLED
        except OttlError as exc:
            raise PolicyError(str(exc)) from None
        return NOT_SAMPLED


def build(cfg) -> OttlCondition:
    try:
        return OttlCondition(cfg.span, cfg.spanevent, cfg.error_mode)
    except OttlConfigError as exc:
        raise ValueError(str(exc)) from None
