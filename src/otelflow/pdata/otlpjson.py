"""OTLP/JSON as the OTLP spec and upstream's pdata write it (byte for byte: field order, empty
objects upstream always writes, Go's number formatting): lowerCamelCase keys, hex trace and span
IDs, 64-bit integers as strings, enums as numbers; on input also enum names, numbers for 64-bit
integers, snake_case keys and unknown fields (ignored)."""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from decimal import Decimal
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from otelflow.pdata.otlpjson_layout import LAYOUT

# ID field -> length in bytes (an empty string is also allowed, as upstream)
_ID_KEYS = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8, "parentSpanId": 8, "parent_span_id": 8,
            "profileId": 16, "profile_id": 16}


class OTLPJSONError(ValueError):
    """``unquotable`` marks an error whose upstream message carries a byte that is not UTF-8, which
    upstream then fails to encode into its Status, answering 500 instead of 400."""

    def __init__(self, message: str, unquotable: bool = False):
        super().__init__(message)
        self.unquotable = unquotable


def decode(body: bytes | str, message_type: type[Message]) -> Message:
    """Read OTLP/JSON as upstream's pdata reader does: what it refuses is an OTLPJSONError, what it
    lets through (``null`` for an object, bytes after the top-level object, invalid UTF-8 in a
    string) is taken the same way. Other message types go through protobuf's own JSON reader."""
    if not message_type.DESCRIPTOR.full_name.startswith("opentelemetry."):
        return _decode_generic(body, message_type)
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray, memoryview)) else body
    text = text.lstrip(" \t\n\r")  # what jsoniter skips before a token
    try:
        tree, _ = _JSON.raw_decode(text)  # anything after the first value is never read upstream
    except json.JSONDecodeError as exc:
        raise OTLPJSONError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise OTLPJSONError("invalid JSON: nested too deeply") from None
    message = message_type()
    if tree is None:
        return message
    if not isinstance(tree, dict):
        raise OTLPJSONError(f"ReadObject: expect {{ or n, but found {type(tree).__name__}")
    try:
        _fill(message, tree, 0, top=True)  # the request is level 0, as in upb
    except RecursionError:
        raise OTLPJSONError(f"nesting deeper than {MAX_DEPTH} messages") from None
    return message


def _decode_generic(body: bytes | str, message_type: type[Message]) -> Message:
    try:
        tree = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise OTLPJSONError(f"invalid JSON: {exc}") from None
    if not isinstance(tree, dict):
        raise OTLPJSONError("invalid JSON: expected an object at the top level")
    message = message_type()
    try:
        json_format.ParseDict(tree, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OTLPJSONError(str(exc)) from None
    return message


# -- reader: pdata's rules for each field type ---------------------------------------------------

#: Message nesting the reader accepts: the depth limit of the protobuf runtime (upb) that every
#: exporter serializes with. Upstream has none; deeper requests are refused with 400 here.
MAX_DEPTH = 100
_JSON = json.JSONDecoder(parse_constant=lambda name: _Constant(name))
_UINT = re.compile(r"[0-9]+")
_SINT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEXFLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_SPECIAL = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf, "+infinity": math.inf,
            "-infinity": -math.inf, "nan": math.nan, "+nan": math.nan, "-nan": math.nan}
_HEX = frozenset("0123456789abcdefABCDEF")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_INT_RANGE = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1), FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1), FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}


