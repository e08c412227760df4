"""Pieces both Jaeger translators share: attribute maps with pcommon's semantics, status and kind rules.

The OTLP attribute list is edited in place with the semantics of pcommon.Map, because the order of
the result is observable: ``Put`` on an existing key replaces the value where it stands, and
``Remove`` moves the last entry into the removed one's place.
"""

from __future__ import annotations

import re

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

U64 = (1 << 64) - 1
# A tag under either HTTP status key is written as semconv 1.25's http.status_code: the translator's
# feature gates pkg.translator.jaeger.EmitV1HttpConventions / DontEmitV0HttpConventions are alpha (off).
HTTP_STATUS_KEYS = ("http.status_code", "http.response.status_code")
HTTP_STATUS_CODE = "http.status_code"
KINDS = {
    "client": Span.SPAN_KIND_CLIENT,
    "server": Span.SPAN_KIND_SERVER,
    "producer": Span.SPAN_KIND_PRODUCER,
    "consumer": Span.SPAN_KIND_CONSUMER,
    "internal": Span.SPAN_KIND_INTERNAL,
}
REF_TYPES = ("child_of", "follows_from")
_DECIMAL = re.compile(r"[+-]?[0-9]+")


def trace_id(high: int, low: int) -> bytes:
    """16 big-endian bytes; the all-zero ID is left empty, as pdata leaves it off the wire."""
    high &= U64
    low &= U64
    return b"" if not (high or low) else high.to_bytes(8, "big") + low.to_bytes(8, "big")


def span_id(value: int) -> bytes:
    value &= U64
    return b"" if not value else value.to_bytes(8, "big")


def text(value: str | bytes | None) -> str:
    """A Thrift string as thriftpy2 hands it over: str, or the raw bytes when they are not UTF-8
    (Go keeps them as they are; JSON output shows U+FFFD for them, as here)."""
    if isinstance(value, str):
        return value
    return value.decode("utf-8", "replace") if value else ""


def as_str(value: AnyValue | None) -> str:
    """pcommon's Value.Str(): the string, or "" for any other type."""
    return value.string_value if value is not None and value.WhichOneof("value") == "string_value" else ""


class Attrs:
    """A repeated KeyValue field edited like pcommon.Map."""

    __slots__ = ("field", "index")

    def __init__(self, field) -> None:
        self.field = field
        self.index: dict[str, int] = {kv.key: i for i, kv in enumerate(field)}

    def __len__(self) -> int:
        return len(self.field)

    def get(self, key: str) -> AnyValue | None:
        i = self.index.get(key)
        return None if i is None else self.field[i].value

    def put_empty(self, key: str) -> AnyValue:
        i = self.index.get(key)
        if i is None:
            self.index[key] = len(self.field)
            return self.field.add(key=key).value
        value = self.field[i].value
        value.Clear()
        return value

    def remove(self, key: str) -> bool:
        i = self.index.pop(key, None)
        if i is None:
            return False
        last = len(self.field) - 1
        if i != last:
            moved = self.field[last]
            self.field[i].CopyFrom(moved)
            self.index[moved.key] = i
        del self.field[last]
        return True


def translate_resource(attrs: Attrs) -> None:
    """hostname -> host.name and jaeger.version -> opencensus.exporterversion, unless already there."""
    hostname = attrs.get("hostname")
    if hostname is not None and attrs.get("host.name") is None:
        copy = AnyValue()
        copy.CopyFrom(hostname)
        attrs.put_empty("host.name").CopyFrom(copy)
        attrs.remove("hostname")
    version = attrs.get("jaeger.version")
    if version is not None and attrs.get("opencensus.exporterversion") is None:
        attrs.put_empty("opencensus.exporterversion").string_value = "Jaeger-" + as_str(version)
        attrs.remove("jaeger.version")


def set_kind(attrs: Attrs, span: Span) -> None:
    kind = attrs.get("span.kind")
    if kind is not None:
        span.kind = KINDS.get(as_str(kind), Span.SPAN_KIND_UNSPECIFIED)
        attrs.remove("span.kind")


def _status_description(attrs: Attrs) -> str | None:
    value = attrs.get("otel.status_description")
    if value is None:
        return None
    text = as_str(value)
    attrs.remove("otel.status_description")
    return text


def _http_code(value: AnyValue) -> int | None:
    which = value.WhichOneof("value")
    if which == "int_value":
        return value.int_value
    if which == "string_value" and _DECIMAL.fullmatch(value.string_value):
        number = int(value.string_value)  # Go's strconv.ParseInt: int64 range only
        return number if -(1 << 63) <= number < (1 << 63) else None
    return None


def set_status(attrs: Attrs, span: Span) -> None:
    """The error tag first, then otel.status_code, then the HTTP status code, as upstream decides."""
    code, message, exists = Status.STATUS_CODE_UNSET, "", False
    error = attrs.get("error")
    if error is not None and error.WhichOneof("value") == "bool_value" and error.bool_value:
        code, exists = Status.STATUS_CODE_ERROR, True
        attrs.remove("error")
        desc = _status_description(attrs)
        if desc is not None:
            message = desc
        else:
            message = as_str(attrs.get("http.status_message")) if attrs.get("http.status_message") is not None else ""
    otel_code = attrs.get("otel.status_code")
    if otel_code is not None:
        if not exists:
            exists = True
            upper = as_str(otel_code).upper()
            if upper == "OK":
                code = Status.STATUS_CODE_OK
            elif upper == "ERROR":
                code = Status.STATUS_CODE_ERROR
            desc = _status_description(attrs)
            if desc is not None:
                message = desc
        attrs.remove("otel.status_code")
    elif not exists:
        http = attrs.get("http.status_code")
        if http is None:
            http = attrs.get("http.response.status_code")
        number = None if http is None else _http_code(http)
        if number is not None:
            if 400 <= number < 500 and span.kind == Span.SPAN_KIND_CLIENT:
                http_status = Status.STATUS_CODE_ERROR
            elif 400 <= number < 500 and span.kind == Span.SPAN_KIND_SERVER:
                http_status = Status.STATUS_CODE_UNSET
            elif 100 <= number < 399:
                http_status = Status.STATUS_CODE_UNSET
            else:
                http_status = Status.STATUS_CODE_ERROR
            if http_status != Status.STATUS_CODE_UNSET:
                exists, code = True, http_status
            msg = attrs.get("http.status_message")
            if msg is not None:
                message = as_str(msg)
    if exists:
        span.status.code = code
        span.status.message = message
