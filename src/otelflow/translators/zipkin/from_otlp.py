"""OTLP to Zipkin v2 (JSON or protobuf), as upstream's zipkinv2 FromTranslator and zipkin-go's
serializers do it (v0.161.0, feature gates at their defaults).

Resource and scope attributes become tags of every span, ``service.name`` (else ``faas.name``,
``k8s.deployment.name``, ``process.executable.name``) the local endpoint, ``network.*`` and
``net.*.port`` attributes the endpoints; events become annotations and links ``otlp.link.N`` tags
(attributes encoded as JSON). The JSON serializer lower-cases span and service names, rounds
times to microseconds and a sub-microsecond duration up to 1 µs; the protobuf one does neither.
"""

from __future__ import annotations

import dataclasses
import json

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otelflow.pdata.govalue import UnsupportedValueError, map_json, value_as_string
from otelflow.translators.zipkin import proto
from otelflow.translators.zipkin.model import U64, ip_string, parse_ip
from otelflow.translators.zipkin.to_otlp import NO_SERVICE_NAME, SERVICE_NAME_SOURCE, STATUS_CODES

_KINDS = {Span.SPAN_KIND_CLIENT: "CLIENT", Span.SPAN_KIND_SERVER: "SERVER",
          Span.SPAN_KIND_PRODUCER: "PRODUCER", Span.SPAN_KIND_CONSUMER: "CONSUMER"}
_STATUS_NAMES = {v: k for k, v in STATUS_CODES.items() if k.startswith("STATUS_CODE_")}
_SERVICE_KEYS = ("faas.name", "k8s.deployment.name", "process.executable.name")


class TranslationError(ValueError):
    """Data upstream refuses to export (a permanent error)."""


@dataclasses.dataclass(slots=True)
class ZEndpoint:
    service_name: str
    ip: bytes | None
    ipv6: bool
    port: int


@dataclasses.dataclass(slots=True)
class ZSpan:
    trace_id: bytes
    id: bytes
    parent_id: bytes
    name: str
    kind: str
    start: int  # ns, 0 when the start time is the epoch's first second (no timestamp)
    duration: int  # ns as a Go int64 (may be negative after wrapping)
    local: ZEndpoint | None
    remote: ZEndpoint | None
    annotations: list[tuple[int, str]]
    tags: dict[str, str]


def _as_string(value) -> str:
    return value_as_string(value, js_nonfinite=True)


def _go_json(kvs) -> str:
    """json.Marshal of Map.AsRaw(): sorted keys, HTML characters escaped."""
    try:
        text = map_json(kvs)
    except UnsupportedValueError as exc:
        raise TranslationError(str(exc)) from None
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _resource_tags(resource) -> tuple[str, dict[str, str]]:
    tags = {kv.key: _as_string(kv.value) for kv in resource.attributes}
    if not tags:
        return NO_SERVICE_NAME, tags
    if "cloud.resource_id" in tags:
        tags.setdefault("faas.id", tags["cloud.resource_id"])
        del tags["cloud.resource_id"]
    if "service.name" in tags:
        return tags.pop("service.name"), tags
    for key in _SERVICE_KEYS:
        if key in tags:
            name = tags.pop(key)
            tags[SERVICE_NAME_SOURCE] = key
            return name, tags
    return NO_SERVICE_NAME, tags


def _endpoint(tags: dict[str, str], service: str, remote: bool, redundant: set[str]) -> ZEndpoint | None:
    if remote:
        for key in ("service.peer.name", "peer.service"):
            if key in tags:
                service = tags[key]
                redundant.add(key)
                break
    ip_key, port_key = ("network.peer.address", "net.peer.port") if remote else ("network.local.address", "net.host.port")
    ip, ipv6 = None, False
    if ip_key in tags:
        ipv6 = ":" in tags[ip_key]
        ip = parse_ip(tags[ip_key])
        redundant.add(ip_key)
    port = 0
    if port_key in tags:
        text = tags[port_key]
        # strconv.ParseUint(text, 10, 16): its error is ignored, and out of range it returns the maximum
        port = min(int(text), 0xFFFF) if text.isascii() and text.isdigit() else 0
        redundant.add(port_key)
    if not service and ip is None:
        return None
    return ZEndpoint(service, ip, ipv6, port)