class _Constant(float):
    """NaN or Infinity written bare: json.loads takes them, jsoniter does not."""

    def __new__(cls, name: str):
        value = super().__new__(cls, {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[name])
        value.name = name
        return value


def _bad(field: FieldDescriptor, why: str) -> OTLPJSONError:
    return OTLPJSONError(f"{field.json_name}: {why}")


def _read_int(field: FieldDescriptor, value: Any) -> int:
    low, high = _INT_RANGE[field.cpp_type]
    if isinstance(value, str):  # strconv.ParseInt / ParseUint, base 10
        if not (_UINT if low == 0 else _SINT).fullmatch(value):
            raise _bad(field, f'parsing "{value}": invalid syntax')
        number = int(value)
    elif low == 0 and type(value) in (int, float) and math.copysign(1, value) < 0:
        # jsoniter's unsigned reader meets "-" and reports it as the byte 0xff
        raise OTLPJSONError(f"{field.json_name}: readUint64: unexpected character", unquotable=True)
    elif type(value) is int:
        number = value
    else:
        raise _bad(field, "expected an integer" + (" (can not decode float as int)" if isinstance(value, float) else ""))
    if not low <= number <= high:
        raise _bad(field, f"{number} overflows")
    return number


def _read_float(field: FieldDescriptor, value: Any) -> float:
    if isinstance(value, _Constant):
        raise _bad(field, f"invalid number {value.name}")
    if type(value) in (int, float):
        number = float(value)
        if math.isinf(number):
            raise _bad(field, "value out of range")
        return number
    if not isinstance(value, str):
        raise _bad(field, "unsupported value type")
    special = _SPECIAL.get(value.lower())
    if special is not None:
        return special
    if _FLOAT.fullmatch(value):
        number = float(value)
    elif _HEXFLOAT.fullmatch(value):
        number = float.fromhex(value)
    else:
        raise _bad(field, f'strconv.ParseFloat: parsing "{value}": invalid syntax')
    if math.isinf(number):
        raise _bad(field, f'strconv.ParseFloat: parsing "{value}": value out of range')
    return number


def _read_text(field: FieldDescriptor, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(field, "expects \" or n")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate from a \u escape: Go writes U+FFFD
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _read_bytes(field: FieldDescriptor, value: Any, id_size: int) -> bytes:
    if not isinstance(value, str):
        raise _bad(field, "expects \" or n")
    if not value:
        return b""
    if id_size:
        if len(value) != 2 * id_size:
            raise _bad(field, "ID.UnmarshalJSONIter: length mismatch")
        if not _HEX.issuperset(value):
            raise _bad(field, f'"{value}" is not a hex-encoded ID')
        return bytes.fromhex(value)
    value = value.replace("\r", "").replace("\n", "")  # Go's base64 decoder skips line breaks
    if len(value) % 4 or not _B64.fullmatch(value):
        raise _bad(field, "base64.Decode: illegal base64 data")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise _bad(field, "base64.Decode: illegal base64 data") from None


def _read_enum(field: FieldDescriptor, value: Any) -> int:
    if isinstance(value, str):
        item = field.enum_type.values_by_name.get(value) if value.isascii() else None
        if item is None:
            raise _bad(field, "ReadEnumValue: unknown string value")
        return item.number
    if type(value) is int:
        if not -(2**31) <= value < 2**31:
            raise _bad(field, "readUint32: overflow")
        return value
    raise _bad(field, "ReadEnumValue: unsupported value type")


def _read_scalar(field: FieldDescriptor, value: Any, id_size: int):
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return _read_text(field, value)
    if t == FieldDescriptor.TYPE_BYTES:
        return _read_bytes(field, value, id_size)
    if t == FieldDescriptor.TYPE_BOOL:
        if type(value) is not bool:
            raise _bad(field, "ReadBool: expect t or f")
        return value
    if t == FieldDescriptor.TYPE_ENUM:
        return _read_enum(field, value)
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _read_float(field, value)
    return _read_int(field, value)


@functools.lru_cache(maxsize=None)
def _read_fields(descriptor) -> dict:
    """JSON key -> (field, ID size): the camelCase and the proto name, as pdata's reader matches them."""
    out = {}
    for field in descriptor.fields:
        size = _ID_KEYS.get(field.json_name, 0) if field.type == FieldDescriptor.TYPE_BYTES else 0
        out[field.json_name] = out[field.name] = (field, size)
    return out


def _fill(message: Message, tree: dict, depth: int, top: bool = False) -> None:
    if depth > MAX_DEPTH:
        raise OTLPJSONError(f"nesting deeper than {MAX_DEPTH} messages")
    fields = _read_fields(message.DESCRIPTOR)
    for key, value in tree.items():
        if key == "":
            # pdata's object loop stops at an empty key: the rest of the top-level object is never
            # read, and anywhere deeper the reader is left mid-object, which fails.
            if top:
                return
            raise OTLPJSONError('ReadObject: an empty key ends the object early')
        entry = fields.get(key)
        if entry is None:
            continue  # unknown fields are skipped
        field, id_size = entry
        if field.is_repeated:
            if value is None:
                continue
            if not isinstance(value, list):
                raise _bad(field, "ReadArray: expect [ or n")
            target = getattr(message, field.name)
            if field.message_type is not None:
                for item in value:
                    if item is not None and not isinstance(item, dict):
                        raise _bad(field, "ReadObject: expect { or n")
                    element = target.add()
                    if item:
                        _fill(element, item, depth + 1)
            else:
                target.extend([_read_scalar(field, item, id_size) for item in value])
        elif field.message_type is not None:
            if value is not None and not isinstance(value, dict):
                raise _bad(field, "ReadObject: expect { or n")
            sub = getattr(message, field.name)
            sub.SetInParent()  # present even when empty, as a oneof member must be
            if value:
                _fill(sub, value, depth + 1)
        else:
            setattr(message, field.name, _read_scalar(field, value, id_size))


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
_HEX_IDS = frozenset({"traceId", "spanId", "parentSpanId", "profileId"})
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
