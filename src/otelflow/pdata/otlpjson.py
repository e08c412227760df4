"""OTLP/JSON as the OTLP spec and upstream's pdata write it: lowerCamelCase keys, hex trace and span
IDs, 64-bit integers as strings, enums as numbers; on input also enum names, numbers for 64-bit
integers, snake_case keys and unknown fields (ignored)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


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
    tree = json_format.MessageToDict(message, use_integers_for_enums=True)
    _ids_base64_to_hex(tree)
    return tree


def encode(message: Message) -> bytes:
    return json.dumps(to_dict(message), separators=(",", ":"), ensure_ascii=False).encode()


def _ids_hex_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise OTLPJSONError(f'{key}: "{value}" is not a hex-encoded ID') from None
            elif isinstance(value, (dict, list)):
                _ids_hex_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _ids_hex_to_base64(item)


def _ids_base64_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64decode(value).hex()
                except binascii.Error:  # pragma: no cover - protobuf always writes valid base64
                    pass
            elif isinstance(value, (dict, list)):
                _ids_base64_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_base64_to_hex(item)
