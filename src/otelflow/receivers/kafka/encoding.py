"""Record value -> OTLP request, per signal and ``encoding``, as upstream's kafkareceiver unmarshals.

- ``otlp_proto``: the value is a TracesData/MetricsData/LogsData message, which is byte-for-byte the
  Export*ServiceRequest otelflow carries (both hold the resource entries as field 1);
- ``otlp_json``: OTLP/JSON, read as upstream's pdata JSON reader does;
- traces only: ``zipkin_proto`` / ``zipkin_json`` (a Zipkin v2 span list, tags kept as strings),
  ``jaeger_proto`` / ``jaeger_json`` (one Jaeger api_v2 ``Span`` per record, its own ``process`` as
  the resource), through otelflow's Zipkin and Jaeger translators;
- logs only: ``raw`` (the value as a bytes body), ``text`` / ``text_<charset>`` (a string body),
  ``json`` (a JSON object as a map body), each one log record per Kafka record.

Every decoder raises ``DecodeError`` for a value it cannot read; the receiver counts, logs and skips
it. Encodings otelflow does not have (``zipkin_thrift``, ``azure_resource_logs``, encoding
extensions) fail when the receiver is built, with upstream's wording for unknown ones."""

from __future__ import annotations

import json
import time
from typing import Callable

from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message

from otelflow.core.component import Signal
from otelflow.pdata import REQUEST_TYPES, InvalidIDError, check_ids_encoded, otlpjson
from otelflow.stanza.convert import put_value
from otelflow.stanza.fileconsumer.encoding import NOP, lookup_encoding


class DecodeError(ValueError):
    """The record value is not what the configured encoding says."""


Decoder = Callable[[bytes], Message]


def _otlp_proto(signal: Signal) -> Decoder:
    parse = REQUEST_TYPES[signal].FromString

    def decode(value: bytes) -> Message:
        try:
            request = parse(value)
            check_ids_encoded(signal, value, request)
        except (ProtoDecodeError, InvalidIDError) as exc:
            raise DecodeError(f"proto: {exc}") from None
        return request

    return decode


def _otlp_json(signal: Signal) -> Decoder:
    cls = REQUEST_TYPES[signal]

    def decode(value: bytes) -> Message:
        try:
            return otlpjson.decode(value, cls)
        except (otlpjson.OTLPJSONError, ValueError) as exc:
            raise DecodeError(str(exc)) from None

    return decode


def _zipkin(proto: bool) -> Decoder:
    from otelflow.translators.zipkin import ZipkinError, spans_from_json, spans_from_proto, to_otlp

    def decode(value: bytes) -> Message:
        try:
            spans = spans_from_proto(value, False) if proto else spans_from_json(value)
            return to_otlp(spans, False)
        except (ZipkinError, ProtoDecodeError, ValueError) as exc:
            raise DecodeError(str(exc)) from None

    return decode


def _jaeger(json: bool) -> Decoder:
    from otelflow.receivers.jaeger.idl import api_v2
    from otelflow.translators.jaeger import proto_to_traces

    def decode(value: bytes) -> Message:
        try:
            span = api_v2.Span()
            if json:
                json_format.Parse(value, span)
            else:
                span.ParseFromString(value)
            batch = api_v2.Batch()
            batch.spans.append(span)
            if span.HasField("process"):
                batch.process.CopyFrom(span.process)
            return proto_to_traces(batch)
        except (ProtoDecodeError, json_format.ParseError, ValueError) as exc:
            raise DecodeError(str(exc)) from None

    return decode


def _log_request(fill: Callable[[object], None], observed: bool) -> Message:
    request = REQUEST_TYPES[Signal.LOGS]()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    if observed:
        record.observed_time_unix_nano = time.time_ns()
    fill(record.body)
    return request


def _raw(value: bytes) -> Message:
    """The record value as a bytes body, as upstream's ``raw`` (no timestamps)."""
    return _log_request(lambda body: setattr(body, "bytes_value", bytes(value)), False)


def _json_logs(value: bytes) -> Message:
    """A JSON object as a map body; Go's encoding/json makes every number a float64."""
    try:
        tree = json.loads(value, parse_int=float)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(tree, dict):
        raise DecodeError(f"json: cannot unmarshal {type(tree).__name__} into Go value of type map[string]interface {{}}")
    return _log_request(lambda body: put_value(tree, body), True)


def _text(name: str) -> Decoder:
    """The value decoded from ``name`` (upstream's textutils names) as a string body."""
    codec = lookup_encoding(name)

    def decode(value: bytes) -> Message:
        text = bytes(value).decode("utf-8" if codec == NOP else codec, "replace")
        return _log_request(lambda body: setattr(body, "string_value", text), True)

    return decode


_TRACES_ONLY: dict[str, Callable[[], Decoder]] = {
    "zipkin_proto": lambda: _zipkin(True),
    "zipkin_json": lambda: _zipkin(False),
    "jaeger_proto": lambda: _jaeger(False),
    "jaeger_json": lambda: _jaeger(True),
}
# upstream has these, otelflow not yet: say so instead of "unrecognized"
_MISSING = {
    Signal.TRACES: {"zipkin_thrift"},
    Signal.LOGS: {"azure_resource_logs"},
}


def decoder(signal: Signal, encoding: str) -> Decoder:
    """The decoder for ``encoding``, or ValueError with upstream's message for an unknown one."""
    if encoding == "otlp_proto":
        return _otlp_proto(signal)
    if encoding == "otlp_json":
        return _otlp_json(signal)
    if signal is Signal.TRACES and encoding in _TRACES_ONLY:
        return _TRACES_ONLY[encoding]()
    if signal is Signal.LOGS:
        if encoding == "raw":
            return _raw
        if encoding == "json":
            return _json_logs
        if encoding == "text" or encoding.startswith("text_"):
            try:
                return _text(encoding[5:] if encoding.startswith("text_") else "utf-8")
            except ValueError as exc:
                raise ValueError(f"invalid text encoding: {exc}") from None
    if encoding in _MISSING.get(signal, ()):
        raise ValueError(f"{signal.value} encoding {encoding!r} is not implemented by otelflow's kafka receiver")
    raise ValueError(f'unrecognized {signal.value} encoding "{encoding}"')
