"""Seed inputs and mutators shared by the hypothesis tests and ``bench/fuzz.py``.

Everything is driven by a ``random.Random`` so that hypothesis (through ``st.randoms()``) shrinks
and replays it, and the bench can run it a million times without hypothesis' overhead.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import zlib

import cramjam
import zstandard
from opentelemetry.proto.common.v1 import common_pb2

from otelflow.core.component import Signal
from otelflow.pdata import REQUEST_TYPES, otlpjson

PROTOBUF, JSON = "application/x-protobuf", "application/json"
PATHS = {Signal.TRACES: "/v1/traces", Signal.METRICS: "/v1/metrics", Signal.LOGS: "/v1/logs"}
ENCODINGS = ("gzip", "zstd", "zlib", "deflate", "snappy", "x-snappy-framed", "lz4")
COMPRESS = {
    "gzip": lambda b: gzip.compress(b, mtime=0),
    "zlib": zlib.compress,
    "deflate": zlib.compress,
    "zstd": lambda b: zstandard.ZstdCompressor(write_checksum=True).compress(b),
    "snappy": lambda b: bytes(cramjam.snappy.compress_raw(b)),
    "x-snappy-framed": lambda b: bytes(cramjam.snappy.compress(b)),
    "lz4": lambda b: bytes(cramjam.lz4.compress(b)),
}
WORDS = ["", "a", "op", "service.name", "é", "日本", "\U0001f600", "x" * 300, "\x00", "null", "0"]


def _value(rng: random.Random, av, depth: int) -> None:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        av.string_value = rng.choice(WORDS)
    elif kind == 1:
        av.int_value = rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randrange(-1000, 1000)])
    elif kind == 2:
        av.double_value = rng.choice([0.0, -0.0, 1.5, 1e308, float("inf"), float("nan")])
    elif kind == 3:
        av.bool_value = rng.random() < 0.5
    elif kind == 4:
        av.bytes_value = rng.randbytes(rng.randrange(6))
    elif kind == 5:
        av.array_value.SetInParent()
        for _ in range(rng.randrange(3)):
            _value(rng, av.array_value.values.add(), depth + 1)
    else:
        av.kvlist_value.SetInParent()
        for _ in range(rng.randrange(3)):
            kv = av.kvlist_value.values.add(key=rng.choice(WORDS))
            _value(rng, kv.value, depth + 1)


def _attrs(rng: random.Random, target, n: int = 3) -> None:
    for _ in range(rng.randrange(n + 1)):
        kv = target.add(key=rng.choice(WORDS))
        _value(rng, kv.value, 0)


def _id(rng: random.Random, size: int) -> bytes:
    return rng.choice([b"", rng.randbytes(size), rng.randbytes(size)])


def request(rng: random.Random, signal: Signal):
    """A valid export request of ``signal`` with a little of everything in it."""
    req = REQUEST_TYPES[signal]()
    for _ in range(1 + rng.randrange(2)):
        if signal is Signal.TRACES:
            rs = req.resource_spans.add()
            _attrs(rng, rs.resource.attributes)
            ss = rs.scope_spans.add()
            ss.scope.name = rng.choice(WORDS)
            for _ in range(1 + rng.randrange(3)):
                sp = ss.spans.add(trace_id=_id(rng, 16), span_id=_id(rng, 8), parent_span_id=_id(rng, 8),
                                  name=rng.choice(WORDS), kind=rng.randrange(6), flags=rng.randrange(2**32),
                                  start_time_unix_nano=rng.randrange(2**64), end_time_unix_nano=rng.randrange(2**64))
                _attrs(rng, sp.attributes)
                if rng.random() < 0.3:
                    ev = sp.events.add(name="ev", time_unix_nano=1)
                    _attrs(rng, ev.attributes)
                if rng.random() < 0.3:
                    sp.links.add(trace_id=_id(rng, 16), span_id=_id(rng, 8))
                sp.status.code = rng.randrange(3)
        elif signal is Signal.LOGS:
            rl = req.resource_logs.add()
            _attrs(rng, rl.resource.attributes)
            sl = rl.scope_logs.add()
            for _ in range(1 + rng.randrange(3)):
                rec = sl.log_records.add(time_unix_nano=rng.randrange(2**64), severity_number=rng.randrange(25),
                                         severity_text=rng.choice(WORDS), trace_id=_id(rng, 16), span_id=_id(rng, 8))
                _value(rng, rec.body, 0)
                _attrs(rng, rec.attributes)
        else:
            rm = req.resource_metrics.add()
            _attrs(rng, rm.resource.attributes)
            sm = rm.scope_metrics.add()
            for kind in rng.sample(["gauge", "sum", "histogram", "exponential_histogram", "summary"], 2):
                m = sm.metrics.add(name=rng.choice(WORDS) or "m", unit="1")
                data = getattr(m, kind)
                pt = data.data_points.add(time_unix_nano=rng.randrange(2**64))
                _attrs(rng, pt.attributes, 2)
                if kind in ("gauge", "sum"):
                    if rng.random() < 0.5:
                        pt.as_int = rng.randrange(-(2**63), 2**63)
                    else:
                        pt.as_double = rng.random()
                    ex = pt.exemplars.add(trace_id=_id(rng, 16), span_id=_id(rng, 8), as_double=1.0)
                    _attrs(rng, ex.filtered_attributes, 1)
                elif kind == "histogram":
                    pt.bucket_counts.extend([1, 2]), pt.explicit_bounds.extend([1.0])
                    pt.count, pt.sum = 3, 2.5
                elif kind == "exponential_histogram":
                    pt.scale, pt.positive.offset = rng.randrange(-10, 10), -2
                    pt.positive.bucket_counts.extend([1, 0, 3])
                else:
                    pt.quantile_values.add(quantile=0.5, value=1.0)
    return req


def deep_request(depth: int, kvlist: bool = False) -> bytes:
    """A traces request whose one resource attribute nests ``depth`` arrays (or kvlists) deep."""
    av = common_pb2.AnyValue(string_value="leaf")
    for _ in range(depth):
        outer = common_pb2.AnyValue()
        if kvlist:
            outer.kvlist_value.values.add(key="k").value.CopyFrom(av)
        else:
            outer.array_value.values.add().CopyFrom(av)
        av = outer
    req = REQUEST_TYPES[Signal.TRACES]()
    req.resource_spans.add().resource.attributes.add(key="deep").value.CopyFrom(av)
    return req.SerializeToString(deterministic=True) if depth < 90 else _deep_bytes(depth, kvlist)


def _deep_bytes(depth: int, kvlist: bool) -> bytes:
    """The same, written by hand: upb refuses to serialize more than 100 levels."""
    inner = b"\x0a\x04leaf"  # AnyValue.string_value
    for _ in range(depth):
        if kvlist:
            kv = b"\x0a\x01k" + b"\x12" + _varint(len(inner)) + inner  # KeyValue{key, value}
            lst = b"\x0a" + _varint(len(kv)) + kv  # KeyValueList.values
            inner = b"\x32" + _varint(len(lst)) + lst  # AnyValue.kvlist_value
        else:
            arr = b"\x0a" + _varint(len(inner)) + inner  # ArrayValue.values
            inner = b"\x2a" + _varint(len(arr)) + arr  # AnyValue.array_value
    kv = b"\x0a\x04deep" + b"\x12" + _varint(len(inner)) + inner
    res = b"\x0a" + _varint(len(kv)) + kv
    rs = b"\x0a" + _varint(len(res)) + res
    return b"\x0a" + _varint(len(rs)) + rs


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len_fields(data: bytes) -> list[tuple[int, int]]:
    """(position, size) of the length varints of the top-level LEN fields and, one level down,
    of theirs: where a corrupted length makes the parser read past or short of a message."""
    found = []

    def walk(start: int, end: int, level: int) -> None:
        pos = start
        while pos < end and len(found) < 64:
            key, n = _read_varint(data, pos, end)
            if n == 0:
                return
            pos += n
            wire = key & 7
            if wire == 0:
                _, n = _read_varint(data, pos, end)
                if n == 0:
                    return
                pos += n
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                size, n = _read_varint(data, pos, end)
                if n == 0 or pos + n + size > end:
                    return
                found.append((pos, n))
                if level < 3:
                    walk(pos + n, pos + n + size, level + 1)
                pos += n + size
            else:
                return

    walk(0, len(data), 0)
    return found


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        if pos + i >= end:
            return 0, 0
        b = data[pos + i]
        value |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            return value, i + 1
    return 0, 0


def mutate_bytes(rng: random.Random, data: bytes, rounds: int = 0) -> bytes:
    """Bit flips, byte writes, truncation, insertion, deletion, splices and corrupted length fields."""
    buf = bytearray(data)
    for _ in range(rounds or 1 + rng.randrange(3)):
        op = rng.randrange(8)
        if op == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.choice([0, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif op == 2:
            del buf[rng.randrange(len(buf) + 1):]
        elif op == 3:
            i = rng.randrange(len(buf) + 1)
            buf[i:i] = rng.randbytes(rng.randrange(1, 9))
        elif op == 4 and buf:
            i = rng.randrange(len(buf))
            del buf[i:i + rng.randrange(1, 9)]
        elif op == 5 and buf:
            i = rng.randrange(len(buf))
            j = rng.randrange(i, len(buf) + 1)
            k = rng.randrange(len(buf) + 1)
            buf[k:k] = buf[i:j]
        else:
            fields = _len_fields(bytes(buf))
            if fields:
                pos, n = rng.choice(fields)
                size, _ = _read_varint(buf, pos, len(buf))
                new = rng.choice([0, 1, size - 1, size + 1, size * 2, 2**31 - 1, 2**32, 2**63, rng.randrange(128)])
                buf[pos:pos + n] = _varint(max(new, 0))
    return bytes(buf)


JSON_VALUES = [
    None, True, False, 0, -1, 1, 2**31, 2**32, 2**63, 2**64, 10**30, -(2**63) - 1, 1.5, 1e3, -0.0, 1e308, "1e999",
    "", "x", "5", "-5", "+5", " 5", "1_0", "0x10", "NaN", "Infinity", "-inf", "1.5", "0x1p-2", "é", "\ud800",
    "\U0001f600", "5b8efff798038103d269b633813fc60c", "5B8EFFF798038103D269B633813FC60C", "eee19b7ec3c1b174",
    "zz", "5b8eff", "AAEC", "AAE", "AA==", "A===", "AAEC\n", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR",
    "SEVERITY_NUMBER_INFO", "AGGREGATION_TEMPORALITY_CUMULATIVE", "NOPE", [], {}, [None], [1], [{}], {"x": 1},
]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def mutate_json(rng: random.Random, message) -> bytes:
    """OTLP/JSON of ``message`` (a request, or its OTLP/JSON bytes) with wrong types, huge numbers,
    bad IDs and odd unicode put in."""
    tree = json.loads(message if isinstance(message, bytes) else otlpjson.encode(message))
    for _ in range(1 + rng.randrange(3)):
        paths = [p for p in _paths(tree) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = tree
        for p in path[:-1]:
            parent = parent[p]
        op = rng.randrange(6)
        if op < 3:
            parent[path[-1]] = copy.deepcopy(rng.choice(JSON_VALUES))
        elif op == 3 and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == 4 and isinstance(parent, dict):
            parent[rng.choice(["unknown", "", "trace_id", "kind", "resource"])] = copy.deepcopy(rng.choice(JSON_VALUES))
        else:
            parent[path[-1]] = [parent[path[-1]]] if rng.random() < 0.5 else {"x": parent[path[-1]]}
    text = json.dumps(tree, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    tail = rng.choice([b"", b"", b"", b" ", b"x", b"}", b"\xff"])
    return text + tail


def bomb(encoding: str, size: int) -> bytes:
    """A small body that decompresses to ``size`` zero bytes."""
    return COMPRESS[encoding](b"\0" * size)
