"""Replay stored traces through a ``tail_sampling`` config with the processor's own decision code.

The spans come out of DuckDB in one ordered scan (by trace, then in the order they were stored) and
are assembled into one ``TracesData`` per trace: a ResourceSpans per resource, a ScopeSpans per scope.
Each trace is then decided exactly as the processor's tick decides it (``_dropped_by`` then
``_decide`` of a :class:`TailSamplingProcessor` built from the same config), so the same policies,
the same FNV hash and the same route rule give the same kept set as a real run.

Only what the policies read is built: span times, status, trace state and kind always; the
attributes a numeric/string/boolean filter names (spans and resources); every stored field when an
``ottl_condition`` policy may read anything. Rate-based policies (rate_limiting, bytes_limiting,
composite) run on a simulated clock: each trace is decided ``decision_wait`` after its last span
ended, in that order. What the store does not keep makes some policies approximate: span flags
(``trace_flags`` sees none set), dropped counts and scope attributes (``ottl_condition``), and a
trace's wire size (``bytes_limiting`` uses the estimate below).
"""

from __future__ import annotations

import json
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, TracesData

from otelflow.core.component import ComponentID, Kind, Settings, Signal
from otelflow.core.telemetry import Telemetry
from otelflow.processors.tail_sampling import policies as p
from otelflow.processors.tail_sampling.combinators import And, Composite, Drop, Not
from otelflow.processors.tail_sampling.config import SPAN_INGEST, Config
from otelflow.processors.tail_sampling.ottl import OttlCondition
from otelflow.processors.tail_sampling.processor import TailSamplingProcessor
from otelflow.processors.tail_sampling.store import varint

BATCH_ROWS = 65_536
# Estimated OTLP bytes of a span: the JSON texts the store keeps are about as long as their protobuf
# encoding (keys and strings as they are, a few bytes of framing each); ids, times, kind and status
# take about 60 bytes on the wire.
SPAN_BYTES_SQL = ("60 + strlen(name) + strlen(attributes) + strlen(events) + strlen(links) "
                  "+ strlen(status_message) + strlen(trace_state)")
ENDPOINT_SQL = ("CASE WHEN parent_span_id = '' THEN coalesce(json_extract_string(attributes, '/http.route'), "
                "json_extract_string(attributes, '/url.path'), json_extract_string(attributes, '/http.target'), name) END")
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


# -- traces from the store ----------------------------------------------------------------------------


class StoredTrace:
    """A trace as the policies see it (``trace_id``, ``span_count``, ``batches``, ``wire``,
    ``traces_size()``) plus what the report sums. ``wire`` is built directly as bytes (a serialized
    TracesData); ``batches`` parses it on first use, as the processor's own traces do."""

    __slots__ = ("trace_id", "wire", "span_count", "size", "first_ns", "last_ns", "errors", "endpoint", "services", "_parsed")

    def __init__(self, trace_id: bytes, wire: bytes, span_count: int, size: int, first_ns: int, last_ns: int,
                 errors: int, endpoint: str | None, services: list):
        self.trace_id, self.wire, self.span_count, self.size = trace_id, wire, span_count, size
        self.first_ns, self.last_ns, self.errors, self.endpoint, self.services = first_ns, last_ns, errors, endpoint, services
        self._parsed = None

    @property
    def batches(self):
        if self._parsed is None:
            self._parsed = TracesData.FromString(self.wire).resource_spans
        return self._parsed

    def traces_size(self) -> int:
        return self.size


def set_value(av, v) -> None:
    """A stored JSON value back into an AnyValue (bytes come back as their base64 string)."""
    if isinstance(v, str):
        av.string_value = v
    elif v is True or v is False:
        av.bool_value = v
    elif isinstance(v, int):
        if -(1 << 63) <= v < (1 << 63):
            av.int_value = v
        else:
            av.double_value = float(v)
    elif isinstance(v, float):
        av.double_value = v
    elif isinstance(v, list):
        arr = av.array_value
        arr.SetInParent()
        for x in v:
            set_value(arr.values.add(), x)
    elif isinstance(v, dict):
        kvs = av.kvlist_value
        kvs.SetInParent()
        for k, x in v.items():
            kv = kvs.values.add()
            kv.key = k
            set_value(kv.value, x)


def _set_attributes(target, attrs: dict) -> None:
    for k, v in attrs.items():
        kv = target.add()
        kv.key = k
        set_value(kv.value, v)


