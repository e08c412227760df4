"""Turning the filter config into what runs: per signal, either groups of OTTL conditions with
inferred or given contexts (upstream's internal/condition consumers), or one set of "skip
expressions" per level (resource, scope, item, sub-item) from the per-context OTTL keys or the
legacy match properties. Also the config validation upstream does in Config.Validate.

A skip expression is anything with ``eval(ctx) -> bool`` over a TransformContext; OTTL ones are
ConditionSequences (ORed, error mode applied), legacy ones wrap internal/filter's matchers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from otelflow.core.component import Signal
from otelflow.ottl.collection import ConditionSequence, infer_context
from otelflow.ottl.compiler import Parser
from otelflow.ottl.contexts import CONTEXTS
from otelflow.ottl.contexts.registry import go_quote
from otelflow.ottl.errors import OttlConfigError
from otelflow.ottl.grammar import parse_condition
from otelflow.processors import filtermatch as fm
from otelflow.processors.filter.config import Config, ContextConditions, MetricMatchProperties
from otelflow.processors.filter.functions import filter_functions, not_supported

SIGNAL_CONTEXTS = {
    Signal.TRACES: ("resource", "scope", "span", "spanevent"),
    Signal.METRICS: ("resource", "scope", "metric", "datapoint"),
    Signal.LOGS: ("resource", "scope", "log"),
}
_NOP = logging.getLogger("otelflow.processor.filter.validate")


def go_quote_list(items) -> str:
    """fmt's %+q of a []string."""
    return "[" + " ".join(go_quote(s).encode("ascii", "backslashreplace").decode() for s in items) + "]"


def go_list(items) -> str:
    """fmt's %v of a []string."""
    return "[" + " ".join(items) + "]"


def parse_conditions(context: str, texts: list[str], prepend: bool) -> list:
    """ottl.Parser.ParseConditions: every condition parsed, the failures joined by newlines."""
    parser = Parser(CONTEXTS[context], filter_functions(context), not_supported())
    out, errors = [], []
    for text in texts:
        try:
            out.append(parser.parse_condition(text, prepend_context=prepend))
        except OttlConfigError as exc:
            errors.append(f"unable to parse OTTL condition {go_quote(text)}: {exc}")
    if errors:
        raise OttlConfigError("\n".join(errors))
    return out


def sequence(context: str, texts: list[str] | None, error_mode: str, logger: logging.Logger):
    if texts is None:
        return None
    return ConditionSequence(parse_conditions(context, texts, True), error_mode, logger)


# ---------------------------------------------------------------------------------------------
# Inferred-context condition groups


@dataclass
class Group:
    """One ``*_conditions`` entry: a condition sequence per level (None where it has none)."""

    levels: dict[str, ConditionSequence] = field(default_factory=dict)


def _supported(signal: Signal) -> str:
    return go_quote_list(SIGNAL_CONTEXTS[signal])


def parse_group(signal: Signal, cc: ContextConditions, default_mode: str, logger: logging.Logger) -> Group:
    names = SIGNAL_CONTEXTS[signal]
    mode = cc.error_mode or default_mode
    if cc.context:
        if cc.context not in names:
            raise OttlConfigError(f'unknown context "{cc.context}" for conditions: {go_list(cc.conditions)}')
        conds = parse_conditions(cc.context, cc.conditions, True) if cc.conditions else []
        return Group({cc.context: ConditionSequence(conds, mode, logger)} if conds else {})
    candidates = {n: CONTEXTS[n] for n in names}
    functions = {n: filter_functions(n) for n in names}
    per: dict[str, list] = {}
    for text in cc.conditions:
        context = infer_context(conditions=[text], candidates=candidates, functions=functions)
        if not context:
            raise OttlConfigError(
                "unable to infer context from conditions, path's first segment must be a valid context name: "
                f"{_supported(signal)}, and at least one context must be capable of parsing all conditions: "
                f"{go_quote_list([text])}")
        if context not in names:
            raise OttlConfigError(f'context "{context}" inferred from the conditions {go_quote_list([text])} '
                                  f"is not a supported context: {_supported(signal)}")
        per.setdefault(context, []).extend(parse_conditions(context, [text], False))
    return Group({c: ConditionSequence(conds, mode, logger) for c, conds in per.items()})


# ---------------------------------------------------------------------------------------------
# Legacy matchers as skip expressions


class _Not:
    __slots__ = ("inner",)

    def __init__(self, inner):
        self.inner = inner

    def eval(self, ctx) -> bool:
        return not self.inner.eval(ctx)


class _Or:
    __slots__ = ("parts",)

    def __init__(self, parts):
        self.parts = parts

    def eval(self, ctx) -> bool:
        return any(p.eval(ctx) for p in self.parts)


