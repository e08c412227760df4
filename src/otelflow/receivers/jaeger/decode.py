"""Thrift decoding with thriftpy2, plus the required-field checks Go's generated readers make.

thriftpy2 fills absent fields with None instead of failing, so :func:`check_batch` walks the
decoded batch and raises what Apache Thrift's Go code reports for the first missing required field.
"""

from __future__ import annotations

from thriftpy2.protocol import TCompactProtocolFactory, TCyBinaryProtocolFactory
from thriftpy2.thrift import TMessageType
from thriftpy2.transport import TCyBufferedTransport

from otelflow.receivers.jaeger.idl.thrift import Batch, EmitBatchArgs

_BINARY = TCyBinaryProtocolFactory()
_COMPACT = TCompactProtocolFactory()

_REQUIRED = {
    "Batch": ("process", "spans"),
    "Process": ("serviceName",),
    "Span": ("traceIdLow", "traceIdHigh", "spanId", "parentSpanId", "operationName", "flags", "startTime", "duration"),
    "Tag": ("key", "vType"),
    "Log": ("timestamp", "fields"),
    "SpanRef": ("refType", "traceIdLow", "traceIdHigh", "spanId"),
    "ClientStats": ("fullQueueDroppedSpans", "tooLargeDroppedSpans", "failedToEmitSpans"),
}


class ThriftDecodeError(ValueError):
    pass


class _Reader:
    """A read-only transport that, like Go's, fails when the data ends early: thriftpy2's memory
    buffers return short reads, which its readers take as zeros and a clean end of struct.
    ``exact`` reads (the pure-Python compact protocol) fail when fewer bytes remain; otherwise
    (under the Cython buffered transport) a read returns what is left and fails only at the end."""

    __slots__ = ("data", "pos", "exact")

    def __init__(self, data: bytes, exact: bool = False):
        self.data, self.pos, self.exact = data, 0, exact

    def read(self, size: int) -> bytes:
        left = len(self.data) - self.pos
        if left <= 0 or (self.exact and size > left):
            raise EOFError("EOF")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += len(chunk)
        return chunk


def _binary(data: bytes):
    return _BINARY.get_protocol(TCyBufferedTransport(_Reader(data), buf_size=len(data) + 4096))


def _go_name(field: str) -> str:
    return field[0].upper() + field[1:]


def _check(obj, kind: str) -> None:
    for field in _REQUIRED[kind]:
        if getattr(obj, field) is None:
            raise ThriftDecodeError(f"Required field {_go_name(field)} is not set")


def _tags(tags) -> None:
    for tag in tags or ():
        _check(tag, "Tag")


def check_batch(batch) -> None:
    """Raise ThriftDecodeError for a required field the sender left out (inner structs first,
    the order in which Go's reader meets them)."""
    if batch.process is not None:
        _tags(batch.process.tags)
        _check(batch.process, "Process")
    for span in batch.spans or ():
        for ref in span.references or ():
            _check(ref, "SpanRef")
        _tags(span.tags)
        for log in span.logs or ():
            _tags(log.fields)
            _check(log, "Log")
        _check(span, "Span")
    if batch.stats is not None:
        _check(batch.stats, "ClientStats")
    _check(batch, "Batch")


def decode_batch(body: bytes):
    """A Batch in Thrift's binary protocol, as the collector's /api/traces takes it."""
    batch = Batch()
    try:
        protocol = _binary(body)
        protocol.read_struct(batch)
    except ThriftDecodeError:
        raise
    except Exception as exc:  # the Cython reader raises several types for truncated/garbled input
        raise ThriftDecodeError(str(exc) or type(exc).__name__) from None
    check_batch(batch)
    return batch


def decode_emit_batch(datagram: bytes, compact: bool):
    """The Batch of one agent ``emitBatch`` call (a oneway or call message) from one datagram."""
    try:
        if compact:
            protocol = _COMPACT.get_protocol(_Reader(datagram, exact=True))
        else:
            protocol = _binary(datagram)
        name, mtype, _seqid = protocol.read_message_begin()
        if name != "emitBatch" or mtype not in (TMessageType.CALL, TMessageType.ONEWAY):
            raise ThriftDecodeError(f"unknown method {name}")
        args = EmitBatchArgs()
        protocol.read_struct(args)
    except ThriftDecodeError:
        raise
    except Exception as exc:
        raise ThriftDecodeError(str(exc) or type(exc).__name__) from None
    if args.batch is None:
        return None  # Go's handler gets a nil batch and does nothing with it
    check_batch(args.batch)
    return args.batch
