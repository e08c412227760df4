"""How the ``file`` exporter encodes a request (OTLP/JSON lines or length-prefixed protobuf,
optionally zstd-compressed) and how a length-prefixed file is read back."""

from __future__ import annotations

import struct
from typing import Any

import zstandard
from google.protobuf.message import Message

from otelflow.core.component import Signal
from otelflow.core.consumer import PermanentError
from otelflow.exporters.file.config import COMPRESSION_ZSTD, FORMAT_PROTO, Config
from otelflow.pdata import otlpjson

_LENGTH = struct.Struct(">I")


class _Marshaller:
    """Request -> bytes on disk: encode (JSON, proto or an encoding extension), compress, frame."""

    def __init__(self, config: Config, extension: Any = None):
        self.format = config.format
        self.extension = extension
        self.zstd = zstandard.ZstdCompressor() if config.compression == COMPRESSION_ZSTD else None
        # JSON text is newline-separated; anything binary gets a 4-byte big-endian length prefix.
        self.length_prefixed = config.format == FORMAT_PROTO or config.compression != ""

    def encode(self, signal: Signal, data: Message) -> bytes:
        if self.extension is not None:
            marshal = getattr(self.extension, f"marshal_{signal.value}", None)
            if marshal is None:
                raise PermanentError(f"{signal.value} are not supported by encoding")
            body = bytes(marshal(data))
        elif self.format == FORMAT_PROTO:
            body = data.SerializeToString()
        else:
            body = otlpjson.encode(data)
        if self.zstd is not None:
            body = self.zstd.compress(body)
        return self.frame(body)

    def frame(self, body: bytes) -> bytes:
        if self.length_prefixed:
            return _LENGTH.pack(len(body) & 0xFFFFFFFF) + body
        return body + b"\n"


def read_length_prefixed(blob: bytes) -> list[bytes]:
    """Split a file written with length prefixes back into its messages."""
    out, pos = [], 0
    while pos + 4 <= len(blob):
        (size,) = _LENGTH.unpack_from(blob, pos)
        pos += 4
        out.append(blob[pos:pos + size])
        pos += size
    return out
