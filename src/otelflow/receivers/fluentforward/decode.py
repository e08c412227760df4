"""Forward protocol v1 events -> OTLP log records, as upstream's fluentforward receiver maps them.

Modes, told apart by the type of an event's second element: Message ``[tag, time, record, opts?]``
(time an integer or EventTime, msgpack ext 0), Forward ``[tag, [[time, record], ...], opts?]``,
PackedForward ``[tag, bin|str of concatenated entries, opts?]`` and CompressedPackedForward (the
same with ``{"compressed": "gzip"}``). The record's ``message`` or ``log`` becomes the body, every
other key an attribute, the tag the ``fluent.tag`` attribute (first in Message mode, last in the
others, as upstream), the time the record's timestamp. Anything else is a :class:`FrameError`.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import Any

import msgpack
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

TAG_KEY = "fluent.tag"
_INT64_MAX = (1 << 63) - 1


class FrameError(ValueError):
    pass


class EventTime:
    """Forward's EventTime (ext type 0): big-endian uint32 seconds and uint32 nanoseconds."""

    __slots__ = ("ns",)

    def __init__(self, data: bytes):
        if len(data) != 8:
            raise FrameError("data should be exactly 8 bytes")
        seconds, nanos = struct.unpack(">II", data)
        self.ns = seconds * 1_000_000_000 + nanos


class RawExt:
    __slots__ = ("code", "data")

    def __init__(self, code: int, data: bytes):
        self.code, self.data = code, data

    def __str__(self) -> str:  # as Go's %v prints msgp's RawExtension
        return "&{%d [%s]}" % (self.code, " ".join(str(b) for b in self.data))


def _ext(code: int, data: bytes) -> Any:
    return EventTime(data) if code == 0 else RawExt(code, data)


def unpacker() -> msgpack.Unpacker:
    """A streaming decoder for one connection: str stays str, bin stays bytes, ext 0 is EventTime."""
    return msgpack.Unpacker(raw=False, ext_hook=_ext, strict_map_key=True, unicode_errors="surrogateescape",
                            timestamp=0, max_buffer_size=64 * 1024 * 1024)


def text(value: str | bytes) -> str:
    """Valid UTF-8 for protobuf: invalid bytes (kept by surrogateescape, or in bin) become U+FFFD."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def set_value(value: Any, dest: AnyValue) -> None:
    """msgpack value -> AnyValue by upstream's rules (nil stays empty, uint64 past int64 a string)."""
    if value is None:
        return
    if isinstance(value, bool):
        dest.bool_value = value
    elif isinstance(value, str):
        dest.string_value = text(value)
    elif isinstance(value, int):
        if value > _INT64_MAX:
            dest.string_value = str(value)
        else:
            dest.int_value = value
    elif isinstance(value, float):
        dest.double_value = value
    elif isinstance(value, (bytes, bytearray)):
        dest.string_value = text(value)
    elif isinstance(value, dict):
        kvlist = dest.kvlist_value
        kvlist.SetInParent()
        for k, v in value.items():
            kv = kvlist.values.add()
            kv.key = text(k)
            set_value(v, kv.value)
    elif isinstance(value, (list, tuple)):
        array = dest.array_value
        array.SetInParent()
        for v in value:
            set_value(v, array.values.add())
    else:
        dest.string_value = str(value)


def _timestamp(value: Any) -> int:
    if isinstance(value, EventTime):
        return value.ns
    if isinstance(value, int) and not isinstance(value, bool):
        return (value * 1_000_000_000) % (1 << 64)
    raise FrameError(f"Time: unknown type of value: {value}")


def _record(time_value: Any, record: Any, records: list[LogRecord], tag: str, tag_first: bool) -> None:
    ts = _timestamp(time_value)
    if not isinstance(record, dict):
        raise FrameError("Record: the record is not a map")
    lr = LogRecord(time_unix_nano=ts)
    index: dict[str, Any] = {}
    if tag_first:
        kv = lr.attributes.add(key=TAG_KEY)
        kv.value.string_value = tag
        index[TAG_KEY] = kv
    for key, value in record.items():
        key = text(key)
        if key in ("message", "log"):
            lr.body.Clear()
            set_value(value, lr.body)
            continue
        kv = index.get(key)
        if kv is None:
            kv = index[key] = lr.attributes.add(key=key)
        else:
            kv.value.Clear()
        set_value(value, kv.value)
    if not tag_first:
        kv = index.get(TAG_KEY)
        if kv is None:
            kv = lr.attributes.add(key=TAG_KEY)
        kv.value.Clear()
        kv.value.string_value = tag
    records.append(lr)


def _entry(entry: Any, records: list[LogRecord], tag: str) -> None:
    if not isinstance(entry, (list, tuple)) or len(entry) != 2:
        raise FrameError("Entries: an entry is not [time, record]")
    _record(entry[0], entry[1], records, tag, tag_first=False)


def _options(value: Any) -> dict:
    if not isinstance(value, dict):
        raise FrameError("Option: the options are not a map")
    return value


def decode_event(event: Any, records: list[LogRecord]) -> str:
    """Append the event's log records to ``records``; returns its ``chunk`` option ("" if none)."""
    if not isinstance(event, (list, tuple)) or len(event) < 2:
        raise FrameError("an event must be an array of at least 2 elements")
    if not isinstance(event[0], str):
        raise FrameError("malformed tag field")
    tag = text(event[0])
    second = event[1]
    options: dict = {}
    if isinstance(second, (int, EventTime, RawExt, msgpack.Timestamp)) and not isinstance(second, bool):
        if not 3 <= len(event) <= 4:
            raise FrameError(f"message mode: wanted array size 3; got {len(event)}")
        _record(second, event[2], records, tag, tag_first=True)
        if len(event) == 4:
            options = _options(event[3])
    elif isinstance(second, (list, tuple)):
        if len(event) > 3:
            raise FrameError(f"forward mode: wanted array size 2; got {len(event)}")
        for entry in second:
            _entry(entry, records, tag)
        if len(event) == 3:
            options = _options(event[2])
    elif isinstance(second, (bytes, str)):
        if len(event) > 3:
            raise FrameError(f"packedforward mode: wanted array size 2; got {len(event)}")
        if len(event) == 3:
            options = _options(event[2])
        raw = second.encode("utf-8", "surrogateescape") if isinstance(second, str) else second
        if options.get("compressed") == "gzip":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as exc:
                raise FrameError(f"gzip: {exc}") from None
        entries = unpacker()
        entries.feed(raw)
        try:
            for entry in entries:
                _entry(entry, records, tag)
        except (msgpack.UnpackException, ValueError) as exc:
            raise FrameError(f"EntriesRaw: {exc}") from None
        if entries.tell() != len(raw):
            raise FrameError("EntriesRaw: unexpected EOF")
    else:
        raise FrameError(f"unable to determine next event mode for type {type(second).__name__}")
    chunk = options.get("chunk")
    return chunk if isinstance(chunk, str) else ""
