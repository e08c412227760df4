"""OTLP/JSON as the OTLP spec and upstream's pdata write it (byte for byte: field order, empty
objects upstream always writes, Go's number formatting): lowerCamelCase keys, hex trace and span
IDs, 64-bit integers as strings, enums as numbers; on input also enum names, numbers for 64-bit
integers, snake_case keys and unknown fields (ignored)."""

from __future__ import annotations

import base64
import functools
import json
import math
from decimal import Decimal
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from otelflow.pdata.otlpjson_layout import LAYOUT

# ID field -> length in bytes (an empty string is also allowed, as upstream)
_ID_KEYS = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8, "parentSpanId": 8, "parent_span_id": 8}


class OTLPJSONError(ValueError):
    pass


def decode(body: bytes | str, message_type: type[Message]) -> Message:
    try:
        tree = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OTLPJSONError(f"invalid JSON: {exc}") from None
    if not isinstance(tree, dict):
        raise OTLPJSONError("invalid JSON: expected an object at the top level")
    _ids_hex_to_base64(tree)
    message = message_type()
    try:
        json_format.ParseDict(tree, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OTLPJSONError(str(exc)) from None
    return message


def to_dict(message: Message) -> dict:
    return json.loads(encode(message))


def encode(message: Message) -> bytes:
    """Byte for byte what upstream's pdata JSON marshaler writes for the same message."""
    out: list[str] = []
    _write_message(message, out)
    return "".join(out).encode()


# -- writer ------------------------------------------------------------------------------------

_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update({ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_HEX_IDS = frozenset({"traceId", "spanId", "parentSpanId"})
_QUOTED = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64,
           FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_SINT64}


def _string(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


def go_float(value: float) -> str:
    """A float64 as Go's strconv.AppendFloat(v, 'f' or 'e', -1, 64) writes it, as jsoniter chooses."""
    if value != value:
        return '"NaN"'
    if value in (math.inf, -math.inf):
        return '"Infinity"' if value > 0 else '"-Infinity"'
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return repr(value)  # shortest digits, e.g. 1e+21, 1.5e-07: the same as Go's 'e' form
    text = format(Decimal(repr(value)).normalize(), "f")
    return "-0" if value == 0 and math.copysign(1, value) < 0 else text


def _scalar(field: FieldDescriptor, name: str, value) -> str:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return _string(value)
    if t == FieldDescriptor.TYPE_BYTES:
        if name in _HEX_IDS:
            return '"' + value.hex() + '"'
        return '"' + base64.b64encode(value).decode() + '"'
    if t in _QUOTED:
        return f'"{value}"'
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return go_float(value)
    if t == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    return str(int(value))  # int32, uint32, fixed32, enums


@functools.lru_cache(maxsize=None)
def _plan(descriptor) -> tuple:
    """(json name, field, always written, oneof name) in upstream's order for one message type."""
    key = descriptor.full_name[len(descriptor.file.package) + 1:].replace(".", "")
    by_json = {f.json_name: f for f in descriptor.fields}
    order = LAYOUT.get(key)
    if order is None:  # not a type upstream writes: declaration order, only what is set
        order = tuple((f.json_name, False) for f in descriptor.fields)
    plan = []
    for name, always in order:
        field = by_json.get(name)
        if field is not None:
            oneof = field.containing_oneof.name if field.containing_oneof is not None else None
            plan.append((name, field, always, oneof))
    return tuple(plan)


def _write_message(message: Message, out: list[str]) -> None:
    out.append("{")
    first = True
    for name, field, always, oneof in _plan(message.DESCRIPTOR):
        if oneof is not None:
            if message.WhichOneof(oneof) != field.name:
                continue
        elif field.is_repeated:
            if not getattr(message, field.name):
                continue
        elif field.message_type is not None or field.has_presence:
            if not always and not message.HasField(field.name):
                continue
        elif not always and not getattr(message, field.name):
            continue
        out.append(f'"{name}":' if first else f',"{name}":')
        first = False
        value = getattr(message, field.name)
        if field.is_repeated:
            out.append("[")
            for i, item in enumerate(value):
                if i:
                    out.append(",")
                if field.message_type is not None:
                    _write_message(item, out)
                else:
                    out.append(_scalar(field, name, item))
            out.append("]")
        elif field.message_type is not None:
            _write_message(value, out)
        else:
            out.append(_scalar(field, name, value))
    out.append("}")


def _ids_hex_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    raw = bytes.fromhex(value)
                except ValueError:
                    raise OTLPJSONError(f'{key}: "{value}" is not a hex-encoded ID') from None
                if raw and len(raw) != _ID_KEYS[key]:
                    raise OTLPJSONError(f'{key}: invalid length for ID "{value}"')
                node[key] = base64.b64encode(raw).decode()
            elif isinstance(value, (dict, list)):
                _ids_hex_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _ids_hex_to_base64(item)
