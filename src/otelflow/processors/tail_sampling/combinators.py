"""Policies made of policies: and, not, drop, composite (as upstream v0.161.0), and the otelflow route
rule, with the test that tells statistical policies (which a route rule replaces) from the others."""

from __future__ import annotations

import time

from otelflow.processors.tail_sampling.policies import (
    DROPPED,
    INVERT_NOT_SAMPLED,
    INVERT_SAMPLED,
    NOT_SAMPLED,
    SAMPLED,
    AlwaysSample,
    BytesLimiting,
    Evaluator,
    Probabilistic,
    RateLimiting,
)


class And(Evaluator):
    def __init__(self, subs: list[Evaluator]):
        self.subs = subs
        self.stateful = any(s.stateful for s in subs)

    def evaluate(self, td) -> int:
        for sub in self.subs:
            if sub.evaluate(td) in (NOT_SAMPLED, INVERT_NOT_SAMPLED):
                return NOT_SAMPLED
        return SAMPLED


class Not(Evaluator):
    def __init__(self, sub: Evaluator):
        self.sub = sub
        self.stateful = sub.stateful

    def evaluate(self, td) -> int:
        decision = self.sub.evaluate(td)
        if decision == SAMPLED:
            return NOT_SAMPLED
        if decision == NOT_SAMPLED:
            return SAMPLED
        return decision


class Drop(Evaluator):
    """Dropped when every sub-policy matches (none says NotSampled); no sub-policies drop everything."""

    def __init__(self, subs: list[Evaluator]):
        self.subs = subs
        self.stateful = any(s.stateful for s in subs)

    def evaluate(self, td) -> int:
        for sub in self.subs:
            if sub.evaluate(td) in (NOT_SAMPLED, INVERT_NOT_SAMPLED):
                return NOT_SAMPLED
        return DROPPED


class Composite(Evaluator):
    """The first sub-policy that samples a trace spends its span budget for the current wall-clock
    second (``int64(percent/100 * max_total)``, or an even share); over budget the trace is not sampled."""

    def __init__(self, max_total: int, subs: list[tuple[str, Evaluator, int]], clock=time.time):
        self.max_total = max_total
        self.subs = [[name, ev, allocated, 0] for name, ev, allocated in subs]
        self.stateful = any(ev.stateful for _, ev, _ in subs)
        self.second = 0
        self.clock = clock

    def evaluate(self, td) -> int:
        now = int(self.clock() // 1)
        if now != self.second:
            self.second = now
            for sub in self.subs:
                sub[3] = 0
        for sub in self.subs:
            decision = sub[1].evaluate(td)
            if decision in (SAMPLED, INVERT_SAMPLED):
                spent = sub[3] + td.span_count
                if spent <= sub[2] and spent <= self.max_total:
                    sub[3] = spent
                    return SAMPLED
                return NOT_SAMPLED
        return NOT_SAMPLED


_STATISTICAL = (Probabilistic, RateLimiting, BytesLimiting, Composite, AlwaysSample)


def is_statistical(ev: Evaluator) -> bool:
    """Keeps traces by chance or by rate rather than by what they contain (or holds such a policy)."""
    if isinstance(ev, _STATISTICAL):
        return True
    if isinstance(ev, (And, Drop)):
        return any(is_statistical(s) for s in ev.subs)
    if isinstance(ev, Not):
        return is_statistical(ev.sub)
    return False


class Route:
    """otelflow's ``sampling:`` on a policy: the traces ``matcher`` samples are kept with ``coin``'s
    probability instead of by the statistical policies."""

    def __init__(self, name: str, matcher: Evaluator, coin: Probabilistic):
        self.name, self.matcher, self.coin = name, matcher, coin