def _span(span: Span, service: str, base: dict[str, str]) -> ZSpan:
    tags = dict(base)
    for kv in span.attributes:
        tags[kv.key] = _as_string(kv.value)
    if "http.response.status_code" in tags:
        tags.setdefault("http.status_code", tags["http.response.status_code"])
    if not any(span.trace_id):
        raise TranslationError("TraceID is invalid")
    if not any(span.span_id):
        raise TranslationError("SpanID is invalid")
    if span.trace_state:
        tags["w3c.tracestate"] = span.trace_state
    start = span.start_time_unix_nano if span.start_time_unix_nano // 1_000_000_000 != 0 else 0
    duration = 0
    if span.end_time_unix_nano:
        duration = (span.end_time_unix_nano - span.start_time_unix_nano) & U64
        duration = duration - (1 << 64) if duration >> 63 else duration
    if span.kind == Span.SPAN_KIND_INTERNAL:
        tags["span.kind"] = "internal"
    redundant: set[str] = set()
    local = _endpoint(tags, service, False, redundant)
    remote = _endpoint(tags, "", True, redundant)
    for key in redundant:
        tags.pop(key, None)
    code = span.status.code
    if code == Status.STATUS_CODE_ERROR:
        tags["error"] = "true"
    else:
        tags.pop("error", None)
    if code != Status.STATUS_CODE_UNSET:
        tags["otel.status_code"] = _STATUS_NAMES.get(code, "")
        if span.status.message:
            tags["otel.status_description"] = span.status.message
    annotations = []
    for event in span.events:
        if not event.attributes and not event.dropped_attributes_count:
            annotations.append((event.time_unix_nano, event.name))
        else:
            annotations.append((event.time_unix_nano,
                                f"{event.name}|{_go_json(event.attributes)}|{event.dropped_attributes_count}"))
    for i, link in enumerate(span.links):
        tid = link.trace_id.hex() if any(link.trace_id) else ""
        sid = link.span_id.hex() if any(link.span_id) else ""
        tags[f"otlp.link.{i}"] = f"{tid}|{sid}|{link.trace_state}|{_go_json(link.attributes)}|{link.dropped_attributes_count}"
    return ZSpan(bytes(span.trace_id), bytes(span.span_id), bytes(span.parent_span_id) if any(span.parent_span_id) else b"",
                 span.name, _KINDS.get(span.kind, ""), start, duration, local, remote, annotations, tags)


def from_otlp(request) -> list[ZSpan]:
    out: list[ZSpan] = []
    for rs in request.resource_spans:
        if not rs.resource.attributes and not rs.scope_spans:
            continue
        service, tags = _resource_tags(rs.resource)
        for ss in rs.scope_spans:
            for kv in ss.scope.attributes:  # scope tags accumulate over the resource's scopes, as upstream
                tags[kv.key] = _as_string(kv.value)
            if ss.scope.name:
                tags["otel.library.name"] = ss.scope.name
            if ss.scope.version:
                tags["otel.library.version"] = ss.scope.version
            out.extend(_span(span, service, tags) for span in ss.spans)
    return out


# -- serializers ---------------------------------------------------------------------------------


def _json_endpoint(ep: ZEndpoint | None) -> dict | None:
    if ep is None or not (ep.service_name or ep.port or ep.ip):
        return None
    out: dict = {}
    if ep.service_name:
        out["serviceName"] = ep.service_name.lower()
    if ep.ip:
        out["ipv6" if ep.ipv6 else "ipv4"] = ip_string(ep.ip)
    if ep.port:
        out["port"] = ep.port
    return out


def to_json(spans: list[ZSpan]) -> bytes:
    """zipkin-go's JSONSerializer: a JSON array of v2 spans."""
    items = []
    for s in spans:
        item: dict = {}
        if s.start:
            item["timestamp"] = (s.start + 500) // 1000
        duration = s.duration
        if duration < 0:
            raise TranslationError("valid duration required")
        micros = (1 if duration else 0) if duration < 1000 else (duration + 500) // 1000
        if micros:
            item["duration"] = micros
        high, low = int.from_bytes(s.trace_id[:8], "big"), int.from_bytes(s.trace_id[8:], "big")
        item["traceId"] = f"{low:016x}" if high == 0 else f"{high:016x}{low:016x}"
        item["id"] = s.id.hex()
        if s.parent_id:
            item["parentId"] = s.parent_id.hex()
        if s.name:
            item["name"] = s.name.lower()
        if s.kind:
            item["kind"] = s.kind
        for key, ep in (("localEndpoint", s.local), ("remoteEndpoint", s.remote)):
            encoded = _json_endpoint(ep)
            if encoded is not None:
                item[key] = encoded
        if s.annotations:
            item["annotations"] = [{"timestamp": (ts + 500) // 1000, "value": v} for ts, v in s.annotations]
        if s.tags:
            item["tags"] = dict(sorted(s.tags.items()))
        items.append(item)
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()


def _proto_endpoint(ep: ZEndpoint | None, dest) -> None:
    if ep is None:
        return
    dest.SetInParent()
    dest.service_name = ep.service_name
    if ep.ip:
        if ep.ipv6:
            dest.ipv6 = ep.ip
        else:
            dest.ipv4 = ep.ip
    dest.port = ep.port


def to_proto(spans: list[ZSpan]) -> bytes:
    """zipkin-go's zipkin_proto3 SpanSerializer: a ListOfSpans."""
    message = proto.ListOfSpans()
    for s in spans:
        ps = message.spans.add(
            trace_id=s.trace_id, parent_id=s.parent_id or bytes(8), id=s.id,
            kind=proto.KIND_NUMBERS.get(s.kind, 0), name=s.name,
            timestamp=(s.start + 500) // 1000 if s.start else 0,
            duration=int(s.duration / 1000) & U64,  # Go's integer division truncates toward zero
        )
        ps.tags.update(s.tags)
        _proto_endpoint(s.local, ps.local_endpoint)
        _proto_endpoint(s.remote, ps.remote_endpoint)
        for ts, value in s.annotations:
            ps.annotations.add(timestamp=ts // 1000, value=value)
    return message.SerializeToString()
