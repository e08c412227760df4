"""Stored spans as the traces the policies evaluate, read from DuckDB in one ordered scan.

Each trace becomes one serialized ``TracesData`` (``StoredTrace.wire``), built as bytes from cached
pieces (:mod:`.encode`): a ResourceSpans per resource, a ScopeSpans per scope, its spans in the order
they were stored. Only what the policies read is encoded: span times, status, trace state, name and kind always; the attributes
a numeric, string or boolean filter names (on spans and resources); everything for ``ottl_condition``.
The service of a resource is the store's (``service.name`` or ``unknown_service``).
"""

from __future__ import annotations

import json
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from otelflow.sampling import vectorised
from otelflow.processors.tail_sampling.store import varint
from otelflow.sampling.encode import TIMES, VARINT, Encoder, full_fields, ld
from otelflow.store.ingest import UNKNOWN_SERVICE

BATCH_ROWS = 65_536
# Estimated OTLP bytes of a span: the JSON texts the store keeps are about as long as their protobuf
# encoding (keys and strings as they are, a few bytes of framing each); ids, times, kind and status
# take about 60 bytes on the wire.
SPAN_BYTES_SQL = ("60 + strlen(name) + strlen(attributes) + strlen(events) + strlen(links) "
                  "+ strlen(status_message) + strlen(trace_state)")
ENDPOINT_SQL = ("CASE WHEN parent_span_id = '' THEN coalesce(json_extract_string(attributes, '/http.route'), "
                "json_extract_string(attributes, '/url.path'), json_extract_string(attributes, '/http.target'), name) END")


class StoredTrace:
    """A trace as the policies see it (``trace_id``, ``span_count``, ``batches``, ``wire``,
    ``traces_size()``) plus what the report sums; ``batches`` parses ``wire`` on first use."""

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


def pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _query(keys: list[str], everything: bool, where: str) -> str:
    cols = ["unhex(trace_id) AS tid", "resource", "scope_name", "scope_version", "name", "kind", "trace_state",
            "start_ns", "end_ns", "status_code", f"{SPAN_BYTES_SQL} AS size", f"{ENDPOINT_SQL} AS endpoint"]
    if everything:
        cols += ["unhex(span_id) AS sid", "unhex(parent_span_id) AS pid", "status_message", "attributes", "events", "links"]
    cols += [f"json_extract(attributes, ${i + 1}) AS a{i}" for i in range(len(keys))]
    return f"SELECT {', '.join(cols)} FROM spans WHERE trace_id <> ''{where} ORDER BY hash(trace_id), trace_id, rowid"


def read_traces(cur, keys: set[str], everything: bool, start_ns: int | None, end_ns: int | None,
                vectorise: bool = True) -> Iterator[StoredTrace]:
    """The traces with a span starting in [start_ns, end_ns], whole. ``vectorise=False`` encodes
    every span in Python (the reference the Arrow encoding must match)."""
    ordered = sorted(keys) if not everything else []
    params: list = [pointer(k) for k in ordered]
    where = ""
    lo, hi = cur.execute("SELECT min(start_ns), max(start_ns) FROM spans").fetchone()
    if lo is None:
        return
    if (start_ns is not None and lo < start_ns) or (end_ns is not None and hi > end_ns):
        n = len(params)
        where = f" AND trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE start_ns BETWEEN ${n + 1} AND ${n + 2})"
        params += [start_ns if start_ns is not None else lo, end_ns if end_ns is not None else hi]
    reader = cur.execute(_query(ordered, everything, where), params).fetch_record_batch(BATCH_ROWS)
    build = _Builder(Encoder(None if everything else keys), ordered, everything)
    build.vectorise = vectorise
    raw = {"name", "kind", "trace_state", *(f"a{i}" for i in range(len(ordered)))}
    carry: pa.RecordBatch | None = None
    for batch in reader:
        if carry is not None and carry.num_rows:
            batch = pa.Table.from_batches([carry, batch]).combine_chunks().to_batches()[0]
        tids = _pylist(batch.column("tid"))
        n = len(tids)
        last = n - 1  # the last trace of a batch may go on in the next one
        while last > 0 and tids[last - 1] == tids[n - 1]:
            last -= 1
        yield from build.batch(batch, tids, last, raw)
        carry = batch.slice(last)
    if carry is not None and carry.num_rows:
        yield from build.batch(carry, _pylist(carry.column("tid")), carry.num_rows, raw)


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


def service_of(resource: str) -> str:
    """The store's service column, from the resource JSON (as ingest.py derives it)."""
    try:
        name = json.loads(resource).get("service.name") if resource else None
    except ValueError:
        name = None
    return name if isinstance(name, str) and name else UNKNOWN_SERVICE


