"""Trace-shape checks: lost parents, orphans, clock skew, propagation breaks, one span per request.

On the hot path each sampled span becomes one small tuple in a bounded buffer (``Tracked``). Every
interval the checks run over the union of all workers' buffers (``Structure.analyze``) and decide
each span once, when it is older than ``window`` — so its parent and children have had time to
arrive — and only where every buffer still reaches ``window`` back before it (otherwise a parent
may have been pushed out and the span is counted as undecided instead of misreported).

Signals, all measured on spans decided this way:
- lost_parent: a span of kind internal/client/producer whose parent never arrives. Such a parent
  lives in the same process, so the SDK ended before exporting it: shut down without flushing, or
  an export dropped mid-batch.
- orphan_parent: a server/consumer span whose (remote) parent never arrives: the caller propagates
  a trace context but its own spans never reach the collector.
- clock_skew: a child in another service starting before its parent started, or a server span
  ending after its client span ended, by more than ``clock_skew_threshold``.
- propagation_break: a root server/consumer span of service B that starts and ends inside a client
  or producer span of service A that has no child: A called B, but B started a new trace.
- simple_span_processor: spans of a service that arrive one per request although their trace
  holds several spans of that service (a batch processor would send them together).
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Iterable

INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER = 1, 2, 3, 4, 5
_REMOTE_CHILD = (SERVER, CONSUMER)
_CALLER = (CLIENT, PRODUCER)
_SCAN = 64  # client spans looked at per root span
MAX_ENTRIES = 4096

# arrival, service, trace_id, span_id, parent_id, kind, start_ns, end_ns, name, spans of the service in its request
Span = tuple


class Tracked:
    """This worker's buffer of sampled spans (a deque: the oldest fall out); the extension's hot
    path appends ``Span`` tuples. A trace is sampled when its ID's last byte is under the
    threshold (1..256), the same choice in every worker, so a sampled trace is seen whole.

    The threshold adapts once per interval (``adapt``) so that the buffer holds ``horizon`` seconds
    of spans: down at once when traffic grows, up by at most a doubling when it falls, never above
    the configured ``trace_sampling``. Its ``history`` travels with the spans, so the checks judge a
    trace only where every worker sampled it for the whole window around it."""

    def __init__(self, capacity: int, sampling: float, started: float):
        self.spans: deque = deque(maxlen=capacity)
        self.started = started
        self.capacity = capacity
        self.ceiling = max(1, min(256, int(sampling * 256)))
        self.current = self.ceiling
        self.threshold: int | None = None if self.current >= 256 else self.current  # None: every trace
        self.history: list[tuple[float, int]] = [(started, self.current)]
        self.seen = 0  # spans offered since the last adapt, sampled or not

    def adapt(self, now: float, elapsed: float, horizon: float) -> None:
        rate, self.seen = (self.seen / elapsed if elapsed > 0 else 0.0), 0
        want = self.ceiling if rate <= 0 else int(0.8 * self.capacity * 256 / (rate * horizon))
        want = max(1, min(self.ceiling, want))
        if want < self.current:
            new = want
        elif want >= 2 * self.current:
            new = min(want, 2 * self.current)
        else:
            return
        self.current = new
        self.threshold = None if new >= 256 else new
        self.history.append((now, new))
        old = [i for i, (t, _) in enumerate(self.history) if t < now - 4 * horizon]
        if len(old) > 1:
            del self.history[:old[-1]]

    def covered_from(self) -> float:
        """Since when the buffer holds every sampled span."""
        if len(self.spans) == self.spans.maxlen:
            return self.spans[0][0]
        return self.started

    def snapshot(self) -> list:
        return list(self.spans)


class Thresholds:
    """The lowest sampling threshold any worker had, as a step function of time."""

    def __init__(self, histories: list[list[tuple[float, int]]]):
        histories = [h for h in histories if h]
        self.everything = all(thr >= 256 for h in histories for _, thr in h)
        current = [h[0][1] for h in histories]
        self.times: list[float] = []
        self.mins: list[int] = []
        for t, i, thr in sorted((t, i, thr) for i, h in enumerate(histories) for t, thr in h):
            current[i] = thr
            self.times.append(t)
            self.mins.append(min(current))

    def lowest(self, lo: float, hi: float) -> int:
        if self.everything or not self.times:
            return 256
        i = max(0, bisect.bisect_right(self.times, lo) - 1)
        low = self.mins[i]
        j = i + 1
        while j < len(self.times) and self.times[j] <= hi:
            low = min(low, self.mins[j])
            j += 1
        return low


def _byte(trace_id: bytes) -> int:
    return trace_id[-1] if trace_id else 0


def dump_spans(spans: list, since: float) -> list[list]:
    """A snapshot's spans since ``since`` as JSON rows (IDs in hex); run off the event loop."""
    return [[a, svc, t.hex(), s.hex(), p.hex(), k, st, en, n, b] for a, svc, t, s, p, k, st, en, n, b in spans if a >= since]


def load_spans(rows: Iterable[list]) -> list:
    out = []
    for a, svc, t, s, p, k, st, en, n, b in rows:
        out.append((float(a), str(svc), bytes.fromhex(t), bytes.fromhex(s), bytes.fromhex(p), int(k), int(st),
                    int(en), str(n), int(b)))
    return out


