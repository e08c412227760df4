"""Replay stored traces through a ``tail_sampling`` config with the processor's own decision code.

Each stored trace (:mod:`.traces`) is decided exactly as the processor's tick decides it
(``_dropped_by`` then ``_decide`` of a :class:`TailSamplingProcessor` built from the same config), so
the same policies, the same FNV hash and the same route rule give the same kept set as a real run.
Each top-level policy's own vote is recorded too (the report's "own vote").

Rate-based policies (rate_limiting, bytes_limiting, composite) run on a simulated clock: each trace
is decided ``decision_wait`` after its last span ended, in that order. What the store does not keep
makes some policies approximate: span flags (``trace_flags`` sees none set), dropped counts and
scope attributes (``ottl_condition``), a trace's wire size (``bytes_limiting`` uses an estimate).
A real run also differs where spans of a trace arrive after its decision; a replay sees whole traces.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Iterator

import duckdb

from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.telemetry import Telemetry
from otelflow.processors.tail_sampling import policies as p
from otelflow.processors.tail_sampling.combinators import And, Composite, Drop, Not
from otelflow.processors.tail_sampling.config import SPAN_INGEST, Config
from otelflow.processors.tail_sampling.ottl import OttlCondition
from otelflow.processors.tail_sampling.processor import TailSamplingProcessor
from otelflow.sampling.traces import StoredTrace, read_traces

APPROXIMATE = {
    "trace_flags": "the store keeps no span flags: no span has the sampled flag in a what-if",
    "bytes_limiting": "trace sizes are estimated from the stored columns",
    "ottl_condition": "span flags, dropped counts and scope attributes are not stored",
    "rate_limiting": "decided on a simulated clock (decision_wait after each trace's last span)",
    "composite": "decided on a simulated clock (decision_wait after each trace's last span)",
}


class StoreLocked(Exception):
    """The database file is held by a running otelflow."""


# -- policies: what they read, and the evaluators' clocks --------------------------------------------


def _walk(ev) -> Iterator:
    yield ev
    if isinstance(ev, (And, Drop)):
        for sub in ev.subs:
            yield from _walk(sub)
    elif isinstance(ev, Not):
        yield from _walk(ev.sub)
    elif isinstance(ev, Composite):
        for sub in ev.subs:
            yield from _walk(sub[1])


@dataclass
class Needs:
    keys: set[str] = field(default_factory=set)  # attribute keys some filter reads
    everything: bool = False  # an OTTL condition may read any field
    clocked: bool = False  # a rate-based policy: decide in time order on the simulated clock
    latency_ms: list[int] = field(default_factory=list)
    approximate: dict[str, str] = field(default_factory=dict)  # policy name -> why


def needs(proc: TailSamplingProcessor, clock) -> Needs:
    """What the processor's policies read; points their clocks at ``clock``."""
    out = Needs()
    for pol in proc.policies:
        for ev in _walk(pol.evaluator):
            key = getattr(ev, "key", None)
            if isinstance(ev, (p.NumericAttribute, p.StringAttribute, p.BooleanAttribute)) and key is not None:
                out.keys.add(key)
            kind = None
            if isinstance(ev, OttlCondition):
                out.everything, kind = True, "ottl_condition"
            elif isinstance(ev, p.RateLimiting):  # and BytesLimiting
                ev.bucket.clock = clock
                out.clocked = True
                kind = "bytes_limiting" if isinstance(ev, p.BytesLimiting) else "rate_limiting"
            elif isinstance(ev, Composite):
                ev.clock = clock
                out.clocked, kind = True, "composite"
            elif isinstance(ev, p.TraceFlags):
                kind = "trace_flags"
            elif isinstance(ev, p.Latency):
                out.latency_ms.append(ev.threshold)
            if kind and pol.name not in out.approximate:
                out.approximate[pol.name] = f"{kind}: {APPROXIMATE[kind]}"
    return out


class Recorder(p.Evaluator):
    """Wraps a top-level evaluator to keep its own vote on the current trace (its 'matched' count)."""

    __slots__ = ("inner", "stateful", "last")

    def __init__(self, inner: p.Evaluator):
        self.inner, self.stateful, self.last = inner, inner.stateful, p.UNSPECIFIED

    def evaluate(self, td) -> int:
        self.last = decision = self.inner.evaluate(td)
        return decision


# -- deciding -------------------------------------------------------------------------------------------


