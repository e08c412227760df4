"""Stored columns back into OTLP wire bytes.

Most values repeat (resources, scopes, span names, attribute values), so ``Encoder`` encodes each
distinct one once through the protobuf classes and reuses the bytes; a span is then the
concatenation of its pieces. ``full_fields`` adds every other stored field, for OTTL conditions.

(Building the spans' bytes in DuckDB instead was measured: string functions cost about as much per
span as the cached Python concatenation, and aggregating them per trace several times more.)
"""

from __future__ import annotations

import json
import struct

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otelflow.processors.tail_sampling.store import varint

VARINT = [varint(n) for n in range(1 << 14)]
TIMES = struct.Struct("<BQBQ").pack  # start (field 7) and end (field 8) as fixed64


def ld(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field."""
    n = len(payload)
    return tag + (VARINT[n] if n < 16384 else varint(n)) + payload


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


def set_attributes(target, attrs: dict) -> None:
    for k, v in attrs.items():
        kv = target.add()
        kv.key = k
        set_value(kv.value, v)


class Encoder:
    """Cached wire pieces: most values repeat (resources, scopes, names, attribute values)."""

    def __init__(self, keys: set[str] | None):
        self.keys = keys  # attribute keys kept on resources (None: all)
        self.resources: dict[str, bytes] = {}
        self.scopes: dict[tuple, bytes] = {}
        self.heads: dict[tuple, bytes] = {}
        self.attrs: dict[tuple[str, str], bytes] = {}

    def resource(self, text: str) -> bytes:
        """The ``resource`` field of a ResourceSpans, projected onto the keys the policies read."""
        wire = self.resources.get(text)
        if wire is None:
            attrs = json.loads(text) if text else {}
            if self.keys is not None:
                attrs = {k: v for k, v in attrs.items() if k in self.keys}
            msg = Resource()
            set_attributes(msg.attributes, attrs)
            wire = self.resources[text] = ld(b"\x0a", msg.SerializeToString())
        return wire

    def scope(self, name: str, version: str) -> bytes:
        key = (name, version)
        wire = self.scopes.get(key)
        if wire is None:
            scope = InstrumentationScope(name=name or "", version=version or "")
            wire = self.scopes[key] = ld(b"\x0a", scope.SerializeToString())
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
            wire = self.attrs[(key, text)] = ld(b"\x4a", kv.SerializeToString())
        return wire


def full_fields(c: dict, k: int) -> bytes:
    """The fields an OTTL condition may read besides the ones always built, as Span wire bytes
    (concatenated protobuf messages merge, so these join the span's other fields)."""
    span = Span(span_id=c["sid"][k])
    if c["pid"][k]:
        span.parent_span_id = c["pid"][k]
    if c["status_message"][k]:
        span.status.message = c["status_message"][k]
    attrs = c["attributes"][k]
    if attrs and attrs != "{}":
        set_attributes(span.attributes, json.loads(attrs))
    events = c["events"][k]
    if events and events != "[]":
        for e in json.loads(events):
            ev = span.events.add(time_unix_nano=e.get("time_ns", 0), name=e.get("name", ""))
            set_attributes(ev.attributes, e.get("attributes") or {})
    links = c["links"][k]
    if links and links != "[]":
        for ln in json.loads(links):
            link = span.links.add(trace_id=bytes.fromhex(ln.get("trace_id", "")), span_id=bytes.fromhex(ln.get("span_id", "")),
                                  trace_state=ln.get("trace_state", ""))
            set_attributes(link.attributes, ln.get("attributes") or {})
    return span.SerializeToString()