class Structure:
    """Findings about trace shapes, accumulated by worker 0 over every worker's spans."""

    def __init__(self, window: float, skew_ns: int, started: float):
        self.window = window
        self.skew_ns = skew_ns
        self.decided_until = started
        self.undecided = 0
        self.decided = 0
        # (rule, service, key) -> {"count", "max", "example", "last_seen"}; (rule, service) -> denominator
        self.found: dict[tuple[str, str, str], dict] = {}
        self.totals: dict[tuple[str, str], int] = {}
        self.weights: dict[tuple[str, str], float] = {}  # totals, each counted by its chance to be matched
        self.unsampled = 0
        self.used: dict[bytes, None] = {}  # client spans already matched to a root span

    def _hit(self, rule: str, service: str, key: str, now: float, value: float = 0, example: dict | None = None) -> None:
        entry = self.found.get((rule, service, key))
        if entry is None:
            if len(self.found) >= MAX_ENTRIES:
                return
            entry = self.found[(rule, service, key)] = {"count": 0, "max": value, "example": example or {}, "last_seen": now}
        entry["count"] += 1
        entry["last_seen"] = now
        if value > entry["max"]:
            entry["max"] = value
            if example:
                entry["example"] = example

    def _total(self, rule: str, service: str, weight: float = 1.0) -> None:
        key = (rule, service)
        if key in self.totals or len(self.totals) < MAX_ENTRIES:
            self.totals[key] = self.totals.get(key, 0) + 1
            self.weights[key] = self.weights.get(key, 0.0) + weight

    def analyze(self, buffers: list[tuple[list, float, float, list]], now: float) -> None:
        """``buffers``: (spans, covered_from, snapshot time, sampling history) of each worker."""
        if not buffers:
            return
        hi = min(min(b[2] for b in buffers), now) - self.window
        lo = self.decided_until
        if hi <= lo:
            return
        lo_covered = max(lo, max(b[1] for b in buffers) + self.window)
        thresholds = Thresholds([b[3] for b in buffers])
        w = self.window

        def sampled(s: Span) -> int:
            """The threshold every worker kept around ``s``, or 0 when one of them may have missed part of its trace."""
            low = thresholds.lowest(s[0] - w, s[0] + w)
            return low if _byte(s[2]) < low else 0

        spans = [s for b in buffers for s in b[0]]
        by_id: dict[bytes, Span] = {}
        has_child: set[bytes] = set()
        per_trace: dict[tuple[bytes, str], int] = {}
        for s in spans:
            by_id[s[3]] = s
            if s[4]:
                has_child.add(s[4])
            k = (s[2], s[1])
            per_trace[k] = per_trace.get(k, 0) + 1
        decide = []
        for s in spans:
            if lo < s[0] <= hi:
                if s[0] <= lo_covered:
                    self.undecided += 1
                elif (low := sampled(s)):
                    decide.append((s, low / 256))
                else:
                    self.unsampled += 1
        self.decided_until = hi
        self.decided += len(decide)
        callers = sorted((s for s in spans if s[5] in _CALLER and s[3] not in has_child and sampled(s)),
                         key=lambda s: s[6])
        caller_starts = [s[6] for s in callers]
        for s, share in decide:
            self._check(s, share, by_id, per_trace, callers, caller_starts, self.used, now)
        if len(self.used) > 4 * MAX_ENTRIES:
            self.used = dict.fromkeys(list(self.used)[-2 * MAX_ENTRIES:])

    def _check(self, s: Span, share: float, by_id: dict, per_trace: dict, callers: list, starts: list, used: dict,
               now: float) -> None:
        arrival, service, trace_id, span_id, parent_id, kind, start, end, name, batch = s
        example = {"trace_id": trace_id.hex(), "span_id": span_id.hex(), "span": name}
        if parent_id:
            parent = by_id.get(parent_id)
            if parent is None:
                rule = "orphan_parent" if kind in _REMOTE_CHILD else "lost_parent"
                self._hit(rule, service, name, now, 1, {**example, "parent_span_id": parent_id.hex()})
            elif parent[1] != service:
                skew = parent[6] - start
                if kind == SERVER and parent[5] == CLIENT:
                    skew = max(skew, end - parent[7])
                if skew > self.skew_ns:
                    self._hit("clock_skew", service, parent[1], now, skew / 1e6,
                              {**example, "parent_span": parent[8], "skew_ms": round(skew / 1e6, 3)})
        elif kind in _REMOTE_CHILD:
            # a root's caller is in the buffer only if its own trace was sampled: count roots by that chance
            self._total("propagation_break", service, share)
            caller = self._caller(s, callers, starts, used)
            if caller is not None:
                self._hit("propagation_break", service, caller[1], now, 1,
                          {**example, "caller_span": caller[8], "caller_trace_id": caller[2].hex()})
        if per_trace.get((trace_id, service), 0) >= 2:
            self._total("simple_span_processor", service)
            if batch == 1:
                self._hit("simple_span_processor", service, "", now, 1, example)

    def _caller(self, s: Span, callers: list, starts: list, used: dict) -> Span | None:
        """The latest-starting childless client span of another service that contains ``s``.

        Containment is strict up to a tenth of the client span (at most the skew threshold): hosts'
        clocks may differ a little, but a loose match would pair unrelated neighbours in time."""
        i = bisect.bisect_right(starts, s[6] + self.skew_ns)
        for c in reversed(callers[max(0, i - _SCAN):i]):
            tol = min(self.skew_ns, (c[7] - c[6]) // 10)
            if c[1] != s[1] and c[3] not in used and c[6] - tol <= s[6] and s[7] <= c[7] + tol:
                used[c[3]] = None
                return c
        return None

    def forget(self, before: float) -> None:
        for key in [k for k, v in self.found.items() if v["last_seen"] < before]:
            del self.found[key]
