"""From policy configs to evaluators, with upstream's errors (which it reports at start).

Which types each level accepts, as upstream: top level all; a composite sub-policy also ``and``; an
``and``/``drop`` sub-policy also ``not``; a ``not`` sub-policy only the plain types. Anything else is
"unknown sampling policy type".
"""

from __future__ import annotations

from otelflow.processors.tail_sampling import policies as p
from otelflow.processors.tail_sampling.combinators import And, Composite, Drop, Not, Route, is_statistical

NUMERIC_NO_BOUNDS = ("at least one of min_value or max_value must be set (otelcol v0.161.0 accepts this "
                     "and then fails on the first trace it evaluates)")
_NO_ROUTE = ("probabilistic", "rate_limiting", "bytes_limiting", "composite", "drop")


class BuildError(ValueError):
    pass


def _shared(cfg) -> p.Evaluator:
    t = cfg.type
    if t == "always_sample":
        return p.AlwaysSample()
    if t == "latency":
        return p.Latency(cfg.latency.threshold_ms, cfg.latency.upper_threshold_ms)
    if t == "numeric_attribute":
        c = cfg.numeric_attribute
        lo, hi = (c.min_value or None), (c.max_value or None)
        if lo is None and hi is None:
            raise BuildError(NUMERIC_NO_BOUNDS)
        return p.NumericAttribute(c.key, lo, hi, c.invert_match)
    if t == "probabilistic":
        return p.Probabilistic(cfg.probabilistic.hash_salt, cfg.probabilistic.sampling_percentage)
    if t == "string_attribute":
        c = cfg.string_attribute
        if c.enabled_regex_matching:
            from otelflow.processors.attraction import GoRegexp, GoRegexpError

            for value in c.values:
                try:
                    GoRegexp(value)
                except GoRegexpError as exc:
                    raise BuildError(f"invalid regex `{value}`: {exc}") from None
        return p.StringAttribute(c.key, c.values, c.enabled_regex_matching, c.cache_max_size, c.invert_match)
    if t == "status_code":
        codes = cfg.status_code.status_codes
        if not codes:
            raise BuildError("expected at least one status code to filter on")
        for code in codes:
            if code not in p.STATUS_CODES:
                raise BuildError(f'unknown status code "{code}", supported: OK, ERROR, UNSET')
        return p.StatusCode(codes)
    if t == "rate_limiting":
        c = cfg.rate_limiting
        return p.RateLimiting(c.spans_per_second, c.burst_capacity if c.burst_capacity > 0 else 2 * c.spans_per_second)
    if t == "bytes_limiting":
        c = cfg.bytes_limiting
        return p.BytesLimiting(c.bytes_per_second, c.burst_capacity if c.burst_capacity > 0 else 2 * c.bytes_per_second)
    if t == "span_count":
        return p.SpanCount(cfg.span_count.min_spans, cfg.span_count.max_spans)
    if t == "trace_state":
        return p.TraceState(cfg.trace_state.key, cfg.trace_state.values)
    if t == "boolean_attribute":
        c = cfg.boolean_attribute
        return p.BooleanAttribute(c.key, c.value, c.invert_match)
    if t == "trace_flags":
        return p.TraceFlags()
    if t == "ottl_condition":
        from otelflow.processors.tail_sampling import ottl

        try:
            return ottl.build(cfg.ottl_condition)
        except ValueError as exc:
            raise BuildError(str(exc)) from None
    raise BuildError(f"unknown sampling policy type {t}")


def _not(cfg) -> p.Evaluator:
    return Not(_shared(cfg.not_.not_sub_policy))


def _and_sub(cfg) -> p.Evaluator:
    return _not(cfg) if cfg.type == "not" else _shared(cfg)


def _and(cfg) -> p.Evaluator:
    return And([_and_sub(s) for s in cfg.and_.and_sub_policy])


def _composite(cfg) -> p.Evaluator:
    c = cfg.composite
    subs = c.composite_sub_policy
    percent = {a.policy: a.percent for a in c.rate_allocation}
    even = float(c.max_total_spans_per_second) / len(subs) if subs else 0.0
    built = []
    for sub in subs:
        share = percent.get(sub.name, 0)
        allocated = (share / 100) * c.max_total_spans_per_second if share > 0 else even
        built.append((sub.name, _and(sub) if sub.type == "and" else _shared(sub), int(allocated)))
    return Composite(c.max_total_spans_per_second, built)


def build(cfg) -> p.Evaluator:
    """A fresh evaluator for a top-level policy (raises BuildError with upstream's words)."""
    if cfg.type == "composite":
        return _composite(cfg)
    if cfg.type == "and":
        return _and(cfg)
    if cfg.type == "not":
        return _not(cfg)
    if cfg.type == "drop":
        return Drop([_and_sub(s) for s in cfg.drop.drop_sub_policy])
    return _shared(cfg)


def build_route(cfg, matcher: p.Evaluator) -> Route | None:
    if cfg.sampling is None:
        return None
    coin = p.Probabilistic(cfg.sampling.hash_salt, cfg.sampling.sampling_percentage)
    return Route(cfg.name, matcher, coin)


def check_policy(cfg) -> None:
    if cfg.name == "":
        raise ValueError("policy name cannot be empty")
    try:
        evaluator = build(cfg)
    except BuildError as exc:
        raise ValueError(f'failed to create policy evaluator for "{cfg.name}": {exc}') from None
    if cfg.sampling is not None and (cfg.type in _NO_ROUTE or is_statistical(evaluator) and cfg.type != "always_sample"):
        raise ValueError(f'sampling: policy "{cfg.name}" is a {cfg.type} policy; a route rule (otelflow\'s '
                         f'sampling: key) goes on a policy that selects traces by what they contain')


def check_policies(cfg) -> None:
    names: set[str] = set()
    for policy in cfg.policies:
        if policy.name in names:
            raise ValueError(f'duplicate policy name "{policy.name}"')
        names.add(policy.name)
        if cfg.sampling_strategy == "span-ingest" and build(policy).stateful:
            raise ValueError(f'sampling_strategy "span-ingest" requires all policies to be stateless, '
                             f'but policy "{policy.name}" is stateful')
