"""Prometheus Remote-Write 1.0 messages (``prometheus.WriteRequest`` and what it holds) as plain
dataclasses with a hand-written protobuf codec.

Encoding follows proto3 as Prometheus' gogo-generated marshaller writes it: fields in number
order, zero scalars left out (so a ``-0.0`` sample value is not written, as gogo's ``!= 0`` test
skips it), repeated numbers packed, the ``count``/``zero_count`` oneofs written whenever set.
``encoded_size`` is what gogo's ``Size()`` returns, which upstream batches requests by.
The decoder is the inverse, for tests and the recording helper; it skips unknown fields.

NaN payloads survive both ways: Prometheus' stale marker is the NaN with bits ``0x7ff0000000000002``
(``STALE_NAN``), told apart from other NaNs only by its bits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]

# MetricMetadata.MetricType
UNKNOWN, COUNTER, GAUGE, HISTOGRAM, GAUGEHISTOGRAM, SUMMARY, INFO, STATESET = range(8)
METRIC_TYPE_NAMES = ["UNKNOWN", "COUNTER", "GAUGE", "HISTOGRAM", "GAUGEHISTOGRAM", "SUMMARY", "INFO", "STATESET"]


def float_bits(value: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", value))[0]


def is_stale(value: float) -> bool:
    return value != value and float_bits(value) == STALE_NAN_BITS


@dataclass(slots=True)
class Sample:
    value: float
    timestamp: int


@dataclass(slots=True)
class Exemplar:
    labels: list[tuple[str, str]]
    value: float
    timestamp: int


@dataclass(slots=True)
class Histogram:
    count_int: int | None = None
    count_float: float | None = None
    sum: float = 0.0
    schema: int = 0
    zero_threshold: float = 0.0
    zero_count_int: int | None = None
    zero_count_float: float | None = None
    negative_spans: list[tuple[int, int]] = field(default_factory=list)  # (offset, length)
    negative_deltas: list[int] = field(default_factory=list)
    negative_counts: list[float] = field(default_factory=list)
    positive_spans: list[tuple[int, int]] = field(default_factory=list)
    positive_deltas: list[int] = field(default_factory=list)
    positive_counts: list[float] = field(default_factory=list)
    reset_hint: int = 0
    timestamp: int = 0
    custom_values: list[float] = field(default_factory=list)


@dataclass(slots=True)
class TimeSeries:
    labels: list[tuple[str, str]]
    samples: list[Sample] = field(default_factory=list)
    exemplars: list[Exemplar] = field(default_factory=list)
    histograms: list[Histogram] = field(default_factory=list)


@dataclass(slots=True)
class MetricMetadata:
    type: int
    metric_family_name: str
    help: str = ""
    unit: str = ""


@dataclass(slots=True)
class WriteRequest:
    timeseries: list[TimeSeries] = field(default_factory=list)
    metadata: list[MetricMetadata] = field(default_factory=list)


# -- encoding ----------------------------------------------------------------------------------------

_VARINT, _I64, _LEN = 0, 1, 2


def _varint(out: bytearray, n: int) -> None:
    n &= 0xFFFFFFFFFFFFFFFF  # negative int64s are ten bytes, as in Go
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zigzag(n: int) -> int:
    return ((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF


def _tag(out: bytearray, num: int, wire: int) -> None:
    _varint(out, (num << 3) | wire)


def _double(out: bytearray, num: int, value: float) -> None:
    _tag(out, num, _I64)
    out += struct.pack("<d", value)


def _string(out: bytearray, num: int, value: str) -> None:
    data = value.encode("utf-8", "surrogatepass")
    _tag(out, num, _LEN)
    _varint(out, len(data))
    out += data


def _message(out: bytearray, num: int, body: bytes | bytearray) -> None:
    _tag(out, num, _LEN)
    _varint(out, len(body))
    out += body


def _labels(out: bytearray, num: int, labels: list[tuple[str, str]]) -> None:
    for name, value in labels:
        body = bytearray()
        if name:
            _string(body, 1, name)
        if value:
            _string(body, 2, value)
        _message(out, num, body)


def _sample(s: Sample) -> bytearray:
    out = bytearray()
    if s.value != 0:
        _double(out, 1, s.value)
    if s.timestamp:
        _tag(out, 2, _VARINT)
        _varint(out, s.timestamp)
    return out


def _exemplar(e: Exemplar) -> bytearray:
    out = bytearray()
    _labels(out, 1, e.labels)
    if e.value != 0:
        _double(out, 2, e.value)
    if e.timestamp:
        _tag(out, 3, _VARINT)
        _varint(out, e.timestamp)
    return out


def _spans(out: bytearray, num: int, spans: list[tuple[int, int]]) -> None:
    for offset, length in spans:
        body = bytearray()
        if offset:
            _tag(body, 1, _VARINT)
            _varint(body, _zigzag(offset) & 0xFFFFFFFF)
        if length:
            _tag(body, 2, _VARINT)
            _varint(body, length)
        _message(out, num, body)


def _packed_sint(out: bytearray, num: int, values: list[int]) -> None:
    if values:
        body = bytearray()
        for v in values:
            _varint(body, _zigzag(v))
        _message(out, num, body)


def _packed_double(out: bytearray, num: int, values: list[float]) -> None:
    if values:
        _message(out, num, struct.pack(f"<{len(values)}d", *values))


def _histogram(h: Histogram) -> bytearray:
    out = bytearray()
    if h.count_int is not None:
        _tag(out, 1, _VARINT)
        _varint(out, h.count_int)
    elif h.count_float is not None:
        _double(out, 2, h.count_float)
    if h.sum != 0:
        _double(out, 3, h.sum)
    if h.schema:
        _tag(out, 4, _VARINT)
        _varint(out, _zigzag(h.schema) & 0xFFFFFFFF)
    if h.zero_threshold != 0:
        _double(out, 5, h.zero_threshold)
    if h.zero_count_int is not None:
        _tag(out, 6, _VARINT)
        _varint(out, h.zero_count_int)
    elif h.zero_count_float is not None:
        _double(out, 7, h.zero_count_float)
    _spans(out, 8, h.negative_spans)
    _packed_sint(out, 9, h.negative_deltas)
    _packed_double(out, 10, h.negative_counts)
    _spans(out, 11, h.positive_spans)
    _packed_sint(out, 12, h.positive_deltas)
    _packed_double(out, 13, h.positive_counts)
    if h.reset_hint:
        _tag(out, 14, _VARINT)
        _varint(out, h.reset_hint)
    if h.timestamp:
        _tag(out, 15, _VARINT)
        _varint(out, h.timestamp)
    _packed_double(out, 16, h.custom_values)
    return out


def encode_series(ts: TimeSeries) -> bytearray:
    out = bytearray()
    _labels(out, 1, ts.labels)
    for s in ts.samples:
        _message(out, 2, _sample(s))
    for e in ts.exemplars:
        _message(out, 3, _exemplar(e))
    for h in ts.histograms:
        _message(out, 4, _histogram(h))
    return out


def encode_metadata(m: MetricMetadata) -> bytearray:
    out = bytearray()
    if m.type:
        _tag(out, 1, _VARINT)
        _varint(out, m.type)
    if m.metric_family_name:
        _string(out, 2, m.metric_family_name)
    if m.help:
        _string(out, 4, m.help)
    if m.unit:
        _string(out, 5, m.unit)
    return out


def encoded_size(item: TimeSeries | MetricMetadata) -> int:
    """gogo's ``Size()`` of a series or metadata entry (its bytes without the enclosing tag)."""
    return len(encode_series(item) if isinstance(item, TimeSeries) else encode_metadata(item))


