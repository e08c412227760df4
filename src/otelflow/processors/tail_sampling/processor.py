"""The tail_sampling processor: buffer each trace, decide on a once-a-second tick, forward whole traces.

The state machine is upstream's (contrib v0.161.0, one shard):

* a new trace ID joins the batcher's current batch; the tick takes the batch that is ``decision_wait``
  seconds old (whole seconds, at least one) and decides each of its traces: drop policies first (a
  Dropped is final), then the others — Sampled wins over NotSampled, ``sample_on_first_match`` stops at
  the first Sampled;
* a decided trace keeps its decision: with a decision cache it moves there (and out of memory), without
  one it stays among the ``num_traces`` traces held (its spans released) until evicted. Spans that come
  later follow the decision: forwarded at once if sampled, dropped otherwise;
* a new trace past ``num_traces`` evicts the oldest trace held, decided or not, undecided spans lost
  (or, with ``block_on_overflow``, waits for a tick to make room). Unlike upstream, an evicted trace
  also leaves the decision batcher at once, so memory stays bounded by ``num_traces`` whatever the
  arrival rate (upstream holds every evicted ID until its tick);
* on shutdown every pending trace is decided at once, unless ``drop_pending_traces_on_shutdown``.

Sampled traces are forwarded together, whole, up to ``FORWARD_SPANS`` spans a request; errors from the
next consumer are logged and the data is lost, as upstream (``consume`` never fails on them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.core.client import encoded_as_received
from otelflow.core.component import Component, Host, Settings
from otelflow.processors.tail_sampling import policies as p
from otelflow.processors.tail_sampling.build import build, build_route
from otelflow.processors.tail_sampling.combinators import is_statistical
from otelflow.processors.tail_sampling.config import SPAN_INGEST, Config
from otelflow.processors.tail_sampling.store import (
    Batcher, DecisionCache, Fragment, Headers, Trace, cut, cut_encoded, frags_size, frags_wire)

FORWARD_SPANS = 8192
DECIDE_SLICE = 2000  # traces decided between two yields to the event loop
_M = "otelcol_processor_tail_sampling_"


class _Policy:
    __slots__ = ("name", "evaluator", "is_drop", "statistical", "route")

    def __init__(self, cfg):
        self.name = cfg.name
        self.evaluator = build(cfg)
        self.is_drop = cfg.type == "drop"
        self.statistical = is_statistical(self.evaluator) and cfg.sampling is None
        self.route = build_route(cfg, self.evaluator)


class TailSamplingProcessor(Component):
    mutates_data = False
    tick_interval: float | None = 1.0  # upstream's ticker; tests may set None and call tick()

    def __init__(self, settings: Settings, config: Config, next_consumer):
        self.settings, self.cfg, self.next = settings, config, next_consumer
        self.log: logging.Logger = settings.logger
        built = [_Policy(c) for c in config.policies]
        self.policies = [x for x in built if x.is_drop] + [x for x in built if not x.is_drop]
        self.n_drop = sum(1 for x in built if x.is_drop)
        self.routes = [x.route for x in built if x.route is not None]
        self.traces: OrderedDict[bytes, Trace] = OrderedDict()
        self.batcher = Batcher(max(1, int(config.decision_wait)))
        self.sampled_cache = DecisionCache(config.decision_cache.sampled_cache_size)
        self.not_sampled_cache = DecisionCache(config.decision_cache.non_sampled_cache_size)
        self.headers = Headers()
        self.as_received = False  # set by the graph: nothing before it changes requests in place
        self.want_root = config.decision_wait_after_root_received > 0
        self.ingest_mode = config.sampling_strategy == SPAN_INGEST
        self.labels = {"processor": str(settings.id)}
        self.telemetry = settings.telemetry
        self._space = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._ticking = asyncio.Lock()
        for i, c in enumerate(config.policies):
            for key in c.ignored_keys():
                self.log.warning("policies::%d::%s is not a key of %s policies; ignored, as otelcol ignores it", i, key, c.type)
        if config.block_on_overflow and not (self.sampled_cache.enabled and self.not_sampled_cache.enabled):
            self.log.warning("block_on_overflow without both decision caches: decided traces are never released, "
                             "so intake stops for good once num_traces traces have been seen (as in otelcol)")

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: Host) -> None:
        if self.tick_interval:
            self._task = asyncio.get_running_loop().create_task(self._ticker(), name=f"tail_sampling {self.settings.id}")

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.tick_interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = max(due + self.tick_interval, loop.time())
            try:
                await self.tick()
            except Exception:  # a bug must not stop the ticker: spans would pile up for ever
                self.log.exception("tail sampling tick failed")

    async def shutdown(self) -> None:
        if self._task is not None:
            async with self._ticking:  # let a tick in progress finish
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.batcher.stop()
        if not self.cfg.drop_pending_traces_on_shutdown:
            while await self.tick():
                pass

    # ---- intake ----------------------------------------------------------------------------------

    async def consume(self, data: ExportTraceServiceRequest) -> None:
        encoded = encoded_as_received(data) if self.as_received else None
        pieces = cut_encoded(data.SerializeToString() if encoded is None else encoded, self.headers, self.want_root)
        await self._intake(cut(data, self.headers, self.want_root) if pieces is None else pieces)

    async def consume_encoded(self, encoded: bytes) -> None:
        """The same for a request still encoded (cut by another worker from a request a receiver
        parsed, so known to be well-formed): it is never parsed here."""
        pieces = cut_encoded(encoded, self.headers, self.want_root)
        if pieces is None:
            pieces = cut(ExportTraceServiceRequest.FromString(encoded), self.headers, self.want_root)
        await self._intake(pieces)

    async def _intake(self, pieces: dict) -> None:
        late: list = []
        new_ids = 0
        for tid, (frags, count, root) in pieces.items():
            if self._cached(tid, frags, count, late):
                continue
            trace = self.traces.get(tid)
            if trace is None and len(self.traces) >= self.cfg.num_traces:
                await self._make_space()
                trace = self.traces.get(tid)
            if trace is None:
                new_ids += 1
                trace = self.traces[tid] = Trace(tid, count, self.batcher.add(tid), time.monotonic())
            else:
                trace.span_count += count
            self._add(trace, frags, count, root, late)
        if new_ids:
            self.telemetry.add(_M + "new_trace_id_received", new_ids, **self.labels)
        if late:
            await self._forward(late)

    def _cached(self, tid: bytes, frags: list, count: int, late: list) -> bool:
        if self.sampled_cache.get(tid) is not None:
            late.append((frags, count))
            self.telemetry.add(_M + "early_releases_from_cache_decision", count, sampled="true", **self.labels)
            return True
        if self.not_sampled_cache.get(tid) is not None:
            self.telemetry.add(_M + "early_releases_from_cache_decision", count, sampled="false", **self.labels)
            return True
        return False

    async def _make_space(self) -> None:
        if self.cfg.block_on_overflow:
            while len(self.traces) >= self.cfg.num_traces:
                self._space.clear()
                await self._space.wait()
        elif self.traces:
            tid, old = self.traces.popitem(last=False)  # the oldest trace held, decided or not
            if old.decision == p.UNSPECIFIED:
                # Upstream leaves the ID in its batch until that batch's tick, so there the batcher grows
                # with the arrival rate; taking it out keeps memory bounded by num_traces.
                self.batcher.remove(tid, old.batch_id)
                self.telemetry.add(_M + "sampling_trace_dropped_too_early", 1, **self.labels)

    def _add(self, trace: Trace, frags: list, count: int, root: bool, late: list) -> None:
        if root and self.want_root:
            trace.batch_id = self.batcher.move_earlier(trace.trace_id, trace.batch_id, int(self.cfg.decision_wait_after_root_received))
        decision = trace.decision
        trace.size += frags_size(frags)
        limit = self.cfg.maximum_trace_size_bytes
        if decision == p.UNSPECIFIED and limit and trace.size > limit:
            self.telemetry.add(_M + "traces_dropped_too_large", 1, **self.labels)
            trace.decision = p.NOT_SAMPLED
            self.batcher.remove(trace.trace_id, trace.batch_id)
            trace.release()
            self._release_not_sampled(trace)
        elif decision == p.UNSPECIFIED:
            if self.ingest_mode:
                self._ingest_decide(trace, frags, late)
            else:
                trace.add(frags)
        elif decision == p.SAMPLED:
            late.append((frags, count))
        elif decision == p.NOT_SAMPLED:
            self._release_not_sampled(trace)

    def _ingest_decide(self, trace: Trace, frags: list, late: list) -> None:
        view = Fragment(trace.trace_id, frags, trace.span_count, trace.size)
        decision, name = self._decide(view, ingest=True)
        trace.add(frags)
        if decision not in (p.SAMPLED, p.DROPPED):
            return
        self._count(name, decision)
        trace.decision, trace.policy = decision, name
        if decision == p.SAMPLED:
            late.append((self._release_sampled(trace), trace.span_count))
        else:
            self._release_not_sampled(trace)
            trace.release()

    # ---- decisions -------------------------------------------------------------------------------

    def _evaluate(self, pol: _Policy, td) -> int:
        try:
            return pol.evaluator.evaluate(td)
        except p.PolicyError as exc:
            self.telemetry.add(_M + "sampling_policy_evaluation_error", 1, **self.labels)
            self.log.debug("Sampling policy error: %s", exc)
            return p.ERROR

    def _route(self, td):
        for route in self.routes:
            try:
                if route.matcher.evaluate(td) in (p.SAMPLED, p.INVERT_SAMPLED):
                    return route
            except p.PolicyError:
                continue
        return None

    def _decide(self, td, ingest: bool = False) -> tuple[int, str]:
        """makeDecision over the non-drop policies (or, ``ingest``, makeDecisionOnSpanIngest over all)."""
        route = self._route(td) if self.routes else None
        first: dict[int, str] = {}
        drop_pending = False
        for i, pol in enumerate(self.policies):
            if i < self.n_drop and not ingest:
                continue
            if pol.route is not None or (route is not None and pol.statistical):
                continue  # route rules select traces, they do not vote; the route replaces statistics
            if ingest and not pol.is_drop and drop_pending:
                break
            decision = self._evaluate(pol, td)
            if decision == p.ERROR:
                first.setdefault(p.ERROR, pol.name)
                continue
            first.setdefault(decision, pol.name)
            if decision == p.DROPPED:
                break
            if ingest and pol.is_drop:
                drop_pending = True
            elif (ingest or self.cfg.sample_on_first_match) and decision == p.SAMPLED:
                break
        if route is not None and p.SAMPLED not in first and p.DROPPED not in first and not drop_pending:
            if route.coin.evaluate(td) == p.SAMPLED:
                first[p.SAMPLED] = route.name
        if p.DROPPED in first:
            return p.DROPPED, first[p.DROPPED]
        if ingest:
            return (p.SAMPLED, first[p.SAMPLED]) if p.SAMPLED in first and not drop_pending else (p.PENDING, "")
        if p.INVERT_NOT_SAMPLED in first:
            return p.NOT_SAMPLED, ""
        if p.SAMPLED in first:
            return p.SAMPLED, first[p.SAMPLED]
        if p.INVERT_SAMPLED in first and p.NOT_SAMPLED not in first:
            return p.SAMPLED, first[p.INVERT_SAMPLED]
        return p.NOT_SAMPLED, ""

    def _dropped_by(self, td) -> str | None:
        for pol in self.policies[: self.n_drop]:
            if self._evaluate(pol, td) == p.DROPPED:
                return pol.name
        return None

    async def tick(self) -> bool:
        """One sampling tick (samplingPolicyOnTick); returns whether the batcher has more batches."""
        async with self._ticking:
            batch, more = self.batcher.take()
            candidates = []
            too_early = 0
            for tid in batch or ():
                trace = self.traces.get(tid)
                if trace is None:
                    too_early += 1
                elif trace.decision != p.UNSPECIFIED:
                    continue
                elif self.ingest_mode:
                    trace.decision = p.NOT_SAMPLED
                    self._count(None, p.NOT_SAMPLED)
                    trace.release()
                    self._release_not_sampled(trace)
                    self.traces.pop(tid, None)
                elif not trace.frags:
                    too_early += 1
                else:
                    candidates.append(trace)
            if too_early:
                self.telemetry.add(_M + "sampling_trace_dropped_too_early", too_early, **self.labels)
            for start in range(0, len(candidates), DECIDE_SLICE):
                await self._forward(self._decide_all(candidates[start:start + DECIDE_SLICE]))
            self.telemetry.set(_M + "sampling_traces_on_memory", len(self.traces), **self.labels)
            if len(self.traces) < self.cfg.num_traces:
                self._space.set()
            return more

    def _decide_all(self, candidates: list[Trace]) -> list:
        sampled = []
        counts: dict[tuple[str, int], int] = {}
        for trace in candidates:
            if trace.decision != p.UNSPECIFIED:
                continue  # decided while an earlier slice was being forwarded
            name = self._dropped_by(trace) if self.n_drop else None
            decision, policy = (p.DROPPED, name) if name is not None else self._decide(trace)
            trace.decision, trace.policy = decision, policy
            counts[(policy, decision)] = counts.get((policy, decision), 0) + 1
            if decision == p.SAMPLED:
                sampled.append((self._release_sampled(trace), trace.span_count))
            else:
                self._release_not_sampled(trace)
                trace.release()
        for (policy, decision), n in counts.items():
            self._count(policy, decision, n)
        return sampled

    def _count(self, policy: str | None, decision: int, n: int = 1) -> None:
        name = p.DECISION_NAMES[decision]
        self.telemetry.add(_M + "global_count_traces_sampled", n, decision=name, **self.labels)
        if policy:
            self.telemetry.add(_M + "count_traces_sampled", n, policy=policy, decision=name, **self.labels)

    def _release_sampled(self, trace: Trace) -> list:
        self.sampled_cache.put(trace.trace_id, trace.policy)
        frags = trace.release()
        if self.sampled_cache.enabled:
            self.traces.pop(trace.trace_id, None)
        return frags

    def _release_not_sampled(self, trace: Trace) -> None:
        self.not_sampled_cache.put(trace.trace_id, trace.policy)
        if self.not_sampled_cache.enabled:
            self.traces.pop(trace.trace_id, None)

    # ---- output ----------------------------------------------------------------------------------

    async def _forward(self, traces: list[tuple[list, int]]) -> None:
        """Send (fragments, span count) of whole traces on, several traces a request."""
        parts: list[bytes] = []
        spans = 0
        for frags, count in traces:
            parts.append(frags_wire(frags))
            spans += count
            if spans >= FORWARD_SPANS:
                await self._send(parts)
                parts, spans = [], 0
        if parts:
            await self._send(parts)

    async def _send(self, parts: list[bytes]) -> None:
        request = ExportTraceServiceRequest.FromString(b"".join(parts))
        try:
            await self.next.consume(request)
        except Exception as exc:  # as upstream: logged, the data is lost, the caller is not told
            self.log.warning("Error sending spans to destination: %s", exc)
