"""Thrift decoding with Apache Thrift's accelerated (C) protocols and code generated from our IDL
(``idl/generate.sh``), plus the required-field checks Go's generated readers make.

Python's generated readers leave an absent required field as None; :func:`check_batch` walks the
decoded batch and raises what Go's code reports for the first missing one.
"""

from __future__ import annotations

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.protocol.TCompactProtocol import TCompactProtocolAccelerated
from thrift.Thrift import TMessageType
from thrift.transport.TTransport import TMemoryBuffer

from otelflow.receivers.jaeger.idl.gen.agent.Agent import emitBatch_args
from otelflow.receivers.jaeger.idl.gen.jaeger.ttypes import Batch



def _limits(data: bytes) -> dict[str, int]:
    """Every element takes at least one byte, so no valid length exceeds the input's: a claim past
    it is refused before the reader allocates for it (Go checks lengths against the bytes left)."""
    return {"string_length_limit": len(data), "container_length_limit": len(data)}

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


def _check(obj, kind: str) -> None:
    for field in _REQUIRED[kind]:
        if getattr(obj, field) is None:
            raise ThriftDecodeError(f"Required field {field[0].upper()}{field[1:]} is not set")


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


def _error(exc: Exception) -> ThriftDecodeError:
    # the readers raise EOFError, TProtocolException, UnicodeDecodeError, ... for broken input
    if isinstance(exc, EOFError):
        return ThriftDecodeError("EOF")
    return ThriftDecodeError(str(exc) or type(exc).__name__)


def decode_batch(body: bytes):
    """A Batch in Thrift's binary protocol, as the collector's /api/traces takes it."""
    batch = Batch()
    try:
        batch.read(TBinaryProtocolAccelerated(TMemoryBuffer(body), **_limits(body)))
    except Exception as exc:
        raise _error(exc) from None
    check_batch(batch)
    return batch


def decode_emit_batch(datagram: bytes, compact: bool):
    """The Batch of one agent ``emitBatch`` call (a oneway or call message) from one datagram."""
    transport = TMemoryBuffer(datagram)
    try:
        if compact:
            protocol = TCompactProtocolAccelerated(transport, **_limits(datagram))
        else:
            protocol = TBinaryProtocolAccelerated(transport, **_limits(datagram))
        name, mtype, _seqid = protocol.readMessageBegin()
        if name != "emitBatch" or mtype not in (TMessageType.CALL, TMessageType.ONEWAY):
            raise ThriftDecodeError(f"unknown method {name}")
        args = emitBatch_args()
        args.read(protocol)
    except ThriftDecodeError:
        raise
    except Exception as exc:
        raise _error(exc) from None
    if args.batch is None:
        return None  # Go's handler gets a nil batch and does nothing with it
    check_batch(args.batch)
    return args.batch