def _ld(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


class _Encoder:
    """Cached wire pieces: most values repeat (resources, scopes, names, attribute values), so each
    distinct one is encoded once through the protobuf classes and reused as bytes."""

    def __init__(self, keys: set[str] | None):
        self.keys = keys
        self.resources: dict[str, bytes] = {}
        self.scopes: dict[tuple, bytes] = {}
        self.heads: dict[tuple, bytes] = {}
        self.attrs: dict[tuple[str, str], bytes] = {}

    def resource(self, text: str) -> bytes:
        """``Resource`` field of a ResourceSpans (tag included), projected onto the keys read."""
        wire = self.resources.get(text)
        if wire is None:
            attrs = json.loads(text) if text else {}
            if self.keys is not None:
                attrs = {k: v for k, v in attrs.items() if k in self.keys}
            msg = Resource()
            _set_attributes(msg.attributes, attrs)
            wire = self.resources[text] = _ld(b"\x0a", msg.SerializeToString())
        return wire

    def scope(self, name: str, version: str) -> bytes:
        key = (name, version)
        wire = self.scopes.get(key)
        if wire is None:
            wire = self.scopes[key] = _ld(b"\x0a", InstrumentationScope(name=name or "", version=version or "").SerializeToString())
        return wire

    def head(self, name: str, kind: int, state: str, code: int) -> bytes:
        """name (5), kind (6), trace_state (3) and status (15) of a span."""
        key = (name, kind, state, code)
        wire = self.heads.get(key)
        if wire is None:
            span = Span(name=name or "", kind=kind or 0, trace_state=state or "")
            if code:
                span.status.code = code
            wire = self.heads[key] = span.SerializeToString()
        return wire

    def attr(self, key: str, text: str) -> bytes:
        """One attribute (field 9) from its stored JSON value."""
        wire = self.attrs.get((key, text))
        if wire is None:
            kv = KeyValue(key=key)
            set_value(kv.value, json.loads(text))
            wire = self.attrs[(key, text)] = _ld(b"\x4a", kv.SerializeToString())
        return wire


_VARINT = [varint(n) for n in range(1 << 14)]
_TIMES = struct.Struct("<BQBQ").pack  # start (7) and end (8) as fixed64


def _query(needs_: Needs, where: str) -> str:
    cols = ["unhex(trace_id) AS tid", "service", "resource", "scope_name", "scope_version", "name", "kind",
            "start_ns", "end_ns", "status_code", "trace_state", f"{SPAN_BYTES_SQL} AS size", f"{ENDPOINT_SQL} AS endpoint"]
    if needs_.everything:
        cols += ["unhex(span_id) AS sid", "unhex(parent_span_id) AS pid", "status_message", "attributes", "events", "links"]
    else:
        cols += [f"json_extract(attributes, ${i + 1}) AS a{i}" for i in range(len(needs_.keys))]
    return f"SELECT {', '.join(cols)} FROM spans WHERE trace_id <> ''{where} ORDER BY hash(trace_id), trace_id, rowid"


def read_traces(cur, needs_: Needs, start_ns: int | None, end_ns: int | None) -> Iterator[StoredTrace]:
    """The traces with a span starting in [start_ns, end_ns], whole, as StoredTraces."""
    keys = sorted(needs_.keys)
    params: list = [_pointer(k) for k in keys] if not needs_.everything else []
    where = ""
    lo, hi = cur.execute("SELECT min(start_ns), max(start_ns) FROM spans").fetchone()
    if lo is None:
        return
    if (start_ns is not None and lo < start_ns) or (end_ns is not None and hi > end_ns):
        n = len(params)
        where = f" AND trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE start_ns BETWEEN ${n + 1} AND ${n + 2})"
        params += [start_ns if start_ns is not None else lo, end_ns if end_ns is not None else hi]
    reader = cur.execute(_query(needs_, where), params).fetch_record_batch(BATCH_ROWS)
    enc = _Encoder(None if needs_.everything else needs_.keys)
    names = ["tid", "service", "resource", "scope_name", "scope_version", "name", "kind", "start_ns", "end_ns",
             "status_code", "trace_state", "size", "endpoint"]
    extra = ["sid", "pid", "status_message", "attributes", "events", "links"] if needs_.everything else [f"a{i}" for i in range(len(keys))]
    carry: dict[str, list] | None = None
    for batch in reader:
        c = {name: _pylist(col) for name, col in zip(batch.schema.names, batch.columns)}
        if carry is not None:
            c = {k: carry[k] + c[k] for k in c}
        tids = c["tid"]
        n = len(tids)
        # the last trace of a batch may go on in the next one
        last = n - 1
        while last > 0 and tids[last - 1] == tids[n - 1]:
            last -= 1
        yield from _assemble(c, 0, last, names, extra, keys, enc, needs_.everything)
        carry = {k: v[last:] for k, v in c.items()}
    if carry is not None and carry["tid"]:
        yield from _assemble(carry, 0, len(carry["tid"]), names, extra, keys, enc, needs_.everything)


def _pylist(col) -> list:
    """A column as a list; repeated strings (resources, names, values) as shared objects, through a
    dictionary encoding, which costs a fraction of converting each row's string."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        encoded = pc.dictionary_encode(col)
        values = encoded.dictionary.to_pylist()
        indices = encoded.indices.to_pylist()
        if encoded.null_count == 0:
            return list(map(values.__getitem__, indices))
        return [None if i is None else values[i] for i in indices]
    return col.to_pylist()


def _assemble(c: dict, a: int, b: int, names: list, extra: list, keys: list, enc: _Encoder, full: bool) -> Iterator[StoredTrace]:
    """StoredTraces from rows [a, b) of the columns (whole traces, ordered by trace)."""
    tid_c, svc_c, res_c, scn_c, scv_c, name_c, kind_c, start_c, end_c, code_c, ts_c, size_c, ep_c = (c[k] for k in names)
    attr_cs = [(k, c[f"a{i}"]) for i, k in enumerate(keys)] if not full else []
    heads, attrs, head = enc.heads, enc.attrs, enc.head
    times = _TIMES
    i = a
    while i < b:
        tid = tid_c[i]
        j = i + 1
        while j < b and tid_c[j] == tid:
            j += 1
        groups: dict = {}  # resource -> [service, spans, bytes, errors, {scope: [span wire...]}]
        prefix = b"\x0a\x10" + tid
        for k in range(i, j):
            hk = (name_c[k], kind_c[k], ts_c[k], code_c[k])
            body = prefix + times(0x39, start_c[k], 0x41, end_c[k]) + (heads.get(hk) or head(*hk))
            for key, col in attr_cs:
                v = col[k]
                if v is not None:
                    body += attrs.get((key, v)) or enc.attr(key, v)
            if full:
                body += _full(c, k)
            res = res_c[k]
            g = groups.get(res)
            if g is None:
                g = groups[res] = [svc_c[k], 0, len(res), 0, {}]
            g[1] += 1
            g[2] += size_c[k]
            if hk[3] == 2:
                g[3] += 1
            scope = (scn_c[k], scv_c[k])
            spans = g[4].get(scope)
            if spans is None:
                spans = g[4][scope] = []
            n = len(body)
            spans.append((b"\x12" + _VARINT[n] + body) if n < 16384 else _ld(b"\x12", body))
        parts = []
        size = errors = 0
        for res, g in groups.items():
            scopes = g.pop()
            body = enc.resource(res) + b"".join([_ld(b"\x12", enc.scope(sn, sv) + b"".join(spans))
                                                 for (sn, sv), spans in scopes.items()])
            parts.append(_ld(b"\x0a", body))
            size += g[2]
            errors += g[3]
        ep = next((e for e in ep_c[i:j] if e is not None), None)
        yield StoredTrace(tid, b"".join(parts), j - i, size, min(start_c[i:j]), max(end_c[i:j]), errors, ep,
                          list(groups.values()))
        i = j


def _full(c: dict, k: int) -> bytes:
    """The fields an OTTL condition may read besides the ones always built, as Span wire bytes
    (concatenated protobuf messages merge, so these join the span's other fields)."""
    span = Span(span_id=c["sid"][k])
    if c["pid"][k]:
        span.parent_span_id = c["pid"][k]
    if c["status_message"][k]:
        span.status.message = c["status_message"][k]
    attrs = c["attributes"][k]
    if attrs and attrs != "{}":
        _set_attributes(span.attributes, json.loads(attrs))
    events = c["events"][k]
    if events and events != "[]":
        for e in json.loads(events):
            ev = span.events.add(time_unix_nano=e.get("time_ns", 0), name=e.get("name", ""))
            _set_attributes(ev.attributes, e.get("attributes") or {})
    links = c["links"][k]
    if links and links != "[]":
        for ln in json.loads(links):
            link = span.links.add(trace_id=bytes.fromhex(ln.get("trace_id", "")), span_id=bytes.fromhex(ln.get("span_id", "")),
                                  trace_state=ln.get("trace_state", ""))
            _set_attributes(link.attributes, ln.get("attributes") or {})
    return span.SerializeToString()


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


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
    traces = read_traces(cur, needs_, start_ns, end_ns)
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
