"""Zipkin v2 spans to OTLP, as upstream's zipkinv2 ToTranslator does it (v0.161.0).

Spans are grouped into one resource per local service name and one scope per instrumentation
library tag, after upstream's sort; tags become attributes (typed when ``parse_string_tags``),
annotations events, endpoints network attributes. The translator's feature gates are at their
v0.161.0 defaults: the beta network gates on (``network.*`` / ``service.peer.name`` instead of
``net.*.ip`` / ``peer.service``), the alpha HTTP, cloud and scope gates off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otelflow.translators.zipkin.gosort import go_sort
from otelflow.translators.zipkin.model import U64, SpanModel, ZipkinError, ip_string

NO_SERVICE_NAME = "OTLPResourceNoServiceName"
START_TIME_ABSENT = "otel.zipkin.absentField.startTime"
SERVICE_NAME_SOURCE = "otlp.service.name.source"
LIBRARY_NAME, LIBRARY_VERSION = "otel.library.name", "otel.library.version"
SCOPE_NAME, SCOPE_VERSION = "otel.scope.name", "otel.scope.version"
RESOURCE_KEYS = (
    "cloud.provider cloud.account.id cloud.region cloud.availability_zone cloud.platform aws.ecs.container.arn "
    "aws.ecs.cluster.arn aws.ecs.launchtype aws.ecs.task.arn aws.ecs.task.family aws.ecs.task.revision "
    "aws.eks.cluster.arn aws.log.group.names aws.log.group.arns aws.log.stream.names aws.log.stream.arns "
    "container.name container.id container.runtime container.image.name container.image.tag "
    "deployment.environment device.id device.model.identifier device.model.name device.manufacturer faas.name "
    "faas.id cloud.resource_id faas.version faas.instance faas.max_memory host.id host.name host.type host.arch "
    "host.image.name host.image.id host.image.version k8s.cluster.name k8s.node.name k8s.node.uid "
    "k8s.namespace.name k8s.pod.uid k8s.pod.name k8s.container.name k8s.container.restart_count "
    "k8s.replicaset.uid k8s.replicaset.name k8s.deployment.uid k8s.deployment.name k8s.statefulset.uid "
    "k8s.statefulset.name k8s.daemonset.uid k8s.daemonset.name k8s.job.uid k8s.job.name k8s.cronjob.uid "
    "k8s.cronjob.name os.type os.description os.name os.version process.pid process.executable.name "
    "process.executable.path process.command process.command_line process.command_args process.owner "
    "process.runtime.name process.runtime.version process.runtime.description service.name service.namespace "
    "service.instance.id service.version telemetry.sdk.name telemetry.sdk.language telemetry.sdk.version "
    "telemetry.auto.version webengine.name webengine.version webengine.description"
).split()
_SCOPE_KEYS = (LIBRARY_NAME, LIBRARY_VERSION, SCOPE_NAME, SCOPE_VERSION)
# Tags that never become span attributes (they describe the resource or the scope).
NON_SPAN_KEYS = frozenset(RESOURCE_KEYS) | {SERVICE_NAME_SOURCE, *_SCOPE_KEYS, "opencensus.starttime",
                                             "opencensus.exporterversion", "opencensus.resourcetype"}
_KINDS = {"CLIENT": Span.SPAN_KIND_CLIENT, "SERVER": Span.SPAN_KIND_SERVER,
          "PRODUCER": Span.SPAN_KIND_PRODUCER, "CONSUMER": Span.SPAN_KIND_CONSUMER}
STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2, "Unset": 0, "Ok": 1, "Error": 2}
_INT = re.compile(r"-?[0-9]+")
_DOUBLE = re.compile(r"-?[0-9]+\.[0-9]+")
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


def typed_value(text: str, parse: bool) -> tuple[str, object]:
    """A tag value as an AnyValue field: with ``parse_string_tags``, ints, doubles and bools typed."""
    if parse:
        if _INT.fullmatch(text):
            return "int_value", max(I64_MIN, min(I64_MAX, int(text)))  # ParseInt clamps on overflow
        if _DOUBLE.fullmatch(text):
            return "double_value", float(text)
        if text in ("true", "false"):
            return "bool_value", text == "true"
    return "string_value", text


def put_all(dest, attrs: dict[str, tuple[str, object]]) -> None:
    dest.extend(KeyValue(key=k, value={field: v}) for k, (field, v) in attrs.items())


def _service(span: SpanModel | None) -> str:
    if span is None or span.local_endpoint is None or not span.local_endpoint.service_name:
        return NO_SERVICE_NAME
    return span.local_endpoint.service_name


def _library(span: SpanModel | None) -> str:
    if span is None or not span.tags:
        return ""
    if SCOPE_NAME in span.tags:
        return span.tags[SCOPE_NAME]
    return span.tags.get(LIBRARY_NAME, "")


def sort_spans(spans: list[SpanModel | None]) -> list[SpanModel | None]:
    """The spans in the order upstream's sort.Sort leaves them. Its Less compares (local service,
    library) with ``<= 0``; each distinct key is ranked once so that Less is an integer ``<=``."""
    keys = [(_service(s), _library(s)) for s in spans]
    rank = {key: i for i, key in enumerate(sorted(set(keys)))}
    items = [(rank[key], s) for key, s in zip(keys, spans)]
    go_sort(items, lambda x, y: x[0] <= y[0])
    return [s for _, s in items]


def to_otlp(spans: Iterable[SpanModel | None], parse_string_tags: bool = False) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    prev_service = ""
    prev_library = ""
    rs = scope_spans = None
    new_resource = True
    for zspan in sort_spans(list(spans)):
        if zspan is None:
            continue
        tags = dict(zspan.tags)
        service = _service(zspan)
        if service != prev_service:
            prev_service = service
            rs = request.resource_spans.add()
            _resource(tags, service, rs.resource.attributes)
            prev_library = ""
            new_resource = True
        library = _library(zspan)
        if library != prev_library or new_resource:
            prev_library = library
            new_resource = False
            scope_spans = rs.scope_spans.add()
            _scope(tags, library, scope_spans.scope)
        _span(zspan, tags, scope_spans.spans.add(), parse_string_tags)
    return request


def _resource(tags: dict[str, str], service: str, dest) -> None:
    if service == NO_SERVICE_NAME:
        return
    attrs: dict[str, tuple[str, object]] = {}
    source = tags.pop(SERVICE_NAME_SOURCE, "") or "service.name"
    attrs[source] = ("string_value", service)
    for key in NON_SPAN_KEYS:
        if key in _SCOPE_KEYS:
            continue
        if key in tags:
            attrs[key] = ("string_value", tags.pop(key))
    put_all(dest, attrs)


def _scope(tags: dict[str, str], library: str, scope) -> None:
    if not library:
        return
    for key in (LIBRARY_NAME, SCOPE_NAME):
        if key in tags:
            scope.name = tags.pop(key)
    for key in (LIBRARY_VERSION, SCOPE_VERSION):
        if key in tags:
            scope.version = tags.pop(key)


def _id(value: int) -> bytes:
    return value.to_bytes(8, "big") if value else b""


def _span(z: SpanModel, tags: dict[str, str], dest: Span, parse: bool) -> None:
    if z.trace_high or z.trace_low:
        dest.trace_id = z.trace_high.to_bytes(8, "big") + z.trace_low.to_bytes(8, "big")
    dest.span_id = _id(z.id)
    if "w3c.tracestate" in tags:
        dest.trace_state = tags.pop("w3c.tracestate")
    if z.parent_id is not None and z.parent_id != z.id:
        dest.parent_span_id = _id(z.parent_id)
    dest.name = z.name
    dest.kind = _kind(z.kind, tags)
    _status(tags, dest.status)
    _links(tags, dest)
    attrs: dict[str, tuple[str, object]] = {}
    for key, value in tags.items():
        if key not in NON_SPAN_KEYS:
            attrs[key] = typed_value(value, parse)
    local, remote = z.local_endpoint, z.remote_endpoint
    if local is not None:
        if local.ipv4:
            attrs["network.local.address"] = ("string_value", ip_string(local.ipv4))
        if local.ipv6:
            attrs["network.local.address"] = ("string_value", ip_string(local.ipv6))
        if local.port > 0:
            attrs["net.host.port"] = ("int_value", local.port)
    if remote is not None:
        if remote.service_name:
            attrs["service.peer.name"] = ("string_value", remote.service_name)
        if remote.ipv4:
            attrs["network.peer.address"] = ("string_value", ip_string(remote.ipv4))
        if remote.ipv6:
            attrs["network.peer.address"] = ("string_value", ip_string(remote.ipv6))
        if remote.port > 0:
            attrs["net.peer.port"] = ("int_value", remote.port)
    if z.timestamp is None:
        dest.start_time_unix_nano = 0
        dest.end_time_unix_nano = z.duration & U64
        attrs[START_TIME_ABSENT] = ("bool_value", True)
    else:
        dest.start_time_unix_nano = z.timestamp & U64
        dest.end_time_unix_nano = (z.timestamp + z.duration) & U64
    put_all(dest.attributes, attrs)
    _events(z, dest)


def _kind(kind: str, tags: dict[str, str]) -> int:
    if kind in _KINDS:
        return _KINDS[kind]
    if "span.kind" in tags and tags.pop("span.kind") == "internal":
        return Span.SPAN_KIND_INTERNAL
    return Span.SPAN_KIND_UNSPECIFIED


def _status(tags: dict[str, str], status: Status) -> None:
    if "otel.status_code" in tags:
        status.code = STATUS_CODES.get(tags.pop("otel.status_code"), 0)
        if "otel.status_description" in tags:
            status.message = tags.pop("otel.status_description")
    if "error" in tags:
        status.code = Status.STATUS_CODE_ERROR
        if tags["error"] == "true":
            del tags["error"]


def _hex_id(text: str, size: int) -> bytes:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    if not text:
        return b""
    if len(text) != 2 * size:  # hex.DecodedLen of an odd length rounds down, as Go's
        if len(text) // 2 != size:
            raise ZipkinError("invalid length for ID")
    try:
        raw = bytes.fromhex(text[: 2 * size]) if len(text) % 2 == 0 else None
    except ValueError:
        raw = None
    if raw is None:
        raise ZipkinError(f"cannot unmarshal ID from string '{text}': encoding/hex: invalid byte")
    return b"" if raw == bytes(size) else raw


def _json_attrs(text: str, dest) -> None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ZipkinError(str(exc)) from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise ZipkinError("json: cannot unmarshal into Go value of type map[string]interface {}")
    attrs: dict[str, tuple[str, object]] = {}
    for key, value in data.items():
        if isinstance(value, str):
            attrs[key] = ("string_value", value)
        elif isinstance(value, bool):
            attrs[key] = ("bool_value", value)
        elif isinstance(value, (int, float)):
            number = float(value)
            if number.is_integer():
                # int64(float64) out of range is the "integer indefinite" value on amd64
                whole = int(number)
                attrs[key] = ("int_value", whole if I64_MIN <= whole <= I64_MAX else I64_MIN)
            else:
                attrs[key] = ("double_value", number)
    put_all(dest, attrs)


def _dropped(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 0xFFFFFFFF:
        raise ZipkinError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    return int(text)


def _links(tags: dict[str, str], dest: Span) -> None:
    for i in range(128):
        key = f"otlp.link.{i}"
        if key not in tags:
            return
        parts = tags.pop(key).split("|")
        if len(parts) < 5:
            continue
        link = dest.links.add()
        link.trace_id = _hex_id(parts[0], 16)
        link.span_id = _hex_id(parts[1], 8)
        link.trace_state = parts[2]
        _json_attrs(parts[3] if len(parts) == 5 else "|".join(parts[3:-1]), link.attributes)
        link.dropped_attributes_count = _dropped(parts[-1])


def _events(z: SpanModel, dest: Span) -> None:
    for ts, value in z.annotations:
        event = dest.events.add(time_unix_nano=ts & U64)
        parts = value.split("|")
        event.name = parts[0]
        if len(parts) < 3:
            continue
        _json_attrs(parts[1] if len(parts) == 3 else "|".join(parts[1:-1]), event.attributes)
        event.dropped_attributes_count = _dropped(parts[-1])
