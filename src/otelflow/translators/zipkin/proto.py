"""Zipkin's v2 protobuf messages (package ``zipkin.proto3``), built at import time.

The schema is written here from Zipkin's documented proto3 format rather than copied as generated
code: the descriptor is a dozen fields, building it with ``descriptor_pb2`` needs no build step, and
the resulting classes are ordinary (upb-backed) protobuf messages, so decoding stays in C.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "zipkin.proto3"


def _field(msg, name: str, number: int, ftype: int, label: int = _F.LABEL_OPTIONAL, type_name: str = "") -> None:
    f = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        f.type_name = type_name


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="otelflow/zipkin_proto3.proto", package=_PACKAGE, syntax="proto3")

    ep = fd.message_type.add(name="Endpoint")
    _field(ep, "service_name", 1, _F.TYPE_STRING)
    _field(ep, "ipv4", 2, _F.TYPE_BYTES)
    _field(ep, "ipv6", 3, _F.TYPE_BYTES)
    _field(ep, "port", 4, _F.TYPE_INT32)

    an = fd.message_type.add(name="Annotation")
    _field(an, "timestamp", 1, _F.TYPE_FIXED64)
    _field(an, "value", 2, _F.TYPE_STRING)

    sp = fd.message_type.add(name="Span")
    kind = sp.enum_type.add(name="Kind")
    for number, name in enumerate(("SPAN_KIND_UNSPECIFIED", "CLIENT", "SERVER", "PRODUCER", "CONSUMER")):
        kind.value.add(name=name, number=number)
    tags = sp.nested_type.add(name="TagsEntry")
    tags.options.map_entry = True
    _field(tags, "key", 1, _F.TYPE_STRING)
    _field(tags, "value", 2, _F.TYPE_STRING)
    _field(sp, "trace_id", 1, _F.TYPE_BYTES)
    _field(sp, "parent_id", 2, _F.TYPE_BYTES)
    _field(sp, "id", 3, _F.TYPE_BYTES)
    _field(sp, "kind", 4, _F.TYPE_ENUM, type_name=f".{_PACKAGE}.Span.Kind")
    _field(sp, "name", 5, _F.TYPE_STRING)
    _field(sp, "timestamp", 6, _F.TYPE_FIXED64)
    _field(sp, "duration", 7, _F.TYPE_UINT64)
    _field(sp, "local_endpoint", 8, _F.TYPE_MESSAGE, type_name=f".{_PACKAGE}.Endpoint")
    _field(sp, "remote_endpoint", 9, _F.TYPE_MESSAGE, type_name=f".{_PACKAGE}.Endpoint")
    _field(sp, "annotations", 10, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, f".{_PACKAGE}.Annotation")
    _field(sp, "tags", 11, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, f".{_PACKAGE}.Span.TagsEntry")
    _field(sp, "debug", 12, _F.TYPE_BOOL)
    _field(sp, "shared", 13, _F.TYPE_BOOL)

    ls = fd.message_type.add(name="ListOfSpans")
    _field(ls, "spans", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, f".{_PACKAGE}.Span")
    return fd


# A private pool: another package registering zipkin.proto3 in the default pool cannot clash with us.
_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())
_classes = message_factory.GetMessages([_file()], pool=_POOL)

Endpoint = _classes[f"{_PACKAGE}.Endpoint"]
Annotation = _classes[f"{_PACKAGE}.Annotation"]
Span = _classes[f"{_PACKAGE}.Span"]
ListOfSpans = _classes[f"{_PACKAGE}.ListOfSpans"]
KIND_NAMES = {0: "SPAN_KIND_UNSPECIFIED", 1: "CLIENT", 2: "SERVER", 3: "PRODUCER", 4: "CONSUMER"}
KIND_NUMBERS = {name: number for number, name in KIND_NAMES.items()}