@dataclass
class Tally:
    traces: int = 0
    spans: int = 0
    bytes: int = 0

    def add(self, t: StoredTrace) -> None:
        self.traces += 1
        self.spans += t.span_count
        self.bytes += t.size


@dataclass(slots=True)
class Decided:
    """One trace's decision and what the report sums (no protobuf kept)."""

    trace_id: bytes
    kept: bool
    decision: int
    policy: str
    route: str
    span_count: int
    size: int
    errors: int
    duration_ns: int
    endpoint: str | None
    services: list


@dataclass
class Replay:
    processor: str
    decided: list[Decided]
    matched: dict[str, Tally]  # policy -> traces its own vote sampled (or dropped, for drop policies)
    needs: Needs
    too_large: int = 0
    seconds: float = 0.0


def processor(name: str, config: Config) -> TailSamplingProcessor:
    """The processor the decisions come from, built as the service would (never started)."""
    settings = Settings(ComponentID.parse(name), Kind.PROCESSOR, Telemetry(), Signal.TRACES)
    settings.logger = logging.getLogger(f"otelflow.sampling.{name}")
    return TailSamplingProcessor(settings, config, None)


def replay(cur, name: str, config: Config, start_ns: int | None = None, end_ns: int | None = None) -> Replay:
    """Decide every stored trace in the range as the ``tail_sampling`` processor ``name`` would."""
    began = time.perf_counter()
    proc = processor(name, config)
    clock_now = [0.0]
    needs_ = needs(proc, lambda: clock_now[0])
    recorders = []
    for pol in proc.policies:
        pol.evaluator = Recorder(pol.evaluator)
        recorders.append((pol.name, pol.evaluator, pol.is_drop))
    matched = {name_: Tally() for name_, _, _ in recorders}
    routed: list = [None]
    if proc.routes:  # the route _decide picked, seen rather than looked up a second time
        find_route = proc._route

        def _route(td):
            routed[0] = found = find_route(td)
            return found

        proc._route = _route
    limit = config.maximum_trace_size_bytes
    ingest = config.sampling_strategy == SPAN_INGEST
    wait_s = max(1, int(config.decision_wait))
    out = Replay(name, [], matched, needs_)
    traces = read_traces(cur, needs_.keys, needs_.everything, start_ns, end_ns)
    if needs_.clocked:  # rate-based policies: decide in the order a live processor would
        traces = iter(sorted(traces, key=lambda t: (t.last_ns, t.trace_id)))
    for t in traces:
        for _, rec, _ in recorders:
            rec.last = p.UNSPECIFIED
        clock_now[0] = t.last_ns / 1e9 + wait_s
        route, routed[0] = "", None
        if limit and t.size > limit:
            decision, policy = p.NOT_SAMPLED, ""
            out.too_large += 1
        else:
            dropped = proc._dropped_by(t) if proc.n_drop else None
            if dropped is not None:
                decision, policy = p.DROPPED, dropped
            else:
                decision, policy = proc._decide(t, ingest=ingest)
                if decision == p.PENDING:
                    decision, policy = p.NOT_SAMPLED, ""
            if routed[0] is not None:
                route = routed[0].name
                matched[route].add(t)  # a route rule does not vote: its own count is what it selects
        for name_, rec, is_drop in recorders:
            if rec.last == (p.DROPPED if is_drop else p.SAMPLED):
                matched[name_].add(t)
        out.decided.append(Decided(t.trace_id, decision == p.SAMPLED, decision, policy, route, t.span_count, t.size,
                                   t.errors, max(0, t.last_ns - t.first_ns), t.endpoint, t.services))
    out.seconds = time.perf_counter() - began
    return out


# -- the database -----------------------------------------------------------------------------------


def open_store(directory) -> duckdb.DuckDBPyConnection:
    """The store's database, read-only; StoreLocked when a running otelflow holds it."""
    from pathlib import Path

    from otelflow.store.database import DB_FILE

    path = Path(directory).expanduser() / DB_FILE
    if not path.exists():
        raise FileNotFoundError(f"no embedded store at {path} (is this otelflow's data directory? see --data-dir)")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreLocked(
                f"the store at {path} is locked by a running otelflow ({exc}). DuckDB lets one process open it: "
                "use the web UI's Sampling page (or POST /api/v1/sampling/what-if) of that otelflow, "
                "or stop it and run this again") from None
        raise
    return con
