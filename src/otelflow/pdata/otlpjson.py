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