def _or(parts):
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else _Or(parts)


class SpanSkip:
    """filterspan's skip expression: not included, or excluded."""

    def __init__(self, skip: fm.Skip):
        self.skip = skip

    def eval(self, ctx) -> bool:
        s = self.skip
        return s.span(s.scope(s.resource(ctx.resource), ctx.scope), ctx.span)


class LogSkip:
    def __init__(self, skip: fm.Skip):
        self.skip = skip

    def eval(self, ctx) -> bool:
        s = self.skip
        return s.log(s.scope(s.resource(ctx.resource), ctx.scope), ctx.log)


class _ResourceAttrs:
    __slots__ = ("matchers",)

    def __init__(self, matchers):
        self.matchers = matchers

    def eval(self, ctx) -> bool:
        return fm.match_attributes(self.matchers, ctx.resource.attributes)


class _MetricNames:
    __slots__ = ("names",)

    def __init__(self, names):
        self.names = names

    def eval(self, ctx) -> bool:
        names = self.names
        if hasattr(names, "programs"):  # expr matcher: looks at the whole metric
            return names.matches(ctx.metric)
        return names.matches(ctx.metric.name)


def _resource_expr(mp: MetricMatchProperties | None):
    if mp is None or not mp.resource_attributes:
        return None
    props = fm.MatchProperties(match_type=mp.match_type, regexp=mp.regexp)
    return _ResourceAttrs(fm.attributes_matcher(props, mp.resource_attributes))


def _metric_expr(mp: MetricMatchProperties | None):
    if mp is None:
        return None
    if mp.match_type == "expr":
        if not mp.expressions:
            return None
        from otelflow.exprlang.metrics import ExprMatcher
        return _MetricNames(ExprMatcher(mp.expressions))
    if not mp.metric_names:
        return None
    return _MetricNames(fm.create_filterset(mp.metric_names, mp.match_type, mp.regexp))


def legacy_metrics(include, exclude):
    """(resource skip, metric skip) as newSkipResExpr and filtermetric.NewSkipExpr build them."""
    inc = _resource_expr(include)
    exc = _resource_expr(exclude)
    resource = _or([_Not(inc) if inc is not None else None, exc])
    inc = _metric_expr(include)
    exc = _metric_expr(exclude)
    metric = _or([_Not(inc) if inc is not None else None, exc])
    return resource, metric


def legacy_spans(cfg: Config):
    skip = fm.span_skip(cfg.spans.include, cfg.spans.exclude)
    return SpanSkip(skip) if skip is not None else None


def legacy_logs(cfg: Config):
    include = cfg.logs.include.match_properties() if cfg.logs.include is not None and not cfg.logs.include.is_empty() else None
    exclude = cfg.logs.exclude.match_properties() if cfg.logs.exclude is not None and not cfg.logs.exclude.is_empty() else None
    try:
        skip = fm.log_skip(include, exclude)
    except ValueError as exc:
        raise ValueError(f"failed to build skip matcher: {exc}") from None
    return LogSkip(skip) if skip is not None else None


# ---------------------------------------------------------------------------------------------
# Validation (Config.Validate)


def _conditions_of(cfg: Config, signal: Signal) -> list[ContextConditions] | None:
    return {Signal.TRACES: cfg.trace_conditions, Signal.METRICS: cfg.metric_conditions,
            Signal.LOGS: cfg.log_conditions}[signal]