class _Builder:
    def __init__(self, enc: Encoder, keys: list[str], everything: bool):
        self.enc, self.keys, self.everything = enc, keys, everything
        self.vectorise = True
        self.run_heads: dict[tuple, tuple[bytes, bytes, str]] = {}
        self.services: dict[str, str] = {}

    def service(self, resource: str) -> str:
        name = self.services.get(resource)
        if name is None:
            name = self.services[resource] = service_of(resource)
        return name

    def batch(self, batch: pa.RecordBatch, tids: list, last: int, raw: set[str]) -> Iterator[StoredTrace]:
        """The whole traces in rows [0, last) of a batch: spans encoded by Arrow kernels when they
        can be, else one by one (and always so when every field is wanted)."""
        packed = None if self.everything or not self.vectorise else vectorised.spans(batch, self.enc, self.keys)
        c = {name: _pylist(col) for name, col in zip(batch.schema.names, batch.columns)
             if name != "tid" and (packed is None or name not in raw)}
        c["tid"] = tids
        return self.traces(c, 0, last, packed)

    def spans(self, c: dict, ks, attr_cs: list) -> list[bytes]:
        """Spans built from rows ``ks``, each framed as a ScopeSpans entry (``12 len Span``)."""
        enc, full = self.enc, self.everything
        heads, attrs, head, attr = enc.heads, enc.attrs, enc.head, enc.attr
        tid_c, name_c, kind_c, ts_c, code_c, start_c, end_c = (c["tid"], c["name"], c["kind"], c["trace_state"],
                                                              c["status_code"], c["start_ns"], c["end_ns"])
        times, varints = TIMES, VARINT
        out = []
        prefix = b""
        tid = None
        for k in ks:
            if tid_c[k] is not tid:
                tid = tid_c[k]
                prefix = ld(b"\x0a", tid)
            hk = (name_c[k], kind_c[k], ts_c[k], code_c[k])
            body = prefix + times(0x39, start_c[k], 0x41, end_c[k]) + (heads.get(hk) or head(*hk))
            for key, col in attr_cs:
                v = col[k]
                if v is not None:
                    body += attrs.get((key, v)) or attr(key, v)
            if full:
                body += full_fields(c, k)
            n = len(body)
            out.append((b"\x12" + varints[n] + body) if n < 16384 else ld(b"\x12", body))
        return out

    def traces(self, c: dict, a: int, b: int, packed: tuple | None = None) -> Iterator[StoredTrace]:
        """StoredTraces from rows [a, b) of the columns (whole traces, ordered by trace)."""
        enc = self.enc
        tid_c, res_c, scn_c, scv_c = c["tid"], c["resource"], c["scope_name"], c["scope_version"]
        start_c, end_c, code_c, size_c, ep_c = c["start_ns"], c["end_ns"], c["status_code"], c["size"], c["endpoint"]
        attr_cs = [(k, c[f"a{i}"]) for i, k in enumerate(self.keys)] if packed is None else []
        data, offs = packed if packed is not None else (b"", [])
        i = a
        while i < b:
            tid = tid_c[i]
            j = i + 1
            while j < b and tid_c[j] == tid:
                j += 1
            n = j - i
            res, sn, sv = res_c[i], scn_c[i], scv_c[i]
            if res_c[i:j].count(res) == n and scn_c[i:j].count(sn) == n and scv_c[i:j].count(sv) == n:
                # one resource and one scope (most traces of one service): no grouping
                size = sum(size_c[i:j]) + len(res)
                spans = data[offs[i]:offs[j]] if packed is not None else b"".join(self.spans(c, range(i, j), attr_cs))
                wire = ld(b"\x0a", enc.resource(res) + ld(b"\x12", enc.scope(sn, sv) + spans))
                services = [[self.service(res), n, size, code_c[i:j].count(2)]]
            else:
                if packed is None:  # span by span: the same layout, offsets into the trace's own bytes
                    built = self.spans(c, range(i, j), attr_cs)
                    data, offs = b"".join(built), [0] * (i + 1)
                    for x in built:
                        offs.append(offs[-1] + len(x))
                wire, services = self._runs(c, i, j, data, offs)
                size = sum(s[2] for s in services)
            yield StoredTrace(tid, wire, n, size, min(start_c[i:j]), max(end_c[i:j]), code_c[i:j].count(2),
                              next((e for e in ep_c[i:j] if e is not None), None), services)
            i = j

    def _runs(self, c: dict, i: int, j: int, data: bytes, offs: list) -> tuple[bytes, list]:
        """A trace over several resources or scopes: a ResourceSpans per run of consecutive spans with
        the same resource and scope (as a live processor holds a trace: a fragment per request and
        resource); services summed over the runs, each resource's bytes counted once."""
        res_c, scn_c, scv_c, code_c, size_c = c["resource"], c["scope_name"], c["scope_version"], c["status_code"], c["size"]
        heads, varints = self.run_heads, VARINT
        parts = []
        services: dict[str, list] = {}
        seen = set()
        a = i
        while a < j:
            res, sn, sv = res_c[a], scn_c[a], scv_c[a]
            b = a + 1
            while b < j and res_c[b] == res and scn_c[b] == sn and scv_c[b] == sv:
                b += 1
            head = heads.get((res, sn, sv))
            if head is None:
                if len(heads) > 4096:
                    heads.clear()
                head = heads[(res, sn, sv)] = (self.enc.resource(res), self.enc.scope(sn, sv), self.service(res))
            inner = head[1] + data[offs[a]:offs[b]]
            n = len(inner)
            body = head[0] + b"\x12" + (varints[n] if n < 16384 else varint(n)) + inner
            n = len(body)
            parts.append(b"\x0a" + (varints[n] if n < 16384 else varint(n)) + body)
            if b == a + 1:
                size, errors = size_c[a], 1 if code_c[a] == 2 else 0
            else:
                size, errors = sum(size_c[a:b]), code_c[a:b].count(2)
            if res not in seen:
                seen.add(res)
                size += len(res)
            st = services.get(head[2])
            if st is None:
                services[head[2]] = [head[2], b - a, size, errors]
            else:
                st[1] += b - a
                st[2] += size
                st[3] += errors
            a = b
        return b"".join(parts), list(services.values())