def encode(req: WriteRequest) -> bytes:
    out = bytearray()
    for ts in req.timeseries:
        _message(out, 1, encode_series(ts))
    for m in req.metadata:
        _message(out, 3, encode_metadata(m))
    return bytes(out)


# -- decoding ----------------------------------------------------------------------------------------


class DecodeError(ValueError):
    pass


def _fields(data: bytes | memoryview):
    """(field number, wire type, value) of each field; LEN values are memoryviews."""
    view = memoryview(data)
    i, n = 0, len(view)

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            if i >= n or shift > 63:
                raise DecodeError("truncated varint")
            b = view[i]
            i += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    while i < n:
        key = varint()
        num, wire = key >> 3, key & 7
        if wire == _VARINT:
            yield num, wire, varint()
        elif wire == _I64:
            if i + 8 > n:
                raise DecodeError("truncated fixed64")
            yield num, wire, struct.unpack_from("<d", view, i)[0]
            i += 8
        elif wire == _LEN:
            size = varint()
            if i + size > n:
                raise DecodeError("truncated bytes")
            yield num, wire, view[i:i + size]
            i += size
        elif wire == 5:
            i += 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")


def _int64(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def _unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _int32_zigzag(n: int) -> int:
    return _unzigzag(n & 0xFFFFFFFF)


def _str(v: memoryview) -> str:
    return bytes(v).decode("utf-8", "surrogateescape")


def _decode_labels(v: memoryview) -> tuple[str, str]:
    name = value = ""
    for num, _, x in _fields(v):
        if num == 1:
            name = _str(x)
        elif num == 2:
            value = _str(x)
    return name, value


def _decode_spans(v: memoryview) -> tuple[int, int]:
    offset = length = 0
    for num, _, x in _fields(v):
        if num == 1:
            offset = _int32_zigzag(x)
        elif num == 2:
            length = x
    return offset, length


def _unpack_sint(v: memoryview) -> list[int]:
    out, shift, acc = [], 0, 0
    for b in bytes(v):
        acc |= (b & 0x7F) << shift
        if b < 0x80:
            out.append(_unzigzag(acc))
            shift = acc = 0
        else:
            shift += 7
    if shift:
        raise DecodeError("truncated packed varint")
    return out


def _unpack_double(v: memoryview) -> list[float]:
    return list(struct.unpack(f"<{len(v) // 8}d", v))


def _decode_histogram(v: memoryview) -> Histogram:
    h = Histogram()
    for num, wire, x in _fields(v):
        if num == 1:
            h.count_int, h.count_float = x, None
        elif num == 2:
            h.count_float, h.count_int = x, None
        elif num == 3:
            h.sum = x
        elif num == 4:
            h.schema = _int32_zigzag(x)
        elif num == 5:
            h.zero_threshold = x
        elif num == 6:
            h.zero_count_int, h.zero_count_float = x, None
        elif num == 7:
            h.zero_count_float, h.zero_count_int = x, None
        elif num == 8:
            h.negative_spans.append(_decode_spans(x))
        elif num == 9:
            h.negative_deltas += _unpack_sint(x) if wire == _LEN else [_unzigzag(x)]
        elif num == 10:
            h.negative_counts += _unpack_double(x) if wire == _LEN else [x]
        elif num == 11:
            h.positive_spans.append(_decode_spans(x))
        elif num == 12:
            h.positive_deltas += _unpack_sint(x) if wire == _LEN else [_unzigzag(x)]
        elif num == 13:
            h.positive_counts += _unpack_double(x) if wire == _LEN else [x]
        elif num == 14:
            h.reset_hint = x
        elif num == 15:
            h.timestamp = _int64(x)
        elif num == 16:
            h.custom_values += _unpack_double(x) if wire == _LEN else [x]
    return h


def _decode_series(v: memoryview) -> TimeSeries:
    ts = TimeSeries(labels=[])
    for num, _, x in _fields(v):
        if num == 1:
            ts.labels.append(_decode_labels(x))
        elif num == 2:
            value, stamp = 0.0, 0
            for n, _, y in _fields(x):
                if n == 1:
                    value = y
                elif n == 2:
                    stamp = _int64(y)
            ts.samples.append(Sample(value, stamp))
        elif num == 3:
            e = Exemplar([], 0.0, 0)
            for n, _, y in _fields(x):
                if n == 1:
                    e.labels.append(_decode_labels(y))
                elif n == 2:
                    e.value = y
                elif n == 3:
                    e.timestamp = _int64(y)
            ts.exemplars.append(e)
        elif num == 4:
            ts.histograms.append(_decode_histogram(x))
    return ts


def _decode_metadata(v: memoryview) -> MetricMetadata:
    m = MetricMetadata(0, "")
    for num, _, x in _fields(v):
        if num == 1:
            m.type = x
        elif num == 2:
            m.metric_family_name = _str(x)
        elif num == 4:
            m.help = _str(x)
        elif num == 5:
            m.unit = _str(x)
    return m


def decode(data: bytes) -> WriteRequest:
    req = WriteRequest()
    for num, _, x in _fields(data):
        if num == 1:
            req.timeseries.append(_decode_series(x))
        elif num == 3:
            req.metadata.append(_decode_metadata(x))
    return req