def validate_config(cfg: Config) -> None:
    t, m, lg, p = cfg.traces, cfg.metrics, cfg.logs, cfg.profiles
    traces_ottl = t.resource is not None or t.span is not None or t.spanevent is not None
    metrics_ottl = m.resource is not None or m.metric is not None or m.datapoint is not None
    logs_ottl = lg.resource is not None or lg.log_record is not None
    # validateInferredContextConfig
    if cfg.trace_conditions is not None and traces_ottl:
        raise ValueError('cannot use context inferred trace conditions "trace_conditions" and the settings '
                         '"traces.resource", "traces.span", "traces.spanevent" at the same time')
    if cfg.metric_conditions is not None and (metrics_ottl or m.include is not None or m.exclude is not None):
        raise ValueError('cannot use context inferred metric conditions "metric_conditions" and the settings '
                         '"metrics.resource", "metrics.metric", "metrics.datapoint", "metrics.include", '
                         '"metrics.exclude" at the same time')
    if cfg.log_conditions is not None and (logs_ottl or lg.include is not None or lg.exclude is not None):
        raise ValueError('cannot use context inferred log conditions "log_conditions" and the settings '
                         '"logs.resource", "logs.log", "logs.include", "logs.exclude" at the same time')
    if cfg.profile_conditions is not None and (p.resource is not None or p.profile is not None):
        raise ValueError('cannot use context inferred profile conditions "profile_conditions" and the settings '
                         '"profiles.resource", "profiles.profile" at the same time')
    errors: list[str] = []
    for signal in SIGNAL_CONTEXTS:
        for cc in _conditions_of(cfg, signal) or []:
            try:
                parse_group(signal, cc, cfg.error_mode, _NOP)
            except (OttlConfigError, ValueError) as exc:
                errors.append(str(exc))
    # profiles: otelflow carries no profiles signal, so only the grammar can be checked
    profile_texts = [text for cc in cfg.profile_conditions or [] for text in cc.conditions]
    profile_texts += [*(p.resource or []), *(p.profile or [])]
    for text in profile_texts:
        try:
            parse_condition(text)
        except OttlConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ValueError("; ".join(errors))
    # validateExplicitContextConfig
    if traces_ottl and (cfg.spans.include is not None or cfg.spans.exclude is not None):
        raise ValueError('cannot use "traces.resource", "traces.span", "traces.spanevent" and the span settings '
                         '"spans.include", "spans.exclude" at the same time')
    if metrics_ottl and (m.include is not None or m.exclude is not None):
        raise ValueError('cannot use "metrics.resource", "metrics.metric", "metrics.datapoint" and the settings '
                         '"metrics.include", "metrics.exclude" at the same time')
    if logs_ottl and (lg.include is not None or lg.exclude is not None):
        raise ValueError('cannot use "logs.resource", "logs.log" and the settings "logs.include", "logs.exclude" '
                         "at the same time")
    for context, texts in (("resource", t.resource), ("span", t.span), ("spanevent", t.spanevent),
                           ("resource", m.resource), ("metric", m.metric), ("datapoint", m.datapoint),
                           ("resource", lg.resource), ("log", lg.log_record)):
        if texts is not None:
            try:
                parse_conditions(context, texts, True)
            except OttlConfigError as exc:
                errors.append(str(exc))
    for side in (lg.include, lg.exclude):
        if side is not None and side.severity_number is not None:
            try:
                side.severity_number.validate_min()
            except ValueError as exc:
                errors.append(str(exc))
    if errors:
        raise ValueError("; ".join(errors))


# ---------------------------------------------------------------------------------------------
# What one processor instance runs


@dataclass
class Plan:
    groups: list[Group] = field(default_factory=list)  # inferred-context conditions (if any)
    resource: Any = None
    scope: Any = None
    item: Any = None   # span / metric / log record
    sub: Any = None    # span event / data point
    legacy_datapoints: bool = True  # the per-context keys' datapoint error handling (see process)

    @property
    def empty(self) -> bool:
        return not self.groups and self.resource is None and self.item is None and self.sub is None


def build_plan(cfg: Config, signal: Signal, logger: logging.Logger) -> Plan:
    mode = cfg.error_mode
    groups = _conditions_of(cfg, signal)
    if groups:
        errors, built = [], []
        for cc in groups:
            try:
                built.append(parse_group(signal, cc, mode, logger))
            except OttlConfigError as exc:
                errors.append(str(exc))
        if errors:
            raise ValueError("; ".join(errors))
        return Plan(groups=built)
    if signal is Signal.TRACES:
        t = cfg.traces
        if t.resource is not None or t.span is not None or t.spanevent is not None:
            return Plan(resource=sequence("resource", t.resource, mode, logger),
                        item=sequence("span", t.span, mode, logger),
                        sub=sequence("spanevent", t.spanevent, mode, logger))
        plan = Plan(item=legacy_spans(cfg))
        include = cfg.spans.include.match_type if cfg.spans.include is not None else "[None]"
        exclude = cfg.spans.exclude.match_type if cfg.spans.exclude is not None else "[None]"
        logger.info("Span filter configured", extra={"[Include] match_type": include, "[Exclude] match_type": exclude})
        return plan
    if signal is Signal.METRICS:
        m = cfg.metrics
        if m.resource is not None or m.metric is not None or m.datapoint is not None:
            return Plan(resource=sequence("resource", m.resource, mode, logger),
                        item=sequence("metric", m.metric, mode, logger),
                        sub=sequence("datapoint", m.datapoint, mode, logger))
        resource, metric = legacy_metrics(m.include, m.exclude)
        logger.info("Metric filter configured")
        return Plan(resource=resource, item=metric)
    lg = cfg.logs
    if lg.resource is not None or lg.log_record is not None:
        return Plan(resource=sequence("resource", lg.resource, mode, logger),
                    item=sequence("log", lg.log_record, mode, logger))
    return Plan(item=legacy_logs(cfg))
