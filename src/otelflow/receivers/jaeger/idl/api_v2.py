"""Jaeger's api_v2 protobuf model and CollectorService, built at import time.

The messages are declared here from Jaeger's documented ``model.proto`` and ``collector.proto``
(package ``jaeger.api_v2``; names and field numbers are the wire format) and turned into classes
with ``descriptor_pb2`` + ``message_factory`` in a private descriptor pool, so nothing generated
is vendored and no other registration of the same names can clash.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, message_factory, timestamp_pb2

F = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
_PKG = "jaeger.api_v2"

# (name, number, type, label, type_name)
_MESSAGES: dict[str, list[tuple[str, int, int, int, str]]] = {
    "KeyValue": [
        ("key", 1, F.TYPE_STRING, _OPT, ""),
        ("v_type", 2, F.TYPE_ENUM, _OPT, ".jaeger.api_v2.ValueType"),
        ("v_str", 3, F.TYPE_STRING, _OPT, ""),
        ("v_bool", 4, F.TYPE_BOOL, _OPT, ""),
        ("v_int64", 5, F.TYPE_INT64, _OPT, ""),
        ("v_float64", 6, F.TYPE_DOUBLE, _OPT, ""),
        ("v_binary", 7, F.TYPE_BYTES, _OPT, ""),
    ],
    "Log": [
        ("timestamp", 1, F.TYPE_MESSAGE, _OPT, ".google.protobuf.Timestamp"),
        ("fields", 2, F.TYPE_MESSAGE, _REP, ".jaeger.api_v2.KeyValue"),
    ],
    "SpanRef": [
        ("trace_id", 1, F.TYPE_BYTES, _OPT, ""),
        ("span_id", 2, F.TYPE_BYTES, _OPT, ""),
        ("ref_type", 3, F.TYPE_ENUM, _OPT, ".jaeger.api_v2.SpanRefType"),
    ],
    "Process": [
        ("service_name", 1, F.TYPE_STRING, _OPT, ""),
        ("tags", 2, F.TYPE_MESSAGE, _REP, ".jaeger.api_v2.KeyValue"),
    ],
    "Span": [
        ("trace_id", 1, F.TYPE_BYTES, _OPT, ""),
        ("span_id", 2, F.TYPE_BYTES, _OPT, ""),
        ("operation_name", 3, F.TYPE_STRING, _OPT, ""),
        ("references", 4, F.TYPE_MESSAGE, _REP, ".jaeger.api_v2.SpanRef"),
        ("flags", 5, F.TYPE_UINT32, _OPT, ""),
        ("start_time", 6, F.TYPE_MESSAGE, _OPT, ".google.protobuf.Timestamp"),
        ("duration", 7, F.TYPE_MESSAGE, _OPT, ".google.protobuf.Duration"),
        ("tags", 8, F.TYPE_MESSAGE, _REP, ".jaeger.api_v2.KeyValue"),
        ("logs", 9, F.TYPE_MESSAGE, _REP, ".jaeger.api_v2.Log"),
        ("process", 10, F.TYPE_MESSAGE, _OPT, ".jaeger.api_v2.Process"),
        ("process_id", 11, F.TYPE_STRING, _OPT, ""),
        ("warnings", 12, F.TYPE_STRING, _REP, ""),
    ],
    "Batch": [
        ("spans", 1, F.TYPE_MESSAGE, _REP, ".jaeger.api_v2.Span"),
        ("process", 2, F.TYPE_MESSAGE, _OPT, ".jaeger.api_v2.Process"),
    ],
    "PostSpansRequest": [("batch", 1, F.TYPE_MESSAGE, _OPT, ".jaeger.api_v2.Batch")],
    "PostSpansResponse": [],
}
_ENUMS = {
    "ValueType": ["STRING", "BOOL", "INT64", "FLOAT64", "BINARY"],
    "SpanRefType": ["CHILD_OF", "FOLLOWS_FROM"],
}

SERVICE = f"{_PKG}.CollectorService"
POST_SPANS = f"/{SERVICE}/PostSpans"


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="otelflow/jaeger/api_v2.proto", package=_PKG, syntax="proto3")
    fd.dependency.extend(["google/protobuf/timestamp.proto", "google/protobuf/duration.proto"])
    for name, values in _ENUMS.items():
        enum = fd.enum_type.add(name=name)
        for number, value in enumerate(values):
            enum.value.add(name=value, number=number)
    for name, fields in _MESSAGES.items():
        msg = fd.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = msg.field.add(name=fname, number=number, type=ftype, label=label, json_name=_camel(fname))
            if type_name:
                field.type_name = type_name
    service = fd.service.add(name="CollectorService")
    service.method.add(name="PostSpans", input_type=".jaeger.api_v2.PostSpansRequest",
                       output_type=".jaeger.api_v2.PostSpansResponse")
    return fd


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


_pool = descriptor_pool.DescriptorPool()
for _dep in (timestamp_pb2, duration_pb2):
    _pool.Add(descriptor_pb2.FileDescriptorProto.FromString(_dep.DESCRIPTOR.serialized_pb))
_pool.Add(_file())


def _cls(name: str):
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{_PKG}.{name}"))


KeyValue = _cls("KeyValue")
Log = _cls("Log")
SpanRef = _cls("SpanRef")
Process = _cls("Process")
Span = _cls("Span")
Batch = _cls("Batch")
PostSpansRequest = _cls("PostSpansRequest")
PostSpansResponse = _cls("PostSpansResponse")

# enum numbers, as in model.proto
STRING, BOOL, INT64, FLOAT64, BINARY = range(5)
CHILD_OF, FOLLOWS_FROM = 0, 1

# the well-known types as this pool knows them (fields of the messages above take only these)
Timestamp = message_factory.GetMessageClass(_pool.FindMessageTypeByName("google.protobuf.Timestamp"))
Duration = message_factory.GetMessageClass(_pool.FindMessageTypeByName("google.protobuf.Duration"))
